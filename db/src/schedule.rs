//! Run dispatch, shared by the API server (after creating, retrying or redoing a run) and the
//! worker (after each finished run job): upstream's `master_task`, made safe with many callers.
//!
//! A run job is *dispatched* when it is SCHEDULED and carries a `celery_task_id`; the message on
//! its queue names that id. Claiming rows with `FOR UPDATE SKIP LOCKED` means two callers never
//! dispatch the same run job, and a message whose id no longer matches is ignored by workers.

use crate::broker::{Broker, BrokerError};
use crate::events::{Change, Event, ModelName};
use rodan_core::message::{RunJobMessage, Task};
use rodan_core::status;
use sqlx::PgPool;
use uuid::Uuid;

/// A failed dispatch.
#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    /// A query failed.
    #[error("failed to query the run's jobs")]
    Database(#[from] sqlx::Error),
    /// A message could not be published; its run job stays SCHEDULED and undispatched.
    #[error("failed to publish a run job")]
    Broker(#[from] BrokerError),
}

/// What one dispatch did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Dispatched {
    /// Messages published.
    pub messages: Vec<RunJobMessage>,
    /// The run's new status when this call finished it.
    pub run_finished: bool,
    /// Events to publish about the rows this call changed.
    pub events: Vec<Event>,
}

// The run's project, whether it may be complete, and one dispatched run job per row (uuid,
// queue, job name, task id), all null when none was.
type RunnableRow = (
    Uuid,
    bool,
    Option<Uuid>,
    Option<String>,
    Option<String>,
    Option<String>,
);

/// Finishes `run` when it still runs and every run job of it is FINISHED, under the run's row
/// lock and with a fresh snapshot (`rodan_finish_run`, migration 0003). Call it after the commit
/// of a finish that may have been the run's last. True when this call finished the run.
pub async fn finish_run(pool: &PgPool, run: Uuid) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT rodan_finish_run($1)")
        .bind(run)
        .fetch_one(pool)
        .await
}

/// What [`claim_runnable`] found.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Runnable {
    /// The messages to publish, with their queues.
    pub messages: Vec<(String, RunJobMessage)>,
    /// Whether this call finished the run.
    pub finished: bool,
    /// The run's project, when the run exists.
    pub project: Option<Uuid>,
}

/// The SQL condition, over a run job `rj` joined to its run `wr`, of a run job that may run and
/// is not dispatched yet: SCHEDULED without a task id, in a run that is PROCESSING or RETRYING,
/// every input's file present (and every list non-empty with all its members' files). The
/// dispatch statement claims such rows; the API's re-dispatch sweep finds runs that have some.
pub static RUNNABLE_UNDISPATCHED: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        r#"rj.status = {SCHEDULED}
              AND rj.celery_task_id IS NULL
              AND wr.status IN ({PROCESSING}, {RETRYING})
              AND NOT EXISTS (
                SELECT 1 FROM inputs i
                LEFT JOIN resources r ON r.uuid = i.resource_uuid
                WHERE i.run_job_uuid = rj.uuid AND (
                    (i.resource_uuid IS NOT NULL AND r.resource_file IS NULL)
                    OR (i.resource_list_uuid IS NOT NULL AND (
                        NOT EXISTS (SELECT 1 FROM resource_list_members m
                                    WHERE m.resource_list_uuid = i.resource_list_uuid)
                        OR EXISTS (SELECT 1 FROM resource_list_members m
                                   JOIN resources r2 ON r2.uuid = m.resource_uuid
                                   WHERE m.resource_list_uuid = i.resource_list_uuid
                                     AND r2.resource_file IS NULL)))))"#,
        SCHEDULED = status::SCHEDULED,
        PROCESSING = status::PROCESSING,
        RETRYING = status::RETRYING,
    )
});

