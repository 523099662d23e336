//! The status step: a pure function from the desired children, what the cache holds of them and
//! the pods of GPU queues lacking workers to the `Rodan`'s status. The caller patches it only
//! when it differs from the current one.

use std::collections::BTreeMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use serde_json::Value;

use crate::build::{Desired, GPU_RESOURCE, Kind, MigrationState, labels};
use crate::cache::Live;
use crate::crd::{ComponentStatus, QueueStatus, Rodan, RodanStatus};

/// Condition types.
pub mod conditions {
    /// Rodan serves requests: the entry point, the API and every backing service have ready pods.
    pub const AVAILABLE: &str = "Available";
    /// A rollout, a migration or pods becoming ready are under way.
    pub const PROGRESSING: &str = "Progressing";
    /// Something needs an admin: a failed migration, objects the operator cannot write, KEDA
    /// missing, or a GPU queue waiting for GPU nodes.
    pub const DEGRADED: &str = "Degraded";
    /// `spec.paused` is set.
    pub const PAUSED: &str = "Paused";
}

/// Condition reasons.
pub mod reasons {
    /// Every component has its ready pods.
    pub const ALL_READY: &str = "AllComponentsReady";
    /// Some component lacks ready pods.
    pub const NOT_READY: &str = "ComponentsNotReady";
    /// The target release's migration Job is running.
    pub const MIGRATING: &str = "MigrationRunning";
    /// The target release's migration Job failed.
    pub const MIGRATION_FAILED: &str = "MigrationFailed";
    /// Pods are rolling to the desired state.
    pub const ROLLING_OUT: &str = "RollingOut";
    /// Nothing is moving.
    pub const COMPLETE: &str = "Complete";
    /// The operator could not write some objects.
    pub const RECONCILE_FAILED: &str = "ReconcileFailed";
    /// Nothing is wrong.
    pub const AS_EXPECTED: &str = "AsExpected";
    /// `spec.paused` is set.
    pub const PAUSED: &str = "ReconcilePaused";
    /// `spec.paused` is not set.
    pub const RUNNING: &str = "Reconciling";
    /// Queues ask for autoscaling but the cluster lacks KEDA.
    pub const AUTOSCALING_UNAVAILABLE: &str = "AutoscalingUnavailable";
    /// The scheduler finds no node with the GPUs a queue's workers request.
    pub const WAITING_FOR_GPU_NODES: &str = "WaitingForGPUNodes";
}

/// Readiness of a workload as the cache sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Rollout {
    ready: i32,
    desired: i32,
    settled: bool,
}

fn rollout(desired_object: &Value, live: Option<&Live>) -> Rollout {
    // A Deployment without a count is scaled by KEDA: what it asked for is the live count.
    let scaled = live.and_then(|l| l.replicas);
    let desired = desired_object["spec"]["replicas"]
        .as_i64()
        .or_else(|| scaled.or(Some(0)))
        .and_then(|r| i32::try_from(r).ok())
        .unwrap_or(1);
    let Some(live) = live else {
        return Rollout {
            ready: 0,
            desired,
            settled: false,
        };
    };
    let int = |v: Option<i64>| v.and_then(|v| i32::try_from(v).ok()).unwrap_or(0);
    let observed = live.observed_generation.unwrap_or(0);
    let generation = live.generation.unwrap_or(0);
    let ready = int(live.ready_replicas);
    Rollout {
        ready,
        desired,
        settled: observed >= generation
            && int(live.updated_replicas) >= desired
            && ready >= desired
            && int(live.status_replicas) <= desired,
    }
}

/// A GPU queue that wants more workers than are ready: the controller lists its pods, so the
/// status step can read what the scheduler said of them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingQueue {
    /// The queue's name.
    pub queue: String,
    /// Its worker Deployment.
    pub deployment: String,
    /// The label selector of its worker Deployment, which selects its pods.
    pub selector: String,
}

