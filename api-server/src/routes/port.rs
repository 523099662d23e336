//! The ports of workflow jobs and the connections between them.

use super::graph;
use super::workflow::{created, owner};
use super::workflowjob::WFJ_WORKFLOW;
use crate::auth::User;
use crate::body::Body;
use crate::body::field::{Float, Link, Text};
use crate::error::{ApiError, ApiResult};
use crate::limits::max_len;
use crate::link::{Base, require_ref};
use crate::models::{CONNECTION, INPUT_PORT, OUTPUT_PORT, WORKFLOW, WORKFLOW_JOB};
use crate::perm;
use crate::query::{self, RawJson};
use crate::routes::read::{Access, path_uuid};
use crate::state::AppState;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use rodan_db::events::{Change, ModelName};
use schemars::JsonSchema;
use serde::Deserialize;
use uuid::Uuid;

pub(super) fn routes() -> Router<AppState> {
    use super::{detail, list};
    Router::new()
        .route(
            "/api/inputports/",
            list(&INPUT_PORT, Access::Members)
                .post(create_input_port)
                .into(),
        )
        .route(
            "/api/inputport/{id}/",
            detail(&INPUT_PORT, Access::Members)
                .put_patch(update_input_port)
                .delete(delete_input_port)
                .into(),
        )
        .route(
            "/api/outputports/",
            list(&OUTPUT_PORT, Access::Members)
                .post(create_output_port)
                .into(),
        )
        .route(
            "/api/outputport/{id}/",
            detail(&OUTPUT_PORT, Access::Members)
                .put_patch(update_output_port)
                .delete(delete_output_port)
                .into(),
        )
        .route(
            "/api/connections/",
            list(&CONNECTION, Access::Members)
                .post(create_connection)
                .into(),
        )
        .route(
            "/api/connection/{id}/",
            detail(&CONNECTION, Access::Members)
                .put_patch(update_connection)
                .delete(delete_connection)
                .into(),
        )
}

/// `POST /api/inputports/`.
#[derive(Debug, Deserialize, JsonSchema)]
pub(super) struct NewInputPort {
    workflow_job: Link,
    input_port_type: Link,
    #[serde(default)]
    #[schemars(length(max = max_len::PORT_LABEL))]
    label: Option<Text>,
}

/// `POST /api/outputports/`.
#[derive(Debug, Deserialize, JsonSchema)]
pub(super) struct NewOutputPort {
    workflow_job: Link,
    output_port_type: Link,
    #[serde(default)]
    #[schemars(length(max = max_len::PORT_LABEL))]
    label: Option<Text>,
}

/// `PUT`/`PATCH /api/inputport/<uuid>/` and `/api/outputport/<uuid>/`: the label only.
#[derive(Debug, Deserialize, JsonSchema)]
pub(super) struct PortChange {
    #[serde(default)]
    #[schemars(length(max = max_len::PORT_LABEL))]
    label: Option<Text>,
}

/// Creates an input or output port on a workflow job.
async fn create_port(
    state: &AppState,
    base: &Base,
    user: &User,
    (workflow_job, port_type, label): (Link, Link, Option<Text>),
    input: bool,
) -> ApiResult<RawJson> {
    let wfj = require_ref(&workflow_job.0, "workflowjob", "workflow_job")?;
    let project =
        perm::require_field_object(&state.pool, user, &WORKFLOW_JOB, wfj, "workflow_job").await?;
    let (type_field, route, table, type_table, model, event) = if input {
        (
            "input_port_type",
            "inputporttype",
            "input_ports",
            "input_port_types",
            &INPUT_PORT,
            ModelName::InputPort,
        )
    } else {
        (
            "output_port_type",
            "outputporttype",
            "output_ports",
            "output_port_types",
            &OUTPUT_PORT,
            ModelName::OutputPort,
        )
    };
    let port_type = require_ref(&port_type.0, route, type_field)?;
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
        .bind(label.map(|l| l.0).filter(|l| !l.is_empty()).unwrap_or(type_name))
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
    crate::limits::check_lengths(&body, &[("label", max_len::PORT_LABEL)])?;
    let NewInputPort {
        workflow_job,
        input_port_type,
        label,
    } = body.typed()?;
    create_port(
        &state,
        &base,
        &user,
        (workflow_job, input_port_type, label),
        true,
    )
    .await
}

