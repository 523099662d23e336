//! Command line and environment of the operator binary.

use std::net::SocketAddr;

use clap::{Parser, Subcommand};

/// The Rodan operator.
#[derive(Debug, Parser)]
#[command(version, about)]
pub struct Cli {
    /// What to do; `run` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Settings of `run`.
    #[command(flatten)]
    pub run: RunArgs,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the controller (the default).
    Run,
    /// Print the `Rodan` CustomResourceDefinition as YAML.
    Crd,
}

/// Settings of the controller.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Watch `Rodan` resources in this namespace only; every namespace when empty.
    #[arg(long, env = "WATCH_NAMESPACE", global = true)]
    pub namespace: Option<String>,
    /// Address of the HTTP server with `/metrics`, `/healthz` and `/readyz`.
    #[arg(
        long,
        env = rodan_types::env::METRICS_ADDRESS,
        default_value = "0.0.0.0:8080",
        global = true
    )]
    pub metrics_address: SocketAddr,
    /// Reconciles running at once.
    #[arg(long, env = "RECONCILE_CONCURRENCY", default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..), global = true)]
    pub concurrency: u16,
    /// `tracing` filter directives, e.g. `info` or `rodan_operator=debug`.
    #[arg(long, env = rodan_types::env::LOG, default_value = "info", global = true)]
    pub log: String,
    /// Log line format: `json` or `text`.
    #[arg(long, env = rodan_types::env::LOG_FORMAT, default_value_t = LogFormat::Json, global = true)]
    pub log_format: LogFormat,
}

/// Log line formats, shared by every Rodan binary.
pub use rodan_types::LogFormat;

impl RunArgs {
    /// The namespace to watch: `None` (all) when unset or empty, as the Helm chart passes
    /// `WATCH_NAMESPACE=""` to mean all namespaces.
    pub fn watched_namespace(&self) -> Option<String> {
        self.namespace.clone().filter(|ns| !ns.trim().is_empty())
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[test]
    fn settings_follow_the_subcommand_and_an_empty_namespace_means_all() {
        let cli = Cli::try_parse_from([
            "rodan-operator",
            "run",
            "--namespace",
            "",
            "--log-format",
            "text",
            "--metrics-address",
            "127.0.0.1:9000",
        ])
        .expect("valid arguments");
        assert!(matches!(cli.command, Some(Command::Run)));
        assert_eq!(cli.run.watched_namespace(), None);
        assert!(matches!(cli.run.log_format, LogFormat::Text));
        assert_eq!(cli.run.metrics_address.port(), 9000);
        let cli = Cli::try_parse_from(["rodan-operator", "--namespace", "rodan"]).expect("valid");
        assert_eq!(cli.run.watched_namespace().as_deref(), Some("rodan"));
        assert!(Cli::try_parse_from(["rodan-operator", "run", "--log-format", "xml"]).is_err());
    }
}
