-- The core of Mastodon's schema: table and column names and types follow
-- mastodon/mastodon db/schema.rb, so a Mastodon database can be imported.
-- Timestamps are "timestamp without time zone" holding UTC, as Rails
-- writes them; the defaults below are for our own inserts.
-- accounts, statuses and media_attachments take timestamp_id() ids; the
-- other tables plain sequences, as in Mastodon.

-- Roles -----------------------------------------------------------------

CREATE TABLE user_roles (
    id          bigserial PRIMARY KEY,
    name        character varying DEFAULT '' NOT NULL,
    color       character varying DEFAULT '' NOT NULL,
    position    integer DEFAULT 0 NOT NULL,
    permissions bigint DEFAULT 0 NOT NULL,
    highlighted boolean DEFAULT false NOT NULL,
    created_at  timestamp without time zone DEFAULT (now() AT TIME ZONE 'UTC') NOT NULL,
    updated_at  timestamp without time zone DEFAULT (now() AT TIME ZONE 'UTC') NOT NULL
);

-- Accounts and users ------------------------------------------------------

CREATE SEQUENCE accounts_id_seq;

CREATE TABLE accounts (
    id                            bigint DEFAULT timestamp_id('accounts') PRIMARY KEY,
    username                      character varying DEFAULT '' NOT NULL,
    domain                        character varying,
    private_key                   text,
    public_key                    text DEFAULT '' NOT NULL,
    created_at                    timestamp without time zone DEFAULT (now() AT TIME ZONE 'UTC') NOT NULL,
    updated_at                    timestamp without time zone DEFAULT (now() AT TIME ZONE 'UTC') NOT NULL,
    note                          text DEFAULT '' NOT NULL,
    display_name                  character varying DEFAULT '' NOT NULL,
    uri                           character varying DEFAULT '' NOT NULL,
    url                           character varying,
    avatar_file_name              character varying,
    avatar_content_type           character varying,
    avatar_file_size              integer,
    avatar_updated_at             timestamp without time zone,
    header_file_name              character varying,
    header_content_type           character varying,
    header_file_size              integer,
    header_updated_at             timestamp without time zone,
    avatar_remote_url             character varying,
    locked                        boolean DEFAULT false NOT NULL,
    header_remote_url             character varying DEFAULT '' NOT NULL,
    last_webfingered_at           timestamp without time zone,
    inbox_url                     character varying DEFAULT '' NOT NULL,
    outbox_url                    character varying DEFAULT '' NOT NULL,
    shared_inbox_url              character varying DEFAULT '' NOT NULL,
    followers_url                 character varying DEFAULT '' NOT NULL,
    following_url                 character varying DEFAULT '' NOT NULL,
    protocol                      integer DEFAULT 0 NOT NULL,
    memorial                      boolean DEFAULT false NOT NULL,
    moved_to_account_id           bigint,
    featured_collection_url       character varying,
    fields                        jsonb,
    actor_type                    character varying,
    discoverable                  boolean,
    also_known_as                 character varying[],
    silenced_at                   timestamp without time zone,
    suspended_at                  timestamp without time zone,
    hide_collections              boolean,
    avatar_storage_schema_version integer,
    header_storage_schema_version integer,
    sensitized_at                 timestamp without time zone,
    suspension_origin             integer,
    trendable                     boolean,
    reviewed_at                   timestamp without time zone,
    requested_review_at           timestamp without time zone,
    indexable                     boolean DEFAULT false NOT NULL,
    attribution_domains           character varying[] DEFAULT '{}',
    id_scheme                     integer DEFAULT 1
);

CREATE UNIQUE INDEX index_accounts_on_username_and_domain_lower
    ON accounts (lower((username)::text), COALESCE(lower((domain)::text), ''::text));
CREATE INDEX index_accounts_on_domain_and_id ON accounts (domain, id);
CREATE INDEX index_accounts_on_moved_to_account_id ON accounts (moved_to_account_id)
    WHERE moved_to_account_id IS NOT NULL;
