//! Results packages: built from a typed message into a BagIt zip, cancelled, failed, expired.

use crate::ctx::Ctx;
use rodan_core::message::{PackageMessage, Task};
use rodan_core::status;
use rodan_testkit::suite::Case;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use uuid::Uuid;

pub fn all() -> Vec<Case<Ctx>> {
    vec![
        Case {
            name: "packages_in_modes_0_and_1_zip_the_run_outputs_as_upstream_lays_them_out",
            run: |c| Box::pin(modes_0_and_1(c)),
        },
        Case {
            name: "a_diagnosis_package_fails_with_a_clear_error",
            run: |c| Box::pin(diagnosis(c)),
        },
        Case {
            name: "stale_and_cancelled_package_messages_are_dropped_without_a_file",
            run: |c| Box::pin(stale(c)),
        },
        Case {
            name: "a_package_cancelled_while_building_leaves_no_file",
            run: |c| Box::pin(cancel_while_building(c)),
        },
        Case {
            name: "the_reaper_expires_finished_packages_and_fails_ones_whose_worker_died",
            run: |c| Box::pin(expiry(c)),
        },
    ]
}

const WAIT: Duration = Duration::from_secs(20);

/// A finished run: `A` (workflow job a) feeds `B` (b, same job and resource name), `C` failed,
/// `D` made a two-member list. Returns the run.
async fn scene(ctx: &Ctx) -> Uuid {
    let q = |sql: &'static str| sqlx::query(sql);
    let project = ctx.project().await;
    let run = Uuid::new_v4();
    q("INSERT INTO workflow_runs (uuid, project_uuid, status) VALUES ($1, $2, 4)")
        .bind(run)
        .bind(project)
        .execute(&ctx.pool)
        .await
        .expect("run");
    let text: Uuid =
        sqlx::query_scalar("SELECT uuid FROM resource_types WHERE mimetype = 'text/plain'")
            .fetch_one(&ctx.pool)
            .await
            .expect("text/plain");
    let resource = |name: &'static str, content: Option<&'static str>| async move {
        let uuid = Uuid::new_v4();
        let file = content.map(|content| {
            let file = format!("files/{}", uuid.simple());
            std::fs::create_dir_all(ctx.media.path().join("files")).expect("files dir");
            std::fs::write(ctx.media.path().join(&file), content).expect("file");
            file
        });
        sqlx::query("INSERT INTO resources (uuid, name, project_uuid, resource_type_uuid, resource_file) VALUES ($1, $2, $3, $4, $5)")
            .bind(uuid).bind(name).bind(project).bind(text).bind(file)
            .execute(&ctx.pool).await.expect("resource");
        uuid
    };
    let run_job = |n: i32, wfj: &'static str, job: &'static str, state: i32| async move {
        let uuid = Uuid::new_v4();
        sqlx::query("INSERT INTO run_jobs (uuid, workflow_run_uuid, workflow_job_hex, job_name, job_queue, status, error_summary, error_details, created) VALUES ($1, $2, $3, $4, 'celery', $5, 'it broke', 'the trace', now() + $6 * interval '1 second')")
            .bind(uuid).bind(run).bind(wfj).bind(job).bind(state).bind(n)
            .execute(&ctx.pool).await.expect("run job");
        uuid
    };
    let output = |rj: Uuid, resource: Option<Uuid>, list: Option<Uuid>| async move {
        sqlx::query("INSERT INTO outputs (uuid, output_port_type_name, run_job_uuid, resource_uuid, resource_list_uuid) VALUES ($1, 'Text output', $2, $3, $4)")
            .bind(Uuid::new_v4()).bind(rj).bind(resource).bind(list)
            .execute(&ctx.pool).await.expect("output");
    };
    let a = run_job(1, "a", "Hello World", status::FINISHED).await;
    let a_out = resource("page", Some("from a")).await;
    output(a, Some(a_out), None).await;
    let b = run_job(2, "b", "Hello World", status::FINISHED).await;
    let b_out = resource("page", Some("from b")).await;
    output(b, Some(b_out), None).await;
    q("INSERT INTO inputs (uuid, input_port_type_name, resource_uuid, run_job_uuid) VALUES ($1, 'Text input', $2, $3)")
        .bind(Uuid::new_v4()).bind(a_out).bind(b)
        .execute(&ctx.pool).await.expect("input");
    let c = run_job(3, "c", "Test Fail", status::FAILED).await;
    let c_out = resource("page", None).await;
    output(c, Some(c_out), None).await;
    let d = run_job(4, "d", "Test List", status::FINISHED).await;
    let list = Uuid::new_v4();
    q("INSERT INTO resource_lists (uuid, name, project_uuid, resource_type_uuid) VALUES ($1, 'pages', $2, $3)")
        .bind(list).bind(project).bind(text)
        .execute(&ctx.pool).await.expect("list");
    for (position, content) in ["first", "second"].into_iter().enumerate() {
        let member = resource("m", Some(content)).await;
        q("INSERT INTO resource_list_members (resource_list_uuid, resource_uuid, position) VALUES ($1, $2, $3)")
            .bind(list).bind(member).bind(i32::try_from(position).expect("small"))
            .execute(&ctx.pool).await.expect("member");
    }
    output(d, None, Some(list)).await;
    run
}

