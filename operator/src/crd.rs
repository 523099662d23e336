//! The `Rodan` custom resource: its spec, status and the schema rules the apiserver enforces.
//!
//! Every field's doc comment becomes its `kubectl explain` text. Defaults live in the schema, so
//! an almost empty spec (`spec: {}`) gives a working Rodan and `kubectl get -o yaml` shows what was
//! chosen.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{LocalObjectReference, ResourceRequirements, Toleration};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// API group of the `Rodan` kind.
pub const GROUP: &str = "rodan.ddmal.music.mcgill.ca";

/// The Rodan version a `Rodan` runs when `spec.version` is empty: the one this operator was
/// released with.
pub const DEFAULT_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The desired Rodan: its version, the web entry point (nginx), the web client, the REST API,
/// one worker Deployment per job queue, PostgreSQL (with plpython3u), RabbitMQ, Redis, the
/// shared media volume, exposure, e-mail and backups.
// Each printcolumn(...) repeats the same keys, which this lint mistakes for duplicates.
#[allow(clippy::duplicated_attributes)]
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "rodan.ddmal.music.mcgill.ca",
    version = "v1alpha1",
    kind = "Rodan",
    plural = "rodans",
    singular = "rodan",
    namespaced,
    status = "RodanStatus",
    derive = "PartialEq",
    derive = "Default",
    category = "all",
    category = "rodan",
    doc = "A complete Rodan, the optical music recognition workflow engine: nginx, the web client, the REST API, a worker Deployment per job queue, PostgreSQL, RabbitMQ and Redis, run and kept up by the operator.",
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.ready",
        description = "Ready components out of all components"
    ),
    printcolumn(
        name = "Version",
        type_ = "string",
        json_path = ".status.version",
        description = "The Rodan version running"
    ),
    printcolumn(
        name = "Available",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Available\")].status",
        description = "Whether Rodan serves requests"
    ),
    printcolumn(
        name = "URL",
        type_ = "string",
        json_path = ".status.url",
        description = "Where users reach Rodan",
        priority = 1
    ),
    printcolumn(
        name = "Paused",
        type_ = "boolean",
        json_path = ".spec.paused",
        description = "Whether reconciliation is paused",
        priority = 1
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[x_kube(validation = Rule::new("!(has(self.backups) && self.backups.enabled) || self.database.mode == 'Managed'").message("backups.enabled needs database.mode Managed: back up an external database where it runs"))]
#[serde(rename_all = "camelCase")]
pub struct RodanSpec {
    /// Rodan version to run. It is the image tag of the API server and the workers unless
    /// `images` names them; changing it runs the database migration Job of the new version
    /// first, then rolls the API and the workers. Empty means the operator's own version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 128))]
    pub version: Option<String>,

    /// Container images. Each defaults to the image of `version` or a tested upstream release.
    #[serde(default)]
    pub images: Images,

    /// The REST API server (rodan-main).
    #[serde(default)]
    pub api: ApiSpec,

    /// The nginx entry point: proxies `/api` and `/ws` to the API server and serves media files
    /// only after the API authorises each download.
    #[serde(default)]
    pub web: WebSpec,

    /// Upstream's web client (rodan-client), the single-page application musicologists use,
    /// served by nginx at `/` next to the API. On by default; its `configuration.json` is
    /// rendered from this spec (the public host, HTTPS, the websocket, token authentication).
    #[serde(default)]
    pub client: ClientSpec,

    /// Outgoing e-mail (SMTP) for account activation, password resets and run notifications.
    /// Without it no mail is sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<EmailSpec>,

    /// Worker Deployments, one per queue. Jobs declare the queue they run on; upstream's queues
    /// are `celery` (core tasks and CPU jobs), `Python3` (image and encoding jobs) and `GPU`.
    #[serde(default = "default_workers")]
    #[schemars(length(max = 32))]
    #[x_kube(validation = Rule::new("self.all(q, self.filter(p, p.name == q.name).size() == 1)").message("worker queue names must be unique"))]
    pub workers: Vec<QueueSpec>,

    /// The PostgreSQL database: managed by the operator (a StatefulSet running an image with
    /// plpython3u), or external.
    #[serde(default)]
    pub database: DatabaseSpec,

    /// The RabbitMQ broker that carries jobs to the workers.
    #[serde(default)]
    pub rabbitmq: ServiceSpec,

    /// The Redis server that carries change notifications to websocket clients.
    #[serde(default)]
    pub redis: ServiceSpec,

    /// The shared media volume (`/rodan/data`) mounted by the API, the workers and nginx.
    #[serde(default)]
    pub storage: MediaStorage,

    /// Exposure outside the cluster through an Ingress. Without it, reach Rodan through the
    /// `<name>-web` Service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress: Option<IngressSpec>,

    /// Scheduled logical backups of the managed database (`pg_dump`), kept on their own volume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backups: Option<BackupSpec>,

    /// Stop reconciling: the operator writes nothing but this resource's status until it is
    /// false again. For maintenance by hand.
    #[serde(default)]
    pub paused: bool,
}

/// Container images of the Rodan components.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Images {
    /// API server image. Default `ghcr.io/ddmal/rodan-api-server:<version>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api: Option<String>,
    /// Worker image for CPU queues. Default `ghcr.io/ddmal/rodan-worker:<version>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker: Option<String>,
    /// Worker image for queues that request GPUs. Default `ghcr.io/ddmal/rodan-worker-gpu:<version>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu_worker: Option<String>,
    /// PostgreSQL image with plpython3u and the backup tools, built from
    /// `images/postgres-plpython` in this repository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postgres: Option<String>,
    /// Stock nginx image; the operator renders its configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nginx: Option<String>,
    /// Web client image: nginx serving upstream's built rodan-client on port 80. Default
    /// `docker.io/ddmal/rodan-client:v3.1.0` (client 0.20.0), upstream's own build of the
    /// release; the operator mounts the rendered `configuration.json` over the image's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    /// Stock RabbitMQ image with the management plugin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rabbitmq: Option<String>,
    /// Stock Redis image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redis: Option<String>,
    /// Image pull policy for every container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_policy: Option<PullPolicy>,
    /// Secrets used to pull the images.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pull_secrets: Vec<LocalObjectReference>,
}

