-- Delivery of activities to other servers (the worker's outgoing side).
--
-- unavailable_domains: Mastodon's UnavailableDomain, hosts that failed
-- deliveries on 7 different days (DeliveryFailureTracker; the days are in
-- Redis, mastodon:exhausted_deliveries:<host>); nothing is delivered to
-- them until one answers again (a successful delivery, or a fetch, removes
-- the row).
CREATE TABLE unavailable_domains (
    id         bigserial PRIMARY KEY,
    domain     character varying DEFAULT '' NOT NULL,
    created_at timestamp without time zone DEFAULT (now() AT TIME ZONE 'UTC') NOT NULL,
    updated_at timestamp without time zone DEFAULT (now() AT TIME ZONE 'UTC') NOT NULL
);
CREATE UNIQUE INDEX index_unavailable_domains_on_domain ON unavailable_domains (domain);

-- Remote accounts by the inbox they are reached at: the fan-out joins
-- followers to accounts and picks this.
CREATE INDEX index_accounts_on_remote_domain ON accounts (lower((domain)::text))
    WHERE domain IS NOT NULL;

-- The host of an http(s) URL, lower-cased, without port or brackets (as
-- the worker's fetch_url_host()).
CREATE FUNCTION mastodon_url_host(url text) RETURNS text
    LANGUAGE sql IMMUTABLE AS $$
SELECT lower(coalesce(substring(url from '^[hH][tT][tT][pP][sS]?://\[([^]/]*)\]'),
                      substring(url from '^[hH][tT][tT][pP][sS]?://([^/:?#@]+)')))
$$;

-- Whether nothing goes to the host now: marked unavailable, or suspended
-- by the instance (sql/0011's rule: the most specific domain block of the
-- host or a parent suspends it).
CREATE FUNCTION mastodon_delivery_refused(host text) RETURNS boolean
    LANGUAGE sql STABLE AS $$
SELECT EXISTS (SELECT 1 FROM unavailable_domains u WHERE u.domain = host)
    OR mastodon_domain_suspended(host)
$$;

-- Who receives what: the one rule of the worker's deliveries (Mastodon's
-- StatusReachFinder, Account#inboxes / preferred_inbox_url,
-- AccountReachFinder, DeleteAccountService), one row per inbox URL.
--
--   kind 'status'        a status' Create/Update/Announce: the author's
--                        remote followers (not for direct), the remote
--                        accounts it mentions, and for public/unlisted the
--                        replied-to author and the reblogged one;
--   kind 'status_delete' the same, plus for public/unlisted those who
--                        reblogged, favourited or replied to it;
--   kind 'account'       the account's remote followers (Update of the
--                        actor, Move);
--   kind 'account_delete' every known remote host once (its shared inbox,
--                        else one account's inbox there);
--   kind 'target'        one remote account's own inbox (Follow, Undo,
--                        Like, Block, Accept, Reject, Flag).
--
-- Followers and the others are reached at their shared inbox when they
-- have one (so one delivery per host that has one) and never twice at one
-- URL.  Never: local accounts, suspended accounts, hosts marked
-- unavailable, hosts the instance suspends (domain_blocks severity 1).
-- Private statuses go only to followers (and the mentioned), direct ones
-- only to the mentioned.
CREATE FUNCTION mastodon_delivery_inboxes(p_kind text, p_account bigint, p_status bigint,
                                          p_target bigint)
    RETURNS TABLE (inbox_url text)
    LANGUAGE sql STABLE AS $$
WITH st AS (
    SELECT s.id, s.visibility, s.in_reply_to_account_id, o.account_id AS reblog_account_id,
           s.visibility IN (0, 1) AS distributable
      FROM statuses s LEFT JOIN statuses o ON o.id = s.reblog_of_id
     WHERE p_kind IN ('status', 'status_delete') AND s.id = p_status
), reached AS (
    SELECT f.account_id AS id, true AS shared
      FROM follows f
     WHERE f.target_account_id = p_account
       AND (p_kind IN ('account')
            OR EXISTS (SELECT 1 FROM st WHERE st.visibility IN (0, 1, 2)))
    UNION
    SELECT m.account_id, true FROM mentions m, st WHERE m.status_id = st.id
    UNION
    SELECT unnest(ARRAY[st.in_reply_to_account_id, st.reblog_account_id]), true
      FROM st WHERE st.distributable
    UNION
    SELECT x.account_id, true
      FROM st, LATERAL (SELECT r.account_id FROM statuses r
                         WHERE r.reblog_of_id = st.id
                        UNION SELECT fv.account_id FROM favourites fv WHERE fv.status_id = st.id
                        UNION SELECT rp.account_id FROM statuses rp
                         WHERE rp.in_reply_to_id = st.id) x
     WHERE p_kind = 'status_delete' AND st.distributable
    UNION
    SELECT p_target, false WHERE p_kind = 'target'
), candidates AS (
    SELECT a.domain,
           CASE WHEN r.shared AND a.shared_inbox_url <> '' THEN a.shared_inbox_url
                ELSE a.inbox_url END AS url
      FROM reached r JOIN accounts a ON a.id = r.id
     WHERE p_kind <> 'account_delete' AND a.domain IS NOT NULL AND a.suspended_at IS NULL
    UNION ALL
    SELECT * FROM (
        SELECT DISTINCT ON (lower(a.domain)) a.domain,
               CASE WHEN a.shared_inbox_url <> '' THEN a.shared_inbox_url ELSE a.inbox_url END
          FROM accounts a
         WHERE p_kind = 'account_delete' AND a.domain IS NOT NULL AND a.suspended_at IS NULL
           AND a.inbox_url <> ''
         ORDER BY lower(a.domain), (a.shared_inbox_url = ''), a.id) one_per_host
)
SELECT DISTINCT c.url::text
  FROM candidates c
 WHERE c.domain IS NOT NULL AND c.url <> ''
   AND NOT mastodon_delivery_refused(mastodon_url_host(c.url))
$$;
