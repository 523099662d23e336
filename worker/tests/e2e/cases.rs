//! The cases: a batch through the whole pipeline, cancel and retry, a worker killed mid-job, and
//! DDMAL's square-notation OMR workflow imported and run over manuscript pages (`omr.rs`).

use crate::pages;
use crate::world::{WAIT, World};
use futures::future::BoxFuture;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// A case: runs against its own world.
pub type Case = fn(World) -> BoxFuture<'static, ()>;

/// Every case, by name.
pub fn all() -> Vec<(&'static str, Case)> {
    vec![
        (
            "a_batch_of_pages_runs_greyscale_sauvola_despeckle_on_two_workers",
            |w| Box::pin(batch(w)),
        ),
        ("a_cancelled_run_stops_and_a_retry_finishes_it", |w| {
            Box::pin(cancel_and_retry(w))
        }),
        ("a_run_finishes_when_a_worker_is_killed_mid_job", |w| {
            Box::pin(kill_a_worker(w))
        }),
        (
            "the_square_notation_omr_workflow_imports_and_turns_manuscript_pages_into_mei",
            |w| Box::pin(crate::omr::square_notation(w)),
        ),
    ]
}

/// Settings that differ from the defaults, so they must travel from the workflow to the jobs.
fn settings() -> [Value; 3] {
    [
        json!({}),
        json!({"Region size": 21, "Sensitivity": 0.3}),
        json!({"Connected component size": 3}),
    ]
}

fn make_pages(count: u64, size: u32, seed: u64) -> Vec<(String, Vec<u8>)> {
    (0..count)
        .map(|i| (format!("folio-{i:03}.png"), pages::page(seed + i, size)))
        .collect()
}

/// Uploads `bytes`, builds and validates the pipeline, and starts a run over the pages.
async fn start(world: &World, bytes: &[(String, Vec<u8>)]) -> (String, Vec<Value>, [Value; 3]) {
    let (project, uploaded) = world.upload(bytes).await;
    let (workflow, entry, stored) = world.build_pipeline(&project, settings()).await;
    assert_eq!(
        stored[1]["Region size"], 21,
        "settings are kept: {}",
        stored[1]
    );
    assert_eq!(
        stored[1]["Upper bound"], 150,
        "missing settings get the schema's defaults: {}",
        stored[1]
    );
    let run = world.run(&workflow, &entry, &uploaded).await;
    (run, uploaded, stored)
}

async fn batch(world: World) {
    let bytes = make_pages(4, 360, 1);
    let started = Instant::now();
    let (run, uploaded, stored) = start(&world, &bytes).await;
    world.wait_run(&run, 4, WAIT).await;
    eprintln!("batch of 4 pages finished in {:?}", started.elapsed());
    world.check_outputs(&run, &uploaded, &bytes, &stored).await;
}

