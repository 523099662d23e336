//! Command line and environment of the operator binary.

use std::net::SocketAddr;

use clap::{Parser, Subcommand, ValueEnum};

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
    #[arg(long, env = "WATCH_NAMESPACE")]
    pub namespace: Option<String>,
    /// Address of the HTTP server with `/metrics`, `/healthz` and `/readyz`.
    #[arg(long, env = "METRICS_ADDRESS", default_value = "0.0.0.0:8080")]
    pub metrics_address: SocketAddr,
    /// `tracing` filter directives, e.g. `info` or `rodan_operator=debug`.
    #[arg(long, env = "RUST_LOG", default_value = "info")]
    pub log: String,
    /// Log line format.
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value_t = LogFormat::Json)]
    pub log_format: LogFormat,
}

/// Log line formats.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    /// One JSON object per line.
    Json,
    /// Human-readable text.
    Text,
}
