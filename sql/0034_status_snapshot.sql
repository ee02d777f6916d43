-- A status' version as Mastodon's Status#snapshot! records it in
-- status_edits: text, spoiler, sensitive, the poll's options, the
-- attachments in their order with their descriptions.  p_first: the
-- version before the first edit (record_previous_edit!, dated the status'
-- creation, written only while the status has no edits); otherwise the
-- version just made (dated now).  Answers the row's id (NULL: none
-- written).  Used by the worker for incoming Updates (worker/inbox_note.c).

CREATE FUNCTION mastodon_status_snapshot(p_status bigint, p_first boolean)
    RETURNS bigint LANGUAGE sql AS $$
    INSERT INTO status_edits (status_id, account_id, text, spoiler_text,
        sensitive, poll_options, ordered_media_attachment_ids,
        media_descriptions, created_at, updated_at)
    SELECT s.id, s.account_id, s.text, s.spoiler_text, s.sensitive,
           (SELECT pl.options FROM polls pl WHERE pl.id = s.poll_id),
           m.ids,
           ARRAY(SELECT ma.description FROM unnest(m.ids)
                 WITH ORDINALITY x (id, n)
                 JOIN media_attachments ma ON ma.id = x.id ORDER BY x.n),
           CASE WHEN p_first THEN s.created_at
                ELSE now() AT TIME ZONE 'UTC' END,
           now() AT TIME ZONE 'UTC'
      FROM statuses s
     CROSS JOIN LATERAL (SELECT coalesce(s.ordered_media_attachment_ids,
               ARRAY(SELECT ca.id FROM media_attachments ca
                     WHERE ca.status_id = s.id ORDER BY ca.id)) AS ids) m
     WHERE s.id = p_status
       AND NOT (p_first AND EXISTS (SELECT 1 FROM status_edits e
                                    WHERE e.status_id = s.id))
    RETURNING id
$$;
