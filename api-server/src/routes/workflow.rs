//! Workflows: create (or import), read (or export), change, validate, delete. Their workflow
//! jobs and groups are in `workflowjob.rs`, their ports and connections in `port.rs`.
//! Validation (`PATCH {"valid": true}`), export (`?export`) and import (`serialized`).

use super::graph;
use crate::auth::User;
use crate::body::Body;
use crate::body::field::{Bool, Document, Link, Text};
use crate::error::{ApiError, ApiResult};
use crate::limits::max_len;
use crate::link::{Base, require_ref};
use crate::models::WORKFLOW;
use crate::perm::{self, Role};
use crate::query::{self, Model, Params, RawJson};
use crate::routes::read::{Access, path_uuid};
use crate::state::AppState;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::routing::get;
use rodan_core::workflow::{self as wf, AssociatedObject};
use rodan_db::events::{Change, ModelName};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

pub(super) fn routes() -> Router<AppState> {
    use super::list;
    Router::new()
        .route(
            "/api/workflows/",
            list(&WORKFLOW, Access::Members)
                .post(create_workflow)
                .into(),
        )
        .route(
            "/api/workflow/{id}/",
            super::Resource::new(&WORKFLOW, false, get(workflow_detail))
                .put_patch(update_workflow)
                .delete(delete_workflow)
                .into(),
        )
}

pub(super) fn created(body: String) -> RawJson {
    RawJson(StatusCode::CREATED, body)
}

/// Resolves a hyperlinked workflow field the user may use (400 on the field otherwise).
pub(super) async fn workflow_field(
    state: &AppState,
    user: &User,
    link: &Link,
    field: &str,
) -> ApiResult<(Uuid, Uuid)> {
    let id = require_ref(&link.0, "workflow", field)?;
    let project = perm::require_field_object(&state.pool, user, &WORKFLOW, id, field).await?;
    Ok((id, project))
}

/// `POST /api/workflows/`: an empty workflow in a project, or one imported from an export.
#[derive(Debug, Deserialize, JsonSchema)]
pub(super) struct NewWorkflow {
    project: Link,
    /// `Untitled`, or the export's name, when not given.
    #[serde(default)]
    #[schemars(length(max = max_len::WORKFLOW_NAME))]
    name: Option<Text>,
    #[serde(default)]
    description: Option<Text>,
    /// A new workflow is not valid yet: `true` is refused.
    #[serde(default)]
    valid: Option<Bool>,
    /// A workflow export (`GET /api/workflow/<uuid>/?export`, upstream's serialization) to
    /// import.
    #[serde(default)]
    serialized: Option<Document>,
}

/// `PUT`/`PATCH /api/workflow/<uuid>/`: what is given changes; `valid: true` validates it.
#[derive(Debug, Deserialize, JsonSchema)]
pub(super) struct WorkflowChange {
    #[serde(default)]
    #[schemars(length(max = max_len::WORKFLOW_NAME))]
    name: Option<Text>,
    #[serde(default)]
    description: Option<Text>,
    /// `true` validates the workflow (409 with the reason when it is not valid); `false` is
    /// refused, as editing invalidates it.
    #[serde(default)]
    valid: Option<Bool>,
}

