//! Prometheus metrics of the operator.

use std::sync::atomic::{AtomicI64, Ordering};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::build::Kind;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WriteLabels {
    kind: String,
    verb: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabels {
    category: String,
}

/// The operator's metrics and the registry that exposes them.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    reconciles: Counter,
    failures: Family<ErrorLabels, Counter>,
    duration: Histogram,
    writes: Family<WriteLabels, Counter>,
    cached: Gauge,
    running: Gauge,
    most_running: AtomicI64,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("rodan_operator");
        let reconciles = Counter::default();
        let failures = Family::<ErrorLabels, Counter>::default();
        let duration = Histogram::new(exponential_buckets(0.001, 2.0, 15));
        let writes = Family::<WriteLabels, Counter>::default();
        let cached = Gauge::default();
        let running = Gauge::default();
        registry.register(
            "reconciles",
            "Reconciliations of Rodan resources",
            reconciles.clone(),
        );
        registry.register(
            "reconcile_errors",
            "Failed reconciliations, by the step that failed",
            failures.clone(),
        );
        registry.register(
            "reconcile_duration_seconds",
            "Time spent in one reconciliation",
            duration.clone(),
        );
        registry.register(
            "writes",
            "Requests that change objects, by kind and verb (apply, create, delete, status)",
            writes.clone(),
        );
        registry.register(
            "cached_objects",
            "Child objects held in the operator's cache",
            cached.clone(),
        );
        registry.register(
            "reconciles_running",
            "Reconciliations running now",
            running.clone(),
        );
        Self {
            registry,
            reconciles,
            failures,
            duration,
            writes,
            cached,
            running,
            most_running: AtomicI64::new(0),
        }
    }
}

impl Metrics {
    /// Counts one reconciliation and its duration.
    pub fn reconciled(&self, seconds: f64) {
        self.reconciles.inc();
        self.duration.observe(seconds);
    }

    /// Counts a reconciliation as running until the returned guard is dropped.
    pub fn running(&self) -> Running<'_> {
        let now = self.running.inc() + 1;
        self.most_running.fetch_max(now, Ordering::Relaxed);
        Running(self)
    }

    /// The most reconciliations that ran at once since the operator started.
    pub fn most_running(&self) -> i64 {
        self.most_running.load(Ordering::Relaxed)
    }

    /// Counts one failed reconciliation.
    pub fn failed(&self, category: &str) {
        self.failures
            .get_or_create(&ErrorLabels {
                category: category.to_owned(),
            })
            .inc();
    }

    /// Counts one write request.
    pub fn write(&self, kind: Kind, verb: &str) {
        self.writes
            .get_or_create(&WriteLabels {
                kind: format!("{kind:?}"),
                verb: verb.to_owned(),
            })
            .inc();
    }

    /// Counts one status patch.
    pub fn write_status(&self) {
        self.writes
            .get_or_create(&WriteLabels {
                kind: "Rodan".to_owned(),
                verb: "status".to_owned(),
            })
            .inc();
    }

    /// Records how many children are cached.
    pub fn set_cached(&self, count: usize) {
        self.cached.set(i64::try_from(count).unwrap_or(i64::MAX));
    }

    /// The text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

/// A running reconciliation, counted until dropped (also when its future is cancelled).
#[derive(Debug)]
pub struct Running<'a>(&'a Metrics);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.running.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_and_failures_appear_in_the_exposition() {
        let m = Metrics::default();
        m.write(Kind::Deployment, "apply");
        m.failed("apply");
        m.reconciled(0.01);
        let text = m.render();
        assert!(
            text.contains("rodan_operator_writes_total{kind=\"Deployment\",verb=\"apply\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("rodan_operator_reconcile_errors_total{category=\"apply\"} 1"),
            "{text}"
        );
        assert!(text.contains("rodan_operator_reconciles_total 1"), "{text}");
        assert!(
            text.contains("rodan_operator_reconcile_duration_seconds_count 1"),
            "{text}"
        );
    }

    #[test]
    fn running_reconciles_are_counted_until_their_guard_drops() {
        let m = Metrics::default();
        let a = m.running();
        let b = m.running();
        assert!(m.render().contains("rodan_operator_reconciles_running 2"));
        drop(a);
        drop(b);
        let _c = m.running();
        assert!(m.render().contains("rodan_operator_reconciles_running 1"));
        assert_eq!(m.most_running(), 2);
    }
}
