//! `rodan-api-server`: `migrate` and `serve`.

use clap::Parser;

fn main() -> anyhow::Result<()> {
    let cli = rodan_api_server::config::Cli::parse();
    let mut runtime = tokio::runtime::Builder::new_multi_thread();
    if cli.threads > 0 {
        runtime.worker_threads(cli.threads);
    }
    runtime
        .enable_all()
        .build()?
        .block_on(rodan_api_server::run(cli))
}
