-- Reports (Mastodon's reports table, the columns its API and Flag use) and
-- the instance's rules a report may cite (Mastodon's rules table; the admin
-- side that writes them is not there yet, so a report with rule_ids is
-- refused until rules exist, as Mastodon's validate_rule_ids does).
--
-- A report by a local user: account_id the reporter, uri base/<uuid>
-- (TagManager#generate_uri_for), forwarded when a Flag went to the remote
-- target's server.  A report from another server (an incoming Flag):
-- account_id that server's instance actor (a remote account), uri the
-- Flag's id.  category: Mastodon's enum (other 0, spam 1000, legal 1500,
-- violation 2000).
CREATE TABLE rules (
    id         bigserial PRIMARY KEY,
    priority   integer DEFAULT 0 NOT NULL,
    deleted_at timestamp without time zone,
    text       text DEFAULT '' NOT NULL,
    hint       text DEFAULT '' NOT NULL,
    created_at timestamp without time zone DEFAULT (now() AT TIME ZONE 'UTC') NOT NULL,
    updated_at timestamp without time zone DEFAULT (now() AT TIME ZONE 'UTC') NOT NULL
);

CREATE TABLE reports (
    id                         bigserial PRIMARY KEY,
    status_ids                 bigint[] DEFAULT '{}' NOT NULL,
    comment                    text DEFAULT '' NOT NULL,
    created_at                 timestamp without time zone DEFAULT (now() AT TIME ZONE 'UTC') NOT NULL,
    updated_at                 timestamp without time zone DEFAULT (now() AT TIME ZONE 'UTC') NOT NULL,
    account_id                 bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    action_taken_by_account_id bigint REFERENCES accounts (id) ON DELETE SET NULL,
    target_account_id          bigint NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    assigned_account_id        bigint REFERENCES accounts (id) ON DELETE SET NULL,
    uri                        character varying,
    forwarded                  boolean,
    category                   integer DEFAULT 0 NOT NULL,
    action_taken_at            timestamp without time zone,
    rule_ids                   bigint[],
    application_id             bigint REFERENCES oauth_applications (id) ON DELETE SET NULL
);
CREATE INDEX index_reports_on_account_id ON reports (account_id);
CREATE INDEX index_reports_on_target_account_id ON reports (target_account_id);
CREATE INDEX index_reports_on_action_taken_by_account_id ON reports (action_taken_by_account_id)
    WHERE action_taken_by_account_id IS NOT NULL;
CREATE INDEX index_reports_on_assigned_account_id ON reports (assigned_account_id)
    WHERE assigned_account_id IS NOT NULL;

-- Custom emojis (Mastodon's custom_emojis): the remote ones named by the
-- Emoji tags of remote statuses and actors (domain: the account's,
-- image_remote_url: the icon's URL, shown as is: no media cache), rendered
-- in the emojis of the statuses and accounts whose text names :shortcode:.
CREATE TABLE custom_emojis (
    id                           bigserial PRIMARY KEY,
    shortcode                    character varying DEFAULT '' NOT NULL,
    domain                       character varying,
    image_file_name              character varying,
    image_content_type           character varying,
    image_file_size              integer,
    image_updated_at             timestamp without time zone,
    created_at                   timestamp without time zone DEFAULT (now() AT TIME ZONE 'UTC') NOT NULL,
    updated_at                   timestamp without time zone DEFAULT (now() AT TIME ZONE 'UTC') NOT NULL,
    disabled                     boolean DEFAULT false NOT NULL,
    uri                          character varying,
    image_remote_url             character varying,
    visible_in_picker            boolean DEFAULT true NOT NULL,
    category_id                  bigint,
    image_storage_schema_version integer
);
CREATE UNIQUE INDEX index_custom_emojis_on_shortcode_and_domain ON custom_emojis (shortcode, domain);
