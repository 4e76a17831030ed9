//! `sqlx::migrate!` embeds `sql/` at compile time; without this, adding a migration file
//! would not rebuild the crate and the new migration would silently not run.
fn main() {
    println!("cargo:rerun-if-changed=sql");
}
