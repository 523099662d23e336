//! How a delivery is settled with RabbitMQ once its message was handled: acknowledged, given back
//! to the queue, or rejected.

use lapin::options::{BasicAckOptions, BasicNackOptions, BasicRejectOptions};

/// How a message is settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Settle {
    /// Done with it (finished, failed, or stale).
    Ack,
    /// Give it back to the queue.
    Requeue,
    /// Drop it without requeueing (undecodable).
    Reject,
}

/// Settles `delivery` as `how` says; a failure is logged (RabbitMQ redelivers the message when
/// the channel closes).
pub(crate) async fn settle(delivery: &lapin::message::Delivery, how: Settle) {
    let done = match how {
        Settle::Ack => delivery.ack(BasicAckOptions::default()).await,
        Settle::Requeue => {
            delivery
                .nack(BasicNackOptions {
                    requeue: true,
                    ..BasicNackOptions::default()
                })
                .await
        }
        Settle::Reject => delivery.reject(BasicRejectOptions { requeue: false }).await,
    };
    if let Err(error) = done {
        tracing::warn!(%error, ?how, "failed to settle a message");
    }
}
