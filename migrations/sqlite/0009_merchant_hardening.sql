-- Merchant hardening (SQLite; mirrors migrations/mysql).
-- `used_by`: the merchant who verified a won prize at the counter (orders have `verified_by`).
-- `image_sha256`: the receipt photo's digest; one customer cannot upload the same photo twice
-- (older rows have none, and NULLs never collide).
ALTER TABLE lottery_draws ADD COLUMN used_by BIGINT NULL;
ALTER TABLE photo_uploads ADD COLUMN image_sha256 VARCHAR(64) NULL;
CREATE UNIQUE INDEX uq_photo_uploads_user_image ON photo_uploads (user_id, image_sha256);
