-- Polls (issue 13): Mastodon's polls and poll_votes, and the Poll entity
-- as every viewer sees it alike.

CREATE TABLE polls (
    id              bigserial PRIMARY KEY,
    account_id      bigint,
    status_id       bigint,
    expires_at      timestamp without time zone,
    options         character varying[] DEFAULT '{}' NOT NULL,
    cached_tallies  bigint[] DEFAULT '{}' NOT NULL,
    multiple        boolean DEFAULT false NOT NULL,
    hide_totals     boolean DEFAULT false NOT NULL,
    votes_count     bigint DEFAULT 0 NOT NULL,
    last_fetched_at timestamp without time zone,
    created_at      timestamp without time zone DEFAULT (now() AT TIME ZONE 'UTC') NOT NULL,
    updated_at      timestamp without time zone DEFAULT (now() AT TIME ZONE 'UTC') NOT NULL,
    lock_version    integer DEFAULT 0 NOT NULL,
    voters_count    bigint
);

CREATE INDEX index_polls_on_account_id ON polls (account_id);
CREATE INDEX index_polls_on_status_id ON polls (status_id);

ALTER TABLE polls ADD FOREIGN KEY (account_id) REFERENCES accounts (id) ON DELETE CASCADE;
ALTER TABLE polls ADD FOREIGN KEY (status_id) REFERENCES statuses (id) ON DELETE CASCADE;

CREATE TABLE poll_votes (
    id          bigserial PRIMARY KEY,
    account_id  bigint,
    poll_id     bigint,
    choice      integer DEFAULT 0 NOT NULL,
    created_at  timestamp without time zone DEFAULT (now() AT TIME ZONE 'UTC') NOT NULL,
    updated_at  timestamp without time zone DEFAULT (now() AT TIME ZONE 'UTC') NOT NULL,
    uri         character varying
);

CREATE INDEX index_poll_votes_on_account_id ON poll_votes (account_id);
CREATE INDEX index_poll_votes_on_poll_id ON poll_votes (poll_id);

-- Not in Mastodon's schema: one vote per option and account even under
-- concurrent requests; also the viewer's votes among a page's polls.
CREATE UNIQUE INDEX index_poll_votes_on_poll_id_and_account_id_and_choice
    ON poll_votes (poll_id, account_id, choice);

ALTER TABLE poll_votes ADD FOREIGN KEY (account_id) REFERENCES accounts (id) ON DELETE CASCADE;
ALTER TABLE poll_votes ADD FOREIGN KEY (poll_id) REFERENCES polls (id) ON DELETE CASCADE;

-- The Poll entity without the viewer's voted and own_votes (REST::
-- PollSerializer): the module caches it inside the status' rendering and
-- adds those two before its closing brace, so "emojis" stays last.  The
-- options' counts are null while the totals are hidden and the poll runs
-- (Poll#loaded_options, show_totals_now?).
CREATE FUNCTION mastodon_poll_json(p polls) RETURNS text
    LANGUAGE sql STABLE AS $$
SELECT json_build_object(
    'id', p.id::text,
    'expires_at', to_char(p.expires_at, 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
    'expired', p.expires_at IS NOT NULL
               AND p.expires_at <= now() AT TIME ZONE 'UTC',
    'multiple', p.multiple,
    'votes_count', p.votes_count,
    'voters_count', p.voters_count,
    'options', coalesce((SELECT json_agg(json_build_object(
        'title', o.title,
        'votes_count', CASE WHEN NOT p.hide_totals OR (p.expires_at IS NOT NULL
                        AND p.expires_at <= now() AT TIME ZONE 'UTC')
                       THEN coalesce(p.cached_tallies[o.i], 0) END)
        ORDER BY o.i)
        FROM unnest(p.options) WITH ORDINALITY o (title, i)), '[]'::json),
    'emojis', '[]'::json)::text
$$;
