//! `/api/workflow/<uuid>/resourceassignments/`: the resources saved on a workflow's input ports
//! (upstream's `InputPort.extern_resources`, a sorted many-to-many), which the workflow builder
//! of the web client reads when it opens a workflow and writes back whenever the user assigns
//! or removes a resource.
//!
//! As upstream's `WorkflowResourceAssignments`: `GET` maps every input port's URL to its
//! resources (rendered as in `/api/resources/`), `PATCH {port_url: [resource_url, ...]}`
//! replaces the resources of the ports it names, `PUT` first clears every port of the workflow,
//! `DELETE` clears them all; each answers what `GET` then answers. Unlike upstream, a write is
//! all or nothing, and it may only name the workflow's own ports and resources of its project.

use crate::auth::User;
use crate::body::Body;
use crate::body::field::Link;
use crate::error::{ApiError, ApiResult};
use crate::link::{Base, parse_ref};
use crate::models::{RESOURCE, WORKFLOW};
use crate::perm::{self, Role};
use crate::query::RawJson;
use crate::routes::read::path_uuid;
use crate::state::AppState;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use std::collections::BTreeMap;
use uuid::Uuid;

/// `PUT`/`PATCH`: input port hyperlinks to the resource hyperlinks to assign them, in order.
pub(super) type Assignments = BTreeMap<String, Vec<Link>>;

