-- A board's change log is bounded in bytes as well as in changes (LOG_RETAIN_KIB): each
-- change records its size (its event, ops and diff as stored), and each board the size of
-- the log it keeps, moved in the same transaction as the change. Changes written before
-- this count as 0 bytes; they leave the log by count as before.
ALTER TABLE changes ADD COLUMN bytes BIGINT NOT NULL DEFAULT 0;
ALTER TABLE boards ADD COLUMN log_bytes BIGINT NOT NULL DEFAULT 0;
