-- Id blocks for server-assigned ids (mirrors migrations/mysql).
CREATE TABLE id_blocks (
    name    VARCHAR(32) NOT NULL PRIMARY KEY,
    next_id BIGINT      NOT NULL
);

INSERT INTO id_blocks (name, next_id) SELECT 'lottery_draws', COALESCE(MAX(id), 0) + 1 FROM lottery_draws;
