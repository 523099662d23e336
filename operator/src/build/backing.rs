//! The backing services (PostgreSQL, RabbitMQ, Redis), the data volumes and the backups.

use rodan_types::{ports, secret_keys, services};
use serde_json::{Value, json};

use super::{Apply, Child, Instance, Kind, secrets};
use crate::crd::{AccessMode, VolumeSpec};

/// Default image of the managed database, built from `images/postgres-plpython`.
pub(crate) const POSTGRES_IMAGE: &str = "ghcr.io/ddmal/rodan-postgres-plpython:15";
/// Default image of the managed broker.
pub(crate) const RABBITMQ_IMAGE: &str = "docker.io/library/rabbitmq:3.13-management";
/// Default image of the managed Redis.
pub(crate) const REDIS_IMAGE: &str = "docker.io/library/redis:7.2";
/// The uid all three backing images run as.
const SERVICE_UID: i64 = 999;
/// Where the database keeps its files, below the data volume's mount point.
const PGDATA: &str = "/var/lib/postgresql/data/pgdata";

/// Name of the media claim the API, workers and nginx mount.
pub(crate) fn media_claim(inst: &Instance<'_>) -> String {
    inst.rodan
        .spec
        .storage
        .existing_claim
        .clone()
        .unwrap_or_else(|| inst.child_name("media"))
}

/// The data volumes: media (unless an existing claim is used) and the managed database's.
/// Created without an owner (they survive the `Rodan`) unless the deletion policy is `Delete`.
pub(super) fn claims(inst: &Instance<'_>) -> Vec<Child> {
    let spec = &inst.rodan.spec;
    let mut out = Vec::new();
    if spec.storage.existing_claim.is_none() {
        let mode = match spec.storage.access_mode {
            AccessMode::ReadWriteMany => "ReadWriteMany",
            AccessMode::ReadWriteOnce => "ReadWriteOnce",
        };
        out.push(claim(
            inst,
            inst.child_name("media"),
            "media",
            mode,
            &spec.storage.size,
            spec.storage.storage_class_name.as_deref(),
        ));
    }
    if Instance::managed(spec.database.mode) {
        out.push(claim(
            inst,
            inst.child_name("postgres-data"),
            "postgres",
            "ReadWriteOnce",
            &spec.database.storage.size,
            spec.database.storage.storage_class_name.as_deref(),
        ));
    }
    out
}

fn claim(
    inst: &Instance<'_>,
    name: String,
    component: &str,
    mode: &str,
    size: &str,
    class: Option<&str>,
) -> Child {
    let mut spec = json!({
        "accessModes": [mode],
        "resources": {"requests": {"storage": size}},
    });
    if let Some(class) = class {
        spec["storageClassName"] = json!(class);
    }
    Child {
        kind: Kind::PersistentVolumeClaim,
        object: json!({
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": inst.data_meta(&name, component),
            "spec": spec,
        }),
        name,
        apply: Apply::Always,
    }
}

/// Services of the managed backing services.
pub(super) fn services(inst: &Instance<'_>) -> Vec<Child> {
    let spec = &inst.rodan.spec;
    let mut out = Vec::new();
    if Instance::managed(spec.database.mode) {
        out.push(service(
            inst,
            services::postgres(&inst.name),
            "postgres",
            &[("postgres", ports::POSTGRES)],
        ));
    }
    if Instance::managed(spec.rabbitmq.mode) {
        out.push(service(
            inst,
            services::rabbitmq(&inst.name),
            "rabbitmq",
            &[
                ("amqp", ports::AMQP),
                ("management", ports::RABBITMQ_MANAGEMENT),
            ],
        ));
    }
    if Instance::managed(spec.redis.mode) {
        out.push(service(
            inst,
            services::redis(&inst.name),
            "redis",
            &[("redis", ports::REDIS)],
        ));
    }
    out
}

/// A ClusterIP Service selecting a component's pods.
pub(super) fn service(
    inst: &Instance<'_>,
    name: String,
    component: &str,
    named_ports: &[(&str, u16)],
) -> Child {
    let ports: Vec<Value> = named_ports
        .iter()
        .map(|(port_name, port)| {
            json!({"name": port_name, "port": port, "targetPort": port_name, "protocol": "TCP"})
        })
        .collect();
    Child {
        kind: Kind::Service,
        object: json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": inst.meta(&name, component),
            "spec": {
                "type": "ClusterIP",
                "selector": inst.selector(component),
                "ports": ports,
            },
        }),
        name,
        apply: Apply::Always,
    }
}

/// An env var taken from a Secret key.
pub(crate) fn secret_env(var: &str, secret: &str, key: &str) -> Value {
    json!({"name": var, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}})
}

