-- Nothing reads draws by batch; the index only cost every insert.
DROP INDEX idx_lottery_draws_batch ON lottery_draws;
