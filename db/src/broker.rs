//! RabbitMQ: durable queues named as upstream's (`celery`, `Python3`, `GPU`), persistent JSON
//! messages, publisher confirms.

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions, QueueDeclareOptions};
use lapin::publisher_confirm::Confirmation;
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use rodan_core::message::Task;
use std::collections::HashSet;
use tokio::sync::Mutex;

/// A failed broker operation.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// The connection or a channel operation failed.
    #[error("failed to talk to RabbitMQ")]
    Amqp(#[from] lapin::Error),
    /// RabbitMQ refused the message (a negative publisher confirm).
    #[error("RabbitMQ refused a message for queue {0}")]
    Nacked(String),
    /// The message could not be encoded.
    #[error("failed to encode a message")]
    Encode(#[from] serde_json::Error),
}

/// Connection settings for every RabbitMQ connection of ours: lapin runs its I/O and callbacks
/// on the current Tokio runtime instead of its own executor and reactor threads, so a delivery
/// reaches its handler without hopping across threads.
pub fn connection_properties() -> ConnectionProperties {
    ConnectionProperties::default()
        .with_executor(tokio_executor_trait::Tokio::current())
        .with_reactor(tokio_reactor_trait::Tokio)
}

/// Declares `queue` as upstream's job queues are: durable, not exclusive, not auto-deleted.
pub async fn declare_queue(channel: &Channel, queue: &str) -> Result<(), lapin::Error> {
    channel
        .queue_declare(
            queue,
            QueueDeclareOptions {
                durable: true,
                ..QueueDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await
        .map(|_| ())
}

/// A message ready to publish: its queue, body and properties.
type Message<'a> = (&'a str, Vec<u8>, BasicProperties);

/// The AMQP properties of a task's message, as upstream-style consumers see them: persistent
/// (delivery mode 2), `application/json`, and the AMQP `type` of [`Task::kind`] (none for a run
/// job).
pub fn properties(task: &Task) -> BasicProperties {
    let properties = BasicProperties::default()
        .with_delivery_mode(2)
        .with_content_type("application/json".into());
    match task.kind() {
        Some(kind) => properties.with_type(kind.into()),
        None => properties,
    }
}

/// The one encoding of a task for `queue`: body and properties.
fn encode<'a>(queue: &'a str, task: &Task) -> Result<Message<'a>, BrokerError> {
    Ok((queue, task.body()?, properties(task)))
}

/// The one decode of a delivered message: by its AMQP `type`, then its body.
pub fn decode(properties: &BasicProperties, body: &[u8]) -> Result<Task, serde_json::Error> {
    Task::decode(properties.kind().as_ref().map(|k| k.as_str()), body)
}

/// Publishes dispatch messages on a channel in confirm mode.
#[derive(Debug)]
pub struct Broker {
    url: String,
    state: Mutex<Option<Open>>,
}

#[derive(Debug)]
struct Open {
    _connection: Connection,
    channel: Channel,
    declared: HashSet<String>,
}

