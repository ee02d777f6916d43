-- Sign-ups through the API (POST /api/v1/accounts): the reason a newcomer
-- gives when registrations need approval, as Mastodon stores it
-- (UserInviteRequest, db/schema.rb "user_invite_requests").

CREATE TABLE user_invite_requests (
    id         bigserial PRIMARY KEY,
    user_id    bigint,
    text       text,
    created_at timestamp without time zone DEFAULT (now() AT TIME ZONE 'UTC') NOT NULL,
    updated_at timestamp without time zone DEFAULT (now() AT TIME ZONE 'UTC') NOT NULL
);

CREATE INDEX index_user_invite_requests_on_user_id ON user_invite_requests (user_id);

ALTER TABLE user_invite_requests ADD FOREIGN KEY (user_id) REFERENCES users (id) ON DELETE CASCADE;
