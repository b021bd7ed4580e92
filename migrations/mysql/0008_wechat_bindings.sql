-- WeChat sign-in (MySQL 8 / MariaDB 10.11). An openid (one customer in this mini-program) is
-- bound to at most one account: the primary key is what stops two first sign-ins of the same
-- customer, arriving at once, from binding twice. An account may be reached from more than one
-- openid (each proved the account's phone number through WeChat). Openids are case-sensitive,
-- so they compare byte for byte (the table's default collation would fold case).
CREATE TABLE wechat_bindings (
    openid     VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NOT NULL PRIMARY KEY,
    user_id    BIGINT      NOT NULL,
    unionid    VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NULL,
    created_at BIGINT      NOT NULL,
    KEY idx_wechat_bindings_user (user_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
