//! The worker's queries: claiming a run job under a lease, renewing it, reading its ports, and
//! committing its outcome. Every write is guarded by `lease_owner = me AND status = PROCESSING`,
//! so a worker that lost its lease (reaped, cancelled) never overwrites anyone.

use rodan_core::status;
use sqlx::{PgPool, Postgres, Transaction};
use std::sync::LazyLock;
use std::time::Duration;
use uuid::Uuid;

/// A database change a core job asks for, applied in the transaction that finishes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Give `resource` a new name.
    Rename {
        /// The resource.
        resource: Uuid,
        /// Its new name.
        name: String,
    },
    /// Add the label `label` (created when missing) to `resources`.
    Label {
        /// The resources.
        resources: Vec<Uuid>,
        /// The label's name.
        label: String,
    },
}

/// A run job this worker holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Claim {
    /// The run job.
    pub run_job: Uuid,
    /// Its workflow run.
    pub run: Uuid,
    /// The run's project.
    pub project: Uuid,
    /// The job's name.
    pub job_name: String,
    /// The workflow job's settings.
    pub settings: serde_json::Value,
    /// How many times it was started, this one included.
    pub attempts: i32,
    /// Its inputs, by port name then creation.
    pub inputs: Vec<InputRow>,
    /// Its outputs, by port name then creation.
    pub outputs: Vec<OutputRow>,
}

/// What a heartbeat found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lease {
    /// Still ours; renewed.
    Held,
    /// Cancelled while running.
    Cancelled,
    /// Someone else's now, or no longer running (reaped).
    Lost,
}

/// An input of a run job: a resource or a resource list on an input port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputRow {
    /// Input port type name.
    pub port: String,
    /// For a single resource: its file below the media root and its mimetype.
    pub resource: Option<(String, String)>,
    /// For a list: each member's file below the media root and mimetype, in position order.
    pub list: Option<Vec<(String, String)>>,
    /// The single resource's uuid.
    pub resource_uuid: Option<Uuid>,
    /// The single resource's name.
    pub name: String,
}

/// An output of a run job: the placeholder resource (or list) it fills.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputRow {
    /// Output port type name.
    pub port: String,
    /// The placeholder resource, when not a list.
    pub resource: Option<Uuid>,
    /// The placeholder list, when a list.
    pub list: Option<Uuid>,
    /// The mimetype of the resource (or of the list's members).
    pub mimetype: String,
    /// The resource type uuid of the resource (or of the list's members).
    pub resource_type: Option<Uuid>,
}

