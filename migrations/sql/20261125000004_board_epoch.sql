-- Each board gets an epoch: a token that names this incarnation of its history. A client's
-- position is (epoch, seq); one holding a seq from another incarnation (a wiped or restored
-- database, a board deleted and created again under the same id) is told to reset even when
-- the new head has grown past its seq. New boards get a random epoch; a board that already
-- exists takes its creation time, which also differs between incarnations.
ALTER TABLE boards ADD COLUMN epoch TEXT NOT NULL DEFAULT '';
UPDATE boards SET epoch = CAST(created_at AS TEXT);
