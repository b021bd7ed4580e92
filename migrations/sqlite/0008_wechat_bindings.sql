-- WeChat sign-in (SQLite; mirrors migrations/mysql). An openid (one customer in this
-- mini-program) is bound to at most one account: the primary key is what stops two first
-- sign-ins of the same customer, arriving at once, from binding twice. An account may be reached
-- from more than one openid (each proved the account's phone number through WeChat).
CREATE TABLE wechat_bindings (
    openid     VARCHAR(64) NOT NULL PRIMARY KEY,
    user_id    BIGINT      NOT NULL,
    unionid    VARCHAR(64) NULL,
    created_at BIGINT      NOT NULL
);
CREATE INDEX idx_wechat_bindings_user ON wechat_bindings (user_id);
