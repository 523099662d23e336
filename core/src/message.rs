//! The message that asks a worker to run one run job, as published on the job's queue.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Body of a dispatch message (JSON, persistent, on the queue named by the run job's
/// `job_queue`). The database is the source of truth: a worker claims the run job only while its
/// `celery_task_id` still equals `task_id`, so duplicates and stale messages are harmless.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunJobMessage {
    /// The run job to run.
    pub run_job: Uuid,
    /// The dispatch this message belongs to.
    pub task_id: Uuid,
    /// The job's name, for logs and routing to the right implementation.
    pub job_name: String,
}

/// AMQP `type` property of a [`PackageMessage`]; messages without it are [`RunJobMessage`]s.
pub const PACKAGE_MESSAGE_TYPE: &str = "rodan.results_package";

/// Asks a `celery`-queue worker to build a results package (upstream's `package_results`): a
/// zip of a workflow run's outputs at `results_packages/<uuid hex>.zip` below the media root.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageMessage {
    /// The `results_packages` row.
    pub results_package: Uuid,
    /// The dispatch this message belongs to (the row's `celery_task_id`).
    pub task_id: Uuid,
}

/// AMQP `type` property of a [`ResourceMessage`].
pub const RESOURCE_MESSAGE_TYPE: &str = "rodan.core.create_resource";

/// Asks a `celery`-queue worker to settle an uploaded resource (upstream's `create_resource`):
/// its processing status goes SCHEDULED → PROCESSING → none, and a resource typed
/// `application/octet-stream` (no claimed type) gets the type detected from its file
/// ([`crate::detect`]). Duplicates are harmless: a settled resource is left alone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResourceMessage {
    /// The resource.
    pub resource: Uuid,
}
