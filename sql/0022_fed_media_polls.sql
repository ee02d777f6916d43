-- Federation of media attachments and polls (issue 9).

-- A local status' attachments as its Note carries them
-- (ActivityPub::NoteSerializer#attachment: ordered_media_attachments, the
-- processed local files only), read by the module (the Note at its URI,
-- the outbox) and by the worker (Create/Update deliveries) alike; lib/
-- mstdn_ap writes each as a Document, its url built from id and file.
CREATE FUNCTION mastodon_ap_attachments(p_status_id bigint) RETURNS text
    LANGUAGE sql STABLE AS $$
SELECT json_agg(json_build_object(
    'id', m.id::text,
    'file', m.file_file_name,
    'mediaType', m.file_content_type,
    'name', m.description,
    'blurhash', m.blurhash,
    'width', CASE WHEN json_typeof(m.file_meta->'original'->'width') = 'number'
             THEN m.file_meta->'original'->'width' END,
    'height', CASE WHEN json_typeof(m.file_meta->'original'->'height') = 'number'
              THEN m.file_meta->'original'->'height' END,
    'focus', CASE WHEN json_typeof(m.file_meta->'focus'->'x') = 'number'
                   AND json_typeof(m.file_meta->'focus'->'y') = 'number'
             THEN json_build_array(m.file_meta->'focus'->'x',
                                   m.file_meta->'focus'->'y') END)
    ORDER BY array_position(s.ordered_media_attachment_ids, m.id), m.id)::text
  FROM statuses s JOIN media_attachments m ON m.status_id = s.id
 WHERE s.id = p_status_id
   AND (s.ordered_media_attachment_ids IS NULL
        OR m.id = ANY(s.ordered_media_attachment_ids))
   AND m.file_file_name IS NOT NULL
   AND coalesce(m.processing, 2) = 2
$$;

