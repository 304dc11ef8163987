-- 0015 the operations kernel for agents: tool policies, agent actions and
-- the approvals that gate them.
--
-- * `tool_policies`: one row per tenant, its Cedar tool policies (text, as
--   sent) and approval settings (jsonb).
-- * `agent_actions`: what an agent asked for; the idempotency key and the
--   job key (hash of tool, entity and version) are each unique per tenant,
--   so a repeated request is one action and one job.
-- * `approvals`: a gated action's approval; `version` makes a decision a
--   conditional write (two deciders cannot both win).
--
-- Tenant tables like the others (0005): revos_app reads and writes them
-- within a transaction that names the tenant; RLS enforced.

create table tool_policies (
    tenant_id  uuid primary key references tenants (id) on delete cascade,
    text       text not null,
    settings   jsonb not null,
    updated_by text not null,
    updated_at timestamptz not null
);

create table agent_actions (
    tenant_id       uuid not null references tenants (id) on delete cascade,
    id              uuid not null,
    idempotency_key text not null,
    job_key         text not null,
    tool            text not null,
    agent           text not null,
    status          text not null check (status in (
        'executed', 'awaiting_approval', 'blocked', 'rejected', 'expired')),
    approval_id     uuid,
    job_id          uuid,
    body            jsonb not null,
    created_at      timestamptz not null,
    updated_at      timestamptz not null,
    primary key (tenant_id, id),
    unique (tenant_id, idempotency_key),
    unique (tenant_id, job_key)
);

create table approvals (
    tenant_id  uuid not null references tenants (id) on delete cascade,
    id         uuid not null,
    action_id  uuid not null,
    status     text not null check (status in ('pending', 'approved', 'rejected', 'expired')),
    risk       text not null check (risk in ('low', 'medium', 'high')),
    tool       text not null,
    requester  text not null,
    queue      text not null,
    created_at timestamptz not null,
    expires_at timestamptz not null,
    version    integer not null,
    body       jsonb not null,
    primary key (tenant_id, id),
    foreign key (tenant_id, action_id) references agent_actions (tenant_id, id) on delete cascade
);

create index approvals_newest on approvals (tenant_id, created_at desc, id desc);
create index approvals_pending on approvals (tenant_id, status, expires_at);

grant select, insert, update, delete on table tool_policies, agent_actions, approvals to revos_app;

alter table tool_policies enable row level security;
alter table tool_policies force row level security;
alter table agent_actions enable row level security;
alter table agent_actions force row level security;
alter table approvals enable row level security;
alter table approvals force row level security;

create policy tenant_isolation on tool_policies for all to revos_app
    using (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
    with check (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
create policy tenant_isolation on agent_actions for all to revos_app
    using (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
    with check (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
create policy tenant_isolation on approvals for all to revos_app
    using (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
    with check (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
