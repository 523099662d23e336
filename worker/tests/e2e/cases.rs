//! The cases: a batch through the whole pipeline, cancel and retry, a worker killed mid-job, and
//! DDMAL's square-notation OMR workflow imported and run over manuscript pages (`omr.rs`).

use crate::pages;
use crate::world::{WAIT, World, tail};
use rodan_testkit::suite::Case;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// A case: runs against its own world.
/// Every case, by name.
pub fn all() -> Vec<Case<World>> {
    vec![
        Case {
            name: "a_batch_of_pages_runs_greyscale_sauvola_despeckle_on_two_workers",
            run: |w| Box::pin(batch(w)),
        },
        Case {
            name: "a_cancelled_run_stops_and_a_retry_finishes_it",
            run: |w| Box::pin(cancel_and_retry(w)),
        },
        Case {
            name: "a_run_finishes_when_a_worker_is_killed_mid_job",
            run: |w| Box::pin(kill_a_worker(w)),
        },
        Case {
            name: "the_square_notation_omr_workflow_imports_and_turns_manuscript_pages_into_mei",
            run: |w| Box::pin(crate::omr::square_notation(w)),
        },
        Case {
            name: "ddmals_gpu_exports_train_and_classify_on_a_worker_of_the_gpu_queue_alone",
            run: |w| Box::pin(crate::gpu::trainer_and_classifier_on_the_gpu_queue(w)),
        },
        Case {
            name: "interactive_classifier_waits_for_a_person_who_classifies_glyphs_and_the_run_finishes",
            run: |w| Box::pin(crate::interactive::classify_by_hand(w)),
        },
        Case {
            name: "interactive_an_expired_lock_is_taken_by_another_user_and_a_waiting_run_is_cancelled",
            run: |w| Box::pin(crate::interactive::expired_lock_and_cancel(w)),
        },
        Case {
            name: "a_runs_creator_is_told_by_mail_when_a_job_waits_and_when_the_run_finishes_or_fails",
            run: |w| Box::pin(crate::notify::notices_by_mail(w)),
        },
        Case {
            name: "biollante_waits_optimises_a_classifier_with_a_small_ga_and_writes_its_settings",
            run: |w| Box::pin(crate::interactive::optimise_by_hand(w)),
        },
    ]
}

