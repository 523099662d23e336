//! Parking a run job whose interactive job waits for a person: its interface bundle is written
//! to the media volume ([`rodan_core::interactive`]), where the API server serves it by token,
//! then the run job goes to WAITING_FOR_INPUT with the job's `@` settings. Its run keeps running
//! and is not dispatched: the API server re-dispatches it when the person's input arrives.

use crate::context::Context;
use crate::settle::Settle;
use crate::store::{self, Claim};
use rodan_core::interactive::{INPUT_SCHEMA, PAGE, STATIC, interface_dir, is_safe_static_path};
use rodan_db::events::ModelName;
use rodan_jobs::{Interface, Waiting};
use std::path::{Path, PathBuf};

/// Why a bundle could not be written.
#[derive(Debug, thiserror::Error)]
enum BundleError {
    #[error("failed to write the interface bundle at {}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the job's interface names a file outside its folder: {0:?}")]
    Path(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BundleError + '_ {
    move |source| BundleError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Writes `interface` as the bundle at `dir`: into a fresh sibling folder first, which then
/// replaces the previous round's bundle, so the API never serves half a bundle.
fn write_bundle(dir: &Path, interface: &Interface) -> Result<(), BundleError> {
    let parent = dir.parent().unwrap_or(dir);
    std::fs::create_dir_all(parent).map_err(io(parent))?;
    let fresh = tempfile::Builder::new()
        .prefix(".interface-")
        .tempdir_in(parent)
        .map_err(io(parent))?;
    let write = |relative: &str, bytes: &[u8]| -> Result<(), BundleError> {
        let path = fresh.path().join(relative);
        if let Some(folder) = path.parent() {
            std::fs::create_dir_all(folder).map_err(io(folder))?;
        }
        std::fs::write(&path, bytes).map_err(io(&path))
    };
    write(PAGE, interface.page.as_bytes())?;
    let schema = serde_json::to_vec(&interface.input_schema).unwrap_or_default();
    write(INPUT_SCHEMA, &schema)?;
    let files = interface
        .statics
        .iter()
        .map(|(name, bytes)| (*name, *bytes))
        .chain(
            interface
                .files
                .iter()
                .map(|(n, b)| (n.as_str(), b.as_slice())),
        );
    for (name, bytes) in files {
        if !is_safe_static_path(name) {
            return Err(BundleError::Path(name.to_owned()));
        }
        write(&format!("{STATIC}/{name}"), bytes)?;
    }
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(io(dir))?;
    }
    let fresh = fresh.keep();
    std::fs::rename(&fresh, dir).map_err(io(dir))
}

/// Parks `claim` as its job asked: bundle, then WAITING_FOR_INPUT, then the notice.
pub(super) async fn wait_for_input(shared: &Context, claim: &Claim, waiting: Waiting) -> Settle {
    let Waiting {
        settings_update,
        interface,
    } = waiting;
    let dir = shared
        .config
        .media_root
        .join(interface_dir(claim.project, claim.run_job));
    let written = tokio::task::spawn_blocking(move || write_bundle(&dir, &interface))
        .await
        .unwrap_or_else(|panic| {
            Err(BundleError::Io {
                path: PathBuf::from("the blocking pool"),
                source: std::io::Error::other(panic.to_string()),
            })
        });
    if let Err(error) = written {
        let details = crate::error::error_chain(&error);
        return match error {
            BundleError::Path(_) => {
                super::conclude::fail(shared, claim, "the job's page cannot be served", &details)
                    .await
            }
            BundleError::Io { .. } => {
                super::conclude::retry_or_fail(
                    shared,
                    claim,
                    "failed to write the job's page",
                    &details,
                )
                .await
            }
        };
    }
    match store::wait_for_input(&shared.pool, claim.run_job, &shared.owner, &settings_update).await
    {
        Ok(true) => {
            shared
                .event(ModelName::RunJob, claim.run_job, claim.project)
                .await;
            tracing::info!(
                run_job = %claim.run_job,
                run = %claim.run,
                job = %claim.job_name,
                "a run job waits for a person's input"
            );
            crate::notify::run(shared, claim.run, crate::notify::Notice::Waiting).await;
            Settle::Ack
        }
        Ok(false) => {
            tracing::info!(run_job = %claim.run_job, "lease lost before waiting for input; dropped");
            Settle::Ack
        }
        Err(error) => {
            super::conclude::retry_or_fail(
                shared,
                claim,
                "failed to record that the job waits for input",
                &error.to_string(),
            )
            .await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn interface(files: Vec<(String, Vec<u8>)>) -> Interface {
        Interface {
            page: "<p>page</p>",
            statics: &[("app.js", b"1")],
            files,
            input_schema: json!({"type": "object"}),
        }
    }

    #[test]
    fn a_bundle_replaces_the_previous_rounds_whole() {
        let media = tempfile::tempdir().expect("a dir");
        let dir = media.path().join("projects/p/runjobs/r/interface");
        write_bundle(&dir, &interface(vec![("old.json".into(), b"1".to_vec())]))
            .expect("the first round's bundle");
        write_bundle(
            &dir,
            &interface(vec![("data/new.json".into(), b"{}".to_vec())]),
        )
        .expect("the second round's bundle");
        assert_eq!(
            std::fs::read_to_string(dir.join(PAGE)).expect("the page"),
            "<p>page</p>"
        );
        assert!(dir.join(STATIC).join("app.js").is_file());
        assert!(dir.join(STATIC).join("data/new.json").is_file());
        assert!(
            !dir.join(STATIC).join("old.json").exists(),
            "the old round is gone"
        );
        let schema: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join(INPUT_SCHEMA)).expect("the schema"))
                .expect("JSON");
        assert_eq!(schema, json!({"type": "object"}));
        let left: Vec<_> = std::fs::read_dir(dir.parent().expect("a parent"))
            .expect("the run job's folder")
            .collect();
        assert_eq!(left.len(), 1, "no temporary folder is left");
    }

    #[test]
    fn a_file_outside_the_bundle_is_refused_and_nothing_is_replaced() {
        let media = tempfile::tempdir().expect("a dir");
        let dir = media.path().join("interface");
        write_bundle(&dir, &interface(Vec::new())).expect("a bundle");
        let err = write_bundle(&dir, &interface(vec![("../escape".into(), Vec::new())]))
            .expect_err("a path leaving the folder");
        assert!(matches!(err, BundleError::Path(_)), "{err}");
        assert!(dir.join(PAGE).is_file(), "the previous bundle stays");
        assert!(!media.path().join("escape").exists());
    }
}