// Port name, resource file, mimetype, list, resource, resource name, list members (file, mimetype).
type InputJoin = (
    String,
    Option<String>,
    Option<String>,
    Option<Uuid>,
    Option<Uuid>,
    Option<String>,
    Option<Vec<(Option<String>, String)>>,
);
// Port name, resource, list, mimetype, resource type.
type OutputJoin = (
    String,
    Option<Uuid>,
    Option<Uuid>,
    Option<String>,
    Option<Uuid>,
);
// Position in the batch (from 1), run job, run, project, job name, settings, attempts, inputs,
// outputs.
type ClaimJoin = (
    i64,
    Uuid,
    Uuid,
    Uuid,
    String,
    serde_json::Value,
    i32,
    sqlx::types::Json<Vec<InputJoin>>,
    sqlx::types::Json<Vec<OutputJoin>>,
);

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The claim of a batch of messages, with each claimed run job's ports. Status codes are part of
/// the text, not parameters, so PostgreSQL reuses one generic plan instead of planning the
/// statement on every batch.
static CLAIM: LazyLock<String> = LazyLock::new(|| {
    format!(
        r#"WITH claimed AS (
             UPDATE run_jobs rj SET status = {PROCESSING}, lease_owner = $3,
                 lease_expires = now() + $4 * interval '1 millisecond',
                 attempts = rj.attempts + 1, updated = now()
             FROM workflow_runs wr,
                  unnest($1::uuid[], $2::text[]) WITH ORDINALITY AS msg(uuid, task, ord)
             WHERE rj.uuid = msg.uuid AND rj.status = {SCHEDULED} AND rj.celery_task_id = msg.task
               AND wr.uuid = rj.workflow_run_uuid AND wr.status IN ({PROCESSING}, {RETRYING})
             RETURNING msg.ord, rj.uuid, rj.workflow_run_uuid, wr.project_uuid, rj.job_name,
                       rj.job_settings, rj.attempts)
           SELECT c.ord, c.uuid, c.workflow_run_uuid, c.project_uuid, c.job_name, c.job_settings, c.attempts,
             COALESCE((
               SELECT json_agg(json_build_array(
                        i.input_port_type_name, r.resource_file, t.mimetype,
                        i.resource_list_uuid, i.resource_uuid, r.name,
                        CASE WHEN i.resource_list_uuid IS NOT NULL THEN COALESCE((
                          SELECT json_agg(json_build_array(r2.resource_file, t2.mimetype)
                                          ORDER BY m.position)
                          FROM resource_list_members m
                          JOIN resources r2 ON r2.uuid = m.resource_uuid
                          JOIN resource_types t2 ON t2.uuid = r2.resource_type_uuid
                          WHERE m.resource_list_uuid = i.resource_list_uuid), '[]') END)
                      ORDER BY i.input_port_type_name, i.created, i.uuid)
               FROM inputs i
               LEFT JOIN resources r ON r.uuid = i.resource_uuid
               LEFT JOIN resource_types t ON t.uuid = r.resource_type_uuid
               WHERE i.run_job_uuid = c.uuid), '[]'),
             COALESCE((
               SELECT json_agg(json_build_array(
                        o.output_port_type_name, o.resource_uuid, o.resource_list_uuid,
                        COALESCE(t.mimetype, lt.mimetype),
                        COALESCE(r.resource_type_uuid, l.resource_type_uuid))
                      ORDER BY o.output_port_type_name, o.created, o.uuid)
               FROM outputs o
               LEFT JOIN resources r ON r.uuid = o.resource_uuid
               LEFT JOIN resource_types t ON t.uuid = r.resource_type_uuid
               LEFT JOIN resource_lists l ON l.uuid = o.resource_list_uuid
               LEFT JOIN resource_types lt ON lt.uuid = l.resource_type_uuid
               WHERE o.run_job_uuid = c.uuid), '[]')
           FROM claimed c"#,
        SCHEDULED = status::SCHEDULED,
        PROCESSING = status::PROCESSING,
        RETRYING = status::RETRYING,
    )
});

/// Claims `run_job` for `owner` when it is SCHEDULED, its `celery_task_id` is `task`, and its run
/// still runs, and reads its ports, in one statement. `None` means the message is stale or a
/// duplicate.
pub async fn claim(
    pool: &PgPool,
    run_job: Uuid,
    task: Uuid,
    owner: &str,
    lease: Duration,
) -> Result<Option<Claim>, sqlx::Error> {
    Ok(claim_many(pool, &[(run_job, task)], owner, lease)
        .await?
        .pop()
        .flatten())
}

/// [`claim`] for a batch of messages `(run job, task id)` in one statement: one answer per
/// message, in order. Of two messages for the same run job, one at most claims it.
pub async fn claim_many(
    pool: &PgPool,
    messages: &[(Uuid, Uuid)],
    owner: &str,
    lease: Duration,
) -> Result<Vec<Option<Claim>>, sqlx::Error> {
    let (run_jobs, tasks): (Vec<Uuid>, Vec<String>) = messages
        .iter()
        .map(|(run_job, task)| (*run_job, task.to_string()))
        .unzip();
    let rows: Vec<ClaimJoin> = sqlx::query_as(&CLAIM)
        .bind(&run_jobs)
        .bind(&tasks)
        .bind(owner)
        .bind(millis(lease))
        .fetch_all(pool)
        .await?;
    let mut out = vec![None; messages.len()];
    for (ord, run_job, run, project, job_name, settings, attempts, inputs, outputs) in rows {
        let Some(slot) = usize::try_from(ord - 1).ok().and_then(|n| out.get_mut(n)) else {
            continue;
        };
        *slot = Some(Claim {
            run_job,
            run,
            project,
            job_name,
            settings,
            attempts,
            inputs: inputs.0.into_iter().map(input_row).collect(),
            outputs: outputs.0.into_iter().map(output_row).collect(),
        });
    }
    Ok(out)
}

