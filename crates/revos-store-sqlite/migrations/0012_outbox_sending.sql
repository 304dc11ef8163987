-- An outbox e-mail is marked `sending` (and committed) before its SMTP
-- transaction starts, and `sent` right after the server's 250. A row a
-- later attempt finds `sending` was cut off mid-send and is sent again
-- under the same Message-ID.
--
-- SQLite cannot change a check constraint in place: the table is rebuilt
-- with the new one, rows and keys unchanged. No other table refers to it.
create table channel_outbox_next (
    tenant_id  text not null references tenants (id) on delete cascade,
    id         text not null,
    action_id  text not null,
    to_addr    text not null,
    from_addr  text not null,
    reply_to   text,
    subject    text not null,
    text_body  text not null,
    html_body  text,
    message_id text not null,
    status     text not null default 'pending'
               check (status in ('pending', 'sending', 'sent', 'failed')),
    attempts   integer not null default 0 check (attempts >= 0),
    last_error text,
    sent_at    text,
    created_at text not null,
    updated_at text not null,
    primary key (tenant_id, id),
    unique (tenant_id, action_id)
) strict;

insert into channel_outbox_next
    (tenant_id, id, action_id, to_addr, from_addr, reply_to, subject, text_body,
     html_body, message_id, status, attempts, last_error, sent_at, created_at, updated_at)
select tenant_id, id, action_id, to_addr, from_addr, reply_to, subject, text_body,
       html_body, message_id, status, attempts, last_error, sent_at, created_at, updated_at
from channel_outbox;

drop table channel_outbox;
alter table channel_outbox_next rename to channel_outbox;
