//! `serve`: connects to PostgreSQL, RabbitMQ and Redis, then serves until SIGTERM.

use crate::config::ServeArgs;
use crate::state::{AppState, Inner};
use anyhow::Context;
use rodan_db::broker::Broker;
use rodan_db::events::Publisher;
use std::sync::Arc;

/// Builds the state from `args`.
pub async fn state(args: &ServeArgs) -> anyhow::Result<AppState> {
    let wait = rodan_db::STARTUP_WAIT;
    let acquire = std::time::Duration::from_millis(args.database_acquire_timeout_ms);
    let pool = rodan_db::until_up("the database", wait, rodan_db::unreachable, || {
        pool(&args.database_url, args.database_pool, acquire)
    })
    .await
    .context("failed to connect to the database")?;
    let broker = Broker::new(args.rabbitmq_url.clone());
    rodan_db::until_up("RabbitMQ", wait, |_| true, || broker.check())
        .await
        .context("failed to connect to RabbitMQ")?;
    let events = rodan_db::until_up("Redis", wait, rodan_db::events::unreachable, || {
        Publisher::connect(&args.redis_url)
    })
    .await
    .context("failed to connect to Redis")?;
    let security =
        crate::security::Security::connect(&args.redis_url, args.security.clone(), "rodan")
            .await
            .context("failed to connect to Redis")?;
    Ok(AppState(Arc::new(Inner {
        pool,
        broker,
        events,
        redis_url: args.redis_url.clone(),
        media_root: args.media_root.clone(),
        serve_media: args.serve_media,
        version: args.version.clone(),
        // 0 is no limit, as nginx's `client_max_body_size 0`.
        max_upload: match args.max_upload_mib {
            0 => usize::MAX,
            mib => mib.saturating_mul(1024 * 1024),
        },
        max_json: args.max_json_mib.saturating_mul(1024 * 1024),
        core_queue: args.core_queue.clone(),
        basic_cache: Default::default(),
        hub: Default::default(),
        security,
        working_user_expiry_seconds: args.working_user_expiry_seconds,
    })))
}

/// The API's pool: at most `max` connections; a request that waits `acquire` for one (the
/// database is down, or every connection is busy) fails as unavailable, a 503, instead of
/// holding its client for the 10 s the worker's pool waits.
pub async fn pool(
    url: &str,
    max: u32,
    acquire: std::time::Duration,
) -> Result<sqlx::PgPool, sqlx::Error> {
    sqlx::postgres::PgPoolOptions::new()
        .max_connections(max)
        .acquire_timeout(acquire)
        .connect(url)
        .await
}

/// Serves the API on `args.listen`.
pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    // PID 1 of its container ignores SIGTERM without a handler: stop at once when told to while
    // still waiting for the database or the broker.
    // One signal listener for the whole life of the process, so no SIGTERM falls between two.
    let mut stop = Box::pin(shutdown());
    let state = tokio::select! {
        state = state(&args) => state?,
        () = &mut stop => {
            tracing::info!("signal received before serving; stopping");
            return Ok(());
        }
    };
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("failed to listen on {}", args.listen))?;
    tracing::info!(listen = %args.listen, "serving the Rodan API");
    let events = state.events.clone();
    // Uploads staged by a process that died mid-upload: an hour old is long dead.
    let media_root = state.media_root.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(600));
        loop {
            tick.tick().await;
            let root = media_root.clone();
            let swept = tokio::task::spawn_blocking(move || {
                crate::routes::resource::sweep_staged(&root, std::time::Duration::from_secs(3600))
            })
            .await
            .unwrap_or(0);
            if swept > 0 {
                tracing::info!(swept, "removed upload files left staged by a dead process");
            }
        }
    });
    let redispatch = tokio::spawn(crate::redispatch::run(
        state.clone(),
        std::time::Duration::from_secs(args.redispatch_seconds.max(1)),
    ));
    // The peer's address, for login throttling per client.
    let app = crate::app(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(stop)
        .await
        .context("server failed");
    redispatch.abort();
    served?;
    // Events of the last requests are still queued for Redis.
    events.flush().await;
    Ok(())
}

/// Resolves on SIGTERM or Ctrl-C.
pub(crate) async fn shutdown() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => return std::future::pending().await,
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("shutting down");
}
