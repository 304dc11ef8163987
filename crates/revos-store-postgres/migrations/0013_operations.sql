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
alter table kernel_decisions drop constraint kernel_decisions_outcome_check;
alter table kernel_decisions add constraint kernel_decisions_outcome_check
    check (outcome in ('act', 'no_action', 'no_policy', 'error', 'skipped'));

alter table kernel_actions drop constraint kernel_actions_status_check;
alter table kernel_actions add constraint kernel_actions_status_check
    check (status in (
        'proposed', 'shadowed', 'queued', 'executing', 'succeeded', 'failed', 'blocked',
        'awaiting_approval', 'rejected', 'cancelled'));

alter table channel_outbox drop constraint channel_outbox_status_check;
alter table channel_outbox add constraint channel_outbox_status_check
    check (status in ('pending', 'sending', 'sent', 'failed', 'cancelled'));

alter table tenants add column simulation boolean not null default false;

create table queue_pauses (
    tenant_id uuid not null references tenants (id) on delete cascade,
    queue     text not null,
    paused_by text not null,
    paused_at timestamptz not null,
    primary key (tenant_id, queue)
);

-- A tenant table like the others (0005, 0009): revos_app reads and writes
-- it within a transaction that names the tenant (the nil tenant for a
-- platform-wide pause). Workers read every row when they claim.
grant select, insert, update, delete on table queue_pauses to revos_app;
grant select on table queue_pauses to revos_worker;

alter table queue_pauses enable row level security;
alter table queue_pauses force row level security;

create policy tenant_isolation on queue_pauses for all to revos_app
    using (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
    with check (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
create policy worker_access on queue_pauses for all to revos_worker using (true) with check (true);
