//! The `rodan-worker` binary: parses the command line and hands over to the library.

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = rodan_worker::Cli::parse();
    rodan_worker::main(cli)
}
