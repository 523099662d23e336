//! Concluding a run job: commits its outputs and effects (FINISHED), fails it, runs it again
//! later, or gives it back at shutdown; then publishes events and dispatches what became
//! runnable.

use super::run::{Ended, Step};
use crate::batch::BatchError;
use crate::context::Context;
use crate::execute::{self, ExecuteError};
use crate::metrics::Metrics;
use crate::settle::Settle;
use crate::store::{self, Claim, Effect};
use rodan_core::media;
use rodan_db::events::ModelName;
use uuid::Uuid;

/// Concludes `claim` as its execution `ended`; its outputs were written in `scratch_path`.
pub(super) async fn conclude(
    shared: &Context,
    claim: &Claim,
    ended: Ended,
    scratch_path: &std::path::Path,
) -> Settle {
    let output_rows = &claim.outputs;
    match ended {
        Ended::Done(Ok(Ok(Step::Waiting(waiting)))) => {
            super::wait::wait_for_input(shared, claim, waiting).await
        }
        Ended::Done(Ok(Ok(Step::Finished(effects)))) => {
            if !output_rows.is_empty() {
                let (rows, dir) = (output_rows.clone(), scratch_path.to_path_buf());
                let checked = execute::blocking(move || execute::check_outputs(&rows, &dir)).await;
                if let Err(error) = checked {
                    return execute_failure(shared, claim, &error).await;
                }
            }
            finish(shared, claim, output_rows, &effects, scratch_path).await
        }
        Ended::Done(Ok(Err(error))) => {
            tracing::info!(run_job = %claim.run_job, error = %crate::error::error_chain(&error), "job failed");
            if error.is_permanent() {
                fail(
                    shared,
                    claim,
                    &error.error_summary(),
                    &error.error_details(),
                )
                .await
            } else {
                retry_or_fail(
                    shared,
                    claim,
                    &error.error_summary(),
                    &error.error_details(),
                )
                .await
            }
        }
        Ended::Done(Err(error)) => fail(shared, claim, "the job crashed", &error.to_string()).await,
        Ended::TimedOut(limit) => {
            // The blocking thread cannot be interrupted; its scratch files are discarded.
            fail(
                shared,
                claim,
                &format!("the job timed out after {} s", limit.as_secs_f64()),
                &format!(
                    "the job '{}' ran longer than its limit of {} seconds and was stopped",
                    claim.job_name,
                    limit.as_secs_f64()
                ),
            )
            .await
        }
        Ended::Lease(lease) => {
            tracing::info!(run_job = %claim.run_job, ?lease, "run job taken away while running; result dropped");
            Settle::Ack
        }
        Ended::Shutdown => match store::release(&shared.pool, claim.run_job, &shared.owner).await {
            Ok(true) => {
                shared
                    .metrics
                    .requeued
                    .get_or_create(&Metrics::job(&claim.job_name))
                    .inc();
                shared
                    .event(ModelName::RunJob, claim.run_job, claim.project)
                    .await;
                Settle::Requeue
            }
            Ok(false) => Settle::Ack,
            Err(error) => {
                // The lease expires and the reaper runs it again.
                tracing::warn!(%error, "failed to release a run job at shutdown");
                Settle::Ack
            }
        },
    }
}

pub(super) async fn execute_failure(
    shared: &Context,
    claim: &Claim,
    error: &ExecuteError,
) -> Settle {
    let details = crate::error::error_chain(error);
    if error.is_permanent() {
        fail(shared, claim, &error.to_string(), &details).await
    } else {
        retry_or_fail(shared, claim, &error.to_string(), &details).await
    }
}

async fn finish(
    shared: &Context,
    claim: &Claim,
    rows: &[store::OutputRow],
    effects: &[Effect],
    scratch: &std::path::Path,
) -> Settle {
    match commit_outputs(shared, claim, rows, effects, scratch).await {
        Ok(Some(committed)) => {
            shared
                .metrics
                .finished
                .get_or_create(&Metrics::job(&claim.job_name))
                .inc();
            shared
                .event(ModelName::RunJob, claim.run_job, claim.project)
                .await;
            if let Committed::Placed(resources) = committed {
                for resource in resources {
                    shared
                        .event(ModelName::Resource, resource, claim.project)
                        .await;
                }
                shared.dispatch(claim.run).await;
            }
            Settle::Ack
        }
        Ok(None) => {
            tracing::info!(run_job = %claim.run_job, "lease lost before the commit; result dropped");
            Settle::Ack
        }
        Err(CommitError::Execute(error)) => execute_failure(shared, claim, &error).await,
        Err(CommitError::Database(error)) => {
            retry_or_fail(
                shared,
                claim,
                "failed to save the job's outputs",
                &error.to_string(),
            )
            .await
        }
        Err(CommitError::Batch(error)) => {
            retry_or_fail(
                shared,
                claim,
                "failed to save the job's outputs",
                &crate::error::error_chain(&error),
            )
            .await
        }
    }
}

/// [`execute::place`] of each `(file, path below the media root)` on the blocking pool, in order.
async fn place(
    media: &std::path::Path,
    moves: Vec<(std::path::PathBuf, String)>,
) -> Result<(), ExecuteError> {
    let media = media.to_path_buf();
    execute::blocking(move || {
        moves
            .iter()
            .try_for_each(|(from, relative)| execute::place(from, &media, relative))
    })
    .await
}

