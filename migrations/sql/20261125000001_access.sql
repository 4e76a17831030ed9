-- Who may read and write a board. `public` boards (the seeded demo) are open to anyone;
-- `private` ones need a key. Each board has two keys, read and write, shown once when the
-- board is created (or its keys rotated) and stored here only as SHA-256 hashes: the keys
-- are 256 random bits, so a fast hash is enough, and a copy of the database grants
-- nothing. `keys_rev` counts rotations: a stream remembers the rev it was opened under and
-- ends when the board's rev moves on. Boards created before this migration had no keys and
-- were readable by anyone, so they become public.
ALTER TABLE boards ADD COLUMN visibility TEXT NOT NULL DEFAULT 'public';
ALTER TABLE boards ADD COLUMN read_key_hash TEXT;
ALTER TABLE boards ADD COLUMN write_key_hash TEXT;
ALTER TABLE boards ADD COLUMN keys_rev BIGINT NOT NULL DEFAULT 0;
