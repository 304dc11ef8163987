-- 0001 foundation: the tenant root, the spine tables of seed 002 and the
-- kernel runtime tables of seed 000, in PostgreSQL's dialect.
--
-- Conventions (the same as the SQLite backend's, so both behave alike):
-- * every tenant table has `tenant_id` as its first column, its primary key
--   starts with `tenant_id`, and every index leads with `tenant_id`, so the
--   schema can be distributed by tenant (e.g. Citus) without change;
-- * every tenant table references tenants(id) with `on delete cascade`;
-- * ids given by the tenant's own systems (campaign, account, … ids), metric
--   ids, dimension keys and channel names are `collate "C"`: they sort
--   byte-wise, like SQLite's text, and their indexes serve `order by`;
-- * uuid, timestamptz, date, double precision and jsonb everywhere else.
--
-- Row-level security arrives in a later migration; the store already sets
-- `app.tenant_id` in every tenant-scoped transaction for it.
-- Applied migrations are never edited: a change is a new migration.

-- The multi-tenant root. `kernel_mode` overrides the runtime's default
-- mode (shadow or enforce) for one tenant; null means "use the default".
create table tenants (
    id          uuid primary key,
    name        text not null,
    kernel_mode text check (kernel_mode in ('shadow', 'enforce')),
    created_at  timestamptz not null
);

-- Workspaces inside a tenant; `default` is created with the tenant.
create table workspaces (
    tenant_id  uuid not null references tenants (id) on delete cascade,
    id         uuid not null,
    name       text not null,
    created_at timestamptz not null,
    primary key (tenant_id, id),
    unique (tenant_id, name)
);

-- Per-tenant optimizer settings: the `targets`, `guardrails` and `config`
-- objects of the kernel input. One row per tenant, made with the tenant.
create table optimizer_configs (
    tenant_id  uuid primary key references tenants (id) on delete cascade,
    targets    jsonb not null default '{}',
    guardrails jsonb not null default '{}',
    config     jsonb not null default '{}',
    updated_at timestamptz not null
);

-- The kernel's execution log: one row per optimization cycle.
create table optimization_cycles (
    tenant_id          uuid not null references tenants (id) on delete cascade,
    id                 uuid not null,
    trigger_type       text not null,
    trigger_source     text not null,
    triggered_at       timestamptz not null,
    status             text not null,
    binding_constraint text,
    priority_metric    text,
    input              jsonb not null,
    output             jsonb,
    error              jsonb,
    created_at         timestamptz not null,
    completed_at       timestamptz,
    primary key (tenant_id, id)
);

create index optimization_cycles_tenant_created
    on optimization_cycles (tenant_id, created_at);

-- The actions a cycle proposed (3 to 7 per cycle), keyed within the cycle
-- by the kernel's own `action_id`.
create table optimization_actions (
    tenant_id          uuid not null references tenants (id) on delete cascade,
    id                 uuid not null,
    cycle_id           uuid not null,
    action_id          text not null,
    priority           integer not null,
    owner_subsystem    text not null,
    action_type        text not null,
    target_metric      text not null,
    target_entity_type text,
    target_entity_id   text,
    proposed_change    jsonb not null,
    spec               jsonb not null,
    status             text not null default 'pending'
        check (status in ('pending', 'executing', 'completed', 'failed', 'reverted', 'cancelled')),
    created_at         timestamptz not null,
    updated_at         timestamptz not null,
    primary key (tenant_id, id),
    unique (tenant_id, cycle_id, action_id),
    foreign key (tenant_id, cycle_id)
        references optimization_cycles (tenant_id, id) on delete cascade
);

create index optimization_actions_tenant_status
    on optimization_actions (tenant_id, status);

-- Impact measurement of an executed action: the baseline when it started,
-- the observed value when measured.
create table optimization_action_results (
    tenant_id            uuid not null references tenants (id) on delete cascade,
    id                   uuid not null,
    action_id            uuid not null,
    cycle_id             uuid not null,
    target_metric        text not null,
    baseline_value       double precision not null,
    observed_value       double precision,
    delta                double precision,
    confidence           double precision,
    outcome              text check (outcome in ('successful', 'failed', 'inconclusive')),
    baseline_recorded_at timestamptz not null,
    measured_at          timestamptz,
    primary key (tenant_id, id),
    foreign key (tenant_id, action_id)
        references optimization_actions (tenant_id, id) on delete cascade
);

create index optimization_action_results_tenant_action
    on optimization_action_results (tenant_id, action_id);

-- Daily metric values, the kernel's only source of metrics. A row is keyed
-- by its dimension's canonical text (`''` for the tenant-wide total, else
-- compact JSON with sorted keys); the map itself is kept in `dimension`.
create table metric_snapshots_daily (
    tenant_id     uuid not null references tenants (id) on delete cascade,
    metric_id     text collate "C" not null,
    date          date not null,
    dimension_key text collate "C" not null default '',
    dimension     jsonb not null default '{}',
    value         double precision not null,
    source        text not null check (source in ('imported', 'computed')),
    updated_at    timestamptz not null,
    primary key (tenant_id, metric_id, date, dimension_key)
);

