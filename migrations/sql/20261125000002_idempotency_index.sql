-- Stored Idempotency-Key answers are swept by age every minute (IDEMPOTENCY_TTL) and kept
-- to a bounded number per board: both look them up by time.
CREATE INDEX idempotency_keys_by_age ON idempotency_keys (board_id, created_at);
CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at);