fn input_row((port, file, mimetype, list, resource_uuid, name, members): InputJoin) -> InputRow {
    match list {
        Some(_) => InputRow {
            port,
            resource: None,
            list: Some(
                members
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(f, t)| (f.unwrap_or_default(), t))
                    .collect(),
            ),
            resource_uuid: None,
            name: String::new(),
        },
        None => InputRow {
            port,
            resource: Some((file.unwrap_or_default(), mimetype.unwrap_or_default())),
            list: None,
            resource_uuid,
            name: name.unwrap_or_default(),
        },
    }
}

fn output_row((port, resource, list, mimetype, resource_type): OutputJoin) -> OutputRow {
    OutputRow {
        port,
        resource,
        list,
        mimetype: mimetype.unwrap_or_else(|| "application/octet-stream".to_owned()),
        resource_type,
    }
}

/// After a claim missed: un-dispatches `run_job` when its message `task` is current but its run
/// no longer runs (failed or cancelled), so a later retry of the run dispatches it again.
pub async fn forget_dispatch(pool: &PgPool, run_job: Uuid, task: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query(
        r#"UPDATE run_jobs rj SET celery_task_id = NULL, updated = now()
           FROM workflow_runs wr
           WHERE rj.uuid = $1 AND rj.celery_task_id = $2 AND rj.status = $3
             AND wr.uuid = rj.workflow_run_uuid AND wr.status NOT IN ($4, $5)"#,
    )
    .bind(run_job)
    .bind(task.to_string())
    .bind(status::SCHEDULED)
    .bind(status::PROCESSING)
    .bind(status::RETRYING)
    .execute(pool)
    .await
    .map(|_| ())
}

/// Renews the lease of `run_job` held by `owner`.
pub async fn heartbeat(
    pool: &PgPool,
    run_job: Uuid,
    owner: &str,
    lease: Duration,
) -> Result<Lease, sqlx::Error> {
    let renewed = sqlx::query(
        r#"UPDATE run_jobs SET lease_expires = now() + $3 * interval '1 millisecond'
           WHERE uuid = $1 AND lease_owner = $2 AND status = $4"#,
    )
    .bind(run_job)
    .bind(owner)
    .bind(millis(lease))
    .bind(status::PROCESSING)
    .execute(pool)
    .await?;
    if renewed.rows_affected() == 1 {
        return Ok(Lease::Held);
    }
    let now: Option<i32> = sqlx::query_scalar("SELECT status FROM run_jobs WHERE uuid = $1")
        .bind(run_job)
        .fetch_optional(pool)
        .await?;
    Ok(match now {
        Some(s) if s == status::CANCELLED => Lease::Cancelled,
        _ => Lease::Lost,
    })
}

/// What [`finish_many`] did for one run job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Finished {
    /// The lease was still ours and the run job is FINISHED; false means nothing was written.
    pub held: bool,
    /// No other run job of the run is left to someone else: after the commit, call
    /// [`rodan_db::schedule::finish_run`].
    pub maybe_last: bool,
}

/// Marks each of `run_jobs` FINISHED if `owner` still holds it, for jobs with nothing to place
/// (so nothing downstream became runnable), in one statement (`rodan_finish_run_jobs`,
/// migrations 0003 and 0009): one answer per run job, in order.
pub async fn finish_many(
    pool: &PgPool,
    run_jobs: &[Uuid],
    owner: &str,
) -> Result<Vec<Finished>, sqlx::Error> {
    let rows: Vec<(bool, bool)> =
        sqlx::query_as("SELECT held, maybe_last FROM rodan_finish_run_jobs($1, $2)")
            .bind(run_jobs)
            .bind(owner)
            .fetch_all(pool)
            .await?;
    Ok(rows
        .into_iter()
        .map(|(held, maybe_last)| Finished { held, maybe_last })
        .collect())
}

