-- 0014 audit off the writer's critical section: entries wait unsequenced.
--
-- A writer's transaction inserts its audit entry here, atomically with the
-- change it records, without a `seq`, hashes or any lock; a sequencer (one
-- per tenant at a time, under the advisory lock 0003 describes) later takes
-- a tenant's pending entries in `id` order, chains them into `audit_log`
-- and deletes them from here, in one transaction. `id` is an identity
-- column: its sequence hands out numbers without waiting on any other
-- transaction, so writers of one tenant no longer queue on each other.
--
-- A tenant table like the others (0005): row-level security enabled and
-- forced with the `tenant_isolation` policy. revos_app inserts, reads and
-- deletes (the sequencer removes what it chained); it never updates.
-- Tenants with pending entries are listed by the SECURITY DEFINER function
-- `revos_audit_pending_tenants()`, for the background sequencer.

create table audit_pending (
    tenant_id     uuid not null references tenants (id) on delete cascade,
    id            bigint generated always as identity,
    occurred_at   timestamptz not null,
    actor         text not null,
    action        text not null,
    resource_type text,
    resource_id   text,
    -- the canonical JSON text, kept as written (as in audit_log)
    details       json not null,
    primary key (tenant_id, id)
);

grant select, insert, delete on table audit_pending to revos_app;
grant usage on all sequences in schema public to revos_app;

alter table audit_pending enable row level security;
alter table audit_pending force row level security;

create policy tenant_isolation on audit_pending for all to revos_app
    using (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
    with check (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);

-- The function below runs as the owner, whom the forced row-level security
-- binds too: this policy lets the owner (and no one else) read the rows.
do $$
begin
    execute format(
        'create policy owner_functions on audit_pending for select to %I using (true)',
        current_user);
end;
$$;

create function revos_audit_pending_tenants()
returns setof uuid
language sql stable security definer
set search_path = public, pg_temp
as $$
    select distinct tenant_id from audit_pending order by tenant_id
$$;

revoke execute on function revos_audit_pending_tenants() from public;
grant execute on function revos_audit_pending_tenants() to revos_app;
