-- Web Push (issue 12): Mastodon's web_push_subscriptions.  One per access
-- token (Api::V1::Push::SubscriptionsController replaces the token's
-- subscription on create: here a unique index and an upsert); gone with
-- the token or the user.  data is {"alerts": {"<type>": bool, ...},
-- "policy": "all" | "followed" | "follower" | "none"} as given; standard
-- (4.4) says the client registered for RFC 8291 aes128gcm, else it gets
-- the legacy aesgcm.  token is the access token as the client presented
-- it: oauth_access_tokens keeps only its digest, and each push carries the
-- token (Web::NotificationSerializer#access_token) for the client to act
-- on the notification.

CREATE TABLE web_push_subscriptions (
    id               bigserial PRIMARY KEY,
    endpoint         character varying NOT NULL,
    key_p256dh       character varying NOT NULL,
    key_auth         character varying NOT NULL,
    data             jsonb,
    standard         boolean DEFAULT false NOT NULL,
    created_at       timestamp without time zone DEFAULT (now() AT TIME ZONE 'UTC') NOT NULL,
    updated_at       timestamp without time zone DEFAULT (now() AT TIME ZONE 'UTC') NOT NULL,
    access_token_id  bigint NOT NULL REFERENCES oauth_access_tokens (id) ON DELETE CASCADE,
    user_id          bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token            character varying NOT NULL
);

CREATE UNIQUE INDEX index_web_push_subscriptions_on_access_token_id
    ON web_push_subscriptions (access_token_id);
CREATE INDEX index_web_push_subscriptions_on_user_id
    ON web_push_subscriptions (user_id);
