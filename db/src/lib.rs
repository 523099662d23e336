//! The state Rodan's API server and worker share: the PostgreSQL schema (versioned migrations),
//! the job catalogue registration, run dispatch over RabbitMQ, and model events on Redis.

pub mod broker;
pub mod catalogue;
pub mod events;
pub mod schedule;

use std::future::Future;
use std::time::{Duration, Instant};

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

/// How long a starting process waits for the database and the broker it needs. In a cluster
/// they start together: the migration Job's pod, the API and the workers usually come up before
/// PostgreSQL has run initdb and RabbitMQ has booted. Waiting inside the process keeps a slow
/// first boot from spending the Job's retries or putting pods into CrashLoopBackOff.
pub const STARTUP_WAIT: Duration = Duration::from_secs(180);

/// Runs `attempt` until it succeeds or `within` has passed since the first try, waiting 0.5 s,
/// 1 s, 2 s... (at most 5 s) between tries and logging each failure as waiting for `what`.
/// A failure that `passes` does not call passing (a wrong password) ends it at once; the last
/// failure is returned when time is up.
pub async fn until_up<T, E, F, Fut>(
    what: &str,
    within: Duration,
    passes: impl Fn(&E) -> bool,
    mut attempt: F,
) -> Result<T, E>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: std::fmt::Display,
{
    let start = Instant::now();
    let mut pause = Duration::from_millis(500);
    loop {
        match attempt().await {
            Ok(v) => return Ok(v),
            Err(error) if passes(&error) && start.elapsed() + pause < within => {
                tracing::warn!(%error, waited_s = start.elapsed().as_secs(), "waiting for {what}");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(5));
            }
            Err(error) => return Err(error),
        }
    }
}

/// The schema's versioned migrations, embedded in the binary (`db/migrations/`).
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!();

/// Whether a failure to connect may pass by itself: the server is unreachable (not up, not yet
/// in DNS, no endpoints) or starting up. A refused password or a missing database is not.
pub fn unreachable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::Tls(_) => true,
        // cannot_connect_now: the server is starting up or shutting down.
        sqlx::Error::Database(e) => e.code().is_some_and(|code| code == "57P03"),
        _ => false,
    }
}

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

#[cfg(test)]
mod tests {
    use super::until_up;
    use std::time::Duration;

    #[tokio::test]
    async fn a_service_that_comes_up_is_waited_for() {
        let mut tries = 0;
        let got = until_up(
            "the test service",
            Duration::from_secs(10),
            |_| true,
            || {
                tries += 1;
                let now = tries;
                async move { if now < 3 { Err("refused") } else { Ok(now) } }
            },
        )
        .await;
        assert_eq!(got, Ok(3));
    }

    #[tokio::test]
    async fn a_service_that_stays_down_fails_with_its_last_error_once_the_time_is_up() {
        let start = std::time::Instant::now();
        let mut tries = 0;
        let got: Result<(), String> = until_up(
            "the test service",
            Duration::from_secs(2),
            |_| true,
            || {
                tries += 1;
                let now = tries;
                async move { Err(format!("refused {now}")) }
            },
        )
        .await;
        // 0.5 s and 1 s pauses fit in 2 s; the next (2 s) would not.
        assert_eq!(got, Err("refused 3".to_owned()));
        assert!(start.elapsed() < Duration::from_secs(2));
    }

    #[tokio::test]
    async fn a_failure_that_does_not_pass_ends_the_wait_at_once() {
        let mut tries = 0;
        let got: Result<(), &str> = until_up(
            "the test service",
            Duration::from_secs(10),
            |e| *e != "password authentication failed",
            || {
                tries += 1;
                async { Err("password authentication failed") }
            },
        )
        .await;
        assert_eq!((got, tries), (Err("password authentication failed"), 1));
    }
}