create index metric_snapshots_daily_tenant_date
    on metric_snapshots_daily (tenant_id, date);

-- The raw inbound event stream (webhooks, imports), before normalisation.
-- A webhook delivered twice has the same (source, webhook_id).
create table events_raw (
    tenant_id    uuid not null references tenants (id) on delete cascade,
    id           uuid not null,
    source       text not null,
    webhook_id   text,
    received_at  timestamptz not null,
    headers      jsonb not null default '{}',
    payload      jsonb not null,
    processed_at timestamptz,
    primary key (tenant_id, id),
    unique (tenant_id, source, webhook_id)
);

create index events_raw_tenant_received
    on events_raw (tenant_id, received_at);

-- Revenue-bearing events (bookings, expansions, churn, refunds).
create table revenue_events (
    tenant_id              uuid not null references tenants (id) on delete cascade,
    id                     text collate "C" not null,
    type                   text not null,
    amount                 double precision not null,
    effective_date         date not null,
    attributed_campaign_id text,
    attributed_channel     text,
    account_id             text,
    opportunity_id         text,
    updated_at             timestamptz not null,
    primary key (tenant_id, id)
);

create index revenue_events_tenant_effective_date
    on revenue_events (tenant_id, effective_date);

-- Campaigns (CMO), keyed by the id in the tenant's own system.
create table spine_campaigns (
    tenant_id    uuid not null references tenants (id) on delete cascade,
    id           text collate "C" not null,
    name         text not null,
    status       text not null,
    objective    text not null,
    budget_total double precision not null,
    budget_spent double precision not null,
    start_date   date not null,
    end_date     date,
    updated_at   timestamptz not null,
    primary key (tenant_id, id)
);

-- The channels of a campaign; an upsert of the campaign replaces them.
create table spine_campaign_channels (
    tenant_id    uuid not null references tenants (id) on delete cascade,
    campaign_id  text collate "C" not null,
    channel      text collate "C" not null,
    status       text not null,
    budget_total double precision not null,
    budget_spent double precision not null,
    updated_at   timestamptz not null,
    primary key (tenant_id, campaign_id, channel),
    foreign key (tenant_id, campaign_id)
        references spine_campaigns (tenant_id, id) on delete cascade
);

-- The deal pipeline (CRO).
create table spine_opportunities (
    tenant_id           uuid not null references tenants (id) on delete cascade,
    id                  text collate "C" not null,
    account_id          text,
    name                text,
    stage               text not null,
    status              text not null default 'open' check (status in ('open', 'won', 'lost')),
    amount              double precision not null,
    expected_close_date date not null,
    win_probability     double precision not null,
    source_campaign_id  text,
    owner               text,
    created_date        date,
    closed_date         date,
    updated_at          timestamptz not null,
    primary key (tenant_id, id)
);

