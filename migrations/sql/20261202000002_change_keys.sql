-- The Idempotency-Key a change's command was sent with (NULL without one). Data frames
-- carry it, so the tab that sent a command recognises its own change when the frame
-- arrives before the command's answer: an optimistic client then drops its pending copy
-- instead of showing the change twice.
ALTER TABLE changes ADD COLUMN command_key TEXT;