CREATE INDEX index_accounts_on_uri ON accounts (uri);
CREATE INDEX index_accounts_on_url ON accounts (url text_pattern_ops) WHERE url IS NOT NULL;
CREATE INDEX search_index ON accounts USING gin ((
    setweight(to_tsvector('simple'::regconfig, (display_name)::text), 'A') ||
    setweight(to_tsvector('simple'::regconfig, (username)::text), 'B') ||
    setweight(to_tsvector('simple'::regconfig, (COALESCE(domain, ''::character varying))::text), 'C')));

CREATE TABLE account_stats (
    id              bigserial PRIMARY KEY,
    account_id      bigint NOT NULL,
    statuses_count  bigint DEFAULT 0 NOT NULL,
    following_count bigint DEFAULT 0 NOT NULL,
    followers_count bigint DEFAULT 0 NOT NULL,
    created_at      timestamp without time zone DEFAULT (now() AT TIME ZONE 'UTC') NOT NULL,
    updated_at      timestamp without time zone DEFAULT (now() AT TIME ZONE 'UTC') NOT NULL,
    last_status_at  timestamp without time zone
);

CREATE UNIQUE INDEX index_account_stats_on_account_id ON account_stats (account_id);
CREATE INDEX index_account_stats_on_last_status_at_and_account_id
    ON account_stats (last_status_at DESC NULLS LAST, account_id);

CREATE TABLE users (
    id                        bigserial PRIMARY KEY,
    email                     character varying DEFAULT '' NOT NULL,
    created_at                timestamp without time zone DEFAULT (now() AT TIME ZONE 'UTC') NOT NULL,
    updated_at                timestamp without time zone DEFAULT (now() AT TIME ZONE 'UTC') NOT NULL,
    encrypted_password        character varying DEFAULT '' NOT NULL,
    reset_password_token      character varying,
    reset_password_sent_at    timestamp without time zone,
    sign_in_count             integer DEFAULT 0 NOT NULL,
    current_sign_in_at        timestamp without time zone,
    last_sign_in_at           timestamp without time zone,
    confirmation_token        character varying,
    confirmed_at              timestamp without time zone,
    confirmation_sent_at      timestamp without time zone,
    unconfirmed_email         character varying,
    locale                    character varying,
    consumed_timestep         integer,
    otp_required_for_login    boolean DEFAULT false NOT NULL,
    last_emailed_at           timestamp without time zone,
    otp_backup_codes          character varying[],
    account_id                bigint NOT NULL,
    disabled                  boolean DEFAULT false NOT NULL,
    invite_id                 bigint,
    chosen_languages          character varying[],
    created_by_application_id bigint,
    approved                  boolean DEFAULT true NOT NULL,
    sign_in_token             character varying,
    sign_in_token_sent_at     timestamp without time zone,
    webauthn_id               character varying,
    sign_up_ip                inet,
    skip_sign_in_token        boolean,
    role_id                   bigint,
    settings                  text,
    time_zone                 character varying,
    otp_secret                character varying,
    age_verified_at           timestamp without time zone,
    require_tos_interstitial  boolean DEFAULT false NOT NULL
);

CREATE INDEX index_users_on_account_id ON users (account_id);
CREATE UNIQUE INDEX index_users_on_confirmation_token ON users (confirmation_token);
CREATE INDEX index_users_on_created_by_application_id ON users (created_by_application_id)
    WHERE created_by_application_id IS NOT NULL;
CREATE UNIQUE INDEX index_users_on_email ON users (email);
CREATE UNIQUE INDEX index_users_on_reset_password_token ON users (reset_password_token text_pattern_ops)
    WHERE reset_password_token IS NOT NULL;
CREATE INDEX index_users_on_role_id ON users (role_id) WHERE role_id IS NOT NULL;
CREATE INDEX index_users_on_unconfirmed_email ON users (unconfirmed_email)
    WHERE unconfirmed_email IS NOT NULL;

-- OAuth (Doorkeeper) ------------------------------------------------------