#[derive(Debug, thiserror::Error)]
enum CommitError {
    #[error("failed to place the outputs")]
    Execute(#[from] ExecuteError),
    #[error("failed to commit the outputs")]
    Database(#[from] sqlx::Error),
    #[error("failed to commit the outputs")]
    Batch(#[from] BatchError),
}

/// What a commit wrote.
enum Committed {
    /// The run job alone (and its run when it was the last); nothing can have become runnable.
    Alone,
    /// The run job and these resources (given files or renamed): dispatch follows.
    Placed(Vec<Uuid>),
}

/// Moves the outputs into place and marks the run job FINISHED in one transaction guarded by the
/// lease. `None` when the lease was lost.
async fn commit_outputs(
    shared: &Context,
    claim: &Claim,
    rows: &[store::OutputRow],
    effects: &[Effect],
    scratch: &std::path::Path,
) -> Result<Option<Committed>, CommitError> {
    if rows.is_empty() && effects.is_empty() {
        // Nothing to move into place and nothing downstream became runnable: one round trip
        // finishes the run job, and the run when it was the last.
        let done = shared.finishes.call(claim.run_job).await?;
        if done.held && done.maybe_last {
            match rodan_db::schedule::finish_run(&shared.pool, claim.run).await {
                Ok(true) => {
                    shared
                        .event(ModelName::WorkflowRun, claim.run, claim.project)
                        .await
                }
                Ok(false) => {}
                // The run job is committed; the stalled-run sweep finishes the run later.
                Err(error) => tracing::warn!(%error, run = %claim.run, "failed to finish a run"),
            }
        }
        return Ok(done.held.then_some(Committed::Alone));
    }
    let Some(mut tx) = store::begin_finish(&shared.pool, claim.run_job, &shared.owner).await?
    else {
        return Ok(None);
    };
    let media = &shared.config.media_root;
    let mut resources = Vec::new();
    for (path, row) in execute::output_paths(rows, scratch) {
        if let Some(resource) = row.resource {
            let relative = media::resource_file(claim.project, resource);
            place(media, vec![(path, relative.clone())]).await?;
            store::set_resource_file(&mut tx, resource, &relative).await?;
            resources.push(resource);
        } else if let Some(list) = row.list {
            let (folder, port) = (path.clone(), row.port.clone());
            let files = execute::blocking(move || execute::list_files(&folder, &port)).await?;
            let names: Vec<String> = files
                .iter()
                .map(|f| {
                    f.file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default()
                })
                .collect();
            let members = store::replace_list_members(&mut tx, list, &names).await?;
            let moves: Vec<_> = files
                .into_iter()
                .zip(&members)
                .map(|(file, member)| (file, media::resource_file(claim.project, *member)))
                .collect();
            let relatives: Vec<String> = moves.iter().map(|(_, r)| r.clone()).collect();
            // Every member's file in one trip to the blocking pool, then their rows.
            place(media, moves).await?;
            for (member, relative) in members.into_iter().zip(&relatives) {
                store::set_resource_file(&mut tx, member, relative).await?;
                resources.push(member);
            }
        }
    }
    for effect in effects {
        store::apply_effect(&mut tx, effect).await?;
        if let Effect::Rename { resource, .. } = effect {
            resources.push(*resource);
        }
    }
    tx.commit().await?;
    Ok(Some(Committed::Placed(resources)))
}

/// Fails the run job and its run permanently. The summary and details go to users through the
/// API, so server paths in them are replaced by port and resource names ([`execute::redact`]).
pub(super) async fn fail(shared: &Context, claim: &Claim, summary: &str, details: &str) -> Settle {
    let redact = |text: &str| {
        execute::redact(
            text,
            &shared.config.media_root,
            &shared.scratch,
            claim.project,
            &claim.inputs,
            &claim.outputs,
        )
    };
    let (summary, details) = (&redact(summary), &redact(details));
    match store::fail(&shared.pool, claim, &shared.owner, summary, details).await {
        Ok(failed @ (store::Failed::RunJob | store::Failed::WithRun)) => {
            tracing::info!(run_job = %claim.run_job, summary, "run job failed");
            shared
                .metrics
                .failed
                .get_or_create(&Metrics::job(&claim.job_name))
                .inc();
            shared
                .event(ModelName::RunJob, claim.run_job, claim.project)
                .await;
            shared
                .event(ModelName::WorkflowRun, claim.run, claim.project)
                .await;
            if failed == store::Failed::WithRun {
                crate::notify::run(shared, claim.run, crate::notify::Notice::Failed).await;
            }
        }
        Ok(store::Failed::LeaseLost) => {}
        Err(error) => tracing::warn!(%error, "failed to record a failure; the lease will expire"),
    }
    Settle::Ack
}

/// Runs the job again later while attempts remain, else fails it.
pub(super) async fn retry_or_fail(
    shared: &Context,
    claim: &Claim,
    summary: &str,
    details: &str,
) -> Settle {
    if claim.attempts >= shared.config.max_attempts {
        let summary = format!("{summary} (after {} attempts)", claim.attempts);
        return fail(shared, claim, &summary, details).await;
    }
    match store::reschedule(&shared.pool, claim.run_job, &shared.owner).await {
        Ok(true) => {
            tracing::info!(run_job = %claim.run_job, summary, "retryable failure; running again");
            shared
                .metrics
                .requeued
                .get_or_create(&Metrics::job(&claim.job_name))
                .inc();
            shared
                .event(ModelName::RunJob, claim.run_job, claim.project)
                .await;
            shared.dispatch(claim.run).await;
        }
        Ok(false) => {}
        Err(error) => tracing::warn!(%error, "failed to reschedule; the lease will expire"),
    }
    Settle::Ack
}
