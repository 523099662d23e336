//! The scenarios of issue #5.

use crate::ctx::{Ctx, RunJobRow, RunRow, lines};
use libtest_mimic::Trial;
use rodan_core::message::{ResourceMessage, Task};
use rodan_core::status;
use rodan_testkit::suite::Case;
use rodan_worker::store;
use serde_json::json;
use std::time::Duration;

pub fn all() -> Vec<Case<Ctx>> {
    vec![
        Case {
            name: "a_two_job_chain_finishes_with_its_files_and_the_run_finished",
            run: |c| Box::pin(chain_finishes(c)),
        },
        Case {
            name: "a_failing_job_fails_the_run_and_nothing_after_it_is_dispatched",
            run: |c| Box::pin(failure_stops_run(c)),
        },
        Case {
            name: "a_job_whose_worker_died_runs_again_after_its_lease_expires",
            run: |c| Box::pin(lost_worker_reruns(c)),
        },
        Case {
            name: "a_lost_job_of_a_run_that_failed_meanwhile_is_reaped_too",
            run: |c| Box::pin(lost_in_failed_run(c)),
        },
        Case {
            name: "a_job_lost_too_often_fails_with_a_clear_error",
            run: |c| Box::pin(retry_limit(c)),
        },
        Case {
            name: "two_workers_on_one_queue_never_run_a_run_job_twice",
            run: |c| Box::pin(two_workers(c)),
        },
        Case {
            name: "runs_of_jobs_without_outputs_are_finished_by_their_last_job",
            run: |c| Box::pin(no_output_runs_finish(c)),
        },
        Case {
            name: "a_worker_holds_at_most_its_concurrency_of_messages_on_one_queue_or_several",
            run: |c| Box::pin(prefetch(c)),
        },
        Case {
            name: "shutdown_gives_running_and_unstarted_messages_back_to_the_queue",
            run: |c| Box::pin(shutdown(c)),
        },
        Case {
            name: "a_job_past_its_timeout_fails",
            run: |c| Box::pin(timeout(c)),
        },
        Case {
            name: "cancelling_a_running_job_drops_its_result",
            run: |c| Box::pin(cancel(c)),
        },
        Case {
            name: "starting_registers_the_queue_jobs_idempotently",
            run: |c| Box::pin(registers(c)),
        },
        Case {
            name: "a_list_output_gets_one_member_per_file_in_name_order",
            run: |c| Box::pin(list_output(c)),
        },
        Case {
            name: "uploads_are_typed_on_the_core_queue_and_lost_messages_are_sent_again",
            run: |c| Box::pin(uploads(c)),
        },
        Case {
            name: "unusable_inputs_fail_at_once_with_errors_that_name_the_port_not_the_server_path",
            run: |c| Box::pin(unusable_inputs(c)),
        },
        Case {
            name: "a_worker_whose_broker_connection_drops_reconnects_and_finishes_each_job_once",
            run: |c| Box::pin(broker_drop(c)),
        },
        Case {
            name: "the_binary_serves_health_and_metrics_and_exits_cleanly_on_sigterm",
            run: |c| Box::pin(binary_sigterm(c)),
        },
        Case {
            name: "the_databases_status_codes_are_the_rust_constants",
            run: |c| Box::pin(sql_statuses(c)),
        },
        Case {
            name: "run_jobs_are_finished_by_one_statement_in_rust_and_sql",
            run: |c| Box::pin(one_finish(c)),
        },
    ]
}

/// Status codes have one source: SQL names them with `rodan_status(name)` (migration 0008),
/// which gives each of `rodan_core::status`'s constants; no `rodan_*` function writes a status
/// as a number; and the partial indexes that must (an index predicate is written out) hold the
/// Rust constants' values.
async fn sql_statuses(ctx: Ctx) {
    for (name, value) in status::ALL {
        let got: i32 = sqlx::query_scalar("SELECT rodan_status($1)")
            .bind(name)
            .fetch_one(&ctx.pool)
            .await
            .expect("rodan_status");
        assert_eq!(got, value, "rodan_status('{name}')");
    }
    let unknown = sqlx::query_scalar::<_, i32>("SELECT rodan_status('FINSHED')")
        .fetch_one(&ctx.pool)
        .await;
    assert!(
        unknown.is_err(),
        "an unknown status name fails: {unknown:?}"
    );

    let functions: Vec<(String, String)> = sqlx::query_as(
        "SELECT proname::text, prosrc FROM pg_proc \
         WHERE proname LIKE 'rodan\\_%' AND proname <> 'rodan_status' ORDER BY proname",
    )
    .fetch_all(&ctx.pool)
    .await
    .expect("functions");
    assert!(
        functions
            .iter()
            .any(|(name, _)| name == "rodan_finish_run_jobs"),
        "{functions:?}"
    );
    for (name, source) in &functions {
        assert!(
            !writes_status_number(source),
            "{name} writes a status as a number:\n{source}"
        );
    }

    let predicates: Vec<(String, String)> = sqlx::query_as(
        "SELECT c.relname::text, pg_get_expr(i.indpred, i.indrelid) FROM pg_index i \
         JOIN pg_class c ON c.oid = i.indexrelid \
         WHERE i.indpred IS NOT NULL AND pg_get_expr(i.indpred, i.indrelid) LIKE '%status%' \
         ORDER BY 1",
    )
    .fetch_all(&ctx.pool)
    .await
    .expect("index predicates");
    let expected: Vec<(String, String)> = vec![
        (
            "resources_scheduled_uploads".into(),
            format!(
                "((processing_status = {}) AND (resource_file IS NOT NULL))",
                status::SCHEDULED
            ),
        ),
        (
            "workflow_runs_failed".into(),
            format!("(status = '{}'::integer)", status::FAILED),
        ),
        (
            "workflow_runs_running".into(),
            format!(
                "(status = ANY (ARRAY[{}, {}]))",
                status::PROCESSING,
                status::RETRYING
            ),
        ),
    ];
    assert_eq!(predicates, expected);
}

