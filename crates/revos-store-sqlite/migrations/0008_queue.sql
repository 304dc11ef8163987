-- 0008 queue: the durable job queues (the pure model is `revos-queue`, the
-- guarantees are in `revos_store::queue`).
--
-- `jobs` holds every job until it is purged; `state` follows the life
-- cycle of `revos_queue::JobState`. Settings that shape a job's life
-- (attempts, backoff, timeout, retention) are copied onto it when it is
-- enqueued. While a job is `active`, `worker` holds it until `lease_until`,
-- and `claims` (which only grows) is the fencing token of that attempt.
--
-- Fairness between tenants is start-time fair queueing: `fair_seq` is
-- `max(queue_fair.last_seq of the tenant, queue_clock.vtime of the queue)
-- + 1` when the job is enqueued, and claims take jobs by `priority`, then
-- `fair_seq` (then `created_at`, `id`). `queue_clock.vtime` is the highest
-- `fair_seq` claimed so far in the queue.
--
-- The indexes for claims and expired leases lead with `queue`, not
-- `tenant_id`, on purpose: a worker claims across all tenants of a queue.

create table jobs (
    tenant_id          text not null references tenants (id) on delete cascade,
    id                 text not null,
    queue              text not null,
    kind               text not null,
    payload            text not null check (json_valid(payload)),
    priority           integer not null,
    state              text not null check (state in (
        'waiting', 'delayed', 'active', 'completed', 'failed', 'dead',
        'awaiting_approval', 'cancelled')),
    attempts           integer not null default 0 check (attempts >= 0),
    claims             integer not null default 0 check (claims >= 0),
    max_attempts       integer not null check (max_attempts >= 1),
    backoff            text not null check (json_valid(backoff)),
    timeout_ms         integer check (timeout_ms is null or timeout_ms >= 0),
    remove_on_complete integer not null default 0 check (remove_on_complete in (0, 1)),
    run_at             text not null,
    fair_seq           integer not null,
    worker             text,
    lease_until        text,
    idempotency_key    text,
    action_id          text,
    last_error         text,
    created_at         text not null,
    updated_at         text not null,
    finished_at        text,
    primary key (tenant_id, id)
) strict;

-- What a claim scans: the ready line of one queue, in claim order.
create index jobs_claim
    on jobs (queue, priority, fair_seq, created_at, id)
    where state in ('waiting', 'delayed', 'failed');

-- Leases to take back when they expire.
create index jobs_leases
    on jobs (queue, lease_until)
    where state = 'active';

-- Listings, newest first.
create index jobs_tenant_created on jobs (tenant_id, created_at);

-- The idempotency ledger: the job each key created. It outlives the job
-- (purges and `remove_on_complete` leave it), so a key never creates a
-- second job.
create table job_keys (
    tenant_id       text not null references tenants (id) on delete cascade,
    idempotency_key text not null,
    job_id          text not null,
    created_at      text not null,
    primary key (tenant_id, idempotency_key)
) strict;

-- The last `fair_seq` given to a tenant's jobs in a queue.
create table queue_fair (
    tenant_id text not null references tenants (id) on delete cascade,
    queue     text not null,
    last_seq  integer not null,
    primary key (tenant_id, queue)
) strict;

-- The virtual time of a queue: the highest `fair_seq` claimed in it. A
-- platform table (not per tenant): it orders the tenants of a queue.
create table queue_clock (
    queue text not null primary key,
    vtime integer not null
) strict;
