//! Model events: `{status, model, uuid, project}` published on Redis, upstream's channel
//! `rodan:broadcast:rodan` (rodan-reference §2.6), for the websocket of every API replica.

use redis::AsyncCommands;
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

/// One event, serialised exactly as upstream's database trigger did: `uuid` as hex without
/// dashes, `project` only for models that belong to a project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// What happened.
    pub status: Change,
    /// The model, upstream's table name without `rodan_` (`workflowrun`, `runjob`, `resource`).
    pub model: String,
    /// The object's uuid as 32 hex digits.
    pub uuid: String,
    /// The project the object belongs to, when it has one.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub project: Option<String>,
}

impl Event {
    /// An event about `uuid` of `model`, in `project`.
    pub fn new(status: Change, model: &str, uuid: Uuid, project: Option<Uuid>) -> Self {
        Self {
            status,
            model: model.to_owned(),
            uuid: uuid.simple().to_string(),
            project: project.map(|p| p.hyphenated().to_string()),
        }
    }
}

/// Publishes events on Redis. Cheap to clone; reconnects by itself.
#[derive(Clone)]
pub struct Publisher {
    conn: redis::aio::ConnectionManager,
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Publisher").finish_non_exhaustive()
    }
}

impl Publisher {
    /// Connects to Redis at `url`.
    pub async fn connect(url: &str) -> redis::RedisResult<Self> {
        let client = redis::Client::open(url)?;
        Ok(Self {
            conn: client.get_connection_manager().await?,
        })
    }

    /// Publishes one event. Events are notifications, not records: a failure is logged and
    /// dropped, never failing the write that caused it.
    pub async fn publish(&self, event: &Event) {
        let Ok(body) = serde_json::to_string(event) else {
            return;
        };
        let mut conn = self.conn.clone();
        if let Err(error) = conn.publish::<_, _, i64>(CHANNEL, body).await {
            tracing::warn!(%error, model = %event.model, "failed to publish an event on Redis");
        }
    }

    /// Publishes several events.
    pub async fn publish_all(&self, events: &[Event]) {
        for event in events {
            self.publish(event).await;
        }
    }
}
