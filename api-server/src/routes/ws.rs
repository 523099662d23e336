//! `/ws/rodan`: model events from Redis (`rodan:broadcast:rodan`, published by every API replica
//! and worker) streamed to websocket clients, each seeing only events of projects it belongs to.

use crate::auth::{self, User};
use crate::error::{ApiError, ApiResult};
use crate::query::Params;
use crate::state::AppState;
use axum::Router;
use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, Uri, header};
use axum::response::Response;
use axum::routing::get;
use futures::StreamExt;
use rodan_db::events::{CHANNEL, Event};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;
use uuid::Uuid;

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/ws/rodan", get(upgrade))
}

/// One Redis subscription per process, fanned out to every socket.
pub(crate) fn hub(state: &AppState) -> broadcast::Sender<Arc<str>> {
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

async fn subscribe(url: &str, sender: &broadcast::Sender<Arc<str>>) -> redis::RedisResult<()> {
    let client = redis::Client::open(url)?;
    let mut pubsub = client.get_async_pubsub().await?;
    pubsub.subscribe(CHANNEL).await?;
    let mut messages = pubsub.on_message();
    while let Some(message) = messages.next().await {
        if let Ok(payload) = message.get_payload::<String>() {
            // No receivers is fine: nobody is connected to this replica.
            let _ = sender.send(payload.into());
        }
    }
    Ok(())
}

async fn user_of(state: &AppState, headers: &HeaderMap, uri: &Uri) -> ApiResult<User> {
    let from_header = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Token "))
        .map(str::to_owned);
    let from_cookie = auth::cookie_token(headers);
    let from_query = Params::parse(uri.query()).get("token").map(str::to_owned);
    let key = from_header
        .or(from_cookie)
        .or(from_query)
        .ok_or(ApiError::NotAuthenticated)?;
    auth::token_user(&state.pool, &key)
        .await?
        .ok_or(ApiError::BadCredentials("Invalid token."))
}

async fn upgrade(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    ws: WebSocketUpgrade,
) -> ApiResult<Response> {
    let user = user_of(&state, &headers, &uri).await?;
    let events = hub(&state).subscribe();
    Ok(ws.on_upgrade(move |socket| stream(state, user, socket, events)))
}

async fn projects_of(state: &AppState, user: &User) -> HashSet<Uuid> {
    sqlx::query_scalar("SELECT project_uuid FROM project_access WHERE user_id = $1")
        .bind(user.id)
        .fetch_all(&state.pool)
        .await
        .map(|v: Vec<Uuid>| v.into_iter().collect())
        .unwrap_or_default()
}

async fn stream(
    state: AppState,
    user: User,
    mut socket: WebSocket,
    mut events: broadcast::Receiver<Arc<str>>,
) {
    let mut visible = projects_of(&state, &user).await;
    let mut heartbeat = tokio::time::interval(Duration::from_secs(30));
    loop {
        tokio::select! {
            event = events.recv() => {
                let payload = match event {
                    Ok(payload) => payload,
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => break,
                };
                let Ok(parsed) = serde_json::from_str::<Event>(&payload) else { continue };
                let allowed = user.sees_all() || match parsed.project.as_deref().and_then(|p| Uuid::parse_str(p).ok()) {
                    // A project may have been shared with the user since the socket opened.
                    Some(project) => visible.contains(&project) || {
                        visible = projects_of(&state, &user).await;
                        visible.contains(&project)
                    },
                    None => false,
                };
                if allowed && socket.send(Message::Text(payload.as_ref().into())).await.is_err() {
                    break;
                }
            }
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Text(text))) if text.as_str() == "--heartbeat--" => {
                    if socket.send(Message::Text("--heartbeat--".into())).await.is_err() { break; }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
            _ = heartbeat.tick() => {
                if socket.send(Message::Text("--heartbeat--".into())).await.is_err() { break; }
            }
        }
    }
}
