//! Rodan's job worker: consumes job queues, claims run jobs in PostgreSQL under a lease, runs
//! the jobs of rodan-jobs, commits their outputs, and dispatches what became runnable. The same
//! binary runs one job on local files (`run-job`).

pub(crate) mod batch;
pub mod config;
pub(crate) mod consumer;
pub(crate) mod context;
pub mod core;
mod error;
pub mod execute;
pub mod local;
pub mod metrics;
pub(crate) mod notify;
pub mod package;
pub mod reaper;
pub(crate) mod registry;
pub mod resource;
pub(crate) mod run_job;
pub mod runtime;
pub(crate) mod settle;
pub mod store;

use clap::{Parser, Subcommand};
use rodan_types::LogFormat;
use std::process::ExitCode;

pub use config::Config;
pub use error::error_chain;
pub use runtime::{Worker, WorkerError};

/// The command line: `serve` (the default) or `run-job`.
#[derive(Debug, Parser)]
#[command(name = "rodan-worker", version, about = "Rodan's job worker")]
pub struct Cli {
    /// What to do; `serve` when left out.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Worker settings, when no subcommand is given.
    #[command(flatten)]
    pub config: Config,
    /// Log line format: `json` or `text`.
    #[arg(long, global = true, env = rodan_types::env::LOG_FORMAT, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Consume the configured queues until SIGTERM.
    Serve(Box<Config>),
    /// Run one job by name on local files, with no broker or database.
    RunJob(local::RunJobArgs),
}

/// Runs the parsed command line and returns the process's exit status.
pub fn main(cli: Cli) -> ExitCode {
    init_tracing(cli.log_format);
    match cli.command {
        Some(Command::RunJob(args)) => match local::run_job(&args, &rodan_jobs::catalogue()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("rodan-worker: {}", error_chain(&error));
                ExitCode::from(1)
            }
        },
        Some(Command::Serve(config)) => serve(*config),
        None => serve(cli.config),
    }
}

fn serve(config: Config) -> ExitCode {
    // One thread for the worker's own work (consuming, statements, events, heartbeats, metrics):
    // jobs run on the blocking pool, so the async side is light, and on one thread it avoids the
    // cross-thread wake-ups of a multi-threaded runtime, about 12% of the no-op job rate on the
    // dispatch benchmark (docs/benchmarks.md).
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("rodan-worker: failed to start the async runtime: {error}");
            return ExitCode::from(1);
        }
    };
    let result = runtime.block_on(async move {
        // The handler is in place before the worker waits for its services: as PID 1 of its
        // container the process would otherwise ignore SIGTERM until its grace period ended.
        let mut signal = tokio::spawn(wait_for_signal());
        let worker = tokio::select! {
            worker = Worker::start(config, rodan_jobs::catalogue()) => worker?,
            _ = &mut signal => {
                tracing::info!("signal received while starting; stopping");
                return Ok(());
            }
        };
        let shutdown = worker.shutdown_token();
        tokio::spawn(async move {
            let _ = signal.await;
            tracing::info!("signal received; stopping");
            shutdown.cancel();
        });
        worker.wait().await
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = %error_chain(&error), "worker stopped");
            ExitCode::from(1)
        }
    }
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env(rodan_types::env::LOG)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colours only on a terminal: `kubectl logs` shows escape codes as they are.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent_and_serves_by_default() {
        Cli::command().debug_assert();
        let cli = Cli::try_parse_from([
            "rodan-worker",
            "--queues",
            "celery,GPU",
            "--concurrency",
            "4",
        ])
        .expect("flags parse");
        assert!(cli.command.is_none());
        assert_eq!(cli.config.queues, ["celery", "GPU"]);
        assert_eq!(cli.config.concurrency, 4);
        assert_eq!(cli.log_format, LogFormat::Text);
        // The names every binary shares, and the older flag name.
        let cli = Cli::try_parse_from([
            "rodan-worker",
            "--log-format",
            "json",
            "--metrics-address",
            "127.0.0.1:9101",
        ])
        .expect("shared flags parse");
        assert_eq!(cli.log_format, LogFormat::Json);
        assert_eq!(cli.config.metrics_addr, Some(([127, 0, 0, 1], 9101).into()));
        let cli = Cli::try_parse_from(["rodan-worker", "--metrics-addr", "127.0.0.1:9102"])
            .expect("the older flag parses");
        assert_eq!(cli.config.metrics_addr, Some(([127, 0, 0, 1], 9102).into()));
        assert!(Cli::try_parse_from(["rodan-worker", "--log-format", "xml"]).is_err());
        let cli = Cli::try_parse_from([
            "rodan-worker",
            "run-job",
            "Invert",
            "--input",
            "PNG image=a.png",
            "--output",
            "PNG image=b.png",
        ])
        .expect("run-job parses");
        match cli.command {
            Some(Command::RunJob(args)) => {
                assert_eq!(args.name, "Invert");
                assert_eq!(args.inputs, ["PNG image=a.png"]);
                assert_eq!(args.settings, "{}");
            }
            other => panic!("expected run-job, got {other:?}"),
        }
    }

    #[test]
    fn error_chains_show_every_cause() {
        let error = local::LocalError::Settings(
            serde_json::from_str::<serde_json::Value>("{").expect_err("not JSON"),
        );
        let text = error_chain(&error);
        assert!(
            text.starts_with("failed to parse the settings: EOF"),
            "{text}"
        );
    }
}