/// A case with services of its own, which it takes down and brings back.
/// The outage cases, by name.
pub fn outages() -> Vec<Case<Outage>> {
    vec![
        Case {
            name: "a_run_finishes_each_job_once_when_rabbitmq_goes_down_mid_run_and_comes_back",
            run: |o| Box::pin(outage(o, Service::RabbitMq)),
        },
        Case {
            name: "a_run_finishes_each_job_once_when_postgresql_goes_down_mid_run_and_comes_back",
            run: |o| Box::pin(outage(o, Service::Postgres)),
        },
        Case {
            name: "a_run_finishes_each_job_once_when_redis_goes_down_mid_run_and_comes_back",
            run: |o| Box::pin(outage(o, Service::Redis)),
        },
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

/// A run of the pipeline over uploaded pages.
struct Started {
    /// The run's URL.
    run: String,
    /// The uploaded pages' resources.
    uploaded: Vec<Value>,
    /// Each workflow job's stored settings.
    stored: [Value; 3],
}

/// Uploads `bytes`, builds and validates the pipeline, and starts a run over the pages.
async fn start(world: &World, bytes: &[(String, Vec<u8>)]) -> Started {
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
    Started {
        run,
        uploaded,
        stored,
    }
}

async fn batch(world: World) {
    let bytes = make_pages(4, 360, 1);
    let started = Instant::now();
    let Started {
        run,
        uploaded,
        stored,
    } = start(&world, &bytes).await;
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
    let Started {
        run,
        uploaded,
        stored,
    } = start(&world, &bytes).await;
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
    let Started {
        run,
        uploaded,
        stored,
    } = start(&world, &bytes).await;
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

/// A service an outage takes down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Service {
    RabbitMq,
    Postgres,
    Redis,
}

/// How long a service stays down.
const OUTAGE: Duration = Duration::from_secs(5);

/// Starts a multi-page run, takes `service` down once some of its run jobs finished and others
/// are running, brings it back on the same port and data after [`OUTAGE`], and checks that the
/// run finishes with every output equal to the reference, that each run job was committed once
/// (the workers' finished counters add up to the run jobs), and that both workers lived through
/// it.
/// A world on services of its own, which its case takes down and brings back.
pub struct Outage {
    world: World,
    services: rodan_testkit::Services,
}

impl rodan_testkit::suite::Fixture for Outage {
    async fn setup(_: std::sync::Arc<rodan_testkit::Services>, n: usize) -> Self {
        let services = tokio::task::block_in_place(rodan_testkit::Services::start);
        let world = World::new(&services, n).await;
        Self { world, services }
    }
}

async fn outage(
    Outage {
        world,
        mut services,
    }: Outage,
    service: Service,
) {
    let pages = 8;
    let bytes = make_pages(pages, 1000, 300);
    let Started {
        run,
        uploaded,
        stored,
    } = start(&world, &bytes).await;
    let total = 3 * usize::try_from(pages).expect("a count");
    let started = Instant::now();
    let at_stop = loop {
        let rows = world.leases(&run).await;
        let finished = rows.iter().filter(|j| j.status == 4).count();
        let running = rows.iter().filter(|j| j.status == 1).count();
        if finished >= 1 && running > 0 {
            break (finished, running);
        }
        assert!(
            finished < total,
            "the run finished before the outage; the pages are too small"
        );
        assert!(
            started.elapsed() < WAIT,
            "waited {WAIT:?} for the run to be part way:\n{}\n{}",
            world.describe(&run).await,
            world.logs()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    tokio::task::block_in_place(|| match service {
        Service::RabbitMq => services.rabbitmq.stop(),
        Service::Postgres => services.postgres.stop(),
        Service::Redis => services.redis.stop(),
    });
    let down = Instant::now();
    // The run must still be under way once the service is down.
    let unfinished_when_down = if service == Service::Postgres {
        total - at_stop.0
    } else {
        let rows = world.leases(&run).await;
        rows.iter().filter(|j| j.status != 4).count()
    };
    assert!(
        unfinished_when_down > 0,
        "the run finished before {service:?} was down; the pages are too small"
    );
    if service == Service::RabbitMq {
        // The workers stay live and say they are reconnecting; they are not ready.
        for i in 0..world.workers.len() {
            loop {
                let health = world.worker_http(i, "/healthz").await;
                let ready = world.worker_http(i, "/readyz").await;
                if let (Some((200, health)), Some((503, ready))) = (&health, &ready)
                    && health.contains("broker: reconnecting")
                    && ready.contains("broker: reconnecting")
                {
                    break;
                }
                assert!(
                    down.elapsed() < OUTAGE,
                    "worker {i} did not report the lost broker: /healthz {health:?}, /readyz {ready:?}\n{}",
                    world.logs()
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    tokio::time::sleep(OUTAGE.saturating_sub(down.elapsed())).await;
    tokio::task::block_in_place(|| match service {
        Service::RabbitMq => services.rabbitmq.start_again(),
        Service::Postgres => services.postgres.start_again(),
        Service::Redis => services.redis.start_again(),
    });
    let back = Instant::now();
    world.wait_run(&run, 4, Duration::from_secs(120)).await;
    let rows = world.leases(&run).await;
    let attempts: Vec<i32> = rows.iter().map(|j| j.attempts).collect();
    eprintln!(
        "{service:?} down for {:?} from when {} of {total} run jobs had finished and {} were \
         running ({unfinished_when_down} unfinished once it was down); the run finished {:?} after \
         it came back; attempts per run job {attempts:?}",
        back - down,
        at_stop.0,
        at_stop.1,
        back.elapsed()
    );
    world.check_outputs(&run, &uploaded, &bytes, &stored).await;
    assert_eq!(
        world.finished_total().await,
        u64::try_from(total).expect("a count"),
        "each run job was committed once, none lost and none twice:\n{}",
        world.logs()
    );
    let mut workers = world.workers;
    for worker in &mut workers {
        assert!(
            matches!(worker.child.try_wait(), Ok(None)),
            "worker {} lived through the outage:\n{}",
            worker.name,
            tail(&worker.log)
        );
    }
}
