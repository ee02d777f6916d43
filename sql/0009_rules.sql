-- Rules written once: who may see a status, and whose home feed takes it.
-- The module and the worker call these functions instead of writing the
-- rules out in their own SQL.
--
-- Both are LANGUAGE sql table functions (one row when the rule holds, none
-- otherwise): PostgreSQL inlines a set-returning SQL function into the
-- calling query, subqueries and all, so a call costs what the same
-- conditions written out in place cost (a scalar SQL function holding a
-- subquery is not inlined, and runs once per row).  Use them as
--   FROM statuses s CROSS JOIN LATERAL mastodon_status_visible(...)
-- (the conditions become the scan's filter, the EXISTS tests on small sets
-- hashed once) or, in an expression, EXISTS (SELECT FROM mastodon_...(...)).

-- StatusPolicy#show? in two parts, so that a query about one author's
-- statuses (the account timeline) reads the viewer's relation to the author
-- once.  mastodon_viewer_relation: one row, none when the author is
-- suspended; own, following (the viewer follows the author), blocked_by
-- (the author blocks the viewer).
CREATE FUNCTION mastodon_viewer_relation(viewer bigint, author bigint)
    RETURNS TABLE (own boolean, following boolean, blocked_by boolean)
    LANGUAGE sql STABLE ROWS 1 AS $$
SELECT viewer = author,
       EXISTS (SELECT 1 FROM follows vf
                WHERE vf.account_id = viewer AND vf.target_account_id = author),
       EXISTS (SELECT 1 FROM blocks vb
                WHERE vb.account_id = author AND vb.target_account_id = viewer)
 WHERE NOT EXISTS (SELECT 1 FROM accounts va
                    WHERE va.id = author AND va.suspended_at IS NOT NULL)
$$;

-- The rule on those facts: public and unlisted, unless the author blocks
-- the viewer; the author sees all of its own; private: its followers and
-- the accounts it mentions; direct: the accounts it mentions; limited:
-- nobody else.  `mentioned` (the status mentions the viewer) is used once
-- and last, so that an EXISTS passed for it is inlined and only run when
-- it decides.  The status loader applies the same to facts it reads once
-- per batch (statuses_judge() in the module).
CREATE FUNCTION mastodon_visible_to(anonymous boolean, own boolean,
        following boolean, blocked_by boolean, visibility integer,
        mentioned boolean)
    RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
SELECT CASE
       WHEN visibility IN (0, 1) THEN anonymous OR NOT blocked_by
       WHEN own THEN true
       WHEN visibility = 2 AND following THEN true
       WHEN visibility IN (2, 3) THEN NOT anonymous AND mentioned
       ELSE false
       END
$$;

-- May `viewer` (NULL: anonymous) see the status?  Not when deleted or its
-- author suspended; else mastodon_visible_to().
CREATE FUNCTION mastodon_status_visible(viewer bigint, st_id bigint,
        st_account_id bigint, st_visibility integer,
        st_deleted_at timestamp)
    RETURNS SETOF boolean LANGUAGE sql STABLE ROWS 1 AS $$
SELECT true FROM mastodon_viewer_relation(viewer, st_account_id) r
 WHERE st_deleted_at IS NULL
   AND mastodon_visible_to(viewer IS NULL, r.own, r.following, r.blocked_by,
           st_visibility,
           EXISTS (SELECT 1 FROM mentions vm
                    WHERE vm.status_id = st_id AND vm.account_id = viewer))
$$;

-- FeedManager#filter_from_home, negated: does the home feed of `reader`, a
-- follower of the status' author (not the author: its own statuses are
-- always in its feed), take the status?  follow_*: the reader's follow of
-- the author; og_*: for a reblog, the original's author and its domain.
--   - direct: only when it mentions the reader; limited: never;
--   - a reply to an unknown status: never;
--   - the follow's languages, when set, and the status' language known
--     and not among them: no;
--   - the reader blocks or mutes (unexpired) the author, an account the
--     status mentions, for a reblog the original's author or an account
--     the original mentions: no; the author blocks the reader: no;
--   - a reply to another account: only when the reader follows that
--     account or is it;
--   - a reblog: not with the follow's show_reblogs off, nor when the
--     original's author blocks the reader or the reader blocks its domain.
-- Which statuses a caller offers stays the caller's (Mastodon's): the
-- fan-out offers each new status to the followers, a rebuild and a merge
-- offer public, unlisted and private statuses (list_eligible_visibility).
-- The tests on the reader are written as anti-joins (NOT EXISTS with the
-- reader as the only link), so that with one status and many followers
-- PostgreSQL reads each small set once instead of probing per follower.
-- The accounts whose blockers and muters do not get the status (the
-- author, the original's author, the mentioned: check_for_blocks) are
-- spelled out in both tests: computed once in a sub-select, they made the
-- function a lateral subquery run per follower.
CREATE FUNCTION mastodon_home_accepts(reader bigint,
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
   AND NOT EXISTS (SELECT 1 FROM blocks ab
                    WHERE ab.account_id = st_account_id
                      AND ab.target_account_id = reader)
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
