-- Posting (issue 10): several requests' posts in one call, and the one home
-- of what a post writes.
--
-- mastodon_post_statuses(mastodon_post[]) writes, per post, the rows, jobs
-- and answer that mastodon_post_status() (0045) wrote for it, and replaces
-- it (dropped below): the module calls it for a lone post as for a group
-- of concurrent posts (the group commit), the worker for a scheduled
-- status.  Set-based: one statement per step for all the posts, each step
-- run only when some post needs it (a reply, a poll, media, mentions,
-- tags), as 0045 ran them per post.  Built for one post to cost what 0045
-- cost: what is known per post (its new ids, the status it replies to, why
-- it is refused) is kept in plpgsql arrays indexed as the posts (no plan
-- rows copied into every statement), what every post writes is one
-- statement, and few plpgsql expressions run (each is compiled again in
-- every transaction).  The counters come last, aggregated per parent and
-- per author and locked in id order: two calls never wait for each other
-- in a cycle.  A post refused (media, the status replied to, an author
-- gone) gets its row with why/missing and writes nothing (but its
-- conversation when the author is gone, as 0045).  A media id in two posts
-- of one call raises (the caller then posts each alone).  The media are
-- locked while checked: of two concurrent posts attaching one media the
-- second waits and finds it attached.

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

CREATE FUNCTION mastodon_post_statuses(posts mastodon_post[])
RETURNS TABLE (n integer, id bigint, in_reply_to_id bigint, why integer,
               missing text)
-- generic plans: a custom plan knows the arrays' lengths and so looks
-- cheaper than the generic one, which was then never chosen (every call
-- planned some statements again)
LANGUAGE plpgsql SET plan_cache_mode = force_generic_plan AS $$
#variable_conflict use_column
DECLARE
    -- per post (indexed as posts): why it is refused (NULL: it is not),
    -- the media ids not found, the status replied to, the new ids
    whys        integer[];
    missings    text[];
    p_ids       bigint[];
    p_accounts  bigint[];
    p_convs     bigint[];
    sids        bigint[];
    polls       bigint[];
    convs       bigint[];
    -- the posts written (their indexes, in order) and their visibility
    ok_k        integer[];
    ok_vis      integer[];
    -- which steps some post needs (NULL: none); few plpgsql expressions,
    -- since each is compiled again in every transaction
    any_media   boolean;
    any_reply   boolean;
    any_poll    boolean;
    any_mention boolean;
    any_tag     boolean;
    any_replied boolean;
    p           mastodon_post;
    r           record;
