-- Every draw writes each secondary index of lottery_draws, and draws are the hottest insert.
-- idx_lottery_draws_campaign (campaign_id, created_at) duplicated what uq_lottery_draws_nonce
-- (campaign_id, user_id, nonce) already gives: a campaign's draws found by their campaign_id
-- prefix (the statistics read all of a campaign's draws; nothing reads them in created_at
-- order). The unique nonce index stays: it is the guarantee that a number is never reused.
DROP INDEX idx_lottery_draws_campaign ON lottery_draws;
