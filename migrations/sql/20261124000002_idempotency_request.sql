-- Binds each Idempotency-Key to the command it was first used with, so a key reused for a
-- different command is refused (422) instead of silently answered with another command's
-- result. Keys stored before this column existed have '' and match any command.
ALTER TABLE idempotency_keys ADD COLUMN request TEXT NOT NULL DEFAULT '';
