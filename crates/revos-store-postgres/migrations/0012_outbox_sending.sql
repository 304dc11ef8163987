-- An outbox e-mail is marked `sending` (and committed) before its SMTP
-- transaction starts, and `sent` right after the server's 250. A row a
-- later attempt finds `sending` was cut off mid-send and is sent again
-- under the same Message-ID. Only the status check changes; row-level
-- security and grants on the table stay as 0010 set them.
alter table channel_outbox drop constraint channel_outbox_status_check;
alter table channel_outbox add constraint channel_outbox_status_check
    check (status in ('pending', 'sending', 'sent', 'failed'));
