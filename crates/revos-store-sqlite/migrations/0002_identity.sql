-- API keys of services and AI agents.
--
-- A platform table, like `tenants`: a presented key is looked up by its
-- public id before any tenant is known, so the primary key is the id.
-- `tenant_id` is null for platform keys (which may act for every tenant).
-- Only the SHA-256 of the secret is stored.
create table api_keys (
    id text primary key,
    tenant_id text references tenants (id) on delete cascade,
    name text not null,
    secret_hash text not null,
    scopes text not null check (json_valid(scopes)),
    agent text,
    created_at text not null,
    last_used_at text,
    revoked_at text
) strict;

create index api_keys_tenant on api_keys (tenant_id, created_at);
