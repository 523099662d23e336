//! Running a prepared job: on a blocking thread, while a heartbeat renews the lease, until it
//! ends, times out, loses its lease or the worker shuts down.

use crate::context::Context;
use crate::registry::{Registered, Runner};
use crate::store::{self, Claim, Effect, Lease};
use rodan_jobs::{Inputs, Outputs};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// What a job that ran to its end asks for.
pub(super) enum Step {
    /// Commit its outputs and these effects: it is FINISHED.
    Finished(Vec<Effect>),
    /// Park it until a person answers (an interactive job).
    Waiting(rodan_jobs::Waiting),
}

/// How a job's execution ended.
pub(super) enum Ended {
    /// The job returned its step or its error, or its thread panicked.
    Done(Result<Result<Step, rodan_jobs::JobError>, tokio::task::JoinError>),
    /// It ran past its time limit.
    TimedOut(Duration),
    /// The lease was no longer ours.
    Lease(Lease),
    /// The grace period of a shutdown ended.
    Shutdown,
}

/// Renews the lease every third of its length; returns when it is no longer ours.
async fn watch_lease(shared: &Context, run_job: Uuid) -> Lease {
    let period = shared.config.lease() / 3;
    loop {
        tokio::time::sleep(period).await;
        match store::heartbeat(&shared.pool, run_job, &shared.owner, shared.config.lease()).await {
            Ok(Lease::Held) => {}
            Ok(other) => return other,
            Err(error) => tracing::warn!(%error, %run_job, "heartbeat failed"),
        }
    }
}

/// Runs `job` for `claim` on the blocking pool with its files, until it ends, times out, loses
/// the lease, or `hard` (the end of the grace period) is cancelled.
pub(super) async fn run(
    shared: &Context,
    claim: &Claim,
    job: Arc<Registered>,
    inputs: Inputs,
    outputs: Outputs,
    hard: &CancellationToken,
) -> Ended {
    let timeout = job.timeout;
    let settings = claim.settings.clone();
    let media_root = shared.config.media_root.clone();
    let core_inputs = if matches!(job.runner, Runner::Core(_)) {
        claim.inputs.clone()
    } else {
        Vec::new()
    };
    let run = claim.run;
    let work = tokio::task::spawn_blocking(move || match job.runner {
        Runner::Library(library) => {
            library
                .run_or_wait(&inputs, &settings, &outputs)
                .map(|outcome| match outcome {
                    rodan_jobs::Outcome::Finished => Step::Finished(Vec::new()),
                    rodan_jobs::Outcome::Waiting(waiting) => Step::Waiting(waiting),
                })
        }
        Runner::Core(core) => core
            .run(
                &job.descriptor,
                &media_root,
                &core_inputs,
                &settings,
                &outputs,
                run,
            )
            .map(Step::Finished),
    });
    tokio::select! {
        done = work => Ended::Done(done),
        () = tokio::time::sleep(timeout) => Ended::TimedOut(timeout),
        lease = watch_lease(shared, claim.run_job) => Ended::Lease(lease),
        () = hard.cancelled() => Ended::Shutdown,
    }
}
