//! Results packages (upstream's `package_results` and `expire_package`): a BagIt zip of a
//! workflow run's outputs at `results_packages/<uuid hex>.zip` below the media root, built from a
//! [`PackageMessage`] on the `celery` queue, and expired by the reaper. This file holds the task:
//! [`plan`](mod@plan) lays the files out, [`write`](mod@write) zips them, `store.rs` holds the
//! queries.

mod error;
pub mod plan;
pub(crate) mod store;
pub mod write;

pub use error::PackageError;
pub use plan::{Content, Entry, Output, Source, plan};
pub use store::outputs;
pub use write::{Written, write_bag};

use crate::context::Context;
use crate::settle::Settle;
use rodan_core::media::package_file;
use rodan_core::message::PackageMessage;
use rodan_core::status;
use rodan_db::events::{Change, Event, ModelName};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use store::Claimed;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// The model name of results packages in events.
const MODEL: ModelName = ModelName::ResultsPackage;

/// Share of the progress spent on the outputs; the rest is the zip's end (upstream's 70 %).
const OUTPUTS_PERCENT: usize = 70;

async fn event(shared: &Context, package: Uuid, project: Uuid) {
    shared
        .events
        .publish(&Event::new(Change::Updated, MODEL, package, Some(project)))
        .await;
}

/// Handles a [`PackageMessage`]: claims the package, builds its zip on a blocking thread while
/// recording progress, and finishes, fails, or (at shutdown) gives it back to the queue.
pub(crate) async fn handle(
    shared: &Context,
    message: PackageMessage,
    hard: &CancellationToken,
) -> Settle {
    let claimed = match store::claim(&shared.pool, &message).await {
        Ok(Some(claimed)) => claimed,
        Ok(None) => {
            tracing::debug!(package = %message.results_package, "stale or duplicate package message; dropped");
            return Settle::Ack;
        }
        Err(error) => {
            tracing::warn!(%error, package = %message.results_package, "package claim failed; requeueing");
            tokio::time::sleep(Duration::from_secs(1)).await;
            return Settle::Requeue;
        }
    };
    event(shared, claimed.package, claimed.project).await;
    let how = build(shared, &claimed, hard).await;
    match how {
        Built::Finished => {
            tracing::info!(package = %claimed.package, "results package finished");
            event(shared, claimed.package, claimed.project).await;
            Settle::Ack
        }
        Built::Failed(error) => {
            let summary = error.to_string();
            let details = crate::error::error_chain(&error);
            let path = match &error {
                PackageError::Read { path, .. } => Some(path.display().to_string()),
                _ => None,
            };
            tracing::info!(package = %claimed.package, %details, ?path, "results package failed");
            match store::settle_row(&shared.pool, &claimed, status::FAILED, &summary, &details)
                .await
            {
                Ok(true) => event(shared, claimed.package, claimed.project).await,
                Ok(false) => {}
                Err(error) => tracing::warn!(%error, "failed to record a package failure"),
            }
            Settle::Ack
        }
        Built::Taken => {
            tracing::info!(package = %claimed.package, "results package cancelled while building");
            Settle::Ack
        }
        Built::Shutdown => {
            match store::settle_row(&shared.pool, &claimed, status::SCHEDULED, "", "").await {
                Ok(true) => {
                    event(shared, claimed.package, claimed.project).await;
                    Settle::Requeue
                }
                Ok(false) => Settle::Ack,
                Err(error) => {
                    // The reaper fails it once its heartbeat is old.
                    tracing::warn!(%error, "failed to give a package back at shutdown");
                    Settle::Ack
                }
            }
        }
    }
}

/// How building a claimed package ended.
enum Built {
    Finished,
    Failed(PackageError),
    /// Cancelled or reaped meanwhile; nothing left behind.
    Taken,
    Shutdown,
}

