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
