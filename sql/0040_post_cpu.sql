-- Posting's CPU (issue 10): what a post costs PostgreSQL, without changing
-- what it writes or answers.

-- (0028's, with the configurations as constants: its text to regconfig cast
-- is not immutable, so the planner did not inline the function, and each
-- transaction parsed and planned its body again in the search vector trigger)
CREATE OR REPLACE FUNCTION mastodon_search_config(lang text) RETURNS regconfig
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
SELECT CASE lower(split_part(coalesce(lang, ''), '-', 1))
       WHEN 'ar' THEN 'arabic'::regconfig
       WHEN 'hy' THEN 'armenian'::regconfig
       WHEN 'eu' THEN 'basque'::regconfig
       WHEN 'ca' THEN 'catalan'::regconfig
       WHEN 'da' THEN 'danish'::regconfig
       WHEN 'nl' THEN 'dutch'::regconfig
       WHEN 'en' THEN 'english'::regconfig
       WHEN 'fi' THEN 'finnish'::regconfig
       WHEN 'fr' THEN 'french'::regconfig
       WHEN 'de' THEN 'german'::regconfig
       WHEN 'el' THEN 'greek'::regconfig
       WHEN 'hi' THEN 'hindi'::regconfig
       WHEN 'hu' THEN 'hungarian'::regconfig
       WHEN 'id' THEN 'indonesian'::regconfig
       WHEN 'ga' THEN 'irish'::regconfig
       WHEN 'it' THEN 'italian'::regconfig
       WHEN 'lt' THEN 'lithuanian'::regconfig
       WHEN 'ne' THEN 'nepali'::regconfig
       WHEN 'no' THEN 'norwegian'::regconfig
       WHEN 'nb' THEN 'norwegian'::regconfig
       WHEN 'nn' THEN 'norwegian'::regconfig
       WHEN 'pt' THEN 'portuguese'::regconfig
       WHEN 'ro' THEN 'romanian'::regconfig
       WHEN 'ru' THEN 'russian'::regconfig
       WHEN 'sr' THEN 'serbian'::regconfig
       WHEN 'es' THEN 'spanish'::regconfig
       WHEN 'sv' THEN 'swedish'::regconfig
       WHEN 'ta' THEN 'tamil'::regconfig
       WHEN 'tr' THEN 'turkish'::regconfig
       WHEN 'yi' THEN 'yiddish'::regconfig
       ELSE 'simple'::regconfig END
$$;

-- The accounts a post or an edit mentions: local (lowercase usernames) and
-- remote (lowercase user@domain), each once, found through the accounts'
-- (lower(username), lower(domain)) index.  The OR of both forms that posts
-- and edits used before scanned every account for every post.  Inlined.
CREATE FUNCTION mastodon_mentioned(local text[], remote text[])
RETURNS TABLE (id bigint) LANGUAGE sql STABLE AS $$
SELECT a.id FROM accounts a JOIN (
    SELECT x AS u, '' AS d FROM unnest(local) x
    UNION SELECT split_part(x, '@', 1), substr(x, strpos(x, '@') + 1)
    FROM unnest(remote) x WHERE strpos(x, '@') > 0) w
  ON lower(a.username::text) = w.u AND coalesce(lower(a.domain::text), '') = w.d
$$;

-- mastodon_post_status() (0029) with its mentions from mastodon_mentioned()
CREATE OR REPLACE FUNCTION mastodon_post_status(bigint, bigint, text, boolean, text,
    integer, text, bigint, text, text[], text[], text[], text[], text[],
    bigint, boolean, boolean, bigint[], bigint)
