-- 0011 cycle notes: what `revos_store::cycles` keeps besides the
-- optimization_cycles, optimization_actions and optimization_action_results
-- of 0001. The conventions of 0001 hold: tenant_id first, indexes lead with
-- it. The tables are tenant tables of 0005 already (granted to revos_app,
-- row-level security enabled and forced, the tenant policy): a new column
-- and a new index need nothing more.
--
-- A cycle's `status` stays free text, as in 0001: the store writes only
-- `completed` and `failed` and refuses anything else when it reads. Its
-- `notes` are a JSON object; the store checks that too.

-- Extra records of a cycle (e.g. the candidates the CFO gate dropped, with
-- reasons). Rows from before this migration have `{}`.
alter table optimization_cycles
    add column notes jsonb not null default '{}';

-- The tenant's last completed cycle (`last_completed_cycle`, and the
-- `min_gap` check of `record_cycle`).
create index optimization_cycles_tenant_status_created
    on optimization_cycles (tenant_id, status, created_at);
