-- The fair-draw columns migration 0011 added to lottery_draws (without its indexes).
ALTER TABLE lottery_draws ADD COLUMN campaign_id BIGINT NOT NULL DEFAULT 1;
ALTER TABLE lottery_draws ADD COLUMN nonce BIGINT NULL;
ALTER TABLE lottery_draws ADD COLUMN client_seed VARCHAR(64) NULL;
ALTER TABLE lottery_draws ADD COLUMN random_value DOUBLE NULL;
ALTER TABLE lottery_draws ADD COLUMN seed_id BIGINT NULL;
ALTER TABLE lottery_draws ADD COLUMN sold_out_mask BIGINT NOT NULL DEFAULT 0;
ALTER TABLE lottery_draws ADD COLUMN expires_at BIGINT NULL;
ALTER TABLE lottery_draws ADD COLUMN claimed_at BIGINT NULL;
ALTER TABLE lottery_draws ADD COLUMN delivery_info VARCHAR(1000) NULL;
