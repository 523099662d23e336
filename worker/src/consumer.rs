//! The consumer loop: consumes the worker's queues with a prefetch of its concurrency, hands each
//! delivery to its task (run job, results package or upload) and settles it. When the RabbitMQ
//! connection drops it connects again with a capped, jittered backoff while running jobs go on.
//! On shutdown it stops consuming, lets running jobs finish within the grace period, and gives
//! the rest back to the queue.

use crate::context::Context;
use crate::error::WorkerError;
use crate::metrics::BrokerState;
use crate::settle::{Settle, settle};
use futures::StreamExt;
use lapin::Connection;
use lapin::options::{BasicCancelOptions, BasicConsumeOptions, BasicQosOptions};
use lapin::types::FieldTable;
use rodan_core::message::Task;
use rodan_db::broker::decode;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// A connection consuming the worker's queues.
pub(crate) struct Consuming {
    connection: Connection,
    channel: lapin::Channel,
    stream: futures::stream::SelectAll<lapin::Consumer>,
    tags: Vec<String>,
}

/// Connects to RabbitMQ, sets the prefetch window and consumes every configured queue.
pub(crate) async fn open(shared: &Context) -> Result<Consuming, lapin::Error> {
    let config = &shared.config;
    let concurrency = config.concurrency.max(1);
    // Named after the worker, so RabbitMQ's connection list tells whose it is.
    let properties = rodan_db::broker::connection_properties()
        .with_connection_name(format!("rodan-worker {}", shared.owner).into());
    let connection = Connection::connect(&config.rabbitmq_url, properties).await?;
    let channel = connection.create_channel().await?;
    // A prefetch window of the concurrency for the worker as a whole. With one queue, as the
    // operator runs workers, it is the consumer's own window: RabbitMQ's per-channel
    // ("global") window costs it more bookkeeping per message, which the dispatch benchmark
    // measured at about 12% of the no-op job rate. With several queues, one window shared by
    // their consumers.
    channel
        .basic_qos(
            concurrency,
            BasicQosOptions {
                global: config.queues.len() > 1,
            },
        )
        .await?;
    let mut consumers = Vec::new();
    let mut tags = Vec::new();
    for queue in &config.queues {
        rodan_db::broker::declare_queue(&channel, queue).await?;
        let tag = format!("{}-{queue}", shared.owner);
        consumers.push(
            channel
                .basic_consume(
                    queue,
                    &tag,
                    BasicConsumeOptions::default(),
                    FieldTable::default(),
                )
                .await?,
        );
        tags.push(tag);
    }
    Ok(Consuming {
        connection,
        channel,
        stream: futures::stream::select_all(consumers),
        tags,
    })
}

/// Connects again after the connection dropped, waiting between attempts (see
/// [`Config::reconnect_delay`](crate::config::Config::reconnect_delay)); `None` when the worker
/// is told to stop meanwhile. Jobs already running go on meanwhile; their messages were given
/// back by RabbitMQ with the connection, and the claim (only of a SCHEDULED run job with the
/// message's task id) keeps a redelivered one from running a second time.
async fn reconnect(shared: &Context, shutdown: &CancellationToken) -> Option<Consuming> {
    shared.metrics.set_broker(BrokerState::Reconnecting);
    let mut attempt = 0;
    loop {
        let delay = shared
            .config
            .reconnect_delay(attempt, rand::random::<f64>());
        tokio::select! {
            () = shutdown.cancelled() => return None,
            () = tokio::time::sleep(delay) => {}
        }
        let opened = tokio::select! {
            () = shutdown.cancelled() => return None,
            opened = open(shared) => opened,
        };
        match opened {
            Ok(consuming) => {
                shared.metrics.reconnects.inc();
                shared.metrics.set_broker(BrokerState::Connected);
                tracing::info!(
                    attempt = attempt + 1,
                    "reconnected to RabbitMQ; consuming again"
                );
                return Some(consuming);
            }
            Err(error) => {
                tracing::warn!(%error, attempt = attempt + 1, "failed to reconnect to RabbitMQ; trying again");
                attempt = attempt.saturating_add(1);
            }
        }
    }
}

