-- Id blocks for rows whose ids the server assigns itself, so many of them can be written in one
-- multi-row INSERT (group commit) and still be known before the commit. A server reserves a
-- block by moving next_id forward in its own small transaction; ids stay unique across servers.
CREATE TABLE id_blocks (
    name    VARCHAR(32) NOT NULL PRIMARY KEY,
    next_id BIGINT      NOT NULL
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_unicode_ci;

INSERT INTO id_blocks (name, next_id) SELECT 'lottery_draws', COALESCE(MAX(id), 0) + 1 FROM lottery_draws;
