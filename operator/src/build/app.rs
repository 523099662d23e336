//! The Rodan application: the migration Job, the API server and the worker Deployments, wired
//! to the backing services through the contract in `rodan-types`.

use rodan_types::{MEDIA_ROOT, env, ports, secret_keys, services};
use serde_json::{Value, json};

use super::backing::{media_claim, secret_env, service};
use super::{
    Apply, Child, GPU_RESOURCE, Instance, Kind, Release, annotations, dns_safe, labels, secrets,
};
use crate::crd::QueueSpec;

/// The uid of the API server and worker images built from this repository.
pub(crate) const APP_UID: i64 = 10001;

/// Environment variables the API server and workers read, beyond `rodan_types::env`.
pub mod env_names {
    /// Origins whose pages may call the API from the browser (CORS), comma-separated; unset
    /// when there are none.
    pub const CORS_ALLOWED_ORIGINS: &str = "CORS_ALLOWED_ORIGINS";
    /// `true` or `false`: whether anyone may create an account.
    pub const SELF_REGISTRATION: &str = "RODAN_SELF_REGISTRATION";
    /// The public host with its port when not the scheme's default (upstream's `SERVER_HOST`,
    /// the domain of the links in mails).
    pub const SERVER_HOST: &str = "SERVER_HOST";
    /// `true` or `false`: whether the public URL is https.
    pub const SERVER_HTTPS: &str = "SERVER_HTTPS";
    /// SMTP server host (upstream's name); unset: no mail is sent.
    pub const EMAIL_HOST: &str = "EMAIL_HOST";
    /// SMTP server port.
    pub const EMAIL_PORT: &str = "EMAIL_PORT";
    /// `true` or `false`: STARTTLS before logging in.
    pub const EMAIL_USE_TLS: &str = "EMAIL_USE_TLS";
    /// The sender of every mail.
    pub const DEFAULT_FROM_EMAIL: &str = "DEFAULT_FROM_EMAIL";
    /// SMTP login, from the credentials Secret's `username`.
    pub const EMAIL_HOST_USER: &str = "EMAIL_HOST_USER";
    /// SMTP password, from the credentials Secret's `password`.
    pub const EMAIL_HOST_PASSWORD: &str = "EMAIL_HOST_PASSWORD";
}

/// The Service in front of the API server.
pub(super) fn services(inst: &Instance<'_>) -> Vec<Child> {
    vec![service(
        inst,
        services::api(&inst.name),
        "api",
        &[("http", ports::API)],
    )]
}

/// Secret holding a connection URL: the generated one, or the admin's for an external service.
fn url_secret(external: Option<&String>, generated: String) -> String {
    external.cloned().unwrap_or(generated)
}

/// The environment every application container shares.
fn app_env(inst: &Instance<'_>, release: &Release) -> Vec<Value> {
    let spec = &inst.rodan.spec;
    let db = url_secret(
        spec.database.external_secret_name.as_ref(),
        secrets::postgres(&inst.name),
    );
    let broker = url_secret(
        spec.rabbitmq.external_secret_name.as_ref(),
        secrets::rabbitmq(&inst.name),
    );
    let cache = url_secret(
        spec.redis.external_secret_name.as_ref(),
        secrets::redis(&inst.name),
    );
    vec![
        secret_env(env::DATABASE_URL, &db, secret_keys::URL),
        secret_env(env::RABBITMQ_URL, &broker, secret_keys::URL),
        secret_env(env::REDIS_URL, &cache, secret_keys::URL),
        secret_env(
            env::SECRET_KEY,
            &secrets::app(&inst.name),
            secret_keys::SECRET_KEY,
        ),
        json!({"name": env::MEDIA_ROOT, "value": MEDIA_ROOT}),
        json!({"name": env::PUBLIC_URL, "value": inst.public_url()}),
        json!({"name": env::VERSION, "value": release.version}),
    ]
}