-- A remote status' attachments as its latest Create or Update gives them
-- (worker/inbox_media.c reads the Documents: [{url, thumbnail, type,
-- description, blurhash, meta}], at most 4), in their order: one already
-- stored with the same remote_url is kept and refreshed (description,
-- thumbnail, blurhash, meta: MediaAttachmentParser#significantly_changes?),
-- the others are new rows without a local file (remote_url only, shown
-- through the media proxy until cached); the status' ordered_media_
-- attachment_ids become the new list, so those left out are no longer
-- shown (ProcessStatusUpdateService#update_media_attachments!).  True when
-- anything a viewer sees changed.
CREATE FUNCTION mastodon_remote_media_set(p_status bigint, p_account bigint,
                                          p_media json) RETURNS boolean
    LANGUAGE plpgsql AS $$
DECLARE
    e        json;
    mid      bigint;
    ids      bigint[] := '{}';
    old      bigint[];
    changed  boolean := false;
BEGIN
    SELECT coalesce(s.ordered_media_attachment_ids,
                    ARRAY(SELECT m.id FROM media_attachments m
                          WHERE m.status_id = s.id ORDER BY m.id))
      INTO old FROM statuses s WHERE s.id = p_status FOR UPDATE;
    IF NOT FOUND THEN
        RETURN false;
    END IF;

    FOR e IN SELECT x FROM json_array_elements(coalesce(p_media, '[]'))
             WITH ORDINALITY a (x, n) ORDER BY n LIMIT 4
    LOOP
        mid := NULL;
        SELECT m.id INTO mid FROM media_attachments m
         WHERE m.status_id = p_status AND m.remote_url = e->>'url'
           AND m.id <> ALL (ids)
         ORDER BY m.id LIMIT 1;

        IF mid IS NULL THEN
            INSERT INTO media_attachments (status_id, account_id, remote_url,
                thumbnail_remote_url, type, description, blurhash, file_meta)
            VALUES (p_status, p_account, e->>'url', e->>'thumbnail',
                    coalesce((e->>'type')::int, 3), e->>'description',
                    e->>'blurhash', e->'meta')
            RETURNING id INTO mid;
            changed := true;
        ELSE
            UPDATE media_attachments m SET
                thumbnail_remote_url = e->>'thumbnail',
                description = e->>'description',
                blurhash = coalesce(e->>'blurhash', m.blurhash),
                file_meta = ((coalesce(m.file_meta::jsonb, '{}') - 'focus')
                             || (e->'meta')::jsonb)::json,
                updated_at = now() AT TIME ZONE 'UTC'
             WHERE m.id = mid
               AND (m.thumbnail_remote_url IS DISTINCT FROM e->>'thumbnail'
                    OR m.description IS DISTINCT FROM e->>'description'
                    OR m.file_meta::jsonb IS DISTINCT FROM
                       ((coalesce(m.file_meta::jsonb, '{}') - 'focus')
                        || (e->'meta')::jsonb));
            IF FOUND THEN
                changed := true;
            END IF;
        END IF;

        ids := ids || mid;
    END LOOP;

    IF ids IS DISTINCT FROM old THEN
        changed := true;
        UPDATE statuses SET ordered_media_attachment_ids = ids
         WHERE id = p_status;
    END IF;

    RETURN changed;
END
$$;

-- A vote (VoteService, VoteValidator, ActivityPub::Activity::Create#
-- poll_vote!): the one home of the vote rule, for a local voter (the
-- module's POST /api/v1/polls/:id/votes) and a remote one (the worker's
-- incoming Create of a Note answering a local poll, p_uri its id).  One
-- voter at a time per poll (the advisory lock), only on a poll whose
-- status the voter may see.  Answers the errors (VoteValidator's, joined
-- as Rails joins full messages; '' none), whether a block forbids it
-- (PollPolicy#vote?), the status, the poll after it (mastodon_poll_json),
-- whether the voter has voted, the voter's choices; no row: no poll the
-- voter may see.  The jobs of a counted vote, in the same transaction:
-- status_forget (the cached rendering); a local voter on a remote poll:
-- activitypub_vote per choice (its Create to the poll's author); a local
-- poll whose totals show: activitypub_poll_update (the Update of the
-- Question, DistributePollUpdateWorker).
CREATE FUNCTION mastodon_poll_vote(p_voter bigint, p_poll bigint,
                                   p_choices int[], p_uri varchar DEFAULT NULL)
    RETURNS TABLE (error text, blocked boolean, status_id bigint, poll text,
                   voted boolean, own_votes int[])
    LANGUAGE sql AS $$
SELECT pg_advisory_xact_lock(hashtextextended('mastodon:vote:'
    || p_poll || ':' || p_voter, 0));

WITH p AS (SELECT p.id, p.account_id, p.status_id, p.multiple, p.hide_totals,
    cardinality(p.options) AS n,
    p.expires_at IS NOT NULL
    AND p.expires_at <= now() AT TIME ZONE 'UTC' AS expired,
    EXISTS (SELECT 1 FROM blocks b WHERE (b.account_id = p_voter
     AND b.target_account_id = p.account_id)
     OR (b.account_id = p.account_id AND b.target_account_id = p_voter))
    AS blocked,
    EXISTS (SELECT 1 FROM poll_votes ov WHERE ov.poll_id = p.id
     AND ov.account_id = p_voter) AS voted,
    pa.domain IS NULL AS poll_local,
    (SELECT va.domain IS NULL FROM accounts va WHERE va.id = p_voter)
    AS voter_local
    FROM polls p JOIN statuses s ON s.id = p.status_id
    JOIN accounts pa ON pa.id = p.account_id
    WHERE p.id = p_poll
    AND EXISTS (SELECT FROM mastodon_status_visible(p_voter, s.id,
                s.account_id, s.visibility, s.deleted_at))
    FOR UPDATE OF p),
 c AS (SELECT DISTINCT x AS choice FROM unnest(p_choices) x),
 chk AS (SELECT p.blocked, concat_ws(', ',
    CASE WHEN p.expired THEN 'The poll has already ended' END,
    CASE WHEN EXISTS (SELECT 1 FROM c WHERE c.choice < 0
     OR c.choice >= p.n) THEN 'The chosen vote option does not exist' END,
    CASE WHEN p.account_id = p_voter
     THEN 'You cannot vote in your own polls' END,
    CASE WHEN (NOT p.multiple AND (p.voted
     OR cardinality(p_choices) > 1))
     OR (p.multiple AND (cardinality(p_choices) > (SELECT count(*) FROM c)
     OR EXISTS (SELECT 1 FROM poll_votes ov WHERE ov.poll_id = p.id
     AND ov.account_id = p_voter
     AND ov.choice IN (SELECT choice FROM c))))
     THEN 'You have already voted on this poll' END) AS error FROM p),
 v AS (INSERT INTO poll_votes (account_id, poll_id, choice, uri)
    SELECT p_voter, p.id, c.choice, p_uri FROM p, c, chk
    WHERE chk.error = '' AND NOT chk.blocked
    ON CONFLICT DO NOTHING RETURNING id, choice),
 u AS (UPDATE polls up SET
    votes_count = up.votes_count + (SELECT count(*) FROM v),
    voters_count = CASE WHEN (SELECT voted FROM p) THEN up.voters_count
     ELSE up.voters_count + 1 END,
    cached_tallies = (SELECT array_agg(coalesce(up.cached_tallies[i], 0)
     + (SELECT count(*) FROM v WHERE v.choice = i - 1) ORDER BY i)
     FROM generate_series(1, cardinality(up.options)) i),
    updated_at = now() AT TIME ZONE 'UTC'
    WHERE up.id = p_poll AND EXISTS (SELECT 1 FROM v)
    RETURNING up.*),
 ob AS (INSERT INTO job_outbox (queue, type, args)
    SELECT 'default', 'status_forget', json_build_object('status_ids',
     json_build_array(p.status_id::text))::text
     FROM p WHERE EXISTS (SELECT 1 FROM u)
    UNION ALL
    SELECT 'push', 'activitypub_vote', json_build_object('vote_id',
     v.id::text)::text FROM p, v WHERE NOT p.poll_local AND p.voter_local
    UNION ALL
    SELECT 'push', 'activitypub_poll_update', json_build_object('status_id',
     p.status_id::text)::text FROM p
     WHERE p.poll_local AND NOT p.hide_totals AND EXISTS (SELECT 1 FROM u))
SELECT chk.error, chk.blocked, p.status_id,
    coalesce((SELECT mastodon_poll_json(u::polls) FROM u),
    (SELECT mastodon_poll_json(pp) FROM polls pp WHERE pp.id = p.id)),
    p.voted OR EXISTS (SELECT 1 FROM v),
    (SELECT array_agg(x.choice ORDER BY x.choice) FROM (SELECT ov.choice
     FROM poll_votes ov WHERE ov.poll_id = p.id
     AND ov.account_id = p_voter UNION SELECT choice FROM v) x)
FROM p, chk
$$;

-- Who receives the Update of a local poll's Question after votes
-- (ActivityPub::DistributePollUpdateWorker): those the status' own
-- activities reach (mastodon_delivery_inboxes 'status') and the poll's
-- remote voters, at their shared inbox when they have one; with the same
-- refusals (unavailable or suspended hosts).
CREATE FUNCTION mastodon_poll_update_inboxes(p_status bigint)
    RETURNS TABLE (inbox_url text)
    LANGUAGE sql STABLE AS $$
SELECT d.inbox_url FROM statuses s,
       mastodon_delivery_inboxes('status', s.account_id, s.id, NULL) d
 WHERE s.id = p_status
UNION
SELECT (CASE WHEN a.shared_inbox_url <> '' THEN a.shared_inbox_url
             ELSE a.inbox_url END)::text
  FROM statuses s JOIN poll_votes v ON v.poll_id = s.poll_id
  JOIN accounts a ON a.id = v.account_id
 WHERE s.id = p_status AND a.domain IS NOT NULL AND a.suspended_at IS NULL
   AND a.inbox_url <> ''
   AND NOT mastodon_delivery_refused(mastodon_url_host(
       CASE WHEN a.shared_inbox_url <> '' THEN a.shared_inbox_url
            ELSE a.inbox_url END))
$$;
