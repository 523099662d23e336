//! Workflow runs: creating one materialises all its run jobs in one transaction (upstream's
//! `create_workflowrun`) and dispatches the runnable ones; `PATCH` cancels (29), retries (31) or
//! redoes a run job's subtree; `DELETE` removes the run and the resources it generated.

use super::graph;
use crate::auth::User;
use crate::body::Body;
use crate::body::field::{Document, Int, Link, Text};
use crate::error::{ApiError, ApiResult};
use crate::limits::max_len;
use crate::link::{Base, parse_ref, require_ref};
use crate::models::{WORKFLOW, WORKFLOW_RUN};
use crate::perm::{self, Role};
use crate::query::{self, RawJson};
use crate::routes::read::{Access, path_uuid};
use crate::state::AppState;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use rodan_core::status;
use rodan_core::workflow::{
    self as wf, PlannedInput, PlannedOutput, PlannedRunJob, ResourceInfo, ResourceKind,
    ResourceRef, RunInfo, RunPlan,
};
use rodan_db::events::{Change, ModelName};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashSet;
use uuid::Uuid;

pub(super) fn routes() -> Router<AppState> {
    use super::{detail, list};
    Router::new()
        .route(
            "/api/workflowruns/",
            list(&WORKFLOW_RUN, Access::Members).post(create).into(),
        )
        .route(
            "/api/workflowrun/{id}/",
            detail(&WORKFLOW_RUN, Access::Members)
                .put_patch(update)
                .delete(delete)
                .into(),
        )
}

fn assignment_error(message: impl Into<String>) -> ApiError {
    ApiError::field("resource_assignments", message)
}

/// What the assignment checks need about each assigned resource or list.
async fn resource_infos(state: &AppState, ids: &[Uuid]) -> ApiResult<Vec<ResourceInfo>> {
    let resources: Vec<(Uuid, String, Uuid, String, bool)> = sqlx::query_as(
        "SELECT r.uuid, r.name, r.project_uuid, rt.mimetype, r.resource_file IS NOT NULL
         FROM resources r JOIN resource_types rt ON rt.uuid = r.resource_type_uuid WHERE r.uuid = ANY($1)",
    )
    .bind(ids)
    .fetch_all(&state.pool)
    .await?;
    type ListRow = (Uuid, String, Uuid, Option<String>, Vec<bool>);
    let lists: Vec<ListRow> = sqlx::query_as(
        "SELECT l.uuid, l.name, l.project_uuid,
                coalesce((SELECT mimetype FROM resource_types WHERE uuid = l.resource_type_uuid),
                         (SELECT rt.mimetype FROM resource_list_members m JOIN resources r ON r.uuid = m.resource_uuid
                          JOIN resource_types rt ON rt.uuid = r.resource_type_uuid
                          WHERE m.resource_list_uuid = l.uuid ORDER BY m.position LIMIT 1)),
                ARRAY(SELECT r.resource_file IS NOT NULL FROM resource_list_members m JOIN resources r ON r.uuid = m.resource_uuid
                      WHERE m.resource_list_uuid = l.uuid ORDER BY m.position)
         FROM resource_lists l WHERE l.uuid = ANY($1)",
    )
    .bind(ids)
    .fetch_all(&state.pool)
    .await?;
    let mut out: Vec<ResourceInfo> = resources
        .into_iter()
        .map(
            |(uuid, name, project, resource_type, has_file)| ResourceInfo {
                uuid,
                name,
                project,
                resource_type,
                kind: ResourceKind::Resource { has_file },
            },
        )
        .collect();
    out.extend(
        lists
            .into_iter()
            .map(|(uuid, name, project, resource_type, files)| ResourceInfo {
                uuid,
                name,
                project,
                resource_type: resource_type.unwrap_or_else(|| wf::OCTET_STREAM.to_owned()),
                kind: ResourceKind::List {
                    members_have_files: files,
                },
            }),
    );
    Ok(out)
}

