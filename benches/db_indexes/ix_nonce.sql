-- 0011: a number is never reused in a campaign (the safety net the perf branch keeps).
CREATE UNIQUE INDEX uq_lottery_draws_nonce ON lottery_draws (campaign_id, user_id, nonce);
