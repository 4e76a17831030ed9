//! The schema, embedded in the server binary at compile time.
//!
//! The SQL in `sql/` uses only what SQLite and Postgres share, so one set of migrations
//! serves both backends; a later migration that needs backend-specific SQL would split
//! the folder per backend and expose one `Migrator` for each.

use sqlx::migrate::Migrator;

/// Every migration, in order. Run with `MIGRATOR.run(&pool)` at start-up.
pub static MIGRATOR: Migrator = sqlx::migrate!("./sql");
