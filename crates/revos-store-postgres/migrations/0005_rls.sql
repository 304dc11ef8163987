-- 0005 row-level security: the service runs as `revos_app`, a role that
-- owns no table, is no superuser and has no BYPASSRLS, and it sees only the
-- rows of the tenant its transaction names.
--
-- How the pieces fit:
-- * migrations run as the owner (the user of DATABASE_URL, on a connection
--   of their own); every connection of the store's pool then does
--   `set role revos_app`, so every query of the service meets the policies;
-- * every table with a `tenant_id` column has row-level security enabled
--   and forced (forced: the owner is bound too) and the policy
--   `tenant_isolation`: revos_app reads and writes only rows whose
--   tenant_id is the transaction's `app.tenant_id`, which the store sets
--   with `set_config('app.tenant_id', $1, true)`. The policy reads it with
--   `nullif(current_setting('app.tenant_id', true), '')`, so a transaction
--   that set no tenant sees no rows instead of failing;
-- * `tenants`, the registry, has no tenant_id and stays readable: listing
--   tenants is a platform operation;
-- * `api_keys` is read before any tenant is known (a presented key names
--   its tenant): revos_app has no privilege on the table and goes through
--   the SECURITY DEFINER functions `revos_*_api_key*` below;
-- * the audit tables are append-only for revos_app: SELECT and INSERT only
--   (the triggers of 0003 refuse UPDATE, DELETE and TRUNCATE for everyone).
--   Tenants with entries are listed by `revos_audited_tenants()`;
-- * views, should there ever be any, must be `with (security_invoker)`,
--   or they would read the tables with their owner's rights.
--
-- A later migration that adds a tenant table must grant revos_app on it,
-- enable and force row-level security and create the same policy: `alter
-- default privileges` cannot do it (it follows whichever role creates the
-- table). The catalog audit in `tests/rls.rs` fails until that is done.

-- The role, cluster-wide: another database of the cluster may have made it
-- already, or be making it at this very moment (hence both exceptions).
-- Making it takes CREATEROLE; an owner without it needs an administrator
-- to run this statement (and the grant below) once, beforehand.
do $$
begin
    if not exists (select 1 from pg_roles where rolname = 'revos_app') then
        create role revos_app
            nologin nosuperuser nocreatedb nocreaterole noinherit noreplication nobypassrls;
    end if;
exception
    when duplicate_object or unique_violation then null;
end;
$$;

-- A role of that name made by someone else must be as harmless.
do $$
begin
    if exists (
        select 1 from pg_roles
        where rolname = 'revos_app' and (rolsuper or rolbypassrls)
    ) then
        raise exception 'role revos_app is a superuser or bypasses row-level security'
            using hint = 'alter role revos_app nosuperuser nobypassrls';
    end if;
end;
$$;

-- The owner must be allowed to `set role revos_app`. A superuser already
-- is; a plain owner needs the membership, which only an administrator may
-- be able to grant: then `set role` fails until one does, loudly.
do $$
begin
    execute format('grant revos_app to %I', current_user);
exception
    when insufficient_privilege or invalid_grant_operation or unique_violation then null;
end;
$$;

do $$
begin
    grant usage on schema public to revos_app;
exception
    when insufficient_privilege then null;
end;
$$;

-- Data access: every table but sqlx's own bookkeeping.
do $$
declare
    t record;
begin
    for t in
        select c.relname
        from pg_class c
        join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = 'public'
          and c.relkind in ('r', 'p')
          and c.relname <> '_sqlx_migrations'
    loop
        execute format(
            'grant select, insert, update, delete on table public.%I to revos_app',
            t.relname);
    end loop;
end;
$$;

grant usage on all sequences in schema public to revos_app;

-- Append-only for the service.
revoke update, delete, truncate on audit_log, audit_checkpoints from revos_app;

-- Only through the functions below.
revoke all on api_keys from revos_app;

-- Every tenant table: enabled, forced, one policy.
do $$
declare
    t record;
