//! Model events: `{status, model, uuid, project}` published on Redis, upstream's channel
//! `rodan:broadcast:rodan` (rodan-reference §2.6), for the websocket of every API replica.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Upstream's ws4redis broadcast channel.
pub const CHANNEL: &str = "rodan:broadcast:rodan";

/// What happened to a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Change {
    /// A new row.
    Created,
    /// A changed row.
    Updated,
    /// A removed row.
    Deleted,
}

/// The model an event is about: upstream's table name without `rodan_`, the `model` of the
/// websocket contract. Every emitter and the websocket side name models only through this.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelName {
    /// `project`.
    Project,
    /// `workflow`.
    Workflow,
    /// `workflowjob`.
    WorkflowJob,
    /// `workflowjobgroup`.
    WorkflowJobGroup,
    /// `inputport`.
    InputPort,
    /// `outputport`.
    OutputPort,
    /// `connection`.
    Connection,
    /// `workflowrun`.
    WorkflowRun,
    /// `runjob`.
    RunJob,
    /// `resource`.
    Resource,
    /// `resourcelist`.
    ResourceList,
    /// `resultspackage`.
    ResultsPackage,
}

impl ModelName {
    /// Every model, in declaration order.
    pub const ALL: [ModelName; 12] = [
        ModelName::Project,
        ModelName::Workflow,
        ModelName::WorkflowJob,
        ModelName::WorkflowJobGroup,
        ModelName::InputPort,
        ModelName::OutputPort,
        ModelName::Connection,
        ModelName::WorkflowRun,
        ModelName::RunJob,
        ModelName::Resource,
        ModelName::ResourceList,
        ModelName::ResultsPackage,
    ];

    /// The name on the wire (`"runjob"`).
    pub const fn name(self) -> &'static str {
        match self {
            ModelName::Project => "project",
            ModelName::Workflow => "workflow",
            ModelName::WorkflowJob => "workflowjob",
            ModelName::WorkflowJobGroup => "workflowjobgroup",
            ModelName::InputPort => "inputport",
            ModelName::OutputPort => "outputport",
            ModelName::Connection => "connection",
            ModelName::WorkflowRun => "workflowrun",
            ModelName::RunJob => "runjob",
            ModelName::Resource => "resource",
            ModelName::ResourceList => "resourcelist",
            ModelName::ResultsPackage => "resultspackage",
        }
    }
}

impl std::fmt::Display for ModelName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One event, serialised exactly as upstream's database trigger did: `uuid` as hex without
/// dashes, `project` only for models that belong to a project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// What happened.
    pub status: Change,
    /// The model, upstream's table name without `rodan_` (`workflowrun`, `runjob`, `resource`).
    pub model: ModelName,
    /// The object's uuid as 32 hex digits.
    pub uuid: String,
    /// The project the object belongs to, when it has one.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub project: Option<String>,
}

impl Event {
    /// An event about `uuid` of `model`, in `project`.
    pub fn new(status: Change, model: ModelName, uuid: Uuid, project: Option<Uuid>) -> Self {
        Self {
            status,
            model,
            uuid: uuid.simple().to_string(),
            project: project.map(|p| p.hyphenated().to_string()),
        }
    }
}

/// How many events may wait for the sender task before publishers wait for room.
const BACKLOG: usize = 4096;
/// The most events sent in one Redis pipeline.
const BATCH: usize = 256;

enum Queued {
    Event(String),
    Flush(tokio::sync::oneshot::Sender<()>),
}

/// Publishes events on Redis. Cheap to clone; reconnects by itself.
///
/// Publishing hands the event to one sender task per publisher, which sends whatever has queued
/// up since its last round trip as one Redis pipeline, in order. A write therefore never waits for
/// Redis (only for room in the backlog), and a burst of events costs one round trip.
#[derive(Clone)]
pub struct Publisher {
    queue: tokio::sync::mpsc::Sender<Queued>,
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher").finish_non_exhaustive()
    }
}

/// Whether a failure to reach Redis may pass by itself (it is not up yet, or not yet in DNS),
/// unlike a refused password.
pub fn unreachable(error: &redis::RedisError) -> bool {
    error.is_io_error() || error.is_connection_refusal() || error.is_timeout()
}

