-- 0010 event runtime: what the event runtime (`revos_store::events`) keeps
-- besides the kernel_events, kernel_decisions and kernel_actions of 0001:
-- the hash of each event's body, the e-mail outbox, tasks, the per-tenant
-- policy modes and settings, outbound webhook endpoints and the HTTP
-- idempotency keys. The conventions of 0001 hold: tenant_id first, primary
-- keys and indexes lead with it, STRICT tables, RFC 3339 TEXT timestamps.

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
    tenant_id  text not null references tenants (id) on delete cascade,
    id         text not null,
    action_id  text not null,
    to_addr    text not null,
    from_addr  text not null,
    reply_to   text,
    subject    text not null,
    text_body  text not null,
    html_body  text,
    message_id text not null,
    status     text not null default 'pending' check (status in ('pending', 'sent', 'failed')),
    attempts   integer not null default 0 check (attempts >= 0),
    last_error text,
    sent_at    text,
    created_at text not null,
    updated_at text not null,
    primary key (tenant_id, id),
    unique (tenant_id, action_id)
) strict;

-- Follow-up tasks (the TASK_CREATE adapter's output, or made by hand).
-- Several tasks may have no action; one action makes at most one task.
create table tasks (
    tenant_id    text not null references tenants (id) on delete cascade,
    id           text not null,
    action_id    text,
    owner        text not null,
    subject      text not null,
    details      text,
    due_at       text,
    entity_type  text,
    entity_id    text,
    status       text not null default 'open' check (status in ('open', 'done')),
    created_at   text not null,
    completed_at text,
    primary key (tenant_id, id),
    unique (tenant_id, action_id)
) strict;

create index tasks_tenant_status_due
    on tasks (tenant_id, status, due_at);

-- A tenant's mode for one policy (overrides the tenant's kernel mode).
create table policy_modes (
    tenant_id  text not null references tenants (id) on delete cascade,
    policy_id  text not null,
    mode       text not null check (mode in ('shadow', 'enforce')),
    updated_at text not null,
    primary key (tenant_id, policy_id)
) strict;

-- A tenant's settings of one policy or guard, a JSON document the runtime
-- validates.
create table policy_settings (
    tenant_id  text not null references tenants (id) on delete cascade,
    policy_id  text not null,
    settings   text not null check (json_valid(settings)),
    updated_at text not null,
    primary key (tenant_id, policy_id)
) strict;

-- Where a tenant's outbound webhooks go, and the secret they are signed
-- with. A name is unique among the tenant's active endpoints: a
-- deactivated endpoint's name can be given to a new one.
create table webhook_endpoints (
    tenant_id  text not null references tenants (id) on delete cascade,
    id         text not null,
    name       text not null,
    url        text not null,
    secret     text not null,
    active     integer not null default 1 check (active in (0, 1)),
    created_at text not null,
    primary key (tenant_id, id)
) strict;

create unique index webhook_endpoints_tenant_active_name
    on webhook_endpoints (tenant_id, name) where active = 1;

-- HTTP `Idempotency-Key`s: in flight while `status_code` is null, then the
-- stored response until `expires_at`.
create table idempotency_keys (
    tenant_id    text not null references tenants (id) on delete cascade,
    key          text not null,
    request_hash text not null,
    status_code  integer check (status_code between 100 and 599),
    response     text check (response is null or json_valid(response)),
    created_at   text not null,
    expires_at   text,
    primary key (tenant_id, key)
) strict;

-- The purge of expired keys, across tenants. Like the cleanup index of
-- `jobs` it does not lead with tenant_id, on purpose: the purge serves
-- every tenant at once.
create index idempotency_keys_expires
    on idempotency_keys (expires_at) where expires_at is not null;