CREATE TABLE oauth_applications (
    id           bigserial PRIMARY KEY,
    name         character varying NOT NULL,
    uid          character varying NOT NULL,
    secret       character varying NOT NULL,
    redirect_uri text NOT NULL,
    scopes       character varying DEFAULT '' NOT NULL,
    created_at   timestamp without time zone DEFAULT (now() AT TIME ZONE 'UTC'),
    updated_at   timestamp without time zone DEFAULT (now() AT TIME ZONE 'UTC'),
    superapp     boolean DEFAULT false NOT NULL,
    website      character varying,
    owner_type   character varying,
    owner_id     bigint,
    confidential boolean DEFAULT true NOT NULL
);

CREATE INDEX index_oauth_applications_on_owner_id_and_owner_type ON oauth_applications (owner_id, owner_type);
CREATE INDEX index_oauth_applications_on_superapp ON oauth_applications (superapp) WHERE superapp = true;
CREATE UNIQUE INDEX index_oauth_applications_on_uid ON oauth_applications (uid);

CREATE TABLE oauth_access_grants (
    id                    bigserial PRIMARY KEY,
    token                 character varying NOT NULL,
    expires_in            integer NOT NULL,
    redirect_uri          text NOT NULL,
    created_at            timestamp without time zone DEFAULT (now() AT TIME ZONE 'UTC') NOT NULL,
    revoked_at            timestamp without time zone,
    scopes                character varying,
    application_id        bigint NOT NULL,
    resource_owner_id     bigint NOT NULL,
    code_challenge        character varying,
    code_challenge_method character varying
);

CREATE INDEX index_oauth_access_grants_on_resource_owner_id ON oauth_access_grants (resource_owner_id);
CREATE UNIQUE INDEX index_oauth_access_grants_on_token ON oauth_access_grants (token);

CREATE TABLE oauth_access_tokens (
    id                bigserial PRIMARY KEY,
    token             character varying NOT NULL,
    refresh_token     character varying,
    expires_in        integer,
    revoked_at        timestamp without time zone,
    created_at        timestamp without time zone DEFAULT (now() AT TIME ZONE 'UTC') NOT NULL,
    scopes            character varying,
    application_id    bigint,
    resource_owner_id bigint,
    last_used_at      timestamp without time zone,
    last_used_ip      inet
);

CREATE UNIQUE INDEX index_oauth_access_tokens_on_refresh_token ON oauth_access_tokens (refresh_token text_pattern_ops)
    WHERE refresh_token IS NOT NULL;
CREATE INDEX index_oauth_access_tokens_on_resource_owner_id ON oauth_access_tokens (resource_owner_id)
    WHERE resource_owner_id IS NOT NULL;
CREATE UNIQUE INDEX index_oauth_access_tokens_on_token ON oauth_access_tokens (token);

-- Statuses ------------------------------------------------------------------

CREATE TABLE conversations (
    id                bigserial PRIMARY KEY,
    uri               character varying,
    created_at        timestamp without time zone DEFAULT (now() AT TIME ZONE 'UTC') NOT NULL,
    updated_at        timestamp without time zone DEFAULT (now() AT TIME ZONE 'UTC') NOT NULL,
    parent_status_id  bigint,
    parent_account_id bigint
);

CREATE UNIQUE INDEX index_conversations_on_parent_status_id ON conversations (parent_status_id)
    WHERE parent_status_id IS NOT NULL;
CREATE UNIQUE INDEX index_conversations_on_uri ON conversations (uri text_pattern_ops) WHERE uri IS NOT NULL;

CREATE SEQUENCE statuses_id_seq;

