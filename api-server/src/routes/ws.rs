//! `/ws/rodan`: model events from Redis (`rodan:broadcast:rodan`, published by every API replica
//! and worker) streamed to websocket clients, each seeing only events of projects it belongs to.
//!
//! Browsers open it only from an allowed origin (the cookie would otherwise let any site in). A
//! socket stays as authorised as its token: membership is read again with each project event
//! (membership changes publish one), and when the user's credentials change (a credential notice
//! from any replica on Redis, or every heartbeat as a backstop) the token is checked again and
//! the socket closes if it no longer holds.
//!
//! Upstream's web client opens its socket once, when it starts, before anyone has logged in, and
//! never again: its first login in a browser would get no live updates. A socket that brings no
//! credentials (or only a stale `token` cookie) is therefore accepted as anonymous: it gets no
//! events, only a content-free notice, [`ANONYMOUS_NOTICE`], at most once a second while events
//! happen, on which the client reloads what it shows through the API, as its own user. Credentials
//! named explicitly (the `Authorization` header or `?token=`) must hold, or the upgrade is refused.

use crate::auth::{self, User};
use crate::error::{ApiError, ApiResult};
use crate::query::Params;
use crate::security::{AUTH_CHANNEL, Notice};
use crate::state::AppState;
use axum::Router;
use axum::extract::State;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
use axum::http::{HeaderMap, Uri, header};
use axum::response::Response;
use axum::routing::get;
use futures::StreamExt;
use rodan_db::events::{CHANNEL, Event, ModelName};
use std::collections::HashSet;
use std::time::Duration;
use tokio::sync::broadcast;
use uuid::Uuid;

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/ws/rodan", get(upgrade))
}

