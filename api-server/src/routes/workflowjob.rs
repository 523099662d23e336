//! Workflow jobs (a job with its settings in a workflow) and workflow job groups (jobs grouped,
//! or a whole workflow imported as a group).

use super::graph;
use super::workflow::{created, import_error, owner, workflow_field};
use crate::auth::User;
use crate::body::Body;
use crate::body::field::{Document, Link, Text};
use crate::error::{ApiError, ApiResult};
use crate::limits::max_len;
use crate::link::{Base, require_ref};
use crate::models::{WORKFLOW, WORKFLOW_JOB, WORKFLOW_JOB_GROUP};
use crate::perm;
use crate::query::{self, RawJson};
use crate::routes::read::{Access, path_uuid};
use crate::state::AppState;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use rodan_core::workflow as wf;
use rodan_db::events::{Change, ModelName};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

pub(super) fn routes() -> Router<AppState> {
    use super::{detail, list};
    Router::new()
        .route(
            "/api/workflowjobgroups/",
            list(&WORKFLOW_JOB_GROUP, Access::Members)
                .post(create_group)
                .into(),
        )
        .route(
            "/api/workflowjobgroup/{id}/",
            detail(&WORKFLOW_JOB_GROUP, Access::Members)
                .put_patch(update_group)
                .delete(delete_group)
                .into(),
        )
        .route(
            "/api/workflowjobs/",
            list(&WORKFLOW_JOB, Access::Members)
                .post(create_workflow_job)
                .into(),
        )
        .route(
            "/api/workflowjob/{id}/",
            detail(&WORKFLOW_JOB, Access::Members)
                .put_patch(update_workflow_job)
                .delete(delete_workflow_job)
                .into(),
        )
}

/// `POST /api/workflowjobs/`: a job of the catalogue added to a workflow, with its settings.
#[derive(Debug, Deserialize, JsonSchema)]
pub(super) struct NewWorkflowJob {
    workflow: Link,
    job: Link,
    /// The job's name when not given.
    #[serde(default)]
    #[schemars(length(max = max_len::WORKFLOW_JOB_NAME))]
    name: Option<Text>,
    /// The job's settings; what is not given takes the job's defaults.
    #[serde(default)]
    job_settings: Option<Document>,
    /// Where the workflow builder draws it.
    #[serde(default)]
    appearance: Option<Document>,
}

/// `PUT`/`PATCH /api/workflowjob/<uuid>/`: what is given changes. A workflow job in a group
/// changes only its settings.
#[derive(Debug, Deserialize, JsonSchema)]
pub(super) struct WorkflowJobChange {
    #[serde(default)]
    #[schemars(length(max = max_len::WORKFLOW_JOB_NAME))]
    name: Option<Text>,
    #[serde(default)]
    job_settings: Option<Document>,
    #[serde(default)]
    appearance: Option<Document>,
}