/// A run job has one way to finish: `rodan_mark_finished` (migration 0009) is the only function
/// that marks run jobs FINISHED, `rodan_finish_run_jobs` goes through it, and so does the
/// worker's transaction path (`store::begin_finish`), which held its own copy of the UPDATE.
async fn one_finish(ctx: Ctx) {
    let functions: Vec<(String, String)> = sqlx::query_as(
        "SELECT proname::text, prosrc FROM pg_proc WHERE proname LIKE 'rodan\\_%' ORDER BY proname",
    )
    .fetch_all(&ctx.pool)
    .await
    .expect("functions");
    let flat = |sql: &str| -> String {
        sql.to_lowercase()
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect()
    };
    let finishers: Vec<&str> = functions
        .iter()
        .filter(|(_, source)| {
            let f = flat(source);
            f.contains("updaterun_jobs") && f.contains("status=rodan_status('finished')")
        })
        .map(|(name, _)| name.as_str())
        .collect();
    assert_eq!(finishers, ["rodan_mark_finished"]);
    let (_, finish_many) = functions
        .iter()
        .find(|(name, _)| name == "rodan_finish_run_jobs")
        .expect("rodan_finish_run_jobs");
    assert!(
        flat(finish_many).contains("rodan_mark_finished(p_run_jobs,p_owner)"),
        "{finish_many}"
    );
    let store = flat(include_str!("../../src/store.rs"));
    assert!(store.contains("rodan_mark_finished($1,$2)"));
    assert!(
        !store.contains("status={finished}"),
        "a second finish in store.rs"
    );
}

/// Whether SQL text compares a `status` column with a number (`status = 4`, `status IN (1, 11)`).
fn writes_status_number(sql: &str) -> bool {
    let flat: String = sql
        .to_lowercase()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    flat.match_indices("status").any(|(at, word)| {
        let rest = &flat[at + word.len()..];
        ["=", "<>", "!=", "in(", "notin("].iter().any(|op| {
            rest.strip_prefix(op)
                .and_then(|r| r.chars().next())
                .is_some_and(|c| c.is_ascii_digit() || c == '-')
        })
    })
}

const WAIT: Duration = Duration::from_secs(15);

async fn chain_finishes(ctx: Ctx) {
    let worker = ctx.worker(ctx.config()).await;
    let (run, chains) = ctx
        .run(&[vec![("Hello World", json!({})), ("Hello World", json!({}))]])
        .await;
    let dispatched = ctx.dispatch(run).await;
    assert_eq!(
        dispatched.messages.len(),
        1,
        "only the first job is runnable"
    );
    ctx.wait_run(run, status::FINISHED, WAIT).await;
    let (first, second) = (chains[0][0], chains[0][1]);
    assert_eq!(ctx.content(first.1).await.as_deref(), Some("Hello World x"));
    assert_eq!(
        ctx.content(second.1).await.as_deref(),
        Some("Hello World Hello World x")
    );
    for (rj, _) in &chains[0] {
        let RunJobRow {
            status: s,
            attempts,
            lease_owner: owner,
            ..
        } = ctx.run_job(*rj).await;
        assert_eq!((s, attempts, owner), (status::FINISHED, 1, None));
    }
    let file: String = sqlx::query_scalar("SELECT resource_file FROM resources WHERE uuid = $1")
        .bind(second.1)
        .fetch_one(&ctx.pool)
        .await
        .expect("resource");
    assert!(file.ends_with(&format!("resources/{}/original_file", second.1.simple())));
    let metrics = worker.metrics().encode();
    assert!(
        metrics.contains("rodan_worker_jobs_finished_total{job=\"Hello World\"} 2"),
        "{metrics}"
    );
    worker.stop().await.expect("the worker stops");
    assert_eq!(ctx.depth(), 0);
}

/// A PNG of `width` x `height` grey pixels.
fn png(width: u32, height: u32) -> Vec<u8> {
    let mut bytes = Vec::new();
    image::DynamicImage::ImageLuma8(image::GrayImage::new(width, height))
        .write_to(
            &mut std::io::Cursor::new(&mut bytes),
            image::ImageFormat::Png,
        )
        .expect("encoded");
    bytes
}

