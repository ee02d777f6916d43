-- Big accounts merged on read (issue 10).  Once an account's followers
-- reach the worker's big_account_followers, its statuses from
-- since_status_id on (public, unlisted and private ones) are no longer
-- pushed into each follower's home feed: the home timeline merges them at
-- read time (ngx_http_mastodon_home.c).  A status is pushed if and only
-- if its author has no row here or its id is below since_status_id, so
-- the switch loses none; one distributed concurrently with the switch may
-- be both pushed and merged, and the read drops the second copy.  An
-- account stays here when its followers drop again.
CREATE TABLE feed_big_accounts (
    account_id bigint PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    since_status_id bigint NOT NULL
);

-- the `status` notifications of a big account's post walk only the
-- followers who asked for them
CREATE INDEX index_follows_notify_on_target_account_id_and_account_id
    ON follows (target_account_id, account_id) WHERE notify;
