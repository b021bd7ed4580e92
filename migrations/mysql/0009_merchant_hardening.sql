-- Merchant hardening (MySQL 8 / MariaDB 10.11).
-- `used_by`: the merchant who verified a won prize at the counter (orders have `verified_by`).
-- `image_sha256`: the receipt photo's digest; one customer cannot upload the same photo twice
-- (older rows have none, and NULLs never collide). Hex digests compare byte for byte.
ALTER TABLE lottery_draws ADD COLUMN used_by BIGINT NULL;
ALTER TABLE photo_uploads ADD COLUMN image_sha256 VARCHAR(64) CHARACTER SET ascii COLLATE ascii_bin NULL;
CREATE UNIQUE INDEX uq_photo_uploads_user_image ON photo_uploads (user_id, image_sha256);