CREATE TABLE statuses (
    id                          bigint DEFAULT timestamp_id('statuses') PRIMARY KEY,
    uri                         character varying,
    text                        text DEFAULT '' NOT NULL,
    created_at                  timestamp without time zone DEFAULT (now() AT TIME ZONE 'UTC') NOT NULL,
    updated_at                  timestamp without time zone DEFAULT (now() AT TIME ZONE 'UTC') NOT NULL,
    in_reply_to_id              bigint,
    reblog_of_id                bigint,
    url                         character varying,
    sensitive                   boolean DEFAULT false NOT NULL,
    visibility                  integer DEFAULT 0 NOT NULL,
    spoiler_text                text DEFAULT '' NOT NULL,
    reply                       boolean DEFAULT false NOT NULL,
    language                    character varying,
    conversation_id             bigint,
    local                       boolean,
    account_id                  bigint NOT NULL,
    application_id              bigint,
    in_reply_to_account_id      bigint,
    poll_id                     bigint,
    deleted_at                  timestamp without time zone,
    edited_at                   timestamp without time zone,
    trendable                   boolean,
    ordered_media_attachment_ids bigint[],
    fetched_replies_at          timestamp without time zone,
    quote_approval_policy       integer DEFAULT 0 NOT NULL
);

-- The account timeline (statuses of one account, newest first).
CREATE INDEX index_statuses_20190820 ON statuses (account_id, id DESC, visibility, updated_at)
    WHERE deleted_at IS NULL;
CREATE INDEX index_statuses_on_account_id ON statuses (account_id);
CREATE INDEX index_statuses_on_conversation_id ON statuses (conversation_id);
CREATE INDEX index_statuses_on_deleted_at ON statuses (deleted_at) WHERE deleted_at IS NOT NULL;
-- The local and the federated public timelines.
CREATE INDEX index_statuses_local_20190824 ON statuses (id DESC, account_id)
    WHERE (local OR uri IS NULL) AND deleted_at IS NULL AND visibility = 0 AND reblog_of_id IS NULL
      AND ((NOT reply) OR in_reply_to_account_id = account_id);
CREATE INDEX index_statuses_public_20250129 ON statuses (id DESC, language, account_id)
    WHERE deleted_at IS NULL AND visibility = 0 AND reblog_of_id IS NULL
      AND ((NOT reply) OR in_reply_to_account_id = account_id);
CREATE INDEX index_statuses_on_in_reply_to_account_id ON statuses (in_reply_to_account_id)
    WHERE in_reply_to_account_id IS NOT NULL;
CREATE INDEX index_statuses_on_in_reply_to_id ON statuses (in_reply_to_id) WHERE in_reply_to_id IS NOT NULL;
CREATE INDEX index_statuses_on_reblog_of_id_and_account_id ON statuses (reblog_of_id, account_id);
CREATE UNIQUE INDEX index_statuses_on_uri ON statuses (uri text_pattern_ops) WHERE uri IS NOT NULL;

CREATE TABLE status_stats (
    id                         bigserial PRIMARY KEY,
    status_id                  bigint NOT NULL,
    replies_count              bigint DEFAULT 0 NOT NULL,
    reblogs_count              bigint DEFAULT 0 NOT NULL,
    favourites_count           bigint DEFAULT 0 NOT NULL,
    created_at                 timestamp without time zone DEFAULT (now() AT TIME ZONE 'UTC') NOT NULL,
    updated_at                 timestamp without time zone DEFAULT (now() AT TIME ZONE 'UTC') NOT NULL,
    untrusted_favourites_count bigint,
    untrusted_reblogs_count    bigint,
    quotes_count               bigint DEFAULT 0 NOT NULL
);

CREATE UNIQUE INDEX index_status_stats_on_status_id ON status_stats (status_id);

CREATE SEQUENCE media_attachments_id_seq;

CREATE TABLE media_attachments (
    id                               bigint DEFAULT timestamp_id('media_attachments') PRIMARY KEY,
    status_id                        bigint,
    file_file_name                   character varying,
    file_content_type                character varying,
    file_file_size                   integer,
    file_updated_at                  timestamp without time zone,
    remote_url                       character varying DEFAULT '' NOT NULL,
    created_at                       timestamp without time zone DEFAULT (now() AT TIME ZONE 'UTC') NOT NULL,
    updated_at                       timestamp without time zone DEFAULT (now() AT TIME ZONE 'UTC') NOT NULL,
    shortcode                        character varying,
    type                             integer DEFAULT 0 NOT NULL,
    file_meta                        json,
    account_id                       bigint,
    description                      text,
    scheduled_status_id              bigint,
    blurhash                         character varying,
    processing                       integer,
    file_storage_schema_version      integer,
    thumbnail_file_name              character varying,
    thumbnail_content_type           character varying,
    thumbnail_file_size              integer,
    thumbnail_updated_at             timestamp without time zone,
    thumbnail_remote_url             character varying,
    thumbnail_storage_schema_version integer
);

