//! The worker's settings, from flags or the wiring contract's environment variables.

use clap::Args;
use rodan_types::env;
use std::net::SocketAddr;
use std::path::PathBuf;
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
    /// Address of /healthz and /metrics.
    #[arg(
        long,
        env = "RODAN_WORKER_METRICS_ADDR",
        default_value = "0.0.0.0:9100"
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
    /// This worker's name in `lease_owner`; host name and a random suffix when empty.
    #[arg(long, env = "RODAN_WORKER_NAME", default_value = "")]
    pub name: String,
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
            name: String::new(),
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

    /// The shutdown grace period.
    pub fn grace(&self) -> Duration {
        secs(self.grace_seconds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

/// A non-negative, finite number of seconds as a duration (others become zero).
pub fn secs(value: f64) -> Duration {
    Duration::try_from_secs_f64(value).unwrap_or(Duration::ZERO)
}
