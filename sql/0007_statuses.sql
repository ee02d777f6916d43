-- Statuses: edit history, muted conversations, and what the worker needs to
-- stay idempotent (one notification per activity and recipient).

CREATE TABLE status_edits (
    id                           bigserial PRIMARY KEY,
    status_id                    bigint NOT NULL,
    account_id                   bigint,
    text                         text DEFAULT '' NOT NULL,
    spoiler_text                 text DEFAULT '' NOT NULL,
    created_at                   timestamp without time zone DEFAULT (now() AT TIME ZONE 'UTC') NOT NULL,
    updated_at                   timestamp without time zone DEFAULT (now() AT TIME ZONE 'UTC') NOT NULL,
    ordered_media_attachment_ids bigint[],
    media_descriptions           text[],
    poll_options                 character varying[],
    sensitive                    boolean
);

CREATE INDEX index_status_edits_on_status_id ON status_edits (status_id);
CREATE INDEX index_status_edits_on_account_id ON status_edits (account_id);

ALTER TABLE status_edits ADD FOREIGN KEY (status_id) REFERENCES statuses (id) ON DELETE CASCADE;
ALTER TABLE status_edits ADD FOREIGN KEY (account_id) REFERENCES accounts (id) ON DELETE SET NULL;

CREATE TABLE conversation_mutes (
    id              bigserial PRIMARY KEY,
    conversation_id bigint NOT NULL,
    account_id      bigint NOT NULL
);

CREATE UNIQUE INDEX index_conversation_mutes_on_account_id_and_conversation_id
    ON conversation_mutes (account_id, conversation_id);

ALTER TABLE conversation_mutes ADD FOREIGN KEY (account_id) REFERENCES accounts (id) ON DELETE CASCADE;
ALTER TABLE conversation_mutes ADD FOREIGN KEY (conversation_id) REFERENCES conversations (id) ON DELETE CASCADE;

-- Not in Mastodon's schema: jobs run at least once, so a notification is
-- inserted with ON CONFLICT DO NOTHING against this.
CREATE UNIQUE INDEX index_notifications_on_activity_and_recipient
    ON notifications (account_id, activity_type, activity_id, type);

-- Not in Mastodon's schema: reblogs of a status by id (reblogged_by pages).
CREATE INDEX index_statuses_on_reblog_of_id_and_id ON statuses (reblog_of_id, id DESC)
    WHERE reblog_of_id IS NOT NULL AND deleted_at IS NULL;

-- Hashtag timelines walk statuses_tags by tag, newest first.
CREATE INDEX index_statuses_tags_on_tag_id_and_status_id ON statuses_tags (tag_id, status_id DESC);
