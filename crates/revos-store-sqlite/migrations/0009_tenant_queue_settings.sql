-- 0009 tenant queue settings: a tenant's overrides of the queue settings
-- (`revos_store::queue::QueueStore::tenant_queue_settings`). One row per
-- tenant that stored any; a tenant without a row has none (`{}`).
--
-- `settings` is a JSON object whose content the caller validates; the
-- store only makes sure it is one.
create table tenant_queue_settings (
    tenant_id  text not null primary key references tenants (id) on delete cascade,
    settings   text not null
        check (json_valid(settings) and json_type(settings) = 'object'),
    updated_at text not null
) strict;
