//! The wiring contract of a Rodan deployment: the one place that says how the pieces find each
//! other. The operator renders these names, ports and environment variables into the objects it
//! creates; the API server and the worker read exactly these variables. Change a value here and
//! every side changes with it.
//!
//! Every component receives its connection settings as whole URLs (`DATABASE_URL`,
//! `RABBITMQ_URL`, `REDIS_URL`), taken from a Secret key named [`secret_keys::URL`]. That keeps
//! managed and external backing services identical to the consumers: an external database is just
//! a Secret with a `url` key.

/// Where the shared media volume (upstream's `MEDIA_ROOT`, `/rodan/data`) is mounted in the API,
/// the workers and nginx. Resource files, run outputs and results packages live below it.
pub const MEDIA_ROOT: &str = "/rodan/data";

/// nginx's internal location for media files. The API server authorises a download, then answers
/// with `X-Accel-Redirect: {MEDIA_ACCEL_PREFIX}<path below MEDIA_ROOT>`, and nginx sends the file.
/// Clients can never request this location directly.
pub const MEDIA_ACCEL_PREFIX: &str = "/_media/";

/// The Content-Security-Policy of an interactive job's page and files
/// (`/api/interactive/<run job>/<token>/...`): its own scripts, styles and images (glyphs come as
/// `data:` URLs), its own calls, nothing else. The API server sends it with the page, and nginx,
/// which replaces every other answer's policy with one that loads nothing, sends it for that path.
pub const INTERACTIVE_PAGE_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
    img-src 'self' data:; connect-src 'self'; font-src 'self'; frame-ancestors 'self'; \
    base-uri 'none'; form-action 'self'";

/// TCP ports of the Rodan services, in-cluster.
pub mod ports {
    /// The API server's HTTP port (REST API, websocket, health).
    pub const API: u16 = 8000;
    /// nginx's HTTP port. Unprivileged, so nginx runs as a non-root user.
    pub const WEB: u16 = 8080;
    /// PostgreSQL.
    pub const POSTGRES: u16 = 5432;
    /// RabbitMQ AMQP 0-9-1.
    pub const AMQP: u16 = 5672;
    /// RabbitMQ management HTTP API (queue depth).
    pub const RABBITMQ_MANAGEMENT: u16 = 15672;
    /// Redis.
    pub const REDIS: u16 = 6379;
    /// The worker's metrics and health port.
    pub const WORKER_METRICS: u16 = 9100;
}

/// Environment variables read by the API server and the worker.
pub mod env {
    /// PostgreSQL connection URL, `postgres://user:password@host:port/database`.
    pub const DATABASE_URL: &str = "DATABASE_URL";
    /// RabbitMQ connection URL, `amqp://user:password@host:port/%2f`.
    pub const RABBITMQ_URL: &str = "RABBITMQ_URL";
    /// Redis connection URL, `redis://:password@host:port/0`.
    pub const REDIS_URL: &str = "REDIS_URL";
    /// Root of the shared media volume; always [`super::MEDIA_ROOT`] in pods the operator makes.
    pub const MEDIA_ROOT: &str = "RODAN_MEDIA_ROOT";
    /// Secret used to sign tokens and sessions.
    pub const SECRET_KEY: &str = "RODAN_SECRET_KEY";
    /// The public base URL of this Rodan (`https://rodan.example.org`), for absolute links.
    pub const PUBLIC_URL: &str = "RODAN_PUBLIC_URL";
    /// Address the API server listens on, `0.0.0.0:8000`.
    pub const API_LISTEN: &str = "RODAN_API_LISTEN";
    /// Largest upload the API server accepts, in MiB (0: no limit); the operator sets it from
    /// the nginx `client_max_body_size` in front of it, so both refuse the same uploads.
    pub const MAX_UPLOAD_MIB: &str = "RODAN_MAX_UPLOAD_MIB";
    /// Superuser created at start when missing (upstream's names).
    pub const ADMIN_USER: &str = "ADMIN_USER";
    /// E-mail of the bootstrap superuser.
    pub const ADMIN_EMAIL: &str = "ADMIN_EMAIL";
    /// Password of the bootstrap superuser.
    pub const ADMIN_PASS: &str = "ADMIN_PASS";
    /// Comma-separated queues a worker consumes (upstream's `CELERY_JOB_QUEUE`).
    pub const WORKER_QUEUES: &str = "CELERY_JOB_QUEUE";
    /// The queue of core tasks (uploads' type detection, results packages): `celery`, as upstream,
    /// unless set. The API server publishes them there; workers consuming it also re-publish
    /// uploads whose message was lost.
    pub const CORE_QUEUE: &str = "RODAN_CORE_QUEUE";
    /// A worker's unique name (its lease owner id); the operator gives each pod its pod name.
    pub const WORKER_NAME: &str = "RODAN_WORKER_NAME";
    /// Seconds a stopping worker lets running jobs finish before handing them back to the queue.
    pub const WORKER_GRACE_SECONDS: &str = "RODAN_WORKER_GRACE_SECONDS";
    /// How many jobs a worker runs at once (and its RabbitMQ prefetch).
    pub const WORKER_CONCURRENCY: &str = "RODAN_WORKER_CONCURRENCY";
    /// The Rodan version the pod runs; the migration Job and the API compare schema versions to it.
    pub const VERSION: &str = "RODAN_VERSION";
    /// `tracing` filter directive, e.g. `info` or `rodan_worker=debug`.
    pub const LOG: &str = "RUST_LOG";
    /// Log line format of every binary, `json` or `text` ([`super::LogFormat`]); the flag is
    /// `--log-format`.
    pub const LOG_FORMAT: &str = "LOG_FORMAT";
    /// Address of the HTTP server with `/metrics` and `/healthz` of the operator and the
    /// worker; the flag is `--metrics-address`.
    pub const METRICS_ADDRESS: &str = "METRICS_ADDRESS";
}

