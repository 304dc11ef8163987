-- 0016 versioned e-mail templates, the renders kept for reproduction, and
-- the suppression list the safe-send gate reads.
--
-- * `email_templates`: one row per version of a key; versions never change.
-- * `template_renders`: a render under its hash (template source and the
--   canonical data), so any e-mail can be rendered again.
-- * `suppressions`: addresses marketing mail may not go to.

create table email_templates (
    tenant_id        text not null references tenants (id) on delete cascade,
    template_key     text not null,
    version          integer not null check (version >= 1),
    category         text not null check (category in ('transactional', 'marketing', 'notification')),
    subject          text not null,
    text_body        text not null,
    html_body        text,
    compliance_flags text not null check (json_valid(compliance_flags)),
    throttle_ms      integer not null check (throttle_ms >= 0),
    source_hash      text not null,
    created_by       text not null,
    created_at       text not null,
    primary key (tenant_id, template_key, version)
) strict;

create table template_renders (
    tenant_id        text not null references tenants (id) on delete cascade,
    render_hash      text not null,
    template_key     text not null,
    template_version integer not null,
    data             text not null check (json_valid(data)),
    created_at       text not null,
    primary key (tenant_id, render_hash),
    foreign key (tenant_id, template_key, template_version)
        references email_templates (tenant_id, template_key, version) on delete cascade
) strict;

create table suppressions (
    tenant_id  text not null references tenants (id) on delete cascade,
    email      text not null,
    reason     text not null check (reason in ('unsubscribed', 'bounced', 'complained', 'manual')),
    created_at text not null,
    primary key (tenant_id, email)
) strict;

create index suppressions_newest on suppressions (tenant_id, created_at desc, email);
