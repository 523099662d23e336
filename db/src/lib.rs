//! PostgreSQL schema and shared queries.
