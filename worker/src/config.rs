//! The worker's settings, from flags or the wiring contract's environment variables.

use clap::Args;
use rodan_jobs::limits::Limits;
use rodan_types::env;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Settings of a serving worker.
#[derive(Debug, Clone, Args)]
pub struct Config {
    /// PostgreSQL URL.
    #[arg(long, env = env::DATABASE_URL, default_value = "")]
    pub database_url: String,
    /// RabbitMQ URL.
    #[arg(long, env = env::RABBITMQ_URL, default_value = "")]
    pub rabbitmq_url: String,
    /// Redis URL, for model events.
    #[arg(long, env = env::REDIS_URL, default_value = "")]
    pub redis_url: String,
    /// Root of the shared media volume.
    #[arg(long, env = env::MEDIA_ROOT, default_value = rodan_types::MEDIA_ROOT)]
    pub media_root: PathBuf,
    /// Queues to consume, comma separated.
    #[arg(long, env = env::WORKER_QUEUES, value_delimiter = ',', default_value = rodan_types::queues::CELERY)]
    pub queues: Vec<String>,
    /// The queue of core tasks; a worker consuming it re-publishes uploads whose type detection
    /// message was lost.
    #[arg(long, env = env::CORE_QUEUE, default_value = rodan_types::queues::CELERY)]
    pub core_queue: String,
    /// Jobs run at once, and the RabbitMQ prefetch.
    #[arg(long, env = env::WORKER_CONCURRENCY, default_value_t = 1)]
    pub concurrency: u16,
    /// Address of /healthz and /metrics (`--metrics-addr` and `RODAN_WORKER_METRICS_ADDR`, the
    /// older names, still work).
    #[arg(
        long = "metrics-address",
        alias = "metrics-addr",
        env = rodan_types::env::METRICS_ADDRESS,
        default_value = rodan_types::legacy_default("RODAN_WORKER_METRICS_ADDR", "0.0.0.0:9100")
    )]
    pub metrics_addr: Option<SocketAddr>,
    /// How long a claim lasts without a heartbeat, in seconds (fractions allowed).
    #[arg(long, env = "RODAN_WORKER_LEASE_SECONDS", default_value_t = 60.0)]
    pub lease_seconds: f64,
    /// How often the reaper looks for expired leases, in seconds.
    #[arg(long, env = "RODAN_WORKER_REAP_SECONDS", default_value_t = 10.0)]
    pub reap_seconds: f64,
    /// Starts of one run job (including ones lost with their worker) before it fails.
    #[arg(long, env = "RODAN_WORKER_MAX_ATTEMPTS", default_value_t = 3)]
    pub max_attempts: i32,
    /// Longest a job may run, in seconds, unless its settings schema says `job_timeout`.
    #[arg(long, env = "RODAN_WORKER_JOB_TIMEOUT_SECONDS", default_value_t = 6.0 * 3600.0)]
    pub job_timeout_seconds: f64,
    /// After SIGTERM, how long running jobs may take to finish before they go back to the queue.
    #[arg(long, env = "RODAN_WORKER_GRACE_SECONDS", default_value_t = 3000.0)]
    pub grace_seconds: f64,
    /// Longest wait between two attempts to reconnect to RabbitMQ after its connection dropped,
    /// in seconds; the waits grow from half a second, doubling, with random jitter.
    #[arg(
        long,
        env = "RODAN_WORKER_RECONNECT_MAX_SECONDS",
        default_value_t = 30.0
    )]
    pub reconnect_max_seconds: f64,
    /// Most pixels (width x height) an input image may declare; larger ones fail their run job at
    /// once, before decoding. When unset: the container's memory limit (cgroup v2 `memory.max`)
    /// less 128 MiB, shared by the concurrent jobs, at 40 bytes a pixel, at most Pillow's
    /// decompression bomb limit (178956970); without a memory limit, Pillow's limit.
    #[arg(long, env = "RODAN_WORKER_MAX_IMAGE_PIXELS")]
    pub max_image_pixels: Option<u64>,
    /// Most bytes a text input (GameraXML, JSON, MEI) may have. When unset: the memory share of a
    /// job over 16, at most 256 MiB.
    #[arg(long, env = "RODAN_WORKER_MAX_INPUT_TEXT_BYTES")]
    pub max_input_text_bytes: Option<u64>,
    /// This worker's name in `lease_owner`; host name and a random suffix when empty.
    #[arg(long, env = "RODAN_WORKER_NAME", default_value = "")]
    pub name: String,
    /// Mail to a run's creator when a job of it waits for input, and when it finishes or fails
    /// (upstream's notices; the creator's `send_email` preference decides), with upstream's
    /// `EMAIL_*` settings. Without `EMAIL_HOST` the messages are logged instead.
    #[command(flatten)]
    pub mail: rodan_mail::MailArgs,
}

