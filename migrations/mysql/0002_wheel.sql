-- The prize wheel: sectors, settings, and every draw.

-- Sectors. Replacing the wheel retires the old rows (active = 0) and inserts eight new ones, so a
-- draw row always points at the exact sector it was won on. stock_total counts every unit ever
-- stocked; for a limited sector, stock_left + draws won on it = stock_total (checked by reconcile).
CREATE TABLE wheel_prizes (
    id            BIGINT      NOT NULL AUTO_INCREMENT PRIMARY KEY,
    name          VARCHAR(64) NOT NULL,
    prize_type    VARCHAR(16) NOT NULL,
    prize_value   BIGINT      NOT NULL,
    angle         BIGINT      NOT NULL,
    color         VARCHAR(7)  NOT NULL,
    probability   DOUBLE      NOT NULL,
    is_activity   BIGINT      NOT NULL DEFAULT 0,
    stock_total   BIGINT      NULL,
    stock_left    BIGINT      NULL,
    is_pity_prize BIGINT      NOT NULL DEFAULT 0,
    is_fallback   BIGINT      NOT NULL DEFAULT 0,
    active        BIGINT      NOT NULL DEFAULT 1,
    created_at    BIGINT      NOT NULL,
    KEY idx_wheel_prizes_active (active, angle),
    CONSTRAINT ck_wheel_prizes_stock CHECK (stock_left IS NULL OR stock_left >= 0)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- One row (id = 1): the campaign and its rules.
CREATE TABLE wheel_settings (
    id            BIGINT      NOT NULL PRIMARY KEY,
    campaign_name VARCHAR(64) NOT NULL,
    cost_points   BIGINT      NOT NULL,
    pity_enabled  BIGINT      NOT NULL,
    pity_limit    BIGINT      NOT NULL,
    daily_limit   BIGINT      NOT NULL DEFAULT 0,
    starts_at     BIGINT      NULL,
    ends_at       BIGINT      NULL,
    updated_at    BIGINT      NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- One row per draw. Coupons and physical prizes carry a redemption code and a status
-- (unused → used when a merchant verifies it at the counter).
CREATE TABLE lottery_draws (
    id              BIGINT      NOT NULL AUTO_INCREMENT PRIMARY KEY,
    user_id         BIGINT      NOT NULL,
    batch_id        VARCHAR(64) NOT NULL,
    prize_id        BIGINT      NOT NULL,
    prize_name      VARCHAR(64) NOT NULL,
    prize_type      VARCHAR(16) NOT NULL,
    prize_value     BIGINT      NOT NULL,
    angle           BIGINT      NOT NULL,
    is_pity         BIGINT      NOT NULL DEFAULT 0,
    is_near_miss    BIGINT      NOT NULL DEFAULT 0,
    points_cost     BIGINT      NOT NULL,
    redemption_code VARCHAR(16) NULL,
    status          VARCHAR(16) NULL,
    used_at         BIGINT      NULL,
    created_at      BIGINT      NOT NULL,
    KEY idx_lottery_draws_user (user_id, id),
    KEY idx_lottery_draws_prize (prize_id),
    KEY idx_lottery_draws_batch (batch_id),
    UNIQUE KEY uq_lottery_draws_code (redemption_code)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
