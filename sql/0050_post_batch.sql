-- Posting (issue 10): several requests' posts in one statement.
--
-- mastodon_post_statuses(): mastodon_post_status() (0045) for an array of
-- posts, set-based, and from now on the one home of what a post writes
-- (mastodon_post_status() is a call of it with one post): one statement per step for the whole batch instead of
-- one per post, the counters aggregated per parent and per author and
-- locked in id order (two batches never wait for each other in a cycle).
-- It writes, per post, exactly the rows and jobs mastodon_post_status()
-- writes; a post it refuses (media, the status replied to) gets its row
-- with why/missing and writes nothing.  A media id in two posts of one
-- batch raises (the caller runs the posts one by one, as today).  The
-- media are locked while they are checked: of two concurrent posts
-- attaching one media, the second waits and finds it attached (0045's
-- UPDATE took it from the first).

CREATE TYPE mastodon_post AS (
    account_id       bigint,
    in_reply_to_id   bigint,
    text             text,
    sensitive        boolean,
    spoiler_text     text,
    visibility       integer,
    language         text,
    application_id   bigint,
    base_url         text,
    local_mentions   text[],
    remote_mentions  text[],
    tag_names        text[],
    tag_displays     text[],
    poll_options     text[],
    poll_expires_in  bigint,
    poll_multiple    boolean,
    poll_hide_totals boolean,
    media_ids        bigint[],
    scheduled_status_id bigint
);

-- a post of the batch, planned: why it is refused (NULL: it is posted),
-- what it refers to, the author's defaults applied, its new ids
CREATE TYPE mastodon_post_plan AS (
    n           integer,
    a_account_id bigint,
    a_in_reply_to_id bigint,
    a_text text,
    a_sensitive boolean,
    a_spoiler_text text,
    a_visibility integer,
    a_language text,
    a_application_id bigint,
    a_base_url text,
    a_local_mentions text[],
    a_remote_mentions text[],
    a_tag_names text[],
    a_tag_displays text[],
    a_poll_options text[],
    a_poll_expires_in bigint,
    a_poll_multiple boolean,
    a_poll_hide_totals boolean,
    a_media_ids bigint[],
    a_scheduled_status_id bigint,
    why         integer,
    missing     text,
    found_media bigint[],
    p_id        bigint,
    p_account   bigint,
    p_conv      bigint,
    username    text,
    sensitive   boolean,
    visibility  integer,
    language    text,
    sid         bigint,
    poll        bigint,
    conv        bigint
);

CREATE FUNCTION mastodon_post_statuses(posts mastodon_post[])
RETURNS TABLE (n integer, id bigint, in_reply_to_id bigint, why integer,
               missing text)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    w0          mastodon_post_plan[];     -- every post
    w           mastodon_post_plan[];     -- those posted
    any_posted  boolean;
    any_conv    boolean;
    any_reply   boolean;
    any_poll    boolean;
    any_media   boolean;
    any_mention boolean;
    any_tag     boolean;
