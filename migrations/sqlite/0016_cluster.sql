-- Several nodes, one system (SQLite; mirrors migrations/mysql, which explains each part). A
-- cluster needs MySQL/MariaDB; on SQLite the fence column is still there, so every wallet write
-- has one shape on both engines.

CREATE TABLE cluster_nodes (
    node_id      VARCHAR(64)  NOT NULL PRIMARY KEY,
    epoch        BIGINT       NOT NULL,
    lease_until  BIGINT       NOT NULL,
    started_at   BIGINT       NOT NULL,
    renewed_at   BIGINT       NOT NULL
);

ALTER TABLE users ADD COLUMN owner_node VARCHAR(64) NULL;
ALTER TABLE users ADD COLUMN owner_fence BIGINT NOT NULL DEFAULT 0;

CREATE TABLE stock_blocks (
    item_kind  VARCHAR(8)   NOT NULL,
    item_id    BIGINT       NOT NULL,
    node_id    VARCHAR(64)  NOT NULL,
    units      BIGINT       NOT NULL CHECK (units >= 0),
    PRIMARY KEY (item_kind, item_id, node_id)
);
CREATE INDEX idx_stock_blocks_node ON stock_blocks (node_id);
