//! Upstream Rodan's status integers, on the wire and in the database.
