-- Search, continued (issue 13).
--
-- 1. A status' searchable text is Mastodon's Status#searchable_text: the
--    spoiler, the text, the poll's options and the media descriptions.
--    The search vector now takes the last two (mastodon_search_extra), and
--    follows them: the statuses trigger also fires on a change of the poll
--    or of the media order, and triggers on polls (options) and
--    media_attachments (description, status) recompute the vector of their
--    status.  Custom filters match the same text (the status loader's
--    filters statement calls mastodon_search_extra too).
-- 2. before:/after:/during: are days in the searcher's time zone
--    (users.time_zone, an IANA name; UTC when none or unknown), as
--    SearchQueryTransformer passes current_account.user_time_zone; sign-up
--    (POST /api/v1/accounts) keeps time_zone.

-- The poll's options and the media descriptions of a status, in Mastodon's
-- order (ordered_media_attachment_ids, else by id), each part after a
-- blank line; '' when there are none.
CREATE FUNCTION mastodon_search_extra(st_id bigint, st_poll_id bigint,
        st_media_ids bigint[])
    RETURNS text LANGUAGE sql STABLE PARALLEL SAFE AS $$
SELECT concat_ws(E'\n\n',
    (SELECT array_to_string(p.options, E'\n\n') FROM polls p
      WHERE p.id = st_poll_id),
    (SELECT string_agg(ma.description, E'\n\n'
                       ORDER BY array_position(st_media_ids, ma.id), ma.id)
       FROM media_attachments ma
      WHERE ma.status_id = st_id AND ma.description <> ''))
$$;

-- The vector of a status' text and spoiler (mastodon_search_text: HTML
-- reduced to text) followed by its extra text (plain text as written).
CREATE FUNCTION mastodon_search_vector(body text, spoiler text, lang text,
        extra text)
    RETURNS tsvector LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    t text := mastodon_search_text(body, spoiler) || E'\n\n'
              || coalesce(extra, '');
BEGIN
    RETURN to_tsvector(mastodon_search_config(lang), t)
           || to_tsvector('simple'::regconfig, t);
END
$$;

-- The vector of the status st_id as it is now (NULL for a reblog).
CREATE FUNCTION mastodon_search_vector_of(st statuses) RETURNS tsvector
    LANGUAGE sql STABLE AS $$
SELECT CASE WHEN st.reblog_of_id IS NULL THEN
    mastodon_search_vector(st.text, st.spoiler_text, st.language,
        mastodon_search_extra(st.id, st.poll_id,
                              st.ordered_media_attachment_ids))
    END
$$;

CREATE OR REPLACE FUNCTION mastodon_search_vector_keep() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    NEW.search_vector := mastodon_search_vector_of(NEW);
    RETURN NEW;
END
$$;

DROP TRIGGER statuses_search_vector ON statuses;
CREATE TRIGGER statuses_search_vector
    BEFORE INSERT OR UPDATE OF text, spoiler_text, language, reblog_of_id,
        poll_id, ordered_media_attachment_ids
    ON statuses FOR EACH ROW EXECUTE FUNCTION mastodon_search_vector_keep();

-- A status' vector again after its poll or media changed (the statuses
-- trigger ran before they were there: they are written after the status).
CREATE FUNCTION mastodon_search_vector_refresh(st_id bigint) RETURNS void
    LANGUAGE sql AS $$
UPDATE statuses st SET search_vector = mastodon_search_vector_of(st)
 WHERE st.id = st_id AND st.reblog_of_id IS NULL
$$;

CREATE FUNCTION mastodon_search_poll_changed() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status_id IS NOT NULL THEN
        PERFORM mastodon_search_vector_refresh(NEW.status_id);
    END IF;
    IF TG_OP = 'UPDATE' AND OLD.status_id IS DISTINCT FROM NEW.status_id
       AND OLD.status_id IS NOT NULL
    THEN
        PERFORM mastodon_search_vector_refresh(OLD.status_id);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER polls_search_vector
    AFTER INSERT OR UPDATE OF options, status_id ON polls
    FOR EACH ROW EXECUTE FUNCTION mastodon_search_poll_changed();

-- Only a description that is or was there changes a status' text: media
-- attached without one (most) cost nothing more.
CREATE FUNCTION mastodon_search_media_changed() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'DELETE' AND NEW.status_id IS NOT NULL
       AND (coalesce(NEW.description, '') <> ''
            OR (TG_OP = 'UPDATE' AND coalesce(OLD.description, '') <> ''))
    THEN
        PERFORM mastodon_search_vector_refresh(NEW.status_id);
    END IF;
    IF TG_OP <> 'INSERT' AND OLD.status_id IS NOT NULL
       AND coalesce(OLD.description, '') <> ''
       AND (TG_OP = 'DELETE' OR OLD.status_id IS DISTINCT FROM NEW.status_id)
    THEN
        PERFORM mastodon_search_vector_refresh(OLD.status_id);
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER media_attachments_search_vector
    AFTER INSERT OR DELETE OR UPDATE OF description, status_id
    ON media_attachments
    FOR EACH ROW EXECUTE FUNCTION mastodon_search_media_changed();

UPDATE statuses st SET search_vector = mastodon_search_vector_of(st)
 WHERE st.reblog_of_id IS NULL
   AND (st.poll_id IS NOT NULL
        OR EXISTS (SELECT 1 FROM media_attachments ma
                    WHERE ma.status_id = st.id AND ma.description <> ''));