async fn create_output_port(
    State(state): State<AppState>,
    base: Base,
    user: User,
    body: Body,
) -> ApiResult<RawJson> {
    crate::limits::check_lengths(&body, &[("label", max_len::PORT_LABEL)])?;
    let NewOutputPort {
        workflow_job,
        output_port_type,
        label,
    } = body.typed()?;
    create_port(
        &state,
        &base,
        &user,
        (workflow_job, output_port_type, label),
        false,
    )
    .await
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
    crate::limits::check_lengths(body, &[("label", max_len::PORT_LABEL)])?;
    let PortChange { label } = body.typed()?;
    let (model, sql, table, event) = if input {
        (
            &INPUT_PORT,
            PORT_WORKFLOW_IN,
            "input_ports",
            ModelName::InputPort,
        )
    } else {
        (
            &OUTPUT_PORT,
            PORT_WORKFLOW_OUT,
            "output_ports",
            ModelName::OutputPort,
        )
    };
    let (_, project) = owner(state, user, model, id, sql).await?;
    if let Some(Text(label)) = label {
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
        (
            &INPUT_PORT,
            PORT_WORKFLOW_IN,
            "input_ports",
            ModelName::InputPort,
        )
    } else {
        (
            &OUTPUT_PORT,
            PORT_WORKFLOW_OUT,
            "output_ports",
            ModelName::OutputPort,
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
    let NewConnection {
        input_port,
        output_port,
        offset_x,
        offset_y,
    } = body.typed()?;
    let input = require_ref(&input_port.0, "inputport", "input_port")?;
    let output = require_ref(&output_port.0, "outputport", "output_port")?;
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
    // The builder may create a connection with where it draws its handle.
    let (offset_x, offset_y) = (offset_x.and_then(|f| f.0), offset_y.and_then(|f| f.0));
    let id = Uuid::new_v4();
    sqlx::query(
        "INSERT INTO connections (uuid, input_port_uuid, output_port_uuid, offset_x, offset_y) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(id)
    .bind(input)
    .bind(output)
    .bind(offset_x)
    .bind(offset_y)
    .execute(&state.pool)
    .await?;
    graph::invalidate(&state.pool, in_wf).await?;
    state
        .emit(Change::Created, ModelName::Connection, id, Some(project))
        .await;
    Ok(created(
        query::detail(&state.pool, &CONNECTION, &base.0, Some(&user), id).await?,
    ))
}

/// `POST /api/connections/`. The builder may create a connection with where it draws its
/// handle (`offset_x`, `offset_y`).
#[derive(Debug, Deserialize, JsonSchema)]
pub(super) struct NewConnection {
    input_port: Link,
    output_port: Link,
    #[serde(default)]
    offset_x: Option<Float>,
    #[serde(default)]
    offset_y: Option<Float>,
}

/// `PUT`/`PATCH /api/connection/<uuid>/`: the handle's offsets; its ports may be sent back as
/// they are.
#[derive(Debug, Deserialize, JsonSchema)]
pub(super) struct ConnectionChange {
    #[serde(default)]
    input_port: Option<Link>,
    #[serde(default)]
    output_port: Option<Link>,
    #[serde(default)]
    offset_x: Option<Float>,
    #[serde(default)]
    offset_y: Option<Float>,
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
    let change: ConnectionChange = body.typed()?;
    let (_, project) = owner(&state, &user, &CONNECTION, id, CONNECTION_WORKFLOW).await?;
    let (input, output): (Uuid, Uuid) =
        sqlx::query_as("SELECT input_port_uuid, output_port_uuid FROM connections WHERE uuid = $1")
            .bind(id)
            .fetch_one(&state.pool)
            .await?;
    for (key, route, current, given) in [
        ("input_port", "inputport", input, change.input_port),
        ("output_port", "outputport", output, change.output_port),
    ] {
        if let Some(Link(given)) = given
            && crate::link::parse_ref(&given, route) != Some(current)
        {
            return Err(ApiError::field(
                key,
                "A connection keeps its ports: delete it and create another.",
            ));
        }
    }
    for (column, value) in [("offset_x", change.offset_x), ("offset_y", change.offset_y)] {
        if let Some(Float(value)) = value {
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
        .emit(Change::Updated, ModelName::Connection, id, Some(project))
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
        .emit(Change::Deleted, ModelName::Connection, id, Some(project))
        .await;
    Ok(StatusCode::NO_CONTENT)
}