/// `POST /api/workflowruns/`: a run of a valid workflow over the resources assigned to its
/// input ports.
#[derive(Debug, Deserialize, JsonSchema)]
pub(super) struct NewRun {
    workflow: Link,
    /// The workflow's name when not given.
    #[serde(default)]
    #[schemars(length(max = max_len::RUN_NAME))]
    name: Option<Text>,
    #[serde(default)]
    description: Option<Text>,
    /// Input port hyperlinks to lists of resource (or resource list) hyperlinks, as upstream's
    /// client sends them; none for a workflow without inputs.
    #[serde(default)]
    resource_assignments: Option<Document>,
    /// Only 21 (request processing), a new run's status.
    #[serde(default)]
    status: Option<Int>,
    /// Not on a new run.
    #[serde(default)]
    last_redone_runjob_tree: Option<Link>,
}

/// `PUT`/`PATCH /api/workflowrun/<uuid>/`: the name and description; `status` 29 cancels and
/// 31 retries; `last_redone_runjob_tree` redoes that run job and what follows it.
#[derive(Debug, Deserialize, JsonSchema)]
pub(super) struct RunChange {
    #[serde(default)]
    #[schemars(length(max = max_len::RUN_NAME))]
    name: Option<Text>,
    #[serde(default)]
    description: Option<Text>,
    #[serde(default)]
    status: Option<Int>,
    #[serde(default)]
    last_redone_runjob_tree: Option<Link>,
}

async fn create(
    State(state): State<AppState>,
    base: Base,
    user: User,
    body: Body,
) -> ApiResult<RawJson> {
    crate::limits::check_lengths(&body, &[("name", max_len::RUN_NAME)])?;
    let NewRun {
        workflow,
        name,
        description,
        resource_assignments,
        status: given_status,
        last_redone_runjob_tree,
    } = body.typed()?;
    let workflow = require_ref(&workflow.0, "workflow", "workflow")?;
    let project =
        perm::require_field_object(&state.pool, &user, &WORKFLOW, workflow, "workflow").await?;
    if given_status.is_some_and(|Int(s)| s != i64::from(status::REQUEST_PROCESSING)) {
        return Err(ApiError::field(
            "status",
            "Cannot create a workflow run with a status other than 21 (request processing).",
        ));
    }
    if last_redone_runjob_tree.is_some() {
        return Err(ApiError::field(
            "last_redone_runjob_tree",
            "Cannot redo a run job while creating a run.",
        ));
    }
    let valid: bool = sqlx::query_scalar("SELECT valid FROM workflows WHERE uuid = $1")
        .bind(workflow)
        .fetch_one(&state.pool)
        .await?;
    if !valid {
        return Err(ApiError::field(
            "workflow",
            "Workflow must be valid before you can run it.",
        ));
    }
    let raw = resource_assignments.map_or_else(|| json!({}), |d| d.0);
    let parsed = wf::parse_assignments(&raw)
        .map_err(|e| ApiError::Detail(StatusCode::BAD_REQUEST, e.to_string()))?;
    let mut assignments = Vec::with_capacity(parsed.len());
    let mut ids = Vec::new();
    for (port_url, urls) in &parsed {
        let port = parse_ref(port_url, "inputport")
            .ok_or_else(|| assignment_error(format!("{port_url} is not an input port.")))?;
        let mut resources = Vec::with_capacity(urls.len());
        for url in urls {
            let id = parse_ref(url, "resource")
                .or_else(|| parse_ref(url, "resourcelist"))
                .ok_or_else(|| {
                    assignment_error(format!("{url} is not a resource or a resource list."))
                })?;
            resources.push(id);
            ids.push(id);
        }
        assignments.push((port, resources));
    }
    let infos = resource_infos(&state, &ids).await?;
    let graph = graph::load(&state.pool, workflow).await?;
    let catalogue = graph::catalogue(&state.pool).await?;
    let validated =
        wf::validate(&graph, &catalogue).map_err(|e| ApiError::field("workflow", e.to_string()))?;
    let checked = wf::check_assignments(
        &graph,
        &validated,
        &catalogue,
        project,
        &assignments,
        &infos,
    )
    .map_err(|e| {
        let body = e.body(|port| base.detail("inputport", port));
        match body {
            Value::Object(map) => ApiError::Fields(
                map.into_iter()
                    .map(|(k, v)| {
                        let messages = match v {
                            Value::Array(items) => items
                                .into_iter()
                                .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned))
                                .collect(),
                            Value::String(s) => vec![s],
                            other => vec![other.to_string()],
                        };
                        (k, messages)
                    })
                    .collect(),
            ),
            other => assignment_error(other.to_string()),
        }
    })?;
    let run = Uuid::new_v4();
    let name = name
        .map(|n| n.0)
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| graph.name.clone());
    let plan = wf::plan_run(
        &graph,
        &validated,
        &catalogue,
        &checked,
        &RunInfo {
            uuid: run,
            name: name.clone(),
        },
    );
    insert_run(
        &state,
        run,
        workflow,
        project,
        &user,
        &name,
        &description.unwrap_or_default().0,
        &plan,
    )
    .await?;
    state
        .emit(Change::Created, ModelName::WorkflowRun, run, Some(project))
        .await;
    dispatch(&state, run).await;
    Ok(RawJson(
        StatusCode::CREATED,
        query::detail(&state.pool, &WORKFLOW_RUN, &base.0, Some(&user), run).await?,
    ))
}

