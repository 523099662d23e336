//! Authentication (upstream's djoser routes), users and user preferences.

use crate::auth::{self, MaybeUser, User, check_credentials, hash_password, issue_token};
use crate::body::Body;
use crate::body::field::{Bool, NonBlank, Text};
use crate::error::{ApiError, ApiResult, Unique, on_unique};
use crate::limits::max_len;
use crate::link::Base;
use crate::models::{USER, USER_PREFERENCE};
use crate::query::{self, Params, RawJson};
use crate::routes::read::Access;
use crate::security::Client;
use crate::state::AppState;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, Uri};
use axum::routing::{get, post};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

pub(super) fn routes() -> Router<AppState> {
    use super::{Resource, detail, list};
    Router::new()
        .route("/api/auth/token/", post(token))
        .route("/api/auth/me/", get(me).put(update_me).patch(update_me))
        .route("/api/auth/reset-token/", post(reset_token))
        .route("/api/auth/change-password/", post(change_password))
        .route("/api/auth/register/", post(register))
        .route(
            "/api/users/",
            Resource::new(&USER, true, get(users)).post(create).into(),
        )
        .route(
            "/api/user/{id}/",
            Resource::new(&USER, false, get(user_detail))
                .put_patch(user_update)
                .delete(user_delete)
                .into(),
        )
        .route(
            "/api/userpreferences/",
            list(&USER_PREFERENCE, Access::Members).into(),
        )
        .route(
            "/api/userpreference/{id}/",
            detail(&USER_PREFERENCE, Access::Members)
                .put_patch(preference_update)
                .into(),
        )
}

async fn user_json(state: &AppState, base: &Base, viewer: &User, id: i64) -> ApiResult<Value> {
    let body = query::detail_by(&state.pool, &USER, &base.0, Some(viewer), "t.id", id).await?;
    serde_json::from_str(&body).map_err(ApiError::internal)
}

/// `POST /api/auth/token/`: who logs in, by e-mail address or user name.
#[derive(Debug, Deserialize, JsonSchema)]
#[schemars(extend("anyOf" = [{"required": ["email"]}, {"required": ["username"]}]))]
pub(super) struct Login {
    #[serde(default)]
    email: Option<Text>,
    #[serde(default)]
    username: Option<Text>,
    password: NonBlank,
}

/// `POST /api/auth/token/`: `{email or username, password}` → the user with `"token"`.
async fn token(
    State(state): State<AppState>,
    base: Base,
    client: Client,
    body: Body,
) -> ApiResult<(StatusCode, axum::Json<Value>)> {
    let Login {
        email,
        username,
        password,
    } = body.typed()?;
    let login = email
        .filter(|e| !e.0.is_empty())
        .or(username)
        .filter(|s| !s.0.is_empty())
        .ok_or_else(|| ApiError::field("email", "This field is required."))?;
    let user = check_credentials(&state, client.0, &login.0, &password.0)
        .await?
        .ok_or(ApiError::LoginRefused(
            StatusCode::UNAUTHORIZED,
            "Invalid email or password.",
        ))?;
    if !user.is_active {
        return Err(ApiError::LoginRefused(
            StatusCode::FORBIDDEN,
            "Account is not activated.",
        ));
    }
    sqlx::query("UPDATE users SET last_login = now() WHERE id = $1")
        .bind(user.id)
        .execute(&state.pool)
        .await?;
    // A token of its own: the user's other sessions go on.
    let key = issue_token(&state.pool, user.id).await?;
    let mut json = user_json(&state, &base, &user, user.id).await?;
    if let Some(map) = json.as_object_mut() {
        map.insert("token".into(), Value::String(key));
    }
    Ok((StatusCode::OK, axum::Json(json)))
}

async fn me(State(state): State<AppState>, base: Base, user: User) -> ApiResult<axum::Json<Value>> {
    Ok(axum::Json(user_json(&state, &base, &user, user.id).await?))
}

/// A user's unique fields, with upstream's messages (Django's `AbstractUser`).
const USER_UNIQUE: &[Unique] = &[
    (
        "users_username_key",
        "username",
        "A user with that username already exists.",
    ),
    (
        "users_email_key",
        "email",
        "A user with that email already exists.",
    ),
];

