-- A domain suspension (BlockDomainService#suspend_accounts!, which runs
-- DeleteAccountService on each account it suspended): the follows between
-- the suspended accounts and everyone else end.  The local followers'
-- home and list feeds lose the accounts' statuses through feed_unmerge
-- jobs (job_feed_unmerge.c, as an unfollow), queued in the caller's
-- transaction; the counters of the other side go down by what went.
-- Returns how many follows ended.
CREATE FUNCTION mastodon_accounts_sever(ids bigint[]) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    INSERT INTO job_outbox (queue, type, args)
    SELECT 'default', 'feed_unmerge',
           json_build_object('account_id', f.account_id::text,
                             'target_account_id', f.target_account_id::text)::text
      FROM follows f JOIN accounts r ON r.id = f.account_id AND r.domain IS NULL
     WHERE f.target_account_id = ANY (ids);

    UPDATE account_stats s
       SET following_count = greatest(0, s.following_count - x.n),
           updated_at = now() AT TIME ZONE 'UTC'
      FROM (SELECT account_id, count(*) AS n FROM follows
             WHERE target_account_id = ANY (ids)
             GROUP BY account_id) x
     WHERE s.account_id = x.account_id AND NOT s.account_id = ANY (ids);

    UPDATE account_stats s
       SET followers_count = greatest(0, s.followers_count - x.n),
           updated_at = now() AT TIME ZONE 'UTC'
      FROM (SELECT target_account_id, count(*) AS n FROM follows
             WHERE account_id = ANY (ids)
             GROUP BY target_account_id) x
     WHERE s.account_id = x.target_account_id AND NOT s.account_id = ANY (ids);

    DELETE FROM follows
     WHERE account_id = ANY (ids) OR target_account_id = ANY (ids);
    GET DIAGNOSTICS n = ROW_COUNT;
    DELETE FROM follow_requests
     WHERE account_id = ANY (ids) OR target_account_id = ANY (ids);
    RETURN n;
END
$$;
