//! The serving worker: [`Worker::start`] connects to its services, builds the job registry,
//! registers the jobs, and starts the consumer loop (`consumer.rs`); the handle stops it.

use crate::batch::Batcher;
use crate::config::Config;
use crate::consumer;
use crate::context::Context;
use crate::metrics::Metrics;
use crate::registry::Registry;
use crate::store;
use rodan_db::broker::Broker;
use rodan_db::events::Publisher;
use rodan_jobs::Job;
use std::sync::Arc;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub use crate::error::WorkerError;

/// A started worker.
#[derive(Debug)]
pub struct Worker {
    shared: Arc<Context>,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<Result<(), WorkerError>>,
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
        let registry = Registry::new(catalogue, &config.queues, config.job_timeout());
        let mut descriptors = registry.descriptors();
        // The GPU queue's jobs say where their models run: in the log, in /metrics and in the
        // catalogue's description of each job.
        let gpu_jobs = descriptors
            .iter()
            .any(|d| d.queue == rodan_types::queues::GPU);
        let probe = gpu_jobs.then(rodan_sae::device::probe);
        if let Some(probe) = probe {
            tracing::info!(
                device = %probe.device.describe(),
                why_not_gpu = probe.why_not_gpu.as_deref().unwrap_or(""),
                "the GPU queue's models run on {}",
                probe.device.describe()
            );
            for d in descriptors
                .iter_mut()
                .filter(|d| d.queue == rodan_types::queues::GPU)
            {
                d.description = format!(
                    "{}\n\nRuns on {}.",
                    d.description.trim_end(),
                    probe.device.describe()
                );
            }
        }
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
        let scratch = config
            .media_root
            .join(rodan_core::media::scratch_dir(&owner));
        std::fs::create_dir_all(&scratch).map_err(|source| WorkerError::Io {
            what: "the scratch folder",
            source,
        })?;
        let metrics = Arc::new(Metrics::new());
        if let Some(probe) = probe {
            metrics
                .model_device
                .get_or_create(&crate::metrics::DeviceLabel {
                    kind: probe.device.kind().into(),
                    name: probe.device.describe(),
                })
                .set(1);
        }
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
        let mailer = rodan_mail::Mailer::new(&config.mail).map_err(WorkerError::Mail)?;
        let shared = Arc::new(Context {
            pool,
            broker,
            events,
            config,
            owner,
            registry,
            metrics,
            scratch,
            claims,
            finishes,
            mailer,
        });
        let consuming = consumer::open(&shared).await?;
        tracing::info!(
            owner = %shared.owner,
            queues = ?shared.config.queues,
            concurrency,
            jobs = shared.registry.libraries(),
            "worker started"
        );
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(consumer::consume(
            shared.clone(),
            consuming,
            shutdown.clone(),
        ));
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
