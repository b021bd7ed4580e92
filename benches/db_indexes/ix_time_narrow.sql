-- The ledger's time index without the covered columns (a candidate for migration 0015).
CREATE INDEX idx_points_records_time ON points_records (created_at);
