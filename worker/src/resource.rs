//! Uploads' core task (upstream's `create_resource`, on the `celery` queue): the API server
//! stores an upload without a claimed type with processing status SCHEDULED, typed
//! `application/octet-stream`, and publishes a [`ResourceMessage`]. A worker marks it
//! PROCESSING, detects the type from its file ([`rodan_core::detect`]), and clears the status; a file it cannot read leaves the resource
//! FAILED with the reason. Redelivery after a crash settles it again (detection is idempotent);
//! uploads whose message was lost are published again by workers consuming the core queue.

use crate::context::Context;
use crate::settle::Settle;
use rodan_core::message::{ResourceMessage, Task};
use rodan_core::resource_types::OCTET_STREAM;
use rodan_core::status;
use rodan_db::events::{Change, Event, ModelName};
use sqlx::PgPool;
use std::path::Path;
use std::time::Duration;
use uuid::Uuid;

/// How settling an upload ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settled {
    /// Typed (detected, or as claimed) and ready.
    Typed {
        /// Its project.
        project: Uuid,
        /// Its resource type.
        mimetype: String,
    },
    /// Its file does not exist or may not be read: FAILED, with the reason in `error_details`.
    Failed {
        /// Its project.
        project: Uuid,
    },
    /// Reading its file failed in a way that may pass: SCHEDULED again, to be tried again.
    Later,
}

/// Settles the upload `resource` (files below `media_root`); `None` when there is nothing to
/// settle (already settled, deleted, or not an upload).
pub async fn settle(
    pool: &PgPool,
    media_root: &Path,
    resource: Uuid,
) -> Result<Option<Settled>, sqlx::Error> {
    let started: Option<(String, Uuid, String)> = sqlx::query_as(
        "UPDATE resources r SET processing_status = $2, updated = now()
         FROM resource_types t
         WHERE r.uuid = $1 AND r.processing_status IN ($3, $2) AND r.resource_file IS NOT NULL
           AND t.uuid = r.resource_type_uuid
         RETURNING r.resource_file, r.project_uuid, t.mimetype",
    )
    .bind(resource)
    .bind(status::PROCESSING)
    .bind(status::SCHEDULED)
    .fetch_optional(pool)
    .await?;
    let Some((file, project, claimed)) = started else {
        return Ok(None);
    };
    // A waiting upload is octet-stream unless someone typed it meanwhile: that type stays.
    let mimetype = if claimed == OCTET_STREAM {
        let path = media_root.join(&file);
        let reading = path.clone();
        let read = tokio::task::spawn_blocking(move || read_for_detection(&reading)).await;
        match read {
            Ok(Ok(bytes)) => rodan_core::detect::detect(&bytes).to_owned(),
            Ok(Err(error))
                if matches!(
                    error.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied
                ) =>
            {
                // The path is for the logs; users see what they know: their upload.
                tracing::warn!(%resource, path = %path.display(), %error, "an upload's file cannot be read");
                fail(pool, resource, &format!("the uploaded file: {error}")).await?;
                return Ok(Some(Settled::Failed { project }));
            }
            Ok(Err(error)) => {
                // Anything else may pass (descriptors exhausted, a network volume's hiccup): the
                // upload waits again and its message is requeued.
                tracing::warn!(%resource, %error, "failed to read an upload; trying again");
                sqlx::query(
                    "UPDATE resources SET processing_status = $2 WHERE uuid = $1 AND processing_status = $3",
                )
                .bind(resource)
                .bind(status::SCHEDULED)
                .bind(status::PROCESSING)
                .execute(pool)
                .await?;
                return Ok(Some(Settled::Later));
            }
            Err(error) => {
                fail(pool, resource, &error.to_string()).await?;
                return Ok(Some(Settled::Failed { project }));
            }
        }
    } else {
        claimed
    };
    sqlx::query(
        "UPDATE resources SET processing_status = NULL, error_summary = '', error_details = '',
             resource_type_uuid = coalesce(
                 (SELECT uuid FROM resource_types WHERE mimetype = $2),
                 (SELECT uuid FROM resource_types WHERE mimetype = $3)),
             updated = now()
         WHERE uuid = $1 AND processing_status = $4",
    )
    .bind(resource)
    .bind(&mimetype)
    .bind(OCTET_STREAM)
    .bind(status::PROCESSING)
    .execute(pool)
    .await?;
    Ok(Some(Settled::Typed { project, mimetype }))
}

/// Files up to this size are read whole for detection, as upstream does (its text rules decode
/// every line).
const WHOLE_FILE_MAX: u64 = 64 * 1024 * 1024;
/// Of a larger file, only this much is read: enough for every binary signature and for
/// libmagic's own 7 MiB window, without holding a page scan of hundreds of MiB in memory.
const HEAD_BYTES: u64 = 8 * 1024 * 1024;

