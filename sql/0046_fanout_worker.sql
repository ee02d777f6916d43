-- The worker's share of posting and fan-out (issue 10).
--
-- The home rule (0009's, renamed by 0018; 0024's wrapper): "the author
-- blocks the reader" as NOT IN over the author's blocks instead of NOT
-- EXISTS.  With the author a constant (the fan-out: one status, a page of
-- thousands of followers) PostgreSQL hashes the author's blocks once per
-- statement; the NOT EXISTS was a probe of blocks per follower (with an
-- empty table a scan's start per follower), most of a followers page's
-- time.  Where the author varies (a rebuild, the merge of big accounts)
-- it reads the author's blocks per status, as the exclusive-list line
-- does.  blocks.target_account_id is NOT NULL: the same answers.
CREATE OR REPLACE FUNCTION mastodon_feed_accepts(reader bigint,
        follow_languages varchar[], follow_show_reblogs boolean,
        st_id bigint, st_account_id bigint, st_visibility integer,
        st_reply boolean, st_in_reply_to_id bigint,
        st_in_reply_to_account_id bigint, st_language varchar,
        st_reblog_of_id bigint, og_account_id bigint, og_domain varchar)
    RETURNS SETOF boolean LANGUAGE sql STABLE ROWS 1 AS $$
SELECT true
 WHERE st_visibility <= 3
   AND (st_visibility <> 3
        OR EXISTS (SELECT 1 FROM mentions hm
                    WHERE hm.status_id = st_id AND hm.account_id = reader
                      AND NOT hm.silent))
   AND NOT (st_reply AND (st_in_reply_to_id IS NULL
                          OR st_in_reply_to_account_id IS NULL))
   AND (coalesce(cardinality(follow_languages), 0) = 0
        OR coalesce(st_language, '') = ''
        OR st_language = ANY (follow_languages))
   AND NOT EXISTS (SELECT 1 FROM blocks hb
                    WHERE hb.account_id = reader
                      AND hb.target_account_id = ANY (
                          ARRAY[st_account_id, og_account_id]
                          || ARRAY(SELECT m.account_id FROM mentions m
                                    WHERE m.status_id IN (st_id, st_reblog_of_id)
                                      AND NOT m.silent)))
   AND NOT EXISTS (SELECT 1 FROM mutes hu
                    WHERE hu.account_id = reader
                      AND (hu.expires_at IS NULL
                           OR hu.expires_at > now() AT TIME ZONE 'UTC')
                      AND hu.target_account_id = ANY (
                          ARRAY[st_account_id, og_account_id]
                          || ARRAY(SELECT m.account_id FROM mentions m
                                    WHERE m.status_id IN (st_id, st_reblog_of_id)
                                      AND NOT m.silent)))
   AND reader NOT IN (SELECT ab.target_account_id FROM blocks ab
                       WHERE ab.account_id = st_account_id)
   AND (NOT st_reply
        OR st_in_reply_to_account_id IN (st_account_id, reader)
        OR EXISTS (SELECT 1 FROM follows rf
                    WHERE rf.account_id = reader
                      AND rf.target_account_id = st_in_reply_to_account_id))
   AND (st_reblog_of_id IS NULL
        OR (follow_show_reblogs
            AND reader NOT IN (SELECT ob.target_account_id FROM blocks ob
                                WHERE ob.account_id = og_account_id)
            AND (og_domain IS NULL
                 OR reader NOT IN (SELECT d.account_id
                                     FROM account_domain_blocks d
                                    WHERE d.domain = og_domain))))
$$;