begin
    for t in
        select c.relname
        from pg_class c
        join pg_namespace n on n.oid = c.relnamespace
        join pg_attribute a on a.attrelid = c.oid
        where n.nspname = 'public'
          and c.relkind in ('r', 'p')
          and a.attname = 'tenant_id'
          and not a.attisdropped
    loop
        execute format('alter table public.%I enable row level security', t.relname);
        execute format('alter table public.%I force row level security', t.relname);
        execute format(
            'create policy tenant_isolation on public.%I for all to revos_app
                 using (tenant_id = nullif(current_setting(''app.tenant_id'', true), '''')::uuid)
                 with check (tenant_id = nullif(current_setting(''app.tenant_id'', true), '''')::uuid)',
            t.relname);
    end loop;
end;
$$;

-- The SECURITY DEFINER functions below run as the owner, whom the forced
-- row-level security binds too: these two policies let the owner (and no
-- one else) reach the rows those functions need.
do $$
begin
    execute format(
        'create policy owner_functions on api_keys for all to %I using (true) with check (true)',
        current_user);
    execute format(
        'create policy owner_functions on audit_log for select to %I using (true)',
        current_user);
end;
$$;

-- ---- API keys, before any tenant is known -----------------------------------

-- The key with this public id, revoked or not.
create function revos_find_api_key(key_id text)
returns setof api_keys
language sql stable security definer
set search_path = public, pg_temp
as $$
    select * from api_keys where id = key_id
$$;

-- The keys of one tenant, or of every tenant and the platform when null.
create function revos_list_api_keys(key_tenant uuid)
returns setof api_keys
language sql stable security definer
set search_path = public, pg_temp
as $$
    select * from api_keys
    where key_tenant is null or tenant_id = key_tenant
    order by created_at, id
$$;

-- Whether an active platform key with the `admin` scope exists.
create function revos_has_platform_admin_key()
returns boolean
language sql stable security definer
set search_path = public, pg_temp
as $$
    select exists (
        select 1 from api_keys
        where tenant_id is null and revoked_at is null and scopes ? 'admin'
    )
$$;

-- Stores a new key; false when the id is taken.
create function revos_create_api_key(
    key_id text,
    key_tenant uuid,
    key_name text,
    key_secret_hash text,
    key_scopes jsonb,
    key_agent text,
    key_created_at timestamptz
)
returns boolean
language sql security definer
set search_path = public, pg_temp
as $$
    with inserted as (
        insert into api_keys (id, tenant_id, name, secret_hash, scopes, agent, created_at)
        values (key_id, key_tenant, key_name, key_secret_hash, key_scopes, key_agent,
                key_created_at)
        on conflict (id) do nothing
        returning 1
    )
    select exists (select 1 from inserted)
$$;

-- Revokes an active key; false when there is none with this id.
create function revos_revoke_api_key(key_id text, key_at timestamptz)
returns boolean
language sql security definer
set search_path = public, pg_temp
as $$
    with revoked as (
        update api_keys set revoked_at = key_at
        where id = key_id and revoked_at is null
        returning 1
    )
    select exists (select 1 from revoked)
$$;

-- Records that a key was used.
create function revos_touch_api_key(key_id text, key_at timestamptz)
returns void
language sql security definer
set search_path = public, pg_temp
as $$
    update api_keys set last_used_at = key_at where id = key_id
$$;

-- ---- audit, across tenants ---------------------------------------------------

-- The tenants that have at least one audit entry (ids only), ordered.
create function revos_audited_tenants()
returns setof uuid
language sql stable security definer
set search_path = public, pg_temp
as $$
    select distinct tenant_id from audit_log order by tenant_id
$$;

revoke execute on function
    revos_find_api_key(text),
    revos_list_api_keys(uuid),
    revos_has_platform_admin_key(),
    revos_create_api_key(text, uuid, text, text, jsonb, text, timestamptz),
    revos_revoke_api_key(text, timestamptz),
    revos_touch_api_key(text, timestamptz),
    revos_audited_tenants()
from public;

grant execute on function
    revos_find_api_key(text),
    revos_list_api_keys(uuid),
    revos_has_platform_admin_key(),
    revos_create_api_key(text, uuid, text, text, jsonb, text, timestamptz),
    revos_revoke_api_key(text, timestamptz),
    revos_touch_api_key(text, timestamptz),
    revos_audited_tenants()
to revos_app;
