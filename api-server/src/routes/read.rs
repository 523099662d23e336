//! Generic list, detail and `OPTIONS` handlers for every model.

use crate::auth::{MaybeUser, User};
use crate::error::{ApiError, ApiResult};
use crate::link::Base;
use crate::query::{self, Model, Params, RawJson};
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use uuid::Uuid;

/// Who may read a model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone, without credentials (jobs, port types, resource types).
    Public,
    /// Authenticated users, filtered by the model's visibility rule.
    Members,
}

fn user_for(access: Access, user: MaybeUser) -> ApiResult<Option<User>> {
    match (access, user.0) {
        (Access::Members, None) => Err(ApiError::NotAuthenticated),
        (_, user) => Ok(user),
    }
}

/// `GET /api/<plural>/`.
pub async fn list(
    model: &'static Model,
    access: Access,
    state: AppState,
    user: MaybeUser,
    base: Base,
    uri: Uri,
) -> ApiResult<RawJson> {
    let user = user_for(access, user)?;
    let params = Params::parse(uri.query());
    query::list(
        &state.pool,
        model,
        &base.0,
        user.as_ref(),
        &params,
        (uri.path(), uri.query()),
        None,
    )
    .await
}

/// `GET /api/<route>/<uuid>/`.
pub async fn detail(
    model: &'static Model,
    access: Access,
    state: AppState,
    user: MaybeUser,
    base: Base,
    id: Uuid,
) -> ApiResult<RawJson> {
    let user = user_for(access, user)?;
    let body = query::detail(&state.pool, model, &base.0, user.as_ref(), id).await?;
    Ok(RawJson(StatusCode::OK, body))
}

/// Parses the uuid of a detail route; anything else is a 404 as upstream's URL patterns give.
pub fn path_uuid(Path(raw): Path<String>) -> ApiResult<Uuid> {
    Uuid::parse_str(&raw).map_err(|_| ApiError::NotFound)
}

/// The boxed future every generic handler returns.
type Reply = std::pin::Pin<Box<dyn Future<Output = Response> + Send>>;

/// A list route's `GET` handler for `model`.
pub fn list_handler(
    model: &'static Model,
    access: Access,
) -> impl Fn(
    State<AppState>,
    MaybeUser,
    Base,
    Uri,
) -> std::pin::Pin<Box<dyn Future<Output = Response> + Send>>
+ Clone
+ Send
+ Sync
+ 'static {
    move |State(state), user, base, uri| {
        Box::pin(async move {
            list(model, access, state, user, base, uri)
                .await
                .into_response()
        })
    }
}

/// A detail route's `GET` handler for `model`.
pub fn detail_handler(
    model: &'static Model,
    access: Access,
) -> impl Fn(State<AppState>, MaybeUser, Base, Path<String>) -> Reply + Clone + Send + Sync + 'static
{
    move |State(state), user, base, path| {
        Box::pin(async move {
            let id = match path_uuid(path) {
                Ok(id) => id,
                Err(e) => return e.into_response(),
            };
            detail(model, access, state, user, base, id)
                .await
                .into_response()
        })
    }
}

/// An `OPTIONS` handler with upstream's metadata.
pub fn options_handler(
    model: &'static Model,
    list: bool,
    methods: Vec<&'static str>,
) -> impl Fn() -> std::future::Ready<Json<serde_json::Value>> + Clone + Send + Sync + 'static {
    move || std::future::ready(Json(query::options(model, list, &methods)))
}

/// An `OPTIONS` handler for a route that is not a model's list or detail: DRF's metadata of the
/// view named `name` (upstream's view class, as DRF names it), with `RodanMetadata`'s empty
/// `filter_fields` and `ordering_fields`.
pub fn view_options_handler(
    name: &'static str,
    methods: &'static [&'static str],
) -> impl Fn() -> std::future::Ready<Json<serde_json::Value>> + Clone + Send + Sync + 'static {
    move || std::future::ready(Json(query::view_options(name, methods)))
}
