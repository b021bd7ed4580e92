-- lottery_draws and points_records as they were at 70aeec5 (migrations 0001-0009).
CREATE TABLE points_records (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY, user_id BIGINT NOT NULL, points BIGINT NOT NULL,
    balance_after BIGINT NOT NULL, source VARCHAR(32) NOT NULL, description VARCHAR(255) NOT NULL DEFAULT '',
    related_id VARCHAR(64) NULL, idempotency_key VARCHAR(128) NULL, created_at BIGINT NOT NULL,
    KEY idx_points_records_user (user_id, id), KEY idx_points_records_user_source (user_id, source, id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
CREATE TABLE lottery_draws (
    id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY, user_id BIGINT NOT NULL, batch_id VARCHAR(64) NOT NULL,
    prize_id BIGINT NOT NULL, prize_name VARCHAR(64) NOT NULL, prize_type VARCHAR(16) NOT NULL,
    prize_value BIGINT NOT NULL, angle BIGINT NOT NULL, is_pity BIGINT NOT NULL DEFAULT 0,
    is_near_miss BIGINT NOT NULL DEFAULT 0, points_cost BIGINT NOT NULL, redemption_code VARCHAR(16) NULL,
    status VARCHAR(16) NULL, used_at BIGINT NULL, created_at BIGINT NOT NULL,
    KEY idx_lottery_draws_user (user_id, id), KEY idx_lottery_draws_prize (prize_id),
    UNIQUE KEY uq_lottery_draws_code (redemption_code)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
ALTER TABLE lottery_draws ADD COLUMN used_by BIGINT NULL;
