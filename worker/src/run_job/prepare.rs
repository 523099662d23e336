//! Preparing a claimed run job: finds its job in the registry, makes a scratch folder when it
//! needs one, and lays out its input and output files.

use super::conclude::{execute_failure, fail, retry_or_fail};
use crate::context::Context;
use crate::execute;
use crate::registry::Registered;
use crate::settle::Settle;
use crate::store::Claim;
use std::sync::Arc;

/// A run job ready to run.
pub(super) struct Prepared {
    /// Its job.
    pub(super) job: Arc<Registered>,
    /// Its scratch folder, when it needs one; removed when dropped.
    pub(super) scratch: Option<tempfile::TempDir>,
    /// Its input files.
    pub(super) inputs: rodan_jobs::Inputs,
    /// Its output files, still to be written.
    pub(super) outputs: rodan_jobs::Outputs,
}

/// Prepares `claim`; `Err` with how to settle its message when it cannot run (the run job is
/// then failed or rescheduled).
pub(super) async fn prepare(shared: &Context, claim: &Claim) -> Result<Prepared, Settle> {
    let Some(job) = shared.registry.get(&claim.job_name).cloned() else {
        return Err(fail(
            shared,
            claim,
            &format!("no worker runs the job '{}'", claim.job_name),
            &format!(
                "the worker {} consuming this queue does not know the job '{}'",
                shared.owner, claim.job_name
            ),
        )
        .await);
    };
    // A scratch folder only for jobs that write outputs or read lists: most short jobs need none,
    // and creating and removing one is a measurable share of their cost.
    let needs_scratch =
        !claim.outputs.is_empty() || claim.inputs.iter().any(|row| row.list.is_some());
    let scratch = if needs_scratch {
        match tempfile::Builder::new()
            .prefix(&claim.run_job.simple().to_string())
            .tempdir_in(&shared.scratch)
        {
            Ok(dir) => Some(dir),
            Err(error) => {
                return Err(retry_or_fail(
                    shared,
                    claim,
                    "failed to create a scratch folder",
                    &error.to_string(),
                )
                .await);
            }
        }
    } else {
        None
    };
    let scratch_path = scratch
        .as_ref()
        .map_or(shared.scratch.as_path(), tempfile::TempDir::path);
    let (input_rows, output_rows) = (&claim.inputs, &claim.outputs);
    let files = if needs_scratch {
        // Lists are linked into the scratch folder and list outputs get folders: file work.
        let (media, input_rows, output_rows, dir) = (
            shared.config.media_root.clone(),
            input_rows.clone(),
            output_rows.clone(),
            scratch_path.to_path_buf(),
        );
        execute::blocking(move || execute::job_files(&media, &input_rows, &output_rows, &dir)).await
    } else {
        execute::job_files(
            &shared.config.media_root,
            input_rows,
            output_rows,
            scratch_path,
        )
    };
    match files {
        Ok((inputs, outputs)) => Ok(Prepared {
            job,
            scratch,
            inputs,
            outputs,
        }),
        Err(error) => Err(execute_failure(shared, claim, &error).await),
    }
}
