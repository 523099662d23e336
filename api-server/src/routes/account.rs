//! Authentication (upstream's djoser routes), users and user preferences.

use crate::auth::{self, MaybeUser, User, check_credentials, hash_password, issue_token};
use crate::body::Body;
use crate::body::field::Bool;
use crate::error::{ApiError, ApiResult, Unique, on_unique};
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

/// `POST /api/auth/token/`: `{email or username, password}` → the user with `"token"`.
async fn token(
    State(state): State<AppState>,
    base: Base,
    client: Client,
    body: Body,
) -> ApiResult<(StatusCode, axum::Json<Value>)> {
    let login = body
        .str("email")
        .or_else(|| body.str("username"))
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::field("email", "This field is required."))?;
    let password = body.required("password")?;
    let user = check_credentials(&state, client.0, login, password)
        .await?
        .ok_or(ApiError::BadCredentials(
            "Unable to log in with provided credentials.",
        ))?;
    if !user.is_active {
        return Err(ApiError::Forbidden("User account is disabled.".into()));
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

async fn apply_user_fields(state: &AppState, id: i64, body: &Body, admin: bool) -> ApiResult<()> {
    crate::limits::check_lengths(body, &crate::limits::max_len::USER_FIELDS)?;
    for key in ["first_name", "last_name", "email", "username"] {
        if let Some(value) = body.0.get(key) {
            let value = value
                .as_str()
                .ok_or_else(|| ApiError::field(key, "Not a valid string."))?;
            if (key == "email" || key == "username") && value.is_empty() {
                return Err(ApiError::field(key, "This field may not be blank."));
            }
            sqlx::query(&format!("UPDATE users SET {key} = $2 WHERE id = $1"))
                .bind(id)
                .bind(value)
                .execute(&state.pool)
                .await
                .map_err(on_unique(USER_UNIQUE))?;
        }
    }
    if admin {
        let mut changed = false;
        for key in ["is_active", "is_staff", "is_superuser"] {
            if let Some(value) = body.bool(key)? {
                sqlx::query(&format!("UPDATE users SET {key} = $2 WHERE id = $1"))
                    .bind(id)
                    .bind(value)
                    .execute(&state.pool)
                    .await?;
                changed = true;
            }
        }
        if changed {
            // Open websockets of the user check their rights again.
            state.security.credentials_changed(id).await;
        }
    }
    Ok(())
}

async fn update_me(
    State(state): State<AppState>,
    base: Base,
    user: User,
    body: Body,
) -> ApiResult<axum::Json<Value>> {
    apply_user_fields(&state, user.id, &body, false).await?;
    Ok(axum::Json(user_json(&state, &base, &user, user.id).await?))
}

async fn reset_token(State(state): State<AppState>, user: User) -> ApiResult<StatusCode> {
    auth::revoke_token(&state.pool, user.id).await?;
    state.security.credentials_changed(user.id).await;
    Ok(StatusCode::NO_CONTENT)
}

async fn change_password(
    State(state): State<AppState>,
    client: Client,
    user: User,
    body: Body,
) -> ApiResult<StatusCode> {
    let current = body.required("current_password")?;
    let new = body.required("new_password")?;
    if !auth::check_password(&state, client.0, user.id, current).await? {
        return Err(ApiError::field("current_password", "Invalid password."));
    }
    if new.len() < 8 {
        return Err(ApiError::field(
            "new_password",
            "This password is too short. It must contain at least 8 characters.",
        ));
    }
    let hash = hash_password(new)?;
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

/// Checks a new account's fields and stores it, active or not, with its preferences; returns its
/// id.
async fn create_user(state: &AppState, body: &Body, active: bool) -> ApiResult<i64> {
    crate::limits::check_lengths(body, &crate::limits::max_len::USER_FIELDS)?;
    let username = body.required("username")?;
    let email = body.required("email")?;
    let password = body.required("password")?;
    // A registrant's address must be one mail can go to: the activation link is sent there.
    if !email.contains('@') || (!active && !rodan_mail::valid_address(email)) {
        return Err(ApiError::field("email", "Enter a valid email address."));
    }
    if password.len() < 8 {
        return Err(ApiError::field(
            "password",
            "This password is too short. It must contain at least 8 characters.",
        ));
    }
    let hash = hash_password(password)?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO users (username, email, password, first_name, last_name, is_active) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
    )
    .bind(username)
    .bind(email)
    .bind(hash)
    .bind(body.str("first_name").unwrap_or(""))
    .bind(body.str("last_name").unwrap_or(""))
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
    apply_user_fields(&state, id, &body, user.is_superuser).await?;
    if let Some(password) = body.str("password") {
        if password.len() < 8 {
            return Err(ApiError::field(
                "password",
                "This password is too short. It must contain at least 8 characters.",
            ));
        }
        sqlx::query("UPDATE users SET password = $2 WHERE id = $1")
            .bind(id)
            .bind(hash_password(password)?)
            .execute(&state.pool)
            .await?;
    }
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
