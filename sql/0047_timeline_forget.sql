-- Public and tag timeline pages in the module's render cache (issue 10):
-- the module remembers a page's ids (kind "page") while no account was
-- forgotten since (any "account <id>" on mastodon:cache:forget is the pages'
-- epoch).  Besides sql/0039's, these commits change what a public or tag
-- page selects; they notify mastodon_account with the account concerned,
-- which the worker's relay publishes as every account change:
--   * a status inserted or deleted, or changed in what the pages select it
--     by (deleted, visibility, language, reply, origin): its author;
--   * a tag or a media attachment given to or taken from a status (an edit,
--     only_media): the status' author;
--   * blocks, mutes and domain blocks, chosen languages: the account whose
--     view they shape (a block's target sees the blocker's posts no more
--     either: every page follows the one epoch, one notification does).
-- Identical notifications of a transaction are sent once: a post's is the
-- one its account_stats row sends already.

CREATE TRIGGER statuses_page_forget AFTER INSERT OR DELETE ON statuses
    FOR EACH ROW EXECUTE FUNCTION mastodon_account_notify();

CREATE TRIGGER statuses_page_update_forget AFTER UPDATE ON statuses
    FOR EACH ROW
    WHEN (OLD.deleted_at IS DISTINCT FROM NEW.deleted_at
          OR OLD.visibility IS DISTINCT FROM NEW.visibility
          OR OLD.language IS DISTINCT FROM NEW.language
          OR OLD.reply IS DISTINCT FROM NEW.reply
          OR OLD.in_reply_to_account_id IS DISTINCT FROM
             NEW.in_reply_to_account_id
          OR OLD.reblog_of_id IS DISTINCT FROM NEW.reblog_of_id
          OR OLD.local IS DISTINCT FROM NEW.local
          OR OLD.uri IS DISTINCT FROM NEW.uri
          OR OLD.account_id IS DISTINCT FROM NEW.account_id)
    EXECUTE FUNCTION mastodon_account_notify();

-- the author of the status a row names (statuses_tags, media_attachments)
CREATE FUNCTION mastodon_status_author_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    sid bigint;
    aid bigint;
BEGIN
    sid := CASE TG_OP WHEN 'DELETE' THEN OLD.status_id ELSE NEW.status_id END;
    SELECT s.account_id INTO aid FROM statuses s WHERE s.id = sid;
    IF aid IS NOT NULL THEN
        PERFORM pg_notify('mastodon_account', aid::text);
    END IF;
    IF TG_OP = 'UPDATE' THEN
        -- taken from a status: its author too
        SELECT s.account_id INTO aid FROM statuses s WHERE s.id = OLD.status_id;
        IF aid IS NOT NULL THEN
            PERFORM pg_notify('mastodon_account', aid::text);
        END IF;
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER statuses_tags_page_forget AFTER INSERT OR DELETE
    ON statuses_tags
    FOR EACH ROW EXECUTE FUNCTION mastodon_status_author_notify();

CREATE TRIGGER media_attachments_page_insert_forget AFTER INSERT
    ON media_attachments
    FOR EACH ROW WHEN (NEW.status_id IS NOT NULL)
    EXECUTE FUNCTION mastodon_status_author_notify();

CREATE TRIGGER media_attachments_page_delete_forget AFTER DELETE
    ON media_attachments
    FOR EACH ROW WHEN (OLD.status_id IS NOT NULL)
    EXECUTE FUNCTION mastodon_status_author_notify();

CREATE TRIGGER media_attachments_page_update_forget
    AFTER UPDATE OF status_id ON media_attachments
    FOR EACH ROW WHEN (OLD.status_id IS DISTINCT FROM NEW.status_id)
    EXECUTE FUNCTION mastodon_status_author_notify();

CREATE TRIGGER blocks_page_forget AFTER INSERT OR UPDATE OR DELETE ON blocks
    FOR EACH ROW EXECUTE FUNCTION mastodon_account_notify();

CREATE TRIGGER mutes_page_forget AFTER INSERT OR UPDATE OR DELETE ON mutes
    FOR EACH ROW EXECUTE FUNCTION mastodon_account_notify();

CREATE TRIGGER account_domain_blocks_page_forget
    AFTER INSERT OR UPDATE OR DELETE ON account_domain_blocks
    FOR EACH ROW EXECUTE FUNCTION mastodon_account_notify();

CREATE TRIGGER users_languages_page_forget
    AFTER UPDATE OF chosen_languages ON users
    FOR EACH ROW
    WHEN (OLD.chosen_languages IS DISTINCT FROM NEW.chosen_languages)
    EXECUTE FUNCTION mastodon_account_notify();
