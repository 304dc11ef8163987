-- 0003 audit: the tamper-evident, append-only audit log of each tenant and
-- the signed checkpoints over it (the pure rules are in `revos-audit`).
--
-- Each entry links to the previous one of its tenant by `prev_hash`; `seq`
-- runs 1, 2, 3, … per tenant without gaps. Appends run in a `BEGIN
-- IMMEDIATE` transaction, so they queue on the database's write lock and
-- never fork a chain. Neither table may be changed once written: the
-- triggers below refuse UPDATE and DELETE (which also means a tenant with
-- audit entries cannot be deleted: the cascade would be refused too).

create table audit_log (
    tenant_id     text not null references tenants (id) on delete cascade,
    seq           integer not null check (seq >= 1),
    occurred_at   text not null,
    actor         text not null,
    action        text not null,
    resource_type text,
    resource_id   text,
    -- canonical JSON (revos_audit::canonical_json) of an object
    details       text not null check (json_valid(details)),
    prev_hash     text not null check (length(prev_hash) = 64),
    hash          text not null check (length(hash) = 64),
    primary key (tenant_id, seq),
    unique (tenant_id, hash)
) strict;

create index audit_log_tenant_occurred on audit_log (tenant_id, occurred_at);
create index audit_log_tenant_actor on audit_log (tenant_id, actor, seq);
create index audit_log_tenant_action on audit_log (tenant_id, action, seq);
create index audit_log_tenant_resource
    on audit_log (tenant_id, resource_type, resource_id, seq);

create trigger audit_log_no_update before update on audit_log
begin
    select raise(abort, 'audit_log is append-only');
end;

create trigger audit_log_no_delete before delete on audit_log
begin
    select raise(abort, 'audit_log is append-only');
end;

-- Ed25519 signatures over a tenant's head (`seq`, `hash`) at some moment.
create table audit_checkpoints (
    tenant_id text not null references tenants (id) on delete cascade,
    seq       integer not null check (seq >= 1),
    hash      text not null check (length(hash) = 64),
    signed_at text not null,
    signature text not null,
    key_id    text not null,
    primary key (tenant_id, seq)
) strict;

create trigger audit_checkpoints_no_update before update on audit_checkpoints
begin
    select raise(abort, 'audit_checkpoints is append-only');
end;

create trigger audit_checkpoints_no_delete before delete on audit_checkpoints
begin
    select raise(abort, 'audit_checkpoints is append-only');
end;
