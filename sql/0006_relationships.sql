-- Relationships: private notes on other accounts (Relationship.note) and the
-- domains a user blocks (Relationship.domain_blocking; following refused),
-- with Mastodon's table, column and index names.

CREATE TABLE account_notes (
    id                bigserial PRIMARY KEY,
    account_id        bigint,
    target_account_id bigint,
    comment           text NOT NULL,
    created_at        timestamp without time zone DEFAULT (now() AT TIME ZONE 'UTC') NOT NULL,
    updated_at        timestamp without time zone DEFAULT (now() AT TIME ZONE 'UTC') NOT NULL
);

CREATE UNIQUE INDEX index_account_notes_on_account_id_and_target_account_id
    ON account_notes (account_id, target_account_id);
CREATE INDEX index_account_notes_on_target_account_id ON account_notes (target_account_id);

ALTER TABLE account_notes ADD FOREIGN KEY (account_id) REFERENCES accounts (id) ON DELETE CASCADE;
ALTER TABLE account_notes ADD FOREIGN KEY (target_account_id) REFERENCES accounts (id) ON DELETE CASCADE;

CREATE TABLE account_domain_blocks (
    id         bigserial PRIMARY KEY,
    domain     character varying,
    created_at timestamp without time zone DEFAULT (now() AT TIME ZONE 'UTC') NOT NULL,
    updated_at timestamp without time zone DEFAULT (now() AT TIME ZONE 'UTC') NOT NULL,
    account_id bigint
);

CREATE UNIQUE INDEX index_account_domain_blocks_on_account_id_and_domain
    ON account_domain_blocks (account_id, domain);

ALTER TABLE account_domain_blocks ADD FOREIGN KEY (account_id) REFERENCES accounts (id) ON DELETE CASCADE;
