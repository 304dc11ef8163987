-- 0014 audit off the writer's critical section: entries wait unsequenced.
--
-- A writer's transaction inserts its audit entry here, atomically with the
-- change it records, without a `seq` or hashes; a sequencer later takes a
-- tenant's pending entries in `id` order, chains them into `audit_log` and
-- deletes them from here, in one write transaction. A new table only, so
-- this migration runs in the usual transaction.

create table audit_pending (
    tenant_id     text not null references tenants (id) on delete cascade,
    id            integer primary key autoincrement,
    occurred_at   text not null,
    actor         text not null,
    action        text not null,
    resource_type text,
    resource_id   text,
    -- canonical JSON (revos_audit::canonical_json) of an object
    details       text not null check (json_valid(details))
) strict;

create index audit_pending_tenant on audit_pending (tenant_id, id);
