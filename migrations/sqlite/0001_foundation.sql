-- Foundation schema (SQLite, the embedded default; mirrors migrations/mysql).
--
-- Portable types only, because the server reads through sqlx's Any driver: BIGINT for ids, points,
-- flags (0/1) and times (UTC epoch milliseconds); VARCHAR for strings (MySQL reports TEXT as a blob,
-- which Any will not decode as a string).

-- Customers. `points` is the wallet balance: it is only ever changed together with a ledger row
-- (points_records) in the same transaction, by the user's UserSession actor.
CREATE TABLE users (
    id          INTEGER      NOT NULL PRIMARY KEY AUTOINCREMENT,
    phone       VARCHAR(20)  NOT NULL,
    nickname    VARCHAR(64)  NOT NULL,
    avatar      VARCHAR(512) NOT NULL DEFAULT '',
    points      BIGINT       NOT NULL DEFAULT 0,
    pity_count  BIGINT       NOT NULL DEFAULT 0,
    is_merchant BIGINT       NOT NULL DEFAULT 0,
    is_banned   BIGINT       NOT NULL DEFAULT 0,
    created_at  BIGINT       NOT NULL,
    updated_at  BIGINT       NOT NULL,
    last_login  BIGINT       NOT NULL DEFAULT 0,
    -- The last line of defence for "a balance never goes negative".
    CONSTRAINT ck_users_points_non_negative CHECK (points >= 0)
);
CREATE UNIQUE INDEX uq_users_phone ON users (phone);
CREATE INDEX idx_users_nickname ON users (nickname);

-- The points ledger. For every user the deltas sum to users.points and balance_after chains
-- row by row (checked by `restaurant-lottery reconcile`).
CREATE TABLE points_records (
    id              INTEGER      NOT NULL PRIMARY KEY AUTOINCREMENT,
    user_id         BIGINT       NOT NULL,
    points          BIGINT       NOT NULL,
    balance_after   BIGINT       NOT NULL,
    source          VARCHAR(32)  NOT NULL,
    description     VARCHAR(255) NOT NULL DEFAULT '',
    related_id      VARCHAR(64)  NULL,
    idempotency_key VARCHAR(128) NULL,
    created_at      BIGINT       NOT NULL
);
CREATE INDEX idx_points_records_user ON points_records (user_id, id);
CREATE INDEX idx_points_records_user_source ON points_records (user_id, source, id);

-- Results of mutating requests that carried an Idempotency-Key. The primary key is what makes a
-- retried request unable to charge twice, even across restarts.
CREATE TABLE idempotency_keys (
    user_id    BIGINT        NOT NULL,
    idem_key   VARCHAR(128)  NOT NULL,
    operation  VARCHAR(32)   NOT NULL,
    response   VARCHAR(8000) NOT NULL,
    created_at BIGINT        NOT NULL,
    PRIMARY KEY (user_id, idem_key)
);
CREATE INDEX idx_idempotency_created ON idempotency_keys (created_at);

-- Refresh-token families: one per sign-in. Revoking a family (logout, reuse detected) kills its
-- refresh tokens and, through the in-memory revocation set, its access tokens at once.
CREATE TABLE token_families (
    family_id     VARCHAR(64) NOT NULL PRIMARY KEY,
    subject_kind  VARCHAR(16) NOT NULL,
    subject_id    BIGINT      NOT NULL,
    revoked_at    BIGINT      NULL,
    revoke_reason VARCHAR(32) NULL,
    created_at    BIGINT      NOT NULL,
    expires_at    BIGINT      NOT NULL
);
CREATE INDEX idx_token_families_revoked ON token_families (revoked_at, expires_at);

-- Each refresh token is single-use: used_at is set when it is exchanged for a new pair.
CREATE TABLE refresh_tokens (
    jti        VARCHAR(64) NOT NULL PRIMARY KEY,
    family_id  VARCHAR(64) NOT NULL,
    used_at    BIGINT      NULL,
    created_at BIGINT      NOT NULL,
    expires_at BIGINT      NOT NULL
);
CREATE INDEX idx_refresh_tokens_family ON refresh_tokens (family_id);

-- Back-office accounts, created only by `restaurant-lottery create-admin` (argon2 hashes).
CREATE TABLE admins (
    id            INTEGER      NOT NULL PRIMARY KEY AUTOINCREMENT,
    username      VARCHAR(64)  NOT NULL,
    password_hash VARCHAR(255) NOT NULL,
    created_at    BIGINT       NOT NULL,
    last_login    BIGINT       NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX uq_admins_username ON admins (username);

-- Every admin mutation: who, what, on what, the state before and after (JSON), when.
CREATE TABLE audit_log (
    id           INTEGER       NOT NULL PRIMARY KEY AUTOINCREMENT,
    actor_kind   VARCHAR(16)   NOT NULL,
    actor_id     BIGINT        NOT NULL,
    actor_name   VARCHAR(64)   NOT NULL,
    action       VARCHAR(64)   NOT NULL,
    target_type  VARCHAR(32)   NOT NULL,
    target_id    VARCHAR(64)   NOT NULL,
    before_state VARCHAR(4000) NULL,
    after_state  VARCHAR(4000) NULL,
    created_at   BIGINT        NOT NULL
);
CREATE INDEX idx_audit_log_action ON audit_log (action, id);