CREATE INDEX index_media_attachments_on_account_id_and_status_id ON media_attachments (account_id, status_id DESC);
CREATE INDEX index_media_attachments_on_scheduled_status_id ON media_attachments (scheduled_status_id)
    WHERE scheduled_status_id IS NOT NULL;
CREATE UNIQUE INDEX index_media_attachments_on_shortcode ON media_attachments (shortcode text_pattern_ops)
    WHERE shortcode IS NOT NULL;
CREATE INDEX index_media_attachments_on_status_id ON media_attachments (status_id);

CREATE TABLE mentions (
    id         bigserial PRIMARY KEY,
    status_id  bigint NOT NULL,
    created_at timestamp without time zone DEFAULT (now() AT TIME ZONE 'UTC') NOT NULL,
    updated_at timestamp without time zone DEFAULT (now() AT TIME ZONE 'UTC') NOT NULL,
    account_id bigint NOT NULL,
    silent     boolean DEFAULT false NOT NULL
);

CREATE UNIQUE INDEX index_mentions_on_account_id_and_status_id ON mentions (account_id, status_id);
CREATE INDEX index_mentions_on_status_id ON mentions (status_id);

CREATE TABLE tags (
    id                  bigserial PRIMARY KEY,
    name                character varying DEFAULT '' NOT NULL,
    created_at          timestamp without time zone DEFAULT (now() AT TIME ZONE 'UTC') NOT NULL,
    updated_at          timestamp without time zone DEFAULT (now() AT TIME ZONE 'UTC') NOT NULL,
    usable              boolean,
    trendable           boolean,
    listable            boolean,
    reviewed_at         timestamp without time zone,
    requested_review_at timestamp without time zone,
    last_status_at      timestamp without time zone,
    max_score           double precision,
    max_score_at        timestamp without time zone,
    display_name        character varying
);

CREATE UNIQUE INDEX index_tags_on_name_lower_btree ON tags (lower((name)::text) text_pattern_ops);

CREATE TABLE statuses_tags (
    status_id bigint NOT NULL,
    tag_id    bigint NOT NULL,
    PRIMARY KEY (tag_id, status_id)
);

CREATE INDEX index_statuses_tags_on_status_id ON statuses_tags (status_id);

CREATE TABLE status_pins (
    id         bigserial PRIMARY KEY,
    account_id bigint NOT NULL,
    status_id  bigint NOT NULL,
    created_at timestamp without time zone DEFAULT (now() AT TIME ZONE 'UTC') NOT NULL,
    updated_at timestamp without time zone DEFAULT (now() AT TIME ZONE 'UTC') NOT NULL
);

CREATE UNIQUE INDEX index_status_pins_on_account_id_and_status_id ON status_pins (account_id, status_id);
CREATE INDEX index_status_pins_on_status_id ON status_pins (status_id);

-- Interactions ----------------------------------------------------------------

CREATE TABLE favourites (
    id         bigserial PRIMARY KEY,
    created_at timestamp without time zone DEFAULT (now() AT TIME ZONE 'UTC') NOT NULL,
    updated_at timestamp without time zone DEFAULT (now() AT TIME ZONE 'UTC') NOT NULL,
    account_id bigint NOT NULL,
    status_id  bigint NOT NULL
);

CREATE INDEX index_favourites_on_account_id_and_id ON favourites (account_id, id);
CREATE UNIQUE INDEX index_favourites_on_account_id_and_status_id ON favourites (account_id, status_id);
CREATE INDEX index_favourites_on_status_id ON favourites (status_id);

