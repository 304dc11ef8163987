-- 0004 webhooks: the signing secrets of inbound webhooks, per tenant and
-- source. Several may be active for one source while a sender rotates;
-- `revoked_at` set means the secret no longer verifies anything.
--
-- `secret` is the `whsec_…` text itself, not a hash of it: verifying an
-- HMAC signature needs the key. `fingerprint` is the non-secret tag that
-- listings show instead. Verified deliveries go to `events_raw` (0001).

create table webhook_secrets (
    tenant_id   text not null references tenants (id) on delete cascade,
    id          text not null,
    source      text not null,
    secret      text not null,
    fingerprint text not null,
    created_at  text not null,
    revoked_at  text,
    primary key (tenant_id, id)
) strict;

create index webhook_secrets_tenant_source
    on webhook_secrets (tenant_id, source);