/// Consumes until `shutdown`, then drains: the loop described above; the reaper runs alongside.
pub(crate) async fn consume(
    shared: Arc<Context>,
    consuming: Consuming,
    shutdown: CancellationToken,
) -> Result<(), WorkerError> {
    let stop_reaper = CancellationToken::new();
    let reaper = tokio::spawn(crate::reaper::run(shared.clone(), stop_reaper.clone()));
    let permits = Arc::new(Semaphore::new(usize::from(
        shared.config.concurrency.max(1),
    )));
    let hard = CancellationToken::new();
    let mut running = JoinSet::new();
    let mut current = Some(consuming);
    'connected: while let Some(consuming) = current.as_mut() {
        let lost = loop {
            tokio::select! {
                _ = shutdown.cancelled() => break 'connected,
                Some(_) = running.join_next(), if !running.is_empty() => {}
                next = consuming.stream.next() => match next {
                    Some(Ok(delivery)) => {
                        let permit = tokio::select! {
                            permit = permits.clone().acquire_owned() => permit,
                            _ = shutdown.cancelled() => {
                                settle(&delivery, Settle::Requeue).await;
                                break 'connected;
                            }
                        };
                        let Ok(permit) = permit else { break 'connected };
                        let shared = shared.clone();
                        let hard = hard.clone();
                        running.spawn(async move {
                            let how = match decode(&delivery.properties, &delivery.data) {
                                Ok(Task::Package(message)) => {
                                    crate::package::handle(&shared, message, &hard).await
                                }
                                Ok(Task::Resource(message)) => {
                                    crate::resource::handle(&shared, message).await
                                }
                                Ok(Task::RunJob(message)) => {
                                    crate::run_job::handle(&shared, message, &hard).await
                                }
                                Err(error) => {
                                    tracing::warn!(%error, kind = ?delivery.properties.kind(), "dropping a message that does not decode");
                                    Settle::Reject
                                }
                            };
                            settle(&delivery, how).await;
                            drop(permit);
                        });
                    }
                    Some(Err(error)) => break error.to_string(),
                    None => break "the consumer was closed".to_owned(),
                },
            }
        };
        tracing::warn!(
            error = %lost,
            running = running.len(),
            "lost the RabbitMQ connection; reconnecting (running jobs go on)"
        );
        current = reconnect(&shared, &shutdown).await;
    }
    shared.metrics.set_healthy(false);
    tracing::info!(running = running.len(), "stopping: no new messages");
    if let Some(consuming) = current.as_mut() {
        for tag in &consuming.tags {
            if let Err(error) = consuming
                .channel
                .basic_cancel(tag, BasicCancelOptions::default())
                .await
            {
                tracing::warn!(%error, tag, "failed to cancel a consumer");
            }
        }
        // Deliveries already prefetched but not started go back to the queue.
        while let Ok(Some(Ok(delivery))) =
            tokio::time::timeout(Duration::from_millis(200), consuming.stream.next()).await
        {
            settle(&delivery, Settle::Requeue).await;
        }
    }
    let grace = shared.config.grace();
    let drained = tokio::time::timeout(grace, async {
        while running.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            running = running.len(),
            "grace period over; giving running jobs back to the queue"
        );
        hard.cancel();
        while running.join_next().await.is_some() {}
    }
    stop_reaper.cancel();
    let _ = reaper.await;
    if let Some(consuming) = current {
        let _ = consuming.channel.close(200, "worker stopping").await;
        let _ = consuming.connection.close(200, "worker stopping").await;
    }
    let _ = std::fs::remove_dir_all(&shared.scratch);
    shared.events.flush().await;
    shared.pool.close().await;
    tracing::info!("worker stopped");
    Ok(())
}
