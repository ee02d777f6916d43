-- Issue 11: an avatar or header the worker could not decode.  PATCH
-- /api/v1/accounts/update_credentials waits for the worker (as POST
-- /api/v1/media does) and answers Mastodon's synchronous 422 once the
-- upload's file name is here, or the new image once the account's column
-- names it.  The periodic media_cleanup job removes rows a day old.
CREATE TABLE account_image_failures (
    file_name   varchar PRIMARY KEY,
    account_id  bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    attribute   varchar NOT NULL,
    created_at  timestamp NOT NULL DEFAULT (now() AT TIME ZONE 'UTC')
);
CREATE INDEX index_account_image_failures_on_created_at
    ON account_image_failures (created_at);
