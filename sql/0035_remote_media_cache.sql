-- Remote media cached here (issues 9 and 11): the one rule for whether a
-- remote account's media may be downloaded, Mastodon's skip_download?
-- (DomainBlock.reject_media?): not when the most specific block of its
-- domain (host, without a port) has reject_media.
CREATE FUNCTION mastodon_domain_rejects_media(account_domain text) RETURNS boolean
    LANGUAGE sql STABLE AS $$
SELECT coalesce((SELECT b.reject_media
                   FROM mastodon_domain_block(split_part(account_domain, ':', 1)) b),
                false)
$$;

-- `media remove` finds cached remote copies by age
CREATE INDEX index_media_attachments_cached_remote ON media_attachments (created_at)
    WHERE remote_url <> '' AND file_file_name IS NOT NULL;
