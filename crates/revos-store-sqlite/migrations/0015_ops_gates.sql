-- 0015 the operations kernel for agents: tool policies, agent actions and
-- the approvals that gate them.
--
-- * `tool_policies`: one row per tenant, its Cedar tool policies (text, as
--   sent) and approval settings (JSON).
-- * `agent_actions`: what an agent asked for; the idempotency key and the
--   job key (hash of tool, entity and version) are each unique per tenant,
--   so a repeated request is one action and one job.
-- * `approvals`: a gated action's approval; `version` makes a decision a
--   conditional write (two deciders cannot both win).

create table tool_policies (
    tenant_id  text primary key references tenants (id) on delete cascade,
    text       text not null,
    settings   text not null check (json_valid(settings)),
    updated_by text not null,
    updated_at text not null
) strict;

create table agent_actions (
    tenant_id       text not null references tenants (id) on delete cascade,
    id              text not null,
    idempotency_key text not null,
    job_key         text not null,
    tool            text not null,
    agent           text not null,
    status          text not null check (status in (
        'executed', 'awaiting_approval', 'blocked', 'rejected', 'expired')),
    approval_id     text,
    job_id          text,
    body            text not null check (json_valid(body)),
    created_at      text not null,
    updated_at      text not null,
    primary key (tenant_id, id),
    unique (tenant_id, idempotency_key),
    unique (tenant_id, job_key)
) strict;

create table approvals (
    tenant_id  text not null references tenants (id) on delete cascade,
    id         text not null,
    action_id  text not null,
    status     text not null check (status in ('pending', 'approved', 'rejected', 'expired')),
    risk       text not null check (risk in ('low', 'medium', 'high')),
    tool       text not null,
    requester  text not null,
    queue      text not null,
    created_at text not null,
    expires_at text not null,
    version    integer not null,
    body       text not null check (json_valid(body)),
    primary key (tenant_id, id),
    foreign key (tenant_id, action_id) references agent_actions (tenant_id, id) on delete cascade
) strict;

create index approvals_newest on approvals (tenant_id, created_at desc, id desc);
create index approvals_pending on approvals (tenant_id, status, expires_at);