/// `PUT`/`PATCH /api/user/<id>/` and `/api/auth/me/`: what is given changes. Only superusers
/// change `is_active`, `is_staff` and `is_superuser` (others' are ignored), and the password
/// only through `/api/user/<id>/`.
#[derive(Debug, Deserialize, JsonSchema)]
pub(super) struct UserChange {
    #[serde(default)]
    #[schemars(length(max = max_len::USER_NAME))]
    username: Option<NonBlank>,
    #[serde(default)]
    #[schemars(length(max = max_len::USER_EMAIL))]
    email: Option<NonBlank>,
    #[serde(default)]
    #[schemars(length(max = max_len::USER_NAME))]
    first_name: Option<Text>,
    #[serde(default)]
    #[schemars(length(max = max_len::USER_NAME))]
    last_name: Option<Text>,
    /// A new password (at least 8 characters); it ends the user's sessions.
    #[serde(default)]
    #[schemars(length(min = 8))]
    password: Option<Text>,
    #[serde(default)]
    is_active: Option<Bool>,
    #[serde(default)]
    is_staff: Option<Bool>,
    #[serde(default)]
    is_superuser: Option<Bool>,
}

/// Applies a change to user `id` in one statement (nothing changes when a field is refused);
/// `admin` allows the account flags, `password` the password.
async fn apply_user_fields(
    state: &AppState,
    id: i64,
    body: &Body,
    admin: bool,
    password: bool,
) -> ApiResult<()> {
    crate::limits::check_lengths(body, &max_len::USER_FIELDS)?;
    let change: UserChange = body.typed()?;
    let hash = match change.password.filter(|_| password) {
        Some(Text(new)) => Some(checked_password("password", &new)?),
        None => None,
    };
    let flag = |f: Option<Bool>| f.filter(|_| admin).map(|b| b.0);
    let (is_active, is_staff, is_superuser) = (
        flag(change.is_active),
        flag(change.is_staff),
        flag(change.is_superuser),
    );
    sqlx::query(
        "UPDATE users SET username = coalesce($2, username), email = coalesce($3, email), \
         first_name = coalesce($4, first_name), last_name = coalesce($5, last_name), \
         password = coalesce($6, password), is_active = coalesce($7, is_active), \
         is_staff = coalesce($8, is_staff), is_superuser = coalesce($9, is_superuser) \
         WHERE id = $1",
    )
    .bind(id)
    .bind(change.username.map(|v| v.0))
    .bind(change.email.map(|v| v.0))
    .bind(change.first_name.map(|v| v.0))
    .bind(change.last_name.map(|v| v.0))
    .bind(&hash)
    .bind(is_active)
    .bind(is_staff)
    .bind(is_superuser)
    .execute(&state.pool)
    .await
    .map_err(on_unique(USER_UNIQUE))?;
    if hash.is_some() {
        // A new password ends the sessions of the old one.
        auth::revoke_token(&state.pool, id).await?;
    }
    if hash.is_some() || is_active.is_some() || is_staff.is_some() || is_superuser.is_some() {
        // Cached credentials are dropped; open websockets of the user check their rights again.
        state.security.credentials_changed(id).await;
    }
    Ok(())
}

/// A new password's hash, or a 400 on `field` when it is too short.
fn checked_password(field: &str, password: &str) -> ApiResult<String> {
    if password.chars().count() < 8 {
        return Err(ApiError::field(
            field,
            "This password is too short. It must contain at least 8 characters.",
        ));
    }
    hash_password(password)
}

async fn update_me(
    State(state): State<AppState>,
    base: Base,
    user: User,
    body: Body,
) -> ApiResult<axum::Json<Value>> {
    apply_user_fields(&state, user.id, &body, false, false).await?;
    Ok(axum::Json(user_json(&state, &base, &user, user.id).await?))
}

