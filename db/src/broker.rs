//! RabbitMQ: durable queues named as upstream's (`celery`, `Python3`, `GPU`), persistent JSON
//! messages, publisher confirms.

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions, QueueDeclareOptions};
use lapin::publisher_confirm::Confirmation;
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use rodan_core::message::{
    PACKAGE_MESSAGE_TYPE, PackageMessage, RESOURCE_MESSAGE_TYPE, ResourceMessage, RunJobMessage,
};
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

    /// Publishes `message` on `queue` as a persistent message and waits for RabbitMQ's confirm.
    /// On a connection failure it reconnects once and tries again.
    pub async fn publish(&self, queue: &str, message: &RunJobMessage) -> Result<(), BrokerError> {
        self.send(&[(queue, serde_json::to_vec(message)?, None)])
            .await
    }

    /// Publishes several dispatch messages, each on its queue, sending all of them before
    /// awaiting RabbitMQ's confirms (same durability as [`Broker::publish`], one round trip for
    /// the batch instead of one per message). All or nothing for the caller: on an error some
    /// messages may have been delivered, which is why workers check the task id they carry.
    pub async fn publish_all(
        &self,
        messages: &[(String, RunJobMessage)],
    ) -> Result<(), BrokerError> {
        let bodies = messages
            .iter()
            .map(|(queue, message)| Ok((queue.as_str(), serde_json::to_vec(message)?, None)))
            .collect::<Result<Vec<_>, BrokerError>>()?;
        self.send(&bodies).await
    }

    /// Publishes a results-package request on `queue`, typed [`PACKAGE_MESSAGE_TYPE`].
    pub async fn publish_package(
        &self,
        queue: &str,
        message: &PackageMessage,
    ) -> Result<(), BrokerError> {
        self.send(&[(
            queue,
            serde_json::to_vec(message)?,
            Some(PACKAGE_MESSAGE_TYPE),
        )])
        .await
    }

    /// Publishes the settling of uploaded resources on `queue`, typed [`RESOURCE_MESSAGE_TYPE`].
    pub async fn publish_resources(
        &self,
        queue: &str,
        messages: &[ResourceMessage],
    ) -> Result<(), BrokerError> {
        let bodies = messages
            .iter()
            .map(|message| {
                Ok((
                    queue,
                    serde_json::to_vec(message)?,
                    Some(RESOURCE_MESSAGE_TYPE),
                ))
            })
            .collect::<Result<Vec<_>, BrokerError>>()?;
        self.send(&bodies).await
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

    /// Sends `(queue, body, AMQP type)` messages and awaits their confirms; on a connection
    /// failure it reconnects once and sends them all again.
    async fn send(&self, messages: &[(&str, Vec<u8>, Option<&str>)]) -> Result<(), BrokerError> {
        match self.try_send(messages).await {
            Err(BrokerError::Amqp(error)) => {
                tracing::warn!(%error, "publish failed; reconnecting to RabbitMQ");
                *self.state.lock().await = None;
                self.try_send(messages).await
            }
            other => other,
        }
    }

    async fn try_send(
        &self,
        messages: &[(&str, Vec<u8>, Option<&str>)],
    ) -> Result<(), BrokerError> {
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
        let publishes = messages.iter().map(|(queue, body, kind)| {
            let properties = BasicProperties::default()
                .with_delivery_mode(2)
                .with_content_type("application/json".into());
            let properties = match kind {
                Some(kind) => properties.with_type((*kind).into()),
                None => properties,
            };
            async move {
                let confirm = channel
                    .basic_publish("", queue, BasicPublishOptions::default(), body, properties)
                    .await?;
                Ok::<_, lapin::Error>((*queue, confirm))
            }
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
