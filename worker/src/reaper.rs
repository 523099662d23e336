//! The reaper, in every worker: run jobs whose lease expired (their worker was killed) run again
//! up to the attempt limit, then fail with their run; runs whose dispatch was lost are
//! dispatched again; results packages past their expiry time expire, and ones whose worker died
//! fail; uploads whose type detection message was lost are published again.

use crate::context::Context;
use rodan_db::events::{Change, Event, ModelName};
use std::collections::BTreeSet;
use tokio_util::sync::CancellationToken;

/// A failed reaper pass.
#[derive(Debug, thiserror::Error)]
pub enum ReapError {
    /// A query failed.
    #[error("failed to reap expired leases")]
    Database(#[from] sqlx::Error),
}

/// Runs [`reap_once`] every `reap_interval` until `stop`.
pub(crate) async fn run(shared: std::sync::Arc<Context>, stop: CancellationToken) {
    let mut tick = tokio::time::interval(shared.config.reap_interval());
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        if let Err(error) = reap_once(&shared).await {
            tracing::warn!(error = %crate::error::error_chain(&error), "reaper pass failed");
        }
    }
}

/// One pass: reaps expired leases, publishes events, dispatches the affected and stalled runs.
pub(crate) async fn reap_once(shared: &Context) -> Result<(), ReapError> {
    let reaped = crate::store::reap(&shared.pool, shared.config.max_attempts).await?;
    let mut events = Vec::new();
    let mut runs = BTreeSet::new();
    for (run_job, run, project) in &reaped.rescheduled {
        tracing::warn!(%run_job, "lease expired; the run job will run again");
        events.push(Event::new(
            Change::Updated,
            ModelName::RunJob,
            *run_job,
            Some(*project),
        ));
        runs.insert(*run);
    }
    for (run_job, run, project) in &reaped.failed {
        tracing::warn!(%run_job, "lease expired too often; the run job failed");
        events.push(Event::new(
            Change::Updated,
            ModelName::RunJob,
            *run_job,
            Some(*project),
        ));
        events.push(Event::new(
            Change::Updated,
            ModelName::WorkflowRun,
            *run,
            Some(*project),
        ));
    }
    let count = reaped.rescheduled.len() + reaped.failed.len();
    shared
        .metrics
        .reaped
        .inc_by(u64::try_from(count).unwrap_or(0));
    shared.events.publish_all(&events).await;
    for run in &reaped.runs_failed {
        crate::notify::run(shared, *run, crate::notify::Notice::Failed).await;
    }
    crate::package::reap(shared).await?;
    crate::resource::reap(shared).await?;
    runs.extend(crate::store::stalled_runs(&shared.pool, shared.config.lease()).await?);
    for run in runs {
        shared.dispatch(run).await;
    }
    Ok(())
}
