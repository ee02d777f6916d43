-- The job outbox: jobs are written in the same transaction as the rows they
-- concern, and mastodon-worker's relay moves them into the Redis streams
-- (in id order, then deletes them: at-least-once).  A committed write thus
-- always gets its jobs, whatever happened to Redis, nginx or the client.

CREATE TABLE job_outbox (
    id         bigserial PRIMARY KEY,
    queue      character varying NOT NULL,
    type       character varying NOT NULL,
    args       text NOT NULL,
    created_at timestamp without time zone DEFAULT (now() AT TIME ZONE 'UTC') NOT NULL
);

-- The relay LISTENs on mastodon_outbox; NOTIFY is delivered at the commit,
-- once per transaction however many rows it inserted.
CREATE FUNCTION job_outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM inserted) THEN
        PERFORM pg_notify('mastodon_outbox', '');
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER job_outbox_notify AFTER INSERT ON job_outbox
    REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION job_outbox_notify();
