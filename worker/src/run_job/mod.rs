//! The run-job path: decodes a run job's message, claims the run job under a lease, then
//! [`prepare`]s its files, [`run`]s the job and [`conclude`]s (commits, fails, retries or gives
//! it back), or, for an interactive job that asks for a person, parks it ([`wait`]).

mod conclude;
mod prepare;
mod run;
mod wait;

use prepare::Prepared;

use crate::context::Context;
use crate::metrics::Metrics;
use crate::settle::Settle;
use crate::store::{self, Claim};
use rodan_core::message::RunJobMessage;
use rodan_db::events::ModelName;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Handles a [`RunJobMessage`].
pub(crate) async fn handle(
    shared: &Context,
    message: RunJobMessage,
    hard: &CancellationToken,
) -> Settle {
    let claimed = shared.claims.call((message.run_job, message.task_id)).await;
    let claim = match claimed {
        Ok(Some(claim)) => claim,
        Ok(None) => {
            tracing::debug!(run_job = %message.run_job, "stale or duplicate message; dropped");
            if let Err(error) =
                store::forget_dispatch(&shared.pool, message.run_job, message.task_id).await
            {
                tracing::warn!(%error, "failed to un-dispatch a run job of a stopped run");
            }
            return Settle::Ack;
        }
        Err(error) => {
            tracing::warn!(%error, run_job = %message.run_job, "claim failed; requeueing");
            tokio::time::sleep(Duration::from_secs(1)).await;
            return Settle::Requeue;
        }
    };
    shared
        .event(ModelName::RunJob, claim.run_job, claim.project)
        .await;
    let label = Metrics::job(&claim.job_name);
    shared.metrics.started.get_or_create(&label).inc();
    shared.metrics.running.inc();
    let started = Instant::now();
    let how = execute_claim(shared, &claim, hard).await;
    shared.metrics.running.dec();
    shared
        .metrics
        .duration
        .get_or_create(&label)
        .observe(started.elapsed().as_secs_f64());
    how
}

/// Prepares, runs and concludes a claimed run job.
async fn execute_claim(shared: &Context, claim: &Claim, hard: &CancellationToken) -> Settle {
    let Prepared {
        job,
        scratch,
        inputs,
        outputs,
    } = match prepare::prepare(shared, claim).await {
        Ok(prepared) => prepared,
        Err(how) => return how,
    };
    let scratch_path = scratch
        .as_ref()
        .map_or(shared.scratch.as_path(), tempfile::TempDir::path);
    let ended = run::run(shared, claim, job, inputs, outputs, hard).await;
    conclude::conclude(shared, claim, ended, scratch_path).await
}
