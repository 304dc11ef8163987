-- pgbench: the writes of one enforce-mode `lead_captured` ingest as plain SQL.
--
-- One transaction, as the kernel's ingest runs it (crates/revos-kernel/src/runtime.rs
-- through the PostgreSQL store): as `revos_app` with the tenant set for row-level
-- security, the event, its decision, its two actions (the e-mail and the task), the
-- outbox e-mail, the task, the job's idempotency ledger entry, the tenant's fair-queueing
-- counter, the job, the queue notification and the unsequenced audit entry. The
-- texts are those the real ingest writes, at their real sizes. Ids come from the
-- server; the tenant is one of `ntenants` made by bench/README.md's setup.
-- Run with: pgbench -n -f bench/ingest.sql -D ntenants=1 -c 16 -j 2 -T 30 DB
\set t random(1, :ntenants)
\set n random(1, 1000000000)
begin;
set local role revos_app;
select set_config('app.tenant_id', '00000000-0000-4000-8000-00000000000:t', true),
       gen_random_uuid() as ev, gen_random_uuid() as dec, gen_random_uuid() as act_mail,
       gen_random_uuid() as act_task, gen_random_uuid() as outbox, gen_random_uuid() as task,
       gen_random_uuid() as job, now() as at
\gset
insert into kernel_events
    (tenant_id, id, type, source, idempotency_key, correlation_id, subject_type,
     subject_id, payload, occurred_at, created_at, body_hash)
values ('00000000-0000-4000-8000-00000000000:t', ':ev', 'lead_captured', 'cmo_campaigns',
        'pgbench-' || ':ev', ':ev', 'lead', 'lead-' || :n,
        jsonb_build_object('name', 'Lead ' || :n, 'email', 'lead' || :n || '@example.com',
                           'company', 'Example Ltd', 'campaign_id', 'cmp-bench'),
        ':at', ':at', md5(':ev') || md5(':ev'))
on conflict (tenant_id, idempotency_key) do nothing;
insert into kernel_decisions
    (tenant_id, id, event_id, policy_id, policy_version, outcome, reasons,
     correlation_id, mode, created_at)
values ('00000000-0000-4000-8000-00000000000:t', ':dec', ':ev',
        'revenue_os.growth.lead_response_v1', 1, 'act',
        '["An auto-response goes to lead1@example.com now, so the lead hears back at once.", "Follow-up task for sales, due within 15 minutes (by 2026-12-04T04:08:26Z)."]',
        ':ev', 'enforce', ':at');
insert into kernel_actions
    (tenant_id, id, decision_id, event_id, type, params, status, idempotency_key,
     correlation_id, mode, created_at, updated_at)
values ('00000000-0000-4000-8000-00000000000:t', ':act_mail', ':dec', ':ev', 'OUTBOUND_EMAIL',
        jsonb_build_object('to', 'lead' || :n || '@example.com', 'subject', 'Thanks for contacting bench',
                           'text', repeat('Thanks for getting in touch. ', 10)),
        'queued', ':ev' || '/revenue_os.growth.lead_response_v1@1/response_email', ':ev',
        'enforce', ':at', ':at');
insert into kernel_actions
    (tenant_id, id, decision_id, event_id, type, params, status, idempotency_key,
     correlation_id, mode, created_at, updated_at)
values ('00000000-0000-4000-8000-00000000000:t', ':act_task', ':dec', ':ev', 'TASK_CREATE',
        jsonb_build_object('owner', 'sales', 'subject', 'Follow up with Lead ' || :n,
                           'details', repeat('New lead captured. ', 8)),
        'succeeded', ':ev' || '/revenue_os.growth.lead_response_v1@1/follow_up_task', ':ev',
        'enforce', ':at', ':at');
insert into channel_outbox
    (tenant_id, id, action_id, to_addr, from_addr, reply_to, subject, text_body,
     html_body, message_id, status, attempts, last_error, sent_at, created_at, updated_at)
values ('00000000-0000-4000-8000-00000000000:t', ':outbox', ':act_mail',
        'lead' || :n || '@example.com', 'revos <no-reply@localhost>', null,
        'Thanks for contacting bench', repeat('Thanks for getting in touch. ', 10), null,
        ':act_mail' || '@revos.local', 'pending', 0, null, null, ':at', ':at');
insert into tasks
    (tenant_id, id, action_id, owner, subject, details, due_at, entity_type, entity_id,
     status, created_at)
values ('00000000-0000-4000-8000-00000000000:t', ':task', ':act_task', 'sales',
        'Follow up with Lead ' || :n, repeat('New lead captured. ', 8),
        ':at'::timestamptz + interval '15 minutes', 'lead', 'lead-' || :n, 'open', ':at')
returning id;
insert into job_keys (tenant_id, idempotency_key, job_id, created_at)
values ('00000000-0000-4000-8000-00000000000:t',
        ':ev' || '/revenue_os.growth.lead_response_v1@1/response_email', ':job', ':at')
on conflict (tenant_id, idempotency_key) do nothing
returning job_id;
-- The start tag, as the store reserves it: the transaction that can lock the
-- tenant's counter at once advances it; one that finds it held shares the last
-- committed number (revos-store-postgres `reserve_fair`).
insert into queue_fair (tenant_id, queue, last_seq)
values ('00000000-0000-4000-8000-00000000000:t', 'email', 0)
on conflict (tenant_id, queue) do nothing;
with clock as (
    select coalesce((select vtime from queue_clock where queue = 'email'), 0) as vtime
),
mine as (
    select last_seq from queue_fair
     where tenant_id = '00000000-0000-4000-8000-00000000000:t' and queue = 'email'
     for update skip locked
),
bumped as (
    update queue_fair f set last_seq = greatest(mine.last_seq, clock.vtime) + 1
      from mine, clock
     where f.tenant_id = '00000000-0000-4000-8000-00000000000:t' and f.queue = 'email'
    returning f.last_seq
)
select coalesce(
    (select last_seq from bumped),
    (select greatest(f.last_seq, (select vtime from clock)) + 1
       from queue_fair f where f.tenant_id = '00000000-0000-4000-8000-00000000000:t' and f.queue = 'email')) as last_seq
\gset fair_
insert into jobs
    (tenant_id, id, queue, kind, payload, priority, state, attempts, max_attempts,
     backoff, timeout_ms, remove_on_complete, run_at, fair_seq, idempotency_key,
     action_id, created_at, updated_at)
values ('00000000-0000-4000-8000-00000000000:t', ':job', 'email', 'email.send',
        jsonb_build_object('action_id', ':act_mail'), 3, 'waiting', 0, 3,
        '{"kind": "exponential", "cap_ms": 3600000, "jitter": false, "delay_ms": 1000}',
        null, false, ':at', :fair_last_seq,
        ':ev' || '/revenue_os.growth.lead_response_v1@1/response_email', ':act_mail', ':at', ':at')
returning id;
select pg_notify('revos_jobs', 'email');
insert into audit_pending
    (tenant_id, occurred_at, actor, action, resource_type, resource_id, details)
values ('00000000-0000-4000-8000-00000000000:t', ':at', 'service', 'event.ingest', 'event',
        ':ev', json_build_object('type', 'lead_captured', 'source', 'cmo_campaigns',
                                 'padding', repeat('x', 500)));
commit;