BEGIN
    IF EXISTS (SELECT 1 FROM unnest(posts) p, unnest(p.media_ids) m
                GROUP BY m HAVING count(*) > 1) THEN
        RAISE EXCEPTION 'mastodon_post_statuses: a media id in two posts';
    END IF;

    -- validate_media! (why 1 not found, 2 a video or audio among several,
    -- 3 not processed), the status replied to when the author may see it
    -- (why 0 when not), the author's defaults, the ids in the batch's order
    SELECT array_agg(ROW(r.n, (r.post).account_id, (r.post).in_reply_to_id, (r.post).text, (r.post).sensitive, (r.post).spoiler_text, (r.post).visibility, (r.post).language, (r.post).application_id, (r.post).base_url, (r.post).local_mentions, (r.post).remote_mentions, (r.post).tag_names, (r.post).tag_displays, (r.post).poll_options, (r.post).poll_expires_in, (r.post).poll_multiple, (r.post).poll_hide_totals, (r.post).media_ids, (r.post).scheduled_status_id, r.why, r.missing, r.found_media,
               r.p_id, r.p_account, r.p_conv, r.username,
               coalesce((r.post).sensitive,
                        (r.settings->>'default_sensitive')::boolean, false),
               coalesce((r.post).visibility,
                        CASE r.settings->>'default_privacy'
                        WHEN 'unlisted' THEN 1 WHEN 'private' THEN 2
                        ELSE 0 END),
               coalesce((r.post).language, r.settings->>'default_language',
                        'en'),
               CASE WHEN r.why IS NULL THEN timestamp_id('statuses') END,
               CASE WHEN r.why IS NULL AND (r.post).poll_options IS NOT NULL
                    THEN nextval('polls_id_seq') END,
               CASE WHEN r.why IS NULL AND r.p_conv IS NULL
                    THEN nextval('conversations_id_seq') END
               )::mastodon_post_plan ORDER BY r.n),
           bool_or(r.why IS NULL),
           bool_or(r.why IS NULL AND r.p_conv IS NULL),
           bool_or(r.why IS NULL AND r.p_id IS NOT NULL),
           bool_or(r.why IS NULL AND (r.post).poll_options IS NOT NULL),
           bool_or(r.why IS NULL AND cardinality(r.found_media) > 0),
           bool_or(r.why IS NULL
                   AND (coalesce(cardinality((r.post).local_mentions), 0) > 0
                        OR coalesce(cardinality((r.post).remote_mentions), 0)
                           > 0)),
           bool_or(r.why IS NULL
                   AND coalesce(cardinality((r.post).tag_names), 0) > 0)
      INTO w0, any_posted, any_conv, any_reply, any_poll, any_media,
           any_mention, any_tag
      FROM (SELECT x.n, x.post, x.missing, x.found_media, ps.id AS p_id,
                   ps.account_id AS p_account, ps.conversation_id AS p_conv,
                   a.username,
                   CASE WHEN x.why IS NOT NULL THEN x.why
                        WHEN (x.post).in_reply_to_id IS NOT NULL
                             AND ps.id IS NULL THEN 0 END AS why,
                   CASE WHEN x.why IS NULL
                         AND ((x.post).sensitive IS NULL
                              OR (x.post).visibility IS NULL
                              OR (x.post).language IS NULL)
                        THEN (SELECT nullif(us.settings, '')::jsonb
                                FROM users us
                               WHERE us.account_id = (x.post).account_id)
                   END AS settings
              FROM (SELECT t.n, t.post, md.found_media,
                       CASE WHEN md.nfound < cardinality((t.post).media_ids)
                            THEN 1
                            WHEN md.nfound > 1 AND md.nav > 0 THEN 2
                            WHEN md.nwait > 0 THEN 3 END AS why,
                       CASE WHEN md.nfound < cardinality((t.post).media_ids)
                            THEN array_to_string(ARRAY(SELECT y
                                 FROM unnest((t.post).media_ids) y
                                WHERE y <> ALL(md.found_media)), ', ')
                       END AS missing
                      FROM (SELECT posts[i] AS post, i AS n
                              FROM generate_subscripts(posts, 1) i) t
                      LEFT JOIN LATERAL (
                        SELECT count(*) AS nfound,
                               count(*) FILTER (WHERE m.type IN (2, 4))
                                   AS nav,
                               count(*) FILTER (WHERE
                                   coalesce(m.processing, 2) <> 2) AS nwait,
                               coalesce(array_agg(m.id), '{}') AS found_media
                          FROM (SELECT lm.id, lm.type, lm.processing
                                  FROM media_attachments lm
                                 WHERE lm.id = ANY((t.post).media_ids)
                                   AND lm.account_id = (t.post).account_id
                                   AND lm.status_id IS NULL
                                   AND lm.scheduled_status_id
                                       IS NOT DISTINCT FROM
                                       (t.post).scheduled_status_id
                                   FOR UPDATE) m) md
                        ON cardinality((t.post).media_ids) > 0) x
              LEFT JOIN LATERAL (
                SELECT ps.id, ps.account_id, ps.conversation_id
                  FROM statuses ps
                 WHERE ps.id = (x.post).in_reply_to_id
                   AND ps.reblog_of_id IS NULL
                   AND EXISTS (SELECT FROM mastodon_status_visible(
                               (x.post).account_id, ps.id, ps.account_id,
                               ps.visibility, ps.deleted_at))
                OFFSET 0) ps
                ON (x.post).in_reply_to_id IS NOT NULL AND x.why IS NULL
              LEFT JOIN accounts a ON a.id = (x.post).account_id) r;

    IF any_posted THEN
        IF any_conv THEN
            INSERT INTO conversations (id, created_at)
            SELECT v.conv, now() AT TIME ZONE 'UTC' FROM unnest(w0) v
             WHERE v.conv IS NOT NULL AND v.username IS NOT NULL
             ORDER BY v.n;
        END IF;

        -- an author who is gone posts nothing, as 0045 (no id)
        INSERT INTO statuses (id, uri, text, in_reply_to_id,
            in_reply_to_account_id, reply, sensitive, spoiler_text,
            visibility, language, conversation_id, local, account_id,
            application_id, poll_id, ordered_media_attachment_ids)
        SELECT v.sid, v.a_base_url || '/users/' || v.username
               || '/statuses/' || v.sid,
            v.a_text, v.p_id, v.p_account, v.p_id IS NOT NULL,
            v.sensitive, coalesce(v.a_spoiler_text, ''), v.visibility,
            v.language, coalesce(v.p_conv, v.conv), true,
            v.a_account_id, v.a_application_id, v.poll,
            nullif(v.a_media_ids, '{}')
          FROM unnest(w0) v
         WHERE v.sid IS NOT NULL AND v.username IS NOT NULL
         ORDER BY v.n;

        w := ARRAY(SELECT v FROM unnest(w0) v
                    WHERE v.sid IS NOT NULL AND v.username IS NOT NULL
                    ORDER BY v.n);
    END IF;

    IF cardinality(w) > 0 THEN
        IF any_poll THEN
            INSERT INTO polls (id, account_id, status_id, expires_at, options,
                cached_tallies, multiple, hide_totals, votes_count,
                voters_count)
            SELECT v.poll, v.a_account_id, v.sid,
                now() AT TIME ZONE 'UTC'
                + make_interval(secs => v.a_poll_expires_in),
                v.a_poll_options,
                array_fill(0::bigint,
                    ARRAY[coalesce(cardinality(v.a_poll_options), 0)]),
                v.a_poll_multiple, v.a_poll_hide_totals, 0, 0
              FROM unnest(w) v WHERE v.poll IS NOT NULL ORDER BY v.n;
        END IF;

        IF any_media THEN
            UPDATE media_attachments ma SET status_id = v.sid,
                scheduled_status_id = NULL,
                updated_at = now() AT TIME ZONE 'UTC'
              FROM unnest(w) v
             WHERE ma.id = ANY(v.found_media);
        END IF;

        INSERT INTO status_stats (status_id)
        SELECT v.sid FROM unnest(w) v ORDER BY v.n;

        IF any_mention THEN
            INSERT INTO mentions (status_id, account_id)
            SELECT v.sid, mta.id FROM unnest(w) v,
                   mastodon_mentioned(v.a_local_mentions,
                                      v.a_remote_mentions) mta
            ON CONFLICT (account_id, status_id) DO UPDATE SET silent = false;
        END IF;

        IF any_tag THEN
            INSERT INTO tags (name, display_name)
            SELECT tn.name, tn.display FROM (
                SELECT DISTINCT ON (lower(x.nm)) x.nm AS name, x.d AS display
                  FROM unnest(w) v,
                       unnest(v.a_tag_names, v.a_tag_displays)
                       WITH ORDINALITY x (nm, d, i)
                 WHERE x.nm <> '' ORDER BY lower(x.nm), v.n, x.i) tn
             WHERE NOT EXISTS (SELECT 1 FROM tags et
                                WHERE lower(et.name) = lower(tn.name))
            ON CONFLICT (lower((name)::text) text_pattern_ops)
            DO UPDATE SET name = tags.name;

            INSERT INTO statuses_tags (status_id, tag_id)
            SELECT DISTINCT v.sid, t.id FROM unnest(w) v
              JOIN tags t ON lower(t.name) IN (
                   SELECT lower(x) FROM unnest(v.a_tag_names) x
                    WHERE x <> '')
            ON CONFLICT DO NOTHING;
        END IF;

        INSERT INTO job_outbox (queue, type, args)
        SELECT 'default', j.t, j.a FROM unnest(w) v, LATERAL (VALUES
            (1, 'distribute', json_build_object('status_id',
                                                v.sid::text)::text),
            (2, 'poll_expire', CASE WHEN v.poll IS NOT NULL
                THEN json_build_object('poll_id', v.poll::text)::text END),
            (3, 'status_forget', CASE WHEN v.p_id IS NOT NULL
                AND v.visibility <= 1
                THEN json_build_object('status_ids',
                     json_build_array(v.p_id::text))::text END)) j (k, t, a)
         WHERE j.a IS NOT NULL ORDER BY v.n, j.k;

        -- the counters last, aggregated, locked in id order (the parents'
        -- replies_count, then the authors' account_stats): they stay
        -- locked until the commit, and two batches never wait in a cycle
        IF any_reply THEN
            INSERT INTO status_stats (status_id, replies_count)
            SELECT v.p_id, count(*) FROM unnest(w) v
             WHERE v.p_id IS NOT NULL AND v.visibility <= 1
             GROUP BY v.p_id ORDER BY v.p_id
            ON CONFLICT (status_id) DO UPDATE SET
                replies_count = status_stats.replies_count
                                + excluded.replies_count,
                updated_at = now() AT TIME ZONE 'UTC';
        END IF;

        INSERT INTO account_stats (account_id, statuses_count, last_status_at)
        SELECT v.a_account_id, count(*), now() AT TIME ZONE 'UTC'
          FROM unnest(w) v WHERE v.visibility <> 3
         GROUP BY v.a_account_id ORDER BY v.a_account_id
        ON CONFLICT (account_id) DO UPDATE SET
            statuses_count = account_stats.statuses_count
                             + excluded.statuses_count,
            last_status_at = excluded.last_status_at,
            updated_at = now() AT TIME ZONE 'UTC';
    END IF;

    RETURN QUERY
    SELECT i, v.sid, v.p_id, coalesce(p.why, 0), coalesce(p.missing, '')
      FROM generate_subscripts(posts, 1) i
      LEFT JOIN LATERAL (SELECT q.why, q.missing FROM unnest(w0) q
                          WHERE q.n = i) p ON true
      LEFT JOIN LATERAL (SELECT q.sid, q.p_id FROM unnest(w) q
                          WHERE q.n = i) v ON true
     ORDER BY i;
END $$;


-- The single post: the same rules, one element
CREATE OR REPLACE FUNCTION mastodon_post_status(bigint, bigint, text, boolean, text,
    integer, text, bigint, text, text[], text[], text[], text[], text[],
    bigint, boolean, boolean, bigint[], bigint)
RETURNS TABLE (id bigint, in_reply_to_id bigint, why integer, missing text)
LANGUAGE sql AS $$
SELECT r.id, r.in_reply_to_id, r.why, r.missing
  FROM mastodon_post_statuses(ARRAY[ROW($1, $2, $3, $4, $5, $6, $7, $8, $9,
       $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)::mastodon_post]) r
$$;
