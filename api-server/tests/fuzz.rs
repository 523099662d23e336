//! The API under a property-based fuzzer: schemathesis (PyPI; `scripts/build-schemathesis.sh`)
//! reads `GET /api/openapi.json` from a server on real PostgreSQL, RabbitMQ and Redis and sends
//! generated requests, valid and invalid, to every operation the document describes, as the
//! admin. The run is bounded in examples per operation and in time, its seed is fixed, and it
//! fails on any 5xx and on any answer the document does not promise: an undocumented status
//! code, content type or body shape. It prints the counts (operations, requests, failures) and leaves the
//! schemathesis report in `target/api-fuzz/`.
//!
//! Needs `RODAN_SCHEMATHESIS_PYTHON` (the venv's python, which `scripts/test.sh` exports);
//! without it the test says so and passes nothing off as run.

#![allow(unreachable_pub, dead_code)]

#[path = "api/ctx.rs"]
mod ctx;

use reqwest::Method;
use serde_json::Value;
use std::path::PathBuf;
use std::process::Command;

/// Examples per operation and phase, and the run's time budget.
const MAX_EXAMPLES: &str = "40";
const MAX_SECONDS: &str = "300";
const SEED: &str = "20261206";
/// What each response must satisfy: no 5xx, and the status code, content type and body the
/// document promises for that operation.
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance";

fn main() {
    let Ok(python) = std::env::var("RODAN_SCHEMATHESIS_PYTHON") else {
        eprintln!(
            "api fuzz: skipped, RODAN_SCHEMATHESIS_PYTHON is not set (scripts/test.sh sets it)"
        );
        return;
    };
    let services = rodan_testkit::Services::start();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let ctx = runtime.block_on(ctx::Ctx::new(&services, 0));
    // The fuzzer asks for password resets and registrations by the thousand: nothing may leave
    // as mail (each is logged instead), and no one but the admin registers.
    assert!(!ctx.state.accounts.mailer.sends() && !ctx.state.accounts.self_registration);
    runtime.block_on(seed(&ctx));

    let report = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/api-fuzz");
    let _ = std::fs::remove_dir_all(&report);
    std::fs::create_dir_all(&report).expect("the report folder");
    let schema = format!("{}/api/openapi.json", ctx.root);
    let mut fuzz = Command::new(&python);
    fuzz.args(["-m", "schemathesis.cli", "run", &schema])
        .args(["--header", &format!("Authorization: Token {}", ctx.admin)])
        .args(["--checks", CHECKS])
        // It would end the admin's token, and every later request would be a 401.
        .args(["--exclude-path", "/api/auth/reset-token/"])
        .args(["--phases", "examples,coverage,fuzzing"])
        .args(["--max-examples", MAX_EXAMPLES, "--max-time", MAX_SECONDS])
        .args(["--seed", SEED, "--workers", "2", "--request-timeout", "30"])
        .args(["--suppress-health-check", "all", "--no-color"])
        .args(["--report", "junit,ndjson", "--report-dir"])
        .arg(&report)
        .env("SCHEMATHESIS_HOOKS", "")
        .current_dir(&report);
    // The fuzzer runs in its own thread of the OS while the server keeps running on the runtime.
    let output = runtime.block_on(async {
        tokio::task::spawn_blocking(move || fuzz.output())
            .await
            .expect("the fuzzer thread")
    });
    let output = output.expect("schemathesis starts");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let (operations, requests, failures) = counts(&report);
    println!("{stdout}");
    eprintln!("{stderr}");
    println!(
        "api fuzz: {operations} operations, {requests} requests, {failures} failing operations \
         (schemathesis exit {:?}, report in {})",
        output.status.code(),
        report.display()
    );
    assert!(
        operations > 50,
        "the document describes the API's operations"
    );
    assert!(
        output.status.success() && failures == 0,
        "schemathesis found responses that break its checks; see above and {}",
        report.display()
    );
    drop(ctx);
    drop(services);
}

/// The job library registered, and a project with a workflow in it, so lists and filters have
/// rows to return.
async fn seed(ctx: &ctx::Ctx) {
    let jobs: Vec<_> = rodan_jobs::catalogue()
        .into_iter()
        .map(|job| job.descriptor())
        .collect();
    rodan_db::catalogue::register_jobs(&ctx.state.pool, &jobs)
        .await
        .expect("the job library registers");
    let project = ctx
        .ok(
            Method::POST,
            "/api/projects/",
            &ctx.admin,
            Some(serde_json::json!({"name": "fuzzed"})),
            201,
        )
        .await;
    let project = project["url"].as_str().expect("a project url").to_owned();
    let export: Value = serde_json::from_str(
        &std::fs::read_to_string(
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../examples/workflows/binarise-pages.json"),
        )
        .expect("the example workflow"),
    )
    .expect("JSON");
    let mut import = serde_json::Map::new();
    import.insert("project".into(), Value::String(project));
    import.insert("serialized".into(), export);
    import.insert("name".into(), Value::String("fuzzed workflow".into()));
    let (status, body) = ctx
        .call(
            Method::POST,
            "/api/workflows/",
            Some(&ctx.admin),
            Some(Value::Object(import)),
        )
        .await;
    assert!(status.is_success(), "the example workflow imports: {body}");
}

/// (operations, requests, failing operations) from the report: operations and failures from the
/// JUnit file, requests from the ndjson event stream's recorded interactions.
fn counts(report: &std::path::Path) -> (usize, usize, usize) {
    let mut operations = 0;
    let mut failures = 0;
    let mut requests = 0;
    for entry in std::fs::read_dir(report).into_iter().flatten().flatten() {
        let path = entry.path();
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        match path.extension().and_then(|e| e.to_str()) {
            Some("xml") => {
                operations += text.matches("<testcase ").count();
                failures += text.matches("<failure").count() + text.matches("<error").count();
            }
            Some("ndjson") => {
                requests += text.matches("\"request\":").count();
            }
            _ => {}
        }
    }
    (operations, requests, failures)
}
