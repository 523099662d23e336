//! Resources: multipart upload of several files with type detection, edits (name, type,
//! labels), deletion refused while referenced, and authorised media downloads.

use crate::auth::{MaybeUser, User};
use crate::body::Body;
use crate::body::field::{Link, NonBlank, Text};
use crate::error::{ApiError, ApiResult, NUL_MESSAGE};
use crate::link::{Base, parse_ref};
use crate::models::{LABEL, RESOURCE, RESOURCE_LIST};
use crate::perm::{self, Role};
use crate::query::{self, RawJson};
use crate::routes::read::{Access, path_uuid};
use crate::state::AppState;
use axum::Router;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use rodan_core::media::{self, STAGING_DIR};
use rodan_core::message::{ResourceMessage, Task};
use rodan_core::resource_types::OCTET_STREAM;
use rodan_core::status;
use rodan_db::events::{Change, ModelName};
use schemars::JsonSchema;
use serde::Deserialize;
use sqlx::PgPool;
use uuid::Uuid;

pub(super) fn routes() -> Router<AppState> {
    use super::{detail, list};
    Router::new()
        .route(
            "/api/resources/",
            list(&RESOURCE, Access::Members).post(upload).into(),
        )
        .route(
            "/api/resource/{id}/",
            detail(&RESOURCE, Access::Members)
                .put_patch(update)
                .delete(delete)
                .into(),
        )
        .route(
            "/api/resources/archive/",
            get(archive).options(super::read::view_options_handler(
                "Resource Archive",
                &["GET", "HEAD", "OPTIONS"],
            )),
        )
        .route(
            "/api/resourcelists/",
            list(&RESOURCE_LIST, Access::Members)
                .post(create_list)
                .into(),
        )
        .route(
            "/api/resourcelist/{id}/",
            detail(&RESOURCE_LIST, Access::Members)
                .put_patch(update_list)
                .delete(delete_list)
                .into(),
        )
        .route("/api/labels/", list(&LABEL, Access::Members).into())
        .route(
            "/api/label/{id}/",
            detail(&LABEL, Access::Members)
                .put_patch(update_label)
                .delete(delete_label)
                .into(),
        )
        .route("/uploads/{*path}", get(media))
}

/// Uploaded files written to the media volume as they arrive (below [`STAGING_DIR`], so that moving
/// one into place is a rename), and removed again unless moved: a large upload is never held in
/// memory, and a refused one leaves nothing behind.
struct Staged {
    dir: std::path::PathBuf,
    /// Client file name and staged path; a file moved into place is no longer there.
    files: Vec<(String, std::path::PathBuf)>,
}

impl Staged {
    fn new(media_root: &std::path::Path) -> Self {
        Self {
            dir: media_root.join(STAGING_DIR),
            files: Vec::new(),
        }
    }

    /// Streams `field` into a new staged file named after nothing the client chose.
    async fn receive(
        &mut self,
        filename: String,
        mut field: axum::extract::multipart::Field<'_>,
        max: usize,
    ) -> ApiResult<()> {
        use tokio::io::AsyncWriteExt;
        tokio::fs::create_dir_all(&self.dir)
            .await
            .map_err(ApiError::internal)?;
        let path = self.dir.join(Uuid::new_v4().simple().to_string());
        // Registered first, so that a failure below still removes it.
        self.files.push((filename, path.clone()));
        let mut file = tokio::fs::File::create(&path)
            .await
            .map_err(ApiError::internal)?;
        while let Some(chunk) = field.chunk().await.map_err(|e| {
            multipart_error(e, max, |e| format!("Failed to read an uploaded file: {e}"))
        })? {
            file.write_all(&chunk).await.map_err(ApiError::internal)?;
        }
        file.flush().await.map_err(ApiError::internal)?;
        Ok(())
    }
}

