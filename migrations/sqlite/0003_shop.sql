-- The points shop: products and exchange orders (mirrors migrations/mysql).

CREATE TABLE products (
    id              INTEGER      NOT NULL PRIMARY KEY AUTOINCREMENT,
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
    CONSTRAINT ck_products_stock CHECK (stock >= 0)
);
CREATE INDEX idx_products_category ON products (active, category);

CREATE TABLE exchange_orders (
    id            INTEGER       NOT NULL PRIMARY KEY AUTOINCREMENT,
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
    verified_by   BIGINT        NULL
);
CREATE UNIQUE INDEX uq_exchange_orders_code ON exchange_orders (exchange_code);
CREATE INDEX idx_exchange_orders_user ON exchange_orders (user_id, id);
CREATE INDEX idx_exchange_orders_product ON exchange_orders (product_id);