BEGIN
    -- the new ids, drawn as 0045 drew them (a reply takes its parent's
    -- conversation); those of a post refused below stay unused
    FOR k IN 1 .. coalesce(cardinality(posts), 0) LOOP
        p := posts[k];
        IF cardinality(p.media_ids) > 0 THEN
            any_media := true;
        END IF;
        IF cardinality(p.local_mentions) > 0
           OR cardinality(p.remote_mentions) > 0 THEN
            any_mention := true;
        END IF;
        IF cardinality(p.tag_names) > 0 THEN
            any_tag := true;
        END IF;
        IF p.in_reply_to_id IS NOT NULL THEN
            any_reply := true;
        ELSE
            convs[k] := nextval('conversations_id_seq');
        END IF;
        sids[k] := timestamp_id('statuses');
        IF p.poll_options IS NOT NULL THEN
            polls[k] := nextval('polls_id_seq');
            any_poll := true;
        END IF;
    END LOOP;

    -- validate_media!: 1 not found, 2 a video or audio among several,
    -- 3 not processed; the rows locked first, in id order, so that the
    -- count (a new snapshot after a wait) finds them taken
    IF any_media THEN
        IF cardinality(posts) > 1 AND EXISTS (SELECT 1 FROM unnest(posts) x,
                                                     unnest(x.media_ids) m
                                               GROUP BY m
                                               HAVING count(*) > 1) THEN
            RAISE EXCEPTION 'mastodon_post_statuses: a media id in two posts';
        END IF;

        PERFORM FROM media_attachments m, unnest(posts) x
          WHERE m.id = ANY(x.media_ids) AND m.account_id = x.account_id
          ORDER BY m.id FOR UPDATE OF m;

        FOR r IN
            SELECT i, CASE
                   WHEN md.nfound < cardinality((posts[i]).media_ids) THEN 1
                   WHEN md.nfound > 1 AND md.nav > 0 THEN 2
                   WHEN md.nwait > 0 THEN 3 END AS why,
                   CASE WHEN md.nfound < cardinality((posts[i]).media_ids)
                        THEN array_to_string(ARRAY(SELECT y
                             FROM unnest((posts[i]).media_ids) y
                            WHERE y <> ALL(md.found)), ', ')
                   END AS missing
              FROM generate_subscripts(posts, 1) i,
                   LATERAL (SELECT count(*) AS nfound,
                       count(*) FILTER (WHERE m.type IN (2, 4)) AS nav,
                       count(*) FILTER (WHERE coalesce(m.processing, 2) <> 2)
                           AS nwait,
                       coalesce(array_agg(m.id), '{}') AS found
                      FROM media_attachments m
                     WHERE m.id = ANY((posts[i]).media_ids)
                       AND m.account_id = (posts[i]).account_id
                       AND m.status_id IS NULL
                       AND m.scheduled_status_id IS NOT DISTINCT FROM
                           (posts[i]).scheduled_status_id) md
             WHERE cardinality((posts[i]).media_ids) > 0
        LOOP
            whys[r.i] := r.why;
            missings[r.i] := r.missing;
        END LOOP;
    END IF;

    -- the status replied to, when the author may see it (else why 0)
    IF any_reply THEN
        FOR r IN
            SELECT i, ps.id, ps.account_id, ps.conversation_id
              FROM generate_subscripts(posts, 1) i
              JOIN statuses ps ON ps.id = (posts[i]).in_reply_to_id
             WHERE whys[i] IS NULL AND ps.reblog_of_id IS NULL
               AND EXISTS (SELECT FROM mastodon_status_visible(
                           (posts[i]).account_id, ps.id, ps.account_id,
                           ps.visibility, ps.deleted_at))
        LOOP
            p_ids[r.i] := r.id;
            p_accounts[r.i] := r.account_id;
            p_convs[r.i] := r.conversation_id;
        END LOOP;

        FOR k IN 1 .. cardinality(posts) LOOP
            IF whys[k] IS NULL AND (posts[k]).in_reply_to_id IS NOT NULL THEN
                IF p_ids[k] IS NULL THEN
                    whys[k] := 0;
                ELSIF p_convs[k] IS NULL THEN
                    convs[k] := nextval('conversations_id_seq');
                END IF;
            END IF;
        END LOOP;
    END IF;

    -- what every post writes, in one statement: its conversation (unless
    -- it replies), the status with the author's defaults for what the post
    -- does not say (an author who is gone posts nothing: no id, why 0), its
    -- status_stats row and its jobs (distribute; poll_expire; the parent's
    -- status_forget, for the parent's replies_count)
    WITH conv AS (
        INSERT INTO conversations (id, created_at)
        SELECT convs[i], now() AT TIME ZONE 'UTC'
          FROM generate_subscripts(convs, 1) i
         WHERE convs[i] IS NOT NULL AND whys[i] IS NULL),
    s AS (
        INSERT INTO statuses (id, uri, text, in_reply_to_id,
            in_reply_to_account_id, reply, sensitive, spoiler_text,
            visibility, language, conversation_id, local, account_id,
            application_id, poll_id, ordered_media_attachment_ids)
        SELECT sids[x.i],
            x.base_url || '/users/' || a.username || '/statuses/' || sids[x.i],
            x.text, p_ids[x.i], p_accounts[x.i], p_ids[x.i] IS NOT NULL,
            coalesce(x.sensitive,
                     (u.settings->>'default_sensitive')::boolean, false),
            coalesce(x.spoiler_text, ''),
            coalesce(x.visibility,
                     CASE u.settings->>'default_privacy'
                     WHEN 'unlisted' THEN 1 WHEN 'private' THEN 2 ELSE 0 END),
            coalesce(x.language, u.settings->>'default_language', 'en'),
            coalesce(p_convs[x.i], convs[x.i]), true, a.id,
            x.application_id, polls[x.i], nullif(x.media_ids, '{}')
          FROM unnest(posts) WITH ORDINALITY x (account_id, in_reply_to_id,
               text, sensitive, spoiler_text, visibility, language,
               application_id, base_url, local_mentions, remote_mentions,
               tag_names, tag_displays, poll_options, poll_expires_in,
               poll_multiple, poll_hide_totals, media_ids,
               scheduled_status_id, i)
          JOIN accounts a ON a.id = x.account_id
          LEFT JOIN LATERAL (SELECT nullif(us.settings, '')::jsonb
                               AS settings
                               FROM users us WHERE us.account_id = a.id
                                AND (x.sensitive IS NULL
                                     OR x.visibility IS NULL
                                     OR x.language IS NULL)) u
            ON true
         WHERE whys[x.i] IS NULL
        RETURNING statuses.id, array_position(sids, statuses.id) AS i,
                  statuses.visibility),
    st AS (
        INSERT INTO status_stats (status_id) SELECT s.id FROM s),
    jobs AS (
        INSERT INTO job_outbox (queue, type, args)
        SELECT 'default', j.t, j.a FROM s, LATERAL (VALUES
            (1, 'distribute', json_build_object('status_id',
                                                s.id::text)::text),
            (2, 'poll_expire', CASE WHEN polls[s.i] IS NOT NULL
                THEN json_build_object('poll_id', polls[s.i]::text)::text
                END),
            (3, 'status_forget', CASE WHEN p_ids[s.i] IS NOT NULL
                AND s.visibility <= 1 THEN json_build_object('status_ids',
                     json_build_array(p_ids[s.i]::text))::text END))
            j (o, t, a)
         WHERE j.a IS NOT NULL ORDER BY s.i, j.o)
    SELECT array_agg(s.i), array_agg(s.visibility)
      INTO ok_k, ok_vis FROM s;

    -- the poll after its status: its trigger refreshes the status' search
    -- vector
    IF any_poll THEN
        INSERT INTO polls (id, account_id, status_id, expires_at, options,
            cached_tallies, multiple, hide_totals, votes_count, voters_count)
        SELECT polls[i], (posts[i]).account_id, sids[i],
            now() AT TIME ZONE 'UTC'
            + make_interval(secs => (posts[i]).poll_expires_in),
            (posts[i]).poll_options,
            array_fill(0::bigint,
                ARRAY[coalesce(cardinality((posts[i]).poll_options), 0)]),
            (posts[i]).poll_multiple, (posts[i]).poll_hide_totals, 0, 0
          FROM unnest(ok_k) i WHERE polls[i] IS NOT NULL;
    END IF;

    -- a post written had all its media found: they are its media_ids
    IF any_media THEN
        UPDATE media_attachments ma SET status_id = sids[i],
            scheduled_status_id = NULL, updated_at = now() AT TIME ZONE 'UTC'
          FROM unnest(ok_k) i
         WHERE ma.id = ANY((posts[i]).media_ids);
    END IF;

    IF any_mention THEN
        INSERT INTO mentions (status_id, account_id)
        SELECT sids[i], mta.id FROM unnest(ok_k) i,
               mastodon_mentioned((posts[i]).local_mentions,
                                  (posts[i]).remote_mentions) mta
        ON CONFLICT (account_id, status_id) DO UPDATE SET silent = false;
    END IF;

    -- only the tags not there yet go through the upsert: its DO UPDATE
    -- locks the tag's row until the commit
    IF any_tag THEN
        INSERT INTO tags (name, display_name)
        SELECT tn.name, tn.display FROM (
            SELECT DISTINCT ON (lower(x.nm)) x.nm AS name, x.d AS display
              FROM unnest(ok_k) i,
                   unnest((posts[i]).tag_names, (posts[i]).tag_displays)
                   WITH ORDINALITY x (nm, d, o)
             WHERE x.nm <> '' ORDER BY lower(x.nm), i, x.o) tn
         WHERE NOT EXISTS (SELECT 1 FROM tags et
                            WHERE lower(et.name) = lower(tn.name))
        ON CONFLICT (lower((name)::text) text_pattern_ops)
        DO UPDATE SET name = tags.name;

        INSERT INTO statuses_tags (status_id, tag_id)
        SELECT sids[i], t.id FROM unnest(ok_k) i, tags t
         WHERE lower(t.name) IN (SELECT lower(x)
                                   FROM unnest((posts[i]).tag_names) x
                                  WHERE x <> '')
        ON CONFLICT DO NOTHING;
    END IF;

    -- the counters last, aggregated, locked in id order (the parents'
    -- replies_count, then the authors' account_stats): they stay locked
    -- until the commit, and two calls never wait for each other in a cycle
    IF any_reply THEN
        INSERT INTO status_stats (status_id, replies_count)
        SELECT p_ids[v.i], count(*) FROM unnest(ok_k, ok_vis) v (i, vis)
         WHERE p_ids[v.i] IS NOT NULL AND v.vis <= 1
         GROUP BY 1 ORDER BY 1
        ON CONFLICT (status_id) DO UPDATE SET
            replies_count = status_stats.replies_count
                            + excluded.replies_count,
            updated_at = now() AT TIME ZONE 'UTC';
    END IF;

    -- and the answers, one row per post in the posts' order, in the same
    -- statement as the authors' counters (a direct message counts none)
    RETURN QUERY
    WITH counted AS (
        INSERT INTO account_stats (account_id, statuses_count, last_status_at)
        SELECT (posts[v.i]).account_id, count(*), now() AT TIME ZONE 'UTC'
          FROM unnest(ok_k, ok_vis) v (i, vis) WHERE v.vis <> 3
         GROUP BY 1 ORDER BY 1
        ON CONFLICT (account_id) DO UPDATE SET
            statuses_count = account_stats.statuses_count
                             + excluded.statuses_count,
            last_status_at = excluded.last_status_at,
            updated_at = now() AT TIME ZONE 'UTC')
    SELECT i, CASE WHEN i = ANY(ok_k) THEN sids[i] END,
           CASE WHEN i = ANY(ok_k) THEN p_ids[i] END,
           coalesce(whys[i], 0), coalesce(missings[i], '')
      FROM generate_series(1, cardinality(posts)) i;
END $$;


-- The one-post function (0045) goes: a post is mastodon_post_statuses()
-- with one element, for the module and the worker's scheduled statuses
-- alike (a plpgsql wrapper returning its rows cost more than the call)
DROP FUNCTION mastodon_post_status(bigint, bigint, text, boolean, text,
    integer, text, bigint, text, text[], text[], text[], text[], text[],
    bigint, boolean, boolean, bigint[], bigint);
