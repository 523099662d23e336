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
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

/// The worker's link to RabbitMQ, as `/healthz` and `/readyz` report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrokerState {
    /// Consuming.
    Connected,
    /// The connection dropped; connecting again with backoff.
    Reconnecting,
}

/// The `job` label.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct JobLabel {
    /// The job's name.
    pub job: String,
}

/// The device the models of the GPU queue's jobs run on.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DeviceLabel {
    /// `cuda` or `cpu`.
    pub kind: String,
    /// The device, as the worker's log says it.
    pub name: String,
}

/// The labels of a run's notice by mail.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MailLabel {
    /// `waiting`, `finished` or `failed`.
    pub notice: String,
    /// `sent` or `failed`.
    pub outcome: String,
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
    /// Times the RabbitMQ connection dropped and the worker connected again.
    pub reconnects: Counter,
    /// 1 while consuming, 0 while reconnecting to RabbitMQ.
    pub broker_connected: Gauge,
    /// Notices of runs by mail, by notice and outcome.
    pub mails: Family<MailLabel, Counter>,
    /// 1 for the device the GPU queue's models run on (set when this worker runs GPU jobs).
    pub model_device: Family<DeviceLabel, Gauge>,
    healthy: AtomicBool,
    broker: AtomicU8,
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
        let reconnects = Counter::default();
        let broker_connected = Gauge::default();
        broker_connected.set(1);
        let mails = Family::<MailLabel, Counter>::default();
        let model_device = Family::<DeviceLabel, Gauge>::default();
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
        registry.register(
            "broker_reconnects",
            "Times the RabbitMQ connection was lost and made again",
            reconnects.clone(),
        );
        registry.register(
            "broker_connected",
            "1 while consuming from RabbitMQ, 0 while reconnecting",
            broker_connected.clone(),
        );
        registry.register(
            "mails",
            "Notices of runs by mail (waiting for input, finished, failed), by outcome",
            mails.clone(),
        );
        registry.register(
            "model_device",
            "1 for the device the GPU queue's models run on (a CUDA GPU, or the CPU without one)",
            model_device.clone(),
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
            reconnects,
            broker_connected,
            mails,
            model_device,
            healthy: AtomicBool::new(true),
            broker: AtomicU8::new(0),
        }
    }

    /// The label of `job`.
    pub fn job(job: &str) -> JobLabel {
        JobLabel {
            job: job.to_owned(),
        }
    }

    /// Counts a notice by mail.
    pub fn mail(&self, notice: &str, outcome: &str) {
        self.mails
            .get_or_create(&MailLabel {
                notice: notice.to_owned(),
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    /// Marks the worker (un)healthy for /healthz.
    pub fn set_healthy(&self, healthy: bool) {
        self.healthy.store(healthy, Ordering::Relaxed);
    }

    /// Records the state of the RabbitMQ connection.
    pub fn set_broker(&self, state: BrokerState) {
        self.broker.store(state as u8, Ordering::Relaxed);
        self.broker_connected
            .set(i64::from(state == BrokerState::Connected));
    }

    /// The state of the RabbitMQ connection.
    pub fn broker(&self) -> BrokerState {
        if self.broker.load(Ordering::Relaxed) == BrokerState::Connected as u8 {
            BrokerState::Connected
        } else {
            BrokerState::Reconnecting
        }
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

/// `/healthz` (liveness: 200 while the worker runs, reconnecting to RabbitMQ included, 503 after
/// it stopped), `/readyz` (200 only while consuming), both saying the broker's state in their
/// body (`broker: connected` or `broker: reconnecting`), and `/metrics`.
///
/// A worker waiting for RabbitMQ stays live on purpose: restarting it would not bring the broker
/// back, and it would drop the jobs it is still running.
pub fn router(metrics: Arc<Metrics>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(render))
        .with_state(metrics)
}

fn broker_line(metrics: &Metrics) -> &'static str {
    match metrics.broker() {
        BrokerState::Connected => "broker: connected\n",
        BrokerState::Reconnecting => "broker: reconnecting\n",
    }
}

async fn healthz(State(metrics): State<Arc<Metrics>>) -> (StatusCode, &'static str) {
    if metrics.healthy.load(Ordering::Relaxed) {
        (StatusCode::OK, broker_line(&metrics))
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "stopped\n")
    }
}

async fn readyz(State(metrics): State<Arc<Metrics>>) -> (StatusCode, &'static str) {
    let ready =
        metrics.healthy.load(Ordering::Relaxed) && metrics.broker() == BrokerState::Connected;
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, broker_line(&metrics))
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
