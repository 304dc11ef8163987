-- 0021 publishable lead-form tokens.
--
-- * `form_tokens`: one row per token a tenant put in a web page. Only the
--   SHA-256 (hex) of the token is kept (`token_hash`, unique across
--   tenants: a submission finds its tenant by it); `hint` is `rvf_…` and
--   the token's last four characters, to tell tokens apart. `origins` is a
--   JSON array of `scheme://host[:port]` the browser may post from;
--   `redirect_url` and `honeypot` are optional. A revoked token stays, so
--   the list shows what was once published.

create table form_tokens (
    tenant_id    text not null references tenants (id) on delete cascade,
    id           text not null,
    token_hash   text not null unique,
    name         text not null,
    hint         text not null,
    origins      text not null check (json_valid(origins) and json_array_length(origins) > 0),
    redirect_url text,
    honeypot     text,
    created_by   text not null,
    created_at   text not null,
    revoked_at   text,
    primary key (tenant_id, id)
) strict;

create index form_tokens_newest on form_tokens (tenant_id, created_at desc, id desc);
