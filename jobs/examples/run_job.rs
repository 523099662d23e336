//! Runs one job on files from the command line, for trying a job out or timing it:
//!
//! ```text
//! cargo run --release -p rodan-jobs --example run_job -- 'Otsu Threshold' '{"Storage format": 0}' \
//!     'in:Greyscale PNG image=page.png' 'out:Onebit PNG image=page-otsu.png'
//! ```

use std::process::ExitCode;
use std::time::Instant;

use rodan_jobs::{Ports, find};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [name, settings, files @ ..] = args.as_slice() else {
        eprintln!("usage: run_job NAME SETTINGS_JSON (in|out):PORT=PATH...");
        return ExitCode::from(2);
    };
    let Some(job) = find(name) else {
        eprintln!("no job named {name:?}");
        return ExitCode::from(2);
    };
    let settings = match serde_json::from_str(settings) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("settings are not JSON: {e}");
            return ExitCode::from(2);
        }
    };
    let (mut inputs, mut outputs) = (Ports::new(), Ports::new());
    for file in files {
        let parsed = file
            .split_once(':')
            .and_then(|(side, rest)| rest.split_once('=').map(|(port, path)| (side, port, path)));
        match parsed {
            Some(("in", port, path)) => inputs = inputs.with(port, path, ""),
            Some(("out", port, path)) => outputs = outputs.with(port, path, ""),
            _ => {
                eprintln!("not (in|out):PORT=PATH: {file}");
                return ExitCode::from(2);
            }
        }
    }
    let start = Instant::now();
    match job.run(&inputs, &settings, &outputs) {
        Ok(()) => {
            eprintln!("{name}: {:.3} s", start.elapsed().as_secs_f64());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{}: {}", e.error_summary(), e.error_details());
            ExitCode::FAILURE
        }
    }
}
