-- 0019 agent actions are listed newest first per tenant (`GET /v1/agent-actions`).
create index agent_actions_by_time on agent_actions (tenant_id, created_at desc, id desc);
