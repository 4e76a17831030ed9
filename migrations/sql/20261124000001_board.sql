-- The board schema. It is written in the SQL that SQLite and Postgres share (TEXT, BIGINT,
-- composite primary keys, ON CONFLICT), so one set of migrations serves both backends.

-- One row per board. `seq` is the head of the board's change log: a command takes the next
-- seq by `UPDATE boards SET seq = seq + 1 ... RETURNING seq`, which also locks the row
-- (Postgres) or the database (SQLite) until commit, so seqs never gap or repeat.
CREATE TABLE boards (
    id             TEXT   PRIMARY KEY,
    name           TEXT   NOT NULL,
    seq            BIGINT NOT NULL DEFAULT 0,
    -- Every change with seq <= pruned_through has been dropped from the log; a client
    -- asking for changes since an older seq must take a fresh snapshot instead.
    pruned_through BIGINT NOT NULL DEFAULT 0,
    created_at     BIGINT NOT NULL
);

-- The current rows of each board: what `GET /api/boards/{board}` reads.
CREATE TABLE sprints (
    board_id TEXT   NOT NULL REFERENCES boards (id) ON DELETE CASCADE,
    id       BIGINT NOT NULL,
    name     TEXT   NOT NULL,
    status   TEXT   NOT NULL,
    PRIMARY KEY (board_id, id)
);

CREATE TABLE todos (
    board_id  TEXT   NOT NULL REFERENCES boards (id) ON DELETE CASCADE,
    id        BIGINT NOT NULL,
    title     TEXT   NOT NULL,
    status    TEXT   NOT NULL,
    sprint_id BIGINT,
    position  BIGINT NOT NULL,
    version   BIGINT NOT NULL,
    PRIMARY KEY (board_id, id)
);

-- The change log, the truth every client is derived from. The primary key forbids a
-- repeated seq; the locking update on `boards` forbids a gap.
CREATE TABLE changes (
    board_id TEXT   NOT NULL REFERENCES boards (id) ON DELETE CASCADE,
    seq      BIGINT NOT NULL,
    at       BIGINT NOT NULL,
    event    TEXT   NOT NULL,
    ops      TEXT   NOT NULL,
    diff     TEXT   NOT NULL,
    PRIMARY KEY (board_id, seq)
);

-- The first answer to each Idempotency-Key, written in the command's transaction so a
-- retry can never apply a command twice.
CREATE TABLE idempotency_keys (
    board_id   TEXT   NOT NULL REFERENCES boards (id) ON DELETE CASCADE,
    key        TEXT   NOT NULL,
    response   TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (board_id, key)
);