/// What the API server and the workers need to write mails that link to the web client: the
/// public host and scheme (upstream's `SERVER_HOST`), and the SMTP server of `spec.email`.
fn mail_env(inst: &Instance<'_>) -> Vec<Value> {
    let origin = inst.public_origin();
    let mut out = vec![
        json!({"name": env_names::SERVER_HOST, "value": origin.server_host()}),
        json!({"name": env_names::SERVER_HTTPS, "value": origin.https.to_string()}),
    ];
    if let Some(email) = &inst.rodan.spec.email {
        let from = email
            .from
            .clone()
            .unwrap_or_else(|| format!("Rodan <noreply@{}>", origin.host));
        out.extend([
            json!({"name": env_names::EMAIL_HOST, "value": email.host}),
            json!({"name": env_names::EMAIL_PORT, "value": email.port.to_string()}),
            json!({"name": env_names::EMAIL_USE_TLS, "value": email.use_tls.to_string()}),
            json!({"name": env_names::DEFAULT_FROM_EMAIL, "value": from}),
        ]);
        if let Some(secret) = &email.credentials_secret {
            out.extend([
                secret_env(env_names::EMAIL_HOST_USER, secret, secret_keys::USERNAME),
                secret_env(
                    env_names::EMAIL_HOST_PASSWORD,
                    secret,
                    secret_keys::PASSWORD,
                ),
            ]);
        }
    }
    out
}

fn tmp_volume() -> Value {
    json!({"name": "tmp", "emptyDir": {}})
}

fn media_volume(inst: &Instance<'_>) -> Value {
    json!({"name": "media", "persistentVolumeClaim": {"claimName": media_claim(inst)}})
}

/// The migration Job of a release: `api-server migrate` with the release's API image. The API
/// and workers of that release are deployed only once it succeeded. Finished Jobs are kept
/// (they record that the release was migrated) and not written again.
pub(super) fn migration_job(inst: &Instance<'_>, release: &Release, finished: bool) -> Child {
    let name = super::release::job_name(&inst.name, release);
    let mut meta = inst.meta(&name, "migration");
    meta["labels"][labels::VERSION] = json!(label_value(&release.version));
    meta["annotations"] = json!({
        annotations::RELEASE: serde_json::to_string(release).unwrap_or_default(),
    });
    // `migrate` creates the bootstrap superuser when it is missing (`serve` does not read it).
    let mut env = app_env(inst, release);
    env.extend(admin_env(inst));
    let container = json!({
        "name": "migrate",
        "image": release.api,
        "args": ["migrate"],
        "env": env,
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    });
    let pod = inst.pod_spec(
        APP_UID,
        json!({"containers": [container], "volumes": [tmp_volume()], "restartPolicy": "Never"}),
    );
    Child {
        kind: Kind::Job,
        object: json!({
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": meta,
            "spec": {
                "backoffLimit": 4,
                "activeDeadlineSeconds": 3600,
                "template": {"metadata": {"labels": inst.labels("migration")}, "spec": pod},
            },
        }),
        name,
        apply: if finished {
            Apply::KeepOnly
        } else {
            Apply::Always
        },
    }
}

/// A label value: at most 63 characters of `[A-Za-z0-9._-]`.
fn label_value(value: &str) -> String {
    let v: String = value
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .take(63)
        .collect();
    v.trim_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_owned()
}

/// The bootstrap superuser (upstream's `ADMIN_USER`, `ADMIN_EMAIL`, `ADMIN_PASS`), from
/// `api.adminSecretName` or the generated `<name>-app` Secret.
fn admin_env(inst: &Instance<'_>) -> [Value; 3] {
    let admin = inst
        .rodan
        .spec
        .api
        .admin_secret_name
        .clone()
        .unwrap_or_else(|| secrets::app(&inst.name));
    [
        secret_env(env::ADMIN_USER, &admin, secret_keys::ADMIN_USER),
        secret_env(env::ADMIN_EMAIL, &admin, secret_keys::ADMIN_EMAIL),
        secret_env(env::ADMIN_PASS, &admin, secret_keys::ADMIN_PASSWORD),
    ]
}

/// An nginx size (`700m`, `1g`, `512k`, `1048576`) in MiB, rounded up; `0` (no limit in nginx)
/// stays 0, which is no limit for the API server too.
pub(crate) fn size_mib(size: &str) -> u64 {
    let size = size.trim();
    let (digits, unit) = match size.chars().last() {
        Some(c) if c.is_ascii_alphabetic() => (&size[..size.len() - 1], c.to_ascii_lowercase()),
        _ => (size, 'b'),
    };
    // The CRD's pattern admits digits and one unit; anything else keeps upstream's 700m.
    let Ok(n) = digits.parse::<u64>() else {
        return 700;
    };
    let bytes = match unit {
        'k' => n.saturating_mul(1 << 10),
        'm' => n.saturating_mul(1 << 20),
        'g' => n.saturating_mul(1 << 30),
        _ => n,
    };
    bytes.div_ceil(1 << 20)
}