/// A package row (status 0) and its message's task id.
async fn package(ctx: &Ctx, run: Uuid, mode: i32) -> (Uuid, Uuid) {
    let (package, task) = (Uuid::new_v4(), Uuid::new_v4());
    sqlx::query("INSERT INTO results_packages (uuid, status, workflow_run_uuid, packaging_mode, celery_task_id, expiry_time) VALUES ($1, 0, $2, $3, $4, now() + interval '1 day')")
        .bind(package).bind(run).bind(mode).bind(task.to_string())
        .execute(&ctx.pool).await.expect("package");
    (package, task)
}

async fn publish(ctx: &Ctx, package: Uuid, task: Uuid) {
    ctx.broker
        .publish(
            &ctx.queue,
            &Task::Package(PackageMessage {
                results_package: package,
                task_id: task,
            }),
        )
        .await
        .expect("the message is published");
}

/// (status, percent_completed, error_summary)
async fn row(ctx: &Ctx, package: Uuid) -> (i32, i32, String) {
    sqlx::query_as(
        "SELECT status, percent_completed, error_summary FROM results_packages WHERE uuid = $1",
    )
    .bind(package)
    .fetch_one(&ctx.pool)
    .await
    .expect("the package exists")
}

async fn wait(ctx: &Ctx, package: Uuid, want: i32) -> (i32, i32, String) {
    let start = Instant::now();
    loop {
        let now = row(ctx, package).await;
        if now.0 == want {
            return now;
        }
        assert!(
            start.elapsed() < WAIT,
            "package still {now:?}, not {want}, after {WAIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn zip_path(ctx: &Ctx, package: Uuid) -> PathBuf {
    ctx.media
        .path()
        .join(format!("results_packages/{}.zip", package.simple()))
}

/// Files left below `dir` (the scratch space must hold no partial zip).
fn files_below(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .flat_map(|e| {
            let path = e.path();
            if path.is_dir() {
                files_below(&path)
            } else {
                vec![path]
            }
        })
        .collect()
}

/// The zip's payload: (path below `data/`, content), sorted; checks the bag's folder and tags.
fn payload(ctx: &Ctx, package: Uuid) -> Vec<(String, String)> {
    let file = std::fs::File::open(zip_path(ctx, package)).expect("the zip exists");
    let mut zip = zip::ZipArchive::new(file).expect("a valid zip");
    let root = format!("{}/", package.simple());
    let mut out = Vec::new();
    let mut tags = Vec::new();
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i).expect("an entry");
        let name = entry.name().to_owned();
        let rest = name
            .strip_prefix(&root)
            .expect("every entry is in the bag's folder");
        let mut text = String::new();
        entry.read_to_string(&mut text).expect("text");
        match rest.strip_prefix("data/") {
            Some(path) => out.push((path.to_owned(), text)),
            None => tags.push(rest.to_owned()),
        }
    }
    tags.sort();
    assert_eq!(
        tags,
        [
            "bag-info.txt",
            "bagit.txt",
            "manifest-sha256.txt",
            "tagmanifest-sha256.txt"
        ]
    );
    out.sort();
    out
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

async fn modes_0_and_1(ctx: Ctx) {
    let worker = ctx.worker(ctx.config()).await;
    let run = scene(&ctx).await;
    let (endpoints, task0) = package(&ctx, run, 0).await;
    let (everything, task1) = package(&ctx, run, 1).await;
    publish(&ctx, endpoints, task0).await;
    publish(&ctx, everything, task1).await;
    let done = wait(&ctx, endpoints, status::FINISHED).await;
    assert_eq!((done.1, done.2.as_str()), (100, ""));
    assert_eq!(
        payload(&ctx, endpoints),
        pairs(&[
            ("Hello World - Text output/page.txt", "from b"),
            ("Test List - Text output/pages.list/0.txt", "first"),
            ("Test List - Text output/pages.list/1.txt", "second"),
        ])
    );
    assert_eq!(wait(&ctx, everything, status::FINISHED).await.1, 100);
    assert_eq!(
        payload(&ctx, everything),
        pairs(&[
            ("page (2)/Hello World (2) - Text output.txt", "from b"),
            (
                "page (3)/Test Fail - Text output - ERROR.txt",
                "Error Summary: it broke\n\nError Details:\nthe trace"
            ),
            ("page/Hello World - Text output.txt", "from a"),
            ("pages/Test List - Text output.list/0.txt", "first"),
            ("pages/Test List - Text output.list/1.txt", "second"),
        ])
    );
    let scratch = files_below(&ctx.media.path().join(".scratch"));
    assert!(scratch.is_empty(), "left in scratch: {scratch:?}");
    worker.stop().await.expect("the worker stops");
    assert_eq!(ctx.depth(), 0);
}

async fn diagnosis(ctx: Ctx) {
    let worker = ctx.worker(ctx.config()).await;
    let run = scene(&ctx).await;
    let (package, task) = package(&ctx, run, 2).await;
    publish(&ctx, package, task).await;
    let (_, _, summary) = wait(&ctx, package, status::FAILED).await;
    assert_eq!(
        summary,
        "failed to package: the diagnosis mode (2) is not implemented"
    );
    assert!(!zip_path(&ctx, package).exists());
    worker.stop().await.expect("the worker stops");
}

async fn stale(ctx: Ctx) {
    let worker = ctx.worker(ctx.config()).await;
    let run = scene(&ctx).await;
    let (replaced, _) = package(&ctx, run, 0).await;
    let (cancelled, cancelled_task) = package(&ctx, run, 0).await;
    sqlx::query("UPDATE results_packages SET status = 9 WHERE uuid = $1")
        .bind(cancelled)
        .execute(&ctx.pool)
        .await
        .expect("cancelled");
    let (current, current_task) = package(&ctx, run, 0).await;
    publish(&ctx, replaced, Uuid::new_v4()).await;
    publish(&ctx, cancelled, cancelled_task).await;
    publish(&ctx, current, current_task).await;
    // One consumer, in order: when the last is done, the first two were handled.
    wait(&ctx, current, status::FINISHED).await;
    assert_eq!(
        row(&ctx, replaced).await,
        (status::SCHEDULED, 0, String::new())
    );
    assert_eq!(
        row(&ctx, cancelled).await,
        (status::CANCELLED, 0, String::new())
    );
    assert!(!zip_path(&ctx, replaced).exists());
    assert!(!zip_path(&ctx, cancelled).exists());
    assert!(zip_path(&ctx, current).exists());
    worker.stop().await.expect("the worker stops");
    assert_eq!(ctx.depth(), 0);
}

async fn cancel_while_building(ctx: Ctx) {
    let worker = ctx.worker(ctx.config()).await;
    let run = scene(&ctx).await;
    // A large output that compresses slowly, so the cancel usually lands mid-build; if the
    // build wins the race the finish is refused and the zip removed, with the same result.
    let big: String = {
        let mut x = 0x2545_f491_4f6c_dd1d_u64;
        (0..48 << 20)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                char::from(b'!' + u8::try_from(x % 90).expect("small"))
            })
            .collect()
    };
    let file: String = sqlx::query_scalar(
        "SELECT r.resource_file FROM resources r JOIN outputs o ON o.resource_uuid = r.uuid JOIN run_jobs rj ON rj.uuid = o.run_job_uuid WHERE rj.workflow_run_uuid = $1 AND rj.workflow_job_hex = 'b'",
    )
    .bind(run)
    .fetch_one(&ctx.pool)
    .await
    .expect("b's output");
    std::fs::write(ctx.media.path().join(file), big).expect("a big output");
    let (package, task) = package(&ctx, run, 0).await;
    publish(&ctx, package, task).await;
    wait(&ctx, package, status::PROCESSING).await;
    let cancelled = sqlx::query(
        "UPDATE results_packages SET status = 9, updated = now() WHERE uuid = $1 AND status IN (0, 1)",
    )
    .bind(package)
    .execute(&ctx.pool)
    .await
    .expect("cancel")
    .rows_affected();
    assert_eq!(cancelled, 1, "the package was still building");
    // The worker notices at its next heartbeat, acknowledges, and leaves nothing behind.
    let start = Instant::now();
    while ctx.depth() > 0 {
        assert!(start.elapsed() < WAIT, "the message is still being handled");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let scratch = files_below(&ctx.media.path().join(".scratch"));
    assert!(scratch.is_empty(), "left in scratch: {scratch:?}");
    worker.stop().await.expect("the worker stops");
    assert_eq!(row(&ctx, package).await.0, status::CANCELLED);
    assert!(!zip_path(&ctx, package).exists());
    assert_eq!(ctx.depth(), 0);
}

