-- Search without Elasticsearch (issue 13): what Mastodon's StatusesIndex,
-- PublicStatusesIndex, AccountsIndex and TagsIndex do, in PostgreSQL.
--
-- Statuses: search_vector, kept by a trigger on every insert and on every
-- change of the text, the spoiler or the language (edits follow at once;
-- deleted statuses are left out by deleted_at), is the status' words twice:
-- stemmed by the text search configuration of its language (english,
-- french, ...) and as written ('simple').  A query matches its words as
-- written or stemmed by the configuration of the language asked for
-- (language:) or else English (as Mastodon's text.stemmed field).  `mastodon-worker search
-- deploy` recomputes the column (after a change of these functions).
-- mastodon_search_statuses() is the whole search, called alike by the
-- module and the benchmark.

CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- The configuration stemming a language (ISO 639-1, a region ignored);
-- 'simple' for one PostgreSQL has no stemmer for.
CREATE FUNCTION mastodon_search_config(lang text) RETURNS regconfig
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
SELECT (CASE lower(split_part(coalesce(lang, ''), '-', 1))
        WHEN 'ar' THEN 'arabic' WHEN 'hy' THEN 'armenian'
        WHEN 'eu' THEN 'basque' WHEN 'ca' THEN 'catalan'
        WHEN 'da' THEN 'danish' WHEN 'nl' THEN 'dutch'
        WHEN 'en' THEN 'english' WHEN 'fi' THEN 'finnish'
        WHEN 'fr' THEN 'french' WHEN 'de' THEN 'german'
        WHEN 'el' THEN 'greek' WHEN 'hi' THEN 'hindi'
        WHEN 'hu' THEN 'hungarian' WHEN 'id' THEN 'indonesian'
        WHEN 'ga' THEN 'irish' WHEN 'it' THEN 'italian'
        WHEN 'lt' THEN 'lithuanian' WHEN 'ne' THEN 'nepali'
        WHEN 'no' THEN 'norwegian' WHEN 'nb' THEN 'norwegian'
        WHEN 'nn' THEN 'norwegian' WHEN 'pt' THEN 'portuguese'
        WHEN 'ro' THEN 'romanian' WHEN 'ru' THEN 'russian'
        WHEN 'sr' THEN 'serbian' WHEN 'es' THEN 'spanish'
        WHEN 'sv' THEN 'swedish' WHEN 'ta' THEN 'tamil'
        WHEN 'tr' THEN 'turkish' WHEN 'yi' THEN 'yiddish'
        ELSE 'simple' END)::regconfig
$$;

-- A status' searchable text (Status#searchable_text's spoiler and text):
-- the HTML of remote statuses without its tags and entities.
CREATE FUNCTION mastodon_search_text(body text, spoiler text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
SELECT replace(replace(replace(replace(replace(replace(
           regexp_replace(coalesce(spoiler, '') || E'\n\n'
                          || coalesce(body, ''), '<[^>]*>', ' ', 'g'),
           '&amp;', '&'), '&lt;', '<'), '&gt;', '>'), '&quot;', '"'),
           '&#39;', ''''), '&nbsp;', ' ')
$$;

-- (plpgsql: the text is made once; an SQL function using an argument twice
-- is not inlined when the argument is an expression, and runs slowly)
CREATE FUNCTION mastodon_search_vector(body text, spoiler text, lang text)
    RETURNS tsvector LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    t text := mastodon_search_text(body, spoiler);
BEGIN
    RETURN to_tsvector(mastodon_search_config(lang), t)
           || to_tsvector('simple'::regconfig, t);
END
$$;

ALTER TABLE statuses ADD COLUMN search_vector tsvector;

CREATE FUNCTION mastodon_search_vector_keep() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.reblog_of_id IS NULL THEN
        NEW.search_vector := mastodon_search_vector(NEW.text, NEW.spoiler_text,
                                                    NEW.language);
    ELSE
        NEW.search_vector := NULL;
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER statuses_search_vector
    BEFORE INSERT OR UPDATE OF text, spoiler_text, language, reblog_of_id
    ON statuses FOR EACH ROW EXECUTE FUNCTION mastodon_search_vector_keep();

UPDATE statuses SET search_vector = mastodon_search_vector(text, spoiler_text,
                                                           language)
 WHERE reblog_of_id IS NULL;

CREATE INDEX index_statuses_on_search_vector ON statuses USING gin (search_vector)
    WHERE deleted_at IS NULL AND reblog_of_id IS NULL;

-- What has: and is: test (Status#searchable_properties); link: a URL in
-- the text (there are no preview cards here), embed: never.
CREATE FUNCTION mastodon_search_properties(st_id bigint, st_poll_id bigint,
        st_sensitive boolean, st_reply boolean, st_text text)
    RETURNS text[] LANGUAGE sql STABLE AS $$
SELECT array_remove(ARRAY[
         CASE WHEN 0 = ANY (m.types) THEN 'image' END,
         CASE WHEN m.types && ARRAY[1, 2] THEN 'video' END,
         CASE WHEN 4 = ANY (m.types) THEN 'audio' END,
         CASE WHEN cardinality(m.types) > 0 THEN 'media' END,
         CASE WHEN st_poll_id IS NOT NULL THEN 'poll' END,
         CASE WHEN mastodon_search_text(st_text, '') ~* 'https?://[^[:space:]]'
              THEN 'link' END,
         CASE WHEN st_sensitive THEN 'sensitive' END,
         CASE WHEN st_reply THEN 'reply' END], NULL)
  FROM (SELECT coalesce(array_agg(ma.type), '{}') AS types
          FROM media_attachments ma WHERE ma.status_id = st_id) m
$$;

-- The account from: names: "me" (the searcher), user or @user (local),
-- user@host; -1 when there is none, so that nothing is found
-- (SearchQueryTransformer's account_id_from_term).  local_domain: ours.
CREATE FUNCTION mastodon_search_from(term text, viewer bigint,
        local_domain text)
    RETURNS bigint LANGUAGE sql STABLE AS $$
SELECT CASE WHEN term = 'me' THEN coalesce(viewer, -1)
       ELSE coalesce((
           SELECT a.id FROM accounts a
            WHERE lower(a.username) = lower(split_part(ltrim(term, '@'), '@', 1))
              AND coalesce(lower(a.domain), '') =
                  CASE WHEN lower(split_part(ltrim(term, '@'), '@', 2))
                            IN ('', lower(local_domain)) THEN ''
                       ELSE lower(split_part(ltrim(term, '@'), '@', 2)) END
            LIMIT 1), -1)
       END
$$;

-- StatusesSearchService: the statuses matching, newest first.  viewer: the
-- searcher; words: every word that must be there (phrases' too), '' for
-- none; phrases: each must be there in order; excluded: terms and phrases
-- that must not; lang: the language stemming the words (NULL: English, as
-- Mastodon's text.stemmed; a constant, so that the query is one when
-- planned and its selectivity known); props, not_props: has:/is: values;
-- langs, not_langs: language:; authors, not_authors: from: terms
-- (mastodon_search_from, local_domain ours); account: the API's
-- account_id or NULL; since (>=), until (<):
-- before:/after:/during: as instants, not_days: -during: days' starts;
-- scope: 0 both, 1 in:library (the statuses the searcher wrote, was
-- mentioned in, favourited, bookmarked, reblogged or voted in: Mastodon's
-- searchable_by), 2 in:public (public statuses of accounts that opted in
-- with indexable).  Only statuses the searcher may see (the one rule,
-- mastodon_status_visible); the viewer's blocks and mutes are the status
-- loader's, as StatusFilter is after Mastodon's search.
CREATE FUNCTION mastodon_search_statuses(viewer bigint, words text,
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
   AND st.created_at >= ALL (since)
   AND st.created_at < ALL (until)
   AND NOT EXISTS (SELECT 1 FROM unnest(not_days) d
                    WHERE st.created_at >= d AND st.created_at < d + interval '1 day')
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

-- Accounts (the database path of AccountSearchService): usernames,
-- display names (any word of them) and domains starting with the query
-- (user@domain: both parts), through trigram indexes (pg_trgm serves
-- LIKE); when nothing starts so, the usernames and display names that look
-- like it (trigram similarity), so that a typo still finds.
CREATE INDEX index_accounts_on_username_trgm ON accounts
    USING gin (lower(username) gin_trgm_ops);
CREATE INDEX index_accounts_on_display_name_trgm ON accounts
    USING gin (lower(display_name) gin_trgm_ops);
CREATE INDEX index_accounts_on_domain_trgm ON accounts
    USING gin (lower(domain) gin_trgm_ops);

-- LIKE's wildcards in s taken literally ('\' the escape)
CREATE FUNCTION mastodon_like_escape(s text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
SELECT replace(replace(replace(s, '\', '\\'), '%', '\%'), '_', '\_')
$$;

-- The accounts q finds, best first: the username itself, then (with a
-- viewer) the accounts it follows or that follow it (Mastodon's
-- advanced_search_for), then local ones, then Account::Search's boost
-- (followers, reputation, recent activity), then likeness.  following:
-- only the accounts the viewer follows.  Suspended and moved accounts and
-- local ones not approved or confirmed are never found.
CREATE FUNCTION mastodon_search_accounts(viewer bigint, q text,
        following boolean, lim integer, off integer)
    RETURNS SETOF bigint LANGUAGE sql STABLE AS $$
WITH query AS (
    SELECT lower(split_part(q, '@', 1)) AS u,
           nullif(lower(split_part(q, '@', 2)), '') AS d,
           mastodon_like_escape(lower(split_part(q, '@', 1))) AS lu,
           mastodon_like_escape(lower(split_part(q, '@', 2))) AS ld
),
candidates AS (
    SELECT a.id, false AS fuzzy FROM query, accounts a
     WHERE query.u <> ''
       AND ((lower(a.username) LIKE query.lu || '%'
             AND (query.d IS NULL OR lower(a.domain) LIKE query.ld || '%'))
            OR (query.d IS NULL
                AND (lower(a.display_name) LIKE query.lu || '%'
                     OR lower(a.display_name) LIKE '% ' || query.lu || '%'
                     OR lower(a.domain) LIKE query.lu || '%')))
    UNION
    SELECT a.id, true FROM query, accounts a
     WHERE query.u <> '' AND query.d IS NULL
       AND (lower(a.username) % query.u OR lower(a.display_name) % query.u)
       AND NOT EXISTS (
           SELECT 1 FROM accounts p
            WHERE p.suspended_at IS NULL
              AND (lower(p.username) LIKE query.lu || '%'
                   OR lower(p.display_name) LIKE query.lu || '%'
                   OR lower(p.display_name) LIKE '% ' || query.lu || '%'
                   OR lower(p.domain) LIKE query.lu || '%'))
)
SELECT a.id
  FROM query, candidates c
  JOIN accounts a ON a.id = c.id
  LEFT JOIN account_stats s ON s.account_id = a.id
 WHERE a.suspended_at IS NULL AND a.moved_to_account_id IS NULL
   AND (a.domain IS NOT NULL
        OR EXISTS (SELECT 1 FROM users u WHERE u.account_id = a.id
                    AND u.approved AND u.confirmed_at IS NOT NULL))
   AND (NOT following
        OR EXISTS (SELECT 1 FROM follows ff
                    WHERE ff.account_id = viewer AND ff.target_account_id = a.id))
 ORDER BY
   lower(a.username) = query.u
     AND coalesce(lower(a.domain), '') = coalesce(query.d, lower(a.domain), '') DESC,
   (viewer IS NOT NULL
    AND EXISTS (SELECT 1 FROM follows fo
                 WHERE (fo.account_id = viewer AND fo.target_account_id = a.id)
                    OR (fo.account_id = a.id AND fo.target_account_id = viewer)))
     DESC,
   a.domain IS NULL DESC,
   ((greatest(0, coalesce(s.followers_count, 0))
     / (greatest(0, coalesce(s.following_count, 0)) + 1.0)
     + log(greatest(0, coalesce(s.followers_count, 0)) + 2)
     + CASE WHEN s.last_status_at IS NULL THEN 0
            ELSE exp(-1.0 * ((greatest(0, abs(extract(DAY FROM age(s.last_status_at))) - 30.0) ^ 2)
                             / (2.0 * ((-1.0 * 30 ^ 2) / (2.0 * ln(0.3))))))
       END) / 3.0) DESC,
   greatest(similarity(lower(a.username), query.u),
            similarity(lower(a.display_name), query.u)) DESC,
   a.id
 LIMIT lim OFFSET off
$$;

-- Hashtags (Tag.search_for): listable tags whose name starts with the
-- normalized query, the exact one first, then by uses in the last week,
-- then shorter names first; exclude_unreviewed: reviewed ones (and the
-- exact one) only.
CREATE FUNCTION mastodon_search_tags(q text, exclude_unreviewed boolean,
        lim integer, off integer)
    RETURNS SETOF bigint LANGUAGE sql STABLE AS $$
SELECT t.id FROM tags t
 WHERE lower(t.name) LIKE mastodon_like_escape(lower(q)) || '%'
   AND coalesce(t.listable, true)
   AND (NOT exclude_unreviewed OR t.reviewed_at IS NOT NULL
        OR lower(t.name) = lower(q))
 ORDER BY lower(t.name) = lower(q) DESC,
          (SELECT count(*) FROM statuses_tags stt
            WHERE stt.tag_id = t.id
              AND stt.status_id >= (extract(epoch FROM now() - interval '7 days')
                                    * 1000)::bigint << 16) DESC,
          length(t.name), t.name
 LIMIT lim OFFSET off
$$;

-- The Tag entity (REST::TagSerializer): id, name (its display name), url,
-- and the history of the last 7 days, today first (Trends::History: the
-- day's start as a Unix time, uses: statuses, accounts: their authors).
CREATE FUNCTION mastodon_tag_json(t tags, base_url text) RETURNS text
    LANGUAGE sql STABLE AS $$
SELECT json_build_object(
    'id', t.id::text,
    'name', coalesce(nullif(t.display_name, ''), t.name),
    'url', base_url || '/tags/' || t.name,
    'history', (
        SELECT json_agg(json_build_object(
                   'day', extract(epoch FROM d.day)::bigint::text,
                   'uses', (SELECT count(*) FROM statuses_tags hs
                              JOIN statuses hst ON hst.id = hs.status_id
                             WHERE hs.tag_id = t.id
                               AND hst.created_at >= d.day
                               AND hst.created_at < d.day + interval '1 day'
                               AND hst.deleted_at IS NULL)::text,
                   'accounts', (SELECT count(DISTINCT hst.account_id)
                                  FROM statuses_tags hs
                                  JOIN statuses hst ON hst.id = hs.status_id
                                 WHERE hs.tag_id = t.id
                                   AND hst.created_at >= d.day
                                   AND hst.created_at < d.day + interval '1 day'
                                   AND hst.deleted_at IS NULL)::text)
                   ORDER BY d.day DESC)
          FROM generate_series(date_trunc('day', now() AT TIME ZONE 'UTC')
                                   - interval '6 days',
                               date_trunc('day', now() AT TIME ZONE 'UTC'),
                               interval '1 day') AS d(day)))::text
$$;
