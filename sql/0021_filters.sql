-- Filters (issue 13): Mastodon's custom_filters with their keywords and
-- statuses, and the rules of Api::V2::FiltersController,
-- Api::V1::FiltersController and CustomFilter's validations in one place
-- each, so that the module's handlers stay a statement and its answer.

CREATE TABLE custom_filters (
    id          bigserial PRIMARY KEY,
    account_id  bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    expires_at  timestamp without time zone,
    phrase      text DEFAULT '' NOT NULL,
    context     character varying[] DEFAULT '{}' NOT NULL,
    created_at  timestamp without time zone DEFAULT (now() AT TIME ZONE 'UTC') NOT NULL,
    updated_at  timestamp without time zone DEFAULT (now() AT TIME ZONE 'UTC') NOT NULL,
    action      integer DEFAULT 0 NOT NULL      -- 0 warn, 1 hide, 2 blur
);

CREATE INDEX index_custom_filters_on_account_id ON custom_filters (account_id);

CREATE TABLE custom_filter_keywords (
    id                bigserial PRIMARY KEY,
    custom_filter_id  bigint NOT NULL REFERENCES custom_filters (id) ON DELETE CASCADE,
    keyword           text DEFAULT '' NOT NULL,
    whole_word        boolean DEFAULT true NOT NULL,
    created_at        timestamp without time zone DEFAULT (now() AT TIME ZONE 'UTC') NOT NULL,
    updated_at        timestamp without time zone DEFAULT (now() AT TIME ZONE 'UTC') NOT NULL
);

CREATE INDEX index_custom_filter_keywords_on_custom_filter_id
    ON custom_filter_keywords (custom_filter_id);

CREATE TABLE custom_filter_statuses (
    id                bigserial PRIMARY KEY,
    custom_filter_id  bigint NOT NULL REFERENCES custom_filters (id) ON DELETE CASCADE,
    status_id         bigint NOT NULL REFERENCES statuses (id) ON DELETE CASCADE,
    created_at        timestamp without time zone DEFAULT (now() AT TIME ZONE 'UTC') NOT NULL,
    updated_at        timestamp without time zone DEFAULT (now() AT TIME ZONE 'UTC') NOT NULL
);

CREATE INDEX index_custom_filter_statuses_on_custom_filter_id
    ON custom_filter_statuses (custom_filter_id);
CREATE INDEX index_custom_filter_statuses_on_status_id
    ON custom_filter_statuses (status_id);

CREATE FUNCTION mastodon_filter_time(t timestamp) RETURNS text
    LANGUAGE sql IMMUTABLE AS $$
