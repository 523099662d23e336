//! Projects and their admin and worker lists.

use crate::auth::User;
use crate::body::field::{NonBlank, Text};
use crate::body::{AnyJson, Body};
use crate::error::{ApiError, ApiResult};
use crate::limits::max_len;
use crate::link::Base;
use crate::models::PROJECT;
use crate::perm::{self, Role};
use crate::query;
use crate::routes::read::{Access, path_uuid};
use crate::state::AppState;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use rodan_db::events::{Change, ModelName};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

pub(super) fn routes() -> Router<AppState> {
    use super::list;
    Router::new()
        .route(
            "/api/projects/",
            list(&PROJECT, Access::Members).post(create).into(),
        )
        .route(
            "/api/project/{id}/",
            super::Resource::new(&PROJECT, false, get(detail))
                .put_patch(update)
                .delete(delete)
                .into(),
        )
        .route(
            "/api/project/{id}/admins/",
            get(admins).put(set_admins).patch(set_admins),
        )
        .route(
            "/api/project/{id}/workers/",
            get(workers).put(set_workers).patch(set_workers),
        )
}

/// The project's detail: the list fields plus its workflows, resources, resource lists, admins
/// and workers.
pub(crate) async fn project_detail(
    state: &AppState,
    base: &Base,
    user: &User,
    id: Uuid,
) -> ApiResult<Value> {
    let mut value = query::detail_value(&state.pool, &PROJECT, &base.0, Some(user), id).await?;
    let (workflows, resources, lists, admins, workers): (Value, Value, Value, Value, Value) = sqlx::query_as(
        "SELECT
           (SELECT coalesce(json_agg(json_build_object('url', $2 || 'workflow/' || w.uuid || '/', 'name', w.name) ORDER BY w.created), '[]') FROM workflows w WHERE w.project_uuid = $1),
           (SELECT coalesce(json_agg(json_build_object('url', $2 || 'resource/' || r.uuid || '/', 'name', r.name) ORDER BY r.created), '[]') FROM resources r WHERE r.project_uuid = $1),
           (SELECT coalesce(json_agg(json_build_object('url', $2 || 'resourcelist/' || r.uuid || '/', 'name', r.name) ORDER BY r.created), '[]') FROM resource_lists r WHERE r.project_uuid = $1),
           (SELECT coalesce(json_agg(u.username ORDER BY u.username), '[]') FROM project_members m JOIN users u ON u.id = m.user_id WHERE m.project_uuid = $1 AND m.role = 'admin'),
           (SELECT coalesce(json_agg(u.username ORDER BY u.username), '[]') FROM project_members m JOIN users u ON u.id = m.user_id WHERE m.project_uuid = $1 AND m.role = 'worker')",
    )
    .bind(id)
    .bind(&base.0)
    .fetch_one(&state.pool)
    .await?;
    if let Some(map) = value.as_object_mut() {
        map.insert("workflows".into(), workflows);
        map.insert("resources".into(), resources);
        map.insert("resourcelists".into(), lists);
        map.insert("admins".into(), admins);
        map.insert("workers".into(), workers);
    }
    Ok(value)
}

/// `POST /api/projects/`.
#[derive(Debug, Deserialize, JsonSchema)]
pub(super) struct NewProject {
    #[schemars(length(max = max_len::PROJECT_NAME))]
    name: NonBlank,
    #[serde(default)]
    description: Option<Text>,
}

/// `PUT`/`PATCH /api/project/<uuid>/`: what is given changes.
#[derive(Debug, Deserialize, JsonSchema)]
pub(super) struct ProjectChange {
    #[serde(default)]
    #[schemars(length(max = max_len::PROJECT_NAME))]
    name: Option<NonBlank>,
    #[serde(default)]
    description: Option<Text>,
}

async fn create(
    State(state): State<AppState>,
    base: Base,
    user: User,
    body: Body,
) -> ApiResult<(StatusCode, axum::Json<Value>)> {
    crate::limits::check_lengths(&body, &[("name", max_len::PROJECT_NAME)])?;
    let NewProject { name, description } = body.typed()?;
    let (name, description) = (name.0, description.unwrap_or_default().0);
    let id = Uuid::new_v4();
    sqlx::query(
        "INSERT INTO projects (uuid, name, description, creator_id) VALUES ($1, $2, $3, $4)",
    )
    .bind(id)
    .bind(name)
    .bind(description)
    .bind(user.id)
    .execute(&state.pool)
    .await?;
    state
        .emit(Change::Created, ModelName::Project, id, Some(id))
        .await;
    Ok((
        StatusCode::CREATED,
        axum::Json(project_detail(&state, &base, &user, id).await?),
    ))
}

async fn detail(
    State(state): State<AppState>,
    base: Base,
    user: User,
    path: Path<String>,
) -> ApiResult<axum::Json<Value>> {
    let id = path_uuid(path)?;
    Ok(axum::Json(project_detail(&state, &base, &user, id).await?))
}