/// When the kubelet pulls an image.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum PullPolicy {
    /// Pull on every start.
    Always,
    /// Pull when the node lacks the image.
    IfNotPresent,
    /// Never pull.
    Never,
}

/// The REST API server.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ApiSpec {
    /// Number of API server pods.
    #[serde(default = "one")]
    #[schemars(range(min = 0, max = 100))]
    pub replicas: i32,
    /// CPU and memory of each API server pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    /// Secret holding the bootstrap superuser (keys `admin-user`, `admin-email`,
    /// `admin-password`). Without it the operator generates one, `<name>-app`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin_secret_name: Option<String>,
    /// Origins besides the public URL's whose pages may open the websocket (`/ws/rodan`), for a
    /// web client served from another site: `https://client.example`. Browsers from any other
    /// origin are refused, so no site can use a visitor's login.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32), inner(regex(pattern = r"^https?://[^/?#]+$")))]
    pub allowed_origins: Vec<String>,
    /// Origins (`scheme://host[:port]`, no path) whose pages may call the REST API from the
    /// browser (CORS), for a web client served from another site: `https://client.example`,
    /// `http://localhost:9002`. The client served by this Rodan at `/` shares the API's origin
    /// and needs none; one served elsewhere also needs its origin in `allowedOrigins` for the
    /// websocket. Empty: no cross-origin calls.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        length(max = 32),
        inner(regex(
            pattern = r"^https?://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?)(:[0-9]{1,5})?$"
        ))
    )]
    pub cors_allowed_origins: Vec<String>,
    /// Let anyone create an account (`/api/auth/register/`), activated through a link sent by
    /// e-mail (set `email`). Off: only admins create users.
    #[serde(default)]
    pub self_registration: bool,
}