/// Where the API server takes a proxy's word for the client's address: private and
/// shared-address networks, where pod networks live (the API Service is cluster-internal).
const CLUSTER_PROXIES: &str =
    "10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,100.64.0.0/10,127.0.0.0/8,fc00::/7,::1/128";

/// The API server Deployment.
pub(super) fn api_deployment(inst: &Instance<'_>, release: &Release) -> Child {
    let spec = &inst.rodan.spec;
    let name = services::api(&inst.name);
    let mut env = app_env(inst, release);
    env.push(json!({"name": env::API_LISTEN, "value": format!("0.0.0.0:{}", ports::API)}));
    // The API refuses the uploads nginx refuses: same limit, and early (413 on Content-Length).
    env.push(json!({
        "name": env::MAX_UPLOAD_MIB,
        "value": size_mib(&spec.web.client_max_body_size).to_string(),
    }));

    // nginx, in front, names the client in X-Real-IP; its pods have addresses of the cluster's
    // private pod network.
    env.push(json!({"name": "RODAN_TRUSTED_PROXIES", "value": CLUSTER_PROXIES}));
    if !spec.api.allowed_origins.is_empty() {
        env.push(
            json!({"name": "RODAN_ALLOWED_ORIGINS", "value": spec.api.allowed_origins.join(",")}),
        );
    }
    if !spec.api.cors_allowed_origins.is_empty() {
        env.push(json!({
            "name": env_names::CORS_ALLOWED_ORIGINS,
            "value": spec.api.cors_allowed_origins.join(","),
        }));
    }
    env.push(json!({
        "name": env_names::SELF_REGISTRATION,
        "value": spec.api.self_registration.to_string(),
    }));
    env.extend(mail_env(inst));
    let probe = |path: &str| json!({"httpGet": {"path": path, "port": "http"}, "periodSeconds": 10, "timeoutSeconds": 5, "failureThreshold": 3});
    let mut container = json!({
        "name": "api",
        "image": release.api,
        "args": ["serve"],
        "env": env,
        "ports": [{"name": "http", "containerPort": ports::API, "protocol": "TCP"}],
        "startupProbe": {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 5, "failureThreshold": 60},
        "readinessProbe": probe("/readyz"),
        "livenessProbe": probe("/healthz"),
        "lifecycle": super::serving_lifecycle(),
        "volumeMounts": [
            {"name": "media", "mountPath": MEDIA_ROOT},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    });
    if let Some(r) = &spec.api.resources {
        container["resources"] = json!(r);
    }
    let pod = inst.pod_spec(
        APP_UID,
        json!({"containers": [container], "volumes": [media_volume(inst), tmp_volume()]}),
    );
    deployment(
        inst,
        name,
        "api",
        None,
        Some(spec.api.replicas),
        release,
        pod,
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}),
    )
}

/// The name of a queue's worker Deployment.
pub(crate) fn worker_name(instance: &str, queue: &str) -> String {
    format!("{instance}-worker-{}", dns_safe(queue))
}

/// One worker Deployment per queue.
pub(super) fn worker_deployments(inst: &Instance<'_>, release: &Release) -> Vec<Child> {
    inst.rodan
        .spec
        .workers
        .iter()
        .map(|q| worker(inst, release, q))
        .collect()
}

/// Replicas of a queue the operator sets: its `replicas`, held within the autoscaling bounds
/// when those are set. `None` when KEDA scales the queue: the replica count is then KEDA's.
pub(crate) fn queue_replicas(inst: &Instance<'_>, queue: &QueueSpec) -> Option<i32> {
    match &queue.autoscaling {
        Some(_) if inst.keda => None,
        Some(a) => Some(
            queue
                .replicas
                .clamp(a.min_replicas, a.max_replicas.max(a.min_replicas)),
        ),
        None => Some(queue.replicas),
    }
}