-- The instant a day (a timestamp at its midnight) starts in the time zone
-- of the viewer's user, as UTC (statuses.created_at); a time zone
-- PostgreSQL does not know counts as UTC.
CREATE FUNCTION mastodon_search_day_start(day timestamp, viewer bigint)
    RETURNS timestamp LANGUAGE plpgsql STABLE AS $$
DECLARE
    tz text;
BEGIN
    SELECT nullif(u.time_zone, '') INTO tz FROM users u
     WHERE u.account_id = viewer LIMIT 1;
    IF tz IS NULL THEN
        RETURN day;
    END IF;
    RETURN (day AT TIME ZONE tz) AT TIME ZONE 'UTC';
EXCEPTION WHEN invalid_parameter_value THEN
    RETURN day;
END
$$;

-- mastodon_search_statuses() of sql/0028_search.sql, its date bounds now
-- days of the searcher's time zone: since, until and not_days are the
-- days' midnights (ARRAY(...): computed once per query).
CREATE OR REPLACE FUNCTION mastodon_search_statuses(viewer bigint, words text,
        phrases text[], excluded text[], lang text, props text[],
        not_props text[], langs text[], not_langs text[], authors text[],
        not_authors text[], account bigint, local_domain text,
        since timestamp[], until timestamp[], not_days timestamp[],
        scope integer, min_id bigint, max_id bigint, lim integer, off integer)
    RETURNS SETOF bigint LANGUAGE sql STABLE AS $$
SELECT st.id FROM statuses st
 WHERE st.deleted_at IS NULL AND st.reblog_of_id IS NULL
   AND (words = ''
        OR st.search_vector @@ (plainto_tsquery('simple'::regconfig, words)
                                || plainto_tsquery(mastodon_search_config(coalesce(lang, 'en')), words)))
   AND NOT EXISTS (SELECT 1 FROM unnest(phrases) p
                    WHERE NOT st.search_vector @@ phraseto_tsquery('simple'::regconfig, p))
   AND NOT EXISTS (SELECT 1 FROM unnest(excluded) x
                    WHERE st.search_vector @@ (phraseto_tsquery('simple'::regconfig, x)
                                               || phraseto_tsquery(mastodon_search_config(coalesce(lang, 'en')), x)))
   AND (cardinality(props) + cardinality(not_props) = 0
        OR (SELECT pr @> props AND NOT pr && not_props
              FROM mastodon_search_properties(st.id, st.poll_id, st.sensitive,
                                              st.reply, st.text) pr))
   AND lower(coalesce(st.language, '')) = ALL (ARRAY(SELECT lower(l) FROM unnest(langs) l))
   AND lower(coalesce(st.language, '')) <> ALL (ARRAY(SELECT lower(l)
                                                      FROM unnest(not_langs) l))
   AND st.account_id = ALL (ARRAY(SELECT mastodon_search_from(f, viewer,
                                                               local_domain)
                                    FROM unnest(authors) f))
   AND st.account_id <> ALL (ARRAY(SELECT mastodon_search_from(f, viewer,
                                                                local_domain)
                                     FROM unnest(not_authors) f))
   AND (account IS NULL OR st.account_id = account)
   AND st.created_at >= ALL (ARRAY(SELECT mastodon_search_day_start(d, viewer)
                                     FROM unnest(since) d))
   AND st.created_at < ALL (ARRAY(SELECT mastodon_search_day_start(d, viewer)
                                    FROM unnest(until) d))
   AND NOT EXISTS (SELECT 1 FROM unnest(
           ARRAY(SELECT mastodon_search_day_start(d, viewer)
                   FROM unnest(not_days) d),
           ARRAY(SELECT mastodon_search_day_start(d + interval '1 day', viewer)
                   FROM unnest(not_days) d)) nd(s, e)
                    WHERE st.created_at >= nd.s AND st.created_at < nd.e)
   AND (min_id IS NULL OR st.id > min_id)
   AND (max_id IS NULL OR st.id < max_id)
   AND ((scope <> 2
         AND (st.account_id = viewer
              OR EXISTS (SELECT 1 FROM mentions sm
                          WHERE sm.status_id = st.id AND sm.account_id = viewer)
              OR EXISTS (SELECT 1 FROM favourites sf
                          WHERE sf.status_id = st.id AND sf.account_id = viewer)
              OR EXISTS (SELECT 1 FROM bookmarks sb
                          WHERE sb.status_id = st.id AND sb.account_id = viewer)
              OR EXISTS (SELECT 1 FROM statuses sr
                          WHERE sr.reblog_of_id = st.id AND sr.account_id = viewer
                            AND sr.deleted_at IS NULL)
              OR (st.poll_id IS NOT NULL
                  AND EXISTS (SELECT 1 FROM poll_votes sv
                               WHERE sv.poll_id = st.poll_id
                                 AND sv.account_id = viewer))))
        OR (scope <> 1 AND st.visibility = 0
            AND EXISTS (SELECT 1 FROM accounts si
                         WHERE si.id = st.account_id AND si.indexable)))
   AND EXISTS (SELECT FROM mastodon_status_visible(viewer, st.id, st.account_id,
                                                   st.visibility, st.deleted_at))
 ORDER BY st.id DESC
 LIMIT lim OFFSET off
$$;

-- A time zone PostgreSQL knows (an IANA name): sign-up keeps time_zone
-- only then, as User normalizes one it does not know to nil.
CREATE FUNCTION mastodon_time_zone_known(tz text) RETURNS boolean
    LANGUAGE plpgsql STABLE AS $$
BEGIN
    PERFORM now() AT TIME ZONE tz;
    RETURN true;
EXCEPTION WHEN invalid_parameter_value THEN
    RETURN false;
END
$$;