/// Waits until one of the run's jobs is PROCESSING under a lease; returns (run job, owner).
async fn first_processing(world: &World, run: &str) -> (uuid::Uuid, String) {
    let start = Instant::now();
    loop {
        let rows = world.leases(run).await;
        if let Some(job) = rows.iter().find(|j| j.status == 1 && j.owner.is_some()) {
            return (job.uuid, job.owner.clone().unwrap_or_default());
        }
        assert!(
            rows.iter().any(|j| j.status != 4),
            "every run job finished before one was seen processing; the pages are too small"
        );
        assert!(
            start.elapsed() < WAIT,
            "waited {WAIT:?} for a run job of {run} to be PROCESSING under a lease:\n{}\n{}",
            world.describe(run).await,
            world.logs()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn cancel_and_retry(world: World) {
    let bytes = make_pages(6, 480, 100);
    let (run, uploaded, stored) = start(&world, &bytes).await;
    first_processing(&world, &run).await;
    let cancelled = world.patch(&run, json!({"status": 29})).await;
    assert_eq!(cancelled["status"], 9, "{cancelled}");
    let snapshot = |jobs: Vec<Value>| -> Vec<(String, i64)> {
        let mut s: Vec<(String, i64)> = jobs
            .iter()
            .map(|j| {
                (
                    j["uuid"].as_str().unwrap_or_default().to_owned(),
                    j["status"].as_i64().unwrap_or(i64::MIN),
                )
            })
            .collect();
        s.sort();
        s
    };
    let after_cancel = snapshot(world.run_jobs(&run).await);
    assert!(
        after_cancel.iter().all(|(_, s)| *s == 4 || *s == 9),
        "every unfinished run job is cancelled: {after_cancel:?}"
    );
    let unfinished = after_cancel.iter().filter(|(_, s)| *s == 9).count();
    assert!(unfinished > 0, "the run was cancelled mid-way");
    // Longer than a heartbeat (a third of the 3 s lease): the job that was running notices the
    // cancel, and nothing else is dispatched.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(world.get(&run).await["status"], 9);
    assert_eq!(
        snapshot(world.run_jobs(&run).await),
        after_cancel,
        "a cancelled run stays as it was"
    );
    let retried = world.patch(&run, json!({"status": 31})).await;
    assert_eq!(retried["status"], 11, "{retried}");
    world.wait_run(&run, 4, WAIT).await;
    eprintln!("cancelled with {unfinished} run jobs unfinished; the retry finished them");
    world.check_outputs(&run, &uploaded, &bytes, &stored).await;
}

async fn kill_a_worker(mut world: World) {
    let bytes = make_pages(3, 1000, 200);
    let (run, uploaded, stored) = start(&world, &bytes).await;
    let (victim_job, owner) = first_processing(&world, &run).await;
    let victim = world
        .workers
        .iter()
        .position(|w| w.name == owner)
        .unwrap_or_else(|| panic!("the lease owner {owner} is one of the workers"));
    world.workers[victim]
        .child
        .start_kill()
        .expect("SIGKILL is sent");
    let exit = world.workers[victim]
        .child
        .wait()
        .await
        .expect("the killed worker is reaped");
    {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(exit.signal(), Some(9), "the worker died of SIGKILL");
    }
    let rows = world.leases(&run).await;
    let at_kill = rows
        .iter()
        .find(|j| j.uuid == victim_job)
        .expect("the victim run job exists");
    assert_eq!(
        (at_kill.status, at_kill.owner.as_deref()),
        (1, Some(owner.as_str())),
        "the job was still running under the killed worker's lease (else the pages are too small)"
    );
    // Watch the victim until it finishes, noting who holds its lease on the way.
    let survivor = world.workers[1 - victim].name.clone();
    let started = Instant::now();
    let mut owners = Vec::new();
    loop {
        let rows = world.leases(&run).await;
        let now = rows
            .iter()
            .find(|j| j.uuid == victim_job)
            .expect("the victim run job exists");
        if let Some(owner) = &now.owner
            && owners.last() != Some(owner)
        {
            owners.push(owner.clone());
        }
        if now.status == 4 {
            assert_eq!(now.attempts, 2, "the killed worker's job ran exactly twice");
            break;
        }
        assert!(
            now.status != -1 && started.elapsed() < WAIT,
            "waited {:?} for the killed worker's job to finish elsewhere (owners so far {owners:?}):\n{}\n{}",
            started.elapsed(),
            world.describe(&run).await,
            world.logs()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(
        owners,
        [owner.clone(), survivor],
        "the job's lease went from the killed worker to the survivor"
    );
    world.wait_run(&run, 4, WAIT).await;
    eprintln!(
        "killed {owner} mid-job; the run finished {:?} later",
        started.elapsed()
    );
    let rows = world.leases(&run).await;
    assert!(
        rows.iter()
            .filter(|j| j.uuid != victim_job)
            .all(|j| j.attempts == 1),
        "no other job ran twice: {rows:?}"
    );
    world.check_outputs(&run, &uploaded, &bytes, &stored).await;
}
