-- 0008 queue: the durable job queues (`revos_store::queue`).
--
-- An action and the job that carries it out commit in one transaction, so
-- jobs live here, next to everything else. Four tables:
-- * `jobs`: one row per job, through its whole life;
-- * `job_keys`: the idempotency ledger, one row per (tenant, key) ever
--   used. Never purged: a key stays taken after its job is deleted, so the
--   same key never creates a second job;
-- * `queue_fair` and `queue_clock`: start-time fair queueing between
--   tenants. Each job gets `fair_seq = max(tenant's last_seq in the queue,
--   queue's vtime) + 1` when it is enqueued; claims take jobs by priority,
--   then fair_seq, and move the queue's vtime up to the largest fair_seq
--   they claimed. A tenant that enqueues a burst gets consecutive numbers;
--   another tenant's next job starts at the current vtime and interleaves.
--
-- Two roles use these tables:
-- * `revos_app` (0005), for everything a tenant does: enqueue, cancel,
--   retry, approve, look. Bound to its tenant by `tenant_isolation`, as on
--   every tenant table;
-- * `revos_worker` (made below), for what the workers do across tenants:
--   claim, extend, complete, fail, release, purge, and the operator's
--   views of every tenant. The store's pool connections take it with `set
--   local role revos_worker` for one transaction at a time. It reaches the
--   queue tables and nothing else: no privilege on any other table, and
--   its `worker_access` policy exists on the queue tables only.

create table jobs (
    tenant_id          uuid not null references tenants (id) on delete cascade,
    id                 uuid not null,
    -- Compared and ordered byte for byte, as on SQLite.
    queue              text collate "C" not null check (queue ~ '^[a-z][a-z0-9_]{0,63}$'),
    kind               text collate "C" not null check (char_length(kind) between 1 and 100),
    payload            jsonb not null,
    -- Index in the queue's priority classes: 0 is the most urgent.
    priority           integer not null,
    state              text not null check (state in (
        'waiting', 'delayed', 'active', 'completed', 'failed', 'dead',
        'awaiting_approval', 'cancelled')),
    -- Attempts started (a released attempt does not count); `claims` only grows
    -- and is the fencing token of the current attempt.
    attempts           integer not null check (attempts >= 0),
    claims             integer not null default 0 check (claims >= 0),
    max_attempts       integer not null check (max_attempts >= 1),
    backoff            jsonb not null,
    timeout_ms         bigint check (timeout_ms >= 0),
    remove_on_complete boolean not null,
    run_at             timestamptz not null,
    fair_seq           bigint not null,
    worker             text,
    lease_until        timestamptz,
    idempotency_key    text collate "C" check (char_length(idempotency_key) <= 255),
    action_id          uuid,
    last_error         text,
    created_at         timestamptz not null,
    updated_at         timestamptz not null,
    finished_at        timestamptz,
    primary key (tenant_id, id)
) with (
    -- The hottest table of the schema: every job is inserted, updated
    -- three times or more (claim, lease, outcome) and, for most queues,
    -- deleted within days. Free room on each page lets a row's new version
    -- land on the same page (a HOT update when no indexed column changes),
    -- and vacuum must keep pace with the dead versions, or the claim
    -- index bloats and claims slow down.
    fillfactor = 70,
    autovacuum_vacuum_scale_factor = 0.02,
    autovacuum_vacuum_insert_scale_factor = 0.05,
    autovacuum_analyze_scale_factor = 0.02,
    autovacuum_vacuum_cost_delay = 1
);

-- The claim: the next runnable jobs of one queue, across tenants, in claim
-- order. Like the other cross-tenant indexes here it does not lead with
-- tenant_id, on purpose: a worker serves a queue, not a tenant.
create index jobs_claim on jobs (queue, priority, fair_seq, created_at, id)
    where state in ('waiting', 'delayed', 'failed');

-- Leases that expired, taken back before each claim.
create index jobs_leases on jobs (queue, lease_until) where state = 'active';

-- A tenant's jobs, newest first.
create index jobs_tenant_created on jobs (tenant_id, created_at);

-- Completed jobs past their retention, for the cleanup.
create index jobs_completed on jobs (queue, finished_at) where state = 'completed';

create table job_keys (
    tenant_id       uuid not null references tenants (id) on delete cascade,
    idempotency_key text collate "C" not null check (char_length(idempotency_key) <= 255),
    -- The job the key created; it may have been deleted since.
    job_id          uuid not null,
    created_at      timestamptz not null,
    primary key (tenant_id, idempotency_key)
);

create table queue_fair (
    tenant_id uuid not null references tenants (id) on delete cascade,
    queue     text collate "C" not null,
    -- The fair_seq of this tenant's last job in the queue.
    last_seq  bigint not null,
    primary key (tenant_id, queue)
);

-- The queue's virtual time: the largest fair_seq claimed so far. Shared by
-- every tenant of the queue (it holds no tenant data, hence no tenant_id
-- and no row-level security).
create table queue_clock (
    queue text collate "C" primary key,
    vtime bigint not null
);

-- ---- revos_app: the tenant side ----------------------------------------------

-- What 0005 did for every tenant table then, done by hand for these (the
-- catalog audit in `tests/rls.rs` checks it). The ledger is append-only
-- for the service: a key, once used, stays used.
grant select, insert, update, delete on table jobs, queue_fair to revos_app;
grant select, insert on table job_keys to revos_app;
grant select, insert, update on table queue_clock to revos_app;

alter table jobs enable row level security;
alter table jobs force row level security;
alter table job_keys enable row level security;
alter table job_keys force row level security;
alter table queue_fair enable row level security;
alter table queue_fair force row level security;

create policy tenant_isolation on jobs for all to revos_app
    using (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
    with check (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
create policy tenant_isolation on job_keys for all to revos_app
    using (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
    with check (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
create policy tenant_isolation on queue_fair for all to revos_app
    using (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
    with check (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);

-- ---- revos_worker: the worker side -------------------------------------------

-- The role, cluster-wide, made as 0005 makes revos_app: another database
-- of the cluster may have made it already, or be making it right now.
do $$
begin
    if not exists (select 1 from pg_roles where rolname = 'revos_worker') then
        create role revos_worker
            nologin nosuperuser nocreatedb nocreaterole noinherit noreplication nobypassrls;
    end if;
exception
    when duplicate_object or unique_violation then null;
end;
$$;

-- A role of that name made by someone else must be as harmless.
do $$
begin
    if exists (
        select 1 from pg_roles
        where rolname = 'revos_worker' and (rolsuper or rolbypassrls)
    ) then
        raise exception 'role revos_worker is a superuser or bypasses row-level security'
            using hint = 'alter role revos_worker nosuperuser nobypassrls';
    end if;
end;
$$;

-- `set role` is checked against the session's user (the owner), not the
-- current role (revos_app): the owner must be a member. A plain owner may
-- need an administrator to grant it; until then worker calls fail loudly.
do $$
begin
    execute format('grant revos_worker to %I', current_user);
exception
    when insufficient_privilege or invalid_grant_operation or unique_violation then null;
end;
$$;

do $$
begin
    grant usage on schema public to revos_worker;
exception
    when insufficient_privilege then null;
end;
$$;

-- Workers read jobs and move them along (and delete completed ones); they
-- enqueue nothing and only read the ledger and the tenants' sequences.
grant select, update, delete on table jobs to revos_worker;
grant select on table job_keys, queue_fair to revos_worker;
grant select, insert, update on table queue_clock to revos_worker;

-- Every tenant's rows, on these tables only.
create policy worker_access on jobs for all to revos_worker using (true) with check (true);
create policy worker_access on job_keys for all to revos_worker using (true) with check (true);
create policy worker_access on queue_fair for all to revos_worker using (true) with check (true);