impl Default for ApiSpec {
    fn default() -> Self {
        Self {
            replicas: 1,
            resources: None,
            admin_secret_name: None,
            allowed_origins: Vec::new(),
            cors_allowed_origins: Vec::new(),
            self_registration: false,
        }
    }
}

/// The nginx entry point.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct WebSpec {
    /// Number of nginx pods.
    #[serde(default = "one")]
    #[schemars(range(min = 0, max = 100))]
    pub replicas: i32,
    /// Largest accepted upload body, in nginx size syntax (upstream: `700m`).
    #[serde(default = "default_max_body")]
    #[schemars(regex(pattern = r"^[0-9]+[kKmMgG]?$"))]
    pub client_max_body_size: String,
    /// CPU and memory of each nginx pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    /// Type of the `<name>-web` Service.
    #[serde(default = "default_service_type")]
    pub service_type: ServiceType,
    /// Login requests (`/api/auth/token/`, `/api/auth/change-password/`) nginx lets through per
    /// client address and minute, after a burst of as many; the excess gets 429. The API server
    /// also refuses logins after repeated failures per account and per address.
    #[serde(default = "default_login_rate")]
    #[schemars(range(min = 1, max = 6000))]
    pub login_requests_per_minute: i32,
    /// Addresses or CIDR networks of the proxies in front of nginx (the ingress controller, a
    /// load balancer) whose `X-Forwarded-For` names the client. Empty: the client is the peer,
    /// so behind an ingress every client shares the ingress's login limit.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        length(max = 64),
        inner(regex(pattern = r"^[0-9A-Fa-f:.]+(/[0-9]{1,3})?$"))
    )]
    pub trusted_proxies: Vec<String>,
}

impl Default for WebSpec {
    fn default() -> Self {
        Self {
            replicas: 1,
            client_max_body_size: default_max_body(),
            resources: None,
            service_type: default_service_type(),
            login_requests_per_minute: default_login_rate(),
            trusted_proxies: Vec::new(),
        }
    }
}

/// How the web Service is exposed.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServiceType {
    /// Reachable inside the cluster only (use `ingress` to publish it).
    ClusterIP,
    /// On a port of every node.
    NodePort,
    /// Through the cloud's load balancer.
    LoadBalancer,
}

/// Upstream's web client, served by its own nginx behind the entry point.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ClientSpec {
    /// Serve the web client at `/`. Off: no client pods, and `/` redirects to `/api/`.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Number of client pods. With none, nginx answers `/` with 502; `enabled: false` turns
    /// the client off instead.
    #[serde(default = "one")]
    #[schemars(range(min = 0, max = 100))]
    pub replicas: i32,
    /// CPU and memory of each client pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    /// Node labels the client pods must run on.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub node_selector: BTreeMap<String, String>,
    /// Taints the client pods tolerate.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tolerations: Vec<Toleration>,
}

impl Default for ClientSpec {
    fn default() -> Self {
        Self {
            enabled: true,
            replicas: 1,
            resources: None,
            node_selector: BTreeMap::new(),
            tolerations: Vec::new(),
        }
    }
}