/// `emptyDir` volumes for the writable paths of a read-only root filesystem.
fn scratch(names: &[&str]) -> Vec<Value> {
    names
        .iter()
        .map(|n| json!({"name": n, "emptyDir": {}}))
        .collect()
}

/// The StatefulSets of the managed database and broker.
pub(super) fn stateful_sets(inst: &Instance<'_>) -> Vec<Child> {
    let spec = &inst.rodan.spec;
    let mut out = Vec::new();
    if Instance::managed(spec.database.mode) {
        out.push(postgres(inst));
    }
    if Instance::managed(spec.rabbitmq.mode) {
        out.push(rabbitmq(inst));
    }
    out
}

fn postgres_env(inst: &Instance<'_>) -> Vec<Value> {
    let secret = secrets::postgres(&inst.name);
    vec![
        secret_env("POSTGRES_USER", &secret, secret_keys::USERNAME),
        secret_env("POSTGRES_PASSWORD", &secret, secret_keys::PASSWORD),
        secret_env("POSTGRES_DB", &secret, secret_keys::DATABASE),
        json!({"name": "PGDATA", "value": PGDATA}),
    ]
}

fn postgres(inst: &Instance<'_>) -> Child {
    let name = services::postgres(&inst.name);
    let image = inst
        .rodan
        .spec
        .images
        .postgres
        .clone()
        .unwrap_or_else(|| POSTGRES_IMAGE.to_owned());
    let probe = |initial: i32| {
        json!({
            "exec": {"command": ["sh", "-c", "exec pg_isready -h 127.0.0.1 -U \"$POSTGRES_USER\" -d \"$POSTGRES_DB\""]},
            "initialDelaySeconds": initial, "periodSeconds": 10, "timeoutSeconds": 5, "failureThreshold": 6,
        })
    };
    let mut container = json!({
        "name": "postgres",
        "image": image,
        "env": postgres_env(inst),
        "ports": [{"name": "postgres", "containerPort": ports::POSTGRES, "protocol": "TCP"}],
        "readinessProbe": probe(5),
        "livenessProbe": probe(30),
        "volumeMounts": [
            {"name": "data", "mountPath": "/var/lib/postgresql/data"},
            {"name": "run", "mountPath": "/var/run/postgresql"},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    });
    if let Some(r) = &inst.rodan.spec.database.resources {
        container["resources"] = json!(r);
    }
    let mut volumes = scratch(&["run", "tmp"]);
    volumes.push(json!({"name": "data", "persistentVolumeClaim": {"claimName": inst.child_name("postgres-data")}}));
    stateful_set(
        inst,
        name,
        "postgres",
        inst.pod_spec(
            SERVICE_UID,
            json!({"containers": [container], "volumes": volumes, "terminationGracePeriodSeconds": 60}),
        ),
    )
}

fn rabbitmq(inst: &Instance<'_>) -> Child {
    let name = services::rabbitmq(&inst.name);
    let secret = secrets::rabbitmq(&inst.name);
    let image = inst
        .rodan
        .spec
        .images
        .rabbitmq
        .clone()
        .unwrap_or_else(|| RABBITMQ_IMAGE.to_owned());
    let probe = |initial: i32| {
        json!({
            "exec": {"command": ["rabbitmq-diagnostics", "-q", "ping"]},
            "initialDelaySeconds": initial, "periodSeconds": 30, "timeoutSeconds": 20, "failureThreshold": 6,
        })
    };
    let mut container = json!({
        "name": "rabbitmq",
        "image": image,
        "env": [
            secret_env("RABBITMQ_DEFAULT_USER", &secret, secret_keys::USERNAME),
            secret_env("RABBITMQ_DEFAULT_PASS", &secret, secret_keys::PASSWORD),
            // A fixed node name keeps the node's identity across pod restarts.
            {"name": "RABBITMQ_NODENAME", "value": "rabbit@localhost"},
        ],
        "ports": [
            {"name": "amqp", "containerPort": ports::AMQP, "protocol": "TCP"},
            {"name": "management", "containerPort": ports::RABBITMQ_MANAGEMENT, "protocol": "TCP"},
        ],
        "readinessProbe": probe(10),
        "livenessProbe": probe(60),
        "volumeMounts": [
            {"name": "data", "mountPath": "/var/lib/rabbitmq"},
            {"name": "log", "mountPath": "/var/log/rabbitmq"},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    });
    if let Some(r) = &inst.rodan.spec.rabbitmq.resources {
        container["resources"] = json!(r);
    }
    stateful_set(
        inst,
        name,
        "rabbitmq",
        inst.pod_spec(
            SERVICE_UID,
            json!({"containers": [container], "volumes": scratch(&["data", "log", "tmp"]), "terminationGracePeriodSeconds": 60}),
        ),
    )
}

fn stateful_set(inst: &Instance<'_>, name: String, component: &str, pod: Value) -> Child {
    Child {
        kind: Kind::StatefulSet,
        object: json!({
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": inst.meta(&name, component),
            "spec": {
                "replicas": 1,
                "serviceName": name,
                "selector": {"matchLabels": inst.selector(component)},
                "template": {
                    "metadata": {"labels": inst.labels(component)},
                    "spec": pod,
                },
            },
        }),
        name,
        apply: Apply::Always,
    }
}

/// The managed Redis: a Deployment, since it only relays notifications and keeps no data.
pub(super) fn deployments(inst: &Instance<'_>) -> Vec<Child> {
    if !Instance::managed(inst.rodan.spec.redis.mode) {
        return Vec::new();
    }
    let name = services::redis(&inst.name);
    let image = inst
        .rodan
        .spec
        .images
        .redis
        .clone()
        .unwrap_or_else(|| REDIS_IMAGE.to_owned());
    let probe = json!({"tcpSocket": {"port": "redis"}, "periodSeconds": 10, "timeoutSeconds": 3});
    let mut container = json!({
        "name": "redis",
        "image": image,
        "env": [secret_env("REDIS_PASSWORD", &secrets::redis(&inst.name), secret_keys::PASSWORD)],
        "args": ["--save", "", "--appendonly", "no", "--requirepass", "$(REDIS_PASSWORD)"],
        "ports": [{"name": "redis", "containerPort": ports::REDIS, "protocol": "TCP"}],
        "readinessProbe": probe,
        "livenessProbe": probe,
        "volumeMounts": [{"name": "data", "mountPath": "/data"}],
    });
    if let Some(r) = &inst.rodan.spec.redis.resources {
        container["resources"] = json!(r);
    }
    let pod = inst.pod_spec(
        SERVICE_UID,
        json!({"containers": [container], "volumes": scratch(&["data"])}),
    );
    vec![Child {
        kind: Kind::Deployment,
        object: json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": inst.meta(&name, "redis"),
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": inst.selector("redis")},
                "template": {"metadata": {"labels": inst.labels("redis")}, "spec": pod},
            },
        }),
        name,
        apply: Apply::Always,
    }]
}