impl Config {
    /// A configuration with the defaults and the given connection URLs, for tests and embedding.
    pub fn new(
        database_url: &str,
        rabbitmq_url: &str,
        redis_url: &str,
        media_root: PathBuf,
    ) -> Self {
        Self {
            database_url: database_url.to_owned(),
            rabbitmq_url: rabbitmq_url.to_owned(),
            redis_url: redis_url.to_owned(),
            media_root,
            queues: vec![rodan_types::queues::CELERY.to_owned()],
            core_queue: rodan_types::queues::CELERY.to_owned(),
            concurrency: 1,
            metrics_addr: None,
            lease_seconds: 60.0,
            reap_seconds: 10.0,
            max_attempts: 3,
            job_timeout_seconds: 6.0 * 3600.0,
            grace_seconds: 3000.0,
            reconnect_max_seconds: 30.0,
            max_image_pixels: None,
            max_input_text_bytes: None,
            name: String::new(),
            mail: rodan_mail::MailArgs::default(),
        }
    }

    /// The lease length.
    pub fn lease(&self) -> Duration {
        secs(self.lease_seconds)
    }

    /// The reaper's period.
    pub fn reap_interval(&self) -> Duration {
        secs(self.reap_seconds)
    }

    /// The default job timeout.
    pub fn job_timeout(&self) -> Duration {
        secs(self.job_timeout_seconds)
    }

    /// The wait before reconnection attempt `attempt` (0 for the first) to RabbitMQ: half a
    /// second doubling per attempt, capped at `reconnect_max_seconds`, then jittered down by up
    /// to half (`jitter` in 0..=1), so workers that lost one broker do not knock at once.
    pub fn reconnect_delay(&self, attempt: u32, jitter: f64) -> Duration {
        let cap = self.reconnect_max_seconds.max(0.0);
        let full = (0.5 * 2f64.powi(attempt.min(30) as i32)).min(cap);
        secs(full * (1.0 - 0.5 * jitter.clamp(0.0, 1.0)))
    }

    /// What jobs may load ([`rodan_jobs::limits`]): the settings where given, else derived from
    /// `memory_limit` (the container's, [`cgroup_memory_limit`]) and the concurrency.
    pub fn limits(&self, memory_limit: Option<u64>) -> Limits {
        let derived = memory_limit.map_or(Limits::DEFAULT, |memory| {
            Limits::for_memory(memory, u64::from(self.concurrency.max(1)))
        });
        Limits {
            max_pixels: self.max_image_pixels.unwrap_or(derived.max_pixels),
            max_text_bytes: self.max_input_text_bytes.unwrap_or(derived.max_text_bytes),
        }
    }

    /// The shutdown grace period.
    pub fn grace(&self) -> Duration {
        secs(self.grace_seconds)
    }
}

/// The memory limit of the cgroup (v2) mounted at `root` (`/sys/fs/cgroup` in a container): its
/// `memory.max`, `None` when unlimited (`max`) or unreadable (cgroup v1, no cgroup file system).
pub fn cgroup_memory_limit(root: &Path) -> Option<u64> {
    std::fs::read_to_string(root.join("memory.max"))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// A non-negative, finite number of seconds as a duration (others become zero).
pub fn secs(value: f64) -> Duration {
    Duration::try_from_secs_f64(value).unwrap_or(Duration::ZERO)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_image_budget_follows_the_container_memory_limit_unless_set() {
        let dir = tempfile::tempdir().expect("a temp dir");
        assert_eq!(cgroup_memory_limit(dir.path()), None, "no file");
        std::fs::write(dir.path().join("memory.max"), "max\n").expect("written");
        assert_eq!(cgroup_memory_limit(dir.path()), None, "unlimited");
        std::fs::write(dir.path().join("memory.max"), "2147483648\n").expect("written");
        let limit = cgroup_memory_limit(dir.path());
        assert_eq!(limit, Some(2 << 30));
        let mut config = Config::new("", "", "", PathBuf::new());
        config.concurrency = 2;
        // (2 GiB - 128 MiB) / 2 jobs / 40 bytes a pixel.
        assert_eq!(config.limits(limit).max_pixels, 25_165_824);
        assert_eq!(config.limits(None), Limits::DEFAULT);
        config.max_image_pixels = Some(1000);
        config.max_input_text_bytes = Some(10);
        assert_eq!(
            config.limits(limit),
            Limits {
                max_pixels: 1000,
                max_text_bytes: 10
            }
        );
    }

    #[test]
    fn reconnect_delays_double_up_to_the_cap_and_jitter_down_by_at_most_half() {
        let mut config = Config::new("", "", "", PathBuf::new());
        config.reconnect_max_seconds = 4.0;
        let waits: Vec<f64> = (0..6)
            .map(|n| config.reconnect_delay(n, 0.0).as_secs_f64())
            .collect();
        assert_eq!(waits, [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]);
        assert_eq!(config.reconnect_delay(100, 1.0).as_secs_f64(), 2.0);
        assert_eq!(config.reconnect_delay(1, 0.5).as_secs_f64(), 0.75);
    }
}