/// Outgoing e-mail through an SMTP server, as upstream's `EMAIL_*` settings.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct EmailSpec {
    /// SMTP server host name or address (`smtp.example.org`).
    #[schemars(
        length(min = 1, max = 253),
        regex(pattern = r"^([A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])$")
    )]
    pub host: String,
    /// SMTP server port: 587 (submission with STARTTLS) unless set.
    #[serde(default = "default_smtp_port")]
    #[schemars(range(min = 1, max = 65535))]
    pub port: i32,
    /// Upgrade the connection with STARTTLS before authenticating (upstream's
    /// `EMAIL_USE_TLS`, always on there).
    #[serde(default = "yes")]
    pub use_tls: bool,
    /// Sender of every mail, an address or `Name <address>`. Default
    /// `Rodan <noreply@HOST>`, HOST being the public host name (`ingress.host`, else the web
    /// Service's cluster name), as upstream's `Rodan <noreply@rodan2.simssa.ca>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 3, max = 320), regex(pattern = r"^[^\r\n]*@[^\r\n]*$"))]
    pub from: Option<String>,
    /// Secret holding the SMTP login, keys `username` and `password`. Without it mail is
    /// sent without logging in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(min = 1, max = 253),
        regex(pattern = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
    )]
    pub credentials_secret: Option<String>,
}

/// A worker Deployment consuming one job queue.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!has(self.autoscaling) || self.autoscaling.minReplicas <= self.autoscaling.maxReplicas").message("autoscaling.minReplicas must be less than or equal to autoscaling.maxReplicas"))]
#[x_kube(validation = Rule::new("self.gpus == 0 || self.concurrency <= self.gpus").message("a queue with GPUs runs one job per GPU at once: concurrency must not exceed gpus"))]
pub struct QueueSpec {
    /// Queue name, as jobs declare it (`celery`, `Python3`, `GPU`, or your own).
    #[schemars(
        length(min = 1, max = 40),
        regex(pattern = r"^[A-Za-z][A-Za-z0-9_-]*$")
    )]
    pub name: String,
    /// Number of worker pods. Zero stops the queue (jobs wait in RabbitMQ). With `autoscaling`
    /// and KEDA installed, KEDA sets the count instead.
    #[serde(default = "one")]
    #[schemars(range(min = 0, max = 1000))]
    pub replicas: i32,
    /// Jobs each pod runs at once (its RabbitMQ prefetch). On a queue with GPUs, at most `gpus`:
    /// each job holds a GPU of its own while it runs.
    #[serde(default = "one")]
    #[schemars(range(min = 1, max = 256))]
    pub concurrency: i32,
    /// GPUs (`nvidia.com/gpu`) each pod requests. Queues with GPUs use the GPU worker image.
    #[serde(default)]
    #[schemars(range(min = 0, max = 16))]
    pub gpus: i32,
    /// CPU and memory of each pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    /// Node labels the pods must run on (for example GPU nodes).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub node_selector: BTreeMap<String, String>,
    /// Taints the pods tolerate.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tolerations: Vec<Toleration>,
    /// RuntimeClass of the pods (for example `nvidia`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_class_name: Option<String>,
    /// Seconds a stopping worker may spend finishing its running jobs before it is killed; the
    /// rest return to the queue.
    #[serde(default = "default_grace")]
    #[schemars(range(min = 0, max = 86400))]
    pub termination_grace_period_seconds: i64,
    /// Scale the queue's workers between two bounds by its depth (messages in RabbitMQ), through
    /// KEDA: the operator creates a KEDA ScaledObject and leaves the replica count to it. Needs
    /// KEDA installed (the status reports `AutoscalingUnavailable` otherwise, and the count is
    /// `replicas` held within the bounds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autoscaling: Option<Autoscaling>,
}

impl QueueSpec {
    /// A queue with default settings.
    pub fn named(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            replicas: 1,
            concurrency: 1,
            gpus: 0,
            resources: None,
            node_selector: BTreeMap::new(),
            tolerations: Vec::new(),
            runtime_class_name: None,
            termination_grace_period_seconds: default_grace(),
            autoscaling: None,
        }
    }
}

/// Replica bounds of a queue scaled by depth.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Autoscaling {
    /// Fewest pods; zero lets an idle queue (an expensive GPU queue, say) scale to nothing.
    #[serde(default)]
    #[schemars(range(min = 0, max = 1000))]
    pub min_replicas: i32,
    /// Most pods.
    #[schemars(range(min = 1, max = 1000))]
    pub max_replicas: i32,
    /// Messages in the queue (waiting or running) per worker pod: KEDA's target queue length.
    #[serde(default = "default_target_depth")]
    #[schemars(range(min = 1, max = 100000))]
    pub messages_per_replica: i32,
}