impl Publisher {
    /// Connects to Redis at `url` and starts the sender task (on the current Tokio runtime).
    pub async fn connect(url: &str) -> redis::RedisResult<Self> {
        let client = redis::Client::open(url)?;
        let conn = client.get_connection_manager().await?;
        Ok(Self::start(conn))
    }

    /// A publisher for Redis at `url` that connects when it first sends (an event published
    /// while Redis cannot be reached is logged and dropped, as always). Must be called on a
    /// Tokio runtime.
    pub fn lazy(url: &str) -> redis::RedisResult<Self> {
        let client = redis::Client::open(url)?;
        let conn = redis::aio::ConnectionManager::new_lazy_with_config(
            client,
            redis::aio::ConnectionManagerConfig::new(),
        )?;
        Ok(Self::start(conn))
    }

    fn start(conn: redis::aio::ConnectionManager) -> Self {
        let (queue, rx) = tokio::sync::mpsc::channel(BACKLOG);
        tokio::spawn(send(conn, rx));
        Self { queue }
    }

    /// Queues one event. Events are notifications, not records: a failure to send is logged and
    /// dropped, never failing the write that caused it.
    pub async fn publish(&self, event: &Event) {
        let Ok(body) = serde_json::to_string(event) else {
            return;
        };
        if self.queue.send(Queued::Event(body)).await.is_err() {
            tracing::warn!(model = %event.model, "failed to queue an event: the sender task ended");
        }
    }

    /// Queues several events, in order.
    pub async fn publish_all(&self, events: &[Event]) {
        for event in events {
            self.publish(event).await;
        }
    }

    /// Waits until every event queued before this call was sent (or failed to send), for at
    /// most five seconds: a shutdown does not hang on an unreachable Redis.
    pub async fn flush(&self) {
        let (done, sent) = tokio::sync::oneshot::channel();
        let flushed = async {
            if self.queue.send(Queued::Flush(done)).await.is_ok() {
                let _ = sent.await;
            }
        };
        if tokio::time::timeout(std::time::Duration::from_secs(5), flushed)
            .await
            .is_err()
        {
            tracing::warn!("gave up sending the last events to Redis");
        }
    }
}

/// The sender task: one pipeline per round of whatever is queued, until every publisher is gone.
async fn send(
    mut conn: redis::aio::ConnectionManager,
    mut rx: tokio::sync::mpsc::Receiver<Queued>,
) {
    let mut batch = Vec::with_capacity(BATCH);
    while rx.recv_many(&mut batch, BATCH).await > 0 {
        let mut pipe = redis::pipe();
        let mut flushes = Vec::new();
        for queued in batch.drain(..) {
            match queued {
                Queued::Event(body) => {
                    pipe.publish(CHANNEL, body).ignore();
                }
                Queued::Flush(done) => flushes.push(done),
            }
        }
        if !pipe.is_empty()
            && let Err(error) = pipe.query_async::<()>(&mut conn).await
        {
            tracing::warn!(%error, "failed to publish events on Redis");
        }
        for done in flushes {
            let _ = done.send(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The websocket contract: each model serialises to upstream's name, and `name` agrees.
    #[test]
    fn model_names_on_the_wire() {
        let names: Vec<String> = ModelName::ALL
            .iter()
            .map(|m| {
                serde_json::to_value(m)
                    .unwrap()
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        assert_eq!(
            names,
            [
                "project",
                "workflow",
                "workflowjob",
                "workflowjobgroup",
                "inputport",
                "outputport",
                "connection",
                "workflowrun",
                "runjob",
                "resource",
                "resourcelist",
                "resultspackage",
            ]
        );
        for model in ModelName::ALL {
            assert_eq!(serde_json::to_value(model).unwrap(), model.name());
            let back: ModelName = serde_json::from_value(model.name().into()).unwrap();
            assert_eq!(back, model);
        }
    }

    #[test]
    fn event_serialises_as_upstream() {
        let uuid = Uuid::parse_str("0f5ac7d1-1f0e-4f0b-9a57-3c2f1b1e2d3c").unwrap();
        let event = Event::new(Change::Updated, ModelName::RunJob, uuid, Some(uuid));
        assert_eq!(
            serde_json::to_string(&event).unwrap(),
            r#"{"status":"updated","model":"runjob","uuid":"0f5ac7d11f0e4f0b9a573c2f1b1e2d3c","project":"0f5ac7d1-1f0e-4f0b-9a57-3c2f1b1e2d3c"}"#
        );
    }
}
