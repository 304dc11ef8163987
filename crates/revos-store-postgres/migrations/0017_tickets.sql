-- 0017 support tickets (seed 003's `tickets` and `ticket_messages`, with the
-- tenant).
--
-- * `tickets`: one row per ticket; the columns the kernel filters and
--   routes on (status, priority, category, risk, the answer's due time, who
--   last acted), the rest in `body`; `version` makes every change a
--   conditional write.
-- * `ticket_messages`: what the customer wrote and what was answered; the
--   e-mail `Message-ID` is unique per tenant, so a repeated e-mail is one
--   message, and threading finds a ticket by the ids a reply names.
--
-- Tenant tables like the others (0005): revos_app reads and writes them
-- within a transaction that names the tenant; RLS enforced.

create table tickets (
    tenant_id      uuid not null references tenants (id) on delete cascade,
    id             uuid not null,
    reference      text not null,
    status         text not null check (status in (
        'open', 'pending', 'awaiting_approval', 'escalated', 'closed')),
    priority       text not null check (priority in ('low', 'medium', 'high', 'urgent')),
    category       text not null,
    subject        text not null,
    customer_email text not null,
    risk_score     bigint not null check (risk_score >= 0),
    risk_level     text not null check (risk_level in ('low', 'medium', 'high')),
    risk_factors   jsonb not null,
    last_agent     text,
    last_agent_at  timestamptz,
    last_human     text,
    last_human_at  timestamptz,
    sla_due_at     timestamptz,
    body           jsonb not null,
    version        bigint not null check (version >= 1),
    created_at     timestamptz not null,
    updated_at     timestamptz not null,
    primary key (tenant_id, id),
    unique (tenant_id, reference)
);

create index tickets_newest on tickets (tenant_id, created_at desc, id desc);
create index tickets_due on tickets (tenant_id, status, sla_due_at);

create table ticket_messages (
    tenant_id   uuid not null references tenants (id) on delete cascade,
    id          uuid not null,
    ticket_id   uuid not null,
    direction   text not null check (direction in ('in', 'out')),
    channel     text not null check (channel in ('email', 'web', 'discord', 'telegram')),
    message_id  text not null,
    author      text not null,
    subject     text not null,
    body        text not null,
    attachments jsonb not null,
    created_at  timestamptz not null,
    primary key (tenant_id, id),
    unique (tenant_id, message_id),
    foreign key (tenant_id, ticket_id) references tickets (tenant_id, id) on delete cascade
);

create index ticket_messages_of_ticket on ticket_messages (tenant_id, ticket_id, created_at);

grant select, insert, update, delete on table tickets, ticket_messages to revos_app;

alter table tickets enable row level security;
alter table tickets force row level security;
alter table ticket_messages enable row level security;
alter table ticket_messages force row level security;

create policy tenant_isolation on tickets for all to revos_app
    using (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
    with check (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
create policy tenant_isolation on ticket_messages for all to revos_app
    using (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
    with check (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