/// The most pods a queue can have.
pub(crate) fn queue_max_replicas(inst: &Instance<'_>, queue: &QueueSpec) -> i32 {
    queue_replicas(inst, queue).unwrap_or_else(|| {
        queue
            .autoscaling
            .as_ref()
            .map_or(queue.replicas, |a| a.max_replicas)
    })
}

fn worker(inst: &Instance<'_>, release: &Release, queue: &QueueSpec) -> Child {
    let name = worker_name(&inst.name, &queue.name);
    let gpu = queue.gpus > 0;
    let mut env = app_env(inst, release);
    env.extend([
        json!({"name": env::WORKER_QUEUES, "value": queue.name}),
        json!({"name": env::WORKER_CONCURRENCY, "value": queue.concurrency.to_string()}),
        json!({"name": env::WORKER_NAME, "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}),
        // Hand unfinished jobs back to the queue 10 s before the kubelet's SIGKILL.
        json!({"name": env::WORKER_GRACE_SECONDS, "value": (queue.termination_grace_period_seconds - 10).max(1).to_string()}),
    ]);
    env.extend(mail_env(inst));
    // Live while it runs (reconnecting to RabbitMQ included: a restart would not bring the
    // broker back and would drop running jobs); ready only while it consumes its queues.
    let probe = |path: &str| json!({"httpGet": {"path": path, "port": "metrics"}, "periodSeconds": 15, "timeoutSeconds": 5, "failureThreshold": 4});
    let mut container = json!({
        "name": "worker",
        "image": if gpu { &release.gpu_worker } else { &release.worker },
        "env": env,
        "ports": [{"name": "metrics", "containerPort": ports::WORKER_METRICS, "protocol": "TCP"}],
        "readinessProbe": probe("/readyz"),
        "livenessProbe": probe("/healthz"),
        "volumeMounts": [
            {"name": "media", "mountPath": MEDIA_ROOT},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    });
    let mut resources = queue
        .resources
        .as_ref()
        .map(|r| json!(r))
        .unwrap_or_else(|| json!({}));
    if gpu {
        resources["limits"][GPU_RESOURCE] = json!(queue.gpus.to_string());
    }
    if resources.as_object().is_some_and(|r| !r.is_empty()) {
        container["resources"] = resources;
    }
    let mut pod = json!({
        "containers": [container],
        "volumes": [media_volume(inst), tmp_volume()],
        "terminationGracePeriodSeconds": queue.termination_grace_period_seconds,
    });
    if !queue.node_selector.is_empty() {
        pod["nodeSelector"] = json!(queue.node_selector);
    }
    if !queue.tolerations.is_empty() {
        pod["tolerations"] = json!(queue.tolerations);
    }
    if let Some(class) = &queue.runtime_class_name {
        pod["runtimeClassName"] = json!(class);
    }
    // A GPU queue has no spare GPU to surge onto: replace pods one at a time instead.
    let strategy = if gpu {
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}})
    } else {
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}})
    };
    deployment(
        inst,
        name,
        "worker",
        Some(&queue.name),
        queue_replicas(inst, queue),
        release,
        inst.pod_spec(APP_UID, pod),
        strategy,
    )
}

#[allow(clippy::too_many_arguments)]
fn deployment(
    inst: &Instance<'_>,
    name: String,
    component: &str,
    queue: Option<&str>,
    replicas: Option<i32>,
    release: &Release,
    pod: Value,
    strategy: Value,
) -> Child {
    let mut selector = inst.selector(component);
    if let Some(q) = queue {
        selector.insert(labels::QUEUE.into(), q.into());
    }
    let mut pod_labels = inst.labels(component);
    pod_labels.extend(selector.clone());
    pod_labels.insert(labels::VERSION.into(), label_value(&release.version));
    let mut meta = inst.meta(&name, component);
    meta["labels"] = json!(pod_labels);
    let mut spec = json!({
        "selector": {"matchLabels": selector},
        "strategy": strategy,
        "template": {"metadata": {"labels": pod_labels}, "spec": pod},
    });
    // Without a count the field stays with whoever scales the Deployment (KEDA's HPA).
    if let Some(replicas) = replicas {
        spec["replicas"] = json!(replicas);
    }
    Child {
        kind: Kind::Deployment,
        object: json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": meta,
            "spec": spec,
        }),
        name,
        apply: Apply::Always,
    }
}
