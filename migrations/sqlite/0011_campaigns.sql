-- Campaigns and fair draws (SQLite; mirrors migrations/mysql, which explains each part).

CREATE TABLE lottery_campaigns (
    id           INTEGER       NOT NULL PRIMARY KEY AUTOINCREMENT,
    name         VARCHAR(64)   NOT NULL,
    description  VARCHAR(1000) NOT NULL DEFAULT '',
    status       VARCHAR(16)   NOT NULL,
    starts_at    BIGINT        NULL,
    ends_at      BIGINT        NULL,
    cost_points  BIGINT        NOT NULL,
    daily_limit  BIGINT        NOT NULL DEFAULT 0,
    min_level    BIGINT        NOT NULL DEFAULT 1,
    pity_enabled BIGINT        NOT NULL,
    pity_limit   BIGINT        NOT NULL,
    banner_image VARCHAR(512)  NOT NULL DEFAULT '',
    created_at   BIGINT        NOT NULL,
    updated_at   BIGINT        NOT NULL
);
CREATE INDEX idx_lottery_campaigns_status ON lottery_campaigns (status, id);

INSERT INTO lottery_campaigns (id, name, description, status, starts_at, ends_at, cost_points, daily_limit,
                               min_level, pity_enabled, pity_limit, banner_image, created_at, updated_at)
SELECT 1, campaign_name, '', 'active', starts_at, ends_at, cost_points, daily_limit, 1, pity_enabled, pity_limit,
       '', updated_at, updated_at
FROM wheel_settings WHERE id = 1;
INSERT INTO lottery_campaigns (id, name, description, status, starts_at, ends_at, cost_points, daily_limit,
                               min_level, pity_enabled, pity_limit, banner_image, created_at, updated_at)
SELECT 1, '幸运大转盘', '', 'active', NULL, NULL, 100, 0, 1, 1, 10, '', 0, 0
WHERE NOT EXISTS (SELECT 1 FROM lottery_campaigns WHERE id = 1);
DROP TABLE wheel_settings;

ALTER TABLE wheel_prizes ADD COLUMN campaign_id BIGINT NOT NULL DEFAULT 1;
ALTER TABLE wheel_prizes ADD COLUMN cash_value_cents BIGINT NOT NULL DEFAULT 0;
CREATE INDEX idx_wheel_prizes_campaign ON wheel_prizes (campaign_id, active, angle);

ALTER TABLE lottery_draws ADD COLUMN campaign_id BIGINT NOT NULL DEFAULT 1;
ALTER TABLE lottery_draws ADD COLUMN nonce BIGINT NULL;
ALTER TABLE lottery_draws ADD COLUMN client_seed VARCHAR(64) NULL;
ALTER TABLE lottery_draws ADD COLUMN random_value DOUBLE NULL;
ALTER TABLE lottery_draws ADD COLUMN seed_id BIGINT NULL;
ALTER TABLE lottery_draws ADD COLUMN sold_out_mask BIGINT NOT NULL DEFAULT 0;
ALTER TABLE lottery_draws ADD COLUMN expires_at BIGINT NULL;
ALTER TABLE lottery_draws ADD COLUMN claimed_at BIGINT NULL;
ALTER TABLE lottery_draws ADD COLUMN delivery_info VARCHAR(1000) NULL;
CREATE UNIQUE INDEX uq_lottery_draws_nonce ON lottery_draws (campaign_id, user_id, nonce);
CREATE INDEX idx_lottery_draws_campaign ON lottery_draws (campaign_id, created_at);

CREATE TABLE lottery_seeds (
    id          INTEGER     NOT NULL PRIMARY KEY AUTOINCREMENT,
    campaign_id BIGINT      NOT NULL,
    starts_at   BIGINT      NOT NULL,
    ends_at     BIGINT      NOT NULL,
    seed        VARCHAR(64) NOT NULL,
    commitment  VARCHAR(64) NOT NULL,
    created_at  BIGINT      NOT NULL
);
CREATE UNIQUE INDEX uq_lottery_seeds_period ON lottery_seeds (campaign_id, starts_at);
CREATE INDEX idx_lottery_seeds_ends ON lottery_seeds (campaign_id, ends_at);

CREATE TABLE campaign_pity (
    user_id     BIGINT NOT NULL,
    campaign_id BIGINT NOT NULL,
    pity_count  BIGINT NOT NULL DEFAULT 0,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (user_id, campaign_id)
);