impl Broker {
    /// A broker for `url`; connects on first use and again after a failure.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            state: Mutex::new(None),
        }
    }

    /// Connects now, to fail fast at start.
    pub async fn check(&self) -> Result<(), BrokerError> {
        let mut state = self.state.lock().await;
        if state.is_none() {
            *state = Some(self.open().await?);
        }
        Ok(())
    }

    async fn open(&self) -> Result<Open, lapin::Error> {
        let connection = Connection::connect(&self.url, connection_properties()).await?;
        let channel = connection.create_channel().await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        Ok(Open {
            _connection: connection,
            channel,
            declared: HashSet::new(),
        })
    }

    /// Publishes `task` on `queue` as a persistent message and waits for RabbitMQ's confirm.
    /// On a connection failure it reconnects once and tries again.
    pub async fn publish(&self, queue: &str, task: &Task) -> Result<(), BrokerError> {
        self.send(&[encode(queue, task)?]).await
    }

    /// Publishes several tasks, each on its queue, sending all of them before awaiting
    /// RabbitMQ's confirms (same durability as [`Broker::publish`], one round trip for the batch
    /// instead of one per message). All or nothing for the caller: on an error some messages may
    /// have been delivered, which is why workers check the task id they carry.
    pub async fn publish_all<Q: AsRef<str>>(&self, tasks: &[(Q, Task)]) -> Result<(), BrokerError> {
        let messages = tasks
            .iter()
            .map(|(queue, task)| encode(queue.as_ref(), task))
            .collect::<Result<Vec<_>, BrokerError>>()?;
        self.send(&messages).await
    }

    /// Messages ready in `queue` and its consumer count (a passive declare: 404 when the queue
    /// does not exist yet, reported as `None`).
    pub async fn queue_depth(&self, queue: &str) -> Result<Option<(u32, u32)>, BrokerError> {
        let connection = Connection::connect(&self.url, connection_properties()).await?;
        let channel = connection.create_channel().await?;
        let declared = channel
            .queue_declare(
                queue,
                QueueDeclareOptions {
                    passive: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await;
        let _ = connection.close(200, "done").await;
        match declared {
            Ok(q) => Ok(Some((q.message_count(), q.consumer_count()))),
            Err(lapin::Error::ProtocolError(_)) => Ok(None),
            Err(error) => Err(error.into()),
        }
    }

    /// Sends encoded messages and awaits their confirms; on a connection failure it reconnects
    /// once and sends them all again.
    async fn send(&self, messages: &[Message<'_>]) -> Result<(), BrokerError> {
        match self.try_send(messages).await {
            Err(BrokerError::Amqp(error)) => {
                tracing::warn!(%error, "publish failed; reconnecting to RabbitMQ");
                *self.state.lock().await = None;
                self.try_send(messages).await
            }
            other => other,
        }
    }

    async fn try_send(&self, messages: &[Message<'_>]) -> Result<(), BrokerError> {
        // One channel; the lock is held only while publishing, so concurrent dispatches wait for
        // their confirms side by side. Every message is sent before any confirm is awaited.
        let mut state = self.state.lock().await;
        if state
            .as_ref()
            .is_none_or(|open| !open.channel.status().connected())
        {
            *state = Some(self.open().await?);
        }
        let Some(open) = state.as_mut() else {
            return Err(BrokerError::Nacked(String::new()));
        };
        for (queue, _, _) in messages {
            if !open.declared.contains(*queue) {
                declare_queue(&open.channel, queue).await?;
                open.declared.insert((*queue).to_owned());
            }
        }
        // Every publish is started before any is awaited: lapin queues a message's frames when
        // its publish is first polled and resolves it once its I/O loop has written them, so
        // awaiting one at a time would cost a hand-over to that loop per message.
        let channel = &open.channel;
        let publishes = messages.iter().map(|(queue, body, properties)| async move {
            let confirm = channel
                .basic_publish(
                    "",
                    queue,
                    BasicPublishOptions::default(),
                    body,
                    properties.clone(),
                )
                .await?;
            Ok::<_, lapin::Error>((*queue, confirm))
        });
        let confirms = futures::future::try_join_all(publishes).await?;
        drop(state);
        for (queue, confirm) in confirms {
            if let Confirmation::Nack(_) = confirm.await? {
                return Err(BrokerError::Nacked(queue.to_owned()));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rodan_core::message::{PackageMessage, ResourceMessage, RunJobMessage};
    use uuid::Uuid;

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    /// The wire format upstream-style consumers see: exactly these properties and bodies, and
    /// each decodes back to its task. A change to either side fails here.
    #[test]
    fn each_task_has_its_wire_format_and_reads_back() {
        let cases = [
            (
                Task::RunJob(RunJobMessage {
                    run_job: id(1),
                    task_id: id(2),
                    job_name: "Hello World".into(),
                }),
                None,
                r#"{"run_job":"00000000-0000-0000-0000-000000000001","task_id":"00000000-0000-0000-0000-000000000002","job_name":"Hello World"}"#,
            ),
            (
                Task::Package(PackageMessage {
                    results_package: id(3),
                    task_id: id(4),
                }),
                Some("rodan.results_package"),
                r#"{"results_package":"00000000-0000-0000-0000-000000000003","task_id":"00000000-0000-0000-0000-000000000004"}"#,
            ),
            (
                Task::Resource(ResourceMessage { resource: id(5) }),
                Some("rodan.core.create_resource"),
                r#"{"resource":"00000000-0000-0000-0000-000000000005"}"#,
            ),
        ];
        for (task, kind, body) in cases {
            let (queue, bytes, props) = encode("celery", &task).expect("encodes");
            assert_eq!(queue, "celery");
            assert_eq!(std::str::from_utf8(&bytes).expect("utf-8"), body);
            let expected = BasicProperties::default()
                .with_delivery_mode(2)
                .with_content_type("application/json".into());
            let expected = match kind {
                Some(kind) => expected.with_type(kind.into()),
                None => expected,
            };
            assert_eq!(props, expected, "{task:?}");
            assert_eq!(decode(&props, &bytes).expect("decodes"), task);
        }
    }

    #[test]
    fn a_body_that_is_not_its_types_does_not_decode() {
        let props = properties(&Task::Resource(ResourceMessage { resource: id(1) }));
        assert!(decode(&props, br#"{"run_job":"x"}"#).is_err());
        assert!(decode(&BasicProperties::default(), b"not json").is_err());
    }
}
