-- 0012: the covering index analytics and the leaderboard rebuild read the ledger by.
CREATE INDEX idx_points_records_time ON points_records (created_at, source, points, user_id);