CREATE TABLE bookmarks (
    id         bigserial PRIMARY KEY,
    account_id bigint NOT NULL,
    status_id  bigint NOT NULL,
    created_at timestamp without time zone DEFAULT (now() AT TIME ZONE 'UTC') NOT NULL,
    updated_at timestamp without time zone DEFAULT (now() AT TIME ZONE 'UTC') NOT NULL
);

CREATE UNIQUE INDEX index_bookmarks_on_account_id_and_status_id ON bookmarks (account_id, status_id);
CREATE INDEX index_bookmarks_on_status_id ON bookmarks (status_id);

-- Relationships ---------------------------------------------------------------

CREATE TABLE follows (
    id                bigserial PRIMARY KEY,
    created_at        timestamp without time zone DEFAULT (now() AT TIME ZONE 'UTC') NOT NULL,
    updated_at        timestamp without time zone DEFAULT (now() AT TIME ZONE 'UTC') NOT NULL,
    account_id        bigint NOT NULL,
    target_account_id bigint NOT NULL,
    show_reblogs      boolean DEFAULT true NOT NULL,
    uri               character varying,
    notify            boolean DEFAULT false NOT NULL,
    languages         character varying[]
);

CREATE UNIQUE INDEX index_follows_on_account_id_and_target_account_id ON follows (account_id, target_account_id);
CREATE INDEX index_follows_on_target_account_id_and_account_id ON follows (target_account_id, account_id);

CREATE TABLE follow_requests (
    id                bigserial PRIMARY KEY,
    created_at        timestamp without time zone DEFAULT (now() AT TIME ZONE 'UTC') NOT NULL,
    updated_at        timestamp without time zone DEFAULT (now() AT TIME ZONE 'UTC') NOT NULL,
    account_id        bigint NOT NULL,
    target_account_id bigint NOT NULL,
    show_reblogs      boolean DEFAULT true NOT NULL,
    uri               character varying,
    notify            boolean DEFAULT false NOT NULL,
    languages         character varying[]
);

CREATE UNIQUE INDEX index_follow_requests_on_account_id_and_target_account_id
    ON follow_requests (account_id, target_account_id);
-- Not in Mastodon's schema: "who asked to follow me" is a hot path here.
CREATE INDEX index_follow_requests_on_target_account_id_and_id ON follow_requests (target_account_id, id);

CREATE TABLE blocks (
    id                bigserial PRIMARY KEY,
    created_at        timestamp without time zone DEFAULT (now() AT TIME ZONE 'UTC') NOT NULL,
    updated_at        timestamp without time zone DEFAULT (now() AT TIME ZONE 'UTC') NOT NULL,
    account_id        bigint NOT NULL,
    target_account_id bigint NOT NULL,
    uri               character varying
);

CREATE UNIQUE INDEX index_blocks_on_account_id_and_target_account_id ON blocks (account_id, target_account_id);
CREATE INDEX index_blocks_on_target_account_id ON blocks (target_account_id);

CREATE TABLE mutes (
    id                 bigserial PRIMARY KEY,
    created_at         timestamp without time zone DEFAULT (now() AT TIME ZONE 'UTC') NOT NULL,
    updated_at         timestamp without time zone DEFAULT (now() AT TIME ZONE 'UTC') NOT NULL,
    hide_notifications boolean DEFAULT true NOT NULL,
    account_id         bigint NOT NULL,
    target_account_id  bigint NOT NULL,
    expires_at         timestamp without time zone
);

CREATE UNIQUE INDEX index_mutes_on_account_id_and_target_account_id ON mutes (account_id, target_account_id);
CREATE INDEX index_mutes_on_target_account_id ON mutes (target_account_id);

CREATE TABLE account_pins (
    id                bigserial PRIMARY KEY,
    account_id        bigint NOT NULL,
    target_account_id bigint NOT NULL,
    created_at        timestamp without time zone DEFAULT (now() AT TIME ZONE 'UTC') NOT NULL,
    updated_at        timestamp without time zone DEFAULT (now() AT TIME ZONE 'UTC') NOT NULL
);

