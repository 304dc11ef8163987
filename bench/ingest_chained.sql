-- pgbench: ingest.sql with the audit entry chained inside the writer's transaction,
-- as every ingest did before migration 0014: the tenant's chain lock (the advisory lock
-- of crates/revos-store-postgres/src/audit.rs), the head read and the chained insert,
-- the lock held through the commit. The rest is ingest.sql unchanged.
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
with clock as (
    select coalesce((select vtime from queue_clock where queue = 'email'), 0) as vtime
)
insert into queue_fair (tenant_id, queue, last_seq)
select '00000000-0000-4000-8000-00000000000:t', 'email', clock.vtime + 1 from clock
on conflict (tenant_id, queue) do update set
    last_seq = greatest(queue_fair.last_seq, (select vtime from clock)) + 1
returning last_seq
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
select pg_advisory_xact_lock(1096107092, hashtext('00000000-0000-4000-8000-00000000000:t'));
insert into audit_log
    (tenant_id, seq, occurred_at, actor, action, resource_type, resource_id, details,
     prev_hash, hash)
select '00000000-0000-4000-8000-00000000000:t', coalesce(h.seq, 0) + 1, ':at', 'service',
       'event.ingest', 'event', ':ev',
       json_build_object('type', 'lead_captured', 'source', 'cmo_campaigns',
                         'padding', repeat('x', 500)),
       coalesce(h.hash, repeat('0', 64)),
       encode(sha256(convert_to(coalesce(h.hash, '') || ':ev', 'UTF8')), 'hex')
from (select 1) as one
left join (select seq, hash from audit_log
           where tenant_id = '00000000-0000-4000-8000-00000000000:t'
           order by seq desc limit 1) as h on true;
commit;
