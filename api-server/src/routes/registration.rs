//! Upstream's djoser routes for accounts by e-mail: activation, resending it, and password reset
//! (self-registration itself is `auth/register/` in [`super::account`]). Open to anyone, as
//! djoser's `AllowAny`; credentials, when sent, must still be valid (DRF authenticates first).
//!
//! Statuses and messages are djoser's: 204 on success, `{"uid": [...]}`/`{"token": [...]}` 400s
//! for a link that names no user or whose token is wrong, expired or used, 403 for an activation
//! link used twice. A password reset asked for an unknown address answers 204 too, so the route
//! does not tell who has an account. When a mail the user asked for cannot be sent (SMTP down),
//! the answer is 503 so they try again; confirmations after the fact are only logged.

use crate::accounts::Holder;
use crate::auth::{self, MaybeUser};
use crate::body::Body;
use crate::body::field::NonBlank;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use schemars::JsonSchema;
use serde::Deserialize;

pub(super) fn routes() -> Router<AppState> {
    const LINK: &[Field] = &[("uid", "string", "Uid"), ("token", "string", "Token")];
    const EMAIL: &[Field] = &[("email", "email", "Email")];
    const CONFIRM: &[Field] = &[
        ("uid", "string", "Uid"),
        ("token", "string", "Token"),
        ("new_password", "string", "New password"),
    ];
    Router::new()
        .route(
            "/api/auth/activate/",
            post(activate).options(|| metadata(LINK)),
        )
        .route(
            "/api/auth/resend-activation/",
            post(resend_activation).options(|| metadata(EMAIL)),
        )
        .route(
            "/api/auth/reset-password/",
            post(reset_password).options(|| metadata(EMAIL)),
        )
        .route(
            "/api/auth/reset-password/confirm/",
            post(reset_password_confirm).options(|| metadata(CONFIRM)),
        )
}

