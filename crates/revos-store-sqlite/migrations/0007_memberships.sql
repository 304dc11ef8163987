-- 0007 memberships: the role a user (a JWT principal, named by the `sub`
-- claim of their identity provider's tokens) holds in a tenant. One role
-- per user and tenant; granting another replaces it.
--
-- `subject` is compared byte for byte (SQLite's default BINARY collation),
-- as the PostgreSQL backend does with `collate "C"`, so both order members
-- alike.
create table memberships (
    tenant_id  text not null references tenants (id) on delete cascade,
    subject    text not null check (length(subject) between 1 and 200),
    role       text not null
        check (role in ('viewer', 'approver', 'operator', 'admin', 'owner')),
    granted_at text not null,
    primary key (tenant_id, subject)
) strict;

-- The one index that does not lead with tenant_id, on purpose: a user who
-- authenticates names no tenant yet, and the store looks up every tenant
-- of that subject (`memberships_of`). Like `api_keys`' primary key, it
-- serves a cross-tenant identity lookup, not a query within one tenant.
create index memberships_subject on memberships (subject, tenant_id);
