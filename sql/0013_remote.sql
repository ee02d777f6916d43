-- Processing what the inbox stored (the worker's incoming side): remote
-- accounts and statuses by their URIs, activities processed once, URIs
-- deleted for good.

-- One remote account per actor URI: what a document or an activity names
-- is found (and upserted) by it.
CREATE UNIQUE INDEX index_accounts_on_remote_uri ON accounts (uri)
    WHERE domain IS NOT NULL;

-- Activities already processed, by their id: a replay does nothing.  The
-- row goes in with the activity's effects, in one transaction.
CREATE TABLE ap_processed_activities (
    uri          character varying PRIMARY KEY,
    processed_at timestamp without time zone DEFAULT (now() AT TIME ZONE 'UTC') NOT NULL
);
CREATE INDEX index_ap_processed_activities_on_processed_at
    ON ap_processed_activities (processed_at);

-- Mastodon's tombstones: a remote status deleted by its author stays
-- deleted (a late Create, Update or Announce of it is ignored).
CREATE TABLE tombstones (
    id           bigserial PRIMARY KEY,
    account_id   bigint REFERENCES accounts (id) ON DELETE CASCADE,
    uri          character varying NOT NULL,
    created_at   timestamp without time zone DEFAULT (now() AT TIME ZONE 'UTC') NOT NULL,
    updated_at   timestamp without time zone DEFAULT (now() AT TIME ZONE 'UTC') NOT NULL,
    by_moderator boolean
);
CREATE UNIQUE INDEX index_tombstones_on_uri ON tombstones (uri);
CREATE INDEX index_tombstones_on_account_id ON tombstones (account_id);
