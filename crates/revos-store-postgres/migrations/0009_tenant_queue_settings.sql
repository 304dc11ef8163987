-- 0009 tenant queue settings: a tenant's overrides of the queue settings
-- (`revos_store::queue::QueueStore::tenant_queue_settings`). One row per
-- tenant that stored any; a tenant without a row has none (`{}`).
--
-- `settings` is a JSON object whose content the caller validates; the
-- store only makes sure it is one.
--
-- A tenant table like the others (0005): revos_app reads and writes it
-- within a transaction that names the tenant. Workers do not need it (a
-- job carries its settings from the moment it is enqueued), so
-- revos_worker gets no privilege on it and no `worker_access` policy.

create table tenant_queue_settings (
    tenant_id  uuid primary key references tenants (id) on delete cascade,
    settings   jsonb not null check (jsonb_typeof(settings) = 'object'),
    updated_at timestamptz not null
);

-- What 0005 did for every tenant table then, done by hand for this one
-- (`alter default privileges` cannot, and the catalog audit in
-- `tests/rls.rs` checks it): the privileges, row-level security enabled
-- and forced, and the tenant policy.
grant select, insert, update, delete on table tenant_queue_settings to revos_app;

alter table tenant_queue_settings enable row level security;
alter table tenant_queue_settings force row level security;

create policy tenant_isolation on tenant_queue_settings for all to revos_app
    using (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
    with check (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