create index spine_opportunities_tenant_status
    on spine_opportunities (tenant_id, status);

-- Customers and prospects (CRO).
create table spine_accounts (
    tenant_id  uuid not null references tenants (id) on delete cascade,
    id         text collate "C" not null,
    name       text not null,
    domain     text,
    industry   text,
    segment    text,
    status     text,
    owner      text,
    arr        double precision,
    updated_at timestamptz not null,
    primary key (tenant_id, id)
);

-- The CRM activity log (calls, e-mails, meetings, notes).
create table spine_crm_activities (
    tenant_id      uuid not null references tenants (id) on delete cascade,
    id             text collate "C" not null,
    type           text not null,
    occurred_at    timestamptz not null,
    account_id     text,
    opportunity_id text,
    owner          text,
    subject        text,
    updated_at     timestamptz not null,
    primary key (tenant_id, id)
);

create index spine_crm_activities_tenant_occurred
    on spine_crm_activities (tenant_id, occurred_at);

-- Kernel runtime (seed 000): events -> decisions -> actions.

-- Normalised events, stored once per idempotency key.
create table kernel_events (
    tenant_id       uuid not null references tenants (id) on delete cascade,
    id              uuid not null,
    type            text not null,
    source          text not null,
    idempotency_key text not null,
    correlation_id  text not null,
    subject_type    text,
    subject_id      text,
    payload         jsonb not null default '{}',
    occurred_at     timestamptz not null,
    -- when the kernel recorded it
    created_at      timestamptz not null,
    primary key (tenant_id, id),
    unique (tenant_id, idempotency_key)
);

create index kernel_events_tenant_created
    on kernel_events (tenant_id, created_at);
create index kernel_events_tenant_correlation
    on kernel_events (tenant_id, correlation_id);

-- What a policy decided about an event.
create table kernel_decisions (
    tenant_id      uuid not null references tenants (id) on delete cascade,
    id             uuid not null,
    event_id       uuid not null,
    policy_id      text not null,
    policy_version integer not null,
    outcome        text not null check (outcome in ('act', 'no_action', 'no_policy', 'error')),
    reasons        jsonb not null default '[]',
    correlation_id text not null,
    mode           text not null check (mode in ('shadow', 'enforce')),
    created_at     timestamptz not null,
    primary key (tenant_id, id),
    foreign key (tenant_id, event_id)
        references kernel_events (tenant_id, id) on delete cascade
);

create index kernel_decisions_tenant_created
    on kernel_decisions (tenant_id, created_at);
create index kernel_decisions_tenant_correlation
    on kernel_decisions (tenant_id, correlation_id);
create index kernel_decisions_tenant_event
    on kernel_decisions (tenant_id, event_id);

-- The side effects a decision asked for, with their life-cycle.
create table kernel_actions (
    tenant_id       uuid not null references tenants (id) on delete cascade,
    id              uuid not null,
    decision_id     uuid not null,
    event_id        uuid not null,
    type            text not null,
    params          jsonb not null default '{}',
    status          text not null check (status in (
        'proposed', 'shadowed', 'queued', 'executing', 'succeeded', 'failed', 'blocked',
        'awaiting_approval')),
    idempotency_key text not null,
    correlation_id  text not null,
    mode            text not null check (mode in ('shadow', 'enforce')),
    created_at      timestamptz not null,
    updated_at      timestamptz not null,
    primary key (tenant_id, id),
    unique (tenant_id, idempotency_key),
    foreign key (tenant_id, decision_id)
        references kernel_decisions (tenant_id, id) on delete cascade
);

create index kernel_actions_tenant_created
    on kernel_actions (tenant_id, created_at);
create index kernel_actions_tenant_correlation
    on kernel_actions (tenant_id, correlation_id);
