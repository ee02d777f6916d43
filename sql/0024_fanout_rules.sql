-- Fan-out at Redis' cost (issue 10): the home rule's exclusive-list line
-- (0018) as a set the planner builds once per query when the author is a
-- constant (the fan-out: one author, a page of thousands of followers),
-- instead of a probe per follower.  Where the author varies (a feed
-- rebuild: one reader), it stays a probe per status.  The same answers.
CREATE OR REPLACE FUNCTION mastodon_home_accepts(reader bigint,
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
 WHERE (st_account_id = reader
        OR reader NOT IN (SELECT xl.account_id FROM lists xl
                           WHERE xl.exclusive
                             AND xl.id IN (SELECT xa.list_id
                                             FROM list_accounts xa
                                            WHERE xa.account_id = st_account_id)))
$$;
