-- 0007 memberships: the role a user (a JWT principal, named by the `sub`
-- claim of their identity provider's tokens) holds in a tenant. One role
-- per user and tenant; granting another replaces it.
--
-- A tenant table like the others (0005): revos_app reads and writes it
-- within a transaction that names the tenant. The one look-up that names
-- no tenant, every tenant a subject belongs to (made when a user
-- authenticates), goes through the SECURITY DEFINER function
-- `revos_memberships_of` below.

create table memberships (
    tenant_id  uuid not null references tenants (id) on delete cascade,
    -- Compared and ordered byte for byte, as on SQLite.
    subject    text collate "C" not null check (char_length(subject) between 1 and 200),
    role       text not null
        check (role in ('viewer', 'approver', 'operator', 'admin', 'owner')),
    granted_at timestamptz not null,
    primary key (tenant_id, subject)
);

-- The one index that does not lead with tenant_id, on purpose: a user who
-- authenticates names no tenant yet, and `revos_memberships_of` finds every
-- tenant of that subject. Like `api_keys`' primary key, it serves a
-- cross-tenant identity lookup, not a query within one tenant.
create index memberships_subject on memberships (subject, tenant_id);

-- What 0005 did for every tenant table then, done by hand for this one
-- (`alter default privileges` cannot, and the catalog audit in
-- `tests/rls.rs` checks it): the privileges, row-level security enabled
-- and forced, and the tenant policy.
grant select, insert, update, delete on table memberships to revos_app;

alter table memberships enable row level security;
alter table memberships force row level security;

create policy tenant_isolation on memberships for all to revos_app
    using (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
    with check (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);

-- The function below runs as the owner, whom the forced row-level security
-- binds too: this policy lets the owner (and no one else) read the rows it
-- needs, as 0005's `owner_functions` policies do for api_keys and the
-- audit log.
do $$
begin
    execute format(
        'create policy owner_functions on memberships for select to %I using (true)',
        current_user);
end;
$$;

-- Every tenant `member_subject` belongs to, ordered by tenant id.
create function revos_memberships_of(member_subject text)
returns setof memberships
language sql stable security definer
set search_path = public, pg_temp
as $$
    select * from memberships where subject = member_subject order by tenant_id
$$;

revoke execute on function revos_memberships_of(text) from public;
grant execute on function revos_memberships_of(text) to revos_app;