/// Begins the transaction that finishes `run_job`: marks it FINISHED if `owner` still holds it
/// (`rodan_mark_finished`, the statement [`finish_many`] goes through too).
/// `None` means the lease was lost; nothing was written.
pub async fn begin_finish<'a>(
    pool: &'a PgPool,
    run_job: Uuid,
    owner: &str,
) -> Result<Option<Transaction<'a, Postgres>>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    // The one statement that finishes run jobs (migration 0009), as `finish_many`'s is.
    let done: Option<Uuid> = sqlx::query_scalar("SELECT run_job FROM rodan_mark_finished($1, $2)")
        .bind([run_job].as_slice())
        .bind(owner)
        .fetch_optional(&mut *tx)
        .await?;
    if done.is_some() {
        Ok(Some(tx))
    } else {
        tx.rollback().await?;
        Ok(None)
    }
}

/// Points `resource` at its new file (below the media root) and marks it ready.
pub async fn set_resource_file(
    tx: &mut Transaction<'_, Postgres>,
    resource: Uuid,
    file: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        r#"UPDATE resources SET resource_file = $2, processing_status = NULL, updated = now()
           WHERE uuid = $1"#,
    )
    .bind(resource)
    .bind(file)
    .execute(&mut **tx)
    .await
    .map(|_| ())
}

/// Applies a core job's database changes.
pub async fn apply_effect(
    tx: &mut Transaction<'_, Postgres>,
    effect: &Effect,
) -> Result<(), sqlx::Error> {
    match effect {
        Effect::Rename { resource, name } => {
            sqlx::query("UPDATE resources SET name = $2, updated = now() WHERE uuid = $1")
                .bind(resource)
                .bind(name)
                .execute(&mut **tx)
                .await?;
        }
        Effect::Label { resources, label } => {
            sqlx::query(
                "INSERT INTO resource_labels (uuid, name) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
            )
            .bind(Uuid::new_v4())
            .bind(label)
            .execute(&mut **tx)
            .await?;
            sqlx::query(
                r#"INSERT INTO resource_resource_labels (resource_uuid, label_uuid)
                   SELECT r, l.uuid FROM unnest($1::uuid[]) AS r, resource_labels l
                   WHERE l.name = $2
                   ON CONFLICT DO NOTHING"#,
            )
            .bind(resources)
            .bind(label)
            .execute(&mut **tx)
            .await?;
        }
    }
    Ok(())
}

/// Replaces the members of `list` by new resources; returns their uuids in order. Each is created
/// in `project` with `resource_type`, named `name`, and gets its file later via
/// [`set_resource_file`].
pub async fn replace_list_members(
    tx: &mut Transaction<'_, Postgres>,
    list: Uuid,
    names: &[String],
) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query("DELETE FROM resource_list_members WHERE resource_list_uuid = $1")
        .bind(list)
        .execute(&mut **tx)
        .await?;
    let mut members = Vec::with_capacity(names.len());
    for (position, name) in names.iter().enumerate() {
        let member = Uuid::new_v4();
        sqlx::query(
            r#"INSERT INTO resources (uuid, name, project_uuid, resource_type_uuid, origin_uuid)
               SELECT $1, $2, l.project_uuid,
                      COALESCE(l.resource_type_uuid,
                               (SELECT uuid FROM resource_types
                                WHERE mimetype = 'application/octet-stream')),
                      l.origin_uuid
               FROM resource_lists l WHERE l.uuid = $3"#,
        )
        .bind(member)
        .bind(name)
        .bind(list)
        .execute(&mut **tx)
        .await?;
        sqlx::query(
            "INSERT INTO resource_list_members (resource_list_uuid, resource_uuid, position) VALUES ($1, $2, $3)",
        )
        .bind(list)
        .bind(member)
        .bind(i32::try_from(position).unwrap_or(i32::MAX))
        .execute(&mut **tx)
        .await?;
        members.push(member);
    }
    Ok(members)
}

/// What [`fail`] changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failed {
    /// The lease was lost: nothing was written.
    LeaseLost,
    /// The run job failed; its run had already failed or been cancelled.
    RunJob,
    /// The run job failed, and with it its run.
    WithRun,
}

