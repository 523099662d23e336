//! Prometheus metrics (jobs started, finished, failed, durations, by job) and the /healthz and
//! /metrics endpoints.

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// The `job` label.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct JobLabel {
    /// The job's name.
    pub job: String,
}

/// The worker's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// Jobs started, by job.
    pub started: Family<JobLabel, Counter>,
    /// Jobs finished, by job.
    pub finished: Family<JobLabel, Counter>,
    /// Jobs failed (permanently), by job.
    pub failed: Family<JobLabel, Counter>,
    /// Jobs given back to run again (retryable error, shutdown), by job.
    pub requeued: Family<JobLabel, Counter>,
    /// Seconds a job ran, by job.
    pub duration: Family<JobLabel, Histogram>,
    /// Jobs running now.
    pub running: Gauge,
    /// Run jobs the reaper found with an expired lease.
    pub reaped: Counter,
    healthy: AtomicBool,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every metric under the `rodan_worker` prefix.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("rodan_worker");
        let started = Family::<JobLabel, Counter>::default();
        let finished = Family::<JobLabel, Counter>::default();
        let failed = Family::<JobLabel, Counter>::default();
        let requeued = Family::<JobLabel, Counter>::default();
        let duration = Family::<JobLabel, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.05, 2.0, 18))
        });
        let running = Gauge::default();
        let reaped = Counter::default();
        registry.register("jobs_started", "Jobs started", started.clone());
        registry.register("jobs_finished", "Jobs finished", finished.clone());
        registry.register("jobs_failed", "Jobs failed", failed.clone());
        registry.register(
            "jobs_requeued",
            "Jobs given back to run again",
            requeued.clone(),
        );
        registry.register(
            "job_duration_seconds",
            "Seconds a job ran",
            duration.clone(),
        );
        registry.register("jobs_running", "Jobs running now", running.clone());
        registry.register(
            "leases_reaped",
            "Expired leases handled by the reaper",
            reaped.clone(),
        );
        Self {
            registry,
            started,
            finished,
            failed,
            requeued,
            duration,
            running,
            reaped,
            healthy: AtomicBool::new(true),
        }
    }

    /// The label of `job`.
    pub fn job(job: &str) -> JobLabel {
        JobLabel {
            job: job.to_owned(),
        }
    }

    /// Marks the worker (un)healthy for /healthz.
    pub fn set_healthy(&self, healthy: bool) {
        self.healthy.store(healthy, Ordering::Relaxed);
    }

    /// The metrics in Prometheus' text format.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        if prometheus_client::encoding::text::encode(&mut text, &self.registry).is_err() {
            text.clear();
        }
        text
    }
}

/// `/healthz` (200 while consuming, 503 after the consumer stopped) and `/metrics`.
pub fn router(metrics: Arc<Metrics>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(render))
        .with_state(metrics)
}

async fn healthz(State(metrics): State<Arc<Metrics>>) -> StatusCode {
    if metrics.healthy.load(Ordering::Relaxed) {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    }
}

async fn render(State(metrics): State<Arc<Metrics>>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        metrics.encode(),
    )
}
