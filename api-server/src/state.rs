//! What every handler shares: the pool, the broker, the event publisher, the media root.

use rodan_db::broker::Broker;
use rodan_db::events::Publisher;
use sqlx::PgPool;
use std::path::PathBuf;
use std::sync::Arc;

/// Shared state, cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState(pub Arc<Inner>);

/// The fields of [`AppState`].
#[derive(Debug)]
pub struct Inner {
    /// The one database pool.
    pub pool: PgPool,
    /// Dispatch of run jobs.
    pub broker: Broker,
    /// Model events.
    pub events: Publisher,
    /// Redis URL, for the websocket's subscriptions.
    pub redis_url: String,
    /// Root of the media volume.
    pub media_root: PathBuf,
    /// Serve media bytes ourselves instead of `X-Accel-Redirect`.
    pub serve_media: bool,
    /// Version shown at `/api/`.
    pub version: String,
    /// Largest accepted request body (an upload), bytes.
    pub max_upload: usize,
    /// Largest accepted JSON or form body, bytes.
    pub max_json: usize,
    /// The queue of core tasks (uploads' type detection, results packages).
    pub core_queue: String,
    /// Recently verified Basic credentials, so Basic clients do not pay the password hash on
    /// every request.
    pub basic_cache: crate::auth::BasicCache,
    /// The websocket fan-out of Redis events and credential changes, started by the first socket.
    pub hub: std::sync::OnceLock<tokio::sync::broadcast::Sender<crate::security::Notice>>,
    /// Login throttling, trusted proxies, allowed origins, security headers.
    pub security: crate::security::Security,
    /// How long an acquired interactive run job stays locked to its working user, seconds.
    pub working_user_expiry_seconds: u64,
    /// Origins allowed to call the API from the browser (CORS); empty: no CORS headers.
    pub cors_origins: Vec<axum::http::HeaderValue>,
    /// Self-registration, activation and password reset by e-mail.
    pub accounts: crate::accounts::Accounts,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl axum::extract::FromRef<AppState> for crate::body::JsonLimit {
    fn from_ref(state: &AppState) -> Self {
        Self(state.max_json)
    }
}

impl crate::security::SecurityState for AppState {
    fn security(&self) -> &crate::security::Security {
        &self.security
    }
}

impl crate::auth::AuthState for AppState {
    fn pool(&self) -> &PgPool {
        &self.pool
    }
    fn security(&self) -> &crate::security::Security {
        &self.security
    }
    fn basic_cache(&self) -> &crate::auth::BasicCache {
        &self.basic_cache
    }
}

impl AppState {
    /// Publishes a model event; see [`rodan_db::events`].
    pub async fn emit(
        &self,
        status: rodan_db::events::Change,
        model: rodan_db::events::ModelName,
        id: uuid::Uuid,
        project: Option<uuid::Uuid>,
    ) {
        self.events
            .publish(&rodan_db::events::Event::new(status, model, id, project))
            .await;
    }
}
