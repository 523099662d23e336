//! Rodan's REST API server: upstream rodan-main's API on PostgreSQL, RabbitMQ and Redis.

pub mod accounts;
pub mod auth;
pub mod body;
pub mod bootstrap;
pub mod config;
pub mod cors;
pub mod error;
pub mod limits;
pub mod link;
pub mod models;
pub mod perm;
pub mod query;
pub mod redispatch;
pub mod routes;
pub mod security;
pub mod server;
pub mod state;
mod telemetry;

pub use routes::app;
