//! The serving worker: consumes its queues with a prefetch of its concurrency, claims each run
//! job under a lease, runs the job on a blocking thread while a heartbeat renews the lease,
//! commits the outcome, publishes events, dispatches what became runnable, and only then
//! acknowledges the message. When the RabbitMQ connection drops it connects again with a capped,
//! jittered backoff while running jobs go on. On shutdown it stops consuming, lets running jobs finish within
//! the grace period, and gives the rest back to the queue.

use crate::batch::{BatchError, Batcher};
use crate::config::Config;
use crate::core::{CoreJob, Effect};
use crate::execute::{self, ExecuteError};
use crate::metrics::{BrokerState, Metrics};
use crate::store::{self, Claim, Lease};
use futures::StreamExt;
use lapin::Connection;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions,
    BasicRejectOptions,
};
use lapin::types::FieldTable;
use rodan_core::message::{PACKAGE_MESSAGE_TYPE, RESOURCE_MESSAGE_TYPE, RunJobMessage};
use rodan_db::broker::Broker;
use rodan_db::events::{Change, Event, Publisher};
use rodan_jobs::Job;
use sqlx::PgPool;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// A worker that failed to start or stopped on an error.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// PostgreSQL could not be reached.
    #[error("failed to connect to PostgreSQL")]
    Database(#[source] sqlx::Error),
    /// The jobs could not be registered.
    #[error("failed to register the worker's jobs")]
    Register(#[source] sqlx::Error),
    /// RabbitMQ failed.
    #[error("failed to consume from RabbitMQ")]
    Amqp(#[from] lapin::Error),
    /// The dispatching broker could not connect.
    #[error("failed to connect the dispatch publisher")]
    Broker(#[from] rodan_db::broker::BrokerError),
    /// Redis could not be reached.
    #[error("failed to connect to Redis")]
    Redis(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The scratch folder or the metrics port failed.
    #[error("failed to prepare {what}")]
    Io {
        /// What.
        what: &'static str,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The worker's task panicked.
    #[error("failed to run the worker task")]
    Join(#[from] tokio::task::JoinError),
}

/// What a worker and its tasks share.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) pool: PgPool,
    pub(crate) broker: Broker,
    pub(crate) events: Publisher,
    pub(crate) config: Config,
    pub(crate) owner: String,
    pub(crate) jobs: HashMap<String, &'static dyn Job>,
    pub(crate) core: Vec<CoreJob>,
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) scratch: PathBuf,
    /// Claims of messages, batched (see [`crate::batch`]).
    pub(crate) claims: Batcher<(Uuid, Uuid), Option<Claim>>,
    /// Finishes of run jobs with nothing to place, batched.
    pub(crate) finishes: Batcher<Uuid, store::Finished>,
}

impl Shared {
    /// Dispatches `run` and publishes what changed. Failures are logged: the reaper's stalled-run
    /// sweep dispatches again later.
    pub(crate) async fn dispatch(&self, run: Uuid) {
        match rodan_db::schedule::dispatch(&self.pool, &self.broker, run).await {
            Ok(done) => self.events.publish_all(&done.events).await,
            Err(error) => {
                tracing::warn!(%run, error = %crate::error_chain(&error), "dispatch failed");
            }
        }
    }

    async fn event(&self, model: &str, uuid: Uuid, project: Uuid) {
        self.events
            .publish(&Event::new(Change::Updated, model, uuid, Some(project)))
            .await;
    }
}

/// A started worker.
#[derive(Debug)]
pub struct Worker {
    shared: Arc<Shared>,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<Result<(), WorkerError>>,
}

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

impl Worker {
    /// Connects, registers the jobs of `catalogue` that run on the configured queues, and starts
    /// consuming.
    pub async fn start(
        config: Config,
        catalogue: Vec<&'static dyn Job>,
    ) -> Result<Self, WorkerError> {
        let concurrency = config.concurrency.max(1);
        let memory = crate::config::cgroup_memory_limit(std::path::Path::new("/sys/fs/cgroup"));
        let limits = config.limits(memory);
        rodan_jobs::limits::set(limits);
        tracing::info!(
            memory_limit = ?memory,
            max_image_pixels = limits.max_pixels,
            max_input_text_bytes = limits.max_text_bytes,
            "input bounds"
        );
        let wait = rodan_db::STARTUP_WAIT;
        let pool = rodan_db::until_up("the database", wait, rodan_db::unreachable, || {
            rodan_db::connect_generic(&config.database_url, u32::from(concurrency) * 2 + 4)
        })
        .await
        .map_err(WorkerError::Database)?;
        let jobs: HashMap<String, &'static dyn Job> = catalogue
            .into_iter()
            .filter(|job| config.queues.contains(&job.descriptor().queue))
            .map(|job| (job.name().to_owned(), job))
            .collect();
        let core: Vec<CoreJob> = CoreJob::ALL
            .into_iter()
            .filter(|job| config.queues.contains(&job.descriptor().queue))
            .collect();
        let descriptors: Vec<_> = jobs
            .values()
            .map(|job| job.descriptor())
            .chain(core.iter().map(|job| job.descriptor()))
            .collect();
        rodan_db::catalogue::register_jobs(&pool, &descriptors)
            .await
            .map_err(WorkerError::Register)?;
        let broker = Broker::new(config.rabbitmq_url.clone());
        rodan_db::until_up("RabbitMQ", wait, |_| true, || broker.check()).await?;
        let events = rodan_db::until_up("Redis", wait, rodan_db::events::unreachable, || {
            Publisher::connect(&config.redis_url)
        })
        .await
        .map_err(|e| WorkerError::Redis(Box::new(e)))?;
        let owner = if config.name.is_empty() {
            format!("worker-{}", Uuid::new_v4().simple())
        } else {
            config.name.clone()
        };
        // Scratch space on the media volume, so finished outputs are renamed into place.
        let scratch = config.media_root.join(".scratch").join(&owner);
        std::fs::create_dir_all(&scratch).map_err(|source| WorkerError::Io {
            what: "the scratch folder",
            source,
        })?;
        let metrics = Arc::new(Metrics::new());
        if let Some(addr) = config.metrics_addr {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|source| WorkerError::Io {
                    what: "the metrics port",
                    source,
                })?;
            let app = crate::metrics::router(metrics.clone());
            tokio::spawn(async move { axum::serve(listener, app).await });
        }
        // One statement of each kind at a time: requests that arrive meanwhile share the next.
        // Measured on the dispatch benchmark (docs/benchmarks.md), where PostgreSQL's CPU is the
        // limit, one in flight ran 2900-3100 no-op jobs/s, two 2600-2800 and three 2100-2400.
        let claims = {
            let (pool, owner, lease) = (pool.clone(), owner.clone(), config.lease());
            Batcher::new(1, move |messages: Vec<(Uuid, Uuid)>| {
                let (pool, owner) = (pool.clone(), owner.clone());
                async move { store::claim_many(&pool, &messages, &owner, lease).await }
            })
        };
        let finishes = {
            let (pool, owner) = (pool.clone(), owner.clone());
            Batcher::new(1, move |run_jobs: Vec<Uuid>| {
                let (pool, owner) = (pool.clone(), owner.clone());
                async move { store::finish_many(&pool, &run_jobs, &owner).await }
            })
        };
        let shared = Arc::new(Shared {
            pool,
            broker,
            events,
            config,
            owner,
            jobs,
            core,
            metrics,
            scratch,
            claims,
            finishes,
        });
        let consuming = open(&shared).await?;
        tracing::info!(
            owner = %shared.owner,
            queues = ?shared.config.queues,
            concurrency,
            jobs = shared.jobs.len(),
            "worker started"
        );
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(consume(shared.clone(), consuming, shutdown.clone()));
        Ok(Self {
            shared,
            shutdown,
            task,
        })
    }

    /// The token that stops the worker gracefully (what SIGTERM does).
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// This worker's `lease_owner`.
    pub fn owner(&self) -> &str {
        &self.shared.owner
    }

    /// The worker's metrics.
    pub fn metrics(&self) -> Arc<Metrics> {
        self.shared.metrics.clone()
    }

    /// Waits until the worker stopped (after a shutdown, or on an error).
    pub async fn wait(self) -> Result<(), WorkerError> {
        self.task.await?
    }

    /// Stops gracefully and waits.
    pub async fn stop(self) -> Result<(), WorkerError> {
        self.shutdown.cancel();
        self.wait().await
    }
}

/// A connection consuming the worker's queues.
struct Consuming {
    connection: Connection,
    channel: lapin::Channel,
    stream: futures::stream::SelectAll<lapin::Consumer>,
    tags: Vec<String>,
}

/// Connects to RabbitMQ, sets the prefetch window and consumes every configured queue.
async fn open(shared: &Shared) -> Result<Consuming, lapin::Error> {
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
/// [`Config::reconnect_delay`]); `None` when the worker is told to stop meanwhile. Jobs already
/// running go on meanwhile; their messages were given back by RabbitMQ with the connection, and
/// the claim (only of a SCHEDULED run job with the message's task id) keeps a redelivered one
/// from running a second time.
async fn reconnect(shared: &Shared, shutdown: &CancellationToken) -> Option<Consuming> {
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

async fn consume(
    shared: Arc<Shared>,
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
                            // Core tasks carry their kind in the AMQP `type`; run jobs none.
                            let kind = delivery.properties.kind().as_ref().map(|k| k.as_str());
                            let how = match kind {
                                Some(PACKAGE_MESSAGE_TYPE) => {
                                    crate::package::handle(&shared, &delivery.data, &hard).await
                                }
                                Some(RESOURCE_MESSAGE_TYPE) => {
                                    crate::resource::handle(&shared, &delivery.data).await
                                }
                                _ => handle(&shared, &delivery.data, &hard).await,
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

async fn settle(delivery: &lapin::message::Delivery, how: Settle) {
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

/// How a job's execution ended.
enum Ended {
    Done(Result<Result<Vec<Effect>, rodan_jobs::JobError>, tokio::task::JoinError>),
    TimedOut(Duration),
    Lease(Lease),
    Shutdown,
}

async fn handle(shared: &Shared, body: &[u8], hard: &CancellationToken) -> Settle {
    let message: RunJobMessage = match serde_json::from_slice(body) {
        Ok(message) => message,
        Err(error) => {
            tracing::warn!(%error, "dropping a message that is not a run job");
            return Settle::Reject;
        }
    };
    let claimed = shared.claims.call((message.run_job, message.task_id)).await;
    let claim = match claimed {
        Ok(Some(claim)) => claim,
        Ok(None) => {
            tracing::debug!(run_job = %message.run_job, "stale or duplicate message; dropped");
            if let Err(error) =
                store::forget_dispatch(&shared.pool, message.run_job, message.task_id).await
            {
                tracing::warn!(%error, "failed to un-dispatch a run job of a stopped run");
            }
            return Settle::Ack;
        }
        Err(error) => {
            tracing::warn!(%error, run_job = %message.run_job, "claim failed; requeueing");
            tokio::time::sleep(Duration::from_secs(1)).await;
            return Settle::Requeue;
        }
    };
    shared.event("runjob", claim.run_job, claim.project).await;
    let label = Metrics::job(&claim.job_name);
    shared.metrics.started.get_or_create(&label).inc();
    shared.metrics.running.inc();
    let started = Instant::now();
    let how = execute_claim(shared, &claim, hard).await;
    shared.metrics.running.dec();
    shared
        .metrics
        .duration
        .get_or_create(&label)
        .observe(started.elapsed().as_secs_f64());
    how
}

async fn execute_claim(shared: &Shared, claim: &Claim, hard: &CancellationToken) -> Settle {
    let library = shared.jobs.get(&claim.job_name).copied();
    let core = shared
        .core
        .iter()
        .copied()
        .find(|job| job.descriptor().name == claim.job_name);
    if library.is_none() && core.is_none() {
        return fail(
            shared,
            claim,
            &format!("no worker runs the job '{}'", claim.job_name),
            &format!(
                "the worker {} consuming this queue does not know the job '{}'",
                shared.owner, claim.job_name
            ),
        )
        .await;
    }
    // A scratch folder only for jobs that write outputs or read lists: most short jobs need none,
    // and creating and removing one is a measurable share of their cost.
    let needs_scratch =
        !claim.outputs.is_empty() || claim.inputs.iter().any(|row| row.list.is_some());
    let scratch = if needs_scratch {
        match tempfile::Builder::new()
            .prefix(&claim.run_job.simple().to_string())
            .tempdir_in(&shared.scratch)
        {
            Ok(dir) => Some(dir),
            Err(error) => {
                return retry_or_fail(
                    shared,
                    claim,
                    "failed to create a scratch folder",
                    &error.to_string(),
                )
                .await;
            }
        }
    } else {
        None
    };
    let scratch_path = scratch
        .as_ref()
        .map_or(shared.scratch.as_path(), tempfile::TempDir::path);
    let (input_rows, output_rows) = (&claim.inputs, &claim.outputs);
    let files = if needs_scratch {
        // Lists are linked into the scratch folder and list outputs get folders: file work.
        let (media, input_rows, output_rows, dir) = (
            shared.config.media_root.clone(),
            input_rows.clone(),
            output_rows.clone(),
            scratch_path.to_path_buf(),
        );
        execute::blocking(move || execute::job_files(&media, &input_rows, &output_rows, &dir)).await
    } else {
        execute::job_files(
            &shared.config.media_root,
            input_rows,
            output_rows,
            scratch_path,
        )
    };
    let (inputs, outputs) = match files {
        Ok(files) => files,
        Err(error) => return execute_failure(shared, claim, &error).await,
    };
    let descriptor = match (library, core) {
        (Some(job), _) => job.descriptor(),
        (None, Some(job)) => job.descriptor(),
        (None, None) => return Settle::Ack,
    };
    let timeout = descriptor
        .settings
        .get("job_timeout")
        .and_then(serde_json::Value::as_f64)
        .map_or_else(|| shared.config.job_timeout(), crate::config::secs);
    let settings = claim.settings.clone();
    let media_root = shared.config.media_root.clone();
    let core_inputs = if core.is_some() {
        input_rows.clone()
    } else {
        Vec::new()
    };
    let run = claim.run;
    let work = tokio::task::spawn_blocking(move || match (library, core) {
        (Some(job), _) => job.run(&inputs, &settings, &outputs).map(|()| Vec::new()),
        (None, Some(job)) => job.run(&media_root, &core_inputs, &settings, &outputs, run),
        (None, None) => Ok(Vec::new()),
    });
    let ended = tokio::select! {
        done = work => Ended::Done(done),
        () = tokio::time::sleep(timeout) => Ended::TimedOut(timeout),
        lease = watch_lease(shared, claim.run_job) => Ended::Lease(lease),
        () = hard.cancelled() => Ended::Shutdown,
    };
    match ended {
        Ended::Done(Ok(Ok(effects))) => {
            if !output_rows.is_empty() {
                let (rows, dir) = (output_rows.clone(), scratch_path.to_path_buf());
                let checked = execute::blocking(move || execute::check_outputs(&rows, &dir)).await;
                if let Err(error) = checked {
                    return execute_failure(shared, claim, &error).await;
                }
            }
            finish(shared, claim, output_rows, &effects, scratch_path).await
        }
        Ended::Done(Ok(Err(error))) => {
            tracing::info!(run_job = %claim.run_job, error = %crate::error_chain(&error), "job failed");
            if error.is_permanent() {
                fail(
                    shared,
                    claim,
                    &error.error_summary(),
                    &error.error_details(),
                )
                .await
            } else {
                retry_or_fail(
                    shared,
                    claim,
                    &error.error_summary(),
                    &error.error_details(),
                )
                .await
            }
        }
        Ended::Done(Err(error)) => fail(shared, claim, "the job crashed", &error.to_string()).await,
        Ended::TimedOut(limit) => {
            // The blocking thread cannot be interrupted; its scratch files are discarded.
            fail(
                shared,
                claim,
                &format!("the job timed out after {} s", limit.as_secs_f64()),
                &format!(
                    "the job '{}' ran longer than its limit of {} seconds and was stopped",
                    claim.job_name,
                    limit.as_secs_f64()
                ),
            )
            .await
        }
        Ended::Lease(lease) => {
            tracing::info!(run_job = %claim.run_job, ?lease, "run job taken away while running; result dropped");
            Settle::Ack
        }
        Ended::Shutdown => match store::release(&shared.pool, claim.run_job, &shared.owner).await {
            Ok(true) => {
                shared
                    .metrics
                    .requeued
                    .get_or_create(&Metrics::job(&claim.job_name))
                    .inc();
                shared.event("runjob", claim.run_job, claim.project).await;
                Settle::Requeue
            }
            Ok(false) => Settle::Ack,
            Err(error) => {
                // The lease expires and the reaper runs it again.
                tracing::warn!(%error, "failed to release a run job at shutdown");
                Settle::Ack
            }
        },
    }
}

/// Renews the lease every third of its length; returns when it is no longer ours.
async fn watch_lease(shared: &Shared, run_job: Uuid) -> Lease {
    let period = shared.config.lease() / 3;
    loop {
        tokio::time::sleep(period).await;
        match store::heartbeat(&shared.pool, run_job, &shared.owner, shared.config.lease()).await {
            Ok(Lease::Held) => {}
            Ok(other) => return other,
            Err(error) => tracing::warn!(%error, %run_job, "heartbeat failed"),
        }
    }
}

async fn execute_failure(shared: &Shared, claim: &Claim, error: &ExecuteError) -> Settle {
    let details = crate::error_chain(error);
    if error.is_permanent() {
        fail(shared, claim, &error.to_string(), &details).await
    } else {
        retry_or_fail(shared, claim, &error.to_string(), &details).await
    }
}

async fn finish(
    shared: &Shared,
    claim: &Claim,
    rows: &[store::OutputRow],
    effects: &[Effect],
    scratch: &std::path::Path,
) -> Settle {
    match commit_outputs(shared, claim, rows, effects, scratch).await {
        Ok(Some(committed)) => {
            shared
                .metrics
                .finished
                .get_or_create(&Metrics::job(&claim.job_name))
                .inc();
            shared.event("runjob", claim.run_job, claim.project).await;
            if let Committed::Placed(resources) = committed {
                for resource in resources {
                    shared.event("resource", resource, claim.project).await;
                }
                shared.dispatch(claim.run).await;
            }
            Settle::Ack
        }
        Ok(None) => {
            tracing::info!(run_job = %claim.run_job, "lease lost before the commit; result dropped");
            Settle::Ack
        }
        Err(CommitError::Execute(error)) => execute_failure(shared, claim, &error).await,
        Err(CommitError::Database(error)) => {
            retry_or_fail(
                shared,
                claim,
                "failed to save the job's outputs",
                &error.to_string(),
            )
            .await
        }
        Err(CommitError::Batch(error)) => {
            retry_or_fail(
                shared,
                claim,
                "failed to save the job's outputs",
                &crate::error_chain(&error),
            )
            .await
        }
    }
}

/// [`execute::place`] of each `(file, path below the media root)` on the blocking pool, in order.
async fn place(
    media: &std::path::Path,
    moves: Vec<(std::path::PathBuf, String)>,
) -> Result<(), ExecuteError> {
    let media = media.to_path_buf();
    execute::blocking(move || {
        moves
            .iter()
            .try_for_each(|(from, relative)| execute::place(from, &media, relative))
    })
    .await
}

#[derive(Debug, thiserror::Error)]
enum CommitError {
    #[error("failed to place the outputs")]
    Execute(#[from] ExecuteError),
    #[error("failed to commit the outputs")]
    Database(#[from] sqlx::Error),
    #[error("failed to commit the outputs")]
    Batch(#[from] BatchError),
}

/// What a commit wrote.
enum Committed {
    /// The run job alone (and its run when it was the last); nothing can have become runnable.
    Alone,
    /// The run job and these resources (given files or renamed): dispatch follows.
    Placed(Vec<Uuid>),
}

/// Moves the outputs into place and marks the run job FINISHED in one transaction guarded by the
/// lease. `None` when the lease was lost.
async fn commit_outputs(
    shared: &Shared,
    claim: &Claim,
    rows: &[store::OutputRow],
    effects: &[Effect],
    scratch: &std::path::Path,
) -> Result<Option<Committed>, CommitError> {
    if rows.is_empty() && effects.is_empty() {
        // Nothing to move into place and nothing downstream became runnable: one round trip
        // finishes the run job, and the run when it was the last.
        let done = shared.finishes.call(claim.run_job).await?;
        if done.held && done.maybe_last {
            match rodan_db::schedule::finish_run(&shared.pool, claim.run).await {
                Ok(true) => shared.event("workflowrun", claim.run, claim.project).await,
                Ok(false) => {}
                // The run job is committed; the stalled-run sweep finishes the run later.
                Err(error) => tracing::warn!(%error, run = %claim.run, "failed to finish a run"),
            }
        }
        return Ok(done.held.then_some(Committed::Alone));
    }
    let Some(mut tx) = store::begin_finish(&shared.pool, claim.run_job, &shared.owner).await?
    else {
        return Ok(None);
    };
    let media = &shared.config.media_root;
    let mut resources = Vec::new();
    for (path, row) in execute::output_paths(rows, scratch) {
        if let Some(resource) = row.resource {
            let relative = execute::resource_file(claim.project, resource);
            place(media, vec![(path, relative.clone())]).await?;
            store::set_resource_file(&mut tx, resource, &relative).await?;
            resources.push(resource);
        } else if let Some(list) = row.list {
            let (folder, port) = (path.clone(), row.port.clone());
            let files = execute::blocking(move || execute::list_files(&folder, &port)).await?;
            let names: Vec<String> = files
                .iter()
                .map(|f| {
                    f.file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_default()
                })
                .collect();
            let members = store::replace_list_members(&mut tx, list, &names).await?;
            let moves: Vec<_> = files
                .into_iter()
                .zip(&members)
                .map(|(file, member)| (file, execute::resource_file(claim.project, *member)))
                .collect();
            let relatives: Vec<String> = moves.iter().map(|(_, r)| r.clone()).collect();
            // Every member's file in one trip to the blocking pool, then their rows.
            place(media, moves).await?;
            for (member, relative) in members.into_iter().zip(&relatives) {
                store::set_resource_file(&mut tx, member, relative).await?;
                resources.push(member);
            }
        }
    }
    for effect in effects {
        store::apply_effect(&mut tx, effect).await?;
        if let Effect::Rename { resource, .. } = effect {
            resources.push(*resource);
        }
    }
    tx.commit().await?;
    Ok(Some(Committed::Placed(resources)))
}

/// Fails the run job and its run permanently. The summary and details go to users through the
/// API, so server paths in them are replaced by port and resource names ([`execute::redact`]).
async fn fail(shared: &Shared, claim: &Claim, summary: &str, details: &str) -> Settle {
    let redact = |text: &str| {
        execute::redact(
            text,
            &shared.config.media_root,
            &shared.scratch,
            claim.project,
            &claim.inputs,
            &claim.outputs,
        )
    };
    let (summary, details) = (&redact(summary), &redact(details));
    match store::fail(&shared.pool, claim, &shared.owner, summary, details).await {
        Ok(true) => {
            tracing::info!(run_job = %claim.run_job, summary, "run job failed");
            shared
                .metrics
                .failed
                .get_or_create(&Metrics::job(&claim.job_name))
                .inc();
            shared.event("runjob", claim.run_job, claim.project).await;
            shared.event("workflowrun", claim.run, claim.project).await;
        }
        Ok(false) => {}
        Err(error) => tracing::warn!(%error, "failed to record a failure; the lease will expire"),
    }
    Settle::Ack
}

/// Runs the job again later while attempts remain, else fails it.
async fn retry_or_fail(shared: &Shared, claim: &Claim, summary: &str, details: &str) -> Settle {
    if claim.attempts >= shared.config.max_attempts {
        let summary = format!("{summary} (after {} attempts)", claim.attempts);
        return fail(shared, claim, &summary, details).await;
    }
    match store::reschedule(&shared.pool, claim.run_job, &shared.owner).await {
        Ok(true) => {
            tracing::info!(run_job = %claim.run_job, summary, "retryable failure; running again");
            shared
                .metrics
                .requeued
                .get_or_create(&Metrics::job(&claim.job_name))
                .inc();
            shared.event("runjob", claim.run_job, claim.project).await;
            shared.dispatch(claim.run).await;
        }
        Ok(false) => {}
        Err(error) => tracing::warn!(%error, "failed to reschedule; the lease will expire"),
    }
    Settle::Ack
}
