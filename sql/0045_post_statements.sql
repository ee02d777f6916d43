-- Posting's CPU, continued (issue 10): what a post costs PostgreSQL in its
-- request, without changing what it writes or answers.

-- 0038's, in plpgsql: an SQL function with subqueries is not inlined, and
-- its body was parsed and planned again in every transaction that called
-- it (every post's search vector trigger, every filters statement); a
-- plpgsql function keeps its plans for the session.
CREATE OR REPLACE FUNCTION mastodon_search_extra(st_id bigint, st_poll_id bigint,
        st_media_ids bigint[])
    RETURNS text LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
BEGIN
    RETURN concat_ws(E'\n\n',
        (SELECT array_to_string(p.options, E'\n\n') FROM polls p
          WHERE p.id = st_poll_id),
        (SELECT string_agg(ma.description, E'\n\n'
                           ORDER BY array_position(st_media_ids, ma.id), ma.id)
           FROM media_attachments ma
          WHERE ma.status_id = st_id AND ma.description <> ''));
END
$$;

-- mastodon_post_status() (0040) as statements run one after the other,
-- each only when the post needs it (a reply, a poll, media, mentions,
-- tags): the single statement of twenty CTEs was initialised whole by the
-- executor for every post, which cost more than executing it.  Same
-- arguments, rows, jobs and answer; the poll is still written after the
-- status (its trigger refreshes the status' search vector); the counters
-- come last, so that concurrent posts by one author (or replies to one
-- status) wait for each other's commit only, not for the whole post.
CREATE OR REPLACE FUNCTION mastodon_post_status(bigint, bigint, text, boolean, text,
    integer, text, bigint, text, text[], text[], text[], text[], text[],
    bigint, boolean, boolean, bigint[], bigint)
RETURNS TABLE (id bigint, in_reply_to_id bigint, why integer, missing text)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    media       bigint[] := coalesce($18, '{}');
    found_media bigint[] := '{}';
    nfound      integer := 0;
    nav         integer := 0;
    nwait       integer := 0;
    p_id        bigint;
    p_account   bigint;
    p_conv      bigint;
    settings    jsonb;
    conv        bigint;
    sid         bigint;
    poll        bigint;
    vis         integer;
BEGIN
    -- validate_media!: 1 not found, 2 a video or audio among several,
    -- 3 not processed
    IF cardinality(media) > 0 THEN
        -- the rows locked first, in id order: a concurrent post of the same
        -- media waits for this one's commit, and the count below (a new
        -- snapshot) then finds them taken (else both posts took them)
        PERFORM FROM media_attachments m
          WHERE m.id = ANY(media) AND m.account_id = $1
          ORDER BY m.id FOR UPDATE;
        SELECT count(*), count(*) FILTER (WHERE m.type IN (2, 4)),
               count(*) FILTER (WHERE coalesce(m.processing, 2) <> 2),
               coalesce(array_agg(m.id), '{}')
          INTO nfound, nav, nwait, found_media
          FROM media_attachments m
         WHERE m.id = ANY(media) AND m.account_id = $1
           AND m.status_id IS NULL
           AND m.scheduled_status_id IS NOT DISTINCT FROM $19;
        why := CASE WHEN nfound < cardinality(media) THEN 1
                    WHEN nfound > 1 AND nav > 0 THEN 2
                    WHEN nwait > 0 THEN 3 ELSE 0 END;
        IF why <> 0 THEN
            missing := array_to_string(ARRAY(SELECT x FROM unnest(media) x
                                             WHERE x <> ALL(found_media)),
                                       ', ');
            RETURN NEXT;
            RETURN;
        END IF;
    END IF;

    why := 0;
    missing := '';

    -- the status replied to, when the author may see it
    IF $2 IS NOT NULL THEN
        SELECT ps.id, ps.account_id, ps.conversation_id
          INTO p_id, p_account, p_conv
          FROM statuses ps WHERE ps.id = $2 AND ps.reblog_of_id IS NULL
           AND EXISTS (SELECT FROM mastodon_status_visible($1, ps.id,
                       ps.account_id, ps.visibility, ps.deleted_at));
        IF p_id IS NULL THEN
            RETURN NEXT;
            RETURN;
        END IF;
    END IF;

    -- the author's defaults, for what the post does not say
    IF $4 IS NULL OR $6 IS NULL OR $7 IS NULL THEN
        SELECT nullif(u.settings, '')::jsonb INTO settings
          FROM users u WHERE u.account_id = $1;
    END IF;

    IF p_conv IS NULL THEN
        INSERT INTO conversations (created_at)
        VALUES (now() AT TIME ZONE 'UTC') RETURNING conversations.id INTO conv;
    END IF;

    sid := timestamp_id('statuses');

    IF $14 IS NOT NULL THEN
        poll := nextval('polls_id_seq');
    END IF;

    INSERT INTO statuses (id, uri, text, in_reply_to_id,
        in_reply_to_account_id, reply, sensitive, spoiler_text, visibility,
        language, conversation_id, local, account_id, application_id,
        poll_id, ordered_media_attachment_ids)
    SELECT sid, $9 || '/users/' || a.username || '/statuses/' || sid,
        $3, p_id, p_account, p_id IS NOT NULL,
        coalesce($4, (settings->>'default_sensitive')::boolean, false),
        coalesce($5, ''),
        coalesce($6, CASE settings->>'default_privacy'
                     WHEN 'unlisted' THEN 1 WHEN 'private' THEN 2 ELSE 0 END),
        coalesce($7, settings->>'default_language', 'en'),
        coalesce(p_conv, conv), true, $1, $8, poll, nullif($18, '{}')
      FROM accounts a WHERE a.id = $1
    RETURNING statuses.visibility INTO vis;

    IF vis IS NULL THEN
        RETURN NEXT;
        RETURN;
    END IF;

    IF poll IS NOT NULL THEN
        INSERT INTO polls (id, account_id, status_id, expires_at, options,
            cached_tallies, multiple, hide_totals, votes_count, voters_count)
        VALUES (poll, $1, sid,
            now() AT TIME ZONE 'UTC' + make_interval(secs => $15), $14,
            array_fill(0::bigint, ARRAY[coalesce(cardinality($14), 0)]),
            $16, $17, 0, 0);
    END IF;

    IF nfound > 0 THEN
        UPDATE media_attachments SET status_id = sid,
            scheduled_status_id = NULL, updated_at = now() AT TIME ZONE 'UTC'
         WHERE media_attachments.id = ANY(found_media);
    END IF;

    INSERT INTO status_stats (status_id) VALUES (sid);

    IF coalesce(cardinality($10), 0) > 0 OR coalesce(cardinality($11), 0) > 0
    THEN
        INSERT INTO mentions (status_id, account_id)
        SELECT sid, mta.id FROM mastodon_mentioned($10, $11) mta
        ON CONFLICT (account_id, status_id) DO UPDATE SET silent = false;
    END IF;

    IF coalesce(cardinality($12), 0) > 0 THEN
        INSERT INTO tags (name, display_name)
        SELECT tn.name, tn.display FROM (
            SELECT DISTINCT ON (lower(x.n)) x.n AS name, x.d AS display
              FROM unnest($12, $13) WITH ORDINALITY x (n, d, i)
             WHERE x.n <> '' ORDER BY lower(x.n), x.i) tn
         WHERE NOT EXISTS (SELECT 1 FROM tags et
                            WHERE lower(et.name) = lower(tn.name))
        ON CONFLICT (lower((name)::text) text_pattern_ops)
        DO UPDATE SET name = tags.name;

        INSERT INTO statuses_tags (status_id, tag_id)
        SELECT sid, t.id FROM tags t
         WHERE lower(t.name) IN (SELECT lower(x) FROM unnest($12) x
                                  WHERE x <> '')
        ON CONFLICT DO NOTHING;
    END IF;

    INSERT INTO job_outbox (queue, type, args)
    SELECT 'default', j.t, j.a FROM (VALUES
        (1, 'distribute', json_build_object('status_id', sid::text)::text),
        (2, 'poll_expire', CASE WHEN poll IS NOT NULL
            THEN json_build_object('poll_id', poll::text)::text END),
        (3, 'status_forget', CASE WHEN p_id IS NOT NULL AND vis <= 1
            THEN json_build_object('status_ids',
                 json_build_array(p_id::text))::text END)) j (n, t, a)
     WHERE j.a IS NOT NULL ORDER BY j.n;

    -- the counters last: their rows (the parent's, the author's, which
    -- concurrent posts share) stay locked until the commit
    IF p_id IS NOT NULL AND vis <= 1 THEN
        INSERT INTO status_stats (status_id, replies_count) VALUES (p_id, 1)
        ON CONFLICT (status_id) DO UPDATE SET
            replies_count = status_stats.replies_count + 1,
            updated_at = now() AT TIME ZONE 'UTC';
    END IF;

    IF vis <> 3 THEN
        INSERT INTO account_stats (account_id, statuses_count, last_status_at)
        VALUES ($1, 1, now() AT TIME ZONE 'UTC')
        ON CONFLICT (account_id) DO UPDATE SET
            statuses_count = account_stats.statuses_count + 1,
            last_status_at = excluded.last_status_at,
            updated_at = now() AT TIME ZONE 'UTC';
    END IF;

    id := sid;
    in_reply_to_id := p_id;
    RETURN NEXT;
END $$;
