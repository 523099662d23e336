//! Rodan jobs in Rust.
