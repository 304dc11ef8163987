-- 0021 publishable lead-form tokens.
--
-- * `form_tokens`: one row per token a tenant put in a web page. Only the
--   SHA-256 (hex) of the token is kept (`token_hash`, unique across
--   tenants: a submission finds its tenant by it); `hint` is `rvf_…` and
--   the token's last four characters, to tell tokens apart. `origins` is a
--   JSON array of `scheme://host[:port]` the browser may post from;
--   `redirect_url` and `honeypot` are optional. A revoked token stays, so
--   the list shows what was once published.
--
-- A tenant table like the others (0005): revos_app reads and writes it
-- within a transaction that names the tenant; RLS enforced. A submission
-- knows no tenant before its token is found: it reads the one row through
-- the SECURITY DEFINER function `revos_find_form_token`, as a presented API
-- key is read through `revos_find_api_key`.

create table form_tokens (
    tenant_id    uuid not null references tenants (id) on delete cascade,
    id           uuid not null,
    token_hash   text collate "C" not null unique,
    name         text not null,
    hint         text not null,
    origins      jsonb not null check (jsonb_typeof(origins) = 'array'
                                       and jsonb_array_length(origins) > 0),
    redirect_url text,
    honeypot     text,
    created_by   text not null,
    created_at   timestamptz not null,
    revoked_at   timestamptz,
    primary key (tenant_id, id)
);

create index form_tokens_newest on form_tokens (tenant_id, created_at desc, id desc);

grant select, insert, update, delete on table form_tokens to revos_app;

alter table form_tokens enable row level security;
alter table form_tokens force row level security;

create policy tenant_isolation on form_tokens for all to revos_app
    using (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid)
    with check (tenant_id = nullif(current_setting('app.tenant_id', true), '')::uuid);

-- The owner (who runs the function below) reads every row; no one else does.
do $$
begin
    execute format(
        'create policy owner_functions on form_tokens for select to %I using (true)',
        current_user);
end;
$$;

-- The token with this hash, revoked or not, in whichever tenant holds it.
create function revos_find_form_token(hash text)
returns setof form_tokens
language sql stable security definer
set search_path = public, pg_temp
as $$
    select * from form_tokens where token_hash = hash
$$;

revoke execute on function revos_find_form_token(text) from public;
grant execute on function revos_find_form_token(text) to revos_app;
