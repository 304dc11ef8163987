-- 0020 spine tables filled by the connectors (issue 17).
--
-- * `spine_opportunity_history`: one row per change a CRM reported about an
--   opportunity (creation, stage, status, amount, close day, name,
--   account); a column the change did not mention is null. The id is the
--   change's natural id built from the vendor's ids, so a replayed
--   delivery rewrites its row. The current opportunity is these rows
--   folded in `changed_at` order.
-- * `spine_channel_daily`: per day, channel, campaign and source, the
--   spend, impressions and clicks of ad platforms or the sessions of web
--   analytics. `campaign_id` is '' for a row not tied to a campaign, so the
--   natural key has no null in it.
create table spine_opportunity_history (
    tenant_id           text not null references tenants (id) on delete cascade,
    id                  text not null,
    opportunity_id      text not null,
    changed_at          text not null,
    created             integer not null default 0 check (created in (0, 1)),
    stage               text,
    status              text check (status in ('open', 'won', 'lost')),
    amount              real,
    expected_close_date text,
    name                text,
    account_id          text,
    updated_at          text not null,
    primary key (tenant_id, id)
) strict;

create index spine_opportunity_history_by_opportunity
    on spine_opportunity_history (tenant_id, opportunity_id, changed_at);

create table spine_channel_daily (
    tenant_id   text not null references tenants (id) on delete cascade,
    date        text not null,
    channel     text not null,
    campaign_id text not null default '',
    source      text not null,
    spend       real,
    currency    text,
    impressions integer,
    clicks      integer,
    sessions    integer,
    updated_at  text not null,
    primary key (tenant_id, date, channel, campaign_id, source)
) strict;

-- How mapping a raw event to spine rows ended: `mapped` (rows written, with
-- `processed_at`), `unmapped` (the source's mapper does not handle the
-- payload's type: kept and listed, with `processed_at`) or `failed` (a
-- malformed payload; `processed_at` stays empty until a later mapping
-- succeeds). `mapping_version` names the mapper (`stripe/1`);
-- `mapping_detail` is the payload's type, or the error naming the field.
alter table events_raw add column mapping_outcome text
    check (mapping_outcome in ('mapped', 'unmapped', 'failed'));
alter table events_raw add column mapping_version text;
alter table events_raw add column mapping_detail text;