/// Writes a planned run in one transaction: the run, each placeholder output resource (or
/// list), each run job with its outputs and inputs.
#[allow(clippy::too_many_arguments)]
async fn insert_run(
    state: &AppState,
    run: Uuid,
    workflow: Uuid,
    project: Uuid,
    user: &User,
    name: &str,
    description: &str,
    plan: &RunPlan,
) -> ApiResult<()> {
    // One statement per table, whatever the run's size: each row kind goes as columns of arrays
    // through `unnest` (a batch of 100 pages through a chain of three jobs used to cost about
    // 1 500 round trips; it costs eight).
    let jobs = &plan.run_jobs;
    let outputs: Vec<(&PlannedRunJob, &PlannedOutput)> = jobs
        .iter()
        .flat_map(|job| job.outputs.iter().map(move |o| (job, o)))
        .collect();
    let inputs: Vec<(&PlannedRunJob, &PlannedInput)> = jobs
        .iter()
        .flat_map(|job| job.inputs.iter().map(move |i| (job, i)))
        .collect();
    let (lists, resources): (Vec<&PlannedOutput>, Vec<&PlannedOutput>) = outputs
        .iter()
        .map(|(_, o)| *o)
        .partition(|o| o.resource.is_list);
    let split = |r: ResourceRef| match r {
        ResourceRef::Resource(u) => (Some(u), None),
        ResourceRef::List(u) => (None, Some(u)),
    };

    let mut tx = state.pool.begin().await?;
    sqlx::query(
        "INSERT INTO workflow_runs (uuid, project_uuid, workflow_uuid, creator_id, status, name, description) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(run)
    .bind(project)
    .bind(workflow)
    .bind(user.id)
    .bind(status::PROCESSING)
    .bind(name)
    .bind(description)
    .execute(&mut *tx)
    .await?;
    // In plan order, each with its own clock_timestamp(): `created` orders them as upstream's
    // one-by-one saves did.
    sqlx::query(
        "INSERT INTO run_jobs (uuid, workflow_run_uuid, workflow_job_uuid, workflow_job_hex, resource_hex, job_name, job_queue, job_settings, status, created)
         SELECT j.uuid, $1, j.workflow_job, replace(j.workflow_job::text, '-', ''), j.resource_hex,
                j.job_name, j.job_queue, j.settings, $2, clock_timestamp()
         FROM unnest($3::uuid[], $4::uuid[], $5::text[], $6::text[], $7::text[], $8::jsonb[])
              WITH ORDINALITY AS j(uuid, workflow_job, resource_hex, job_name, job_queue, settings, n)
         ORDER BY j.n",
    )
    .bind(run)
    .bind(status::SCHEDULED)
    .bind(jobs.iter().map(|j| j.uuid).collect::<Vec<_>>())
    .bind(jobs.iter().map(|j| j.workflow_job).collect::<Vec<_>>())
    .bind(
        jobs.iter()
            .map(|j| j.resource_uuid.map(|u| u.simple().to_string()))
            .collect::<Vec<_>>(),
    )
    .bind(jobs.iter().map(|j| j.job_name.as_str()).collect::<Vec<_>>())
    .bind(jobs.iter().map(|j| j.job_queue.as_str()).collect::<Vec<_>>())
    .bind(jobs.iter().map(|j| &j.settings).collect::<Vec<_>>())
    .execute(&mut *tx)
    .await?;
    // The placeholders, then the outputs that will fill them; each points at the other, so the
    // placeholders' side is set once both exist.
    let (uuids, names, descriptions, projects, types, origins) = placeholders(&resources);
    sqlx::query(
        "INSERT INTO resources (uuid, name, description, project_uuid, resource_type_uuid, processing_status, creator_id)
         SELECT r.uuid, r.name, r.description, r.project,
                coalesce(t.uuid, (SELECT uuid FROM resource_types WHERE mimetype = 'application/octet-stream')),
                $6, $7
         FROM unnest($1::uuid[], $2::text[], $3::text[], $4::uuid[], $5::text[])
              AS r(uuid, name, description, project, mimetype)
         LEFT JOIN resource_types t ON t.mimetype = r.mimetype",
    )
    .bind(&uuids)
    .bind(&names)
    .bind(&descriptions)
    .bind(&projects)
    .bind(&types)
    .bind(status::SCHEDULED)
    .bind(user.id)
    .execute(&mut *tx)
    .await?;
    let resource_origins = (uuids, origins);
    let (uuids, names, descriptions, projects, types, origins) = placeholders(&lists);
    sqlx::query(
        "INSERT INTO resource_lists (uuid, name, description, project_uuid, resource_type_uuid, creator_id)
         SELECT r.uuid, r.name, r.description, r.project, t.uuid, $6
         FROM unnest($1::uuid[], $2::text[], $3::text[], $4::uuid[], $5::text[])
              AS r(uuid, name, description, project, mimetype)
         LEFT JOIN resource_types t ON t.mimetype = r.mimetype",
    )
    .bind(&uuids)
    .bind(&names)
    .bind(&descriptions)
    .bind(&projects)
    .bind(&types)
    .bind(user.id)
    .execute(&mut *tx)
    .await?;
    let list_origins = (uuids, origins);
    let (output_resources, output_lists): (Vec<_>, Vec<_>) = outputs
        .iter()
        .map(|(_, o)| split(o.resource.as_ref()))
        .unzip();
    sqlx::query(
        "INSERT INTO outputs (uuid, output_port_uuid, output_port_type_name, run_job_uuid, resource_uuid, resource_list_uuid)
         SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::uuid[], $5::uuid[], $6::uuid[])",
    )
    .bind(outputs.iter().map(|(_, o)| o.uuid).collect::<Vec<_>>())
    .bind(outputs.iter().map(|(_, o)| o.output_port).collect::<Vec<_>>())
    .bind(
        outputs
            .iter()
            .map(|(_, o)| o.port_type_name.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(outputs.iter().map(|(j, _)| j.uuid).collect::<Vec<_>>())
    .bind(&output_resources)
    .bind(&output_lists)
    .execute(&mut *tx)
    .await?;
    for (table, (placeholders, origins)) in [
        ("resources", resource_origins),
        ("resource_lists", list_origins),
    ] {
        if placeholders.is_empty() {
            continue;
        }
        sqlx::query(&format!(
            "UPDATE {table} t SET origin_uuid = o.origin
             FROM unnest($1::uuid[], $2::uuid[]) AS o(uuid, origin) WHERE t.uuid = o.uuid"
        ))
        .bind(&placeholders)
        .bind(&origins)
        .execute(&mut *tx)
        .await?;
    }
    // Inputs after every output: an input may point at a later job's placeholder.
    let (input_resources, input_lists): (Vec<_>, Vec<_>) =
        inputs.iter().map(|(_, i)| split(i.source)).unzip();
    sqlx::query(
        "INSERT INTO inputs (uuid, input_port_uuid, input_port_type_name, resource_uuid, resource_list_uuid, run_job_uuid)
         SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::uuid[], $5::uuid[], $6::uuid[])",
    )
    .bind(inputs.iter().map(|(_, i)| i.uuid).collect::<Vec<_>>())
    .bind(inputs.iter().map(|(_, i)| i.input_port).collect::<Vec<_>>())
    .bind(
        inputs
            .iter()
            .map(|(_, i)| i.port_type_name.as_str())
            .collect::<Vec<_>>(),
    )
    .bind(&input_resources)
    .bind(&input_lists)
    .bind(inputs.iter().map(|(j, _)| j.uuid).collect::<Vec<_>>())
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Placeholder columns: uuid, name, description, project, mimetype, and the output that fills it.
type Placeholders<'a> = (
    Vec<Uuid>,
    Vec<&'a str>,
    Vec<&'a str>,
    Vec<Uuid>,
    Vec<&'a str>,
    Vec<Uuid>,
);

/// The placeholders that `outputs` fill, as columns.
fn placeholders<'a>(outputs: &[&'a PlannedOutput]) -> Placeholders<'a> {
    let r = |o: &&'a PlannedOutput| &o.resource;
    (
        outputs.iter().map(|o| r(o).uuid).collect(),
        outputs.iter().map(|o| r(o).name.as_str()).collect(),
        outputs.iter().map(|o| r(o).description.as_str()).collect(),
        outputs.iter().map(|o| r(o).project).collect(),
        outputs
            .iter()
            .map(|o| r(o).resource_type.as_str())
            .collect(),
        outputs.iter().map(|o| o.uuid).collect(),
    )
}