/// One Redis subscription per process, fanned out to every socket.
pub(crate) fn hub(state: &AppState) -> broadcast::Sender<Notice> {
    state
        .hub
        .get_or_init(|| {
            let (tx, _) = broadcast::channel(1024);
            let sender = tx.clone();
            let url = state.redis_url.clone();
            tokio::spawn(async move {
                loop {
                    if let Err(error) = subscribe(&url, &sender).await {
                        tracing::warn!(%error, "event subscription lost; reconnecting");
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            });
            tx
        })
        .clone()
}

async fn subscribe(url: &str, sender: &broadcast::Sender<Notice>) -> redis::RedisResult<()> {
    let client = redis::Client::open(url)?;
    let mut pubsub = client.get_async_pubsub().await?;
    pubsub.subscribe(&[CHANNEL, AUTH_CHANNEL]).await?;
    let mut messages = pubsub.on_message();
    while let Some(message) = messages.next().await {
        let Ok(payload) = message.get_payload::<String>() else {
            continue;
        };
        let notice = if message.get_channel_name() == AUTH_CHANNEL {
            match payload.parse() {
                Ok(user) => Notice::Credentials(user),
                Err(_) => continue,
            }
        } else {
            Notice::Event(payload.into())
        };
        // No receivers is fine: nobody is connected to this replica.
        let _ = sender.send(notice);
    }
    Ok(())
}

/// What an anonymous socket is sent when events happen: no model and no project, which upstream's
/// client answers by reloading its collections.
pub(crate) const ANONYMOUS_NOTICE: &str = r#"{"model":null,"project":null}"#;

/// How often at most an anonymous socket is told that something happened.
const ANONYMOUS_EVERY: Duration = Duration::from_secs(1);

/// Who a socket is for: a user with the token that authorised it, or nobody yet.
enum Holder {
    User(User, String),
    Anonymous,
}

async fn holder_of(state: &AppState, headers: &HeaderMap, uri: &Uri) -> ApiResult<Holder> {
    let from_header = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Token "))
        .map(str::to_owned);
    let from_query = Params::parse(uri.query()).get("token").map(str::to_owned);
    if let Some(key) = from_header.or(from_query) {
        let user = auth::token_user(&state.pool, &key)
            .await?
            .ok_or(ApiError::BadCredentials("Invalid token."))?;
        return Ok(Holder::User(user, key));
    }
    // A browser sends whatever cookie it kept, possibly from a session since ended.
    if let Some(key) = auth::cookie_token(headers)
        && let Some(user) = auth::token_user(&state.pool, &key).await?
    {
        return Ok(Holder::User(user, key));
    }
    Ok(Holder::Anonymous)
}

async fn upgrade(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> ApiResult<Response> {
    // A request that is not an upgrade gets its reason as JSON (axum's is plain text), with
    // axum's status: 400, or 426 where the connection cannot be upgraded.
    let ws = ws.map_err(|rejection| ApiError::Detail(rejection.status(), rejection.body_text()))?;
    if !state.security.origin_allowed(&headers) {
        return Err(ApiError::Forbidden(
            "Origin not allowed to open the websocket.".into(),
        ));
    }
    let holder = holder_of(&state, &headers, &uri).await?;
    let events = hub(&state).subscribe();
    Ok(match holder {
        Holder::User(user, key) => {
            ws.on_upgrade(move |socket| stream(state, user, key, socket, events))
        }
        Holder::Anonymous => ws.on_upgrade(move |socket| stream_anonymous(socket, events)),
    })
}

async fn projects_of(state: &AppState, user: &User) -> HashSet<Uuid> {
    sqlx::query_scalar("SELECT project_uuid FROM project_access WHERE user_id = $1")
        .bind(user.id)
        .fetch_all(&state.pool)
        .await
        .map(|v: Vec<Uuid>| v.into_iter().collect())
        .unwrap_or_default()
}

/// Whether the user may see an event. A project event may change who sees it (members, creator,
/// deletion) and a project unseen so far may have been shared since: both read membership again.
async fn may_see(
    state: &AppState,
    user: &User,
    visible: &mut HashSet<Uuid>,
    payload: &str,
) -> bool {
    if user.sees_all() {
        return true;
    }
    let Ok(event) = serde_json::from_str::<Event>(payload) else {
        return false;
    };
    let Some(project) = event
        .project
        .as_deref()
        .and_then(|p| Uuid::parse_str(p).ok())
    else {
        return false;
    };
    if event.model == ModelName::Project || !visible.contains(&project) {
        *visible = projects_of(state, user).await;
    }
    visible.contains(&project)
}

/// Closes the socket because its credentials no longer hold (1008: policy violation).
async fn close_revoked(mut socket: WebSocket) {
    let frame = CloseFrame {
        code: close_code::POLICY,
        reason: "Credentials revoked.".into(),
    };
    let _ = socket.send(Message::Close(Some(frame))).await;
}

/// Answers what the client sent: its heartbeat is echoed, anything else is ignored. False once
/// the socket is closed or broken.
async fn answer(socket: &mut WebSocket, incoming: Option<Result<Message, axum::Error>>) -> bool {
    match incoming {
        Some(Ok(Message::Text(text))) if text.as_str() == "--heartbeat--" => socket
            .send(Message::Text("--heartbeat--".into()))
            .await
            .is_ok(),
        Some(Ok(Message::Close(_))) | None | Some(Err(_)) => false,
        Some(Ok(_)) => true,
    }
}

/// An anonymous socket: [`ANONYMOUS_NOTICE`] at most every [`ANONYMOUS_EVERY`] while events
/// happen, heartbeats as for any socket.
async fn stream_anonymous(mut socket: WebSocket, mut events: broadcast::Receiver<Notice>) {
    let mut heartbeat = tokio::time::interval(Duration::from_secs(30));
    let mut flush = tokio::time::interval(ANONYMOUS_EVERY);
    let mut pending = false;
    loop {
        tokio::select! {
            notice = events.recv() => match notice {
                Ok(Notice::Event(_)) | Err(broadcast::error::RecvError::Lagged(_)) => pending = true,
                Ok(Notice::Credentials(_)) => {}
                Err(broadcast::error::RecvError::Closed) => break,
            },
            incoming = socket.recv() => if !answer(&mut socket, incoming).await { break; },
            _ = flush.tick(), if pending => {
                pending = false;
                if socket.send(Message::Text(ANONYMOUS_NOTICE.into())).await.is_err() { break; }
            }
            _ = heartbeat.tick() => {
                if socket.send(Message::Text("--heartbeat--".into())).await.is_err() { break; }
            }
        }
    }
}

async fn stream(
    state: AppState,
    mut user: User,
    key: String,
    mut socket: WebSocket,
    mut events: broadcast::Receiver<Notice>,
) {
    let mut visible = projects_of(&state, &user).await;
    let mut heartbeat = tokio::time::interval(Duration::from_secs(30));
    loop {
        // Whether to check the token again before going on.
        let mut recheck = false;
        tokio::select! {
            notice = events.recv() => match notice {
                Ok(Notice::Event(payload)) => {
                    if may_see(&state, &user, &mut visible, &payload).await
                        && socket.send(Message::Text(payload.as_ref().into())).await.is_err()
                    {
                        break;
                    }
                }
                Ok(Notice::Credentials(id)) => recheck = id == user.id,
                // A credential notice may have been among the lost ones.
                Err(broadcast::error::RecvError::Lagged(_)) => recheck = true,
                Err(broadcast::error::RecvError::Closed) => break,
            },
            incoming = socket.recv() => if !answer(&mut socket, incoming).await { break; },
            _ = heartbeat.tick() => {
                recheck = true;
                if socket.send(Message::Text("--heartbeat--".into())).await.is_err() { break; }
            }
        }
        if recheck {
            match auth::token_user(&state.pool, &key).await {
                Ok(Some(now)) => {
                    user = now;
                    visible = projects_of(&state, &user).await;
                }
                Ok(None) => {
                    close_revoked(socket).await;
                    return;
                }
                // The database is away: keep the socket, check again at the next heartbeat.
                Err(error) => tracing::warn!(%error, "could not check a websocket's token"),
            }
        }
    }
}
