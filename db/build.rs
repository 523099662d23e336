//! Rebuilds the crate when a migration is added: `sqlx::migrate!` embeds the folder's files, and
//! cargo does not watch a folder for new files by itself.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
