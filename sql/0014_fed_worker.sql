-- Who follows whom, written in one place: mastodon_follow() is Mastodon's
-- FollowService and mastodon_unfollow() its UnfollowService, each a whole
-- change (rows, counters, notifications, and the jobs that go with it in
-- job_outbox: notify, feed_merge / feed_unmerge, and the
-- activitypub_relationship job telling a remote account).  The module's
-- follow and unfollow endpoints and the worker's Move (MoveWorker /
-- UnfollowFollowWorker) call them.

-- account follows target.  reblogs, notify: NULL keeps what a follow or a
-- request already has (true / false for a new one); languages replaces
-- them when languages_given.  A locked local target makes a request unless
-- bypass_locked (a Move to a local account); a remote target always does
-- (until its Accept), as does a silenced follower.  Returns 'refused' (a
-- block either way, a domain block, a suspended, moved, unconfirmed or
-- unknown target), 'followed' (a new follow), 'requested' (a new request)
-- or 'updated' (a follow or request that was there: its options).
CREATE FUNCTION mastodon_follow(account bigint, target bigint, reblogs boolean,
    notify boolean, languages character varying[], languages_given boolean,
    bypass_locked boolean)
    RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    t   accounts%ROWTYPE;
    fid bigint;
BEGIN
    SELECT * INTO t FROM accounts a WHERE a.id = target;
    IF NOT FOUND OR target = account OR t.suspended_at IS NOT NULL
       OR t.moved_to_account_id IS NOT NULL
       OR (t.domain IS NULL AND NOT EXISTS (SELECT 1 FROM users u
           WHERE u.account_id = t.id AND u.approved AND u.confirmed_at IS NOT NULL))
       OR (t.domain IS NOT NULL AND t.protocol <> 1)
       OR EXISTS (SELECT 1 FROM blocks b
           WHERE b.account_id = account AND b.target_account_id = target
           OR b.account_id = target AND b.target_account_id = account)
       OR EXISTS (SELECT 1 FROM account_domain_blocks d
           WHERE d.account_id = account AND d.domain = t.domain) THEN
        RETURN 'refused';
    END IF;

    UPDATE follows f SET show_reblogs = coalesce(reblogs, f.show_reblogs),
        notify = coalesce(mastodon_follow.notify, f.notify),
        languages = CASE WHEN languages_given THEN mastodon_follow.languages
                    ELSE f.languages END,
        updated_at = now() AT TIME ZONE 'UTC'
        WHERE f.account_id = account AND f.target_account_id = target;
    IF FOUND THEN
        RETURN 'updated';
    END IF;
    UPDATE follow_requests r SET show_reblogs = coalesce(reblogs, r.show_reblogs),
        notify = coalesce(mastodon_follow.notify, r.notify),
        languages = CASE WHEN languages_given THEN mastodon_follow.languages
                    ELSE r.languages END,
        updated_at = now() AT TIME ZONE 'UTC'
        WHERE r.account_id = account AND r.target_account_id = target;
    IF FOUND THEN
        RETURN 'updated';
    END IF;

    IF t.domain IS NOT NULL OR (t.locked AND NOT bypass_locked)
       OR EXISTS (SELECT 1 FROM accounts m WHERE m.id = account
                  AND m.silenced_at IS NOT NULL) THEN
        INSERT INTO follow_requests (account_id, target_account_id, show_reblogs,
            notify, languages)
            VALUES (account, target, coalesce(reblogs, true),
                    coalesce(mastodon_follow.notify, false),
                    CASE WHEN languages_given THEN mastodon_follow.languages END)
            ON CONFLICT (account_id, target_account_id) DO NOTHING
            RETURNING id INTO fid;
        IF fid IS NOT NULL THEN
            IF t.domain IS NULL THEN
                INSERT INTO job_outbox (queue, type, args) VALUES ('default', 'notify',
                    json_build_object('type', 'follow_request', 'account_id',
                    target::text, 'from_account_id', account::text, 'activity_type',
                    'FollowRequest', 'activity_id', fid::text)::text);
            ELSE
                INSERT INTO job_outbox (queue, type, args) VALUES ('push',
                    'activitypub_relationship', json_build_object('type', 'follow',
                    'id', fid::text, 'account_id', account::text,
                    'target_account_id', target::text, 'uri', NULL)::text);
            END IF;
            RETURN 'requested';
        END IF;
        RETURN 'updated';
    END IF;

    INSERT INTO follows (account_id, target_account_id, show_reblogs, notify, languages)
        VALUES (account, target, coalesce(reblogs, true),
                coalesce(mastodon_follow.notify, false),
                CASE WHEN languages_given THEN mastodon_follow.languages END)
        ON CONFLICT (account_id, target_account_id) DO NOTHING
        RETURNING id INTO fid;
    IF fid IS NULL THEN
        RETURN 'updated';
    END IF;
    INSERT INTO account_stats (account_id, following_count, followers_count)
        SELECT x.id, x.following, x.followers FROM (VALUES (account, 1, 0),
            (target, 0, 1)) x(id, following, followers) ORDER BY x.id
        ON CONFLICT (account_id) DO UPDATE SET
        following_count = account_stats.following_count + excluded.following_count,
        followers_count = account_stats.followers_count + excluded.followers_count,
        updated_at = now() AT TIME ZONE 'UTC';
    INSERT INTO job_outbox (queue, type, args)
        SELECT 'default', 'notify', json_build_object('type', 'follow', 'account_id',
            target::text, 'from_account_id', account::text, 'activity_type', 'Follow',
            'activity_id', fid::text)::text WHERE t.domain IS NULL
        UNION ALL SELECT 'default', 'feed_merge', json_build_object('account_id',
            account::text, 'target_account_id', target::text)::text;
    RETURN 'followed';