async fn expiry(ctx: Ctx) {
    let run = scene(&ctx).await;
    let finished = |expiry: &'static str| {
        let ctx = &ctx;
        async move {
            let package = Uuid::new_v4();
            sqlx::query(&format!("INSERT INTO results_packages (uuid, status, percent_completed, workflow_run_uuid, packaging_mode, expiry_time) VALUES ($1, 4, 100, $2, 0, {expiry})"))
                .bind(package).bind(run)
                .execute(&ctx.pool).await.expect("package");
            std::fs::create_dir_all(ctx.media.path().join("results_packages")).expect("dir");
            std::fs::write(zip_path(ctx, package), "zip").expect("zip");
            package
        }
    };
    let past = finished("now() - interval '1 second'").await;
    let future = finished("now() + interval '1 hour'").await;
    let never = finished("NULL").await;
    let orphan = Uuid::new_v4();
    sqlx::query("INSERT INTO results_packages (uuid, status, workflow_run_uuid, packaging_mode, celery_task_id, updated) VALUES ($1, 1, $2, 0, 'gone', now() - interval '1 hour')")
        .bind(orphan).bind(run)
        .execute(&ctx.pool).await.expect("orphan");
    let worker = ctx.worker(ctx.config()).await;
    wait(&ctx, past, status::EXPIRED).await;
    // The status is committed first, then the zip removed by the same reaper pass.
    let start = Instant::now();
    while zip_path(&ctx, past).exists() {
        assert!(start.elapsed() < WAIT, "the expired zip is deleted");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (_, _, summary) = wait(&ctx, orphan, status::FAILED).await;
    assert_eq!(
        summary,
        "the worker building the package stopped before it finished"
    );
    assert_eq!(row(&ctx, future).await.0, status::FINISHED);
    assert_eq!(row(&ctx, never).await.0, status::FINISHED);
    assert!(zip_path(&ctx, future).exists() && zip_path(&ctx, never).exists());
    worker.stop().await.expect("the worker stops");
}
