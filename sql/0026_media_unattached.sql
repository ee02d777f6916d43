-- Issue 11 (storage): the periodic media_cleanup job finds the uploads
-- never attached (and the media a status delete detached) by age, as
-- Mastodon's MediaCleanupScheduler; the index holds only those, a small
-- part of the table.
CREATE INDEX index_media_attachments_unattached ON media_attachments (created_at)
    WHERE status_id IS NULL AND scheduled_status_id IS NULL;