END $$;

-- account stops following target (UnfollowService): the follow with its
-- endorsement and notification, or else the request; a remote target gets
-- the Undo.  unmerge: the target's statuses leave the follower's home feed
-- (a Move skips it, as Mastodon's skip_unmerge).  Returns 'unfollowed',
-- 'withdrawn' (a request) or 'none'.
CREATE FUNCTION mastodon_unfollow(account bigint, target bigint, unmerge boolean)
    RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    fid    bigint;
    furi   character varying;
    remote boolean;
BEGIN
    SELECT a.domain IS NOT NULL INTO remote FROM accounts a WHERE a.id = target;
    DELETE FROM follows f WHERE f.account_id = account AND f.target_account_id = target
        RETURNING f.id, f.uri INTO fid, furi;
    IF fid IS NOT NULL THEN
        DELETE FROM account_pins p WHERE p.account_id = account
            AND p.target_account_id = target;
        DELETE FROM notifications n WHERE n.activity_type = 'Follow' AND n.activity_id = fid;
        INSERT INTO account_stats (account_id, following_count, followers_count)
            SELECT x.id, x.following, x.followers FROM (VALUES (account, -1, 0),
                (target, 0, -1)) x(id, following, followers) ORDER BY x.id
            ON CONFLICT (account_id) DO UPDATE SET
            following_count = greatest(0, account_stats.following_count
                + excluded.following_count),
            followers_count = greatest(0, account_stats.followers_count
                + excluded.followers_count),
            updated_at = now() AT TIME ZONE 'UTC';
        INSERT INTO job_outbox (queue, type, args)
            SELECT 'default', 'feed_unmerge', json_build_object('account_id',
                account::text, 'target_account_id', target::text)::text WHERE unmerge
            UNION ALL SELECT 'push', 'activitypub_relationship', json_build_object('type',
                'undo_follow', 'id', fid::text, 'account_id', account::text,
                'target_account_id', target::text, 'uri', furi)::text WHERE remote;
        RETURN 'unfollowed';
    END IF;
    DELETE FROM follow_requests r WHERE r.account_id = account
        AND r.target_account_id = target RETURNING r.id, r.uri INTO fid, furi;
    IF fid IS NOT NULL THEN
        DELETE FROM notifications n WHERE n.activity_type = 'FollowRequest'
            AND n.activity_id = fid;
        INSERT INTO job_outbox (queue, type, args)
            SELECT 'push', 'activitypub_relationship', json_build_object('type',
                'undo_follow', 'id', fid::text, 'account_id', account::text,
                'target_account_id', target::text, 'uri', furi)::text WHERE remote;
        RETURN 'withdrawn';
    END IF;
    RETURN 'none';
END $$;
