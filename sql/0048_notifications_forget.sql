-- The notification pages remembered in the module's render cache (issue 10,
-- kind "notifications", by recipient): every commit that changes what a
-- recipient's page shows notifies mastodon_notifications with the
-- recipient's id ('0': every recipient).  The worker's outbox relay LISTENs
-- and publishes "notifications <id>..." on mastodon:cache:forget, as it
-- does for sql/0039's accounts; the module's own writers also forget at once
-- (read your writes).  The recipient's blocks and mutes forget through the
-- viewer's facts (ngx_http_mastodon_viewer_forget()), which the page's entry
-- is checked against.

CREATE FUNCTION mastodon_notifications_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'accounts' THEN
        -- a sender suspended or back: whoever it notified
        PERFORM pg_notify('mastodon_notifications', '0');
    ELSIF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('mastodon_notifications', OLD.account_id::text);
    ELSE
        PERFORM pg_notify('mastodon_notifications', NEW.account_id::text);
        IF TG_OP = 'UPDATE' AND OLD.account_id <> NEW.account_id THEN
            PERFORM pg_notify('mastodon_notifications', OLD.account_id::text);
        END IF;
    END IF;
    RETURN NULL;
END
$$;

-- a notification made, dismissed, cleared, filtered or deleted with its
-- activity (a cascade fires it too)
CREATE TRIGGER notifications_forget AFTER INSERT OR UPDATE OR DELETE
    ON notifications
    FOR EACH ROW EXECUTE FUNCTION mastodon_notifications_notify();

-- a mention taken back by an edit: its notification loses its status
CREATE TRIGGER mentions_notifications_forget AFTER DELETE ON mentions
    FOR EACH ROW EXECUTE FUNCTION mastodon_notifications_notify();

-- a favourite or a poll deleted while its notification stays: the
-- notification loses its status (Notification#target_status)
CREATE FUNCTION mastodon_notifications_activity_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('mastodon_notifications', n.account_id::text)
        FROM notifications n
        WHERE n.activity_id = OLD.id AND n.activity_type = TG_ARGV[0];
    RETURN NULL;
END
$$;

CREATE TRIGGER favourites_notifications_forget AFTER DELETE ON favourites
    FOR EACH ROW EXECUTE FUNCTION mastodon_notifications_activity_notify('Favourite');

CREATE TRIGGER polls_notifications_forget AFTER DELETE ON polls
    FOR EACH ROW EXECUTE FUNCTION mastodon_notifications_activity_notify('Poll');

-- without_suspended
CREATE TRIGGER accounts_notifications_forget AFTER UPDATE OF suspended_at
    ON accounts
    FOR EACH ROW
    WHEN (OLD.suspended_at IS DISTINCT FROM NEW.suspended_at)
    EXECUTE FUNCTION mastodon_notifications_notify();
