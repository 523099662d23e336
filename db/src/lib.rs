//! The state Rodan's API server and worker share: the PostgreSQL schema (versioned migrations),
//! the job catalogue registration, run dispatch over RabbitMQ, and model events on Redis.

pub mod broker;
pub mod catalogue;
pub mod events;
pub mod schedule;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

/// The schema's versioned migrations, embedded in the binary (`db/migrations/`).
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!();

/// Connects a pool of at most `max` connections to `url`.
pub async fn connect(url: &str, max: u32) -> Result<PgPool, sqlx::Error> {
    PgPoolOptions::new()
        .max_connections(max)
        .acquire_timeout(std::time::Duration::from_secs(10))
        .connect(url)
        .await
}

/// [`connect`] for a process that runs the same few statements all day (a worker), tuned for
/// round trips: connections are not pinged before use, and every connection uses generic plans
/// (`plan_cache_mode = force_generic_plan`), so a prepared statement is planned once instead of
/// on each execution. PostgreSQL otherwise keeps planning statements
/// whose parameters are arrays, as a worker's batched claims are.
pub async fn connect_generic(url: &str, max: u32) -> Result<PgPool, sqlx::Error> {
    let options = url
        .parse::<PgConnectOptions>()?
        .options([("plan_cache_mode", "force_generic_plan")]);
    PgPoolOptions::new()
        .max_connections(max)
        .acquire_timeout(std::time::Duration::from_secs(10))
        // No ping before each statement: it doubled the round trips of every claim and finish.
        // A connection broken meanwhile fails its statement once, which the worker handles as
        // any database error (the message is requeued), and the pool drops it.
        .test_before_acquire(false)
        .connect_with(options)
        .await
}

/// Applies every migration not yet applied. Safe to run again, and from several processes at
/// once: sqlx takes an advisory lock for the duration.
pub async fn migrate(pool: &PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    MIGRATOR.run(pool).await
}
