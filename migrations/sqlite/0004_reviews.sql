-- Receipt photos and their review, and merchant applications (mirrors migrations/mysql).

CREATE TABLE photo_uploads (
    id                  INTEGER      NOT NULL PRIMARY KEY AUTOINCREMENT,
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
    created_at          BIGINT       NOT NULL
);
CREATE INDEX idx_photo_uploads_user ON photo_uploads (user_id, id);
CREATE INDEX idx_photo_uploads_status ON photo_uploads (status, id);
CREATE INDEX idx_photo_uploads_reviewer ON photo_uploads (reviewer_id);

CREATE TABLE merchant_applications (
    id          INTEGER     NOT NULL PRIMARY KEY AUTOINCREMENT,
    user_id     BIGINT      NOT NULL,
    shop_name   VARCHAR(64) NOT NULL,
    contact     VARCHAR(64) NOT NULL,
    status      VARCHAR(16) NOT NULL,
    reviewed_by BIGINT      NULL,
    reviewed_at BIGINT      NULL,
    created_at  BIGINT      NOT NULL
);
CREATE INDEX idx_merchant_applications_status ON merchant_applications (status, id);
CREATE INDEX idx_merchant_applications_user ON merchant_applications (user_id);
