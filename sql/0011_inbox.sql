-- Receiving ActivityPub: what the module's inbox stores before it answers
-- 202, the domain blocks it answers 403 for, and the keys remote actors
-- sign with.

-- An activity as received, stored in the same transaction as its
-- inbox_process job (queue ingress, args {"id": "<id>"}); the worker
-- processes it and deletes the row.  body: the raw bytes (valid UTF-8
-- JSON: the module checked it); account_id: the local account whose inbox
-- it came to, NULL for the shared inbox; the verified signer: its account,
-- actor URI and key id.
CREATE TABLE inbox_activities (
    id                bigserial PRIMARY KEY,
    body              text NOT NULL,
    account_id        bigint REFERENCES accounts (id) ON DELETE CASCADE,
    signer_account_id bigint REFERENCES accounts (id) ON DELETE CASCADE,
    actor_uri         character varying NOT NULL,
    key_id            character varying NOT NULL,
    received_at       timestamp without time zone DEFAULT (now() AT TIME ZONE 'UTC') NOT NULL
);

-- Mastodon's domain_blocks (severity 0 silence, 1 suspend, 2 noop).
CREATE TABLE domain_blocks (
    id               bigserial PRIMARY KEY,
    domain           character varying DEFAULT '' NOT NULL,
    created_at       timestamp without time zone DEFAULT (now() AT TIME ZONE 'UTC') NOT NULL,
    updated_at       timestamp without time zone DEFAULT (now() AT TIME ZONE 'UTC') NOT NULL,
    severity         integer DEFAULT 0,
    reject_media     boolean DEFAULT false NOT NULL,
    reject_reports   boolean DEFAULT false NOT NULL,
    private_comment  text,
    public_comment   text,
    obfuscate        boolean DEFAULT false NOT NULL
);

CREATE UNIQUE INDEX index_domain_blocks_on_domain ON domain_blocks (domain);

-- DomainBlock.rule_for / blocked?: the most specific block of host or of
-- one of its parent domains (a.b.c, b.c, c); "suspend" is severity 1.
-- host: lower case, no port.  The one place for the rule: the module
-- (403), the worker's sending and processing call it.
CREATE FUNCTION mastodon_domain_block(host text)
    RETURNS TABLE (id bigint, domain character varying, severity integer,
                   reject_media boolean, reject_reports boolean)
    LANGUAGE sql STABLE ROWS 1 AS $$
SELECT b.id, b.domain, b.severity, b.reject_media, b.reject_reports
  FROM domain_blocks b
 WHERE b.domain IN (
        SELECT array_to_string((string_to_array(lower(host), '.'))[i:], '.')
          FROM generate_series(1, cardinality(string_to_array(host, '.'))) i)
 ORDER BY length(b.domain) DESC
 LIMIT 1
$$;

CREATE FUNCTION mastodon_domain_suspended(host text) RETURNS boolean
    LANGUAGE sql STABLE AS $$
SELECT EXISTS (SELECT 1 FROM mastodon_domain_block(host) WHERE severity = 1)
$$;

-- Mastodon 4.5's keypairs: a remote actor's keys by their id (uri).  A key
-- id without a row here is looked up as Mastodon's Keypair.from_keyid
-- does: the account whose uri is the key id without its fragment, with
-- accounts.public_key.  type 0 rsa, 1 ed25519.
CREATE TABLE keypairs (
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

CREATE UNIQUE INDEX index_keypairs_on_uri ON keypairs (uri);
CREATE INDEX index_keypairs_on_account_id ON keypairs (account_id);

-- The key that verifies a signature by key_id: a usable RSA keypair with
-- that uri, else the remote account of the key id without its fragment.
-- One row (or none): the account, its actor uri, acct, the PEM.
CREATE FUNCTION mastodon_signing_key(key_id text)
    RETURNS TABLE (account_id bigint, actor_uri character varying,
                   acct text, public_key text)
    LANGUAGE sql STABLE ROWS 1 AS $$
(SELECT a.id, a.uri, a.username || '@' || a.domain, k.public_key::text
   FROM keypairs k JOIN accounts a ON a.id = k.account_id
  WHERE k.uri = key_id AND k.type = 0 AND NOT k.revoked
    AND (k.expires_at IS NULL OR k.expires_at > (now() AT TIME ZONE 'UTC'))
    AND a.domain IS NOT NULL
  LIMIT 1)
UNION ALL
(SELECT a.id, a.uri, a.username || '@' || a.domain, a.public_key
   FROM accounts a
  WHERE a.uri = split_part(key_id, '#', 1) AND a.domain IS NOT NULL
    AND a.public_key <> ''
    AND NOT EXISTS (SELECT 1 FROM keypairs k WHERE k.uri = key_id)
  LIMIT 1)
LIMIT 1
$$;