/// The dispatch statement. Status codes are part of its text, not parameters, so that
/// PostgreSQL's cached generic plan can use the partial indexes on them instead of planning the
/// statement again on every call (planning was most of its cost).
static RUNNABLE: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        r#"
        WITH runnable AS (
            SELECT rj.uuid
            FROM run_jobs rj JOIN workflow_runs wr ON wr.uuid = rj.workflow_run_uuid
            WHERE rj.workflow_run_uuid = $1
              AND {RUNNABLE_UNDISPATCHED}
            FOR UPDATE OF rj SKIP LOCKED
        ), dispatched AS (
            UPDATE run_jobs SET celery_task_id = gen_random_uuid()::text, updated = now()
            FROM runnable WHERE run_jobs.uuid = runnable.uuid
            RETURNING run_jobs.uuid, run_jobs.job_queue, run_jobs.job_name,
                      run_jobs.celery_task_id
        )
        -- Whether the run may be complete: nothing dispatched now, and no run job that is
        -- neither FINISHED nor PROCESSING (see migration 0003 for why that rule is enough).
        SELECT wr.project_uuid,
               wr.status IN ({PROCESSING}, {RETRYING})
                 AND NOT EXISTS (SELECT 1 FROM dispatched)
                 AND NOT EXISTS (SELECT 1 FROM run_jobs
                                 WHERE workflow_run_uuid = $1
                                   AND status NOT IN ({PROCESSING}, {FINISHED})),
               d.uuid, d.job_queue, d.job_name, d.celery_task_id
        FROM workflow_runs wr LEFT JOIN dispatched d ON true
        WHERE wr.uuid = $1
        "#,
        RUNNABLE_UNDISPATCHED = *RUNNABLE_UNDISPATCHED,
        PROCESSING = status::PROCESSING,
        RETRYING = status::RETRYING,
        FINISHED = status::FINISHED,
    )
});

/// Marks every runnable run job of `run` as dispatched and returns the messages to publish: run
/// jobs still SCHEDULED and not yet dispatched, in a run that is PROCESSING or RETRYING, whose
/// inputs all have their files (and non-empty lists whose members all have files). When nothing is
/// left to run and every run job is FINISHED, the run becomes FINISHED ([`finish_run`]).
///
/// One statement, and a second only when the run may be complete: workers call this after
/// every run job they finish with outputs.
pub async fn claim_runnable(pool: &PgPool, run: Uuid) -> Result<Runnable, sqlx::Error> {
    let rows: Vec<RunnableRow> = sqlx::query_as(&RUNNABLE).bind(run).fetch_all(pool).await?;
    let mut out = Runnable::default();
    let mut maybe_complete = false;
    for (project, complete, run_job, queue, job_name, task) in rows {
        out.project = Some(project);
        maybe_complete = complete;
        let (Some(run_job), Some(queue), Some(job_name), Some(task)) =
            (run_job, queue, job_name, task)
        else {
            continue;
        };
        let Ok(task_id) = Uuid::parse_str(&task) else {
            continue;
        };
        out.messages.push((
            queue,
            RunJobMessage {
                run_job,
                task_id,
                job_name,
            },
        ));
    }
    if maybe_complete {
        out.finished = finish_run(pool, run).await?;
    }
    Ok(out)
}

/// Dispatches what is runnable in `run` (see [`claim_runnable`]) and publishes each message. A
/// message that cannot be published is un-dispatched again so the next call retries it.
pub async fn dispatch(
    pool: &PgPool,
    broker: &Broker,
    run: Uuid,
) -> Result<Dispatched, DispatchError> {
    let Runnable {
        messages,
        finished: run_finished,
        project,
    } = claim_runnable(pool, run).await?;
    let mut out = Dispatched {
        run_finished,
        ..Dispatched::default()
    };
    if run_finished {
        out.events.push(Event::new(
            Change::Updated,
            ModelName::WorkflowRun,
            run,
            project,
        ));
    }
    if messages.is_empty() {
        return Ok(out);
    }
    let tasks: Vec<(&str, Task)> = messages
        .iter()
        .map(|(queue, message)| (queue.as_str(), Task::RunJob(message.clone())))
        .collect();
    if let Err(error) = broker.publish_all(&tasks).await {
        // Un-dispatch the whole batch: a message that did arrive now carries a stale task id and
        // is dropped by workers; the next dispatch of this run publishes them all again.
        let ids: Vec<Uuid> = messages.iter().map(|(_, m)| m.run_job).collect();
        let tasks: Vec<String> = messages
            .iter()
            .map(|(_, m)| m.task_id.to_string())
            .collect();
        sqlx::query(
            "UPDATE run_jobs SET celery_task_id = NULL
             FROM unnest($1::uuid[], $2::text[]) AS d(uuid, task)
             WHERE run_jobs.uuid = d.uuid AND run_jobs.celery_task_id = d.task",
        )
        .bind(&ids)
        .bind(&tasks)
        .execute(pool)
        .await?;
        return Err(error.into());
    }
    for (_, message) in messages {
        out.events.push(Event::new(
            Change::Updated,
            ModelName::RunJob,
            message.run_job,
            project,
        ));
        out.messages.push(message);
    }
    Ok(out)
}