/// Who runs a backing service.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    /// The operator runs it in the namespace, with generated credentials.
    #[default]
    Managed,
    /// It runs elsewhere; `externalSecretName` holds its connection URL.
    External,
}

/// The PostgreSQL database.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.mode != 'External' || has(self.externalSecretName)").message("database.externalSecretName is required when database.mode is External"))]
pub struct DatabaseSpec {
    /// `Managed` (a StatefulSet the operator runs) or `External`.
    #[serde(default)]
    pub mode: Mode,
    /// For `External`: a Secret whose `url` key is the connection URL
    /// (`postgres://user:password@host:5432/database`). The user must be able to create
    /// plpython3u functions, as upstream Rodan's schema needs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_secret_name: Option<String>,
    /// Data volume of the managed database.
    #[serde(default)]
    pub storage: VolumeSpec,
    /// CPU and memory of the managed database.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
}

/// A backing service (RabbitMQ or Redis) run by the operator or elsewhere.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.mode != 'External' || has(self.externalSecretName)").message("externalSecretName is required when mode is External"))]
pub struct ServiceSpec {
    /// `Managed` (run by the operator) or `External`.
    #[serde(default)]
    pub mode: Mode,
    /// For `External`: a Secret whose `url` key is the connection URL (`amqp://...` for
    /// RabbitMQ, `redis://...` for Redis).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_secret_name: Option<String>,
    /// CPU and memory of the managed server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
}

/// A persistent volume claim's size and class.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct VolumeSpec {
    /// Requested size, a Kubernetes quantity (`10Gi`).
    #[serde(default = "default_db_size")]
    #[schemars(regex(pattern = r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|k|M|G|T|P)?$"))]
    pub size: String,
    /// StorageClass; empty means the cluster's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class_name: Option<String>,
}

impl Default for VolumeSpec {
    fn default() -> Self {
        Self {
            size: default_db_size(),
            storage_class_name: None,
        }
    }
}

/// The shared media volume.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct MediaStorage {
    /// Requested size, a Kubernetes quantity (`50Gi`).
    #[serde(default = "default_media_size")]
    #[schemars(regex(pattern = r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|k|M|G|T|P)?$"))]
    pub size: String,
    /// StorageClass; it must offer ReadWriteMany unless everything runs on one node.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class_name: Option<String>,
    /// Access mode of the claim. Workers, the API and nginx on several nodes need
    /// `ReadWriteMany`; `ReadWriteOnce` suits a single-node cluster.
    #[serde(default = "default_access_mode")]
    pub access_mode: AccessMode,
    /// Use this existing claim instead of creating `<name>-media`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub existing_claim: Option<String>,
    /// What happens to the database and media volumes when the `Rodan` is deleted: `Retain`
    /// keeps them (the default: they hold the users' data), `Delete` removes them with it.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,
}

impl Default for MediaStorage {
    fn default() -> Self {
        Self {
            size: default_media_size(),
            storage_class_name: None,
            access_mode: default_access_mode(),
            existing_claim: None,
            deletion_policy: DeletionPolicy::Retain,
        }
    }
}

/// Access mode of the media volume.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccessMode {
    /// Mounted read-write by pods on many nodes.
    ReadWriteMany,
    /// Mounted read-write by pods on one node.
    ReadWriteOnce,
}

/// Fate of the data volumes when the `Rodan` goes.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DeletionPolicy {
    /// Keep the volumes.
    #[default]
    Retain,
    /// Delete the volumes with the `Rodan`.
    Delete,
}

