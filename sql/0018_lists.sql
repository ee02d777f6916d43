-- Lists (issue 13): Mastodon's lists and list_accounts, and the list feeds'
-- acceptance rule beside the home feeds'.

CREATE TABLE lists (
    id              bigserial PRIMARY KEY,
    account_id      bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    title           character varying DEFAULT '' NOT NULL,
    created_at      timestamp without time zone DEFAULT (now() AT TIME ZONE 'UTC') NOT NULL,
    updated_at      timestamp without time zone DEFAULT (now() AT TIME ZONE 'UTC') NOT NULL,
    replies_policy  integer DEFAULT 0 NOT NULL,     -- 0 list, 1 followed, 2 none
    exclusive       boolean DEFAULT false NOT NULL
);

CREATE INDEX index_lists_on_account_id ON lists (account_id);

-- A member is an account the owner follows (follow_id), or the owner;
-- the follow's end ends the membership (Mastodon's foreign key, the one
-- place every unfollow, block and account deletion goes through).
CREATE TABLE list_accounts (
    id          bigserial PRIMARY KEY,
    list_id     bigint NOT NULL REFERENCES lists (id) ON DELETE CASCADE,
    account_id  bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    follow_id   bigint REFERENCES follows (id) ON DELETE CASCADE
);

CREATE UNIQUE INDEX index_list_accounts_on_account_id_and_list_id
    ON list_accounts (account_id, list_id);
CREATE INDEX index_list_accounts_on_list_id_and_account_id
    ON list_accounts (list_id, account_id);
CREATE INDEX index_list_accounts_on_follow_id
    ON list_accounts (follow_id) WHERE follow_id IS NOT NULL;

-- FeedManager#filter_from_home is the same for a home feed and a list
-- feed but for one line: exclusive lists keep their members' statuses out
-- of home.  The rule of 0009 keeps its body under the name both use; the
-- home name now adds that line, the list one the list's replies_policy
-- (FeedManager#filter_from_list?).
ALTER FUNCTION mastodon_home_accepts(bigint, varchar[], boolean, bigint, bigint, integer,
        boolean, bigint, bigint, varchar, bigint, bigint, varchar)
    RENAME TO mastodon_feed_accepts;

CREATE FUNCTION mastodon_home_accepts(reader bigint,
        follow_languages varchar[], follow_show_reblogs boolean,
        st_id bigint, st_account_id bigint, st_visibility integer,
        st_reply boolean, st_in_reply_to_id bigint,
        st_in_reply_to_account_id bigint, st_language varchar,
        st_reblog_of_id bigint, og_account_id bigint, og_domain varchar)
    RETURNS SETOF boolean LANGUAGE sql STABLE ROWS 1 AS $$
SELECT ok FROM mastodon_feed_accepts(reader, follow_languages,
        follow_show_reblogs, st_id, st_account_id, st_visibility, st_reply,
        st_in_reply_to_id, st_in_reply_to_account_id, st_language,
        st_reblog_of_id, og_account_id, og_domain) h(ok)
 WHERE NOT EXISTS (SELECT 1 FROM list_accounts xa
                     JOIN lists xl ON xl.id = xa.list_id
                    WHERE xa.account_id = st_account_id
                      AND xl.account_id = reader AND xl.exclusive
                      AND st_account_id <> reader)
$$;

-- A list's feed: the owner's home rule without the exclusive line, and
-- replies to others than the author and the owner only as replies_policy
-- says: `followed` lets the home rule decide, `list` only replies to
-- members, `none` none.
CREATE FUNCTION mastodon_list_accepts(l_id bigint, l_owner bigint,
        replies_policy integer,
        follow_languages varchar[], follow_show_reblogs boolean,
        st_id bigint, st_account_id bigint, st_visibility integer,
        st_reply boolean, st_in_reply_to_id bigint,
        st_in_reply_to_account_id bigint, st_language varchar,
        st_reblog_of_id bigint, og_account_id bigint, og_domain varchar)
    RETURNS SETOF boolean LANGUAGE sql STABLE ROWS 1 AS $$
SELECT ok FROM mastodon_feed_accepts(l_owner, follow_languages,
        follow_show_reblogs, st_id, st_account_id, st_visibility, st_reply,
        st_in_reply_to_id, st_in_reply_to_account_id, st_language,
        st_reblog_of_id, og_account_id, og_domain) h(ok)
 WHERE NOT (st_reply
            AND st_in_reply_to_account_id IS DISTINCT FROM st_account_id
            AND st_in_reply_to_account_id IS DISTINCT FROM l_owner
            AND replies_policy <> 1
            AND NOT (replies_policy = 0
                     AND EXISTS (SELECT 1 FROM list_accounts ra
                                  WHERE ra.list_id = l_id
                                    AND ra.account_id = st_in_reply_to_account_id)))
$$;