/// A PNG header declaring `width` x `height` 8-bit grey pixels, with no pixel data: what a
/// decompression bomb shows before its data.
fn bomb_header(width: u32, height: u32) -> Vec<u8> {
    let mut bytes = png(1, 1);
    // IHDR's width and height are bytes 16..24; its CRC (bytes 29..33) covers bytes 12..29.
    bytes[16..20].copy_from_slice(&width.to_be_bytes());
    bytes[20..24].copy_from_slice(&height.to_be_bytes());
    let crc = crc32(&bytes[12..29]);
    bytes[29..33].copy_from_slice(&crc.to_be_bytes());
    bytes
}

fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

async fn unusable_inputs(ctx: Ctx) {
    let worker = ctx.worker(ctx.config()).await;
    let mut truncated = png(300, 300);
    truncated.truncate(truncated.len() / 2);
    let cases = [
        (truncated, "the input file is truncated or corrupt", true),
        (
            bomb_header(40_000, 40_000),
            "the image is too large: 40000 x 40000 pixels",
            false,
        ),
    ];
    let media = ctx.media.path().display().to_string();
    for (bytes, summary, names_input) in cases {
        let (run, chains) = ctx.run(&[vec![("Test Image", json!({}))]]).await;
        let rj = chains[0][0].0;
        ctx.set_input(rj, &bytes).await;
        ctx.dispatch(run).await;
        ctx.wait_run(run, status::FAILED, WAIT).await;
        let RunJobRow {
            status: s,
            attempts,
            ..
        } = ctx.run_job(rj).await;
        assert_eq!(
            (s, attempts),
            (status::FAILED, 1),
            "{summary}: failed at once, not retried"
        );
        let (stored, details) = ctx.run_job_error(rj).await;
        assert!(stored.starts_with(summary), "{stored}");
        let RunRow {
            error_summary: run_summary,
            error_details: run_details,
            ..
        } = ctx.run_status(run).await;
        for text in [&stored, &details, &run_summary, &run_details] {
            assert!(
                !text.contains(&media)
                    && !text.contains("original_file")
                    && !text.contains("inputs/"),
                "no server path in errors users see: {text}"
            );
        }
        assert!(
            !names_input || details.starts_with("input 'Text input' could not be read"),
            "the error names the input: {stored} / {details}"
        );
    }
    worker.stop().await.expect("the worker stops");
}

