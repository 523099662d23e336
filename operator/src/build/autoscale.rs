//! Queue autoscaling through KEDA: a ScaledObject per autoscaled queue scales its worker
//! Deployment by the queue's depth in RabbitMQ (down to zero when `minReplicas` is 0), reading
//! the broker's URL from the same Secret the workers use.

use rodan_types::secret_keys;
use serde_json::json;

use super::app::worker_name;
use super::{Apply, Child, Instance, Kind, secrets};

/// The TriggerAuthentication and the ScaledObjects of the autoscaled queues, when KEDA is
/// served; nothing otherwise (the status then says the queues are not autoscaled).
pub(super) fn keda_objects(inst: &Instance<'_>) -> Vec<Child> {
    let spec = &inst.rodan.spec;
    let queues: Vec<_> = spec
        .workers
        .iter()
        .filter_map(|q| q.autoscaling.as_ref().map(|a| (q, a)))
        .collect();
    if !inst.keda || queues.is_empty() {
        return Vec::new();
    }
    let auth_name = inst.child_name("rabbitmq");
    let broker_secret = spec
        .rabbitmq
        .external_secret_name
        .clone()
        .unwrap_or_else(|| secrets::rabbitmq(&inst.name));
    let mut out = vec![Child {
        kind: Kind::TriggerAuthentication,
        object: json!({
            "apiVersion": "keda.sh/v1alpha1",
            "kind": "TriggerAuthentication",
            "metadata": inst.meta(&auth_name, "worker"),
            "spec": {"secretTargetRef": [
                {"parameter": "host", "name": broker_secret, "key": secret_keys::URL},
            ]},
        }),
        name: auth_name.clone(),
        apply: Apply::Always,
    }];
    for (queue, scaling) in queues {
        let name = worker_name(&inst.name, &queue.name);
        out.push(Child {
            kind: Kind::ScaledObject,
            object: json!({
                "apiVersion": "keda.sh/v1alpha1",
                "kind": "ScaledObject",
                "metadata": inst.meta(&name, "worker"),
                "spec": {
                    "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
                    "minReplicaCount": scaling.min_replicas,
                    "maxReplicaCount": scaling.max_replicas,
                    "pollingInterval": 15,
                    // Long jobs: wait before removing workers from a queue that went quiet.
                    "cooldownPeriod": 300,
                    "triggers": [{
                        "type": "rabbitmq",
                        "metadata": {
                            "protocol": "amqp",
                            "queueName": queue.name,
                            "mode": "QueueLength",
                            "value": scaling.messages_per_replica.to_string(),
                        },
                        "authenticationRef": {"name": auth_name},
                    }],
                },
            }),
            name,
            apply: Apply::Always,
        });
    }
    out
}
