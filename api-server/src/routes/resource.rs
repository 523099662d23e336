//! Resources: multipart upload of several files with type detection, edits (name, type,
//! labels), deletion refused while referenced, and authorised media downloads.

use crate::auth::{MaybeUser, User};
use crate::body::Body;
use crate::error::{ApiError, ApiResult};
use crate::link::{Base, parse_ref};
use crate::models::{LABEL, RESOURCE, RESOURCE_LIST};
use crate::perm::{self, Role};
use crate::query::{self, RawJson};
use crate::routes::read::{Access, list_handler, options_handler, path_uuid};
use crate::state::AppState;
use axum::Router;
use axum::extract::{Multipart, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use rodan_db::events::Change;
use sqlx::PgPool;
use uuid::Uuid;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/resources/",
            get(list_handler(&RESOURCE, Access::Members))
                .post(upload)
                .options(options_handler(&RESOURCE, true, super::LIST_RW)),
        )
        .route(
            "/api/resource/{id}/",
            get(super::read::detail_handler(&RESOURCE, Access::Members))
                .put(update)
                .patch(update)
                .delete(delete)
                .options(options_handler(&RESOURCE, false, super::DETAIL_RW)),
        )
        .route(
            "/api/resourcelists/",
            get(list_handler(&RESOURCE_LIST, Access::Members)).options(options_handler(
                &RESOURCE_LIST,
                true,
                super::LIST_RO,
            )),
        )
        .route(
            "/api/resourcelist/{id}/",
            get(super::read::detail_handler(&RESOURCE_LIST, Access::Members))
                .options(options_handler(&RESOURCE_LIST, false, super::DETAIL_RO)),
        )
        .route(
            "/api/labels/",
            get(list_handler(&LABEL, Access::Members)).options(options_handler(
                &LABEL,
                true,
                super::LIST_RO,
            )),
        )
        .route(
            "/api/label/{id}/",
            get(super::read::detail_handler(&LABEL, Access::Members)).options(options_handler(
                &LABEL,
                false,
                super::DETAIL_RO,
            )),
        )
        .route("/uploads/{*path}", get(media))
}

/// Where a resource's bytes live, relative to the media root (upstream's layout).
pub(crate) fn resource_path(project: Uuid, resource: Uuid) -> String {
    format!(
        "projects/{}/resources/{}/original_file",
        project.simple(),
        resource.simple()
    )
}

/// Removes a deleted resource's directory.
pub(crate) async fn remove_files(state: &AppState, project: Uuid, resource: Uuid) {
    let dir = state
        .media_root
        .join("projects")
        .join(project.simple().to_string())
        .join("resources")
        .join(resource.simple().to_string());
    if let Err(error) = tokio::fs::remove_dir_all(&dir).await
        && error.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(%error, dir = %dir.display(), "failed to remove a resource's files");
    }
}

async fn labels(pool: &PgPool, resource: Uuid, names: &str) -> ApiResult<()> {
    sqlx::query("DELETE FROM resource_resource_labels WHERE resource_uuid = $1")
        .bind(resource)
        .execute(pool)
        .await?;
    for name in names.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        if name.chars().count() > 36 {
            return Err(ApiError::field(
                "label_names",
                "Ensure each label has no more than 36 characters.",
            ));
        }
        let label: Uuid = sqlx::query_scalar(
            "INSERT INTO resource_labels (uuid, name) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET name = EXCLUDED.name RETURNING uuid",
        )
        .bind(Uuid::new_v4())
        .bind(name)
        .fetch_one(pool)
        .await?;
        sqlx::query("INSERT INTO resource_resource_labels (resource_uuid, label_uuid) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(resource)
            .bind(label)
            .execute(pool)
            .await?;
    }
    Ok(())
}

/// The mimetype of a `type` field given as a mimetype or a resource type URL.
async fn claimed_type(pool: &PgPool, value: &str) -> ApiResult<String> {
    if let Some(id) = parse_ref(value, "resourcetype") {
        return sqlx::query_scalar("SELECT mimetype FROM resource_types WHERE uuid = $1")
            .bind(id)
            .fetch_optional(pool)
            .await?
            .ok_or_else(|| ApiError::field("type", "Invalid hyperlink - Object does not exist."));
    }
    Ok(value.to_owned())
}