async fn update(
    State(state): State<AppState>,
    base: Base,
    user: User,
    path: Path<String>,
    body: Body,
) -> ApiResult<axum::Json<Value>> {
    crate::limits::check_lengths(&body, &[("name", max_len::PROJECT_NAME)])?;
    let id = path_uuid(path)?;
    perm::require(&state.pool, &user, id, Role::Admin).await?;
    let ProjectChange { name, description } = body.typed()?;
    if let Some(NonBlank(name)) = name {
        sqlx::query("UPDATE projects SET name = $2, updated = now() WHERE uuid = $1")
            .bind(id)
            .bind(name)
            .execute(&state.pool)
            .await?;
    }
    if let Some(Text(description)) = description {
        sqlx::query("UPDATE projects SET description = $2, updated = now() WHERE uuid = $1")
            .bind(id)
            .bind(description)
            .execute(&state.pool)
            .await?;
    }
    state
        .emit(Change::Updated, ModelName::Project, id, Some(id))
        .await;
    Ok(axum::Json(project_detail(&state, &base, &user, id).await?))
}

async fn delete(
    State(state): State<AppState>,
    user: User,
    path: Path<String>,
) -> ApiResult<StatusCode> {
    let id = path_uuid(path)?;
    perm::require(&state.pool, &user, id, Role::Admin).await?;
    let mut tx = state.pool.begin().await?;
    // Runs first: their inputs and outputs protect resources from the cascade.
    sqlx::query("DELETE FROM workflow_runs WHERE project_uuid = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM resource_lists WHERE project_uuid = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    sqlx::query("DELETE FROM projects WHERE uuid = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    let dir = state.media_root.join(rodan_core::media::project_dir(id));
    if let Err(error) = tokio::fs::remove_dir_all(&dir).await
        && error.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(%error, dir = %dir.display(), "failed to remove a deleted project's files");
    }
    state
        .emit(Change::Deleted, ModelName::Project, id, Some(id))
        .await;
    Ok(StatusCode::NO_CONTENT)
}

async fn members(state: &AppState, id: Uuid, role: &str) -> ApiResult<Vec<String>> {
    Ok(sqlx::query_scalar(
        "SELECT u.username FROM project_members m JOIN users u ON u.id = m.user_id
         WHERE m.project_uuid = $1 AND m.role = $2 ORDER BY u.username",
    )
    .bind(id)
    .bind(role)
    .fetch_all(&state.pool)
    .await?)
}

async fn admins(
    State(state): State<AppState>,
    user: User,
    path: Path<String>,
) -> ApiResult<axum::Json<Vec<String>>> {
    let id = path_uuid(path)?;
    perm::require(&state.pool, &user, id, Role::Worker).await?;
    Ok(axum::Json(members(&state, id, "admin").await?))
}

async fn workers(
    State(state): State<AppState>,
    user: User,
    path: Path<String>,
) -> ApiResult<axum::Json<Vec<String>>> {
    let id = path_uuid(path)?;
    perm::require(&state.pool, &user, id, Role::Worker).await?;
    Ok(axum::Json(members(&state, id, "worker").await?))
}

/// `PUT`/`PATCH /api/project/<uuid>/admins/` and `.../workers/`: the user names of the role's
/// members.
pub(super) type MemberNames = Vec<String>;

/// Replaces a member list with the users named in the body (a JSON list of user names).
async fn set_members(
    state: &AppState,
    id: Uuid,
    role: &str,
    body: &Value,
) -> ApiResult<Vec<String>> {
    let names = MemberNames::deserialize(body)
        .map_err(|_| ApiError::bad_request("Expected a list of usernames."))?;
    let found: Vec<(i64, String)> =
        sqlx::query_as("SELECT id, username FROM users WHERE username = ANY($1)")
            .bind(&names)
            .fetch_all(&state.pool)
            .await?;
    if let Some(missing) = names.iter().find(|n| !found.iter().any(|(_, f)| f == *n)) {
        return Err(ApiError::bad_request(format!(
            "User {missing} does not exist."
        )));
    }
    let mut tx = state.pool.begin().await?;
    sqlx::query("DELETE FROM project_members WHERE project_uuid = $1 AND role = $2")
        .bind(id)
        .bind(role)
        .execute(&mut *tx)
        .await?;
    for (user_id, _) in &found {
        sqlx::query(
            "INSERT INTO project_members (project_uuid, user_id, role) VALUES ($1, $2, $3)",
        )
        .bind(id)
        .bind(user_id)
        .bind(role)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    state
        .emit(Change::Updated, ModelName::Project, id, Some(id))
        .await;
    members(state, id, role).await
}

async fn set_admins(
    State(state): State<AppState>,
    user: User,
    path: Path<String>,
    AnyJson(body): AnyJson,
) -> ApiResult<axum::Json<Vec<String>>> {
    let id = path_uuid(path)?;
    perm::require(&state.pool, &user, id, Role::Creator).await?;
    Ok(axum::Json(set_members(&state, id, "admin", &body).await?))
}

async fn set_workers(
    State(state): State<AppState>,
    user: User,
    path: Path<String>,
    AnyJson(body): AnyJson,
) -> ApiResult<axum::Json<Vec<String>>> {
    let id = path_uuid(path)?;
    perm::require(&state.pool, &user, id, Role::Admin).await?;
    Ok(axum::Json(set_members(&state, id, "worker", &body).await?))
}
