-- The platform's own row in `tenants` (the nil UUID). It owns platform-wide
-- records, such as the audit chain of platform keys and of authentication
-- failures that name no tenant. The kernel never lists it as a tenant.
insert into tenants (id, name, created_at)
values ('00000000-0000-0000-0000-000000000000', 'platform', strftime('%Y-%m-%dT%H:%M:%f000Z', 'now'))
on conflict (id) do nothing;