/// Dispatches the run's runnable jobs and publishes the resulting events. Called after the
/// run's change is committed, so it cannot fail the request: a client told 500 would create the
/// run again. What it could not publish (RabbitMQ down) stays undispatched in the database, and
/// the re-dispatch loop ([`crate::redispatch`]) publishes it when RabbitMQ is back.
pub(crate) async fn dispatch(state: &AppState, run: Uuid) {
    match rodan_db::schedule::dispatch(&state.pool, &state.broker, run).await {
        Ok(done) => state.events.publish_all(&done.events).await,
        Err(error) => tracing::warn!(
            %run,
            error = format!("{:#}", anyhow::Error::from(error)),
            "dispatch failed; the run is stored and is dispatched again later"
        ),
    }
}

async fn update(
    State(state): State<AppState>,
    base: Base,
    user: User,
    path: Path<String>,
    body: Body,
) -> ApiResult<RawJson> {
    crate::limits::check_lengths(&body, &[("name", max_len::RUN_NAME)])?;
    let id = path_uuid(path)?;
    let RunChange {
        name,
        description,
        status: requested,
        last_redone_runjob_tree,
    } = body.typed()?;
    let project = perm::require_object(&state.pool, &user, &WORKFLOW_RUN, id, Role::Worker).await?;
    let current: i32 = sqlx::query_scalar("SELECT status FROM workflow_runs WHERE uuid = $1")
        .bind(id)
        .fetch_one(&state.pool)
        .await?;
    if let Some(Text(name)) = name {
        sqlx::query("UPDATE workflow_runs SET name = $2, updated = now() WHERE uuid = $1")
            .bind(id)
            .bind(name)
            .execute(&state.pool)
            .await?;
    }
    if let Some(Text(description)) = description {
        sqlx::query("UPDATE workflow_runs SET description = $2, updated = now() WHERE uuid = $1")
            .bind(id)
            .bind(description)
            .execute(&state.pool)
            .await?;
    }
    if let Some(redo) = last_redone_runjob_tree {
        let run_job = require_ref(&redo.0, "runjob", "last_redone_runjob_tree")?;
        redo_tree(&state, id, run_job).await?;
    } else if let Some(Int(requested)) = requested {
        match i32::try_from(requested).unwrap_or(i32::MIN) {
            status::REQUEST_CANCELLING => {
                if ![status::PROCESSING, status::RETRYING, status::FAILED].contains(&current) {
                    return Err(ApiError::field(
                        "status",
                        "Cannot cancel a workflow run that is not processing, retrying or failed.",
                    ));
                }
                cancel(&state, id).await?;
            }
            status::REQUEST_RETRYING => {
                if ![status::CANCELLED, status::FAILED].contains(&current) {
                    return Err(ApiError::field(
                        "status",
                        "Cannot retry a workflow run that is not failed or cancelled.",
                    ));
                }
                retry(&state, id).await?;
            }
            s if s == current => {}
            _ => {
                return Err(ApiError::field(
                    "status",
                    "Invalid status update: use 29 to cancel or 31 to retry.",
                ));
            }
        }
    }
    state
        .emit(Change::Updated, ModelName::WorkflowRun, id, Some(project))
        .await;
    Ok(RawJson(
        StatusCode::OK,
        query::detail(&state.pool, &WORKFLOW_RUN, &base.0, Some(&user), id).await?,
    ))
}