/// Scheduled `pg_dump` backups of the managed database onto their own volume, pruned to the
/// newest `keep`. The job runs the database image, which carries `rodan-backup`.
pub(super) fn backup(inst: &Instance<'_>) -> Vec<Child> {
    let spec = &inst.rodan.spec;
    let Some(backups) = spec.backups.as_ref().filter(|b| b.enabled) else {
        return Vec::new();
    };
    if !Instance::managed(spec.database.mode) {
        return Vec::new();
    }
    let claim_name = inst.child_name("backups");
    let VolumeSpec {
        size,
        storage_class_name,
    } = &backups.storage;
    let volume = claim(
        inst,
        claim_name.clone(),
        "backup",
        "ReadWriteOnce",
        size,
        storage_class_name.as_deref(),
    );
    let image = spec
        .images
        .postgres
        .clone()
        .unwrap_or_else(|| POSTGRES_IMAGE.to_owned());
    let mut env = postgres_env(inst);
    env.extend([
        json!({"name": "PGHOST", "value": services::postgres(&inst.name)}),
        json!({"name": "BACKUP_DIR", "value": "/backups"}),
        json!({"name": "BACKUP_KEEP", "value": backups.keep.to_string()}),
    ]);
    let container = json!({
        "name": "backup",
        "image": image,
        "command": ["rodan-backup"],
        "env": env,
        "volumeMounts": [
            {"name": "backups", "mountPath": "/backups"},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    });
    let mut volumes = scratch(&["tmp"]);
    volumes.push(json!({"name": "backups", "persistentVolumeClaim": {"claimName": claim_name}}));
    let pod = inst.pod_spec(
        SERVICE_UID,
        json!({"containers": [container], "volumes": volumes, "restartPolicy": "OnFailure"}),
    );
    let name = inst.child_name("backup");
    vec![
        volume,
        Child {
            kind: Kind::CronJob,
            object: json!({
                "apiVersion": "batch/v1",
                "kind": "CronJob",
                "metadata": inst.meta(&name, "backup"),
                "spec": {
                    "schedule": backups.schedule,
                    "timeZone": "Etc/UTC",
                    "concurrencyPolicy": "Forbid",
                    "successfulJobsHistoryLimit": 3,
                    "failedJobsHistoryLimit": 3,
                    "jobTemplate": {
                        "metadata": {"labels": inst.labels("backup")},
                        "spec": {
                            "backoffLimit": 2,
                            "template": {"metadata": {"labels": inst.labels("backup")}, "spec": pod},
                        },
                    },
                },
            }),
            name,
            apply: Apply::Always,
        },
    ]
}
