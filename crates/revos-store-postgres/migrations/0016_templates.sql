-- 0016 versioned e-mail templates, the renders kept for reproduction, and
-- the suppression list the safe-send gate reads.
--
-- * `email_templates`: one row per version of a key; versions never change.
-- * `template_renders`: a render under its hash (template source and the
--   canonical data), so any e-mail can be rendered again.
-- * `suppressions`: addresses marketing mail may not go to.
--
-- Tenant tables like the others (0005): revos_app reads and writes them
-- within a transaction that names the tenant; RLS enforced.

create table email_templates (
    tenant_id        uuid not null references tenants (id) on delete cascade,
    template_key     text not null,
    version          bigint not null check (version >= 1),
    category         text not null check (category in ('transactional', 'marketing', 'notification')),
    subject          text not null,
    text_body        text not null,
    html_body        text,
    compliance_flags jsonb not null,
    throttle_ms      bigint not null check (throttle_ms >= 0),
    source_hash      text not null,
    created_by       text not null,
    created_at       timestamptz not null,
    primary key (tenant_id, template_key, version)
);

create table template_renders (
    tenant_id        uuid not null references tenants (id) on delete cascade,
    render_hash      text not null,
    template_key     text not null,
    template_version bigint not null,
    data             jsonb not null,
    created_at       timestamptz not null,
    primary key (tenant_id, render_hash),
    foreign key (tenant_id, template_key, template_version)
        references email_templates (tenant_id, template_key, version) on delete cascade
);

create table suppressions (
    tenant_id  uuid not null references tenants (id) on delete cascade,
    email      text not null,
    reason     text not null check (reason in ('unsubscribed', 'bounced', 'complained', 'manual')),
    created_at timestamptz not null,
    primary key (tenant_id, email)
);

create index suppressions_newest on suppressions (tenant_id, created_at desc, email);

grant select, insert, update, delete on table email_templates, template_renders, suppressions to revos_app;

alter table email_templates enable row level security;
alter table email_templates force row level security;
alter table template_renders enable row level security;
alter table template_renders force row level security;
alter table suppressions enable row level security;
alter table suppressions force row level security;

create policy tenant_isolation on email_templates for all to revos_app
    using (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
    with check (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
create policy tenant_isolation on template_renders for all to revos_app
    using (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
    with check (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
create policy tenant_isolation on suppressions for all to revos_app
    using (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
    with check (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
