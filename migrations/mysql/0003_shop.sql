-- The points shop: products and exchange orders.

-- stock_total counts every unit ever put on sale (initial stock, restocks, admin corrections), so
-- stock + units in orders = stock_total (checked by reconcile). Delisted products keep their row.
CREATE TABLE products (
    id              BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    name            VARCHAR(64)  NOT NULL,
    description     VARCHAR(500) NOT NULL DEFAULT '',
    category        VARCHAR(32)  NOT NULL,
    exchange_points BIGINT       NOT NULL,
    stock           BIGINT       NOT NULL,
    stock_total     BIGINT       NOT NULL,
    sales_count     BIGINT       NOT NULL DEFAULT 0,
    image           VARCHAR(512) NOT NULL DEFAULT '',
    is_hot          BIGINT       NOT NULL DEFAULT 0,
    rating          DOUBLE       NOT NULL DEFAULT 5,
    sort_order      BIGINT       NOT NULL DEFAULT 0,
    active          BIGINT       NOT NULL DEFAULT 1,
    created_at      BIGINT       NOT NULL,
    updated_at      BIGINT       NOT NULL,
    KEY idx_products_category (active, category),
    CONSTRAINT ck_products_stock CHECK (stock >= 0)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- One row per redemption. The exchange code is what the merchant verifies at the counter
-- (pending → completed, exactly once).
CREATE TABLE exchange_orders (
    id            BIGINT        NOT NULL AUTO_INCREMENT PRIMARY KEY,
    user_id       BIGINT        NOT NULL,
    product_id    BIGINT        NOT NULL,
    product_name  VARCHAR(64)   NOT NULL,
    quantity      BIGINT        NOT NULL,
    points_cost   BIGINT        NOT NULL,
    exchange_code VARCHAR(16)   NOT NULL,
    status        VARCHAR(16)   NOT NULL,
    delivery_info VARCHAR(1000) NULL,
    created_at    BIGINT        NOT NULL,
    verified_at   BIGINT        NULL,
    verified_by   BIGINT        NULL,
    UNIQUE KEY uq_exchange_orders_code (exchange_code),
    KEY idx_exchange_orders_user (user_id, id),
    KEY idx_exchange_orders_product (product_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
