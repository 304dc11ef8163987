-- 0018 the publish pipeline: posts, from draft to published.
--
-- * `posts`: one row per post. The columns are what lists filter and sort
--   on (status, channel, creation time) and what a conditional write needs
--   (`version`); the rest — title, text, sources, claims, the checks
--   attached to it, its submission, the people's decision and the frozen
--   published record — is the document `doc` the kernel defines.
--   `content_hash` is the SHA-256 of the checked content: a check attached
--   to another hash no longer counts.

create table posts (
    tenant_id    text not null references tenants (id) on delete cascade,
    id           text not null,
    status       text not null check (status in (
        'draft', 'submitted', 'published', 'rejected', 'expired', 'failed')),
    channel      text not null,
    content_hash text not null,
    version      integer not null,
    doc          text not null check (json_valid(doc)),
    created_by   text not null,
    created_at   text not null,
    updated_at   text not null,
    primary key (tenant_id, id)
) strict;

create index posts_newest on posts (tenant_id, created_at desc, id desc);
create index posts_by_status on posts (tenant_id, status, created_at desc, id desc);
