-- 0001 foundation: the tenant root, the spine tables of seed 002 and the
-- kernel runtime tables of seed 000, in SQLite's dialect.
--
-- Conventions (the same as the PostgreSQL backend's, so both behave alike):
-- * every tenant table has `tenant_id` as its first column, its primary key
--   starts with `tenant_id`, and every index leads with `tenant_id`;
-- * every tenant table references tenants(id) with `on delete cascade`;
-- * uuids are TEXT in hyphenated lower-case form;
-- * timestamps are RFC 3339 TEXT in UTC with six fractional digits
--   (`2024-12-13T08:30:00.000000Z`), so text order is time order;
-- * dates are TEXT `YYYY-MM-DD`; money and metric values are REAL;
-- * JSON documents are TEXT checked with json_valid();
-- * tables are STRICT, so a value of the wrong type is refused, not coerced.
--
-- Applied migrations are never edited: a change is a new migration.

-- The multi-tenant root. `kernel_mode` overrides the runtime's default
-- mode (shadow or enforce) for one tenant; null means "use the default".
create table tenants (
    id          text not null primary key,
    name        text not null,
    kernel_mode text check (kernel_mode in ('shadow', 'enforce')),
    created_at  text not null
) strict;

-- Workspaces inside a tenant; `default` is created with the tenant.
create table workspaces (
    tenant_id  text not null references tenants (id) on delete cascade,
    id         text not null,
    name       text not null,
    created_at text not null,
    primary key (tenant_id, id),
    unique (tenant_id, name)
) strict;

-- Per-tenant optimizer settings: the `targets`, `guardrails` and `config`
-- objects of the kernel input. One row per tenant, made with the tenant.
create table optimizer_configs (
    tenant_id  text not null primary key references tenants (id) on delete cascade,
    targets    text not null default '{}' check (json_valid(targets)),
    guardrails text not null default '{}' check (json_valid(guardrails)),
    config     text not null default '{}' check (json_valid(config)),
    updated_at text not null
) strict;

-- The kernel's execution log: one row per optimization cycle.
create table optimization_cycles (
    tenant_id          text not null references tenants (id) on delete cascade,
    id                 text not null,
    trigger_type       text not null,
    trigger_source     text not null,
    triggered_at       text not null,
    status             text not null,
    binding_constraint text,
    priority_metric    text,
    input              text not null check (json_valid(input)),
    output             text check (output is null or json_valid(output)),
    error              text check (error is null or json_valid(error)),
    created_at         text not null,
    completed_at       text,
    primary key (tenant_id, id)
) strict;

create index optimization_cycles_tenant_created
    on optimization_cycles (tenant_id, created_at);

-- The actions a cycle proposed (3 to 7 per cycle), keyed within the cycle
-- by the kernel's own `action_id`.
create table optimization_actions (
    tenant_id          text not null references tenants (id) on delete cascade,
    id                 text not null,
    cycle_id           text not null,
    action_id          text not null,
    priority           integer not null,
    owner_subsystem    text not null,
    action_type        text not null,
    target_metric      text not null,
    target_entity_type text,
    target_entity_id   text,
    proposed_change    text not null check (json_valid(proposed_change)),
    spec               text not null check (json_valid(spec)),
    status             text not null default 'pending'
        check (status in ('pending', 'executing', 'completed', 'failed', 'reverted', 'cancelled')),
    created_at         text not null,
    updated_at         text not null,
    primary key (tenant_id, id),
    unique (tenant_id, cycle_id, action_id),
    foreign key (tenant_id, cycle_id)
        references optimization_cycles (tenant_id, id) on delete cascade
) strict;

create index optimization_actions_tenant_status
    on optimization_actions (tenant_id, status);

-- Impact measurement of an executed action: the baseline when it started,
-- the observed value when measured.
create table optimization_action_results (
    tenant_id            text not null references tenants (id) on delete cascade,
    id                   text not null,
    action_id            text not null,
    cycle_id             text not null,
    target_metric        text not null,
    baseline_value       real not null,
    observed_value       real,
    delta                real,
    confidence           real,
    outcome              text check (outcome in ('successful', 'failed', 'inconclusive')),
    baseline_recorded_at text not null,
    measured_at          text,
    primary key (tenant_id, id),
    foreign key (tenant_id, action_id)
        references optimization_actions (tenant_id, id) on delete cascade
) strict;

create index optimization_action_results_tenant_action
    on optimization_action_results (tenant_id, action_id);

-- Daily metric values, the kernel's only source of metrics. A row is keyed
-- by its dimension's canonical text (`''` for the tenant-wide total, else
-- compact JSON with sorted keys); the map itself is kept in `dimension`.
create table metric_snapshots_daily (
    tenant_id     text not null references tenants (id) on delete cascade,
    metric_id     text not null,
    date          text not null,
    dimension_key text not null default '',
    dimension     text not null default '{}' check (json_valid(dimension)),
    value         real not null,
    source        text not null check (source in ('imported', 'computed')),
    updated_at    text not null,
    primary key (tenant_id, metric_id, date, dimension_key)
) strict;

create index metric_snapshots_daily_tenant_date
    on metric_snapshots_daily (tenant_id, date);

-- The raw inbound event stream (webhooks, imports), before normalisation.
-- A webhook delivered twice has the same (source, webhook_id).
create table events_raw (
    tenant_id    text not null references tenants (id) on delete cascade,
    id           text not null,
    source       text not null,
    webhook_id   text,
    received_at  text not null,
    headers      text not null default '{}' check (json_valid(headers)),
    payload      text not null check (json_valid(payload)),
    processed_at text,
    primary key (tenant_id, id),
    unique (tenant_id, source, webhook_id)
) strict;

