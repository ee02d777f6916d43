-- Processing what the inbox stored (the worker's incoming side): remote
-- accounts and statuses by their URIs, activities processed once, URIs
-- deleted for good.

-- inbox_activities and domain_blocks are fed-inbox's (sql/0011_inbox.sql);
-- made here too, identically, when that migration is not there yet.
CREATE TABLE IF NOT EXISTS inbox_activities (
    id                bigserial PRIMARY KEY,
    body              text NOT NULL,
    account_id        bigint REFERENCES accounts (id) ON DELETE CASCADE,
    signer_account_id bigint REFERENCES accounts (id) ON DELETE CASCADE,
    actor_uri         character varying NOT NULL,
    key_id            character varying NOT NULL,
    received_at       timestamp without time zone DEFAULT (now() AT TIME ZONE 'UTC') NOT NULL
);

CREATE TABLE IF NOT EXISTS domain_blocks (
    id              bigserial PRIMARY KEY,
    domain          character varying DEFAULT '' NOT NULL,
    created_at      timestamp without time zone DEFAULT (now() AT TIME ZONE 'UTC') NOT NULL,
    updated_at      timestamp without time zone DEFAULT (now() AT TIME ZONE 'UTC') NOT NULL,
    severity        integer DEFAULT 0,
    reject_media    boolean DEFAULT false NOT NULL,
    reject_reports  boolean DEFAULT false NOT NULL,
    private_comment text,
    public_comment  text,
    obfuscate       boolean DEFAULT false NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS index_domain_blocks_on_domain ON domain_blocks (domain);

-- keypairs and the domain-block rule, likewise (sql/0011_inbox.sql's, made
-- here only when absent: the rule stays 0011's).
CREATE TABLE IF NOT EXISTS keypairs (
    id              bigserial PRIMARY KEY,
    account_id      bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    type            integer NOT NULL,
    uri             character varying,
    local_fragment  character varying,
    public_key      character varying NOT NULL,
    private_key     character varying,
    revoked         boolean DEFAULT false NOT NULL,
    expires_at      timestamp without time zone,
    created_at      timestamp without time zone DEFAULT (now() AT TIME ZONE 'UTC') NOT NULL,
    updated_at      timestamp without time zone DEFAULT (now() AT TIME ZONE 'UTC') NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS index_keypairs_on_uri ON keypairs (uri);
CREATE INDEX IF NOT EXISTS index_keypairs_on_account_id ON keypairs (account_id);

DO $shim$
BEGIN
    IF to_regprocedure('mastodon_domain_suspended(text)') IS NULL THEN
        EXECUTE $f$CREATE FUNCTION mastodon_domain_block(host text)
    RETURNS TABLE (id bigint, domain character varying, severity integer,
                   reject_media boolean, reject_reports boolean)
    LANGUAGE sql STABLE ROWS 1 AS $b$
SELECT b.id, b.domain, b.severity, b.reject_media, b.reject_reports
  FROM domain_blocks b
 WHERE b.domain IN (
        SELECT array_to_string((string_to_array(lower(host), '.'))[i:], '.')
          FROM generate_series(1, cardinality(string_to_array(host, '.'))) i)
 ORDER BY length(b.domain) DESC
 LIMIT 1
$b$;$f$;
        EXECUTE $f$CREATE FUNCTION mastodon_domain_suspended(host text) RETURNS boolean
    LANGUAGE sql STABLE AS $b$
SELECT EXISTS (SELECT 1 FROM mastodon_domain_block(host) WHERE severity = 1)
$b$;$f$;
    END IF;
END
$shim$;

-- One remote account per actor URI: what a document or an activity names
-- is found (and upserted) by it.
CREATE UNIQUE INDEX index_accounts_on_remote_uri ON accounts (uri)
    WHERE domain IS NOT NULL;

-- Activities already processed, by their id: a replay does nothing.  The
-- row goes in with the activity's effects, in one transaction.
CREATE TABLE ap_processed_activities (
    uri          character varying PRIMARY KEY,
    processed_at timestamp without time zone DEFAULT (now() AT TIME ZONE 'UTC') NOT NULL
);
CREATE INDEX index_ap_processed_activities_on_processed_at
    ON ap_processed_activities (processed_at);

-- Mastodon's tombstones: a remote status deleted by its author stays
-- deleted (a late Create, Update or Announce of it is ignored).
CREATE TABLE tombstones (
    id           bigserial PRIMARY KEY,
    account_id   bigint REFERENCES accounts (id) ON DELETE CASCADE,
    uri          character varying NOT NULL,
    created_at   timestamp without time zone DEFAULT (now() AT TIME ZONE 'UTC') NOT NULL,
    updated_at   timestamp without time zone DEFAULT (now() AT TIME ZONE 'UTC') NOT NULL,
    by_moderator boolean
);
CREATE UNIQUE INDEX index_tombstones_on_uri ON tombstones (uri);
CREATE INDEX index_tombstones_on_account_id ON tombstones (account_id);
