-- 0018 the publish pipeline: posts, from draft to published.
--
-- * `posts`: one row per post. The columns are what lists filter and sort
--   on (status, channel, creation time) and what a conditional write needs
--   (`version`); the rest — title, text, sources, claims, the checks
--   attached to it, its submission, the people's decision and the frozen
--   published record — is the document `doc` the kernel defines.
--   `content_hash` is the SHA-256 of the checked content: a check attached
--   to another hash no longer counts.
--
-- A tenant table like the others (0005): revos_app reads and writes it
-- within a transaction that names the tenant; RLS enforced.

create table posts (
    tenant_id    uuid not null references tenants (id) on delete cascade,
    id           uuid not null,
    status       text not null check (status in (
        'draft', 'submitted', 'published', 'rejected', 'expired', 'failed')),
    channel      text not null,
    content_hash text not null,
    version      integer not null,
    doc          jsonb not null,
    created_by   text not null,
    created_at   timestamptz not null,
    updated_at   timestamptz not null,
    primary key (tenant_id, id)
);

create index posts_newest on posts (tenant_id, created_at desc, id desc);
create index posts_by_status on posts (tenant_id, status, created_at desc, id desc);

grant select, insert, update, delete on table posts to revos_app;

alter table posts enable row level security;
alter table posts force row level security;

create policy tenant_isolation on posts for all to revos_app
    using (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
    with check (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);
