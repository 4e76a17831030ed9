-- History you can walk (docs/history.md).
--
-- Who made each change: the presence name the command was sent with (NULL without one,
-- and for the server's own changes). Shown in a todo's history and in the time-travel view.
ALTER TABLE changes ADD COLUMN actor TEXT;
-- The one todo a change was about (NULL for sprint changes and re-spacing): a todo's
-- history is an index range, not a scan of the log.
ALTER TABLE changes ADD COLUMN todo_id BIGINT;
CREATE INDEX changes_by_todo ON changes (board_id, todo_id, seq);

-- The board as it was at every SNAPSHOT_EVERY-th seq, written in that change's
-- transaction: the board at any retained seq N is the newest snapshot at or below N plus
-- at most SNAPSHOT_EVERY - 1 events replayed through the shared reducer. Pruned with the
-- log: the oldest snapshot kept is the newest one the log still reaches past.
CREATE TABLE snapshots (
    board_id TEXT   NOT NULL REFERENCES boards (id) ON DELETE CASCADE,
    seq      BIGINT NOT NULL,
    state    TEXT   NOT NULL,
    PRIMARY KEY (board_id, seq)
);