async fn broker_drop(ctx: Ctx) {
    use rodan_worker::metrics::BrokerState;
    let mut config = ctx.config();
    config.reconnect_max_seconds = 1.0;
    let worker = ctx.worker(config).await;
    let metrics = worker.metrics();
    let (run, chains) = ctx
        .run(&[vec![("Test Sleep", ctx.sleep(1500, "before"))]])
        .await;
    ctx.dispatch(run).await;
    let (rj, _) = chains[0][0];
    ctx.wait_run_job(rj, status::PROCESSING, WAIT).await;
    assert_eq!(
        ctx.drop_connections(worker.owner()),
        1,
        "the worker's connection is found"
    );
    // The worker notices, says so, and connects again.
    let start = std::time::Instant::now();
    while metrics.broker() != BrokerState::Reconnecting {
        assert!(
            start.elapsed() < WAIT,
            "the worker never noticed the lost connection"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    while metrics.broker() != BrokerState::Connected {
        assert!(start.elapsed() < WAIT, "the worker never reconnected");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The job that was running when the connection dropped finishes once: its message, given
    // back by RabbitMQ, is not run again.
    ctx.wait_run(run, status::FINISHED, WAIT).await;
    let RunJobRow {
        status: s,
        attempts,
        ..
    } = ctx.run_job(rj).await;
    assert_eq!((s, attempts), (status::FINISHED, 1));
    assert_eq!(lines(&ctx.log("before")), 1, "the job ran once");
    // And the worker goes on consuming.
    let (after, _) = ctx
        .run(&[vec![("Test Sleep", ctx.sleep(0, "after"))]])
        .await;
    ctx.dispatch(after).await;
    ctx.wait_run(after, status::FINISHED, WAIT).await;
    assert_eq!(lines(&ctx.log("after")), 1);
    let text = metrics.encode();
    assert!(
        text.contains("rodan_worker_broker_reconnects_total 1\n")
            && text.contains("rodan_worker_broker_connected 1\n")
            && text.contains("rodan_worker_jobs_finished_total{job=\"Test Sleep\"} 2\n"),
        "{text}"
    );
    worker.stop().await.expect("the worker stops");
    assert_eq!(ctx.depth(), 0, "every message was settled");
}

async fn failure_stops_run(ctx: Ctx) {
    let worker = ctx.worker(ctx.config()).await;
    let (run, chains) = ctx
        .run(&[vec![("Test Fail", json!({})), ("Hello World", json!({}))]])
        .await;
    ctx.dispatch(run).await;
    ctx.wait_run(run, status::FAILED, WAIT).await;
    let RunRow {
        error_summary: summary,
        error_details: details,
        ..
    } = ctx.run_status(run).await;
    assert_eq!(
        (summary.as_str(), details.as_str()),
        ("the input is unusable", "test failure details")
    );
    let RunJobRow {
        status: s,
        error_summary: rj_summary,
        ..
    } = ctx.run_job(chains[0][0].0).await;
    assert_eq!(
        (s, rj_summary.as_str()),
        (status::FAILED, "the input is unusable")
    );
    // A later dispatch (another finished branch) sends nothing of a failed run.
    assert!(ctx.dispatch(run).await.messages.is_empty());
    let RunJobRow {
        status: s,
        celery_task_id: task,
        ..
    } = ctx.run_job(chains[0][1].0).await;
    assert_eq!((s, task), (status::SCHEDULED, None));
    assert!(ctx.content(chains[0][1].1).await.is_none());
    worker.stop().await.expect("the worker stops");
    assert_eq!(ctx.depth(), 0);
}

async fn lost_in_failed_run(ctx: Ctx) {
    // Two jobs run; one fails the run while the other's worker dies. The reaper finds expired
    // leases through the runs (migration 0006), failed ones included.
    let (run, chains) = ctx
        .run(&[
            vec![("Hello World", json!({}))],
            vec![("Hello World", json!({}))],
        ])
        .await;
    let messages = ctx.dispatch(run).await.messages;
    for message in &messages {
        store::claim(
            &ctx.pool,
            message.run_job,
            message.task_id,
            "dead",
            Duration::from_millis(100),
        )
        .await
        .expect("claim")
        .expect("claimed");
    }
    sqlx::query("UPDATE workflow_runs SET status = $2, updated = now() WHERE uuid = $1")
        .bind(run)
        .bind(status::FAILED)
        .execute(&ctx.pool)
        .await
        .expect("the run fails");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let reaped = store::reap(&ctx.pool, 3).await.expect("reap");
    let mut rescheduled: Vec<_> = reaped.rescheduled.iter().map(|r| r.0).collect();
    rescheduled.sort();
    let mut expected: Vec<_> = chains.iter().map(|c| c[0].0).collect();
    expected.sort();
    assert_eq!(rescheduled, expected);
    assert!(reaped.failed.is_empty());
    for chain in &chains {
        assert_eq!(ctx.run_job(chain[0].0).await.status, status::SCHEDULED);
    }
    // Nothing of a failed run is dispatched again.
    assert!(ctx.dispatch(run).await.messages.is_empty());
}

async fn lost_worker_reruns(ctx: Ctx) {
    let (run, chains) = ctx.run(&[vec![("Hello World", json!({}))]]).await;
    let message = ctx.dispatch(run).await.messages.remove(0);
    // A worker claims it, then dies without a heartbeat.
    let claim = store::claim(
        &ctx.pool,
        message.run_job,
        message.task_id,
        "dead",
        Duration::from_millis(300),
    )
    .await
    .expect("claim")
    .expect("claimed");
    assert_eq!(claim.attempts, 1);
    let worker = ctx.worker(ctx.config()).await;
    ctx.wait_run(run, status::FINISHED, WAIT).await;
    let RunJobRow {
        attempts,
        lease_owner: owner,
        ..
    } = ctx.run_job(chains[0][0].0).await;
    assert_eq!((attempts, owner), (2, None));
    assert_eq!(
        ctx.content(chains[0][0].1).await.as_deref(),
        Some("Hello World x")
    );
    worker.stop().await.expect("the worker stops");
    assert_eq!(
        ctx.depth(),
        0,
        "the dead worker's message was dropped, the new one acknowledged"
    );
}

async fn retry_limit(ctx: Ctx) {
    let (run, chains) = ctx.run(&[vec![("Hello World", json!({}))]]).await;
    let message = ctx.dispatch(run).await.messages.remove(0);
    sqlx::query("UPDATE run_jobs SET attempts = 2 WHERE uuid = $1")
        .bind(message.run_job)
        .execute(&ctx.pool)
        .await
        .expect("attempts");
    store::claim(
        &ctx.pool,
        message.run_job,
        message.task_id,
        "dead",
        Duration::from_millis(200),
    )
    .await
    .expect("claim")
    .expect("claimed");
    let worker = ctx.worker(ctx.config()).await;
    ctx.wait_run(run, status::FAILED, WAIT).await;
    let RunRow {
        error_summary: summary,
        ..
    } = ctx.run_status(run).await;
    assert_eq!(summary, "worker lost 3 times");
    let RunJobRow {
        status: s,
        attempts,
        error_summary: rj_summary,
        ..
    } = ctx.run_job(chains[0][0].0).await;
    assert_eq!(
        (s, attempts, rj_summary.as_str()),
        (status::FAILED, 3, "worker lost 3 times")
    );
    worker.stop().await.expect("the worker stops");
}

async fn two_workers(ctx: Ctx) {
    let mut config = ctx.config();
    config.concurrency = 2;
    let a = ctx.worker(config.clone()).await;
    let b = ctx.worker(config).await;
    let chains: Vec<Vec<_>> = (0..8)
        .map(|n| vec![("Test Sleep", ctx.sleep(100, &format!("j{n}")))])
        .collect();
    let (run, jobs) = ctx.run(&chains).await;
    let dispatched = ctx.dispatch(run).await;
    assert_eq!(dispatched.messages.len(), 8);
    for message in &dispatched.messages {
        // Every message twice: a duplicate must not run the job again.
        ctx.broker
            .publish(&ctx.queue, &Task::RunJob(message.clone()))
            .await
            .expect("publish");
    }
    ctx.wait_run(run, status::FINISHED, WAIT).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    for (n, chain) in jobs.iter().enumerate() {
        assert_eq!(lines(&ctx.log(&format!("j{n}"))), 1, "job {n} ran once");
        assert_eq!(ctx.run_job(chain[0].0).await.attempts, 1);
    }
    let (ra, rb) = (a.metrics().encode(), b.metrics().encode());
    assert!(
        ra.contains("jobs_finished_total") && rb.contains("jobs_finished_total"),
        "both workers ran jobs"
    );
    a.stop().await.expect("a stops");
    b.stop().await.expect("b stops");
    assert_eq!(ctx.depth(), 0);
}

async fn no_output_runs_finish(ctx: Ctx) {
    // Jobs without outputs finish their run job and, for the last one, the run in one round
    // trip. The stalled-run sweep would finish a run that this misses, so it is kept out of the
    // way: only the finishing workers may finish these runs.
    let mut config = ctx.config();
    config.concurrency = 4;
    config.reap_seconds = 3600.0;
    let a = ctx.worker(config.clone()).await;
    let b = ctx.worker(config).await;
    let project = ctx.project().await;
    let mut runs = Vec::new();
    for _ in 0..5 {
        let run = ctx.empty_run(project).await;
        runs.push(run);
        sqlx::query(
            "INSERT INTO run_jobs (uuid, workflow_run_uuid, workflow_job_hex, job_name, job_queue)
             SELECT gen_random_uuid(), $1, 'w', 'Test Nothing', $2 FROM generate_series(1, 40)",
        )
        .bind(run)
        .bind(&ctx.queue)
        .execute(&ctx.pool)
        .await
        .expect("run jobs");
    }
    for run in &runs {
        assert_eq!(ctx.dispatch(*run).await.messages.len(), 40);
    }
    for run in &runs {
        ctx.wait_run(*run, status::FINISHED, WAIT).await;
    }
    let (finished, once): (i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE status = 4), count(*) FILTER (WHERE attempts = 1) FROM run_jobs",
    )
    .fetch_one(&ctx.pool)
    .await
    .expect("counts");
    assert_eq!((finished, once), (200, 200));
    a.stop().await.expect("a stops");
    b.stop().await.expect("b stops");
}

/// Dispatches `chains` one-job chains of 2 s sleeps, the first `on_other` of them on `other`,
/// and with a worker of concurrency 2 on `queues` samples RabbitMQ while they run: the messages
/// it holds (unacknowledged) across the queues reach 2 and never pass it.
async fn held_messages(ctx: &Ctx, queues: &[String], other: &str, on_other: usize) {
    let chains: Vec<Vec<_>> = (0..6)
        .map(|n| vec![("Test Sleep", ctx.sleep(2000, &format!("p{n}")))])
        .collect();
    let (run, jobs) = ctx.run(&chains).await;
    for chain in jobs.iter().take(on_other) {
        sqlx::query("UPDATE run_jobs SET job_queue = $2 WHERE uuid = $1")
            .bind(chain[0].0)
            .bind(other)
            .execute(&ctx.pool)
            .await
            .expect("moved to the other queue");
    }
    let mut config = ctx.config();
    config.concurrency = 2;
    config.queues = queues.to_vec();
    let worker = ctx.worker(config).await;
    ctx.dispatch(run).await;
    let mut most = 0;
    let start = std::time::Instant::now();
    // Each sample takes two rabbitmqctl calls (about a second each); the first jobs run for
    // two. One channel consumes every queue of the worker: its count covers them all at once.
    while start.elapsed() < Duration::from_secs(6) {
        let held = ctx.held(&queues[0]).unwrap_or(0);
        assert!(
            held <= 2,
            "{held} messages held by a worker of concurrency 2 on {queues:?}"
        );
        most = most.max(held);
    }
    assert_eq!(most, 2, "the worker fills its window");
    worker.stop().await.expect("the worker stops");
}

async fn prefetch(ctx: Ctx) {
    let other = format!("{}-other", ctx.queue);
    // One queue, as the operator runs workers: the consumer's own window.
    held_messages(&ctx, std::slice::from_ref(&ctx.queue), &other, 0).await;
    // Two queues: one window for both consumers.
    held_messages(&ctx, &[ctx.queue.clone(), other.clone()], &other, 3).await;
}

async fn uploads(ctx: Ctx) {
    let project = ctx.project().await;
    std::fs::create_dir_all(ctx.media.path().join("up")).expect("uploads dir");
    let upload = |name: &'static str, content: Option<&'static str>, age_s: f64| {
        let ctx = &ctx;
        async move {
            let id = uuid::Uuid::new_v4();
            let file = format!("up/{name}");
            if let Some(content) = content {
                std::fs::write(ctx.media.path().join(&file), content).expect("upload file");
            }
            sqlx::query(
                "INSERT INTO resources (uuid, project_uuid, resource_file, processing_status, resource_type_uuid, updated)
                 VALUES ($1, $2, $3, 0, (SELECT uuid FROM resource_types WHERE mimetype = 'application/octet-stream'),
                         now() - $4 * interval '1 second')",
            )
            .bind(id)
            .bind(project)
            .bind(&file)
            .bind(age_s)
            .execute(&ctx.pool)
            .await
            .expect("resource");
            id
        }
    };
    let text = upload("notes.txt", Some("hello\nworld\n"), 0.0).await;
    let missing = upload("gone.png", None, 0.0).await;
    // Its message was lost an hour ago: the worker consuming the core queue sends it again.
    let lost = upload("lost.txt", Some("a line\n"), 3600.0).await;
    ctx.broker
        .publish_all(&[
            (
                &ctx.queue,
                Task::Resource(ResourceMessage { resource: text }),
            ),
            (
                &ctx.queue,
                Task::Resource(ResourceMessage { resource: missing }),
            ),
        ])
        .await
        .expect("publish");
    let mut config = ctx.config();
    config.core_queue = ctx.queue.clone();
    let worker = ctx.worker(config).await;
    let state = |id: uuid::Uuid| {
        let pool = ctx.pool.clone();
        async move {
            sqlx::query_as::<_, (Option<i32>, String, String, String)>(
                "SELECT r.processing_status, t.mimetype, r.error_summary, r.error_details
                 FROM resources r JOIN resource_types t ON t.uuid = r.resource_type_uuid WHERE r.uuid = $1",
            )
            .bind(id)
            .fetch_one(&pool)
            .await
            .expect("resource")
        }
    };
    let start = std::time::Instant::now();
    loop {
        let now = (state(text).await, state(missing).await, state(lost).await);
        if now.0.0.is_none() && now.1.0.is_some_and(|s| s != 0 && s != 1) && now.2.0.is_none() {
            assert_eq!(
                now.0,
                (None, "text/plain".into(), String::new(), String::new())
            );
            assert_eq!(
                (now.1.0, now.1.1.as_str(), now.1.2.as_str()),
                (
                    Some(status::FAILED),
                    "application/octet-stream",
                    "failed to read the uploaded file",
                )
            );
            // What users read names their upload, never the server's media path.
            assert!(
                now.1.3.starts_with("the uploaded file: ")
                    && !now.1.3.contains(&*ctx.media.path().to_string_lossy()),
                "{:?}",
                now.1.3
            );
            assert_eq!(
                now.2,
                (None, "text/plain".into(), String::new(), String::new())
            );
            break;
        }
        assert!(start.elapsed() < WAIT, "uploads not settled: {now:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    worker.stop().await.expect("the worker stops");
    assert_eq!(ctx.depth(), 0);
}

async fn shutdown(ctx: Ctx) {
    let mut config = ctx.config();
    config.grace_seconds = 0.3;
    let worker = ctx.worker(config).await;
    let (run, jobs) = ctx
        .run(&[
            vec![("Test Sleep", ctx.sleep(2500, "a"))],
            vec![("Test Sleep", ctx.sleep(2500, "b"))],
        ])
        .await;
    let dispatched = ctx.dispatch(run).await;
    let start = std::time::Instant::now();
    loop {
        let running =
            sqlx::query_scalar::<_, i64>("SELECT count(*) FROM run_jobs WHERE status = 1")
                .fetch_one(&ctx.pool)
                .await
                .expect("count");
        if running == 1 {
            break;
        }
        assert!(start.elapsed() < WAIT, "a job starts");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    worker.stop().await.expect("the worker stops");
    for (n, chain) in jobs.iter().enumerate() {
        let RunJobRow {
            status: s,
            attempts,
            celery_task_id: task,
            lease_owner: owner,
            ..
        } = ctx.run_job(chain[0].0).await;
        let expected = dispatched
            .messages
            .iter()
            .find(|m| m.run_job == chain[0].0)
            .map(|m| m.task_id.to_string());
        assert_eq!(
            (s, attempts, task, owner),
            (status::SCHEDULED, 0, expected, None),
            "chain {n}"
        );
    }
    assert_eq!(ctx.depth(), 2, "both messages are back in the queue");
    let mut config = ctx.config();
    config.concurrency = 2;
    let next = ctx.worker(config).await;
    ctx.wait_run(run, status::FINISHED, WAIT).await;
    next.stop().await.expect("the worker stops");
}

async fn timeout(ctx: Ctx) {
    let mut config = ctx.config();
    config.job_timeout_seconds = 0.3;
    let worker = ctx.worker(config).await;
    let (run, _) = ctx.run(&[vec![("Test Sleep", ctx.sleep(3000, "t"))]]).await;
    ctx.dispatch(run).await;
    ctx.wait_run(run, status::FAILED, WAIT).await;
    let RunRow {
        error_summary: summary,
        ..
    } = ctx.run_status(run).await;
    assert_eq!(summary, "the job timed out after 0.3 s");
    worker.stop().await.expect("the worker stops");
}

async fn cancel(ctx: Ctx) {
    let mut config = ctx.config();
    config.lease_seconds = 0.6;
    let worker = ctx.worker(config).await;
    // The job sleeps long enough that a loaded machine still tells "noticed the cancel" from
    // "the job ended by itself".
    let (run, jobs) = ctx.run(&[vec![("Test Sleep", ctx.sleep(6000, "c"))]]).await;
    ctx.dispatch(run).await;
    let rj = jobs[0][0].0;
    ctx.wait_run_job(rj, status::PROCESSING, WAIT).await;
    sqlx::query("UPDATE run_jobs SET status = 9 WHERE uuid = $1")
        .bind(rj)
        .execute(&ctx.pool)
        .await
        .expect("cancel");
    sqlx::query("UPDATE workflow_runs SET status = 9 WHERE uuid = $1")
        .bind(run)
        .execute(&ctx.pool)
        .await
        .expect("cancel");
    // The heartbeat notices within a third of the lease and acknowledges the message.
    let start = std::time::Instant::now();
    while ctx.depth() != 0 {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "the message is acknowledged after the cancel"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        start.elapsed() < Duration::from_millis(5000),
        "before the job itself ended"
    );
    tokio::time::sleep(Duration::from_millis(6500).saturating_sub(start.elapsed())).await;
    assert_eq!(ctx.run_job(rj).await.status, status::CANCELLED);
    assert!(
        ctx.content(jobs[0][0].1).await.is_none(),
        "no output was saved"
    );
    worker.stop().await.expect("the worker stops");
}

async fn registers(ctx: Ctx) {
    let a = ctx.worker(ctx.config()).await;
    let b = ctx.worker(ctx.config()).await;
    let names: Vec<(String, String)> =
        sqlx::query_as("SELECT name, job_queue FROM jobs ORDER BY name")
            .fetch_all(&ctx.pool)
            .await
            .expect("jobs");
    let expected: Vec<(String, String)> = [
        "Hello World",
        "Test Fail",
        "Test Image",
        "Test List",
        "Test Nothing",
        "Test Sleep",
    ]
    .iter()
    .map(|n| ((*n).to_owned(), ctx.queue.clone()))
    .collect();
    assert_eq!(names, expected);
    a.stop().await.expect("a stops");
    b.stop().await.expect("b stops");
}

/// `run-job` on local files, no services.
pub fn local() -> Vec<Trial> {
    vec![Trial::test(
        "run_job_on_local_files_matches_the_library_call",
        || {
            let dir = tempfile::tempdir().expect("a temp dir");
            let input = dir.path().join("in.txt");
            std::fs::write(&input, "abc").expect("input");
            let out = dir.path().join("cli.txt");
            let status = std::process::Command::new(env!("CARGO_BIN_EXE_rodan-worker"))
                .args(["run-job", "Hello World", "--input"])
                .arg(format!("Text input={}", input.display()))
                .arg("--output")
                .arg(format!("Text output={}", out.display()))
                .args(["--settings", "{}"])
                .status()
                .expect("the binary runs");
            assert!(status.success());
            let lib = dir.path().join("lib.txt");
            let job = rodan_jobs::find("Hello World").expect("exists");
            job.run(
                &rodan_jobs::Inputs::new().with("Text input", &input, "text/plain"),
                &json!({}),
                &rodan_jobs::Outputs::new().with("Text output", &lib, "text/plain"),
            )
            .expect("the library call succeeds");
            assert_eq!(
                std::fs::read(&out).expect("cli output"),
                std::fs::read(&lib).expect("lib output")
            );
            let unknown = std::process::Command::new(env!("CARGO_BIN_EXE_rodan-worker"))
                .args(["run-job", "No Such Job"])
                .output()
                .expect("the binary runs");
            assert!(!unknown.status.success());
            assert!(
                String::from_utf8_lossy(&unknown.stderr)
                    .contains("failed to find a job named 'No Such Job'")
            );
            Ok(())
        },
    )]
}

async fn http_get(port: u16, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("the metrics port accepts");
    let request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .await
        .expect("request sent");
    let mut body = String::new();
    stream
        .read_to_string(&mut body)
        .await
        .expect("response read");
    body
}

async fn binary_sigterm(ctx: Ctx) {
    let port = rodan_testkit::free_port();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_rodan-worker"))
        .env("DATABASE_URL", &ctx.db_url)
        .env("RABBITMQ_URL", &ctx.amqp_url)
        .env("REDIS_URL", &ctx.redis_url)
        .env("RODAN_MEDIA_ROOT", ctx.media.path())
        .env("CELERY_JOB_QUEUE", format!("{},celery", ctx.queue))
        .env("RODAN_WORKER_CONCURRENCY", "2")
        .env("RODAN_WORKER_METRICS_ADDR", format!("127.0.0.1:{port}"))
        .env("RODAN_WORKER_GRACE_SECONDS", "5")
        .spawn()
        .expect("the worker binary starts");
    let text = rodan_worker::core::CoreJob::ResourceDistributor
        .descriptor()
        .settings["properties"]["Resource type"]["enum"]
        .as_array()
        .and_then(|e| e.iter().position(|t| t == "text/plain"))
        .expect("text/plain is a choice");
    let (run, chains) = ctx
        .run(&[vec![
            ("Hello World", json!({})),
            ("Resource Distributor", json!({"Resource type": text, "User custom prefix": "<", "User custom suffix": ">"})),
            ("Labeler", json!({"Label": "checked"})),
        ]])
        .await;
    sqlx::query("UPDATE run_jobs SET job_queue = 'celery' WHERE workflow_run_uuid = $1")
        .bind(run)
        .execute(&ctx.pool)
        .await
        .expect("queue");
    let start = std::time::Instant::now();
    loop {
        let registered: i64 =
            sqlx::query_scalar("SELECT count(*) FROM jobs WHERE name = 'Hello World'")
                .fetch_one(&ctx.pool)
                .await
                .expect("count");
        if registered == 1
            && tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
        {
            break;
        }
        assert!(start.elapsed() < WAIT, "the binary starts serving");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    ctx.dispatch(run).await;
    ctx.wait_run(run, status::FINISHED, WAIT).await;
    assert_eq!(
        ctx.content(chains[0][0].1).await.as_deref(),
        Some("Hello World x")
    );
    // The distributor copied its input and renamed it; the labeler labelled the copy.
    assert_eq!(
        ctx.content(chains[0][1].1).await.as_deref(),
        Some("Hello World x")
    );
    let renamed: String = sqlx::query_scalar("SELECT name FROM resources WHERE uuid = $1")
        .bind(chains[0][0].1)
        .fetch_one(&ctx.pool)
        .await
        .expect("resource");
    assert_eq!(renamed, "<>");
    let labels: Vec<String> = sqlx::query_scalar(
        "SELECT l.name FROM resource_labels l JOIN resource_resource_labels rl ON rl.label_uuid = l.uuid WHERE rl.resource_uuid = $1",
    )
    .bind(chains[0][1].1).fetch_all(&ctx.pool).await.expect("labels");
    assert_eq!(labels, ["checked"]);
    let health = http_get(port, "/healthz").await;
    assert!(
        health.starts_with("HTTP/1.1 200") && health.ends_with("broker: connected\n"),
        "{health}"
    );
    let ready = http_get(port, "/readyz").await;
    assert!(
        ready.starts_with("HTTP/1.1 200") && ready.ends_with("broker: connected\n"),
        "{ready}"
    );
    let metrics = http_get(port, "/metrics").await;
    assert!(
        metrics.contains("rodan_worker_jobs_started_total{job=\"Hello World\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("rodan_worker_job_duration_seconds_count{job=\"Hello World\"} 1"),
        "{metrics}"
    );
    let pid = child.id().expect("a pid").to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let exit = tokio::time::timeout(WAIT, child.wait())
        .await
        .expect("the worker exits after SIGTERM")
        .expect("status");
    assert!(exit.success(), "{exit:?}");
}

async fn list_output(ctx: Ctx) {
    let worker = ctx.worker(ctx.config()).await;
    let (run, chains) = ctx.run(&[vec![("Test List", json!({}))]]).await;
    let (rj, placeholder) = chains[0][0];
    let list = uuid::Uuid::new_v4();
    sqlx::query("INSERT INTO resource_lists (uuid, project_uuid, resource_type_uuid) SELECT $1, project_uuid, resource_type_uuid FROM resources WHERE uuid = $2")
        .bind(list).bind(placeholder).execute(&ctx.pool).await.expect("list");
    sqlx::query(
        "UPDATE outputs SET resource_uuid = NULL, resource_list_uuid = $1 WHERE run_job_uuid = $2",
    )
    .bind(list)
    .bind(rj)
    .execute(&ctx.pool)
    .await
    .expect("output is a list");
    ctx.dispatch(run).await;
    ctx.wait_run(run, status::FINISHED, WAIT).await;
    let members: Vec<(uuid::Uuid, String)> = sqlx::query_as(
        "SELECT r.uuid, r.name FROM resource_list_members m JOIN resources r ON r.uuid = m.resource_uuid WHERE m.resource_list_uuid = $1 ORDER BY m.position",
    )
    .bind(list).fetch_all(&ctx.pool).await.expect("members");
    assert_eq!(
        members.iter().map(|m| m.1.as_str()).collect::<Vec<_>>(),
        ["a", "b"]
    );
    for (member, name) in &members {
        assert_eq!(ctx.content(*member).await.as_deref(), Some(name.as_str()));
    }
    worker.stop().await.expect("the worker stops");
}