/// Fails `run_job` (held by `owner`) and its workflow run with the same error, in one
/// transaction.
pub async fn fail(
    pool: &PgPool,
    claim: &Claim,
    owner: &str,
    summary: &str,
    details: &str,
) -> Result<Failed, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let failed = sqlx::query(
        r#"UPDATE run_jobs SET status = $3, error_summary = $4, error_details = $5,
               lease_owner = NULL, lease_expires = NULL, updated = now()
           WHERE uuid = $1 AND lease_owner = $2 AND status = $6"#,
    )
    .bind(claim.run_job)
    .bind(owner)
    .bind(status::FAILED)
    .bind(summary)
    .bind(details)
    .bind(status::PROCESSING)
    .execute(&mut *tx)
    .await?;
    if failed.rows_affected() != 1 {
        tx.rollback().await?;
        return Ok(Failed::LeaseLost);
    }
    let with_run = fail_run(&mut tx, claim.run, summary, details).await?;
    tx.commit().await?;
    Ok(if with_run {
        Failed::WithRun
    } else {
        Failed::RunJob
    })
}

/// Fails `run` if it still runs; true when it did.
async fn fail_run(
    tx: &mut Transaction<'_, Postgres>,
    run: Uuid,
    summary: &str,
    details: &str,
) -> Result<bool, sqlx::Error> {
    sqlx::query(
        r#"UPDATE workflow_runs SET status = $2, error_summary = $3, error_details = $4,
               updated = now()
           WHERE uuid = $1 AND status IN ($5, $6)"#,
    )
    .bind(run)
    .bind(status::FAILED)
    .bind(summary)
    .bind(details)
    .bind(status::PROCESSING)
    .bind(status::RETRYING)
    .execute(&mut **tx)
    .await
    .map(|done| done.rows_affected() == 1)
}

/// Parks `run_job` (held by `owner`) in WAITING_FOR_INPUT: its job asked for a person.
/// `settings_update` (the job's `@` keys) is merged into its settings; the lease, the message id
/// and any working user are cleared, and its attempts start again, so the rounds of an
/// interactive job do not count as retries. Its run keeps running. Returns false when the lease
/// was lost (nothing written).
pub async fn wait_for_input(
    pool: &PgPool,
    run_job: Uuid,
    owner: &str,
    settings_update: &serde_json::Map<String, serde_json::Value>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        r#"UPDATE run_jobs SET status = $3, job_settings = job_settings || $5,
               celery_task_id = NULL, lease_owner = NULL, lease_expires = NULL, attempts = 0,
               error_summary = '', error_details = '', working_user_id = NULL,
               working_user_token = NULL, working_user_expiry = NULL, updated = now()
           WHERE uuid = $1 AND lease_owner = $2 AND status = $4"#,
    )
    .bind(run_job)
    .bind(owner)
    .bind(status::WAITING_FOR_INPUT)
    .bind(status::PROCESSING)
    .bind(sqlx::types::Json(settings_update))
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Gives `run_job` back after a retryable failure: SCHEDULED, undispatched, lease cleared, so the
/// next dispatch sends it again. Returns false when the lease was lost.
pub async fn reschedule(pool: &PgPool, run_job: Uuid, owner: &str) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        r#"UPDATE run_jobs SET status = $3, celery_task_id = NULL, lease_owner = NULL,
               lease_expires = NULL, updated = now()
           WHERE uuid = $1 AND lease_owner = $2 AND status = $4"#,
    )
    .bind(run_job)
    .bind(owner)
    .bind(status::SCHEDULED)
    .bind(status::PROCESSING)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Gives `run_job` back at shutdown: SCHEDULED with its `celery_task_id` kept, so the requeued
/// message claims it again; the attempt is not counted. Returns false when the lease was lost.
pub async fn release(pool: &PgPool, run_job: Uuid, owner: &str) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        r#"UPDATE run_jobs SET status = $3, lease_owner = NULL, lease_expires = NULL,
               attempts = GREATEST(attempts - 1, 0), updated = now()
           WHERE uuid = $1 AND lease_owner = $2 AND status = $4"#,
    )
    .bind(run_job)
    .bind(owner)
    .bind(status::SCHEDULED)
    .bind(status::PROCESSING)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// What one reaper pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reaped {
    /// Run jobs put back to SCHEDULED: (run job, run, project).
    pub rescheduled: Vec<(Uuid, Uuid, Uuid)>,
    /// Run jobs failed for having lost their worker too often: (run job, run, project).
    pub failed: Vec<(Uuid, Uuid, Uuid)>,
    /// The runs those failures failed (those that were still running).
    pub runs_failed: Vec<Uuid>,
}