async fn create_workflow_job(
    State(state): State<AppState>,
    base: Base,
    user: User,
    body: Body,
) -> ApiResult<RawJson> {
    crate::limits::check_lengths(&body, &[("name", max_len::WORKFLOW_JOB_NAME)])?;
    crate::limits::check_documents(&body, &["job_settings", "appearance"])?;
    let NewWorkflowJob {
        workflow,
        job,
        name,
        job_settings,
        appearance,
    } = body.typed()?;
    let (workflow, project) = workflow_field(&state, &user, &workflow, "workflow").await?;
    let job = require_ref(&job.0, "job", "job")?;
    let row: Option<(String, Value, bool)> =
        sqlx::query_as("SELECT name, settings, enabled FROM jobs WHERE uuid = $1")
            .bind(job)
            .fetch_optional(&state.pool)
            .await?;
    let (job_name, schema, enabled) =
        row.ok_or_else(|| ApiError::field("job", "Invalid hyperlink - Object does not exist."))?;
    if !enabled {
        return Err(ApiError::field("job", "This job is disabled."));
    }
    let given = job_settings.map_or_else(|| json!({}), |d| d.0);
    let settings = checked_settings(&schema, &given)?;
    let id = Uuid::new_v4();
    sqlx::query(
        "INSERT INTO workflow_jobs (uuid, workflow_uuid, job_uuid, job_settings, name, appearance) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id)
    .bind(workflow)
    .bind(job)
    .bind(&settings)
    .bind(name.map(|n| n.0).filter(|n| !n.is_empty()).unwrap_or(job_name))
    .bind(appearance.map(|a| a.0))
    .execute(&state.pool)
    .await?;
    graph::invalidate(&state.pool, workflow).await?;
    state
        .emit(Change::Created, ModelName::WorkflowJob, id, Some(project))
        .await;
    Ok(created(
        query::detail(&state.pool, &WORKFLOW_JOB, &base.0, Some(&user), id).await?,
    ))
}

/// A workflow job's settings with the job's defaults filled in, checked against its schema
/// (400 on `job_settings` otherwise).
fn checked_settings(schema: &Value, given: &Value) -> ApiResult<Value> {
    let settings = wf::fill_defaults(schema, given);
    wf::validate_settings(schema, &settings)
        .map_err(|errors| ApiError::Fields([("job_settings".to_owned(), errors)].into()))?;
    Ok(settings)
}

pub(super) const WFJ_WORKFLOW: &str = "SELECT workflow_uuid FROM workflow_jobs WHERE uuid = $1";

async fn update_workflow_job(
    State(state): State<AppState>,
    base: Base,
    user: User,
    path: Path<String>,
    body: Body,
) -> ApiResult<RawJson> {
    crate::limits::check_lengths(&body, &[("name", max_len::WORKFLOW_JOB_NAME)])?;
    crate::limits::check_documents(&body, &["job_settings", "appearance"])?;
    let id = path_uuid(path)?;
    let WorkflowJobChange {
        name,
        job_settings,
        appearance,
    } = body.typed()?;
    let (workflow, project) = owner(&state, &user, &WORKFLOW_JOB, id, WFJ_WORKFLOW).await?;
    let (schema, grouped): (Value, bool) = sqlx::query_as(
        "SELECT jb.settings, j.group_uuid IS NOT NULL FROM workflow_jobs j JOIN jobs jb ON jb.uuid = j.job_uuid WHERE j.uuid = $1",
    )
    .bind(id)
    .fetch_one(&state.pool)
    .await?;
    if grouped && body.0.keys().any(|k| k != "job_settings") {
        return Err(ApiError::bad_request(
            "Only job_settings may change while the workflow job is in a group.",
        ));
    }
    if let Some(Document(given)) = job_settings {
        let settings = checked_settings(&schema, &given)?;
        sqlx::query("UPDATE workflow_jobs SET job_settings = $2, updated = now() WHERE uuid = $1")
            .bind(id)
            .bind(&settings)
            .execute(&state.pool)
            .await?;
        graph::invalidate(&state.pool, workflow).await?;
    }
    if let Some(Text(name)) = name {
        sqlx::query("UPDATE workflow_jobs SET name = $2, updated = now() WHERE uuid = $1")
            .bind(id)
            .bind(name)
            .execute(&state.pool)
            .await?;
    }
    if let Some(Document(appearance)) = appearance {
        sqlx::query("UPDATE workflow_jobs SET appearance = $2, updated = now() WHERE uuid = $1")
            .bind(id)
            .bind(appearance)
            .execute(&state.pool)
            .await?;
    }
    state
        .emit(Change::Updated, ModelName::WorkflowJob, id, Some(project))
        .await;
    Ok(RawJson(
        StatusCode::OK,
        query::detail(&state.pool, &WORKFLOW_JOB, &base.0, Some(&user), id).await?,
    ))
}

async fn delete_workflow_job(
    State(state): State<AppState>,
    user: User,
    path: Path<String>,
) -> ApiResult<StatusCode> {
    let id = path_uuid(path)?;
    let (workflow, project) = owner(&state, &user, &WORKFLOW_JOB, id, WFJ_WORKFLOW).await?;
    let grouped: bool =
        sqlx::query_scalar("SELECT group_uuid IS NOT NULL FROM workflow_jobs WHERE uuid = $1")
            .bind(id)
            .fetch_one(&state.pool)
            .await?;
    if grouped {
        return Err(ApiError::bad_request(
            "To delete this workflow job, delete its group.",
        ));
    }
    sqlx::query("DELETE FROM workflow_jobs WHERE uuid = $1")
        .bind(id)
        .execute(&state.pool)
        .await?;
    graph::invalidate(&state.pool, workflow).await?;
    state
        .emit(Change::Deleted, ModelName::WorkflowJob, id, Some(project))
        .await;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/workflowjobgroups/`: workflow jobs of a workflow grouped, or, with `origin`, a
/// copy of a valid workflow imported into it as a group.
#[derive(Debug, Deserialize, JsonSchema)]
pub(super) struct NewGroup {
    workflow: Link,
    /// The workflow jobs to group (all in `workflow`).
    #[serde(default)]
    workflow_jobs: Option<Vec<Link>>,
    /// A valid workflow the user can see, to import as the group.
    #[serde(default)]
    origin: Option<Link>,
    #[serde(default)]
    #[schemars(length(max = max_len::GROUP_NAME))]
    name: Option<Text>,
    #[serde(default)]
    description: Option<Text>,
    #[serde(default)]
    appearance: Option<Document>,
}

/// `PUT`/`PATCH /api/workflowjobgroup/<uuid>/`: what is given changes; `workflow_jobs`
/// replaces the members.
#[derive(Debug, Deserialize, JsonSchema)]
pub(super) struct GroupChange {
    #[serde(default)]
    workflow_jobs: Option<Vec<Link>>,
    #[serde(default)]
    #[schemars(length(max = max_len::GROUP_NAME))]
    name: Option<Text>,
    #[serde(default)]
    description: Option<Text>,
    #[serde(default)]
    appearance: Option<Document>,
}

/// The workflow jobs named in a `workflow_jobs` field; they must all be in `workflow`.
async fn group_members(state: &AppState, links: &[Link], workflow: Uuid) -> ApiResult<Vec<Uuid>> {
    let ids = links
        .iter()
        .map(|link| require_ref(&link.0, "workflowjob", "workflow_jobs"))
        .collect::<ApiResult<Vec<Uuid>>>()?;
    let inside: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM workflow_jobs WHERE uuid = ANY($1) AND workflow_uuid = $2",
    )
    .bind(&ids)
    .bind(workflow)
    .fetch_one(&state.pool)
    .await?;
    if usize::try_from(inside).ok() != Some(ids.len()) {
        return Err(ApiError::field(
            "workflow_jobs",
            "Every workflow job must belong to the group's workflow.",
        ));
    }
    Ok(ids)
}

/// `POST /api/workflowjobgroups/`: groups existing workflow jobs, or, with `origin` (a valid
/// workflow the user can see), imports a copy of that workflow into `workflow` as a group.
async fn create_group(
    State(state): State<AppState>,
    base: Base,
    user: User,
    body: Body,
) -> ApiResult<RawJson> {
    crate::limits::check_lengths(&body, &[("name", max_len::GROUP_NAME)])?;
    crate::limits::check_documents(&body, &["appearance"])?;
    let NewGroup {
        workflow,
        workflow_jobs,
        origin,
        name,
        description,
        appearance,
    } = body.typed()?;
    let (workflow, project) = workflow_field(&state, &user, &workflow, "workflow").await?;
    let id = Uuid::new_v4();
    let origin = match origin {
        Some(link) => Some(require_ref(&link.0, "workflow", "origin")?),
        None => None,
    };
    let members = match workflow_jobs {
        Some(links) => Some(group_members(&state, &links, workflow).await?),
        None => None,
    };
    let mut tx = state.pool.begin().await?;
    sqlx::query("INSERT INTO workflow_job_groups (uuid, name, description, workflow_uuid, origin_uuid, appearance) VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(id)
        .bind(name.unwrap_or_default().0)
        .bind(description.unwrap_or_default().0)
        .bind(workflow)
        .bind(origin)
        .bind(appearance.map(|a| a.0))
        .execute(&mut *tx)
        .await?;
    if let Some(origin) = origin {
        perm::require_field_object(&state.pool, &user, &WORKFLOW, origin, "origin").await?;
        let valid: bool = sqlx::query_scalar("SELECT valid FROM workflows WHERE uuid = $1")
            .bind(origin)
            .fetch_one(&state.pool)
            .await?;
        if !valid {
            return Err(ApiError::field(
                "origin",
                "The origin workflow must be valid.",
            ));
        }
        // Export then import: a copy with fresh ids, checked against the catalogue.
        let catalogue = graph::catalogue(&state.pool).await?;
        let document = serde_json::to_value(wf::export(&graph::load(&state.pool, origin).await?))
            .map_err(ApiError::internal)?;
        let copy = wf::import(&document, &catalogue).map_err(import_error)?;
        graph::insert(&mut tx, workflow, &copy, Some(id)).await?;
    } else if let Some(members) = &members {
        sqlx::query("UPDATE workflow_jobs SET group_uuid = $2 WHERE uuid = ANY($1)")
            .bind(members)
            .bind(id)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    graph::invalidate(&state.pool, workflow).await?;
    state
        .emit(
            Change::Created,
            ModelName::WorkflowJobGroup,
            id,
            Some(project),
        )
        .await;
    Ok(created(
        query::detail(&state.pool, &WORKFLOW_JOB_GROUP, &base.0, Some(&user), id).await?,
    ))
}

const GROUP_WORKFLOW: &str = "SELECT workflow_uuid FROM workflow_job_groups WHERE uuid = $1";

async fn update_group(
    State(state): State<AppState>,
    base: Base,
    user: User,
    path: Path<String>,
    body: Body,
) -> ApiResult<RawJson> {
    crate::limits::check_lengths(&body, &[("name", max_len::GROUP_NAME)])?;
    crate::limits::check_documents(&body, &["appearance"])?;
    let id = path_uuid(path)?;
    let GroupChange {
        workflow_jobs,
        name,
        description,
        appearance,
    } = body.typed()?;
    let (workflow, project) = owner(&state, &user, &WORKFLOW_JOB_GROUP, id, GROUP_WORKFLOW).await?;
    for (key, value) in [("name", name), ("description", description)] {
        if let Some(Text(value)) = value {
            sqlx::query(&format!(
                "UPDATE workflow_job_groups SET {key} = $2, updated = now() WHERE uuid = $1"
            ))
            .bind(id)
            .bind(value)
            .execute(&state.pool)
            .await?;
        }
    }
    if let Some(Document(appearance)) = appearance {
        sqlx::query(
            "UPDATE workflow_job_groups SET appearance = $2, updated = now() WHERE uuid = $1",
        )
        .bind(id)
        .bind(appearance)
        .execute(&state.pool)
        .await?;
    }
    if let Some(links) = workflow_jobs {
        let members = group_members(&state, &links, workflow).await?;
        let mut tx = state.pool.begin().await?;
        sqlx::query("UPDATE workflow_jobs SET group_uuid = NULL WHERE group_uuid = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE workflow_jobs SET group_uuid = $2 WHERE uuid = ANY($1)")
            .bind(&members)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
    }
    state
        .emit(
            Change::Updated,
            ModelName::WorkflowJobGroup,
            id,
            Some(project),
        )
        .await;
    Ok(RawJson(
        StatusCode::OK,
        query::detail(&state.pool, &WORKFLOW_JOB_GROUP, &base.0, Some(&user), id).await?,
    ))
}

/// Deleting a group ungroups its workflow jobs (they stay in the workflow, editable again).
async fn delete_group(
    State(state): State<AppState>,
    user: User,
    path: Path<String>,
) -> ApiResult<StatusCode> {
    let id = path_uuid(path)?;
    let (_, project) = owner(&state, &user, &WORKFLOW_JOB_GROUP, id, GROUP_WORKFLOW).await?;
    sqlx::query("DELETE FROM workflow_job_groups WHERE uuid = $1")
        .bind(id)
        .execute(&state.pool)
        .await?;
    state
        .emit(
            Change::Deleted,
            ModelName::WorkflowJobGroup,
            id,
            Some(project),
        )
        .await;
    Ok(StatusCode::NO_CONTENT)
}