/// Cancels: every unfinished run job becomes CANCELLED (a worker running one sees it at its next
/// heartbeat and stops), and so does the run.
async fn cancel(state: &AppState, run: Uuid) -> ApiResult<()> {
    let mut tx = state.pool.begin().await?;
    sqlx::query("UPDATE run_jobs SET status = $2, updated = now() WHERE workflow_run_uuid = $1 AND status IN ($3, $4, $5)")
        .bind(run)
        .bind(status::CANCELLED)
        .bind(status::SCHEDULED)
        .bind(status::PROCESSING)
        .bind(status::WAITING_FOR_INPUT)
        .execute(&mut *tx)
        .await?;
    sqlx::query("UPDATE workflow_runs SET status = $2, updated = now() WHERE uuid = $1")
        .bind(run)
        .bind(status::CANCELLED)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// Strips the runtime `@` keys from settings, as upstream does before re-running a job.
const STRIP_RUNTIME_SETTINGS: &str = "(SELECT coalesce(jsonb_object_agg(key, value), '{}') FROM jsonb_each(job_settings) WHERE key NOT LIKE '@%')";

/// Retries: failed and cancelled run jobs go back to SCHEDULED, the run to RETRYING.
async fn retry(state: &AppState, run: Uuid) -> ApiResult<()> {
    let mut tx = state.pool.begin().await?;
    sqlx::query(&format!(
        "UPDATE run_jobs SET status = $2, celery_task_id = NULL, error_summary = '', error_details = '', attempts = 0,
           lease_owner = NULL, lease_expires = NULL, job_settings = {STRIP_RUNTIME_SETTINGS}, updated = now()
         WHERE workflow_run_uuid = $1 AND status IN ($3, $4)"
    ))
    .bind(run)
    .bind(status::SCHEDULED)
    .bind(status::FAILED)
    .bind(status::CANCELLED)
    .execute(&mut *tx)
    .await?;
    sqlx::query("UPDATE workflow_runs SET status = $2, error_summary = '', error_details = '', updated = now() WHERE uuid = $1")
        .bind(run)
        .bind(status::RETRYING)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    dispatch(state, run).await;
    Ok(())
}

/// Redoes a run job and everything downstream of it.
async fn redo_tree(state: &AppState, run: Uuid, root: Uuid) -> ApiResult<()> {
    let in_run: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM run_jobs WHERE uuid = $1 AND workflow_run_uuid = $2)",
    )
    .bind(root)
    .bind(run)
    .fetch_one(&state.pool)
    .await?;
    if !in_run {
        return Err(ApiError::field(
            "last_redone_runjob_tree",
            "The run job is not part of this workflow run.",
        ));
    }
    let mut tx = state.pool.begin().await?;
    let tree: Vec<Uuid> = sqlx::query_scalar(
        "WITH RECURSIVE tree(uuid) AS (
           SELECT $1::uuid
           UNION
           SELECT i.run_job_uuid FROM tree t
           JOIN outputs o ON o.run_job_uuid = t.uuid
           JOIN inputs i ON (i.resource_uuid = o.resource_uuid OR i.resource_list_uuid = o.resource_list_uuid)
         ) SELECT uuid FROM tree",
    )
    .bind(root)
    .fetch_all(&mut *tx)
    .await?;
    let unique: HashSet<Uuid> = tree.into_iter().collect();
    let tree: Vec<Uuid> = unique.into_iter().collect();
    sqlx::query(&format!(
        "UPDATE run_jobs SET status = $2, celery_task_id = NULL, error_summary = '', error_details = '', attempts = 0,
           lease_owner = NULL, lease_expires = NULL, job_settings = {STRIP_RUNTIME_SETTINGS}, updated = now()
         WHERE uuid = ANY($1)"
    ))
    .bind(&tree)
    .bind(status::SCHEDULED)
    .execute(&mut *tx)
    .await?;
    // Their outputs are produced again; until then they have no file, so nothing downstream runs.
    sqlx::query("UPDATE resources SET resource_file = NULL, processing_status = $2 WHERE uuid IN (SELECT resource_uuid FROM outputs WHERE run_job_uuid = ANY($1))")
        .bind(&tree)
        .bind(status::SCHEDULED)
        .execute(&mut *tx)
        .await?;
    sqlx::query("UPDATE workflow_runs SET status = $2, last_redone_runjob_tree = $3, updated = now() WHERE uuid = $1")
        .bind(run)
        .bind(status::RETRYING)
        .bind(root)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    dispatch(state, run).await;
    Ok(())
}

