-- Positions become sparse ordering keys (see `app::domain::position`): a move changes the
-- todo that moved and nothing else, where a dense index renumbered its whole column.
--
-- Each todo's dense index p (0, 1, 2, ... within its column) becomes a key of two bytes and
-- the terminator, in lowercase hex: (1 + p / 256, p % 256, 0x80). Keys keep the column's
-- order, are distinct, and leave room before the first. Written with only what SQLite and
-- Postgres share (substr, integer division, ||), so one migration serves both.
ALTER TABLE todos ADD COLUMN rank TEXT NOT NULL DEFAULT '';

UPDATE todos SET rank =
       substr('0123456789abcdef', CAST((1 + position / 256) / 16 AS INTEGER) + 1, 1)
    || substr('0123456789abcdef', CAST((1 + position / 256) % 16 AS INTEGER) + 1, 1)
    || substr('0123456789abcdef', CAST((position % 256) / 16 AS INTEGER) + 1, 1)
    || substr('0123456789abcdef', CAST(position % 16 AS INTEGER) + 1, 1)
    || '80';

ALTER TABLE todos DROP COLUMN position;
ALTER TABLE todos RENAME COLUMN rank TO position;

-- Logged changes and remembered answers that carry the old numeric positions cannot be
-- read any more. The log is dropped (every board counts as pruned up to its head, so a
-- client behind it gets `reset` and takes a fresh snapshot, as after any pruning), and so
-- are the stored answers whose event carried a position.
DELETE FROM changes;
UPDATE boards SET pruned_through = seq;
DELETE FROM idempotency_keys WHERE response LIKE '%"todo_added"%' OR response LIKE '%"todo_moved"%';