/// Publication through an Ingress.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!has(self.tlsSecretName) || has(self.host)").message("ingress.tlsSecretName needs ingress.host"))]
pub struct IngressSpec {
    /// Public host name (`rodan.example.org`). Empty matches every host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"))]
    pub host: Option<String>,
    /// IngressClass to use; empty means the cluster's default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class_name: Option<String>,
    /// Secret holding the TLS certificate for `host`; the public URL is `https` when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_secret_name: Option<String>,
    /// Extra annotations on the Ingress (for your ingress controller or cert-manager).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// Scheduled database backups.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct BackupSpec {
    /// Run backups.
    #[serde(default)]
    pub enabled: bool,
    /// When, in cron syntax (UTC).
    #[serde(default = "default_backup_schedule")]
    #[schemars(length(min = 9, max = 100))]
    pub schedule: String,
    /// Backups to keep; older ones are deleted after each new one.
    #[serde(default = "default_backup_keep")]
    #[schemars(range(min = 1, max = 1000))]
    pub keep: i32,
    /// The backup volume.
    #[serde(default)]
    pub storage: VolumeSpec,
}

/// What the operator observed and did. Written only by the operator.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RodanStatus {
    /// `Available`, `Progressing`, `Degraded` and `Paused`, each with the generation it describes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The generation of the spec this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Ready components out of all components, `6/8`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready: Option<String>,
    /// The Rodan version whose migration has run and whose API and workers are deployed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Where users reach Rodan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Ready and desired pods of each component.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub components: Vec<ComponentStatus>,
    /// Workers of each queue.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub queues: Vec<QueueStatus>,
}

/// Readiness of one component.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ComponentStatus {
    /// Component name: `api`, `web`, `client`, `postgres`, `rabbitmq`, `redis`,
    /// `worker-<queue>`.
    pub name: String,
    /// Pods ready.
    pub ready_replicas: i32,
    /// Pods wanted.
    pub desired_replicas: i32,
}

/// Workers of one queue.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct QueueStatus {
    /// Queue name.
    pub name: String,
    /// Worker pods ready.
    pub ready_workers: i32,
    /// Worker pods wanted.
    pub desired_workers: i32,
    /// Messages waiting, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub depth: Option<i64>,
    /// Why the queue has fewer ready workers than it wants, when the operator can tell. Today:
    /// `waiting for GPU nodes: <the scheduler's message>` while the scheduler finds no node
    /// with the `nvidia.com/gpu` its workers request (the `Degraded` condition then says
    /// `WaitingForGPUNodes`). Empty once the workers are ready or the queue is scaled to 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

fn one() -> i32 {
    1
}
fn yes() -> bool {
    true
}
fn default_smtp_port() -> i32 {
    587
}
fn default_grace() -> i64 {
    3600
}
fn default_target_depth() -> i32 {
    10
}
fn default_max_body() -> String {
    "700m".to_owned()
}
fn default_login_rate() -> i32 {
    10
}
fn default_service_type() -> ServiceType {
    ServiceType::ClusterIP
}
fn default_db_size() -> String {
    "10Gi".to_owned()
}
fn default_media_size() -> String {
    "50Gi".to_owned()
}
fn default_access_mode() -> AccessMode {
    AccessMode::ReadWriteMany
}
fn default_backup_schedule() -> String {
    "0 3 * * *".to_owned()
}
fn default_backup_keep() -> i32 {
    14
}

/// Upstream's three queues: `celery` and `Python3` with one worker each, and `GPU` with one GPU
/// per pod, scaled to zero until an admin gives it replicas (a cluster without GPUs still gets a
/// working Rodan).
pub fn default_workers() -> Vec<QueueSpec> {
    use rodan_types::queues;
    let mut gpu = QueueSpec::named(queues::GPU);
    gpu.replicas = 0;
    gpu.gpus = 1;
    vec![
        QueueSpec::named(queues::CELERY),
        QueueSpec::named(queues::PYTHON3),
        gpu,
    ]
}