/// `POST /api/resources/` (multipart): `files` (one or more), `project`, optional `type` and
/// `label_names`. Each file becomes a resource; its type is the claimed one when registered,
/// else detected from its bytes (§2.7), and it is ready at once (processing done inline).
async fn upload(
    State(state): State<AppState>,
    base: Base,
    user: User,
    mut multipart: Multipart,
) -> ApiResult<(StatusCode, axum::Json<Vec<serde_json::Value>>)> {
    let mut project = None;
    let mut claimed = None;
    let mut label_names = None;
    let mut files: Vec<(String, axum::body::Bytes)> = Vec::new();
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| ApiError::bad_request(format!("Malformed multipart body: {e}")))?
    {
        let name = field.name().unwrap_or("").to_owned();
        match name.as_str() {
            "files" => {
                let filename = field.file_name().unwrap_or("upload").to_owned();
                let bytes = field.bytes().await.map_err(|e| {
                    ApiError::bad_request(format!("Failed to read an uploaded file: {e}"))
                })?;
                files.push((filename, bytes));
            }
            "project" | "type" | "label_names" => {
                let text = field
                    .text()
                    .await
                    .map_err(|_| ApiError::field(&name, "Not a valid string."))?;
                match name.as_str() {
                    "project" => project = Some(text),
                    "type" => claimed = Some(text),
                    _ => label_names = Some(text),
                }
            }
            _ => {}
        }
    }
    let project = project.ok_or_else(|| ApiError::field("project", "This field is required."))?;
    let project = parse_ref(&project, "project")
        .ok_or_else(|| ApiError::field("project", "Invalid hyperlink - No URL match."))?;
    perm::require_field(&state.pool, &user, project, "project").await?;
    if files.is_empty() {
        return Err(ApiError::field(
            "files",
            "You must supply at least one file to upload.",
        ));
    }
    let claimed = match claimed.filter(|c| !c.is_empty()) {
        Some(value) => Some(claimed_type(&state.pool, &value).await?),
        None => None,
    };
    let mut out = Vec::with_capacity(files.len());
    for (filename, bytes) in files {
        let id = Uuid::new_v4();
        let path = resource_path(project, id);
        let full = state.media_root.join(&path);
        if let Some(dir) = full.parent() {
            tokio::fs::create_dir_all(dir)
                .await
                .map_err(ApiError::internal)?;
        }
        tokio::fs::write(&full, &bytes)
            .await
            .map_err(ApiError::internal)?;
        let mimetype = rodan_core::detect::claimed_or_detected(claimed.as_deref(), &bytes);
        let name = std::path::Path::new(&filename)
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or(&filename)
            .to_owned();
        sqlx::query(
            "INSERT INTO resources (uuid, name, project_uuid, resource_file, resource_type_uuid, processing_status, creator_id)
             VALUES ($1, $2, $3, $4, (SELECT uuid FROM resource_types WHERE mimetype = $5), NULL, $6)",
        )
        .bind(id)
        .bind(&name)
        .bind(project)
        .bind(&path)
        .bind(mimetype)
        .bind(user.id)
        .execute(&state.pool)
        .await?;
        if let Some(names) = &label_names {
            labels(&state.pool, id, names).await?;
        }
        state
            .emit(Change::Created, "resource", id, Some(project))
            .await;
        out.push(query::detail_value(&state.pool, &RESOURCE, &base.0, Some(&user), id).await?);
    }
    Ok((StatusCode::CREATED, axum::Json(out)))
}

