//! The results packages' queries: claiming a package, reading the run's outputs, recording
//! progress and the outcome, and the reaper's expiry and failure sweeps.

use super::plan::{Content, Output};
use rodan_core::message::PackageMessage;
use rodan_core::status;
use sqlx::PgPool;
use std::collections::HashMap;
use std::time::Duration;
use uuid::Uuid;

/// A package this worker claimed.
#[derive(Debug, Clone)]
pub(super) struct Claimed {
    pub(super) package: Uuid,
    pub(super) task: String,
    pub(super) run: Uuid,
    pub(super) project: Uuid,
    pub(super) mode: i32,
    pub(super) date: String,
}

/// Claims the package of `message` when it is SCHEDULED under the message's task id: PROCESSING
/// at 0 %. `None` means the message is stale or a duplicate.
pub(super) async fn claim(
    pool: &PgPool,
    message: &PackageMessage,
) -> Result<Option<Claimed>, sqlx::Error> {
    let row: Option<(Uuid, Uuid, i32, String)> = sqlx::query_as(
        r#"UPDATE results_packages rp SET status = $3, percent_completed = 0, updated = now()
           FROM workflow_runs wr
           WHERE rp.uuid = $1 AND rp.status = $4 AND rp.celery_task_id = $2
             AND wr.uuid = rp.workflow_run_uuid
           RETURNING rp.workflow_run_uuid, wr.project_uuid, rp.packaging_mode,
                     to_char(now(), 'YYYY-MM-DD')"#,
    )
    .bind(message.results_package)
    .bind(message.task_id.to_string())
    .bind(status::PROCESSING)
    .bind(status::SCHEDULED)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|(run, project, mode, date)| Claimed {
        package: message.results_package,
        task: message.task_id.to_string(),
        run,
        project,
        mode,
        date,
    }))
}

// Workflow job, job name, port, run job status, error summary, error details, endpoint,
// resource, resource name, resource file, extension, list, list name.
type OutputJoin = (
    String,
    String,
    String,
    i32,
    String,
    String,
    bool,
    Option<Uuid>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<Uuid>,
    Option<String>,
);

/// The outputs of `run`, in run job creation order.
pub async fn outputs(pool: &PgPool, run: Uuid) -> Result<Vec<Output>, sqlx::Error> {
    let rows: Vec<OutputJoin> = sqlx::query_as(
        r#"SELECT rj.workflow_job_hex, rj.job_name, o.output_port_type_name, rj.status,
                  rj.error_summary, rj.error_details,
                  NOT EXISTS (SELECT 1 FROM inputs i JOIN run_jobs c ON c.uuid = i.run_job_uuid
                              WHERE c.workflow_run_uuid = $1
                                AND (i.resource_uuid = o.resource_uuid
                                     OR i.resource_list_uuid = o.resource_list_uuid)),
                  o.resource_uuid, r.name, r.resource_file, rt.extension,
                  o.resource_list_uuid, l.name
           FROM outputs o
           JOIN run_jobs rj ON rj.uuid = o.run_job_uuid
           LEFT JOIN resources r ON r.uuid = o.resource_uuid
           LEFT JOIN resource_types rt ON rt.uuid = r.resource_type_uuid
           LEFT JOIN resource_lists l ON l.uuid = o.resource_list_uuid
           WHERE rj.workflow_run_uuid = $1
           ORDER BY rj.created, rj.uuid, o.created, o.output_port_type_name, o.uuid"#,
    )
    .bind(run)
    .fetch_all(pool)
    .await?;
    let lists: Vec<Uuid> = rows.iter().filter_map(|row| row.11).collect();
    let member_rows: Vec<(Uuid, Option<String>, String)> = sqlx::query_as(
        r#"SELECT m.resource_list_uuid, r.resource_file, rt.extension
           FROM resource_list_members m
           JOIN resources r ON r.uuid = m.resource_uuid
           JOIN resource_types rt ON rt.uuid = r.resource_type_uuid
           WHERE m.resource_list_uuid = ANY($1)
           ORDER BY m.resource_list_uuid, m.position"#,
    )
    .bind(&lists)
    .fetch_all(pool)
    .await?;
    let mut members: HashMap<Uuid, Vec<(Option<String>, String)>> = HashMap::new();
    for (list, file, extension) in member_rows {
        members.entry(list).or_default().push((file, extension));
    }
    Ok(rows
        .into_iter()
        .filter_map(|row| {
            let content = match (row.7, row.11) {
                (Some(uuid), _) => Content::Resource {
                    uuid,
                    name: row.8.unwrap_or_default(),
                    file: row.9,
                    extension: row.10.unwrap_or_default(),
                },
                (None, Some(uuid)) => Content::List {
                    uuid,
                    name: row.12.unwrap_or_default(),
                    members: members.remove(&uuid).unwrap_or_default(),
                },
                (None, None) => return None,
            };
            Some(Output {
                workflow_job: row.0,
                job_name: row.1,
                port: row.2,
                run_job_status: row.3,
                error_summary: row.4,
                error_details: row.5,
                endpoint: row.6,
                content,
            })
        })
        .collect())
}

