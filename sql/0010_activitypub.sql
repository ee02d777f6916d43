-- Being found and read over ActivityPub (issue 9, fed-read).
--
-- The instance actor (Mastodon's account -99, type Application, username
-- the local domain) needs an RSA key, which SQL cannot make: `mastodon-worker
-- migrate` creates or completes its row after the migrations
-- (worker/instance_actor.c), never the module.

-- Mastodon's featured_tags (the hashtags a profile features): the
-- featuredTags collection of an actor reads them.
CREATE TABLE featured_tags (
    id              bigserial PRIMARY KEY,
    account_id      bigint NOT NULL,
    tag_id          bigint NOT NULL,
    statuses_count  bigint DEFAULT 0 NOT NULL,
    last_status_at  timestamp without time zone,
    created_at      timestamp without time zone DEFAULT (now() AT TIME ZONE 'UTC') NOT NULL,
    updated_at      timestamp without time zone DEFAULT (now() AT TIME ZONE 'UTC') NOT NULL,
    name            character varying
);

CREATE INDEX index_featured_tags_on_account_id_and_tag_id
    ON featured_tags (account_id, tag_id);
CREATE INDEX index_featured_tags_on_tag_id ON featured_tags (tag_id);

-- the followers and following collections page by follows.id, newest first
CREATE INDEX index_follows_on_target_account_id_and_id
    ON follows (target_account_id, id DESC);
CREATE INDEX index_follows_on_account_id_and_id
    ON follows (account_id, id DESC);