RETURNS TABLE (id bigint, in_reply_to_id bigint, why integer, missing text)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
RETURN QUERY
WITH p AS (SELECT ps.id, ps.account_id, ps.conversation_id
   FROM statuses ps WHERE ps.id = $2 AND ps.reblog_of_id IS NULL
   AND EXISTS (SELECT FROM mastodon_status_visible($1, ps.id,
   ps.account_id, ps.visibility, ps.deleted_at))),
 md AS (SELECT m.id, m.type, m.processing FROM media_attachments m
   WHERE m.id = ANY(coalesce($18, '{}')) AND m.account_id = $1
   AND m.status_id IS NULL AND m.scheduled_status_id IS NOT DISTINCT FROM $19),
 mv AS (SELECT CASE
   WHEN (SELECT count(*) FROM md) < cardinality(coalesce($18, '{}')) THEN 1
   WHEN (SELECT count(*) FROM md) > 1
   AND EXISTS (SELECT 1 FROM md WHERE md.type IN (2, 4)) THEN 2
   WHEN EXISTS (SELECT 1 FROM md WHERE coalesce(md.processing, 2) <> 2)
   THEN 3 ELSE 0 END AS why),
 ok AS (SELECT 1 AS one WHERE ($2 IS NULL
   OR EXISTS (SELECT 1 FROM p)) AND (SELECT mv.why FROM mv) = 0),
 us AS (SELECT nullif(u.settings, '')::jsonb AS j FROM users u
   WHERE u.account_id = $1),
 c AS (INSERT INTO conversations (created_at) SELECT
   now() AT TIME ZONE 'UTC' FROM ok WHERE NOT EXISTS (SELECT 1 FROM p
   WHERE p.conversation_id IS NOT NULL) RETURNING conversations.id),
 n AS (SELECT timestamp_id('statuses') AS id FROM ok),
 pn AS (SELECT nextval('polls_id_seq') AS id FROM ok WHERE $14 IS NOT NULL),
 s AS (INSERT INTO statuses (id, uri, text, in_reply_to_id,
   in_reply_to_account_id, reply, sensitive, spoiler_text, visibility,
   language, conversation_id, local, account_id, application_id,
   poll_id, ordered_media_attachment_ids)
   SELECT n.id, $9 || '/users/' || a.username || '/statuses/' || n.id,
   $3, p.id, p.account_id, p.id IS NOT NULL,
   coalesce($4, ((SELECT j FROM us)->>'default_sensitive')::boolean, false),
   coalesce($5, ''),
   coalesce($6, CASE (SELECT j FROM us)->>'default_privacy'
   WHEN 'unlisted' THEN 1 WHEN 'private' THEN 2 ELSE 0 END),
   coalesce($7, (SELECT j FROM us)->>'default_language', 'en'),
   coalesce(p.conversation_id, (SELECT c.id FROM c)), true,
   $1, $8, (SELECT pn.id FROM pn), nullif($18, '{}')
   FROM n JOIN accounts a ON a.id = $1 LEFT JOIN p ON true
   RETURNING statuses.id, statuses.in_reply_to_id, statuses.visibility),
 pl AS (INSERT INTO polls (id, account_id, status_id, expires_at,
   options, cached_tallies, multiple, hide_totals, votes_count, voters_count)
   SELECT pn.id, $1, s.id, now() AT TIME ZONE 'UTC'
   + make_interval(secs => $15), $14,
   array_fill(0::bigint, ARRAY[coalesce(cardinality($14), 0)]),
   $16, $17, 0, 0 FROM pn, s RETURNING polls.id),
 ma AS (UPDATE media_attachments SET status_id = s.id,
   scheduled_status_id = NULL, updated_at = now() AT TIME ZONE 'UTC' FROM s
   WHERE media_attachments.id IN (SELECT md.id FROM md)),
 ss AS (INSERT INTO status_stats (status_id) SELECT s.id FROM s),
 rs AS (INSERT INTO status_stats (status_id, replies_count)
   SELECT s.in_reply_to_id, 1 FROM s WHERE s.in_reply_to_id IS NOT NULL
   AND s.visibility <= 1
   ON CONFLICT (status_id) DO UPDATE SET
   replies_count = status_stats.replies_count + 1,
   updated_at = now() AT TIME ZONE 'UTC'),
 ac AS (INSERT INTO account_stats (account_id, statuses_count,
   last_status_at) SELECT $1, 1, now() AT TIME ZONE 'UTC' FROM s
   WHERE s.visibility <> 3
   ON CONFLICT (account_id) DO UPDATE SET
   statuses_count = account_stats.statuses_count + 1,
   last_status_at = excluded.last_status_at,
   updated_at = now() AT TIME ZONE 'UTC'),
 m AS (INSERT INTO mentions (status_id, account_id)
   SELECT s.id, mta.id FROM s, mastodon_mentioned($10, $11) mta
   ON CONFLICT (account_id, status_id) DO UPDATE SET silent = false),
 tn AS (SELECT DISTINCT ON (lower(x.n)) x.n AS name, x.d AS display
   FROM unnest($12, $13) WITH ORDINALITY x (n, d, i)
   WHERE x.n <> '' ORDER BY lower(x.n), x.i),
 ti AS (INSERT INTO tags (name, display_name)
   SELECT tn.name, tn.display FROM tn WHERE EXISTS (SELECT 1 FROM s)
   AND NOT EXISTS (SELECT 1 FROM tags et WHERE lower(et.name) = lower(tn.name))
   ON CONFLICT (lower((name)::text) text_pattern_ops)
   DO UPDATE SET name = tags.name RETURNING tags.id),
 tg AS (INSERT INTO statuses_tags (status_id, tag_id)
   SELECT s.id, t.id FROM s, (SELECT ti.id FROM ti UNION
   SELECT tags.id FROM tags JOIN tn ON lower(tags.name) = lower(tn.name))
   t ON CONFLICT DO NOTHING),
 ob AS (INSERT INTO job_outbox (queue, type, args)
   SELECT job.q, job.t, job.a::text FROM (
   SELECT 'default', 'distribute', json_build_object('status_id',
   s.id::text) FROM s
   UNION ALL SELECT 'default', 'poll_expire', json_build_object(
   'poll_id', pl.id::text) FROM pl
   UNION ALL SELECT 'default', 'status_forget', json_build_object(
   'status_ids', array_to_json(array_remove(ARRAY[s.in_reply_to_id]::text[],
   NULL)))
   FROM s WHERE s.in_reply_to_id IS NOT NULL AND s.visibility <= 1)
   job(q, t, a))
 SELECT s.id, s.in_reply_to_id, mv.why,
   array_to_string(ARRAY(SELECT x FROM unnest(coalesce($18, '{}')) x
   WHERE x NOT IN (SELECT md.id FROM md)), ', ')
 FROM mv LEFT JOIN s ON true;
END $$;
