-- Announcements (Mastodon's Announcement, AnnouncementMute and
-- AnnouncementReaction).  Written by the operator's CLI (`mastodon-worker
-- announcements`), read and reacted to through /api/v1/announcements.
-- rendered: what the worker rendered of the text when it published the
-- announcement ({"content", "mentions", "tags"}: Mastodon's
-- PublishScheduledAnnouncementWorker resolves the text then too); the
-- module adds the columns, emojis, statuses and each viewer's read and
-- reactions.

CREATE TABLE announcements (
    id            bigserial PRIMARY KEY,
    text          text DEFAULT '' NOT NULL,
    published     boolean DEFAULT false NOT NULL,
    all_day       boolean DEFAULT false NOT NULL,
    scheduled_at  timestamp without time zone,
    starts_at     timestamp without time zone,
    ends_at       timestamp without time zone,
    created_at    timestamp without time zone DEFAULT (now() AT TIME ZONE 'UTC') NOT NULL,
    updated_at    timestamp without time zone DEFAULT (now() AT TIME ZONE 'UTC') NOT NULL,
    published_at  timestamp without time zone,
    status_ids    bigint[],
    rendered      jsonb,
    CHECK ((starts_at IS NULL) = (ends_at IS NULL))
);

CREATE INDEX index_announcements_published ON announcements (published)
    WHERE published;

CREATE TABLE announcement_mutes (
    id               bigserial PRIMARY KEY,
    account_id       bigint REFERENCES accounts (id) ON DELETE CASCADE,
    announcement_id  bigint REFERENCES announcements (id) ON DELETE CASCADE,
    created_at       timestamp without time zone DEFAULT (now() AT TIME ZONE 'UTC') NOT NULL,
    updated_at       timestamp without time zone DEFAULT (now() AT TIME ZONE 'UTC') NOT NULL
);

CREATE UNIQUE INDEX index_announcement_mutes_on_account_id_and_announcement_id
    ON announcement_mutes (account_id, announcement_id);

CREATE TABLE announcement_reactions (
    id               bigserial PRIMARY KEY,
    account_id       bigint REFERENCES accounts (id) ON DELETE CASCADE,
    announcement_id  bigint REFERENCES announcements (id) ON DELETE CASCADE,
    name             character varying DEFAULT '' NOT NULL,
    custom_emoji_id  bigint REFERENCES custom_emojis (id) ON DELETE CASCADE,
    created_at       timestamp without time zone DEFAULT (now() AT TIME ZONE 'UTC') NOT NULL,
    updated_at       timestamp without time zone DEFAULT (now() AT TIME ZONE 'UTC') NOT NULL
);

CREATE UNIQUE INDEX index_announcement_reactions_on_account_id_and_announcement_id
    ON announcement_reactions (account_id, announcement_id, name);
CREATE INDEX index_announcement_reactions_on_announcement_id
    ON announcement_reactions (announcement_id);

-- The "statuses" of an announcement (Announcement#statuses): those of
-- status_ids still public or unlisted, as REST::AnnouncementSerializer::
-- StatusSerializer shows them (url: a local one's /@username/id under
-- base, a remote one's url or uri).  For the module's answers and the
-- worker's events alike.
CREATE FUNCTION mastodon_announcement_statuses(ids bigint[], base text)
RETURNS text LANGUAGE sql STABLE AS $$
    SELECT coalesce(json_agg(json_build_object('id', s.id::text, 'url',
               CASE WHEN a.domain IS NULL
                    THEN base || '/@' || a.username || '/' || s.id
                    ELSE coalesce(s.url, s.uri) END) ORDER BY s.id)::text, '[]')
    FROM statuses s JOIN accounts a ON a.id = s.account_id
    WHERE s.id = ANY (ids) AND s.visibility IN (0, 1) AND s.deleted_at IS NULL
$$;
