-- 0003 audit: the tamper-evident, append-only audit log of each tenant and
-- the signed checkpoints over it (the pure rules are in `revos-audit`).
--
-- Each entry links to the previous one of its tenant by `prev_hash`; `seq`
-- runs 1, 2, 3, … per tenant without gaps. Appends serialize per tenant on
-- a transaction-level advisory lock, so concurrent appends queue and never
-- fork a chain. Neither table may be changed once written: the trigger
-- function below refuses UPDATE, DELETE and TRUNCATE (role grants come in
-- a later migration). A tenant with audit entries therefore cannot be
-- deleted either: the cascade is refused too.

create table audit_log (
    tenant_id     uuid not null references tenants (id) on delete cascade,
    seq           bigint not null check (seq >= 1),
    occurred_at   timestamptz not null,
    actor         text not null,
    action        text not null,
    resource_type text,
    resource_id   text,
    -- `json`, not `jsonb`: the canonical text the hash was computed over is
    -- kept as written (jsonb would rewrite numbers such as -0.0).
    details       json not null,
    prev_hash     text not null check (prev_hash ~ '^[0-9a-f]{64}$'),
    hash          text not null check (hash ~ '^[0-9a-f]{64}$'),
    primary key (tenant_id, seq),
    unique (tenant_id, hash)
);

create index audit_log_tenant_occurred on audit_log (tenant_id, occurred_at);
create index audit_log_tenant_actor on audit_log (tenant_id, actor, seq);
create index audit_log_tenant_action on audit_log (tenant_id, action, seq);
create index audit_log_tenant_resource
    on audit_log (tenant_id, resource_type, resource_id, seq);

-- Ed25519 signatures over a tenant's head (`seq`, `hash`) at some moment.
create table audit_checkpoints (
    tenant_id uuid not null references tenants (id) on delete cascade,
    seq       bigint not null check (seq >= 1),
    hash      text not null check (hash ~ '^[0-9a-f]{64}$'),
    signed_at timestamptz not null,
    signature text not null,
    key_id    text not null,
    primary key (tenant_id, seq)
);

create function audit_append_only() returns trigger
language plpgsql as $$
begin
    raise exception '% is append-only: % is refused', tg_table_name, tg_op
        using errcode = 'insufficient_privilege';
    return null;
end;
$$;

create trigger audit_log_append_only
    before update or delete on audit_log
    for each row execute function audit_append_only();
create trigger audit_log_no_truncate
    before truncate on audit_log
    for each statement execute function audit_append_only();

create trigger audit_checkpoints_append_only
    before update or delete on audit_checkpoints
    for each row execute function audit_append_only();
create trigger audit_checkpoints_no_truncate
    before truncate on audit_checkpoints
    for each statement execute function audit_append_only();