async fn delete(
    State(state): State<AppState>,
    user: User,
    path: Path<String>,
) -> ApiResult<StatusCode> {
    let id = path_uuid(path)?;
    let project = perm::require_object(&state.pool, &user, &WORKFLOW_RUN, id, Role::Worker).await?;
    let mut tx = state.pool.begin().await?;
    // Stop running jobs first (workers see CANCELLED), then remove the run and its outputs.
    sqlx::query(
        "UPDATE run_jobs SET status = $2 WHERE workflow_run_uuid = $1 AND status IN ($3, $4)",
    )
    .bind(id)
    .bind(status::CANCELLED)
    .bind(status::SCHEDULED)
    .bind(status::PROCESSING)
    .execute(&mut *tx)
    .await?;
    let generated: Vec<Uuid> = sqlx::query_scalar(
        "SELECT o.resource_uuid FROM outputs o JOIN run_jobs j ON j.uuid = o.run_job_uuid WHERE j.workflow_run_uuid = $1 AND o.resource_uuid IS NOT NULL",
    )
    .bind(id)
    .fetch_all(&mut *tx)
    .await?;
    let lists: Vec<Uuid> = sqlx::query_scalar(
        "SELECT o.resource_list_uuid FROM outputs o JOIN run_jobs j ON j.uuid = o.run_job_uuid WHERE j.workflow_run_uuid = $1 AND o.resource_list_uuid IS NOT NULL",
    )
    .bind(id)
    .fetch_all(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM workflow_runs WHERE uuid = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    // Generated resources go with their run (upstream #1210), unless another run uses them.
    sqlx::query("DELETE FROM resource_lists WHERE uuid = ANY($1) AND NOT EXISTS (SELECT 1 FROM inputs i WHERE i.resource_list_uuid = resource_lists.uuid)")
        .bind(&lists)
        .execute(&mut *tx)
        .await?;
    let removed: Vec<(Uuid, Option<String>)> = sqlx::query_as(
        "DELETE FROM resources WHERE uuid = ANY($1)
           AND NOT EXISTS (SELECT 1 FROM inputs i WHERE i.resource_uuid = resources.uuid)
           AND NOT EXISTS (SELECT 1 FROM outputs o WHERE o.resource_uuid = resources.uuid)
           AND NOT EXISTS (SELECT 1 FROM resource_list_members m WHERE m.resource_uuid = resources.uuid)
         RETURNING uuid, resource_file",
    )
    .bind(&generated)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    for (resource, _) in &removed {
        super::resource::remove_files(&state, project, *resource).await;
    }
    state
        .emit(Change::Deleted, ModelName::WorkflowRun, id, Some(project))
        .await;
    Ok(StatusCode::NO_CONTENT)
}