async fn owned(state: &AppState, user: &User, id: Uuid) -> ApiResult<Uuid> {
    let project = query::project_of(&state.pool, &RESOURCE, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    perm::require(&state.pool, user, project, Role::Worker).await?;
    Ok(project)
}

async fn update(
    State(state): State<AppState>,
    base: Base,
    user: User,
    path: Path<String>,
    body: Body,
) -> ApiResult<RawJson> {
    let id = path_uuid(path)?;
    let project = owned(&state, &user, id).await?;
    for key in ["name", "description"] {
        if let Some(value) = body.str(key) {
            sqlx::query(&format!(
                "UPDATE resources SET {key} = $2, updated = now() WHERE uuid = $1"
            ))
            .bind(id)
            .bind(value)
            .execute(&state.pool)
            .await?;
        }
    }
    if let Some(value) = body.str("resource_type") {
        let mimetype = claimed_type(&state.pool, value).await.map_err(|_| {
            ApiError::field(
                "resource_type",
                "Invalid hyperlink - Object does not exist.",
            )
        })?;
        let changed = sqlx::query("UPDATE resources SET resource_type_uuid = (SELECT uuid FROM resource_types WHERE mimetype = $2), updated = now() WHERE uuid = $1 AND EXISTS (SELECT 1 FROM resource_types WHERE mimetype = $2)")
            .bind(id)
            .bind(&mimetype)
            .execute(&state.pool)
            .await?;
        if changed.rows_affected() == 0 {
            return Err(ApiError::field(
                "resource_type",
                "Invalid hyperlink - Object does not exist.",
            ));
        }
    }
    if let Some(names) = body.str("label_names") {
        labels(&state.pool, id, names).await?;
    }
    state
        .emit(Change::Updated, "resource", id, Some(project))
        .await;
    Ok(RawJson(
        StatusCode::OK,
        query::detail(&state.pool, &RESOURCE, &base.0, Some(&user), id).await?,
    ))
}

/// Deletes a resource; 409 while a run's inputs or outputs or a resource list refer to it.
async fn delete(
    State(state): State<AppState>,
    user: User,
    path: Path<String>,
) -> ApiResult<StatusCode> {
    let id = path_uuid(path)?;
    let project = owned(&state, &user, id).await?;
    let referenced: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM inputs WHERE resource_uuid = $1) OR EXISTS (SELECT 1 FROM outputs WHERE resource_uuid = $1)
             OR EXISTS (SELECT 1 FROM resource_list_members WHERE resource_uuid = $1)",
    )
    .bind(id)
    .fetch_one(&state.pool)
    .await?;
    if referenced {
        return Err(ApiError::Conflict(serde_json::json!({
            "detail": "This resource is used by a workflow run or a resource list and cannot be deleted."
        })));
    }
    sqlx::query("DELETE FROM resources WHERE uuid = $1")
        .bind(id)
        .execute(&state.pool)
        .await?;
    remove_files(&state, project, id).await;
    state
        .emit(Change::Deleted, "resource", id, Some(project))
        .await;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /uploads/<path>`: media only after authorisation. Credentials come as the usual header
/// or as the web client's `token` cookie. The answer is an empty body with
/// `X-Accel-Redirect` for nginx (or the bytes themselves when configured to serve media).
async fn media(
    State(state): State<AppState>,
    user: MaybeUser,
    headers: HeaderMap,
    Path(path): Path<String>,
) -> ApiResult<Response> {
    let user = match user.0 {
        Some(user) => user,
        None => cookie_user(&state, &headers)
            .await?
            .ok_or(ApiError::NotAuthenticated)?,
    };
    if path.split('/').any(|part| part == ".." || part.is_empty()) {
        return Err(ApiError::NotFound);
    }
    let project: Option<Uuid> = if let Some(rest) = path.strip_prefix("results_packages/") {
        let hex = rest.strip_suffix(".zip").ok_or(ApiError::NotFound)?;
        let id = Uuid::parse_str(hex).map_err(|_| ApiError::NotFound)?;
        sqlx::query_scalar("SELECT r.project_uuid FROM results_packages p JOIN workflow_runs r ON r.uuid = p.workflow_run_uuid WHERE p.uuid = $1")
            .bind(id)
            .fetch_optional(&state.pool)
            .await?
    } else {
        sqlx::query_scalar("SELECT project_uuid FROM resources WHERE resource_file = $1")
            .bind(&path)
            .fetch_optional(&state.pool)
            .await?
    };
    let project = project.ok_or(ApiError::NotFound)?;
    if perm::role(&state.pool, &user, project).await?.is_none() {
        return Err(ApiError::NotFound);
    }
    if state.serve_media {
        let bytes = tokio::fs::read(state.media_root.join(&path))
            .await
            .map_err(|_| ApiError::NotFound)?;
        return Ok(([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response());
    }
    let target = format!("{}{}", rodan_types::MEDIA_ACCEL_PREFIX, path);
    let mut response = StatusCode::OK.into_response();
    response.headers_mut().insert(
        "X-Accel-Redirect",
        HeaderValue::from_str(&target).map_err(|_| ApiError::NotFound)?,
    );
    Ok(response)
}

/// The user of the web client's `token` cookie, if any.
async fn cookie_user(state: &AppState, headers: &HeaderMap) -> ApiResult<Option<User>> {
    let Some(token) = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == "token")
        .map(|(_, v)| v.to_owned())
    else {
        return Ok(None);
    };
    crate::auth::token_user(&state.pool, &token).await
}