SELECT to_char(t, 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
$$;

CREATE FUNCTION mastodon_filter_keyword_json(k custom_filter_keywords)
    RETURNS json LANGUAGE sql STABLE AS $$
SELECT json_build_object('id', k.id::text, 'keyword', k.keyword,
                         'whole_word', k.whole_word)
$$;

CREATE FUNCTION mastodon_filter_status_json(s custom_filter_statuses)
    RETURNS json LANGUAGE sql STABLE AS $$
SELECT json_build_object('id', s.id::text, 'status_id', s.status_id::text)
$$;

-- REST::FilterSerializer; rules: with keywords and statuses
CREATE FUNCTION mastodon_filter_json(f custom_filters, rules boolean)
    RETURNS json LANGUAGE sql STABLE AS $$
SELECT CASE WHEN rules THEN json_build_object('id', f.id::text,
        'title', f.phrase, 'context', to_json(f.context),
        'expires_at', mastodon_filter_time(f.expires_at),
        'filter_action', (ARRAY['warn', 'hide', 'blur'])[f.action + 1],
        'keywords', (SELECT coalesce(json_agg(
                        mastodon_filter_keyword_json(k) ORDER BY k.id), '[]')
                       FROM custom_filter_keywords k
                      WHERE k.custom_filter_id = f.id),
        'statuses', (SELECT coalesce(json_agg(
                        mastodon_filter_status_json(s) ORDER BY s.id), '[]')
                       FROM custom_filter_statuses s
                      WHERE s.custom_filter_id = f.id))
    ELSE json_build_object('id', f.id::text,
        'title', f.phrase, 'context', to_json(f.context),
        'expires_at', mastodon_filter_time(f.expires_at),
        'filter_action', (ARRAY['warn', 'hide', 'blur'])[f.action + 1])
    END
$$;

-- REST::V1::FilterSerializer: one keyword of its filter
CREATE FUNCTION mastodon_filter_v1_json(k custom_filter_keywords,
        f custom_filters)
    RETURNS json LANGUAGE sql STABLE AS $$
SELECT json_build_object('id', k.id::text, 'phrase', k.keyword,
        'context', to_json(f.context),
        'whole_word', k.whole_word,
        'expires_at', mastodon_filter_time(f.expires_at),
        'irreversible', f.action = 1)
$$;

-- Expireable#expires_in=: a present interval is that many seconds from now
-- (to_i: a non-number is 0), a blank one no expiry
CREATE FUNCTION mastodon_filter_expiry(expires_in text) RETURNS timestamp
    LANGUAGE sql STABLE AS $$
SELECT CASE WHEN btrim(coalesce(expires_in, ''), E' \t\n\r\f\v') = ''
            THEN NULL
            ELSE (now() AT TIME ZONE 'UTC') + make_interval(secs =>
                 least(coalesce(substring(btrim(expires_in, E' \t\n\r\f\v')
                                          from '^[+-]?[0-9]{1,12}'),
                                '0')::bigint, 3153600000)) END
$$;

-- CustomFilter's validations on a row as it would be saved: the message
-- of ActiveRecord::RecordInvalid, or NULL
CREATE FUNCTION mastodon_filter_invalid(title text, context varchar[])
    RETURNS text LANGUAGE sql IMMUTABLE AS $$
SELECT CASE WHEN m = '{}' THEN NULL
            ELSE 'Validation failed: ' || array_to_string(m, ', ') END
  FROM (SELECT array_remove(ARRAY[
          CASE WHEN btrim(coalesce(title, ''), E' \t\n\r\f\v') = ''
               THEN 'Title can''t be blank' END,
          CASE WHEN coalesce(cardinality(context), 0) = 0
               THEN 'Context can''t be blank' END,
          CASE WHEN coalesce(cardinality(context), 0) = 0
                    OR NOT context <@ ARRAY['home', 'notifications', 'public',
                                            'thread', 'account']::varchar[]
               THEN 'Context None or invalid context supplied' END], NULL)
          AS m) v
$$;

-- context[] as CustomFilter normalizes it: stripped, blanks left out
CREATE FUNCTION mastodon_filter_context(context text[]) RETURNS varchar[]
    LANGUAGE sql IMMUTABLE AS $$
SELECT coalesce(array_agg(c ORDER BY n), '{}')
  FROM (SELECT btrim(x, E' \t\n\r\f\v') AS c, n
          FROM unnest(context) WITH ORDINALITY u(x, n)) t
 WHERE c <> ''
$$;

/*
 * POST /api/v2/filters (fid NULL) and PUT /api/v2/filters/:id: a NULL
 * argument leaves the attribute as it is (on create, its default);
 * has_expires says expires_in was given.  keywords is
 * keywords_attributes as JSON objects {id, keyword, whole_word, _destroy}
 * (accepts_nested_attributes_for: all blank rejected, an unknown id
 * RecordNotFound, _destroy removes).  The answer: status (200, 404, 422)
 * and the Filter or the error.
 */
CREATE FUNCTION mastodon_filter_save(owner bigint, fid bigint,
        new_title text, new_context text[], new_action integer,
        has_expires boolean, expires_in text, keywords json,
        OUT status integer, OUT body text)
    LANGUAGE plpgsql AS $$
DECLARE
    f        custom_filters;
    kw       json;
    kid      bigint;
    word     text;
    whole    boolean;
    problem  text;
BEGIN
    IF fid IS NULL THEN
        f.account_id := owner;
        f.phrase := '';
        f.context := '{}';
        f.action := 0;
    ELSE
        SELECT * INTO f FROM custom_filters
         WHERE id = fid AND account_id = owner FOR UPDATE;
        IF NOT FOUND THEN
            status := 404;
            RETURN;
        END IF;
    END IF;

    f.phrase := coalesce(new_title, f.phrase);
    IF new_context IS NOT NULL THEN
        f.context := mastodon_filter_context(new_context);
    END IF;
    f.action := coalesce(new_action, f.action);
    IF has_expires THEN
        f.expires_at := mastodon_filter_expiry(expires_in);
    END IF;

    problem := mastodon_filter_invalid(f.phrase, f.context);

    -- the keywords' own validation, as autosave reports it
    IF problem IS NULL AND EXISTS (
            SELECT 1 FROM json_array_elements(coalesce(keywords, '[]')) e
             WHERE NOT coalesce((e->>'_destroy')::boolean, false)
               AND btrim(coalesce(e->>'keyword', ''), E' \t\n\r\f\v') = ''
               AND CASE WHEN e->>'id' IS NULL
                        THEN coalesce((e->>'whole_word')::boolean, false)
                        ELSE e->'keyword' IS NOT NULL END)
    THEN
        problem := 'Validation failed: Keywords keyword can''t be blank';
    END IF;

    IF problem IS NOT NULL THEN
        status := 422;
        body := problem;
        RETURN;
    END IF;

    IF fid IS NULL THEN
        INSERT INTO custom_filters (account_id, expires_at, phrase, context,
                                    action)
        VALUES (owner, f.expires_at, f.phrase, f.context, f.action)
        RETURNING * INTO f;
    ELSE
        UPDATE custom_filters SET expires_at = f.expires_at,
               phrase = f.phrase, context = f.context, action = f.action,
               updated_at = now() AT TIME ZONE 'UTC'
         WHERE id = f.id RETURNING * INTO f;
    END IF;

    FOR kw IN SELECT e FROM json_array_elements(coalesce(keywords, '[]')) e
    LOOP
        kid := nullif(kw->>'id', '')::bigint;
        word := kw->>'keyword';
        whole := (kw->>'whole_word')::boolean;

        IF kid IS NOT NULL THEN
            PERFORM 1 FROM custom_filter_keywords
              WHERE id = kid AND custom_filter_id = f.id;
            IF NOT FOUND THEN
                RAISE EXCEPTION USING ERRCODE = 'no_data_found',
                      MESSAGE = 'mastodon: filter keyword not found';
            END IF;

            IF coalesce((kw->>'_destroy')::boolean, false) THEN
                DELETE FROM custom_filter_keywords WHERE id = kid;
            ELSE
                UPDATE custom_filter_keywords
                   SET keyword = coalesce(word, keyword),
                       whole_word = coalesce(whole, whole_word),
                       updated_at = now() AT TIME ZONE 'UTC'
                 WHERE id = kid;
            END IF;
        ELSIF NOT coalesce((kw->>'_destroy')::boolean, false)
              AND btrim(coalesce(word, ''), E' \t\n\r\f\v') <> '' THEN
            INSERT INTO custom_filter_keywords (custom_filter_id, keyword,
                                                whole_word)
            VALUES (f.id, word, coalesce(whole, true));
        END IF;
    END LOOP;

    status := 200;
    body := mastodon_filter_json(f, true)::text;
EXCEPTION WHEN no_data_found THEN
    status := 404;
    body := NULL;
END
$$;

-- POST /api/v2/filters/:filter_id/keywords (CustomFilterKeyword validates
-- the keyword's presence; whole_word defaults to true)
CREATE FUNCTION mastodon_filter_keyword_add(owner bigint, fid bigint,
        word text, whole boolean, OUT status integer, OUT body text)
    LANGUAGE plpgsql AS $$
DECLARE
    k  custom_filter_keywords;
BEGIN
    PERFORM 1 FROM custom_filters WHERE id = fid AND account_id = owner;
    IF NOT FOUND THEN
        status := 404;
        RETURN;
    END IF;

    IF btrim(coalesce(word, ''), E' \t\n\r\f\v') = '' THEN
        status := 422;
        body := 'Validation failed: Keyword can''t be blank';
        RETURN;
    END IF;

    INSERT INTO custom_filter_keywords (custom_filter_id, keyword, whole_word)
    VALUES (fid, word, coalesce(whole, true)) RETURNING * INTO k;

    status := 200;
    body := mastodon_filter_keyword_json(k)::text;
END
$$;

-- PUT /api/v2/filter_keywords/:id: NULL leaves an attribute as it is
CREATE FUNCTION mastodon_filter_keyword_update(owner bigint, kid bigint,
        word text, whole boolean, OUT status integer, OUT body text)
    LANGUAGE plpgsql AS $$
DECLARE
    k  custom_filter_keywords;
BEGIN
    SELECT k0.* INTO k FROM custom_filter_keywords k0
      JOIN custom_filters f ON f.id = k0.custom_filter_id
     WHERE k0.id = kid AND f.account_id = owner FOR UPDATE OF k0;
    IF NOT FOUND THEN
        status := 404;
        RETURN;
    END IF;

    IF word IS NOT NULL AND btrim(word, E' \t\n\r\f\v') = '' THEN
        status := 422;
        body := 'Validation failed: Keyword can''t be blank';
        RETURN;
    END IF;

    UPDATE custom_filter_keywords SET keyword = coalesce(word, keyword),
           whole_word = coalesce(whole, whole_word),
           updated_at = now() AT TIME ZONE 'UTC'
     WHERE id = kid RETURNING * INTO k;

    status := 200;
    body := mastodon_filter_keyword_json(k)::text;
END
$$;

-- POST /api/v2/filters/:filter_id/statuses: the status must exist
-- (belongs_to), be one the owner may see (StatusPolicy#show?) and not be
-- in the filter yet
CREATE FUNCTION mastodon_filter_status_add(owner bigint, fid bigint,
        sid bigint, OUT status integer, OUT body text)
    LANGUAGE plpgsql AS $$
DECLARE
    s   custom_filter_statuses;
    st  statuses;
BEGIN
    PERFORM 1 FROM custom_filters WHERE id = fid AND account_id = owner;
    IF NOT FOUND THEN
        status := 404;
        RETURN;
    END IF;

    SELECT * INTO st FROM statuses WHERE id = sid;
    IF NOT FOUND THEN
        status := 422;
        body := 'Validation failed: Status must exist';
        RETURN;
    END IF;

    IF EXISTS (SELECT 1 FROM custom_filter_statuses
                WHERE custom_filter_id = fid AND status_id = sid) THEN
        status := 422;
        body := 'Validation failed: Status has already been taken';
        RETURN;
    END IF;

    IF NOT EXISTS (SELECT 1 FROM mastodon_status_visible(owner, st.id,
                           st.account_id, st.visibility, st.deleted_at)) THEN
        status := 422;
        body := 'Validation failed: Status is invalid';
        RETURN;
    END IF;

    INSERT INTO custom_filter_statuses (custom_filter_id, status_id)
    VALUES (fid, sid) RETURNING * INTO s;

    status := 200;
    body := mastodon_filter_status_json(s)::text;
END
$$;

/*
 * POST /api/v1/filters (kid NULL) and PUT /api/v1/filters/:id: the v1
 * filter is one keyword with its filter.  Create makes a filter titled
 * with the phrase and its keyword; update changes the keyword, then the
 * filter, refused when the filter holds other keywords
 * (deprecated_api_multiple_keywords).  irreversible: hide or warn.
 */
CREATE FUNCTION mastodon_filter_v1_save(owner bigint, kid bigint,
        new_phrase text, new_context text[], new_irreversible boolean,
        new_whole boolean, has_expires boolean, expires_in text,
        OUT status integer, OUT body text)
    LANGUAGE plpgsql AS $$
DECLARE
    f        custom_filters;
    k        custom_filter_keywords;
    changed  boolean;
    problem  text;
BEGIN
    IF kid IS NULL THEN
        f.phrase := coalesce(new_phrase, '');
        f.context := mastodon_filter_context(coalesce(new_context, '{}'));
        f.action := CASE WHEN new_irreversible THEN 1 ELSE 0 END;
        f.expires_at := CASE WHEN has_expires
                             THEN mastodon_filter_expiry(expires_in) END;

        problem := mastodon_filter_invalid(f.phrase, f.context);
        IF problem IS NOT NULL THEN
            status := 422;
            body := problem;
            RETURN;
        END IF;

        INSERT INTO custom_filters (account_id, expires_at, phrase, context,
                                    action)
        VALUES (owner, f.expires_at, f.phrase, f.context, f.action)
        RETURNING * INTO f;

        INSERT INTO custom_filter_keywords (custom_filter_id, keyword,
                                            whole_word)
        VALUES (f.id, f.phrase, coalesce(new_whole, true)) RETURNING * INTO k;

        status := 200;
        body := mastodon_filter_v1_json(k, f)::text;
        RETURN;
    END IF;

    SELECT k0.* INTO k FROM custom_filter_keywords k0
      JOIN custom_filters f0 ON f0.id = k0.custom_filter_id
     WHERE k0.id = kid AND f0.account_id = owner FOR UPDATE OF k0;
    IF NOT FOUND THEN
        status := 404;
        RETURN;
    END IF;

    SELECT * INTO f FROM custom_filters WHERE id = k.custom_filter_id
       FOR UPDATE;

    IF new_phrase IS NOT NULL AND btrim(new_phrase, E' \t\n\r\f\v') = '' THEN
        status := 422;
        body := 'Validation failed: Keyword can''t be blank';
        RETURN;
    END IF;

    k.keyword := coalesce(new_phrase, k.keyword);
    k.whole_word := coalesce(new_whole, k.whole_word);

    changed := false;
    IF new_phrase IS NOT NULL AND new_phrase <> f.phrase THEN
        f.phrase := new_phrase;
        changed := true;
    END IF;
    IF new_context IS NOT NULL
       AND mastodon_filter_context(new_context) <> f.context THEN
        f.context := mastodon_filter_context(new_context);
        changed := true;
    END IF;
    IF new_irreversible IS NOT NULL
       AND (CASE WHEN new_irreversible THEN 1 ELSE 0 END) <> f.action THEN
        f.action := CASE WHEN new_irreversible THEN 1 ELSE 0 END;
        changed := true;
    END IF;
    IF has_expires THEN
        f.expires_at := mastodon_filter_expiry(expires_in);
        changed := true;
    END IF;

    IF changed AND (SELECT count(*) FROM custom_filter_keywords
                     WHERE custom_filter_id = f.id) > 1 THEN
        status := 422;
        body := 'Legacy filters cannot be edited when they contain more'
                ' than one keyword';
        RETURN;
    END IF;

    problem := mastodon_filter_invalid(f.phrase, f.context);
    IF problem IS NOT NULL THEN
        status := 422;
        body := problem;
        RETURN;
    END IF;

    UPDATE custom_filter_keywords SET keyword = k.keyword,
           whole_word = k.whole_word, updated_at = now() AT TIME ZONE 'UTC'
     WHERE id = k.id;

    UPDATE custom_filters SET phrase = f.phrase, context = f.context,
           action = f.action, expires_at = f.expires_at,
           updated_at = now() AT TIME ZONE 'UTC'
     WHERE id = f.id;

    status := 200;
    body := mastodon_filter_v1_json(k, f)::text;
END
$$;
