-- Loyalty (SQLite; mirrors migrations/mysql): frozen points, member levels, check-ins, tasks.
--
-- `frozen_points` is the part of `points` an admin has frozen: `points` (total_points) never
-- changes by a freeze, and only `points - frozen_points` can be spent. `member_level` is the
-- level a customer holds; it only ever rises (the wallet writes it after an earning commits).
ALTER TABLE users ADD COLUMN frozen_points BIGINT NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN member_level BIGINT NOT NULL DEFAULT 1;

-- Every freeze (positive) and unfreeze (negative), by whom and why.
CREATE TABLE point_freezes (
    id         INTEGER      NOT NULL PRIMARY KEY AUTOINCREMENT,
    user_id    BIGINT       NOT NULL,
    points     BIGINT       NOT NULL,
    reason     VARCHAR(255) NOT NULL DEFAULT '',
    admin_id   BIGINT       NOT NULL,
    admin_name VARCHAR(64)  NOT NULL,
    created_at BIGINT       NOT NULL
);
CREATE INDEX idx_point_freezes_user ON point_freezes (user_id, id);

-- One check-in per customer per business day (`day`: days since 1970-01-01 in BUSINESS_TZ);
-- the unique key is what makes a second one impossible, whatever the actors believe.
CREATE TABLE checkins (
    id         INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    user_id    BIGINT  NOT NULL,
    day        BIGINT  NOT NULL,
    streak     BIGINT  NOT NULL,
    points     BIGINT  NOT NULL,
    bonus      BIGINT  NOT NULL DEFAULT 0,
    record_id  BIGINT  NOT NULL,
    created_at BIGINT  NOT NULL
);
CREATE UNIQUE INDEX uq_checkins_user_day ON checkins (user_id, day);

-- The level table (admin-editable). Multipliers in hundredths: 110 is 1.1x.
CREATE TABLE member_levels (
    level          BIGINT      NOT NULL PRIMARY KEY,
    name           VARCHAR(32) NOT NULL,
    experience     BIGINT      NOT NULL,
    multiplier_pct BIGINT      NOT NULL
);
INSERT INTO member_levels (level, name, experience, multiplier_pct) VALUES
    (1, '普通会员', 0, 100), (2, '白银会员', 2000, 110), (3, '黄金会员', 10000, 120),
    (4, '铂金会员', 30000, 130), (5, '钻石会员', 100000, 150);

-- The built-in tasks; admins edit their rewards.
CREATE TABLE tasks (
    id          BIGINT       NOT NULL PRIMARY KEY,
    task_key    VARCHAR(32)  NOT NULL,
    name        VARCHAR(64)  NOT NULL,
    description VARCHAR(255) NOT NULL DEFAULT '',
    period      VARCHAR(16)  NOT NULL,
    target      BIGINT       NOT NULL,
    points      BIGINT       NOT NULL
);
CREATE UNIQUE INDEX uq_tasks_key ON tasks (task_key);
INSERT INTO tasks (id, task_key, name, description, period, target, points) VALUES
    (1, 'first_draw', '首次抽奖', '完成第一次抽奖', 'once', 1, 50),
    (2, 'daily_draw', '每日抽奖', '今天抽奖3次', 'daily', 3, 20),
    (3, 'upload_receipt', '上传小票', '今天有1张小票审核通过', 'daily', 1, 30),
    (4, 'checkin_streak_7', '连续签到7天', '连续签到7天', 'once', 7, 100),
    (5, 'first_exchange', '首次兑换', '完成第一次积分兑换', 'once', 1, 50),
    (6, 'weekly_spender', '每周消费', '本周消费1000积分', 'weekly', 1000, 100);

-- A task's reward is credited once per round (`round_key`: once, d2026-12-01, w2026-11-30).
CREATE TABLE task_claims (
    id         INTEGER     NOT NULL PRIMARY KEY AUTOINCREMENT,
    user_id    BIGINT      NOT NULL,
    task_key   VARCHAR(32) NOT NULL,
    round_key  VARCHAR(32) NOT NULL,
    points     BIGINT      NOT NULL,
    record_id  BIGINT      NOT NULL,
    created_at BIGINT      NOT NULL
);
CREATE UNIQUE INDEX uq_task_claims_round ON task_claims (user_id, task_key, round_key);

-- Analytics and the leaderboard's rebuild read the ledger by time: a covering index, so a
-- range of days is read from the index alone.
CREATE INDEX idx_points_records_time ON points_records (created_at, source, points, user_id);
