//! Re-dispatch of runs whose runnable jobs were stored but never published.
//!
//! A run job is dispatched by setting its `celery_task_id` and publishing its message; when the
//! publish fails (RabbitMQ down) the task id is cleared again (`rodan_db::schedule::dispatch`), so
//! the row itself is the outbox: SCHEDULED, no task id, its run PROCESSING or RETRYING, and every
//! input's file present. The API answers a committed run 201 even when its dispatch failed, and
//! this loop publishes what is left at start (a process that died between commit and publish)
//! and every few seconds after, until RabbitMQ takes it. Any API replica may run it: claims take
//! rows with `FOR UPDATE SKIP LOCKED`, so no run job is published twice. It also picks up a
//! worker's failed dispatch after a finished job.

use crate::state::AppState;
use std::time::Duration;
use uuid::Uuid;

/// Runs with a runnable run job that carries no task id. Served by the partial index
/// `run_jobs_undispatched` (migration 0002).
static PENDING: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        r#"
        SELECT DISTINCT rj.workflow_run_uuid
        FROM run_jobs rj JOIN workflow_runs wr ON wr.uuid = rj.workflow_run_uuid
        WHERE {runnable}
        LIMIT 1000
        "#,
        runnable = *rodan_db::schedule::RUNNABLE_UNDISPATCHED,
    )
});

/// Sweeps at once, then every `every`, for as long as the task lives.
pub async fn run(state: AppState, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match sweep(&state).await {
            Ok(0) => {}
            Ok(dispatched) => tracing::info!(runs = dispatched, "re-dispatched stored runs"),
            Err(error) => tracing::warn!(
                error = format!("{error:#}"),
                "re-dispatch failed; trying again later"
            ),
        }
    }
}

/// Dispatches every run with runnable, undispatched jobs; returns how many runs published
/// something. Stops at the first failure (RabbitMQ still down).
pub async fn sweep(state: &AppState) -> anyhow::Result<usize> {
    let runs: Vec<Uuid> = sqlx::query_scalar(&PENDING).fetch_all(&state.pool).await?;
    let mut dispatched = 0;
    for run in runs {
        let done = rodan_db::schedule::dispatch(&state.pool, &state.broker, run).await?;
        if !done.messages.is_empty() {
            dispatched += 1;
        }
        state.events.publish_all(&done.events).await;
    }
    Ok(dispatched)
}