async fn reset_token(State(state): State<AppState>, user: User) -> ApiResult<StatusCode> {
    auth::revoke_token(&state.pool, user.id).await?;
    state.security.credentials_changed(user.id).await;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/auth/change-password/`.
#[derive(Debug, Deserialize, JsonSchema)]
pub(super) struct PasswordChange {
    current_password: NonBlank,
    #[schemars(length(min = 8))]
    new_password: NonBlank,
}

async fn change_password(
    State(state): State<AppState>,
    client: Client,
    user: User,
    body: Body,
) -> ApiResult<StatusCode> {
    let PasswordChange {
        current_password,
        new_password,
    } = body.typed()?;
    if !auth::check_password(&state, client.0, user.id, &current_password.0).await? {
        return Err(ApiError::field("current_password", "Invalid password."));
    }
    let hash = checked_password("new_password", &new_password.0)?;
    sqlx::query("UPDATE users SET password = $2 WHERE id = $1")
        .bind(user.id)
        .bind(hash)
        .execute(&state.pool)
        .await?;
    // A new password ends the sessions of the old one.
    auth::revoke_token(&state.pool, user.id).await?;
    state.security.credentials_changed(user.id).await;
    // Upstream's PASSWORD_CHANGED_EMAIL_CONFIRMATION: the owner hears of it.
    if let Some(holder) = crate::accounts::Holder::by_id(&state.pool, user.id).await? {
        let mail = state.accounts.password_changed_mail(&holder);
        super::registration::send_notice(&state, &mail).await;
    }
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/auth/register/`: administrators create active accounts. With self-registration on
/// (`RODAN_SELF_REGISTRATION`), anyone else may register too, as upstream's djoser: the account
/// starts inactive and its activation link is mailed to it. A mail that cannot be sent does not
/// undo the account: the failure is logged and `auth/resend-activation/` sends it again.
async fn register(
    State(state): State<AppState>,
    base: Base,
    MaybeUser(user): MaybeUser,
    body: Body,
) -> ApiResult<(StatusCode, axum::Json<Value>)> {
    match user {
        Some(admin) if admin.is_superuser => {
            let id = create_user(&state, &body, true).await?;
            let json = user_json(&state, &base, &admin, id).await?;
            Ok((StatusCode::CREATED, axum::Json(json)))
        }
        _ if state.accounts.self_registration => {
            let id = create_user(&state, &body, false).await?;
            if let Some(holder) = crate::accounts::Holder::by_id(&state.pool, id).await? {
                let mail = state.accounts.activation_mail(&holder);
                if let Err(error) = state.accounts.mailer.send(&mail).await {
                    tracing::error!(
                        error = format!("{error:#}"),
                        user = id,
                        "the activation e-mail of a new account was not sent; it can be sent again with auth/resend-activation/"
                    );
                }
            }
            let new = auth::user_by_id(&state.pool, id)
                .await?
                .ok_or(ApiError::NotFound)?;
            let json = user_json(&state, &base, &new, id).await?;
            Ok((StatusCode::CREATED, axum::Json(json)))
        }
        None => Err(ApiError::NotAuthenticated),
        Some(_) => Err(ApiError::Forbidden(
            "Only administrators may create users.".into(),
        )),
    }
}

/// `POST /api/users/`: superusers create accounts.
async fn create(
    State(state): State<AppState>,
    base: Base,
    user: User,
    body: Body,
) -> ApiResult<(StatusCode, axum::Json<Value>)> {
    if !user.is_superuser {
        return Err(ApiError::Forbidden(
            "Only administrators may create users.".into(),
        ));
    }
    let id = create_user(&state, &body, true).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(user_json(&state, &base, &user, id).await?),
    ))
}

/// `POST /api/users/` and `POST /api/auth/register/`: a new account.
#[derive(Debug, Deserialize, JsonSchema)]
pub(super) struct NewUser {
    #[schemars(length(max = max_len::USER_NAME))]
    username: NonBlank,
    /// Where mail goes (a self-registered account's activation link).
    #[schemars(length(max = max_len::USER_EMAIL))]
    email: NonBlank,
    #[schemars(length(min = 8))]
    password: NonBlank,
    #[serde(default)]
    #[schemars(length(max = max_len::USER_NAME))]
    first_name: Option<Text>,
    #[serde(default)]
    #[schemars(length(max = max_len::USER_NAME))]
    last_name: Option<Text>,
}

