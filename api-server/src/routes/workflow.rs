//! Workflows and what they are made of: workflow jobs, input and output ports, connections.
//! Validation (`PATCH {"valid": true}`), export (`?export`) and import (`serialized`).

use super::graph;
use crate::auth::User;
use crate::body::Body;
use crate::error::{ApiError, ApiResult};
use crate::link::{Base, require_ref};
use crate::models::{
    CONNECTION, INPUT_PORT, OUTPUT_PORT, WORKFLOW, WORKFLOW_JOB, WORKFLOW_JOB_GROUP,
};
use crate::perm::{self, Role};
use crate::query::{self, Model, Params, RawJson};
use crate::routes::read::{Access, list_handler, options_handler, path_uuid};
use crate::state::AppState;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::routing::get;
use rodan_core::workflow::{self as wf, AssociatedObject};
use rodan_db::events::Change;
use serde_json::{Value, json};
use uuid::Uuid;

pub(super) fn routes() -> Router<AppState> {
    use super::{DETAIL_RW, LIST_RW};
    Router::new()
        .route(
            "/api/workflowjobgroups/",
            get(list_handler(&WORKFLOW_JOB_GROUP, Access::Members))
                .post(create_group)
                .options(options_handler(&WORKFLOW_JOB_GROUP, true, LIST_RW)),
        )
        .route(
            "/api/workflowjobgroup/{id}/",
            get(super::read::detail_handler(
                &WORKFLOW_JOB_GROUP,
                Access::Members,
            ))
            .put(update_group)
            .patch(update_group)
            .delete(delete_group)
            .options(options_handler(&WORKFLOW_JOB_GROUP, false, DETAIL_RW)),
        )
        .route(
            "/api/workflows/",
            get(list_handler(&WORKFLOW, Access::Members))
                .post(create_workflow)
                .options(options_handler(&WORKFLOW, true, LIST_RW)),
        )
        .route(
            "/api/workflow/{id}/",
            get(workflow_detail)
                .put(update_workflow)
                .patch(update_workflow)
                .delete(delete_workflow)
                .options(options_handler(&WORKFLOW, false, DETAIL_RW)),
        )
        .route(
            "/api/workflowjobs/",
            get(list_handler(&WORKFLOW_JOB, Access::Members))
                .post(create_workflow_job)
                .options(options_handler(&WORKFLOW_JOB, true, LIST_RW)),
        )
        .route(
            "/api/workflowjob/{id}/",
            get(super::read::detail_handler(&WORKFLOW_JOB, Access::Members))
                .put(update_workflow_job)
                .patch(update_workflow_job)
                .delete(delete_workflow_job)
                .options(options_handler(&WORKFLOW_JOB, false, DETAIL_RW)),
        )
        .route(
            "/api/inputports/",
            get(list_handler(&INPUT_PORT, Access::Members))
                .post(create_input_port)
                .options(options_handler(&INPUT_PORT, true, LIST_RW)),
        )
        .route(
            "/api/inputport/{id}/",
            get(super::read::detail_handler(&INPUT_PORT, Access::Members))
                .put(update_input_port)
                .patch(update_input_port)
                .delete(delete_input_port)
                .options(options_handler(&INPUT_PORT, false, DETAIL_RW)),
        )
        .route(
            "/api/outputports/",
            get(list_handler(&OUTPUT_PORT, Access::Members))
                .post(create_output_port)
                .options(options_handler(&OUTPUT_PORT, true, LIST_RW)),
        )
        .route(
            "/api/outputport/{id}/",
            get(super::read::detail_handler(&OUTPUT_PORT, Access::Members))
                .put(update_output_port)
                .patch(update_output_port)
                .delete(delete_output_port)
                .options(options_handler(&OUTPUT_PORT, false, DETAIL_RW)),
        )
        .route(
            "/api/connections/",
            get(list_handler(&CONNECTION, Access::Members))
                .post(create_connection)
                .options(options_handler(&CONNECTION, true, LIST_RW)),
        )
        .route(
            "/api/connection/{id}/",
            get(super::read::detail_handler(&CONNECTION, Access::Members))
                .put(update_connection)
                .patch(update_connection)
                .delete(delete_connection)
                .options(options_handler(&CONNECTION, false, DETAIL_RW)),
        )
}