/// Log line formats, `--log-format json|text` ([`env::LOG_FORMAT`]) in every binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line.
    Json,
    /// Human-readable text.
    Text,
}

impl std::str::FromStr for LogFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "json" => Ok(Self::Json),
            "text" => Ok(Self::Text),
            _ => Err(format!("`{s}` is not a log format: json or text")),
        }
    }
}

impl std::fmt::Display for LogFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Json => "json",
            Self::Text => "text",
        })
    }
}

/// A default read from an older environment variable that a newer one replaced: the value of
/// `legacy` when it is set, else `fallback`. For a clap `default_value`, so that the new
/// variable and the flag still win over the old name.
pub fn legacy_default(legacy: &str, fallback: &'static str) -> &'static str {
    match std::env::var(legacy) {
        Ok(value) if !value.is_empty() => Box::leak(value.into_boxed_str()),
        _ => fallback,
    }
}

/// Keys of the Secrets that carry credentials. Generated Secrets and the external Secrets an
/// admin references use the same keys.
pub mod secret_keys {
    /// A whole connection URL (database, broker or cache).
    pub const URL: &str = "url";
    /// A user name.
    pub const USERNAME: &str = "username";
    /// A password.
    pub const PASSWORD: &str = "password";
    /// The database name.
    pub const DATABASE: &str = "database";
    /// The application signing key.
    pub const SECRET_KEY: &str = "secret-key";
    /// Bootstrap superuser name.
    pub const ADMIN_USER: &str = "admin-user";
    /// Bootstrap superuser e-mail.
    pub const ADMIN_EMAIL: &str = "admin-email";
    /// Bootstrap superuser password.
    pub const ADMIN_PASSWORD: &str = "admin-password";
}

/// Upstream's queue names (`celery`, `Python3`, `GPU`): jobs declare one, workers consume some.
pub mod queues {
    /// Core tasks and CPU jobs.
    pub const CELERY: &str = "celery";
    /// Image and music-encoding jobs.
    pub const PYTHON3: &str = "Python3";
    /// Jobs that need a GPU.
    pub const GPU: &str = "GPU";
    /// The default queues of a new Rodan, in order.
    pub const DEFAULT: [&str; 3] = [CELERY, PYTHON3, GPU];
}

/// Names of the in-cluster Services of the Rodan instance called `instance`. Connection URLs are
/// built from these, so the API server and the worker never guess a host name.
pub mod services {
    /// The API server Service.
    pub fn api(instance: &str) -> String {
        format!("{instance}-api")
    }
    /// The nginx Service: the public entry point.
    pub fn web(instance: &str) -> String {
        format!("{instance}-web")
    }
    /// The managed PostgreSQL Service.
    pub fn postgres(instance: &str) -> String {
        format!("{instance}-postgres")
    }
    /// The managed RabbitMQ Service.
    pub fn rabbitmq(instance: &str) -> String {
        format!("{instance}-rabbitmq")
    }
    /// The managed Redis Service.
    pub fn redis(instance: &str) -> String {
        format!("{instance}-redis")
    }
}

/// Connection URL of a PostgreSQL database.
pub fn postgres_url(host: &str, user: &str, password: &str, database: &str) -> String {
    format!(
        "postgres://{user}:{password}@{host}:{}/{database}",
        ports::POSTGRES
    )
}

/// Connection URL of a RabbitMQ broker, default vhost.
pub fn amqp_url(host: &str, user: &str, password: &str) -> String {
    format!("amqp://{user}:{password}@{host}:{}/%2f", ports::AMQP)
}

/// Connection URL of a Redis server, database 0.
pub fn redis_url(host: &str, password: &str) -> String {
    format!("redis://:{password}@{host}:{}/0", ports::REDIS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_formats_read_and_print_the_same() {
        for format in [LogFormat::Json, LogFormat::Text] {
            assert_eq!(format.to_string().parse::<LogFormat>(), Ok(format));
        }
        assert_eq!("JSON".parse::<LogFormat>(), Ok(LogFormat::Json));
        assert!("xml".parse::<LogFormat>().is_err());
    }

    #[test]
    fn urls_name_the_service_and_port() {
        assert_eq!(
            postgres_url(&services::postgres("x"), "rodan", "pw", "rodan"),
            "postgres://rodan:pw@x-postgres:5432/rodan"
        );
        assert_eq!(
            amqp_url(&services::rabbitmq("x"), "rodan", "pw"),
            "amqp://rodan:pw@x-rabbitmq:5672/%2f"
        );
        assert_eq!(
            redis_url(&services::redis("x"), "pw"),
            "redis://:pw@x-redis:6379/0"
        );
    }
}