pub(super) fn routes() -> Router<AppState> {
    Router::new().route(
        "/api/workflow/{id}/resourceassignments/",
        get(read).put(replace).patch(change).delete(clear).options(
            crate::routes::read::view_options_handler(
                "Workflow Resource Assignments",
                &["GET", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"],
            ),
        ),
    )
}

/// Every input port of `workflow` with its assigned resources, in creation and assignment order.
async fn assignments(state: &AppState, base: &Base, workflow: Uuid) -> ApiResult<RawJson> {
    let sql = format!(
        "SELECT coalesce(json_object_agg(b.base || 'inputport/' || p.uuid || '/', \
             ARRAY(SELECT {json} FROM {from} JOIN input_port_extern_resources a ON a.resource_uuid = t.uuid \
                   WHERE a.input_port_uuid = p.uuid ORDER BY a.position) \
             ORDER BY p.created, p.uuid), '{{}}'::json) \
         FROM (SELECT $1::text AS base) b, input_ports p JOIN workflow_jobs j ON j.uuid = p.workflow_job_uuid \
         WHERE j.workflow_uuid = $2",
        json = RESOURCE.json,
        from = RESOURCE.from,
    );
    let (body,): (sqlx::types::Json<Box<serde_json::value::RawValue>>,) = sqlx::query_as(&sql)
        .bind(&base.0)
        .bind(workflow)
        .fetch_one(&state.pool)
        .await?;
    Ok(RawJson(StatusCode::OK, body.0.get().to_owned()))
}

async fn read(
    State(state): State<AppState>,
    base: Base,
    user: User,
    path: Path<String>,
) -> ApiResult<RawJson> {
    let workflow = path_uuid(path)?;
    perm::require_object(&state.pool, &user, &WORKFLOW, workflow, Role::Worker).await?;
    assignments(&state, &base, workflow).await
}

/// The ports and resources a write names, checked before anything changes: each key an input
/// port of `workflow` (400 on that key otherwise, 404 when it names nothing), each value a list
/// of hyperlinks to resources of `project` (same), duplicates dropped as a many-to-many `add`
/// drops them.
async fn parse(
    state: &AppState,
    body: &Body,
    workflow: Uuid,
    project: Uuid,
) -> ApiResult<Vec<(Uuid, Vec<Uuid>)>> {
    let body: Assignments = body.typed()?;
    let mut out = Vec::with_capacity(body.len());
    for (port_url, resources) in &body {
        let port = parse_ref(port_url, "inputport")
            .ok_or_else(|| ApiError::field(port_url, "Invalid hyperlink - No URL match."))?;
        let port_workflow: Option<Uuid> = sqlx::query_scalar(
            "SELECT j.workflow_uuid FROM input_ports p JOIN workflow_jobs j ON j.uuid = p.workflow_job_uuid WHERE p.uuid = $1",
        )
        .bind(port)
        .fetch_optional(&state.pool)
        .await?;
        match port_workflow {
            None => {
                return Err(ApiError::Detail(
                    StatusCode::NOT_FOUND,
                    format!("InputPort with UUID {port} does not exist."),
                ));
            }
            Some(w) if w != workflow => {
                return Err(ApiError::field(
                    port_url,
                    "This input port is not in this workflow.",
                ));
            }
            Some(_) => {}
        }
        let mut ids: Vec<Uuid> = Vec::with_capacity(resources.len());
        for Link(url) in resources {
            let id = parse_ref(url, "resource")
                .ok_or_else(|| ApiError::field(port_url, "Invalid hyperlink - No URL match."))?;
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        let projects: Vec<(Uuid, Uuid)> =
            sqlx::query_as("SELECT uuid, project_uuid FROM resources WHERE uuid = ANY($1)")
                .bind(&ids)
                .fetch_all(&state.pool)
                .await?;
        for id in &ids {
            match projects.iter().find(|(r, _)| r == id) {
                None => {
                    return Err(ApiError::Detail(
                        StatusCode::NOT_FOUND,
                        format!("Resource with UUID {id} does not exist."),
                    ));
                }
                Some((_, p)) if *p != project => {
                    return Err(ApiError::field(
                        port_url,
                        format!("Resource {id} is not in the workflow's project."),
                    ));
                }
                Some(_) => {}
            }
        }
        out.push((port, ids));
    }
    Ok(out)
}

const CLEAR_WORKFLOW: &str = "DELETE FROM input_port_extern_resources WHERE input_port_uuid IN \
     (SELECT p.uuid FROM input_ports p JOIN workflow_jobs j ON j.uuid = p.workflow_job_uuid WHERE j.workflow_uuid = $1)";

/// Writes the assignments of a request in one transaction, after clearing the whole workflow's
/// when `clear_all`.
async fn write(
    state: &AppState,
    base: &Base,
    user: &User,
    workflow: Uuid,
    body: Option<&Body>,
    clear_all: bool,
) -> ApiResult<RawJson> {
    let project =
        perm::require_object(&state.pool, user, &WORKFLOW, workflow, Role::Worker).await?;
    let changes = match body {
        Some(body) => parse(state, body, workflow, project).await?,
        None => Vec::new(),
    };
    let mut tx = state.pool.begin().await?;
    if clear_all {
        sqlx::query(CLEAR_WORKFLOW)
            .bind(workflow)
            .execute(&mut *tx)
            .await?;
    }
    for (port, resources) in &changes {
        sqlx::query("DELETE FROM input_port_extern_resources WHERE input_port_uuid = $1")
            .bind(port)
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO input_port_extern_resources (input_port_uuid, resource_uuid, position) \
             SELECT $1, r, n::integer FROM unnest($2::uuid[]) WITH ORDINALITY AS u(r, n)",
        )
        .bind(port)
        .bind(resources)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    assignments(state, base, workflow).await
}

async fn change(
    State(state): State<AppState>,
    base: Base,
    user: User,
    path: Path<String>,
    body: Body,
) -> ApiResult<RawJson> {
    let workflow = path_uuid(path)?;
    write(&state, &base, &user, workflow, Some(&body), false).await
}

async fn replace(
    State(state): State<AppState>,
    base: Base,
    user: User,
    path: Path<String>,
    body: Body,
) -> ApiResult<RawJson> {
    let workflow = path_uuid(path)?;
    write(&state, &base, &user, workflow, Some(&body), true).await
}

async fn clear(
    State(state): State<AppState>,
    base: Base,
    user: User,
    path: Path<String>,
) -> ApiResult<RawJson> {
    let workflow = path_uuid(path)?;
    write(&state, &base, &user, workflow, None, true).await
}
