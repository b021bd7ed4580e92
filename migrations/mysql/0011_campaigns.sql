-- Campaigns and fair draws (API.md "Campaigns and fair draws").

-- Several wheels at once, each a campaign (the seeds' v3 `lottery_campaigns`). The wheel that
-- existed before is campaign 1 and keeps its settings, draws, pity counters and stock; its
-- settings move here from `wheel_settings`, so each campaign's rules live in one row.
-- status: draft → active ⇄ paused → ended (final).
CREATE TABLE lottery_campaigns (
    id           BIGINT        NOT NULL AUTO_INCREMENT PRIMARY KEY,
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
    updated_at   BIGINT        NOT NULL,
    KEY idx_lottery_campaigns_status (status, id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

INSERT INTO lottery_campaigns (id, name, description, status, starts_at, ends_at, cost_points, daily_limit,
                               min_level, pity_enabled, pity_limit, banner_image, created_at, updated_at)
SELECT 1, campaign_name, '', 'active', starts_at, ends_at, cost_points, daily_limit, 1, pity_enabled, pity_limit,
       '', updated_at, updated_at
FROM wheel_settings WHERE id = 1;
-- A fresh database has no wheel yet: campaign 1 starts with the demo rules (WheelSettings::demo).
INSERT INTO lottery_campaigns (id, name, description, status, starts_at, ends_at, cost_points, daily_limit,
                               min_level, pity_enabled, pity_limit, banner_image, created_at, updated_at)
SELECT 1, '幸运大转盘', '', 'active', NULL, NULL, 100, 0, 1, 1, 10, '', 0, 0
FROM DUAL WHERE NOT EXISTS (SELECT 1 FROM lottery_campaigns WHERE id = 1);
DROP TABLE wheel_settings;

-- Sectors belong to a campaign; every existing sector to campaign 1. cash_value_cents is the
-- prize's cash value (at most 5,000,000 = ¥50,000, the legal ceiling of a prize promotion).
ALTER TABLE wheel_prizes ADD COLUMN campaign_id BIGINT NOT NULL DEFAULT 1;
ALTER TABLE wheel_prizes ADD COLUMN cash_value_cents BIGINT NOT NULL DEFAULT 0;
CREATE INDEX idx_wheel_prizes_campaign ON wheel_prizes (campaign_id, active, angle);

-- What makes a draw verifiable: its campaign, the customer's nonce in that campaign (unique, so a
-- number is never reused), the client seed, the random value, the seed it came from, and which
-- sectors were sold out (one bit per sector in angle order) to rebuild its intervals. Draws
-- before fair draws have no nonce (NULLs never collide). expires_at: a coupon's end of
-- validity; claimed_at and delivery_info: a physical prize's delivery details.
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

-- Server seeds, one per campaign per period. The seed stays secret until ends_at has passed
-- (the answers check the time); the commitment is public from the start.
CREATE TABLE lottery_seeds (
    id          BIGINT      NOT NULL AUTO_INCREMENT PRIMARY KEY,
    campaign_id BIGINT      NOT NULL,
    starts_at   BIGINT      NOT NULL,
    ends_at     BIGINT      NOT NULL,
    seed        VARCHAR(64) NOT NULL,
    commitment  VARCHAR(64) NOT NULL,
    created_at  BIGINT      NOT NULL,
    UNIQUE KEY uq_lottery_seeds_period (campaign_id, starts_at),
    KEY idx_lottery_seeds_ends (campaign_id, ends_at)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- Pity counters of campaigns other than 1 (campaign 1's stays in users.pity_count, where the
-- wallet's guarded update has always kept it).
CREATE TABLE campaign_pity (
    user_id     BIGINT NOT NULL,
    campaign_id BIGINT NOT NULL,
    pity_count  BIGINT NOT NULL DEFAULT 0,
    updated_at  BIGINT NOT NULL,
    PRIMARY KEY (user_id, campaign_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
