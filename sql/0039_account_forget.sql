-- Rendered accounts in the module's render cache (issue 10): every commit
-- that changes what an Account or CredentialAccount shows notifies
-- mastodon_account with the account's id ('0': every account, a change of
-- custom emojis or roles).  The worker's outbox relay LISTENs and publishes
-- "account <id>..." on mastodon:cache:forget, so that every writer (the
-- module, the worker, the CLI, plain SQL) makes every node forget; the
-- module's own writers also forget at once (read your writes).  NOTIFY is
-- delivered at the commit, and a transaction's identical notifications are
-- sent once.

CREATE FUNCTION mastodon_account_notify() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    id bigint;
BEGIN
    IF TG_LEVEL = 'STATEMENT' THEN
        PERFORM pg_notify('mastodon_account', '0');
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
    PERFORM pg_notify('mastodon_account', id::text);
    RETURN NULL;
END
$$;

-- the profile, suspension, silencing, moves, images, fields (a new account
-- is not cached: no insert trigger)
CREATE TRIGGER accounts_forget AFTER UPDATE OR DELETE ON accounts
    FOR EACH ROW EXECUTE FUNCTION mastodon_account_notify();

-- the counters (followers, following, statuses, last_status_at)
CREATE TRIGGER account_stats_forget AFTER INSERT OR UPDATE OR DELETE
    ON account_stats
    FOR EACH ROW EXECUTE FUNCTION mastodon_account_notify();

-- whether a local account is shown, its source (settings) and its role;
-- not the sign-in bookkeeping that changes at every sign-in
CREATE TRIGGER users_forget
    AFTER UPDATE OF settings, role_id, approved, confirmed_at, disabled,
                    account_id
    ON users
    FOR EACH ROW
    WHEN (OLD.settings IS DISTINCT FROM NEW.settings
          OR OLD.role_id IS DISTINCT FROM NEW.role_id
          OR OLD.approved IS DISTINCT FROM NEW.approved
          OR OLD.confirmed_at IS DISTINCT FROM NEW.confirmed_at
          OR OLD.disabled IS DISTINCT FROM NEW.disabled
          OR OLD.account_id IS DISTINCT FROM NEW.account_id)
    EXECUTE FUNCTION mastodon_account_notify();

CREATE TRIGGER users_delete_forget AFTER DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION mastodon_account_notify();

-- CredentialAccount's follow_requests_count
CREATE TRIGGER follow_requests_forget AFTER INSERT OR DELETE
    ON follow_requests
    FOR EACH ROW EXECUTE FUNCTION mastodon_account_notify();

-- the emojis of every account, the roles of every user
CREATE TRIGGER custom_emojis_forget
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON custom_emojis
    FOR EACH STATEMENT EXECUTE FUNCTION mastodon_account_notify();

CREATE TRIGGER user_roles_forget
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON user_roles
    FOR EACH STATEMENT EXECUTE FUNCTION mastodon_account_notify();
