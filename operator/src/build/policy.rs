//! NetworkPolicies (the backing services accept connections only from this Rodan's pods, the web
//! client only from its nginx) and PodDisruptionBudgets (voluntary evictions never take a whole
//! component down).

use rodan_types::ports;
use serde_json::{Value, json};

use super::app::{queue_max_replicas, worker_name};
use super::{Apply, Child, Instance, Kind, labels};

/// One policy per managed backing service: ingress only from pods of the same instance; and one
/// for the web client: ingress only from the instance's nginx.
pub(super) fn network_policies(inst: &Instance<'_>) -> Vec<Child> {
    let spec = &inst.rodan.spec;
    let mut out = Vec::new();
    if Instance::managed(spec.database.mode) {
        out.push(isolate(inst, "postgres", &[ports::POSTGRES]));
    }
    if Instance::managed(spec.rabbitmq.mode) {
        let mut policy = isolate(inst, "rabbitmq", &[ports::AMQP, ports::RABBITMQ_MANAGEMENT]);
        // KEDA's operator reads the autoscaled queues' lengths over AMQP.
        if inst.keda
            && spec.workers.iter().any(|q| q.autoscaling.is_some())
            && let Some(rules) = policy.object["spec"]["ingress"].as_array_mut()
        {
            rules.push(json!({
                "from": [{
                    "namespaceSelector": {},
                    "podSelector": {"matchLabels": {"app.kubernetes.io/name": "keda-operator"}},
                }],
                "ports": [{"protocol": "TCP", "port": ports::AMQP}],
            }));
        }
        out.push(policy);
    }
    if Instance::managed(spec.redis.mode) {
        out.push(isolate(inst, "redis", &[ports::REDIS]));
    }
    if spec.client.enabled {
        // Only nginx, which proxies `/` to it, talks to the web client.
        let mut policy = isolate(inst, "client", &[super::client::PORT]);
        policy.object["spec"]["ingress"][0]["from"][0]["podSelector"]["matchLabels"]
            [labels::COMPONENT] = json!("web");
        out.push(policy);
    }
    out
}

fn isolate(inst: &Instance<'_>, component: &str, allowed: &[u16]) -> Child {
    let name = inst.child_name(component);
    let ports: Vec<Value> = allowed
        .iter()
        .map(|p| json!({"protocol": "TCP", "port": p}))
        .collect();
    Child {
        kind: Kind::NetworkPolicy,
        object: json!({
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": inst.meta(&name, component),
            "spec": {
                "podSelector": {"matchLabels": inst.selector(component)},
                "policyTypes": ["Ingress"],
                "ingress": [{
                    "from": [{"podSelector": {"matchLabels": {
                        labels::NAME: "rodan",
                        labels::INSTANCE: inst.name,
                    }}}],
                    "ports": ports,
                }],
            },
        }),
        name,
        apply: Apply::Always,
    }
}

/// Budgets for the replicated components (API, nginx, the web client, each queue with more than
/// one worker): at most one pod evicted at a time. The single-replica database and broker get none: a
/// budget could only block node drains without keeping them up.
pub(super) fn disruption_budgets(inst: &Instance<'_>) -> Vec<Child> {
    let spec = &inst.rodan.spec;
    let mut out = Vec::new();
    if spec.api.replicas > 1 {
        out.push(budget(inst, inst.child_name("api"), inst.selector("api")));
    }
    if spec.web.replicas > 1 {
        out.push(budget(inst, inst.child_name("web"), inst.selector("web")));
    }
    if spec.client.enabled && spec.client.replicas > 1 {
        out.push(budget(
            inst,
            super::client::service(&inst.name),
            inst.selector("client"),
        ));
    }
    if inst.running.is_some() {
        for queue in spec
            .workers
            .iter()
            .filter(|q| queue_max_replicas(inst, q) > 1)
        {
            let mut selector = inst.selector("worker");
            selector.insert(labels::QUEUE.into(), queue.name.clone());
            out.push(budget(inst, worker_name(&inst.name, &queue.name), selector));
        }
    }
    out
}

fn budget(
    inst: &Instance<'_>,
    name: String,
    selector: std::collections::BTreeMap<String, String>,
) -> Child {
    let component = selector.get(labels::COMPONENT).cloned().unwrap_or_default();
    Child {
        kind: Kind::PodDisruptionBudget,
        object: json!({
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": inst.meta(&name, &component),
            "spec": {"maxUnavailable": 1, "selector": {"matchLabels": selector}},
        }),
        name,
        apply: Apply::Always,
    }
}
