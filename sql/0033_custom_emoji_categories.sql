-- Local custom emojis (issue 9): their categories (Mastodon's
-- custom_emoji_categories), named by `mastodon-worker emoji import|add
-- --category NAME` and shown as CustomEmoji.category.
CREATE TABLE custom_emoji_categories (
    id          bigserial PRIMARY KEY,
    name        character varying,
    created_at  timestamp without time zone DEFAULT (now() AT TIME ZONE 'UTC') NOT NULL,
    updated_at  timestamp without time zone DEFAULT (now() AT TIME ZONE 'UTC') NOT NULL
);
CREATE UNIQUE INDEX index_custom_emoji_categories_on_name ON custom_emoji_categories (name);
