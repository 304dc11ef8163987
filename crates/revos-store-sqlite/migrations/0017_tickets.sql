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

create table tickets (
    tenant_id      text not null references tenants (id) on delete cascade,
    id             text not null,
    reference      text not null,
    status         text not null check (status in (
        'open', 'pending', 'awaiting_approval', 'escalated', 'closed')),
    priority       text not null check (priority in ('low', 'medium', 'high', 'urgent')),
    category       text not null,
    subject        text not null,
    customer_email text not null,
    risk_score     integer not null check (risk_score >= 0),
    risk_level     text not null check (risk_level in ('low', 'medium', 'high')),
    risk_factors   text not null check (json_valid(risk_factors)),
    last_agent     text,
    last_agent_at  text,
    last_human     text,
    last_human_at  text,
    sla_due_at     text,
    body           text not null check (json_valid(body)),
    version        integer not null check (version >= 1),
    created_at     text not null,
    updated_at     text not null,
    primary key (tenant_id, id),
    unique (tenant_id, reference)
) strict;

create index tickets_newest on tickets (tenant_id, created_at desc, id desc);
create index tickets_due on tickets (tenant_id, status, sla_due_at);

create table ticket_messages (
    tenant_id   text not null references tenants (id) on delete cascade,
    id          text not null,
    ticket_id   text not null,
    direction   text not null check (direction in ('in', 'out')),
    channel     text not null check (channel in ('email', 'web', 'discord', 'telegram')),
    message_id  text not null,
    author      text not null,
    subject     text not null,
    body        text not null,
    attachments text not null check (json_valid(attachments)),
    created_at  text not null,
    primary key (tenant_id, id),
    unique (tenant_id, message_id),
    foreign key (tenant_id, ticket_id) references tickets (tenant_id, id) on delete cascade
) strict;

create index ticket_messages_of_ticket on ticket_messages (tenant_id, ticket_id, created_at);
