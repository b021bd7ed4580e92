-- Foundation schema (MySQL 8 / MariaDB 10.11).
--
-- Portable types only, because the server reads through sqlx's Any driver: BIGINT for ids, points,
-- flags (0/1) and times (UTC epoch milliseconds); VARCHAR for strings (MySQL reports TEXT as a blob,
-- which Any will not decode as a string).

-- Customers. `points` is the wallet balance: it is only ever changed together with a ledger row
-- (points_records) in the same transaction, by the user's UserSession actor.
CREATE TABLE users (
    id          BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
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
    UNIQUE KEY uq_users_phone (phone),
    KEY idx_users_nickname (nickname),
    -- The last line of defence for "a balance never goes negative".
    CONSTRAINT ck_users_points_non_negative CHECK (points >= 0)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- The points ledger. For every user the deltas sum to users.points and balance_after chains
-- row by row (checked by `restaurant-lottery reconcile`).
CREATE TABLE points_records (
    id              BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    user_id         BIGINT       NOT NULL,
    points          BIGINT       NOT NULL,
    balance_after   BIGINT       NOT NULL,
    source          VARCHAR(32)  NOT NULL,
    description     VARCHAR(255) NOT NULL DEFAULT '',
    related_id      VARCHAR(64)  NULL,
    idempotency_key VARCHAR(128) NULL,
    created_at      BIGINT       NOT NULL,
    KEY idx_points_records_user (user_id, id),
    KEY idx_points_records_user_source (user_id, source, id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- Results of mutating requests that carried an Idempotency-Key. The primary key is what makes a
-- retried request unable to charge twice, even across restarts.
CREATE TABLE idempotency_keys (
    user_id    BIGINT        NOT NULL,
    idem_key   VARCHAR(128)  NOT NULL,
    operation  VARCHAR(32)   NOT NULL,
    response   VARCHAR(8000) NOT NULL,
    created_at BIGINT        NOT NULL,
    PRIMARY KEY (user_id, idem_key),
    KEY idx_idempotency_created (created_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- Refresh-token families: one per sign-in. Revoking a family (logout, reuse detected) kills its
-- refresh tokens and, through the in-memory revocation set, its access tokens at once.
CREATE TABLE token_families (
    family_id     VARCHAR(64) NOT NULL PRIMARY KEY,
    subject_kind  VARCHAR(16) NOT NULL,
    subject_id    BIGINT      NOT NULL,
    revoked_at    BIGINT      NULL,
    revoke_reason VARCHAR(32) NULL,
    created_at    BIGINT      NOT NULL,
    expires_at    BIGINT      NOT NULL,
    KEY idx_token_families_revoked (revoked_at, expires_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- Each refresh token is single-use: used_at is set when it is exchanged for a new pair.
CREATE TABLE refresh_tokens (
    jti        VARCHAR(64) NOT NULL PRIMARY KEY,
    family_id  VARCHAR(64) NOT NULL,
    used_at    BIGINT      NULL,
    created_at BIGINT      NOT NULL,
    expires_at BIGINT      NOT NULL,
    KEY idx_refresh_tokens_family (family_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- Back-office accounts, created only by `restaurant-lottery create-admin` (argon2 hashes).
CREATE TABLE admins (
    id            BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    username      VARCHAR(64)  NOT NULL,
    password_hash VARCHAR(255) NOT NULL,
    created_at    BIGINT       NOT NULL,
    last_login    BIGINT       NOT NULL DEFAULT 0,
    UNIQUE KEY uq_admins_username (username)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- Every admin mutation: who, what, on what, the state before and after (JSON), when.
CREATE TABLE audit_log (
    id           BIGINT        NOT NULL AUTO_INCREMENT PRIMARY KEY,
    actor_kind   VARCHAR(16)   NOT NULL,
    actor_id     BIGINT        NOT NULL,
    actor_name   VARCHAR(64)   NOT NULL,
    action       VARCHAR(64)   NOT NULL,
    target_type  VARCHAR(32)   NOT NULL,
    target_id    VARCHAR(64)   NOT NULL,
    before_state VARCHAR(4000) NULL,
    after_state  VARCHAR(4000) NULL,
    created_at   BIGINT        NOT NULL,
    KEY idx_audit_log_action (action, id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
