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
