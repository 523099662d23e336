use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use anyhow::Context as _;
use clap::Parser;
use rodan_operator::config::{Cli, Command, LogFormat, RunArgs};
use rodan_operator::controller::{self, Handles, Scope};
use rodan_operator::metrics::Metrics;
use tracing_subscriber::EnvFilter;

// The system allocator (glibc): with the cache compact and reconciles bounded, the heap is small
// and its RSS stayed lower than mimalloc's, idle and with 1000 Rodans (docs/benchmarks.md).
#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Crd) => {
            print!("{}", rodan_operator::crd_yaml()?);
            Ok(())
        }
        Some(Command::Run) | None => run(cli.run).await,
    }
}

async fn run(args: RunArgs) -> anyhow::Result<()> {
    let namespace = args.watched_namespace();
    let RunArgs {
        namespace: _,
        concurrency,
        metrics_address,
        log,
        log_format,
    } = args;
    let filter = EnvFilter::try_new(&log).context("invalid log filter")?;
    let subscriber = tracing_subscriber::fmt().with_env_filter(filter);
    match log_format {
        LogFormat::Json => subscriber.json().init(),
        LogFormat::Text => subscriber.init(),
    }
    let client = kube::Client::try_default()
        .await
        .context("no Kubernetes configuration found")?;
    let handles = Handles {
        ready: Arc::new(AtomicBool::new(false)),
        metrics: Arc::new(Metrics::default()),
    };
    let listener = tokio::net::TcpListener::bind(metrics_address)
        .await
        .with_context(|| format!("cannot listen on {metrics_address}"))?;
    tracing::info!(%metrics_address, namespace = namespace.as_deref().unwrap_or("*"), "starting");
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let server = axum::serve(listener, rodan_operator::http::router(handles.clone()))
        .with_graceful_shutdown({
            let mut rx = stop_rx.clone();
            async move {
                let _ = rx.wait_for(|stop| *stop).await;
            }
        });
    let server = tokio::spawn(async move { server.await });
    let shutdown = async {
        shutdown_signal().await;
        tracing::info!("shutting down");
    };
    controller::run(
        client,
        Scope {
            namespace,
            concurrency,
        },
        handles,
        shutdown,
    )
    .await;
    let _ = stop_tx.send(true);
    server
        .await
        .context("HTTP server task")?
        .context("HTTP server")?;
    Ok(())
}

/// Resolves on SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
