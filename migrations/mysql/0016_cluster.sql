-- Several nodes, one system (cluster mode, DESIGN.md "Cluster").

-- Each node's lease on being alive. A node renews its row every second; `lease_until` is the
-- database's clock (ms), so nodes with drifting clocks still agree on who is alive. `epoch` grows
-- at every start, so a restarted node is a new holder even under the same NODE_ID.
CREATE TABLE cluster_nodes (
    node_id      VARCHAR(64)  NOT NULL PRIMARY KEY,
    epoch        BIGINT       NOT NULL,
    lease_until  BIGINT       NOT NULL,
    started_at   BIGINT       NOT NULL,
    renewed_at   BIGINT       NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

-- Which node's wallet actor owns the customer, and the fencing number of that ownership. A node
-- takes a customer only while the previous owner's lease has expired (or the customer has no
-- owner), and every take adds one to `owner_fence`. Every write of a wallet is guarded by the
-- fence its actor took, so a node that lost the customer (paused, partitioned) can never commit
-- for them again. A single node never takes anything: the fence stays where it is.
ALTER TABLE users
    ADD COLUMN owner_node  VARCHAR(64) NULL,
    ADD COLUMN owner_fence BIGINT      NOT NULL DEFAULT 0;

-- Limited stock lent to a node in blocks: units taken from the pool (`wheel_prizes.stock_left`)
-- by a guarded update and added here, so a node decides its wins from its own block without
-- asking the others, and a draw's commit takes its unit from the block (`units >= n`). A unit is
-- in exactly one place — the pool, a block, or a won draw — so nothing is ever oversold. A node's
-- blocks go back to the pool when it leaves, or when another node finds its lease expired.
CREATE TABLE stock_blocks (
    item_kind  VARCHAR(8)   NOT NULL,
    item_id    BIGINT       NOT NULL,
    node_id    VARCHAR(64)  NOT NULL,
    units      BIGINT       NOT NULL,
    PRIMARY KEY (item_kind, item_id, node_id),
    KEY idx_stock_blocks_node (node_id),
    CONSTRAINT ck_stock_blocks_units CHECK (units >= 0)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;