/// The GPU queues whose pods are worth a look: those with fewer ready workers than they want.
/// Any other queue, and a healthy Rodan, costs no request.
pub fn pending_gpu_queues(
    rodan: &Rodan,
    desired: &Desired,
    live: impl Fn(Kind, &str) -> Option<Arc<Live>>,
) -> Vec<PendingQueue> {
    desired
        .children
        .iter()
        .filter(|child| child.kind == Kind::Deployment)
        .filter_map(|child| {
            let queue = child.object["metadata"]["labels"][labels::QUEUE].as_str()?;
            let spec = rodan.spec.workers.iter().find(|q| q.name == queue)?;
            let r = rollout(&child.object, live(child.kind, &child.name).as_deref());
            if spec.gpus < 1 || r.ready >= r.desired {
                return None;
            }
            let selector = child.object["spec"]["selector"]["matchLabels"]
                .as_object()?
                .iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect::<Vec<_>>()
                .join(",");
            Some(PendingQueue {
                queue: queue.to_owned(),
                deployment: child.name.clone(),
                selector,
            })
        })
        .collect()
}

/// What the scheduler said of the first live pod it could not place for want of GPUs:
/// `PodScheduled=False`, reason `Unschedulable`, a message naming `nvidia.com/gpu`.
fn gpu_verdict(pods: &[Pod]) -> Option<&str> {
    pods.iter()
        .filter(|pod| pod.metadata.deletion_timestamp.is_none())
        .flat_map(|pod| {
            pod.status
                .iter()
                .flat_map(|s| s.conditions.iter().flatten())
        })
        .find(|c| {
            c.type_ == "PodScheduled"
                && c.status == "False"
                && c.reason.as_deref() == Some("Unschedulable")
                && c.message
                    .as_deref()
                    .is_some_and(|m| m.contains(GPU_RESOURCE))
        })
        .and_then(|c| c.message.as_deref())
}

/// Everything the status step reads.
#[derive(Debug)]
pub struct Inputs<'a> {
    /// The `Rodan`, with its current status.
    pub rodan: &'a Rodan,
    /// What the build step produced.
    pub desired: &'a Desired,
    /// The first error of this reconcile's writes, if any.
    pub error: Option<String>,
    /// The time to stamp on conditions that change.
    pub now: Time,
    /// The public URL.
    pub url: String,
    /// The worker pods of each queue [`pending_gpu_queues`] named, as listed; `None` when the
    /// list failed, which keeps the queue's previous message.
    pub pending_pods: &'a BTreeMap<String, Option<Vec<Pod>>>,
}