/// A multipart body that could not be read: 413 when it passed the upload limit (the body is
/// not read further), 400 otherwise.
fn multipart_error(
    error: axum::extract::multipart::MultipartError,
    max: usize,
    message: impl FnOnce(&axum::extract::multipart::MultipartError) -> String,
) -> ApiError {
    if error.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::too_large(max)
    } else {
        ApiError::bad_request(message(&error))
    }
}

/// Staged upload files older than `older_than` in `media_root`'s staging folder: left by an API
/// process that died mid-upload (a live upload's file is written to as it arrives). Removes them
/// and returns how many.
pub(crate) fn sweep_staged(media_root: &std::path::Path, older_than: std::time::Duration) -> usize {
    let Ok(entries) = std::fs::read_dir(media_root.join(STAGING_DIR)) else {
        return 0;
    };
    let now = std::time::SystemTime::now();
    entries
        .flatten()
        .filter(|entry| {
            entry
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|modified| {
                    now.duration_since(modified)
                        .is_ok_and(|age| age > older_than)
                })
        })
        .filter(|entry| std::fs::remove_file(entry.path()).is_ok())
        .count()
}

impl Drop for Staged {
    fn drop(&mut self) {
        // Files moved into place are gone from here; the others go.
        for (_, path) in &self.files {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Removes a deleted resource's directory.
pub(crate) async fn remove_files(state: &AppState, project: Uuid, resource: Uuid) {
    let dir = state
        .media_root
        .join(media::resource_dir(project, resource));
    if let Err(error) = tokio::fs::remove_dir_all(&dir).await
        && error.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(%error, dir = %dir.display(), "failed to remove a resource's files");
    }
}

/// Refuses label names longer than upstream's 36 characters.
fn check_labels(names: &str) -> ApiResult<()> {
    if names
        .split(',')
        .map(str::trim)
        .any(|name| name.chars().count() > 36)
    {
        return Err(ApiError::field(
            "label_names",
            "Ensure each label has no more than 36 characters.",
        ));
    }
    Ok(())
}

async fn labels(pool: &PgPool, resource: Uuid, names: &str) -> ApiResult<()> {
    check_labels(names)?;
    sqlx::query("DELETE FROM resource_resource_labels WHERE resource_uuid = $1")
        .bind(resource)
        .execute(pool)
        .await?;
    for name in names.split(',').map(str::trim).filter(|n| !n.is_empty()) {
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

/// DRF's answers to a body its multipart parser cannot take, as JSON (axum's are plain text):
/// 415 for another media type, 400 for a multipart body without a usable boundary.
fn multipart_rejection(headers: &HeaderMap, rejection: MultipartRejection) -> ApiError {
    let MultipartRejection::InvalidBoundary(_) = &rejection else {
        return ApiError::bad_request(format!("Multipart form parse error - {rejection}"));
    };
    // axum says "invalid boundary" both for another media type and for a missing boundary.
    let media_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = media_type.split(';').next().unwrap_or("").trim();
    if essence.eq_ignore_ascii_case("multipart/form-data") {
        ApiError::bad_request("Multipart form parse error - Invalid boundary in multipart: None")
    } else {
        ApiError::Detail(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("Unsupported media type \"{media_type}\" in request."),
        )
    }
}

/// `POST /api/resources/` (multipart): `files` (one or more), `project`, optional `type` and
/// `label_names`. Each file is streamed to the media volume and becomes a resource: with a claimed
/// type, typed at once (octet-stream when the type is not registered); without, SCHEDULED and
/// octet-stream until a worker of the core queue detects its type and clears its processing
/// status (§2.7, upstream's `create_resource`).
async fn upload(
    State(state): State<AppState>,
    base: Base,
    user: User,
    headers: HeaderMap,
    multipart: Result<Multipart, MultipartRejection>,
) -> ApiResult<(StatusCode, axum::Json<Vec<serde_json::Value>>)> {
    let mut multipart = multipart.map_err(|r| multipart_rejection(&headers, r))?;
    let mut project = None;
    let mut claimed = None;
    let mut label_names = None;
    let mut files = Staged::new(&state.media_root);
    let max = state.max_upload;
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| multipart_error(e, max, |e| format!("Malformed multipart body: {e}")))?
    {
        let name = field.name().unwrap_or("").to_owned();
        match name.as_str() {
            "files" => {
                let filename = field.file_name().unwrap_or("upload").to_owned();
                if filename.contains('\0') {
                    return Err(ApiError::field("files", NUL_MESSAGE));
                }
                files.receive(filename, field, max).await?;
            }
            "project" | "type" | "label_names" => {
                let text = field.text().await.map_err(|e| {
                    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                        ApiError::too_large(max)
                    } else {
                        ApiError::field(&name, "Not a valid string.")
                    }
                })?;
                if text.contains('\0') {
                    return Err(ApiError::field(&name, NUL_MESSAGE));
                }
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
    if files.files.is_empty() {
        return Err(ApiError::field(
            "files",
            "You must supply at least one file to upload.",
        ));
    }
    let claimed = match claimed.filter(|c| !c.is_empty()) {
        Some(value) => Some(claimed_type(&state.pool, &value).await?),
        None => None,
    };
    // Refused before any resource is made, so that a 400 leaves nothing behind.
    if let Some(names) = &label_names {
        check_labels(names)?;
    }
    let mut created = Vec::with_capacity(files.files.len());
    for (filename, staged) in &files.files {
        let id = Uuid::new_v4();
        let path = media::resource_file(project, id);
        let full = state.media_root.join(&path);
        if let Some(dir) = full.parent() {
            tokio::fs::create_dir_all(dir)
                .await
                .map_err(ApiError::internal)?;
        }
        tokio::fs::rename(staged, &full)
            .await
            .map_err(ApiError::internal)?;
        // A claimed type settles the upload at once, as upstream's `create_resource` ends for
        // it (a type that is not registered gives octet-stream, undetected); without one it waits
        // SCHEDULED as octet-stream until a `celery`-queue worker detects its type.
        let (mimetype, processing) = match rodan_core::detect::claimed_type(claimed.as_deref()) {
            Some(mimetype) => (mimetype, None),
            None => (OCTET_STREAM, Some(status::SCHEDULED)),
        };
        // Upstream's max_length for a resource's name: a longer file name is cut to it.
        let name: String = std::path::Path::new(filename)
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or(filename)
            .chars()
            .take(crate::limits::max_len::RESOURCE_NAME)
            .collect();
        let inserted = sqlx::query(
            "INSERT INTO resources (uuid, name, project_uuid, resource_file, resource_type_uuid, processing_status, creator_id)
             VALUES ($1, $2, $3, $4, (SELECT uuid FROM resource_types WHERE mimetype = $5), $6, $7)",
        )
        .bind(id)
        .bind(&name)
        .bind(project)
        .bind(&path)
        .bind(mimetype)
        .bind(processing)
        .bind(user.id)
        .execute(&state.pool)
        .await;
        if let Err(error) = inserted {
            // No row points at the file: it goes.
            let _ = tokio::fs::remove_file(&full).await;
            return Err(error.into());
        }
        if let Some(names) = &label_names {
            labels(&state.pool, id, names).await?;
        }
        state
            .emit(Change::Created, ModelName::Resource, id, Some(project))
            .await;
        created.push((id, processing.is_some()));
    }
    let messages: Vec<(&str, Task)> = created
        .iter()
        .filter(|(_, waits)| *waits)
        .map(|&(resource, _)| {
            let task = Task::Resource(ResourceMessage { resource });
            (state.core_queue.as_str(), task)
        })
        .collect();
    if !messages.is_empty()
        && let Err(error) = state.broker.publish_all(&messages).await
    {
        // The uploads are stored; workers consuming the core queue publish them again.
        tracing::warn!(error = %error, "failed to queue the type detection of uploads");
    }
    let mut out = Vec::with_capacity(created.len());
    for (id, _) in created {
        out.push(query::detail_value(&state.pool, &RESOURCE, &base.0, Some(&user), id).await?);
    }
    Ok((StatusCode::CREATED, axum::Json(out)))
}

async fn update(
    State(state): State<AppState>,
    base: Base,
    user: User,
    path: Path<String>,
    body: Body,
) -> ApiResult<RawJson> {
    crate::limits::check_lengths(&body, &[("name", crate::limits::max_len::RESOURCE_NAME)])?;
    let id = path_uuid(path)?;
    let project = perm::require_object(&state.pool, &user, &RESOURCE, id, Role::Worker).await?;
    let change: ResourceChange = body.typed()?;
    for (key, value) in [("name", change.name), ("description", change.description)] {
        if let Some(Text(value)) = value {
            sqlx::query(&format!(
                "UPDATE resources SET {key} = $2, updated = now() WHERE uuid = $1"
            ))
            .bind(id)
            .bind(value)
            .execute(&state.pool)
            .await?;
        }
    }
    if let Some(Link(value)) = change.resource_type {
        let mimetype = claimed_type(&state.pool, &value).await.map_err(|_| {
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
    if let Some(Text(names)) = change.label_names {
        labels(&state.pool, id, &names).await?;
    }
    state
        .emit(Change::Updated, ModelName::Resource, id, Some(project))
        .await;
    Ok(RawJson(
        StatusCode::OK,
        query::detail(&state.pool, &RESOURCE, &base.0, Some(&user), id).await?,
    ))
}

/// `PUT`/`PATCH /api/resource/<uuid>/`: what is given changes.
#[derive(Debug, Deserialize, JsonSchema)]
pub(super) struct ResourceChange {
    #[serde(default)]
    #[schemars(length(max = crate::limits::max_len::RESOURCE_NAME))]
    name: Option<Text>,
    #[serde(default)]
    description: Option<Text>,
    /// A hyperlink to a resource type (or its mimetype).
    #[serde(default)]
    resource_type: Option<Link>,
    /// Comma-separated label names.
    #[serde(default)]
    label_names: Option<Text>,
}

/// `POST /api/resourcelists/`: the list's project and type are its resources'.
#[derive(Debug, Deserialize, JsonSchema)]
pub(super) struct NewResourceList {
    resources: Vec<Link>,
    #[serde(default)]
    project: Option<Link>,
    #[serde(default)]
    #[schemars(length(max = crate::limits::max_len::RESOURCE_LIST_NAME))]
    name: Option<Text>,
    #[serde(default)]
    description: Option<Text>,
}

/// `PUT`/`PATCH /api/resourcelist/<uuid>/`: what is given changes.
#[derive(Debug, Deserialize, JsonSchema)]
pub(super) struct ResourceListChange {
    #[serde(default)]
    resources: Option<Vec<Link>>,
    #[serde(default)]
    #[schemars(length(max = crate::limits::max_len::RESOURCE_LIST_NAME))]
    name: Option<Text>,
    #[serde(default)]
    description: Option<Text>,
}

/// Deletes a resource; 409 while a run's inputs or outputs or a resource list refer to it.
async fn delete(
    State(state): State<AppState>,
    user: User,
    path: Path<String>,
) -> ApiResult<StatusCode> {
    let id = path_uuid(path)?;
    let project = perm::require_object(&state.pool, &user, &RESOURCE, id, Role::Worker).await?;
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
        .emit(Change::Deleted, ModelName::Resource, id, Some(project))
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
    let project: Option<Uuid> = if let Some(id) = media::package_of(&path) {
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
    match crate::auth::cookie_token(headers) {
        Some(token) => crate::auth::token_user(&state.pool, &token).await,
        None => Ok(None),
    }
}

/// Checks a resource list's members: all visible to the user, in one project, of one type.
/// Returns the project and the type's uuid.
async fn check_members(state: &AppState, user: &User, members: &[Uuid]) -> ApiResult<(Uuid, Uuid)> {
    let Some(first) = members.first() else {
        return Err(ApiError::field(
            "resources",
            "A resource list needs at least one resource.",
        ));
    };
    let rows: Vec<(Uuid, Uuid, Uuid)> = sqlx::query_as(
        "SELECT uuid, project_uuid, resource_type_uuid FROM resources WHERE uuid = ANY($1)",
    )
    .bind(members)
    .fetch_all(&state.pool)
    .await?;
    let missing = || ApiError::field("resources", "Invalid hyperlink - Object does not exist.");
    let find = |id: &Uuid| rows.iter().find(|(u, _, _)| u == id);
    let (_, project, kind) = *find(first).ok_or_else(missing)?;
    for id in members {
        let (_, p, k) = find(id).ok_or_else(missing)?;
        if *p != project {
            return Err(ApiError::field(
                "resources",
                "All resources must belong to the same project.",
            ));
        }
        if *k != kind {
            return Err(ApiError::field(
                "resources",
                "All resources must have the same resource type.",
            ));
        }
    }
    perm::require_field(&state.pool, user, project, "resources").await?;
    Ok((project, kind))
}

fn member_refs(links: &[Link]) -> ApiResult<Vec<Uuid>> {
    links
        .iter()
        .map(|Link(link)| {
            parse_ref(link, "resource")
                .ok_or_else(|| ApiError::field("resources", "Invalid hyperlink - No URL match."))
        })
        .collect()
}

async fn set_members(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    list: Uuid,
    members: &[Uuid],
) -> ApiResult<()> {
    sqlx::query("DELETE FROM resource_list_members WHERE resource_list_uuid = $1")
        .bind(list)
        .execute(&mut **tx)
        .await?;
    for (position, member) in members.iter().enumerate() {
        sqlx::query("INSERT INTO resource_list_members (resource_list_uuid, resource_uuid, position) VALUES ($1, $2, $3)")
            .bind(list)
            .bind(member)
            .bind(i32::try_from(position).unwrap_or(i32::MAX))
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

async fn create_list(
    State(state): State<AppState>,
    base: Base,
    user: User,
    body: Body,
) -> ApiResult<RawJson> {
    crate::limits::check_lengths(
        &body,
        &[("name", crate::limits::max_len::RESOURCE_LIST_NAME)],
    )?;
    let NewResourceList {
        resources,
        project: given,
        name,
        description,
    } = body.typed()?;
    let members = member_refs(&resources)?;
    let (project, kind) = check_members(&state, &user, &members).await?;
    if let Some(Link(given)) = given
        && parse_ref(&given, "project") != Some(project)
    {
        return Err(ApiError::field(
            "project",
            "The resources belong to another project.",
        ));
    }
    let id = Uuid::new_v4();
    let mut tx = state.pool.begin().await?;
    sqlx::query("INSERT INTO resource_lists (uuid, name, description, project_uuid, resource_type_uuid, creator_id) VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(id)
        .bind(name.unwrap_or_default().0)
        .bind(description.unwrap_or_default().0)
        .bind(project)
        .bind(kind)
        .bind(user.id)
        .execute(&mut *tx)
        .await?;
    set_members(&mut tx, id, &members).await?;
    tx.commit().await?;
    state
        .emit(Change::Created, ModelName::ResourceList, id, Some(project))
        .await;
    Ok(RawJson(
        StatusCode::CREATED,
        query::detail(&state.pool, &RESOURCE_LIST, &base.0, Some(&user), id).await?,
    ))
}

async fn update_list(
    State(state): State<AppState>,
    base: Base,
    user: User,
    path: Path<String>,
    body: Body,
) -> ApiResult<RawJson> {
    crate::limits::check_lengths(
        &body,
        &[("name", crate::limits::max_len::RESOURCE_LIST_NAME)],
    )?;
    let id = path_uuid(path)?;
    let project =
        perm::require_object(&state.pool, &user, &RESOURCE_LIST, id, Role::Worker).await?;
    let change: ResourceListChange = body.typed()?;
    let members = change.resources.as_deref().map(member_refs).transpose()?;
    let checked = match &members {
        Some(members) => Some(check_members(&state, &user, members).await?),
        None => None,
    };
    if checked.is_some_and(|(p, _)| p != project) {
        return Err(ApiError::field(
            "resources",
            "All resources must belong to the list's project.",
        ));
    }
    let mut tx = state.pool.begin().await?;
    for (key, value) in [("name", change.name), ("description", change.description)] {
        if let Some(Text(value)) = value {
            sqlx::query(&format!(
                "UPDATE resource_lists SET {key} = $2, updated = now() WHERE uuid = $1"
            ))
            .bind(id)
            .bind(value)
            .execute(&mut *tx)
            .await?;
        }
    }
    if let (Some(members), Some((_, kind))) = (&members, checked) {
        set_members(&mut tx, id, members).await?;
        sqlx::query(
            "UPDATE resource_lists SET resource_type_uuid = $2, updated = now() WHERE uuid = $1",
        )
        .bind(id)
        .bind(kind)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    state
        .emit(Change::Updated, ModelName::ResourceList, id, Some(project))
        .await;
    Ok(RawJson(
        StatusCode::OK,
        query::detail(&state.pool, &RESOURCE_LIST, &base.0, Some(&user), id).await?,
    ))
}

async fn delete_list(
    State(state): State<AppState>,
    user: User,
    path: Path<String>,
) -> ApiResult<StatusCode> {
    let id = path_uuid(path)?;
    let project =
        perm::require_object(&state.pool, &user, &RESOURCE_LIST, id, Role::Worker).await?;
    // Referenced by a run's inputs or outputs: 409 (the foreign keys protect it).
    sqlx::query("DELETE FROM resource_lists WHERE uuid = $1")
        .bind(id)
        .execute(&state.pool)
        .await?;
    state
        .emit(Change::Deleted, ModelName::ResourceList, id, Some(project))
        .await;
    Ok(StatusCode::NO_CONTENT)
}

/// `PUT`/`PATCH /api/label/<uuid>/`.
#[derive(Debug, Deserialize, JsonSchema)]
pub(super) struct LabelChange {
    #[schemars(length(max = 36))]
    name: NonBlank,
}

/// Labels are shared by every project, so only superusers rename or delete them.
async fn update_label(
    State(state): State<AppState>,
    base: Base,
    user: User,
    path: Path<String>,
    body: Body,
) -> ApiResult<RawJson> {
    let id = path_uuid(path)?;
    if !user.is_superuser {
        return Err(ApiError::Forbidden(
            "Labels are shared by all projects; only administrators may rename them.".into(),
        ));
    }
    let LabelChange {
        name: NonBlank(name),
    } = body.typed()?;
    if name.chars().count() > 36 {
        return Err(ApiError::field(
            "name",
            "Ensure this field has no more than 36 characters.",
        ));
    }
    let changed = sqlx::query("UPDATE resource_labels SET name = $2 WHERE uuid = $1")
        .bind(id)
        .bind(name)
        .execute(&state.pool)
        .await
        .map_err(crate::error::on_unique(&[(
            "resource_labels_name_key",
            "name",
            "resource label with this name already exists.",
        )]))?;
    if changed.rows_affected() == 0 {
        return Err(ApiError::NotFound);
    }
    Ok(RawJson(
        StatusCode::OK,
        query::detail(&state.pool, &LABEL, &base.0, Some(&user), id).await?,
    ))
}

async fn delete_label(
    State(state): State<AppState>,
    user: User,
    path: Path<String>,
) -> ApiResult<StatusCode> {
    let id = path_uuid(path)?;
    if !user.is_superuser {
        return Err(ApiError::Forbidden(
            "Labels are shared by all projects; only administrators may delete them.".into(),
        ));
    }
    let deleted = sqlx::query("DELETE FROM resource_labels WHERE uuid = $1")
        .bind(id)
        .execute(&state.pool)
        .await?;
    if deleted.rows_affected() == 0 {
        return Err(ApiError::NotFound);
    }
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/resources/archive/?resource_uuid=…&resource_uuid=…`: a zip of the resources' files,
/// each named `<name>.<extension>` (numbered when names repeat). Built in memory: meant for a
/// selection of pages, not a whole project.
async fn archive(
    State(state): State<AppState>,
    user: User,
    uri: axum::http::Uri,
) -> ApiResult<Response> {
    let params = crate::query::Params::parse(uri.query());
    let ids: Vec<Uuid> = params
        .all("resource_uuid")
        .into_iter()
        .map(|v| {
            Uuid::parse_str(v).map_err(|_| ApiError::field("resource_uuid", "Enter a valid UUID."))
        })
        .collect::<ApiResult<_>>()?;
    if ids.is_empty() {
        return Err(ApiError::field(
            "resource_uuid",
            "Give at least one resource_uuid.",
        ));
    }
    type Row = (Uuid, String, Option<String>, String, Uuid);
    let rows: Vec<Row> = sqlx::query_as(
        "SELECT r.uuid, r.name, r.resource_file, rt.extension, r.project_uuid FROM resources r
         JOIN resource_types rt ON rt.uuid = r.resource_type_uuid WHERE r.uuid = ANY($1)",
    )
    .bind(&ids)
    .fetch_all(&state.pool)
    .await?;
    let mut files = Vec::with_capacity(ids.len());
    let mut seen = std::collections::HashSet::new();
    for id in &ids {
        let (_, name, file, extension, project) =
            rows.iter().find(|r| r.0 == *id).ok_or(ApiError::NotFound)?;
        if perm::role(&state.pool, &user, *project).await?.is_none() {
            return Err(ApiError::NotFound);
        }
        let file = file
            .as_ref()
            .ok_or_else(|| ApiError::bad_request(format!("Resource {id} has no file yet.")))?;
        let stem = if name.is_empty() {
            id.simple().to_string()
        } else {
            name.replace('/', "_")
        };
        let named = |suffix: &str| {
            if extension.is_empty() {
                format!("{stem}{suffix}")
            } else {
                format!("{stem}{suffix}.{extension}")
            }
        };
        let mut entry = named("");
        let mut n = 1;
        while !seen.insert(entry.clone()) {
            entry = named(&format!(" ({n})"));
            n += 1;
        }
        files.push((entry, state.media_root.join(file)));
    }
    let bytes = tokio::task::spawn_blocking(move || -> std::io::Result<Vec<u8>> {
        use std::io::Write;
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        for (entry, path) in files {
            zip.start_file(entry, options)
                .map_err(std::io::Error::other)?;
            zip.write_all(&std::fs::read(path)?)?;
        }
        Ok(zip.finish().map_err(std::io::Error::other)?.into_inner())
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(ApiError::internal)?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/zip"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"resources.zip\"",
            ),
        ],
        bytes,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_old_staged_files_are_swept() {
        let media = tempfile::tempdir().expect("a temp dir");
        assert_eq!(sweep_staged(media.path(), std::time::Duration::ZERO), 0);
        let dir = media.path().join(STAGING_DIR);
        std::fs::create_dir_all(&dir).expect("staging dir");
        std::fs::write(dir.join("fresh"), "x").expect("write");
        let old = std::fs::File::create(dir.join("old")).expect("create");
        old.set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(7200))
            .expect("age it");
        assert_eq!(
            sweep_staged(media.path(), std::time::Duration::from_secs(3600)),
            1
        );
        assert!(dir.join("fresh").exists() && !dir.join("old").exists());
    }
}
