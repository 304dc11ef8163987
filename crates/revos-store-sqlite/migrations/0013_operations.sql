-- no-transaction
-- 0013 operating day to day.
--
-- * A decision may be `skipped`: the event is older than its policy's
--   `max_event_age` (or the booking it confirms has started), so past data
--   does not act.
-- * An action (and its outbox e-mail) may be `rejected` by an approver or
--   `cancelled` with its job; an outbox e-mail may be `cancelled`.
-- * `tenants.simulation` marks the test tenants `revos validate` and
--   `revos demo` create in a named database: the scheduler skips them.
-- * `queue_pauses`: a paused queue keeps accepting jobs and claims none,
--   for one tenant or (the nil tenant) for every tenant.
--
-- SQLite cannot change a check constraint in place, so three tables are
-- rebuilt, rows and keys unchanged, by SQLite's documented procedure:
-- foreign keys off (which a transaction cannot do, hence `no-transaction`
-- above and the explicit transaction below), so dropping `kernel_decisions`
-- does not cascade to `kernel_actions`; a foreign-key check before the
-- commit; foreign keys back on.
pragma foreign_keys = off;

begin immediate;

drop table if exists kernel_decisions_next;
create table kernel_decisions_next (
    tenant_id      text not null references tenants (id) on delete cascade,
    id             text not null,
    event_id       text not null,
    policy_id      text not null,
    policy_version integer not null,
    outcome        text not null
                   check (outcome in ('act', 'no_action', 'no_policy', 'error', 'skipped')),
    reasons        text not null default '[]' check (json_valid(reasons)),
    correlation_id text not null,
    mode           text not null check (mode in ('shadow', 'enforce')),
    created_at     text not null,
    primary key (tenant_id, id),
    foreign key (tenant_id, event_id)
        references kernel_events (tenant_id, id) on delete cascade
) strict;
insert into kernel_decisions_next
    (tenant_id, id, event_id, policy_id, policy_version, outcome, reasons, correlation_id,
     mode, created_at)
select tenant_id, id, event_id, policy_id, policy_version, outcome, reasons, correlation_id,
       mode, created_at
from kernel_decisions;
drop table kernel_decisions;
alter table kernel_decisions_next rename to kernel_decisions;
create index kernel_decisions_tenant_created
    on kernel_decisions (tenant_id, created_at);
create index kernel_decisions_tenant_correlation
    on kernel_decisions (tenant_id, correlation_id);
create index kernel_decisions_tenant_event
    on kernel_decisions (tenant_id, event_id);

drop table if exists kernel_actions_next;
create table kernel_actions_next (
    tenant_id       text not null references tenants (id) on delete cascade,
    id              text not null,
    decision_id     text not null,
    event_id        text not null,
    type            text not null,
    params          text not null default '{}' check (json_valid(params)),
    status          text not null check (status in (
        'proposed', 'shadowed', 'queued', 'executing', 'succeeded', 'failed', 'blocked',
        'awaiting_approval', 'rejected', 'cancelled')),
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
insert into kernel_actions_next
    (tenant_id, id, decision_id, event_id, type, params, status, idempotency_key,
     correlation_id, mode, created_at, updated_at)
select tenant_id, id, decision_id, event_id, type, params, status, idempotency_key,
       correlation_id, mode, created_at, updated_at
from kernel_actions;
drop table kernel_actions;
alter table kernel_actions_next rename to kernel_actions;
create index kernel_actions_tenant_created
    on kernel_actions (tenant_id, created_at);
create index kernel_actions_tenant_correlation
    on kernel_actions (tenant_id, correlation_id);
create index kernel_actions_tenant_event
    on kernel_actions (tenant_id, event_id);

drop table if exists channel_outbox_next;
create table channel_outbox_next (
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
    status     text not null default 'pending'
               check (status in ('pending', 'sending', 'sent', 'failed', 'cancelled')),
    attempts   integer not null default 0 check (attempts >= 0),
    last_error text,
    sent_at    text,
    created_at text not null,
    updated_at text not null,
    primary key (tenant_id, id),
    unique (tenant_id, action_id)
) strict;
insert into channel_outbox_next
    (tenant_id, id, action_id, to_addr, from_addr, reply_to, subject, text_body,
     html_body, message_id, status, attempts, last_error, sent_at, created_at, updated_at)
select tenant_id, id, action_id, to_addr, from_addr, reply_to, subject, text_body,
       html_body, message_id, status, attempts, last_error, sent_at, created_at, updated_at
from channel_outbox;
drop table channel_outbox;
alter table channel_outbox_next rename to channel_outbox;

alter table tenants add column simulation integer not null default 0
    check (simulation in (0, 1));

create table queue_pauses (
    tenant_id text not null references tenants (id) on delete cascade,
    queue     text not null,
    paused_by text not null,
    paused_at text not null,
    primary key (tenant_id, queue)
) strict;

commit;

pragma foreign_keys = on;