async fn create_workflow(
    State(state): State<AppState>,
    base: Base,
    user: User,
    body: Body,
) -> ApiResult<RawJson> {
    crate::limits::check_lengths(&body, &[("name", max_len::WORKFLOW_NAME)])?;
    let NewWorkflow {
        project,
        name,
        description,
        valid,
        serialized,
    } = body.typed()?;
    let project = require_ref(&project.0, "project", "project")?;
    perm::require_field(&state.pool, &user, project, "project").await?;
    if valid == Some(Bool(true)) {
        return Err(ApiError::field("valid", "Cannot create a valid workflow."));
    }
    let name = name.map(|n| n.0).filter(|n| !n.is_empty());
    let description = description.map(|d| d.0);
    let id = Uuid::new_v4();
    let mut tx = state.pool.begin().await?;
    let insert = "INSERT INTO workflows (uuid, name, project_uuid, description, creator_id) VALUES ($1, $2, $3, $4, $5)";
    if let Some(Document(serialized)) = serialized {
        let catalogue = graph::catalogue(&state.pool).await?;
        let graph = wf::import(&serialized, &catalogue).map_err(import_error)?;
        crate::limits::check_import(&graph)?;
        sqlx::query(insert)
            .bind(id)
            .bind(name.as_deref().unwrap_or(&graph.name))
            .bind(project)
            .bind(description.as_deref().unwrap_or(&graph.description))
            .bind(user.id)
            .execute(&mut *tx)
            .await?;
        graph::insert(&mut tx, id, &graph, None).await?;
    } else {
        sqlx::query(insert)
            .bind(id)
            .bind(name.as_deref().unwrap_or("Untitled"))
            .bind(project)
            .bind(description.as_deref().unwrap_or(""))
            .bind(user.id)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    state
        .emit(Change::Created, ModelName::Workflow, id, Some(project))
        .await;
    // Upstream's list view answers a create with its list serializer.
    Ok(created(
        query::list_row(&state.pool, &WORKFLOW, &base.0, Some(&user), id).await?,
    ))
}

/// An import's 400 as DRF renders it: a nested error dict is kept as it is
/// (`{"serialized": {path: message, ...}}`), a message about the whole document is a list
/// (`{"serialized": [message]}`).
pub(super) fn import_error(e: wf::ImportError) -> ApiError {
    match e.body() {
        Value::Object(mut m) => match m.remove("serialized") {
            Some(Value::String(message)) => ApiError::field("serialized", message),
            Some(detail) => ApiError::Invalid(json!({ "serialized": detail })),
            None => ApiError::Invalid(Value::Object(m)),
        },
        other => ApiError::Invalid(other),
    }
}

async fn workflow_detail(
    State(state): State<AppState>,
    base: Base,
    user: User,
    uri: Uri,
    path: Path<String>,
) -> ApiResult<axum::response::Response> {
    use axum::response::IntoResponse;
    let id = path_uuid(path)?;
    let body = query::detail(&state.pool, &WORKFLOW, &base.0, Some(&user), id).await?;
    if Params::parse(uri.query()).has("export") {
        let graph = graph::load(&state.pool, id).await?;
        return Ok(axum::Json(wf::export(&graph)).into_response());
    }
    Ok(RawJson(StatusCode::OK, body).into_response())
}

async fn update_workflow(
    State(state): State<AppState>,
    base: Base,
    user: User,
    path: Path<String>,
    body: Body,
) -> ApiResult<RawJson> {
    crate::limits::check_lengths(&body, &[("name", max_len::WORKFLOW_NAME)])?;
    let id = path_uuid(path)?;
    let WorkflowChange {
        name,
        description,
        valid,
    } = body.typed()?;
    let project = perm::require_object(&state.pool, &user, &WORKFLOW, id, Role::Worker).await?;
    if let Some(Text(name)) = name {
        sqlx::query("UPDATE workflows SET name = $2, updated = now() WHERE uuid = $1")
            .bind(id)
            .bind(name)
            .execute(&state.pool)
            .await?;
    }
    if let Some(Text(description)) = description {
        sqlx::query("UPDATE workflows SET description = $2, updated = now() WHERE uuid = $1")
            .bind(id)
            .bind(description)
            .execute(&state.pool)
            .await?;
    }
    match valid {
        Some(Bool(true)) => validate_workflow(&state, &base, id).await?,
        Some(Bool(false)) => {
            return Err(ApiError::field(
                "valid",
                "Workflows are invalidated by editing them, not by request.",
            ));
        }
        None => {}
    }
    state
        .emit(Change::Updated, ModelName::Workflow, id, Some(project))
        .await;
    Ok(RawJson(
        StatusCode::OK,
        query::detail(&state.pool, &WORKFLOW, &base.0, Some(&user), id).await?,
    ))
}

/// Validates and, on success, marks ports without connections `extern` and the workflow valid;
/// on failure answers upstream's 409 body.
async fn validate_workflow(state: &AppState, base: &Base, id: Uuid) -> ApiResult<()> {
    let graph = graph::load(&state.pool, id).await?;
    let catalogue = graph::catalogue(&state.pool).await?;
    match wf::validate(&graph, &catalogue) {
        Ok(validated) => {
            let mut tx = state.pool.begin().await?;
            sqlx::query("UPDATE input_ports SET extern = (uuid = ANY($2)) WHERE workflow_job_uuid IN (SELECT uuid FROM workflow_jobs WHERE workflow_uuid = $1)")
                .bind(id)
                .bind(validated.extern_input_ports())
                .execute(&mut *tx)
                .await?;
            sqlx::query("UPDATE output_ports SET extern = (uuid = ANY($2)) WHERE workflow_job_uuid IN (SELECT uuid FROM workflow_jobs WHERE workflow_uuid = $1)")
                .bind(id)
                .bind(validated.extern_output_ports())
                .execute(&mut *tx)
                .await?;
            sqlx::query("UPDATE workflows SET valid = true, updated = now() WHERE uuid = $1")
                .bind(id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(())
        }
        Err(error) => {
            sqlx::query("UPDATE workflows SET valid = false WHERE uuid = $1")
                .bind(id)
                .execute(&state.pool)
                .await?;
            let port_types: Vec<(String, String, Uuid, bool)> = sqlx::query_as(
                "SELECT j.name, p.name, p.uuid, true FROM input_port_types p JOIN jobs j ON j.uuid = p.job_uuid
                 UNION ALL SELECT j.name, p.name, p.uuid, false FROM output_port_types p JOIN jobs j ON j.uuid = p.job_uuid",
            )
            .fetch_all(&state.pool)
            .await?;
            let find = |job: &str, name: &str, input: bool| {
                port_types
                    .iter()
                    .find(|(j, n, _, i)| j == job && n == name && *i == input)
                    .map(|(_, _, u, _)| *u)
                    .unwrap_or_default()
            };
            let body = error.body(|object| match object {
                AssociatedObject::WorkflowJob(u) => base.detail("workflowjob", u),
                AssociatedObject::InputPort(u) => base.detail("inputport", u),
                AssociatedObject::OutputPort(u) => base.detail("outputport", u),
                AssociatedObject::Connection(u) => base.detail("connection", u),
                AssociatedObject::InputPortType { job_name, name } => {
                    base.detail("inputporttype", find(job_name, name, true))
                }
                AssociatedObject::OutputPortType { job_name, name } => {
                    base.detail("outputporttype", find(job_name, name, false))
                }
            });
            Err(ApiError::Conflict(body))
        }
    }
}

async fn delete_workflow(
    State(state): State<AppState>,
    user: User,
    path: Path<String>,
) -> ApiResult<StatusCode> {
    let id = path_uuid(path)?;
    let project = perm::require_object(&state.pool, &user, &WORKFLOW, id, Role::Worker).await?;
    sqlx::query("DELETE FROM workflows WHERE uuid = $1")
        .bind(id)
        .execute(&state.pool)
        .await?;
    state
        .emit(Change::Deleted, ModelName::Workflow, id, Some(project))
        .await;
    Ok(StatusCode::NO_CONTENT)
}

/// The workflow of a child object and its project, checking membership.
pub(super) async fn owner(
    state: &AppState,
    user: &User,
    model: &Model,
    id: Uuid,
    workflow_sql: &str,
) -> ApiResult<(Uuid, Uuid)> {
    let project = perm::require_object(&state.pool, user, model, id, Role::Worker).await?;
    let workflow: Uuid = sqlx::query_scalar(workflow_sql)
        .bind(id)
        .fetch_one(&state.pool)
        .await?;
    Ok((workflow, project))
}