/// Handles every PROCESSING run job whose lease expired: back to SCHEDULED (undispatched) while
/// `attempts < max_attempts`, else FAILED ("worker lost N times") with its run. Rows another
/// reaper is handling are skipped.
pub async fn reap(pool: &PgPool, max_attempts: i32) -> Result<Reaped, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let expired: Vec<(Uuid, Uuid, Uuid, i32)> = sqlx::query_as(
        // Through the runs (migration 0006): run jobs are PROCESSING only in runs that still run
        // or that failed meanwhile; a week covers any job's timeout.
        // Status codes in the text: the worker's connections use generic plans, which could not
        // match the partial indexes of migration 0006 against parameters.
        &format!(
            r#"SELECT rj.uuid, rj.workflow_run_uuid, wr.project_uuid, rj.attempts
               FROM workflow_runs wr JOIN run_jobs rj ON rj.workflow_run_uuid = wr.uuid
               WHERE (wr.status IN ({PROCESSING}, {RETRYING})
                      OR (wr.status = {FAILED} AND wr.updated > now() - interval '7 days'))
                 AND rj.status = {PROCESSING} AND rj.lease_expires < now()
               ORDER BY rj.lease_expires LIMIT 500
               FOR UPDATE OF rj SKIP LOCKED"#,
            PROCESSING = status::PROCESSING,
            RETRYING = status::RETRYING,
            FAILED = status::FAILED,
        ),
    )
    .fetch_all(&mut *tx)
    .await?;
    let mut out = Reaped::default();
    for (run_job, run, project, attempts) in expired {
        if attempts < max_attempts {
            sqlx::query(
                r#"UPDATE run_jobs SET status = $2, celery_task_id = NULL, lease_owner = NULL,
                       lease_expires = NULL, updated = now() WHERE uuid = $1"#,
            )
            .bind(run_job)
            .bind(status::SCHEDULED)
            .execute(&mut *tx)
            .await?;
            out.rescheduled.push((run_job, run, project));
        } else {
            let summary = format!("worker lost {attempts} times");
            let details = format!(
                "the worker running this job stopped answering {attempts} times (killed, out of memory or unreachable); it is not retried after {max_attempts} attempts"
            );
            sqlx::query(
                r#"UPDATE run_jobs SET status = $2, error_summary = $3, error_details = $4,
                       lease_owner = NULL, lease_expires = NULL, updated = now()
                   WHERE uuid = $1"#,
            )
            .bind(run_job)
            .bind(status::FAILED)
            .bind(&summary)
            .bind(&details)
            .execute(&mut *tx)
            .await?;
            if fail_run(&mut tx, run, &summary, &details).await? {
                out.runs_failed.push(run);
            }
            out.failed.push((run_job, run, project));
        }
    }
    tx.commit().await?;
    Ok(out)
}

/// Runs that should progress but nothing moves them: PROCESSING or RETRYING, with no run job
/// running, queued or waiting for a person, for at least `idle`. Their dispatch was lost (a
/// publish failed, or a worker died between its commit and its dispatch); dispatching them again
/// is safe.
pub async fn stalled_runs(pool: &PgPool, idle: Duration) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        r#"SELECT wr.uuid FROM workflow_runs wr
           WHERE wr.status IN ($1, $2)
             AND EXISTS (SELECT 1 FROM run_jobs rj WHERE rj.workflow_run_uuid = wr.uuid)
             AND NOT EXISTS (
               SELECT 1 FROM run_jobs rj WHERE rj.workflow_run_uuid = wr.uuid AND (
                 rj.status IN ($1, $3)
                 OR (rj.status = $4 AND rj.celery_task_id IS NOT NULL)
                 OR rj.updated > now() - $5 * interval '1 millisecond'))
           LIMIT 100"#,
    )
    .bind(status::PROCESSING)
    .bind(status::RETRYING)
    .bind(status::WAITING_FOR_INPUT)
    .bind(status::SCHEDULED)
    .bind(millis(idle))
    .fetch_all(pool)
    .await
}
