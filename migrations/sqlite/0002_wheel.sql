-- The prize wheel: sectors, settings, and every draw (mirrors migrations/mysql).

CREATE TABLE wheel_prizes (
    id            INTEGER     NOT NULL PRIMARY KEY AUTOINCREMENT,
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
    CONSTRAINT ck_wheel_prizes_stock CHECK (stock_left IS NULL OR stock_left >= 0)
);
CREATE INDEX idx_wheel_prizes_active ON wheel_prizes (active, angle);

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
);

CREATE TABLE lottery_draws (
    id              INTEGER     NOT NULL PRIMARY KEY AUTOINCREMENT,
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
    created_at      BIGINT      NOT NULL
);
CREATE INDEX idx_lottery_draws_user ON lottery_draws (user_id, id);
CREATE INDEX idx_lottery_draws_prize ON lottery_draws (prize_id);
CREATE INDEX idx_lottery_draws_batch ON lottery_draws (batch_id);
CREATE UNIQUE INDEX uq_lottery_draws_code ON lottery_draws (redemption_code);