async fn build(shared: &Context, claimed: &Claimed, hard: &CancellationToken) -> Built {
    let outputs = match outputs(&shared.pool, claimed.run).await {
        Ok(outputs) => outputs,
        Err(error) => return Built::Failed(error.into()),
    };
    let groups = match plan(claimed.mode, &outputs) {
        Ok(groups) => groups,
        Err(error) => return Built::Failed(error),
    };
    // Written in the scratch space of the media volume, so the finished zip is renamed in.
    let temp = match tempfile::Builder::new()
        .prefix(&claimed.package.simple().to_string())
        .suffix(".zip")
        .tempfile_in(&shared.scratch)
    {
        Ok(temp) => temp,
        Err(error) => return Built::Failed(error.into()),
    };
    let stop = Arc::new(AtomicBool::new(false));
    let (sender, mut progress) = tokio::sync::mpsc::unbounded_channel::<i32>();
    let media_root = shared.config.media_root.clone();
    let root = claimed.package.simple().to_string();
    let date = claimed.date.clone();
    let stop_flag = stop.clone();
    let steps = groups.len().max(1);
    let mut work = tokio::task::spawn_blocking(move || {
        let mut temp = temp;
        let mut last = 0;
        let mut report = |done: usize| {
            let percent = i32::try_from(OUTPUTS_PERCENT * done / steps).unwrap_or(0);
            if percent != last {
                last = percent;
                let _ = sender.send(percent);
            }
        };
        let written = write_bag(
            std::io::BufWriter::new(temp.as_file_mut()),
            &root,
            &media_root,
            &groups,
            &date,
            &stop_flag,
            &mut report,
        )
        .and_then(|(out, written)| {
            let file = out
                .into_inner()
                .map_err(std::io::IntoInnerError::into_error)?;
            file.sync_all()?;
            Ok(written)
        });
        (temp, written)
    });
    let mut heartbeat = tokio::time::interval(shared.config.lease() / 3);
    heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let (mut taken, mut shutdown) = (false, false);
    let done = loop {
        let percent = tokio::select! {
            done = &mut work => break done,
            Some(percent) = progress.recv() => Some(percent),
            _ = heartbeat.tick() => None,
            () = hard.cancelled(), if !shutdown => {
                shutdown = true;
                stop.store(true, Ordering::Relaxed);
                continue;
            }
        };
        if taken {
            continue;
        }
        match store::touch(&shared.pool, claimed, percent).await {
            Ok(true) => {}
            Ok(false) => {
                taken = true;
                stop.store(true, Ordering::Relaxed);
            }
            Err(error) => {
                tracing::warn!(%error, package = %claimed.package, "package heartbeat failed")
            }
        }
    };
    // The temporary file is removed when dropped, on every path but the rename.
    let (temp, written) = match done {
        Ok(done) => done,
        Err(error) => {
            return Built::Failed(PackageError::Write(std::io::Error::other(
                error.to_string(),
            )));
        }
    };
    if taken {
        return Built::Taken;
    }
    if shutdown {
        return Built::Shutdown;
    }
    match written {
        Ok(Written::Done) => {}
        Ok(Written::Stopped) => return Built::Taken,
        Err(error) => return Built::Failed(error),
    }
    let relative = package_file(claimed.package);
    let target = shared.config.media_root.join(&relative);
    let placed = target
        .parent()
        .map_or(Ok(()), std::fs::create_dir_all)
        .and_then(|()| temp.persist(&target).map(|_| ()).map_err(|e| e.error));
    if let Err(error) = placed {
        return Built::Failed(error.into());
    }
    match store::settle_row(&shared.pool, claimed, status::FINISHED, "", "").await {
        Ok(true) => Built::Finished,
        Ok(false) => {
            // Cancelled between the last heartbeat and now: the zip must not outlive it.
            remove(&target);
            Built::Taken
        }
        Err(error) => {
            remove(&target);
            Built::Failed(error.into())
        }
    }
}

fn remove(path: &Path) {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
        Err(error) => {
            tracing::warn!(%error, path = %path.display(), "failed to remove a package file")
        }
    }
}
/// One reaper pass over packages: finished ones past their `expiry_time` become EXPIRED and lose
/// their zip; ones PROCESSING without a heartbeat for a lease (their worker died) fail.
pub(crate) async fn reap(shared: &Context) -> Result<(), sqlx::Error> {
    let expired = store::expire(&shared.pool).await?;
    let stale = store::fail_stale(&shared.pool, shared.config.lease()).await?;
    for (package, _) in &expired {
        tracing::info!(%package, "results package expired");
        remove(&shared.config.media_root.join(package_file(*package)));
    }
    for (package, _) in &stale {
        tracing::warn!(%package, "results package lost its worker; failed");
    }
    let events: Vec<Event> = expired
        .iter()
        .chain(&stale)
        .map(|(package, project)| Event::new(Change::Updated, MODEL, *package, Some(*project)))
        .collect();
    shared.events.publish_all(&events).await;
    Ok(())
}
