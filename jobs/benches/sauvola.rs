//! Sauvola on a synthetic 3000x4000 greyscale page: pages per second with every core and with one.
//!
//! `cargo bench -p rodan-jobs --bench sauvola -- [--runs N] [--out DIR]`; with `--out` it also
//! writes the page (`page.png`), our result (`ours.png`) and the figures (`ours.json`) for
//! `scripts/bench-sauvola.sh`, which times Gamera and scikit-image on the same page.

#[path = "../tests/gamera_adaptive/page.rs"]
mod page;

use std::path::PathBuf;
use std::time::Instant;

use rodan_jobs::adaptive::{AdaptiveError, SauvolaParams, sauvola_threshold};

const WIDTH: u32 = 3000;
const HEIGHT: u32 = 4000;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut runs = 20usize;
    let mut out: Option<PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--runs" => runs = args.next().ok_or("--runs needs a number")?.parse()?,
            "--out" => out = Some(args.next().ok_or("--out needs a folder")?.into()),
            // cargo bench passes --bench; libtest's other flags mean nothing here.
            _ => {}
        }
    }
    let page = page::synthetic_page(WIDTH, HEIGHT, 42);
    // Gamera's defaults send paper (>= 150) and deep ink (< 20) straight to white and black;
    // without the bounds every pixel goes through the window formula, the worst case.
    let configs = [
        ("default", SauvolaParams::default()),
        (
            "no bounds",
            SauvolaParams {
                lower_bound: 0,
                upper_bound: 256,
                ..SauvolaParams::default()
            },
        ),
    ];
    let all = rayon::current_num_threads();
    let mut figures = Vec::new();
    let mut result = None;
    for (config, params) in configs {
        for threads in [all, 1] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()?;
            let seconds = pool.install(|| -> Result<f64, AdaptiveError> {
                let first = sauvola_threshold(&page, &params)?;
                if config == "default" {
                    result = Some(first);
                }
                let start = Instant::now();
                for _ in 0..runs {
                    std::hint::black_box(sauvola_threshold(std::hint::black_box(&page), &params)?);
                }
                Ok(start.elapsed().as_secs_f64() / runs as f64)
            })?;
            println!(
                "ours, {config}, {threads} thread(s): {:.1} ms/page, {:.2} pages/s ({runs} runs, {WIDTH}x{HEIGHT})",
                seconds * 1e3,
                1.0 / seconds
            );
            figures.push(format!(
                r#"{{"config": "{config}", "threads": {threads}, "seconds": {seconds}, "runs": {runs}}}"#
            ));
        }
    }
    if let (Some(dir), Some(result)) = (out, result) {
        std::fs::create_dir_all(&dir)?;
        page.save(dir.join("page.png"))?;
        result.save(dir.join("ours.png"))?;
        std::fs::write(dir.join("ours.json"), format!("[{}]\n", figures.join(", ")))?;
    }
    Ok(())
}
