-- Conversations and followed tags (issue 13): Mastodon's
-- account_conversations (a user's direct-message threads, kept by the
-- worker when it distributes a direct status) and tag_follows.

CREATE TABLE account_conversations (
    id                      bigserial PRIMARY KEY,
    account_id              bigint NOT NULL,
    conversation_id         bigint NOT NULL,
    participant_account_ids bigint[] DEFAULT '{}' NOT NULL,
    status_ids              bigint[] DEFAULT '{}' NOT NULL,
    last_status_id          bigint,
    lock_version            integer DEFAULT 0 NOT NULL,
    unread                  boolean DEFAULT false NOT NULL
);

CREATE UNIQUE INDEX index_unique_conversations
    ON account_conversations (account_id, conversation_id, participant_account_ids);
CREATE INDEX index_account_conversations_on_account_id_and_last_status_id
    ON account_conversations (account_id, last_status_id);

ALTER TABLE account_conversations ADD FOREIGN KEY (account_id)
    REFERENCES accounts (id) ON DELETE CASCADE;

CREATE TABLE tag_follows (
    id          bigserial PRIMARY KEY,
    tag_id      bigint NOT NULL,
    account_id  bigint NOT NULL,
    created_at  timestamp without time zone DEFAULT (now() AT TIME ZONE 'UTC') NOT NULL,
    updated_at  timestamp without time zone DEFAULT (now() AT TIME ZONE 'UTC') NOT NULL
);

CREATE UNIQUE INDEX index_tag_follows_on_account_id_and_tag_id
    ON tag_follows (account_id, tag_id);
CREATE INDEX index_tag_follows_on_tag_id ON tag_follows (tag_id);

ALTER TABLE tag_follows ADD FOREIGN KEY (account_id)
    REFERENCES accounts (id) ON DELETE CASCADE;
ALTER TABLE tag_follows ADD FOREIGN KEY (tag_id)
    REFERENCES tags (id) ON DELETE CASCADE;

-- A tag's history as Mastodon's TagSerializer shows it: the last 7 days,
-- today first, each {day (Unix time of its midnight UTC), uses (public
-- statuses using it that day), accounts (their distinct authors)}, as
-- strings.  NULL tag (one not stored yet): no use on any day.
CREATE FUNCTION mastodon_tag_history(t_id bigint)
RETURNS json LANGUAGE sql STABLE AS $$
SELECT json_agg(json_build_object('day', extract(epoch FROM d.day)::bigint::text,
        'uses', h.uses::text, 'accounts', h.accounts::text) ORDER BY d.day DESC)
  FROM generate_series(date_trunc('day', now() AT TIME ZONE 'UTC') - interval '6 days',
        date_trunc('day', now() AT TIME ZONE 'UTC'), interval '1 day') d (day)
  CROSS JOIN LATERAL (SELECT count(*) AS uses, count(DISTINCT s.account_id) AS accounts
        FROM statuses_tags st JOIN statuses s ON s.id = st.status_id
       WHERE st.tag_id = t_id AND s.created_at >= d.day
         AND s.created_at < d.day + interval '1 day' AND s.deleted_at IS NULL
         AND s.reblog_of_id IS NULL AND s.visibility = 0) h
$$;