/// Computes the status. `live` returns the cached record of a kind and name.
pub fn compute(inputs: &Inputs<'_>, live: impl Fn(Kind, &str) -> Option<Arc<Live>>) -> RodanStatus {
    let rodan = inputs.rodan;
    let desired = inputs.desired;
    let generation = rodan.metadata.generation;
    let mut components = Vec::new();
    let mut queues = Vec::new();
    let previous_queues = rodan
        .status
        .as_ref()
        .map(|s| s.queues.as_slice())
        .unwrap_or_default();
    let mut settled = true;
    for child in &desired.children {
        if !matches!(child.kind, Kind::Deployment | Kind::StatefulSet) {
            continue;
        }
        let live = live(child.kind, &child.name);
        let r = rollout(&child.object, live.as_deref());
        settled &= r.settled;
        let component = child.object["metadata"]["labels"][labels::COMPONENT]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        let queue = child.object["metadata"]["labels"][labels::QUEUE].as_str();
        let name = match queue {
            Some(q) => format!("worker-{q}"),
            None => component,
        };
        if let Some(q) = queue {
            let message = match inputs.pending_pods.get(q) {
                _ if r.ready >= r.desired => None,
                Some(Some(pods)) => {
                    gpu_verdict(pods).map(|verdict| format!("waiting for GPU nodes: {verdict}"))
                }
                // The pods could not be listed: what was said last still holds.
                Some(None) => previous_queues
                    .iter()
                    .find(|p| p.name == q)
                    .and_then(|p| p.message.clone()),
                None => None,
            };
            queues.push(QueueStatus {
                name: q.to_owned(),
                ready_workers: r.ready,
                desired_workers: r.desired,
                depth: None,
                message,
            });
        }
        components.push(ComponentStatus {
            name,
            ready_replicas: r.ready,
            desired_replicas: r.desired,
        });
    }
    let ready_count = components
        .iter()
        .filter(|c| c.ready_replicas >= c.desired_replicas)
        .count();
    let essential = ["web", "api", "postgres", "rabbitmq", "redis"];
    let mut unavailable: Vec<&str> = essential
        .iter()
        .copied()
        .filter(|e| {
            let managed_or_app = components.iter().find(|c| c.name == *e);
            match managed_or_app {
                Some(c) => c.ready_replicas < 1,
                // The API is essential even before its first release is deployed.
                None => *e == "api",
            }
        })
        .collect();
    unavailable.sort_unstable();

    let migration = desired.migration;
    let (available, available_reason, available_message) = if unavailable.is_empty() {
        (true, reasons::ALL_READY, "Rodan is serving".to_owned())
    } else {
        (
            false,
            reasons::NOT_READY,
            format!("no ready pods: {}", unavailable.join(", ")),
        )
    };
    let (progressing, progressing_reason, progressing_message) = match migration {
        MigrationState::Pending => (
            true,
            reasons::MIGRATING,
            format!(
                "migrating the database to {} before rolling the API and workers",
                desired.target.version
            ),
        ),
        _ if !settled => (
            true,
            reasons::ROLLING_OUT,
            "waiting for pods to be updated and ready".to_owned(),
        ),
        _ => (
            false,
            reasons::COMPLETE,
            "all components are up to date".to_owned(),
        ),
    };
    let (degraded, degraded_reason, degraded_message) = match (&inputs.error, migration) {
        (_, MigrationState::Failed) => (
            true,
            reasons::MIGRATION_FAILED,
            format!(
                "the migration Job to {} failed; the previous release keeps running (see the Job's logs, then delete the Job to retry)",
                desired.target.version
            ),
        ),
        (Some(error), _) => (true, reasons::RECONCILE_FAILED, error.clone()),
        (None, _) if !desired.unscaled_queues.is_empty() => (
            true,
            reasons::AUTOSCALING_UNAVAILABLE,
            format!(
                "queues {} ask for autoscaling, which needs KEDA (keda.sh/v1alpha1): install KEDA, then restart the operator; until then their replicas are held within the bounds",
                desired.unscaled_queues.join(", ")
            ),
        ),
        (None, _) if queues.iter().any(|q| q.message.is_some()) => {
            let waiting: Vec<&str> = queues
                .iter()
                .filter(|q| q.message.is_some())
                .map(|q| q.name.as_str())
                .collect();
            let (noun, verb, its, them) = match waiting.len() {
                1 => ("queue", "is", "its", "it"),
                _ => ("queues", "are", "their", "them"),
            };
            (
                true,
                reasons::WAITING_FOR_GPU_NODES,
                format!(
                    "{noun} {} {verb} waiting for GPU nodes: the scheduler finds no node with the {GPU_RESOURCE} {its} workers request (the scheduler's words are in status.queues); add GPU nodes or scale {them} to 0",
                    waiting.join(", ")
                ),
            )
        }
        (None, _) => (false, reasons::AS_EXPECTED, "no problem found".to_owned()),
    };
    let (paused_reason, paused_message) = if rodan.spec.paused {
        (
            reasons::PAUSED,
            "spec.paused is set: the operator only writes status",
        )
    } else {
        (reasons::RUNNING, "the operator reconciles this Rodan")
    };
    let previous = rodan
        .status
        .as_ref()
        .map(|s| s.conditions.as_slice())
        .unwrap_or_default();
    let condition = |type_: &str, value: bool, reason: &str, message: String| {
        let status = if value { "True" } else { "False" }.to_owned();
        let last_transition_time = previous
            .iter()
            .find(|c| c.type_ == type_ && c.status == status)
            .map(|c| c.last_transition_time.clone())
            .unwrap_or_else(|| inputs.now.clone());
        Condition {
            type_: type_.to_owned(),
            status,
            reason: reason.to_owned(),
            message,
            observed_generation: generation,
            last_transition_time,
        }
    };
    RodanStatus {
        conditions: vec![
            condition(
                conditions::AVAILABLE,
                available,
                available_reason,
                available_message,
            ),
            condition(
                conditions::PROGRESSING,
                progressing,
                progressing_reason,
                progressing_message,
            ),
            condition(
                conditions::DEGRADED,
                degraded,
                degraded_reason,
                degraded_message,
            ),
            condition(
                conditions::PAUSED,
                rodan.spec.paused,
                paused_reason,
                paused_message.to_owned(),
            ),
        ],
        observed_generation: generation,
        ready: Some(format!("{ready_count}/{}", components.len())),
        version: desired.running.as_ref().map(|r| r.version.clone()),
        url: Some(inputs.url.clone()),
        components,
        queues,
    }
}

#[cfg(test)]
mod tests;
