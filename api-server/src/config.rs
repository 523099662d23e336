//! Command line and environment: the wiring contract of `rodan-types` (`DATABASE_URL`,
//! `RABBITMQ_URL`, `REDIS_URL`, `RODAN_MEDIA_ROOT`, upstream's `ADMIN_*`).

use clap::{Parser, Subcommand};
use rodan_types::{LogFormat, env};
use std::net::SocketAddr;
use std::path::PathBuf;

/// Rodan's REST API server.
#[derive(Debug, Parser)]
#[command(version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Log line format: `json` or `text` (`RODAN_LOG_JSON=true`, the older setting, means
    /// `json`).
    #[arg(
        long,
        global = true,
        env = env::LOG_FORMAT,
        default_value = log_format_default()
    )]
    pub log_format: LogFormat,
    /// The older `--log-json`: `--log-format json`.
    #[arg(long, global = true, hide = true)]
    pub log_json: bool,
    /// Runtime worker threads (0: one per CPU).
    #[arg(long, global = true, env = "RODAN_API_THREADS", default_value_t = 0)]
    pub threads: usize,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply the database migrations and register the built-in resource types, then create the
    /// admin user from ADMIN_USER/ADMIN_EMAIL/ADMIN_PASS when given and missing. Safe to run again.
    Migrate(MigrateArgs),
    /// Serve the API.
    Serve(Box<ServeArgs>),
}

/// Database and bootstrap settings.
#[derive(Debug, clap::Args)]
pub struct MigrateArgs {
    /// PostgreSQL URL.
    #[arg(long, env = env::DATABASE_URL, hide_env_values = true)]
    pub database_url: String,
    /// Superuser to create when neither this name nor ADMIN_EMAIL exists (upstream's ADMIN_USER).
    #[arg(long, env = env::ADMIN_USER)]
    pub admin_user: Option<String>,
    /// E-mail of that superuser.
    #[arg(long, env = env::ADMIN_EMAIL)]
    pub admin_email: Option<String>,
    /// Password of that superuser.
    #[arg(long, env = env::ADMIN_PASS, hide_env_values = true)]
    pub admin_pass: Option<String>,
}

/// Everything `serve` needs.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = env::API_LISTEN, default_value = "0.0.0.0:8000")]
    pub listen: SocketAddr,
    /// PostgreSQL URL.
    #[arg(long, env = env::DATABASE_URL, hide_env_values = true)]
    pub database_url: String,
    /// Connections in the database pool.
    #[arg(long, env = "RODAN_DATABASE_POOL", default_value_t = 16)]
    pub database_pool: u32,
    /// RabbitMQ URL, where runs are dispatched.
    #[arg(long, env = env::RABBITMQ_URL, hide_env_values = true)]
    pub rabbitmq_url: String,
    /// Redis URL, for model events and the websocket.
    #[arg(long, env = env::REDIS_URL, hide_env_values = true)]
    pub redis_url: String,
    /// Root of the media volume.
    #[arg(long, env = env::MEDIA_ROOT, default_value = rodan_types::MEDIA_ROOT)]
    pub media_root: PathBuf,
    /// Serve media files directly instead of answering with `X-Accel-Redirect` for nginx (for
    /// running without nginx).
    #[arg(long, env = "RODAN_SERVE_MEDIA")]
    pub serve_media: bool,
    /// Version reported by `GET /api/`.
    #[arg(long, env = env::VERSION, default_value = env!("CARGO_PKG_VERSION"))]
    pub version: String,
    /// The queue of core tasks: uploads' type detection and results packages.
    #[arg(long, env = env::CORE_QUEUE, default_value = rodan_types::queues::CELERY)]
    pub core_queue: String,
    /// Largest accepted upload, in MiB (upstream's nginx allows 700; the operator sets it from
    /// `web.clientMaxBodySize`; 0: no limit). Larger uploads get 413 before their body is read.
    #[arg(long, env = env::MAX_UPLOAD_MIB, default_value_t = 700)]
    pub max_upload_mib: usize,
    /// Largest accepted JSON or form body, in MiB (workflow imports are the largest); larger
    /// ones get 413.
    #[arg(long, env = "RODAN_MAX_JSON_MIB", default_value_t = 10)]
    pub max_json_mib: usize,
    /// How long a request waits for a database connection, in milliseconds, before it is
    /// answered 503 with `Retry-After` (the database is down or every connection is busy).
    #[arg(
        long,
        env = "RODAN_DATABASE_ACQUIRE_TIMEOUT_MS",
        default_value_t = 2000
    )]
    pub database_acquire_timeout_ms: u64,
    /// Seconds between sweeps for runs whose runnable jobs were not dispatched (RabbitMQ was
    /// down when they became runnable); a failed dispatch also starts one.
    #[arg(long, env = "RODAN_REDISPATCH_SECONDS", default_value_t = 10)]
    pub redispatch_seconds: u64,
    /// How long an acquired interactive run job stays locked to its working user, in seconds
    /// (upstream's setting and default).
    #[arg(
        long,
        env = "RODAN_RUNJOB_WORKING_USER_EXPIRY_SECONDS",
        default_value_t = rodan_core::interactive::WORKING_USER_EXPIRY_SECONDS
    )]
    pub working_user_expiry_seconds: u64,
    /// Origins whose pages may call the API from the browser (CORS, credentials allowed): a web
    /// client served elsewhere, `scheme://host[:port]`, comma separated. Empty: no CORS headers.
    /// These origins may open the websocket too.
    #[arg(
        long,
        env = "CORS_ALLOWED_ORIGINS",
        value_delimiter = ',',
        num_args = 0..
    )]
    pub cors_allowed_origins: Vec<String>,
    /// Login throttling, trusted proxies, allowed origins, HTTPS.
    #[command(flatten)]
    pub security: crate::security::SecurityArgs,
    /// Self-registration, the signing key of e-mailed links, SMTP.
    #[command(flatten)]
    pub accounts: crate::accounts::AccountArgs,
}

/// `json` when the older `RODAN_LOG_JSON` is true, else `text`.
fn log_format_default() -> &'static str {
    let legacy = rodan_types::legacy_default("RODAN_LOG_JSON", "false");
    if ["true", "1", "yes", "on"]
        .iter()
        .any(|t| legacy.eq_ignore_ascii_case(t))
    {
        "json"
    } else {
        "text"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `--log-format json|text` as in the operator and the worker; the older `--log-json` too.
    #[test]
    fn the_log_format_flag_is_shared_and_the_older_one_works() {
        let parse = |args: &[&str]| {
            let mut all = vec!["rodan-api-server"];
            all.extend_from_slice(args);
            all.extend(["migrate", "--database-url", "postgres://db/rodan"]);
            Cli::try_parse_from(all)
        };
        let cli = parse(&["--log-format", "json"]).expect("parses");
        assert_eq!(cli.log_format, LogFormat::Json);
        let cli = parse(&["--log-format", "text"]).expect("parses");
        assert_eq!(cli.log_format, LogFormat::Text);
        assert!(!cli.log_json);
        let cli = parse(&["--log-json"]).expect("the older flag parses");
        assert!(cli.log_json);
        assert!(parse(&["--log-format", "xml"]).is_err());
    }
}