CREATE UNIQUE INDEX index_account_pins_on_account_id_and_target_account_id
    ON account_pins (account_id, target_account_id);
CREATE INDEX index_account_pins_on_target_account_id ON account_pins (target_account_id);

-- Notifications, markers, settings ------------------------------------------------

CREATE TABLE notifications (
    id              bigserial PRIMARY KEY,
    activity_id     bigint NOT NULL,
    activity_type   character varying NOT NULL,
    created_at      timestamp without time zone DEFAULT (now() AT TIME ZONE 'UTC') NOT NULL,
    updated_at      timestamp without time zone DEFAULT (now() AT TIME ZONE 'UTC') NOT NULL,
    account_id      bigint NOT NULL,
    from_account_id bigint NOT NULL,
    type            character varying,
    filtered        boolean DEFAULT false NOT NULL,
    group_key       character varying
);

CREATE INDEX index_notifications_on_account_id_and_group_key ON notifications (account_id, group_key)
    WHERE group_key IS NOT NULL;
CREATE INDEX index_notifications_on_account_id_and_id_and_type ON notifications (account_id, id DESC, type);
CREATE INDEX index_notifications_on_filtered ON notifications (account_id, id DESC, type)
    WHERE filtered = false;
CREATE INDEX index_notifications_on_activity_id_and_activity_type ON notifications (activity_id, activity_type);
CREATE INDEX index_notifications_on_from_account_id ON notifications (from_account_id);

CREATE TABLE markers (
    id           bigserial PRIMARY KEY,
    user_id      bigint NOT NULL,
    timeline     character varying DEFAULT '' NOT NULL,
    last_read_id bigint DEFAULT 0 NOT NULL,
    lock_version integer DEFAULT 0 NOT NULL,
    created_at   timestamp without time zone DEFAULT (now() AT TIME ZONE 'UTC') NOT NULL,
    updated_at   timestamp without time zone DEFAULT (now() AT TIME ZONE 'UTC') NOT NULL
);

CREATE UNIQUE INDEX index_markers_on_user_id_and_timeline ON markers (user_id, timeline);

-- Site settings (rails-settings-cached): value is YAML, e.g. "--- open\n".
CREATE TABLE settings (
    id         bigserial PRIMARY KEY,
    var        character varying NOT NULL,
    value      text,
    created_at timestamp without time zone DEFAULT (now() AT TIME ZONE 'UTC'),
    updated_at timestamp without time zone DEFAULT (now() AT TIME ZONE 'UTC')
);

CREATE UNIQUE INDEX index_settings_on_var ON settings (var);

-- Foreign keys, as Mastodon declares them ----------------------------------------

