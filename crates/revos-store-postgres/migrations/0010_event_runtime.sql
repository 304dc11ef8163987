-- 0010 event runtime: what the event runtime (`revos_store::events`) keeps
-- besides the kernel_events, kernel_decisions and kernel_actions of 0001:
-- the hash of each event's body, the e-mail outbox, tasks, the per-tenant
-- policy modes and settings, outbound webhook endpoints and the HTTP
-- idempotency keys. The conventions of 0001 hold: tenant_id first, primary
-- keys and indexes lead with it, external text ids `collate "C"`.
--
-- Every new table is a tenant table like the others (0005): revos_app
-- reads and writes it within a transaction that names the tenant. The one
-- call across tenants, the purge of expired idempotency keys, goes through
-- the SECURITY DEFINER function `revos_purge_idempotency` below. Workers
-- get nothing here: revos_worker keeps to the queue tables.

-- Hex SHA-256 of the body an event was ingested with: a second ingest of
-- the same idempotency key is compared against it. Rows from before this
-- migration have ''.
alter table kernel_events add column body_hash text not null default '';

-- The actions of an event (the timeline of one ingest).
create index kernel_actions_tenant_event
    on kernel_actions (tenant_id, event_id);

-- The jobs that carry actions (`jobs_for_actions`); most jobs carry none.
create index jobs_tenant_action
    on jobs (tenant_id, action_id) where action_id is not null;

-- Rendered e-mails waiting to be sent, one per OUTBOUND_EMAIL action. The
-- Message-ID is stable per action, so a retried job sends the same
-- message; a `sent` row is never changed again.
create table channel_outbox (
    tenant_id  uuid not null references tenants (id) on delete cascade,
    id         uuid not null,
    action_id  uuid not null,
    to_addr    text not null,
    from_addr  text not null,
    reply_to   text,
    subject    text not null,
    text_body  text not null,
    html_body  text,
    message_id text collate "C" not null,
    status     text not null default 'pending' check (status in ('pending', 'sent', 'failed')),
    attempts   integer not null default 0 check (attempts >= 0),
    last_error text,
    sent_at    timestamptz,
    created_at timestamptz not null,
    updated_at timestamptz not null,
    primary key (tenant_id, id),
    unique (tenant_id, action_id)
);

-- Follow-up tasks (the TASK_CREATE adapter's output, or made by hand).
-- Several tasks may have no action; one action makes at most one task.
create table tasks (
    tenant_id    uuid not null references tenants (id) on delete cascade,
    id           uuid not null,
    action_id    uuid,
    -- Compared and ordered byte for byte, as on SQLite.
    owner        text collate "C" not null,
    subject      text not null,
    details      text,
    due_at       timestamptz,
    entity_type  text collate "C",
    entity_id    text collate "C",
    status       text not null default 'open' check (status in ('open', 'done')),
    created_at   timestamptz not null,
    completed_at timestamptz,
    primary key (tenant_id, id),
    unique (tenant_id, action_id)
);

create index tasks_tenant_status_due
    on tasks (tenant_id, status, due_at);

-- A tenant's mode for one policy (overrides the tenant's kernel mode).
create table policy_modes (
    tenant_id  uuid not null references tenants (id) on delete cascade,
    policy_id  text collate "C" not null,
    mode       text not null check (mode in ('shadow', 'enforce')),
    updated_at timestamptz not null,
    primary key (tenant_id, policy_id)
);

-- A tenant's settings of one policy or guard, a JSON document the runtime
-- validates.
create table policy_settings (
    tenant_id  uuid not null references tenants (id) on delete cascade,
    policy_id  text collate "C" not null,
    settings   jsonb not null,
    updated_at timestamptz not null,
    primary key (tenant_id, policy_id)
);

-- Where a tenant's outbound webhooks go, and the secret they are signed
-- with. A name is unique among the tenant's active endpoints: a
-- deactivated endpoint's name can be given to a new one.
create table webhook_endpoints (
    tenant_id  uuid not null references tenants (id) on delete cascade,
    id         uuid not null,
    name       text collate "C" not null,
    url        text not null,
    secret     text not null,
    active     boolean not null default true,
    created_at timestamptz not null,
    primary key (tenant_id, id)
);

create unique index webhook_endpoints_tenant_active_name
    on webhook_endpoints (tenant_id, name) where active;

-- HTTP `Idempotency-Key`s: in flight while `status_code` is null, then the
-- stored response until `expires_at`.
create table idempotency_keys (
    tenant_id    uuid not null references tenants (id) on delete cascade,
    key          text collate "C" not null,
    request_hash text not null,
    status_code  integer check (status_code between 100 and 599),
    response     jsonb,
    created_at   timestamptz not null,
    expires_at   timestamptz,
    primary key (tenant_id, key)
);

-- The purge of expired keys, across tenants. Like the cleanup index of
-- `jobs` it does not lead with tenant_id, on purpose: the purge serves
-- every tenant at once.
create index idempotency_keys_expires
    on idempotency_keys (expires_at) where expires_at is not null;

-- ---- revos_app ----------------------------------------------------------------

-- What 0005 did for every tenant table then, done by hand for these
-- (`alter default privileges` cannot, and the catalog audit in
-- `tests/rls.rs` checks it): the privileges, row-level security enabled
-- and forced, and the tenant policy.
grant select, insert, update, delete on table
    channel_outbox, tasks, policy_modes, policy_settings, webhook_endpoints, idempotency_keys
to revos_app;

alter table channel_outbox enable row level security;
alter table channel_outbox force row level security;
alter table tasks enable row level security;
alter table tasks force row level security;
alter table policy_modes enable row level security;
alter table policy_modes force row level security;
alter table policy_settings enable row level security;
alter table policy_settings force row level security;
alter table webhook_endpoints enable row level security;
alter table webhook_endpoints force row level security;
alter table idempotency_keys enable row level security;
alter table idempotency_keys force row level security;

create policy tenant_isolation on channel_outbox for all to revos_app
    using (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
    with check (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
create policy tenant_isolation on tasks for all to revos_app
    using (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
    with check (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
create policy tenant_isolation on policy_modes for all to revos_app
    using (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
    with check (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
create policy tenant_isolation on policy_settings for all to revos_app
    using (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
    with check (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
create policy tenant_isolation on webhook_endpoints for all to revos_app
    using (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
    with check (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
create policy tenant_isolation on idempotency_keys for all to revos_app
    using (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
    with check (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);

-- ---- the purge, across tenants ---------------------------------------------------

-- The function below runs as the owner, whom the forced row-level security
-- binds too: these policies let the owner (and no one else) find and
-- delete the rows it needs, as 0005's `owner_functions` policies do for
-- api_keys and the audit log. (A DELETE with a WHERE clause needs a SELECT
-- policy as well as a DELETE one.)
do $$
begin
    execute format(
        'create policy owner_functions on idempotency_keys for select to %I using (true)',
        current_user);
    execute format(
        'create policy owner_purge on idempotency_keys for delete to %I using (true)',
        current_user);
end;
$$;

-- Deletes the idempotency keys of every tenant that expired before
-- `purge_at`; how many.
create function revos_purge_idempotency(purge_at timestamptz)
returns bigint
language sql security definer
set search_path = public, pg_temp
as $$
    with purged as (
        delete from idempotency_keys where expires_at < purge_at returning 1
    )
    select count(*) from purged
$$;

revoke execute on function revos_purge_idempotency(timestamptz) from public;
grant execute on function revos_purge_idempotency(timestamptz) to revos_app;
