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

/// Every message a Rodan queue carries: the one decode ([`Task::decode`]) and the one encoding
/// ([`Task::kind`], [`Task::body`]) that every publisher and consumer go through.
///
/// On the wire (rodan-reference §2.3) a task is a persistent JSON message whose AMQP `type`
/// property tells core tasks apart ([`PACKAGE_MESSAGE_TYPE`], [`RESOURCE_MESSAGE_TYPE`]); a run
/// job's message has no `type`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Task {
    /// Run one run job.
    RunJob(RunJobMessage),
    /// Build a results package.
    Package(PackageMessage),
    /// Settle an uploaded resource.
    Resource(ResourceMessage),
}

impl Task {
    /// The AMQP `type` property of this task's message.
    pub fn kind(&self) -> Option<&'static str> {
        match self {
            Task::RunJob(_) => None,
            Task::Package(_) => Some(PACKAGE_MESSAGE_TYPE),
            Task::Resource(_) => Some(RESOURCE_MESSAGE_TYPE),
        }
    }

    /// The message body (JSON).
    pub fn body(&self) -> Result<Vec<u8>, serde_json::Error> {
        match self {
            Task::RunJob(m) => serde_json::to_vec(m),
            Task::Package(m) => serde_json::to_vec(m),
            Task::Resource(m) => serde_json::to_vec(m),
        }
    }

    /// Reads a message with AMQP `type` `kind` and body `body`. A message of an unknown type is
    /// read as a run job's, as every message without a core type is.
    pub fn decode(kind: Option<&str>, body: &[u8]) -> Result<Self, serde_json::Error> {
        Ok(match kind {
            Some(PACKAGE_MESSAGE_TYPE) => Task::Package(serde_json::from_slice(body)?),
            Some(RESOURCE_MESSAGE_TYPE) => Task::Resource(serde_json::from_slice(body)?),
            _ => Task::RunJob(serde_json::from_slice(body)?),
        })
    }

    /// What the task is, for logs.
    pub fn describe(&self) -> &'static str {
        match self {
            Task::RunJob(_) => "run job",
            Task::Package(_) => "results package",
            Task::Resource(_) => "resource",
        }
    }
}

impl From<RunJobMessage> for Task {
    fn from(message: RunJobMessage) -> Self {
        Task::RunJob(message)
    }
}

impl From<PackageMessage> for Task {
    fn from(message: PackageMessage) -> Self {
        Task::Package(message)
    }
}

impl From<ResourceMessage> for Task {
    fn from(message: ResourceMessage) -> Self {
        Task::Resource(message)
    }
}