ALTER TABLE accounts ADD FOREIGN KEY (moved_to_account_id) REFERENCES accounts (id) ON DELETE SET NULL;
ALTER TABLE account_stats ADD FOREIGN KEY (account_id) REFERENCES accounts (id) ON DELETE CASCADE;
ALTER TABLE users ADD FOREIGN KEY (account_id) REFERENCES accounts (id) ON DELETE CASCADE;
ALTER TABLE users ADD FOREIGN KEY (role_id) REFERENCES user_roles (id) ON DELETE SET NULL;
ALTER TABLE users ADD FOREIGN KEY (created_by_application_id) REFERENCES oauth_applications (id) ON DELETE SET NULL;
ALTER TABLE oauth_applications ADD FOREIGN KEY (owner_id) REFERENCES users (id) ON DELETE CASCADE;
ALTER TABLE oauth_access_grants ADD FOREIGN KEY (application_id) REFERENCES oauth_applications (id) ON DELETE CASCADE;
ALTER TABLE oauth_access_grants ADD FOREIGN KEY (resource_owner_id) REFERENCES users (id) ON DELETE CASCADE;
ALTER TABLE oauth_access_tokens ADD FOREIGN KEY (application_id) REFERENCES oauth_applications (id) ON DELETE CASCADE;
ALTER TABLE oauth_access_tokens ADD FOREIGN KEY (resource_owner_id) REFERENCES users (id) ON DELETE CASCADE;
ALTER TABLE statuses ADD FOREIGN KEY (account_id) REFERENCES accounts (id) ON DELETE CASCADE;
ALTER TABLE statuses ADD FOREIGN KEY (in_reply_to_account_id) REFERENCES accounts (id) ON DELETE SET NULL;
ALTER TABLE statuses ADD FOREIGN KEY (in_reply_to_id) REFERENCES statuses (id) ON DELETE SET NULL;
ALTER TABLE statuses ADD FOREIGN KEY (reblog_of_id) REFERENCES statuses (id) ON DELETE CASCADE;
ALTER TABLE status_stats ADD FOREIGN KEY (status_id) REFERENCES statuses (id) ON DELETE CASCADE;
ALTER TABLE media_attachments ADD FOREIGN KEY (account_id) REFERENCES accounts (id) ON DELETE SET NULL;
ALTER TABLE media_attachments ADD FOREIGN KEY (status_id) REFERENCES statuses (id) ON DELETE SET NULL;
ALTER TABLE mentions ADD FOREIGN KEY (account_id) REFERENCES accounts (id) ON DELETE CASCADE;
ALTER TABLE mentions ADD FOREIGN KEY (status_id) REFERENCES statuses (id) ON DELETE CASCADE;
ALTER TABLE statuses_tags ADD FOREIGN KEY (status_id) REFERENCES statuses (id) ON DELETE CASCADE;
ALTER TABLE statuses_tags ADD FOREIGN KEY (tag_id) REFERENCES tags (id) ON DELETE CASCADE;
ALTER TABLE status_pins ADD FOREIGN KEY (account_id) REFERENCES accounts (id) ON DELETE CASCADE;
ALTER TABLE status_pins ADD FOREIGN KEY (status_id) REFERENCES statuses (id) ON DELETE CASCADE;
ALTER TABLE favourites ADD FOREIGN KEY (account_id) REFERENCES accounts (id) ON DELETE CASCADE;
ALTER TABLE favourites ADD FOREIGN KEY (status_id) REFERENCES statuses (id) ON DELETE CASCADE;
ALTER TABLE bookmarks ADD FOREIGN KEY (account_id) REFERENCES accounts (id) ON DELETE CASCADE;
ALTER TABLE bookmarks ADD FOREIGN KEY (status_id) REFERENCES statuses (id) ON DELETE CASCADE;
ALTER TABLE follows ADD FOREIGN KEY (account_id) REFERENCES accounts (id) ON DELETE CASCADE;
ALTER TABLE follows ADD FOREIGN KEY (target_account_id) REFERENCES accounts (id) ON DELETE CASCADE;
ALTER TABLE follow_requests ADD FOREIGN KEY (account_id) REFERENCES accounts (id) ON DELETE CASCADE;
ALTER TABLE follow_requests ADD FOREIGN KEY (target_account_id) REFERENCES accounts (id) ON DELETE CASCADE;
ALTER TABLE blocks ADD FOREIGN KEY (account_id) REFERENCES accounts (id) ON DELETE CASCADE;
ALTER TABLE blocks ADD FOREIGN KEY (target_account_id) REFERENCES accounts (id) ON DELETE CASCADE;
ALTER TABLE mutes ADD FOREIGN KEY (account_id) REFERENCES accounts (id) ON DELETE CASCADE;
ALTER TABLE mutes ADD FOREIGN KEY (target_account_id) REFERENCES accounts (id) ON DELETE CASCADE;
ALTER TABLE account_pins ADD FOREIGN KEY (account_id) REFERENCES accounts (id) ON DELETE CASCADE;
ALTER TABLE account_pins ADD FOREIGN KEY (target_account_id) REFERENCES accounts (id) ON DELETE CASCADE;
ALTER TABLE notifications ADD FOREIGN KEY (account_id) REFERENCES accounts (id) ON DELETE CASCADE;
ALTER TABLE notifications ADD FOREIGN KEY (from_account_id) REFERENCES accounts (id) ON DELETE CASCADE;
ALTER TABLE markers ADD FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE;
