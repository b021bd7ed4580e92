-- 0011: a campaign's draws by time (dropped by 0014: the nonce index's campaign_id prefix serves).
CREATE INDEX idx_lottery_draws_campaign ON lottery_draws (campaign_id, created_at);