/// A request field: name, DRF's type name, label.
type Field = (&'static str, &'static str, &'static str);

/// `OPTIONS`, as upstream's `RodanMetadata` answers for djoser's `UserViewSet` (the web client
/// asks every route it knows after login): DRF's `SimpleMetadata` with the `POST` fields, and
/// no filter or ordering fields.
async fn metadata(fields: &'static [Field]) -> axum::Json<serde_json::Value> {
    let post: serde_json::Map<String, serde_json::Value> = fields
        .iter()
        .map(|(name, kind, label)| {
            (
                (*name).to_owned(),
                serde_json::json!({"type": kind, "required": true, "read_only": false, "label": label}),
            )
        })
        .collect();
    axum::Json(serde_json::json!({
        "name": "User",
        "description": "",
        "renders": ["application/json"],
        "parses": ["application/json", "application/x-www-form-urlencoded", "multipart/form-data"],
        "allowed_methods": ["POST", "OPTIONS"],
        "actions": {"POST": post},
        "filter_fields": {},
        "ordering_fields": [],
    }))
}

/// djoser's messages.
const INVALID_UID: &str = "Invalid user id or user doesn't exist.";
const INVALID_TOKEN: &str = "Invalid token for given user.";
const STALE_TOKEN: &str = "Stale token for given user.";
const EMAIL_NOT_FOUND: &str = "User with given email does not exist.";

/// `POST /api/auth/activate/`: the uid and token of a mailed activation link.
#[derive(Debug, Deserialize, JsonSchema)]
pub(super) struct LinkUse {
    uid: NonBlank,
    token: NonBlank,
}

/// `POST /api/auth/resend-activation/` and `/api/auth/reset-password/`: the account's address.
#[derive(Debug, Deserialize, JsonSchema)]
pub(super) struct AccountEmail {
    #[schemars(email)]
    email: NonBlank,
}

/// `POST /api/auth/reset-password/confirm/`: the uid and token of a mailed reset link, and the
/// new password.
#[derive(Debug, Deserialize, JsonSchema)]
pub(super) struct PasswordReset {
    uid: NonBlank,
    token: NonBlank,
    #[schemars(length(min = 8))]
    new_password: NonBlank,
}

/// DRF's `EmailField`.
fn email(body: &Body) -> ApiResult<String> {
    let AccountEmail {
        email: NonBlank(email),
    } = body.typed()?;
    if !rodan_mail::valid_address(&email) {
        return Err(ApiError::field("email", "Enter a valid email address."));
    }
    Ok(email)
}

/// The user a link names, when its token is valid for them now: otherwise djoser's 400.
async fn link_holder(state: &AppState, uid: &str, token: &str) -> ApiResult<Holder> {
    match state.accounts.check_link(&state.pool, uid, token).await? {
        None => Err(ApiError::field("uid", INVALID_UID)),
        Some((_, false)) => Err(ApiError::field("token", INVALID_TOKEN)),
        Some((holder, true)) => Ok(holder),
    }
}

/// Counts a mail asked for `email` (known or not, so the answer tells nothing), refusing it
/// (429) past `RODAN_MAIL_THROTTLE`.
async fn throttle(state: &AppState, email: &str) -> ApiResult<()> {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(email.to_lowercase().as_bytes());
    let key: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    state
        .security
        .limit(&format!("mail:{key}"), state.accounts.mail_throttle)
        .await
}

/// Sends a mail the user asked for; a failure is a 503, so they ask again.
async fn send_asked(state: &AppState, mail: &rodan_mail::Mail) -> ApiResult<()> {
    state
        .accounts
        .mailer
        .send(mail)
        .await
        .map_err(|error| ApiError::Unavailable(anyhow::Error::new(error).context("sending e-mail")))
}

/// Sends a mail that only confirms what was done; a failure is logged.
pub(super) async fn send_notice(state: &AppState, mail: &rodan_mail::Mail) {
    if let Err(error) = state.accounts.mailer.send(mail).await {
        tracing::warn!(
            error = format!("{error:#}"),
            subject = %mail.subject,
            "a confirmation e-mail was not sent"
        );
    }
}

/// `POST /api/auth/activate/` `{uid, token}`: activates the account of a registration link.
async fn activate(
    State(state): State<AppState>,
    _: MaybeUser,
    body: Body,
) -> ApiResult<StatusCode> {
    let LinkUse {
        uid: NonBlank(uid),
        token: NonBlank(token),
    } = body.typed()?;
    let holder = link_holder(&state, &uid, &token).await?;
    // Only the first use activates: a second one, even racing the first, is stale.
    let activated =
        sqlx::query("UPDATE users SET is_active = true WHERE id = $1 AND NOT is_active")
            .bind(holder.id)
            .execute(&state.pool)
            .await?;
    if activated.rows_affected() == 0 {
        return Err(ApiError::Forbidden(STALE_TOKEN.into()));
    }
    send_notice(&state, &state.accounts.activated_mail(&holder)).await;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/auth/resend-activation/` `{email}`: mails a new activation link to an inactive
/// account.
async fn resend_activation(
    State(state): State<AppState>,
    _: MaybeUser,
    body: Body,
) -> ApiResult<StatusCode> {
    let email = email(&body)?;
    throttle(&state, &email).await?;
    // djoser answers a bare 400 for an unknown or already active address; the client shows its
    // own text for any 400, so the reason can be said.
    let Some(holder) = Holder::by_email(&state.pool, &email, false).await? else {
        let active = Holder::by_email(&state.pool, &email, true).await?.is_some();
        return Err(ApiError::field(
            "email",
            if active {
                "This account is already active."
            } else {
                EMAIL_NOT_FOUND
            },
        ));
    };
    send_asked(&state, &state.accounts.activation_mail(&holder)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/auth/reset-password/` `{email}`: mails a password-reset link to the active account
/// with this address; 204 whether or not there is one.
async fn reset_password(
    State(state): State<AppState>,
    _: MaybeUser,
    body: Body,
) -> ApiResult<StatusCode> {
    let email = email(&body)?;
    throttle(&state, &email).await?;
    if let Some(holder) = Holder::by_email(&state.pool, &email, true).await? {
        send_asked(&state, &state.accounts.reset_mail(&holder)).await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/auth/reset-password/confirm/` `{uid, token, new_password}`: sets the password of a
/// reset link's account. The link then stops working (its token signs the old password hash and
/// last login), and the account's API token is revoked, as a password change does.
async fn reset_password_confirm(
    State(state): State<AppState>,
    _: MaybeUser,
    body: Body,
) -> ApiResult<StatusCode> {
    let PasswordReset {
        uid: NonBlank(uid),
        token: NonBlank(token),
        new_password: NonBlank(new),
    } = body.typed()?;
    // djoser validates the password before the link.
    if new.chars().count() < 8 {
        return Err(ApiError::field(
            "new_password",
            "This password is too short. It must contain at least 8 characters.",
        ));
    }
    let holder = link_holder(&state, &uid, &token).await?;
    let hash = auth::hash_password(&new)?;
    // Only while the password is still the one the token signed: of two racing uses, one wins.
    let changed = sqlx::query(
        "UPDATE users SET password = $3, last_login = now() WHERE id = $1 AND password = $2",
    )
    .bind(holder.id)
    .bind(&holder.password)
    .bind(hash)
    .execute(&state.pool)
    .await?;
    if changed.rows_affected() == 0 {
        return Err(ApiError::field("token", INVALID_TOKEN));
    }
    auth::revoke_token(&state.pool, holder.id).await?;
    state.security.credentials_changed(holder.id).await;
    send_notice(&state, &state.accounts.password_changed_mail(&holder)).await;
    Ok(StatusCode::NO_CONTENT)
}