create index events_raw_tenant_received
    on events_raw (tenant_id, received_at);

-- Revenue-bearing events (bookings, expansions, churn, refunds).
create table revenue_events (
    tenant_id              text not null references tenants (id) on delete cascade,
    id                     text not null,
    type                   text not null,
    amount                 real not null,
    effective_date         text not null,
    attributed_campaign_id text,
    attributed_channel     text,
    account_id             text,
    opportunity_id         text,
    updated_at             text not null,
    primary key (tenant_id, id)
) strict;

create index revenue_events_tenant_effective_date
    on revenue_events (tenant_id, effective_date);

-- Campaigns (CMO), keyed by the id in the tenant's own system.
create table spine_campaigns (
    tenant_id    text not null references tenants (id) on delete cascade,
    id           text not null,
    name         text not null,
    status       text not null,
    objective    text not null,
    budget_total real not null,
    budget_spent real not null,
    start_date   text not null,
    end_date     text,
    updated_at   text not null,
    primary key (tenant_id, id)
) strict;

-- The channels of a campaign; an upsert of the campaign replaces them.
create table spine_campaign_channels (
    tenant_id    text not null references tenants (id) on delete cascade,
    campaign_id  text not null,
    channel      text not null,
    status       text not null,
    budget_total real not null,
    budget_spent real not null,
    updated_at   text not null,
    primary key (tenant_id, campaign_id, channel),
    foreign key (tenant_id, campaign_id)
        references spine_campaigns (tenant_id, id) on delete cascade
) strict;

-- The deal pipeline (CRO).
create table spine_opportunities (
    tenant_id           text not null references tenants (id) on delete cascade,
    id                  text not null,
    account_id          text,
    name                text,
    stage               text not null,
    status              text not null default 'open' check (status in ('open', 'won', 'lost')),
    amount              real not null,
    expected_close_date text not null,
    win_probability     real not null,
    source_campaign_id  text,
    owner               text,
    created_date        text,
    closed_date         text,
    updated_at          text not null,
    primary key (tenant_id, id)
) strict;

create index spine_opportunities_tenant_status
    on spine_opportunities (tenant_id, status);

-- Customers and prospects (CRO).
create table spine_accounts (
    tenant_id  text not null references tenants (id) on delete cascade,
    id         text not null,
    name       text not null,
    domain     text,
    industry   text,
    segment    text,
    status     text,
    owner      text,
    arr        real,
    updated_at text not null,
    primary key (tenant_id, id)
) strict;

-- The CRM activity log (calls, e-mails, meetings, notes).
create table spine_crm_activities (
    tenant_id      text not null references tenants (id) on delete cascade,
    id             text not null,
    type           text not null,
    occurred_at    text not null,
    account_id     text,
    opportunity_id text,
    owner          text,
    subject        text,
    updated_at     text not null,
    primary key (tenant_id, id)
) strict;

create index spine_crm_activities_tenant_occurred
    on spine_crm_activities (tenant_id, occurred_at);

-- Kernel runtime (seed 000): events -> decisions -> actions.

-- Normalised events, stored once per idempotency key.
create table kernel_events (
    tenant_id       text not null references tenants (id) on delete cascade,
    id              text not null,
    type            text not null,
    source          text not null,
    idempotency_key text not null,
    correlation_id  text not null,
    subject_type    text,
    subject_id      text,
    payload         text not null default '{}' check (json_valid(payload)),
    occurred_at     text not null,
    -- when the kernel recorded it
    created_at      text not null,
    primary key (tenant_id, id),
    unique (tenant_id, idempotency_key)
) strict;

create index kernel_events_tenant_created
    on kernel_events (tenant_id, created_at);
create index kernel_events_tenant_correlation
    on kernel_events (tenant_id, correlation_id);

-- What a policy decided about an event.
create table kernel_decisions (
    tenant_id      text not null references tenants (id) on delete cascade,
    id             text not null,
    event_id       text not null,
    policy_id      text not null,
    policy_version integer not null,
    outcome        text not null check (outcome in ('act', 'no_action', 'no_policy', 'error')),
    reasons        text not null default '[]' check (json_valid(reasons)),
    correlation_id text not null,
    mode           text not null check (mode in ('shadow', 'enforce')),
    created_at     text not null,
    primary key (tenant_id, id),
    foreign key (tenant_id, event_id)
        references kernel_events (tenant_id, id) on delete cascade
) strict;

create index kernel_decisions_tenant_created
    on kernel_decisions (tenant_id, created_at);
create index kernel_decisions_tenant_correlation
    on kernel_decisions (tenant_id, correlation_id);
create index kernel_decisions_tenant_event
    on kernel_decisions (tenant_id, event_id);

-- The side effects a decision asked for, with their life-cycle.
create table kernel_actions (
    tenant_id       text not null references tenants (id) on delete cascade,
    id              text not null,
    decision_id     text not null,
    event_id        text not null,
    type            text not null,
    params          text not null default '{}' check (json_valid(params)),
    status          text not null check (status in (
        'proposed', 'shadowed', 'queued', 'executing', 'succeeded', 'failed', 'blocked',
        'awaiting_approval')),
    idempotency_key text not null,
    correlation_id  text not null,
    mode            text not null check (mode in ('shadow', 'enforce')),
    created_at      text not null,
    updated_at      text not null,
    primary key (tenant_id, id),
    unique (tenant_id, idempotency_key),
    foreign key (tenant_id, decision_id)
        references kernel_decisions (tenant_id, id) on delete cascade
) strict;

create index kernel_actions_tenant_created
    on kernel_actions (tenant_id, created_at);
create index kernel_actions_tenant_correlation
    on kernel_actions (tenant_id, correlation_id);