/// Checks a new account's fields and stores it, active or not, with its preferences; returns its
/// id.
async fn create_user(state: &AppState, body: &Body, active: bool) -> ApiResult<i64> {
    crate::limits::check_lengths(body, &max_len::USER_FIELDS)?;
    let NewUser {
        username,
        email,
        password,
        first_name,
        last_name,
    } = body.typed()?;
    // A registrant's address must be one mail can go to: the activation link is sent there.
    if !email.0.contains('@') || (!active && !rodan_mail::valid_address(&email.0)) {
        return Err(ApiError::field("email", "Enter a valid email address."));
    }
    let hash = checked_password("password", &password.0)?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO users (username, email, password, first_name, last_name, is_active) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(username.0)
    .bind(email.0)
    .bind(hash)
    .bind(first_name.unwrap_or_default().0)
    .bind(last_name.unwrap_or_default().0)
    .bind(active)
    .fetch_one(&state.pool)
    .await
    .map_err(on_unique(USER_UNIQUE))?;
    sqlx::query("INSERT INTO user_preferences (uuid, user_id) VALUES ($1, $2)")
        .bind(Uuid::new_v4())
        .bind(id)
        .execute(&state.pool)
        .await?;
    Ok(id)
}

/// `GET /api/users/`: never paginated, as upstream.
async fn users(
    State(state): State<AppState>,
    base: Base,
    user: User,
    uri: Uri,
) -> ApiResult<RawJson> {
    let mut params = Params::parse(uri.query());
    params.0.push(("disable_pagination".into(), "true".into()));
    query::list(
        &state.pool,
        &USER,
        &base.0,
        Some(&user),
        &params,
        (uri.path(), uri.query()),
        None,
    )
    .await
}

fn user_id(Path(raw): Path<String>) -> ApiResult<i64> {
    raw.parse().map_err(|_| ApiError::NotFound)
}

/// `GET /api/user/<id>/`: only oneself, or anyone for a superuser.
async fn user_detail(
    State(state): State<AppState>,
    base: Base,
    user: User,
    path: Path<String>,
) -> ApiResult<axum::Json<Value>> {
    let id = user_id(path)?;
    if id != user.id && !user.is_superuser {
        return Err(ApiError::Forbidden(
            "You do not have permission to perform this action.".into(),
        ));
    }
    Ok(axum::Json(user_json(&state, &base, &user, id).await?))
}

async fn user_update(
    State(state): State<AppState>,
    base: Base,
    user: User,
    path: Path<String>,
    body: Body,
) -> ApiResult<axum::Json<Value>> {
    let id = user_id(path)?;
    if id != user.id && !user.is_superuser {
        return Err(ApiError::Forbidden(
            "You do not have permission to perform this action.".into(),
        ));
    }
    apply_user_fields(&state, id, &body, user.is_superuser, true).await?;
    Ok(axum::Json(user_json(&state, &base, &user, id).await?))
}

async fn user_delete(
    State(state): State<AppState>,
    user: User,
    path: Path<String>,
) -> ApiResult<StatusCode> {
    let id = user_id(path)?;
    if !user.is_superuser {
        return Err(ApiError::Forbidden(
            "You do not have permission to perform this action.".into(),
        ));
    }
    let deleted = sqlx::query("DELETE FROM users WHERE id = $1")
        .bind(id)
        .execute(&state.pool)
        .await?;
    if deleted.rows_affected() == 0 {
        return Err(ApiError::NotFound);
    }
    state.security.credentials_changed(id).await;
    Ok(StatusCode::NO_CONTENT)
}

/// `PUT`/`PATCH /api/userpreference/<uuid>/`.
#[derive(Debug, Deserialize, JsonSchema)]
pub(super) struct PreferenceChange {
    #[serde(default)]
    send_email: Option<Bool>,
}

async fn preference_update(
    State(state): State<AppState>,
    base: Base,
    user: User,
    path: Path<String>,
    body: Body,
) -> ApiResult<RawJson> {
    let id = Uuid::parse_str(&path.0).map_err(|_| ApiError::NotFound)?;
    if !query::visible(&state.pool, &USER_PREFERENCE, &user, id).await? {
        return Err(ApiError::NotFound);
    }
    let PreferenceChange { send_email } = body.typed()?;
    if let Some(Bool(send)) = send_email {
        sqlx::query("UPDATE user_preferences SET send_email = $2 WHERE uuid = $1")
            .bind(id)
            .bind(send)
            .execute(&state.pool)
            .await?;
    }
    let body = query::detail(&state.pool, &USER_PREFERENCE, &base.0, Some(&user), id).await?;
    Ok(RawJson(StatusCode::OK, body))
}
