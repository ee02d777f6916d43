-- Mastodon's default roles (config/roles.yml and UserRole.everyone).
-- permissions are UserRole::FLAGS bits:
--   administrator 0, view_audit_log 2, view_dashboard 3, manage_reports 4,
--   manage_federation 5, manage_settings 6, manage_blocks 7,
--   manage_taxonomies 8, manage_appeals 9, manage_users 10,
--   manage_invites 11, manage_rules 12, manage_announcements 13,
--   manage_custom_emojis 14, manage_webhooks 15, invite_users 16,
--   manage_roles 17, manage_user_access 18, delete_user_data 19, view_feeds 20
INSERT INTO user_roles (id, name, position, permissions, highlighted) VALUES
    (-99, '', -1, 1::bigint << 16, false),
    (1, 'Moderator', 10,
        (1::bigint << 16) | (1::bigint << 3) | (1::bigint << 2) | (1::bigint << 20)
        | (1::bigint << 10) | (1::bigint << 4) | (1::bigint << 8), true),
    (2, 'Admin', 100,
        (1::bigint << 16) | (1::bigint << 3) | (1::bigint << 2) | (1::bigint << 20)
        | (1::bigint << 10) | (1::bigint << 18) | (1::bigint << 19) | (1::bigint << 4)
        | (1::bigint << 8) | (1::bigint << 5) | (1::bigint << 6) | (1::bigint << 7)
        | (1::bigint << 9) | (1::bigint << 12) | (1::bigint << 11) | (1::bigint << 13)
        | (1::bigint << 14) | (1::bigint << 15) | (1::bigint << 17), true),
    (3, 'Owner', 1000, 1, true);

SELECT setval('user_roles_id_seq', 3);
