-- Receipt photos and their review, and merchant applications.

-- A customer's receipt upload. The photo itself lives in object storage under object_key.
-- status: pending → approved | rejected, exactly once. An approval's points are one ledger row
-- (source photo_review, related_id = this id) written in the same transaction.
CREATE TABLE photo_uploads (
    id                  BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    user_id             BIGINT       NOT NULL,
    object_key          VARCHAR(255) NOT NULL,
    content_type        VARCHAR(32)  NOT NULL,
    size_bytes          BIGINT       NOT NULL,
    amount_cents        BIGINT       NOT NULL,
    status              VARCHAR(16)  NOT NULL,
    actual_amount_cents BIGINT       NULL,
    points_awarded      BIGINT       NULL,
    review_reason       VARCHAR(255) NULL,
    reviewer_id         BIGINT       NULL,
    reviewed_at         BIGINT       NULL,
    created_at          BIGINT       NOT NULL,
    KEY idx_photo_uploads_user (user_id, id),
    KEY idx_photo_uploads_status (status, id),
    KEY idx_photo_uploads_reviewer (reviewer_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- A customer asking to become a merchant; an admin approves (which grants the role) or rejects.
CREATE TABLE merchant_applications (
    id          BIGINT      NOT NULL AUTO_INCREMENT PRIMARY KEY,
    user_id     BIGINT      NOT NULL,
    shop_name   VARCHAR(64) NOT NULL,
    contact     VARCHAR(64) NOT NULL,
    status      VARCHAR(16) NOT NULL,
    reviewed_by BIGINT      NULL,
    reviewed_at BIGINT      NULL,
    created_at  BIGINT      NOT NULL,
    KEY idx_merchant_applications_status (status, id),
    KEY idx_merchant_applications_user (user_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
