-- Idempotency keys are opaque client strings (often base64): two keys that differ only in case
-- are two different requests, as they are in SQLite and in the in-memory cache. The table's
-- default collation folded case, so the second request was answered with the first's result and
-- never ran. Byte-for-byte comparison, like the WeChat openids.
ALTER TABLE idempotency_keys MODIFY idem_key VARCHAR(128) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL;