fn created(body: String) -> RawJson {
    RawJson(StatusCode::CREATED, body)
}

/// Resolves a hyperlinked workflow field the user may use (400 on the field otherwise).
async fn workflow_field(
    state: &AppState,
    user: &User,
    body: &Body,
    field: &str,
) -> ApiResult<(Uuid, Uuid)> {
    let id = require_ref(body.required(field)?, "workflow", field)?;
    let project = perm::require_field_object(&state.pool, user, &WORKFLOW, id, field).await?;
    Ok((id, project))
}

async fn create_workflow(
    State(state): State<AppState>,
    base: Base,
    user: User,
    body: Body,
) -> ApiResult<RawJson> {
    crate::limits::check_lengths(&body, &[("name", crate::limits::max_len::WORKFLOW_NAME)])?;
    let project = require_ref(body.required("project")?, "project", "project")?;
    perm::require_field(&state.pool, &user, project, "project").await?;
    if body.bool("valid")? == Some(true) {
        return Err(ApiError::field("valid", "Cannot create a valid workflow."));
    }
    let id = Uuid::new_v4();
    let mut tx = state.pool.begin().await?;
    if let Some(serialized) = body.0.get("serialized") {
        let catalogue = graph::catalogue(&state.pool).await?;
        let graph = wf::import(serialized, &catalogue).map_err(import_error)?;
        crate::limits::check_import(&graph)?;
        let name = body
            .str("name")
            .filter(|n| !n.is_empty())
            .unwrap_or(&graph.name)
            .to_owned();
        sqlx::query("INSERT INTO workflows (uuid, name, project_uuid, description, creator_id) VALUES ($1, $2, $3, $4, $5)")
            .bind(id)
            .bind(&name)
            .bind(project)
            .bind(body.str("description").unwrap_or(&graph.description))
            .bind(user.id)
            .execute(&mut *tx)
            .await?;
        graph::insert(&mut tx, id, &graph, None).await?;
    } else {
        let name = body.str("name").unwrap_or("Untitled");
        if name.chars().count() > 100 {
            return Err(ApiError::field(
                "name",
                "Ensure this field has no more than 100 characters.",
            ));
        }
        sqlx::query("INSERT INTO workflows (uuid, name, project_uuid, description, creator_id) VALUES ($1, $2, $3, $4, $5)")
            .bind(id)
            .bind(name)
            .bind(project)
            .bind(body.str("description").unwrap_or(""))
            .bind(user.id)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    state
        .emit(Change::Created, "workflow", id, Some(project))
        .await;
    // Upstream's list view answers a create with its list serializer.
    Ok(created(
        query::list_row(&state.pool, &WORKFLOW, &base.0, Some(&user), id).await?,
    ))
}

/// An import's 400 as DRF renders it: a nested error dict is kept as it is
/// (`{"serialized": {path: message, ...}}`), a message about the whole document is a list
/// (`{"serialized": [message]}`).
fn import_error(e: wf::ImportError) -> ApiError {
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
    crate::limits::check_lengths(&body, &[("name", crate::limits::max_len::WORKFLOW_NAME)])?;
    let id = path_uuid(path)?;
    let project = perm::require_object(&state.pool, &user, &WORKFLOW, id, Role::Worker).await?;
    if let Some(name) = body.str("name") {
        sqlx::query("UPDATE workflows SET name = $2, updated = now() WHERE uuid = $1")
            .bind(id)
            .bind(name)
            .execute(&state.pool)
            .await?;
    }
    if let Some(description) = body.str("description") {
        sqlx::query("UPDATE workflows SET description = $2, updated = now() WHERE uuid = $1")
            .bind(id)
            .bind(description)
            .execute(&state.pool)
            .await?;
    }
    match body.bool("valid")? {
        Some(true) => validate_workflow(&state, &base, id).await?,
        Some(false) => {
            return Err(ApiError::field(
                "valid",
                "Workflows are invalidated by editing them, not by request.",
            ));
        }
        None => {}
    }
    state
        .emit(Change::Updated, "workflow", id, Some(project))
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
        .emit(Change::Deleted, "workflow", id, Some(project))
        .await;
    Ok(StatusCode::NO_CONTENT)
}

async fn create_workflow_job(
    State(state): State<AppState>,
    base: Base,
    user: User,
    body: Body,
) -> ApiResult<RawJson> {
    crate::limits::check_lengths(
        &body,
        &[("name", crate::limits::max_len::WORKFLOW_JOB_NAME)],
    )?;
    crate::limits::check_documents(&body, &["job_settings", "appearance"])?;
    let (workflow, project) = workflow_field(&state, &user, &body, "workflow").await?;
    let job = require_ref(body.required("job")?, "job", "job")?;
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
    let given = body
        .0
        .get("job_settings")
        .cloned()
        .unwrap_or_else(|| json!({}));
    let settings = wf::fill_defaults(&schema, &given);
    wf::validate_settings(&schema, &settings)
        .map_err(|errors| ApiError::Fields([("job_settings".to_owned(), errors)].into()))?;
    let id = Uuid::new_v4();
    sqlx::query(
        "INSERT INTO workflow_jobs (uuid, workflow_uuid, job_uuid, job_settings, name, appearance) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(id)
    .bind(workflow)
    .bind(job)
    .bind(&settings)
    .bind(body.str("name").filter(|n| !n.is_empty()).unwrap_or(&job_name))
    .bind(body.0.get("appearance"))
    .execute(&state.pool)
    .await?;
    graph::invalidate(&state.pool, workflow).await?;
    state
        .emit(Change::Created, "workflowjob", id, Some(project))
        .await;
    Ok(created(
        query::detail(&state.pool, &WORKFLOW_JOB, &base.0, Some(&user), id).await?,
    ))
}

/// The workflow of a child object and its project, checking membership.
async fn owner(
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

const WFJ_WORKFLOW: &str = "SELECT workflow_uuid FROM workflow_jobs WHERE uuid = $1";

async fn update_workflow_job(
    State(state): State<AppState>,
    base: Base,
    user: User,
    path: Path<String>,
    body: Body,
) -> ApiResult<RawJson> {
    crate::limits::check_lengths(
        &body,
        &[("name", crate::limits::max_len::WORKFLOW_JOB_NAME)],
    )?;
    crate::limits::check_documents(&body, &["job_settings", "appearance"])?;
    let id = path_uuid(path)?;
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
    if let Some(settings) = body.0.get("job_settings") {
        let settings = wf::fill_defaults(&schema, settings);
        wf::validate_settings(&schema, &settings)
            .map_err(|errors| ApiError::Fields([("job_settings".to_owned(), errors)].into()))?;
        sqlx::query("UPDATE workflow_jobs SET job_settings = $2, updated = now() WHERE uuid = $1")
            .bind(id)
            .bind(&settings)
            .execute(&state.pool)
            .await?;
        graph::invalidate(&state.pool, workflow).await?;
    }
    if let Some(name) = body.str("name") {
        sqlx::query("UPDATE workflow_jobs SET name = $2, updated = now() WHERE uuid = $1")
            .bind(id)
            .bind(name)
            .execute(&state.pool)
            .await?;
    }
    if let Some(appearance) = body.0.get("appearance") {
        sqlx::query("UPDATE workflow_jobs SET appearance = $2, updated = now() WHERE uuid = $1")
            .bind(id)
            .bind(appearance)
            .execute(&state.pool)
            .await?;
    }
    state
        .emit(Change::Updated, "workflowjob", id, Some(project))
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
        .emit(Change::Deleted, "workflowjob", id, Some(project))
        .await;
    Ok(StatusCode::NO_CONTENT)
}

/// Creates an input or output port on a workflow job.
async fn create_port(
    state: &AppState,
    base: &Base,
    user: &User,
    body: &Body,
    input: bool,
) -> ApiResult<RawJson> {
    crate::limits::check_lengths(body, &[("label", crate::limits::max_len::PORT_LABEL)])?;
    let wfj = require_ref(
        body.required("workflow_job")?,
        "workflowjob",
        "workflow_job",
    )?;
    let project =
        perm::require_field_object(&state.pool, user, &WORKFLOW_JOB, wfj, "workflow_job").await?;
    let (type_field, route, table, type_table, model, event) = if input {
        (
            "input_port_type",
            "inputporttype",
            "input_ports",
            "input_port_types",
            &INPUT_PORT,
            "inputport",
        )
    } else {
        (
            "output_port_type",
            "outputporttype",
            "output_ports",
            "output_port_types",
            &OUTPUT_PORT,
            "outputport",
        )
    };
    let port_type = require_ref(body.required(type_field)?, route, type_field)?;
    let row: Option<(String, bool)> = sqlx::query_as(&format!(
        "SELECT pt.name, pt.job_uuid = (SELECT job_uuid FROM workflow_jobs WHERE uuid = $2) FROM {type_table} pt WHERE pt.uuid = $1"
    ))
    .bind(port_type)
    .bind(wfj)
    .fetch_optional(&state.pool)
    .await?;
    let (type_name, same_job) = row
        .ok_or_else(|| ApiError::field(type_field, "Invalid hyperlink - Object does not exist."))?;
    if !same_job {
        return Err(ApiError::field(
            type_field,
            "The port type does not belong to the workflow job's job.",
        ));
    }
    let id = Uuid::new_v4();
    let type_column = format!("{type_field}_uuid");
    sqlx::query(&format!("INSERT INTO {table} (uuid, workflow_job_uuid, {type_column}, label) VALUES ($1, $2, $3, $4)"))
        .bind(id)
        .bind(wfj)
        .bind(port_type)
        .bind(body.str("label").filter(|l| !l.is_empty()).unwrap_or(&type_name))
        .execute(&state.pool)
        .await?;
    let workflow: Uuid = sqlx::query_scalar(WFJ_WORKFLOW)
        .bind(wfj)
        .fetch_one(&state.pool)
        .await?;
    graph::invalidate(&state.pool, workflow).await?;
    state.emit(Change::Created, event, id, Some(project)).await;
    Ok(created(
        query::detail(&state.pool, model, &base.0, Some(user), id).await?,
    ))
}

async fn create_input_port(
    State(state): State<AppState>,
    base: Base,
    user: User,
    body: Body,
) -> ApiResult<RawJson> {
    create_port(&state, &base, &user, &body, true).await
}

async fn create_output_port(
    State(state): State<AppState>,
    base: Base,
    user: User,
    body: Body,
) -> ApiResult<RawJson> {
    create_port(&state, &base, &user, &body, false).await
}

const PORT_WORKFLOW_IN: &str = "SELECT j.workflow_uuid FROM input_ports p JOIN workflow_jobs j ON j.uuid = p.workflow_job_uuid WHERE p.uuid = $1";
const PORT_WORKFLOW_OUT: &str = "SELECT j.workflow_uuid FROM output_ports p JOIN workflow_jobs j ON j.uuid = p.workflow_job_uuid WHERE p.uuid = $1";

async fn update_port(
    state: &AppState,
    base: &Base,
    user: &User,
    id: Uuid,
    body: &Body,
    input: bool,
) -> ApiResult<RawJson> {
    crate::limits::check_lengths(body, &[("label", crate::limits::max_len::PORT_LABEL)])?;
    let (model, sql, table, event) = if input {
        (&INPUT_PORT, PORT_WORKFLOW_IN, "input_ports", "inputport")
    } else {
        (
            &OUTPUT_PORT,
            PORT_WORKFLOW_OUT,
            "output_ports",
            "outputport",
        )
    };
    let (_, project) = owner(state, user, model, id, sql).await?;
    if let Some(label) = body.str("label") {
        sqlx::query(&format!("UPDATE {table} SET label = $2 WHERE uuid = $1"))
            .bind(id)
            .bind(label)
            .execute(&state.pool)
            .await?;
    }
    state.emit(Change::Updated, event, id, Some(project)).await;
    Ok(RawJson(
        StatusCode::OK,
        query::detail(&state.pool, model, &base.0, Some(user), id).await?,
    ))
}

async fn update_input_port(
    State(state): State<AppState>,
    base: Base,
    user: User,
    path: Path<String>,
    body: Body,
) -> ApiResult<RawJson> {
    update_port(&state, &base, &user, path_uuid(path)?, &body, true).await
}

async fn update_output_port(
    State(state): State<AppState>,
    base: Base,
    user: User,
    path: Path<String>,
    body: Body,
) -> ApiResult<RawJson> {
    update_port(&state, &base, &user, path_uuid(path)?, &body, false).await
}

async fn delete_port(
    state: &AppState,
    user: &User,
    id: Uuid,
    input: bool,
) -> ApiResult<StatusCode> {
    let (model, sql, table, event) = if input {
        (&INPUT_PORT, PORT_WORKFLOW_IN, "input_ports", "inputport")
    } else {
        (
            &OUTPUT_PORT,
            PORT_WORKFLOW_OUT,
            "output_ports",
            "outputport",
        )
    };
    let (workflow, project) = owner(state, user, model, id, sql).await?;
    sqlx::query(&format!("DELETE FROM {table} WHERE uuid = $1"))
        .bind(id)
        .execute(&state.pool)
        .await?;
    graph::invalidate(&state.pool, workflow).await?;
    state.emit(Change::Deleted, event, id, Some(project)).await;
    Ok(StatusCode::NO_CONTENT)
}

async fn delete_input_port(
    State(state): State<AppState>,
    user: User,
    path: Path<String>,
) -> ApiResult<StatusCode> {
    delete_port(&state, &user, path_uuid(path)?, true).await
}

async fn delete_output_port(
    State(state): State<AppState>,
    user: User,
    path: Path<String>,
) -> ApiResult<StatusCode> {
    delete_port(&state, &user, path_uuid(path)?, false).await
}

async fn create_connection(
    State(state): State<AppState>,
    base: Base,
    user: User,
    body: Body,
) -> ApiResult<RawJson> {
    let input = require_ref(body.required("input_port")?, "inputport", "input_port")?;
    let output = require_ref(body.required("output_port")?, "outputport", "output_port")?;
    let in_wf: Option<Uuid> = sqlx::query_scalar(PORT_WORKFLOW_IN)
        .bind(input)
        .fetch_optional(&state.pool)
        .await?;
    let out_wf: Option<Uuid> = sqlx::query_scalar(PORT_WORKFLOW_OUT)
        .bind(output)
        .fetch_optional(&state.pool)
        .await?;
    let in_wf = in_wf.ok_or_else(|| {
        ApiError::field("input_port", "Invalid hyperlink - Object does not exist.")
    })?;
    let out_wf = out_wf.ok_or_else(|| {
        ApiError::field("output_port", "Invalid hyperlink - Object does not exist.")
    })?;
    let project =
        perm::require_field_object(&state.pool, &user, &WORKFLOW, in_wf, "input_port").await?;
    if in_wf != out_wf {
        return Err(ApiError::bad_request(
            "Input port and output port must be in the same workflow.",
        ));
    }
    let id = Uuid::new_v4();
    sqlx::query(
        "INSERT INTO connections (uuid, input_port_uuid, output_port_uuid) VALUES ($1, $2, $3)",
    )
    .bind(id)
    .bind(input)
    .bind(output)
    .execute(&state.pool)
    .await?;
    graph::invalidate(&state.pool, in_wf).await?;
    state
        .emit(Change::Created, "connection", id, Some(project))
        .await;
    Ok(created(
        query::detail(&state.pool, &CONNECTION, &base.0, Some(&user), id).await?,
    ))
}

/// A connection's `offset_x` or `offset_y`: a number or null (upstream's nullable
/// `FloatField`); a numeric string from a form is read as a number.
fn offset(body: &Body, key: &str) -> ApiResult<Option<Option<f64>>> {
    match body.0.get(key) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(Value::Number(n)) => n
            .as_f64()
            .filter(|f| f.is_finite())
            .map(|f| Some(Some(f)))
            .ok_or_else(|| ApiError::field(key, "A valid number is required.")),
        Some(Value::String(s)) if s.is_empty() => Ok(Some(None)),
        Some(Value::String(s)) => s
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .map(|f| Some(Some(f)))
            .ok_or_else(|| ApiError::field(key, "A valid number is required.")),
        Some(_) => Err(ApiError::field(key, "A valid number is required.")),
    }
}

const CONNECTION_WORKFLOW: &str = "SELECT j.workflow_uuid FROM connections c JOIN input_ports p ON p.uuid = c.input_port_uuid JOIN workflow_jobs j ON j.uuid = p.workflow_job_uuid WHERE c.uuid = $1";

/// `PUT`/`PATCH /api/connection/<uuid>/`: where the workflow builder draws its handle
/// (`offset_x`, `offset_y`). The client saves the whole connection, so its ports may be sent
/// too; a connection is not moved to other ports (delete it and connect anew): a port other
/// than its own is a 400 on that field.
async fn update_connection(
    State(state): State<AppState>,
    base: Base,
    user: User,
    path: Path<String>,
    body: Body,
) -> ApiResult<RawJson> {
    let id = path_uuid(path)?;
    let (_, project) = owner(&state, &user, &CONNECTION, id, CONNECTION_WORKFLOW).await?;
    let (input, output): (Uuid, Uuid) =
        sqlx::query_as("SELECT input_port_uuid, output_port_uuid FROM connections WHERE uuid = $1")
            .bind(id)
            .fetch_one(&state.pool)
            .await?;
    for (key, route, current) in [
        ("input_port", "inputport", input),
        ("output_port", "outputport", output),
    ] {
        if let Some(given) = body.0.get(key) {
            let given = given
                .as_str()
                .and_then(|s| crate::link::parse_ref(s, route));
            if given != Some(current) {
                return Err(ApiError::field(
                    key,
                    "A connection keeps its ports: delete it and create another.",
                ));
            }
        }
    }
    let x = offset(&body, "offset_x")?;
    let y = offset(&body, "offset_y")?;
    for (column, value) in [("offset_x", x), ("offset_y", y)] {
        if let Some(value) = value {
            sqlx::query(&format!(
                "UPDATE connections SET {column} = $2 WHERE uuid = $1"
            ))
            .bind(id)
            .bind(value)
            .execute(&state.pool)
            .await?;
        }
    }
    state
        .emit(Change::Updated, "connection", id, Some(project))
        .await;
    Ok(RawJson(
        StatusCode::OK,
        query::detail(&state.pool, &CONNECTION, &base.0, Some(&user), id).await?,
    ))
}

async fn delete_connection(
    State(state): State<AppState>,
    user: User,
    path: Path<String>,
) -> ApiResult<StatusCode> {
    let id = path_uuid(path)?;
    let (workflow, project) = owner(&state, &user, &CONNECTION, id, CONNECTION_WORKFLOW).await?;
    sqlx::query("DELETE FROM connections WHERE uuid = $1")
        .bind(id)
        .execute(&state.pool)
        .await?;
    graph::invalidate(&state.pool, workflow).await?;
    state
        .emit(Change::Deleted, "connection", id, Some(project))
        .await;
    Ok(StatusCode::NO_CONTENT)
}

/// The workflow jobs named in a `workflow_jobs` field; they must all be in `workflow`.
async fn group_members(
    state: &AppState,
    body: &Body,
    workflow: Uuid,
) -> ApiResult<Option<Vec<Uuid>>> {
    let Some(value) = body.0.get("workflow_jobs") else {
        return Ok(None);
    };
    let ids = value
        .as_array()
        .ok_or_else(|| ApiError::field("workflow_jobs", "Expected a list of items."))?
        .iter()
        .map(|v| {
            v.as_str()
                .and_then(|s| crate::link::parse_ref(s, "workflowjob"))
                .ok_or_else(|| {
                    ApiError::field("workflow_jobs", "Invalid hyperlink - No URL match.")
                })
        })
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
    Ok(Some(ids))
}

/// `POST /api/workflowjobgroups/`: groups existing workflow jobs, or, with `origin` (a valid
/// workflow the user can see), imports a copy of that workflow into `workflow` as a group.
async fn create_group(
    State(state): State<AppState>,
    base: Base,
    user: User,
    body: Body,
) -> ApiResult<RawJson> {
    crate::limits::check_lengths(&body, &[("name", crate::limits::max_len::GROUP_NAME)])?;
    crate::limits::check_documents(&body, &["appearance"])?;
    let (workflow, project) = workflow_field(&state, &user, &body, "workflow").await?;
    let id = Uuid::new_v4();
    let origin = match body.str("origin") {
        Some(url) => Some(require_ref(url, "workflow", "origin")?),
        None => None,
    };
    let members = group_members(&state, &body, workflow).await?;
    let mut tx = state.pool.begin().await?;
    sqlx::query("INSERT INTO workflow_job_groups (uuid, name, description, workflow_uuid, origin_uuid, appearance) VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(id)
        .bind(body.str("name").unwrap_or(""))
        .bind(body.str("description").unwrap_or(""))
        .bind(workflow)
        .bind(origin)
        .bind(body.0.get("appearance"))
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
        .emit(Change::Created, "workflowjobgroup", id, Some(project))
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
    crate::limits::check_lengths(&body, &[("name", crate::limits::max_len::GROUP_NAME)])?;
    crate::limits::check_documents(&body, &["appearance"])?;
    let id = path_uuid(path)?;
    let (workflow, project) = owner(&state, &user, &WORKFLOW_JOB_GROUP, id, GROUP_WORKFLOW).await?;
    for key in ["name", "description"] {
        if let Some(value) = body.str(key) {
            sqlx::query(&format!(
                "UPDATE workflow_job_groups SET {key} = $2, updated = now() WHERE uuid = $1"
            ))
            .bind(id)
            .bind(value)
            .execute(&state.pool)
            .await?;
        }
    }
    if let Some(appearance) = body.0.get("appearance") {
        sqlx::query(
            "UPDATE workflow_job_groups SET appearance = $2, updated = now() WHERE uuid = $1",
        )
        .bind(id)
        .bind(appearance)
        .execute(&state.pool)
        .await?;
    }
    if let Some(members) = group_members(&state, &body, workflow).await? {
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
        .emit(Change::Updated, "workflowjobgroup", id, Some(project))
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
        .emit(Change::Deleted, "workflowjobgroup", id, Some(project))
        .await;
    Ok(StatusCode::NO_CONTENT)
}