/// The bytes detection looks at: the whole file, or the head of a file over
/// [`WHOLE_FILE_MAX`] (a text file that large is then judged by its head).
fn read_for_detection(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let file = std::fs::File::open(path)?;
    let size = file.metadata()?.len();
    let limit = if size > WHOLE_FILE_MAX {
        HEAD_BYTES
    } else {
        size
    };
    let mut bytes = Vec::with_capacity(usize::try_from(limit).unwrap_or(0));
    file.take(limit).read_to_end(&mut bytes)?;
    Ok(bytes)
}

async fn fail(pool: &PgPool, resource: Uuid, details: &str) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE resources SET processing_status = $2, error_summary = $3, error_details = $4,
             updated = now()
         WHERE uuid = $1",
    )
    .bind(resource)
    .bind(status::FAILED)
    .bind("failed to read the uploaded file")
    .bind(details)
    .execute(pool)
    .await?;
    Ok(())
}

/// Handles a [`ResourceMessage`].
pub(crate) async fn handle(shared: &Context, message: ResourceMessage) -> Settle {
    let settled = match settle(&shared.pool, &shared.config.media_root, message.resource).await {
        Ok(Some(settled)) => settled,
        Ok(None) => {
            tracing::debug!(resource = %message.resource, "nothing to settle; dropped");
            return Settle::Ack;
        }
        Err(error) => {
            tracing::warn!(%error, resource = %message.resource, "settling an upload failed; requeueing");
            Settled::Later
        }
    };
    let project = match settled {
        Settled::Typed { project, mimetype } => {
            tracing::debug!(resource = %message.resource, mimetype, "upload typed");
            project
        }
        Settled::Failed { project } => {
            tracing::warn!(resource = %message.resource, "upload's file unreadable");
            project
        }
        Settled::Later => {
            tokio::time::sleep(Duration::from_secs(1)).await;
            return Settle::Requeue;
        }
    };
    shared
        .events
        .publish(&Event::new(
            Change::Updated,
            ModelName::Resource,
            message.resource,
            Some(project),
        ))
        .await;
    Settle::Ack
}

/// Uploads SCHEDULED for longer than `older_than` (their message was lost): marked as just
/// scheduled again and returned, for publishing once more (at most 100 a pass).
pub async fn stale_uploads(pool: &PgPool, older_than: Duration) -> Result<Vec<Uuid>, sqlx::Error> {
    // The status code in the text: with generic plans (the worker's connections) a parameter
    // could not match the partial index of migration 0005.
    sqlx::query_scalar(&format!(
        "UPDATE resources SET updated = now()
         WHERE uuid IN (
             SELECT uuid FROM resources
             WHERE processing_status = {SCHEDULED} AND resource_file IS NOT NULL
               AND updated < now() - $1 * interval '1 millisecond'
             ORDER BY updated LIMIT 100 FOR UPDATE SKIP LOCKED)
         RETURNING uuid",
        SCHEDULED = status::SCHEDULED,
    ))
    .bind(i64::try_from(older_than.as_millis()).unwrap_or(i64::MAX))
    .fetch_all(pool)
    .await
}

/// The reaper's part: publishes stale uploads again on the core queue, in workers consuming it.
pub(crate) async fn reap(shared: &Context) -> Result<(), sqlx::Error> {
    let core = &shared.config.core_queue;
    if !shared.config.queues.iter().any(|queue| queue == core) {
        return Ok(());
    }
    // Ten leases (ten minutes by default): long enough that an upload merely waiting behind a
    // busy queue is seldom sent twice, short enough that a lost one is typed soon.
    let stale = stale_uploads(&shared.pool, shared.config.lease() * 10).await?;
    if stale.is_empty() {
        return Ok(());
    }
    tracing::warn!(
        count = stale.len(),
        "uploads waiting without a message; publishing again"
    );
    let messages: Vec<(&str, Task)> = stale
        .into_iter()
        .map(|resource| (core.as_str(), Task::Resource(ResourceMessage { resource })))
        .collect();
    if let Err(error) = shared.broker.publish_all(&messages).await {
        tracing::warn!(error = %crate::error::error_chain(&error), "failed to publish stale uploads again");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detection_reads_small_files_whole_and_the_head_of_large_ones() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let small = dir.path().join("small.txt");
        std::fs::write(&small, "a,b\n1,2\n").expect("write");
        assert_eq!(read_for_detection(&small).expect("read"), b"a,b\n1,2\n");
        // A sparse file just over the limit: only its head is read.
        let large = dir.path().join("large.tif");
        let file = std::fs::File::create(&large).expect("create");
        file.set_len(WHOLE_FILE_MAX + 1).expect("grow");
        let head = read_for_detection(&large).expect("read");
        assert_eq!(head.len() as u64, HEAD_BYTES);
        let at_limit = dir.path().join("limit.bin");
        std::fs::File::create(&at_limit)
            .expect("create")
            .set_len(WHOLE_FILE_MAX)
            .expect("grow");
        assert_eq!(
            read_for_detection(&at_limit).expect("read").len() as u64,
            WHOLE_FILE_MAX
        );
        assert!(read_for_detection(&dir.path().join("missing")).is_err());
    }
}
