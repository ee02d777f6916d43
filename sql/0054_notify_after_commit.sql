-- What a commit tells the relay, sent after the commit when the writer asks
-- (issue 10, posting throughput).
--
-- A transaction that has issued NOTIFY takes a database-wide lock at its
-- commit (async.c PreCommit_Notify) and holds it until its commit record is
-- flushed: notifying writers commit one WAL flush after the other, never
-- together (measured here with pgbench at 16 clients: INSERT 18,000/s,
-- INSERT + NOTIFY 3,900/s with one WAL sync per transaction, INSERT then
-- NOTIFY in a transaction of its own 9,800/s of both with four inserts per
-- sync).  A transaction that only notifies writes nothing to flush
-- (xact.c RecordTransactionCommit: no WAL of its own, no XLogFlush), so it
-- holds the lock for microseconds.
--
-- Every trigger that notifies goes through mastodon_notify(channel,
-- payload).  Unless the transaction has set mastodon.notify_deferred to
-- 'on' (set_config(..., true)), it is pg_notify() as before.  With it, the
-- pair is kept in the session's mastodon.notify_pending (once: NOTIFY sends
-- a transaction's identical notifications once too), which an aborted
-- transaction rolls back and a committed one keeps; mastodon_notify_flush(),
-- run after the commit in a transaction of its own on the same connection,
-- sends and clears them.  The module's post batch does both
-- (ngx_http_mastodon_pg_notify_after()).  A flush that never runs (the
-- connection lost after the commit) loses the notifications: the relay's
-- once-a-second poll still moves the jobs, and when it finds jobs that no
-- notification announced it forgets every account (ARCHITECTURE.md).

CREATE FUNCTION mastodon_notify(channel text, payload text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    pending text;
    entry   text;
BEGIN
    IF current_setting('mastodon.notify_deferred', true) IS DISTINCT FROM 'on'
    THEN
        PERFORM pg_notify(channel, payload);
        RETURN;
    END IF;
    -- one line per pair: channel names have no space, payloads no newline
    entry := channel || ' ' || payload || E'\n';
    pending := coalesce(current_setting('mastodon.notify_pending', true), '');
    IF position(E'\n' || entry IN E'\n' || pending) = 0 THEN
        PERFORM set_config('mastodon.notify_pending', pending || entry, false);
    END IF;
END
$$;

CREATE FUNCTION mastodon_notify_flush() RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    pending text := current_setting('mastodon.notify_pending', true);
    line    text;
    n       integer := 0;
BEGIN
    IF pending IS NULL OR pending = '' THEN
        RETURN 0;
    END IF;
    PERFORM set_config('mastodon.notify_pending', '', false);
    FOREACH line IN ARRAY string_to_array(rtrim(pending, E'\n'), E'\n') LOOP
        PERFORM pg_notify(split_part(line, ' ', 1),
                          substr(line, position(' ' IN line) + 1));
        n := n + 1;
    END LOOP;
    RETURN n;
END
$$;

-- the triggers of 0008, 0039, 0047 and 0048, through mastodon_notify()

CREATE OR REPLACE FUNCTION job_outbox_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM inserted) THEN
        PERFORM mastodon_notify('mastodon_outbox', '');
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION mastodon_account_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    id bigint;
BEGIN
    IF TG_LEVEL = 'STATEMENT' THEN
        PERFORM mastodon_notify('mastodon_account', '0');
        RETURN NULL;
    END IF;
    IF TG_TABLE_NAME = 'accounts' THEN
        id := CASE TG_OP WHEN 'DELETE' THEN OLD.id ELSE NEW.id END;
    ELSIF TG_TABLE_NAME = 'follow_requests' THEN
        id := CASE TG_OP WHEN 'DELETE' THEN OLD.target_account_id
              ELSE NEW.target_account_id END;
    ELSE
        id := CASE TG_OP WHEN 'DELETE' THEN OLD.account_id
              ELSE NEW.account_id END;
    END IF;
    PERFORM mastodon_notify('mastodon_account', id::text);
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION mastodon_status_author_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    sid bigint;
    aid bigint;
BEGIN
    sid := CASE TG_OP WHEN 'DELETE' THEN OLD.status_id ELSE NEW.status_id END;
    SELECT s.account_id INTO aid FROM statuses s WHERE s.id = sid;
    IF aid IS NOT NULL THEN
        PERFORM mastodon_notify('mastodon_account', aid::text);
    END IF;
    IF TG_OP = 'UPDATE' THEN
        -- taken from a status: its author too
        SELECT s.account_id INTO aid FROM statuses s WHERE s.id = OLD.status_id;
        IF aid IS NOT NULL THEN
            PERFORM mastodon_notify('mastodon_account', aid::text);
        END IF;
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION mastodon_notifications_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'accounts' THEN
        -- a sender suspended or back: whoever it notified
        PERFORM mastodon_notify('mastodon_notifications', '0');
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM mastodon_notify('mastodon_notifications',
                                OLD.account_id::text);
    ELSE
        PERFORM mastodon_notify('mastodon_notifications',
                                NEW.account_id::text);
        IF TG_OP = 'UPDATE' AND OLD.account_id <> NEW.account_id THEN
            PERFORM mastodon_notify('mastodon_notifications',
                                    OLD.account_id::text);
        END IF;
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION mastodon_notifications_activity_notify()
RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM mastodon_notify('mastodon_notifications', n.account_id::text)
        FROM notifications n
        WHERE n.activity_id = OLD.id AND n.activity_type = TG_ARGV[0];
    RETURN NULL;
END
$$;