/// Records progress (or just renews `updated`, the heartbeat the reaper looks at). `false`
/// means the package is no longer ours: cancelled, or reaped.
pub(super) async fn touch(
    pool: &PgPool,
    claimed: &Claimed,
    percent: Option<i32>,
) -> Result<bool, sqlx::Error> {
    sqlx::query(
        r#"UPDATE results_packages
           SET percent_completed = COALESCE($3, percent_completed), updated = now()
           WHERE uuid = $1 AND celery_task_id = $2 AND status = $4"#,
    )
    .bind(claimed.package)
    .bind(&claimed.task)
    .bind(percent)
    .bind(status::PROCESSING)
    .execute(pool)
    .await
    .map(|done| done.rows_affected() == 1)
}

/// Moves a claimed package to `to` (guarded by the claim); `false` when no longer ours.
pub(super) async fn settle_row(
    pool: &PgPool,
    claimed: &Claimed,
    to: i32,
    summary: &str,
    details: &str,
) -> Result<bool, sqlx::Error> {
    sqlx::query(
        r#"UPDATE results_packages
           SET status = $3,
               percent_completed = CASE WHEN $3 = $5 THEN 100
                                        WHEN $3 = $6 THEN 0 ELSE percent_completed END,
               error_summary = $7, error_details = $8, updated = now()
           WHERE uuid = $1 AND celery_task_id = $2 AND status = $4"#,
    )
    .bind(claimed.package)
    .bind(&claimed.task)
    .bind(to)
    .bind(status::PROCESSING)
    .bind(status::FINISHED)
    .bind(status::SCHEDULED)
    .bind(summary)
    .bind(details)
    .execute(pool)
    .await
    .map(|done| done.rows_affected() == 1)
}

/// Finished packages past their `expiry_time` become EXPIRED: `(package, project)` of each.
pub(super) async fn expire(pool: &PgPool) -> Result<Vec<(Uuid, Uuid)>, sqlx::Error> {
    sqlx::query_as(
        r#"UPDATE results_packages rp SET status = $1, updated = now()
           FROM workflow_runs wr
           WHERE rp.status = $2 AND rp.expiry_time <= now() AND wr.uuid = rp.workflow_run_uuid
           RETURNING rp.uuid, wr.project_uuid"#,
    )
    .bind(status::EXPIRED)
    .bind(status::FINISHED)
    .fetch_all(pool)
    .await
}

/// PROCESSING packages without a heartbeat for `lease` (their worker died) fail: `(package,
/// project)` of each.
pub(super) async fn fail_stale(
    pool: &PgPool,
    lease: Duration,
) -> Result<Vec<(Uuid, Uuid)>, sqlx::Error> {
    let lease_ms = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX);
    sqlx::query_as(
        r#"UPDATE results_packages rp SET status = $1, updated = now(),
               error_summary = 'the worker building the package stopped before it finished',
               error_details = 'no worker renewed the package for ' || $3 || ' ms; create a new package'
           FROM workflow_runs wr
           WHERE rp.status = $2 AND rp.updated < now() - $3 * interval '1 millisecond'
             AND wr.uuid = rp.workflow_run_uuid
           RETURNING rp.uuid, wr.project_uuid"#,
    )
    .bind(status::FAILED)
    .bind(status::PROCESSING)
    .bind(lease_ms)
    .fetch_all(pool)
    .await
}
