//! Authentication as upstream's clients do it: `Authorization: Token <key>` (one static token per
//! user, stored hashed) and HTTP Basic with e-mail or user name. Passwords are Argon2id.

use crate::error::ApiError;
use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use base64::Engine;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The authenticated user of a request.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct User {
    /// Integer id, as upstream's `/api/user/<id>/`.
    pub id: i64,
    /// User name.
    pub username: String,
    /// Sees and changes everything.
    pub is_superuser: bool,
    /// Staff (never-expiring results packages).
    pub is_staff: bool,
    /// Inactive users are refused.
    pub is_active: bool,
}

impl User {
    /// Whether this user may see every project.
    pub fn sees_all(&self) -> bool {
        self.is_superuser
    }
}

/// Hashes a password for storage.
pub fn hash_password(password: &str) -> Result<String, ApiError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|error| ApiError::internal(anyhow::anyhow!("failed to hash a password: {error}")))
}

/// Checks a password against its stored hash.
pub fn verify_password(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored)
        .map(|hash| {
            Argon2::default()
                .verify_password(password.as_bytes(), &hash)
                .is_ok()
        })
        .unwrap_or(false)
}

fn token_hash(key: &str) -> String {
    let digest = Sha256::digest(key.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Tokens a user keeps at once; a login past it ends the oldest session.
pub const TOKENS_PER_USER: i64 = 20;

/// A new token key for a login of the user. Keys are 40 hex digits like DRF's. Only their hash
/// is stored, so an existing key cannot be shown again: each login gets one of its own, and the
/// user's other sessions go on (upstream gives every login the same token). The oldest beyond
/// [`TOKENS_PER_USER`] are deleted.
pub async fn issue_token(pool: &PgPool, user_id: i64) -> Result<String, sqlx::Error> {
    let bytes: [u8; 20] = rand::random();
    let key: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let mut tx = pool.begin().await?;
    sqlx::query("INSERT INTO auth_tokens (key_hash, user_id) VALUES ($1, $2)")
        .bind(token_hash(&key))
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    sqlx::query(
        "DELETE FROM auth_tokens WHERE key_hash IN (
             SELECT key_hash FROM auth_tokens WHERE user_id = $1
             ORDER BY created DESC OFFSET $2)",
    )
    .bind(user_id)
    .bind(TOKENS_PER_USER)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(key)
}

/// Deletes every token of the user (logout, as djoser's, which ends all their sessions).
pub async fn revoke_token(pool: &PgPool, user_id: i64) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM auth_tokens WHERE user_id = $1")
        .bind(user_id)
        .execute(pool)
        .await
        .map(|_| ())
}

/// Verified Basic credentials (by hash of the header) for a minute, each with the credential
/// stamp of its user when verified: a hit counts only while the stamp is unchanged, so a new
/// password, a new or revoked token, on any replica, ends it at once.
#[derive(Debug, Default)]
pub struct BasicCache(Mutex<HashMap<String, (i64, Stamp, Instant)>>);

/// A digest of what a login depends on: the stored password hash (a new salt with every change)
/// and the user's tokens (how many, the newest's creation time), which a logout deletes. As Django's session auth hash, which ends sessions when the
/// password changes.
pub type Stamp = [u8; 32];

const BASIC_TTL: Duration = Duration::from_secs(60);

impl BasicCache {
    fn get(&self, key: &str) -> Option<(i64, Stamp)> {
        let map = self.0.lock().ok()?;
        map.get(key)
            .filter(|(_, _, at)| at.elapsed() < BASIC_TTL)
            .map(|(id, stamp, _)| (*id, *stamp))
    }

    fn put(&self, key: String, id: i64, stamp: Stamp) {
        if let Ok(mut map) = self.0.lock() {
            if map.len() > 10_000 {
                map.retain(|_, (_, _, at)| at.elapsed() < BASIC_TTL);
            }
            map.insert(key, (id, stamp, Instant::now()));
        }
    }
}

#[derive(sqlx::FromRow)]
struct StampedUser {
    #[sqlx(flatten)]
    user: User,
    password: String,
    token_created: Option<String>,
}

/// A user with the current stamp of their credentials.
async fn stamped_user(pool: &PgPool, id: i64) -> Result<Option<(User, Stamp)>, sqlx::Error> {
    let row: Option<StampedUser> = sqlx::query_as(&format!(
        "SELECT {USER_COLUMNS}, password,
                (SELECT count(*)::text || '/' || coalesce(max(created)::text, '')
                 FROM auth_tokens WHERE user_id = users.id) AS token_created
         FROM users WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(pool)
    .await?;
    Ok(row.map(|row| {
        let mut digest = Sha256::new();
        digest.update(row.password.as_bytes());
        digest.update([0]);
        digest.update(row.token_created.unwrap_or_default().as_bytes());
        (row.user, digest.finalize().into())
    }))
}

/// What authentication needs of the server's state. The state implements it (`state.rs`), so
/// that this module does not depend on the state's definition.
pub trait AuthState: Send + Sync {
    /// The database pool.
    fn pool(&self) -> &sqlx::PgPool;
    /// Login throttling and the trusted proxies.
    fn security(&self) -> &crate::security::Security;
    /// Recently verified Basic credentials.
    fn basic_cache(&self) -> &BasicCache;
}

const USER_COLUMNS: &str = "id, username, is_superuser, is_staff, is_active";

/// Looks a user up by e-mail or user name and checks the password, refusing (429) while the
/// client's address or the account has used up its failed logins; a failure counts.
pub async fn check_credentials(
    state: &impl AuthState,
    client: Option<IpAddr>,
    login: &str,
    password: &str,
) -> Result<Option<User>, ApiError> {
    let row: Option<(i64, String)> =
        sqlx::query_as("SELECT id, password FROM users WHERE email = $1 OR username = $1 LIMIT 1")
            .bind(login)
            .fetch_optional(state.pool())
            .await?;
    let account = match &row {
        Some((id, _)) => format!("id:{id}"),
        // Unknown accounts too, by a digest of the name: keys stay short.
        None => format!("login:{}", &token_hash(&login.to_lowercase())[..32]),
    };
    state.security().login_attempt(client, &account).await?;
    let Some((id, stored)) = row else {
        return Ok(None);
    };
    if !verify_off_thread(password, stored).await? {
        return Ok(None);
    }
    state.security().login_succeeded(client, &account).await;
    Ok(Some(
        user_by_id(state.pool(), id)
            .await?
            .ok_or(ApiError::NotFound)?,
    ))
}

/// Checks the password of a known user (a password change's current password), throttled and
/// counted like a login.
pub async fn check_password(
    state: &impl AuthState,
    client: Option<IpAddr>,
    user: i64,
    password: &str,
) -> Result<bool, ApiError> {
    let account = format!("id:{user}");
    state.security().login_attempt(client, &account).await?;
    let stored: String = sqlx::query_scalar("SELECT password FROM users WHERE id = $1")
        .bind(user)
        .fetch_one(state.pool())
        .await?;
    let ok = verify_off_thread(password, stored).await?;
    if ok {
        state.security().login_succeeded(client, &account).await;
    }
    Ok(ok)
}

async fn verify_off_thread(password: &str, stored: String) -> Result<bool, ApiError> {
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || verify_password(&password, &stored))
        .await
        .map_err(ApiError::internal)
}

/// Loads a user by id.
pub async fn user_by_id(pool: &PgPool, id: i64) -> Result<Option<User>, sqlx::Error> {
    sqlx::query_as(&format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1"))
        .bind(id)
        .fetch_optional(pool)
        .await
}

/// The user owning a token key, active or not.
async fn user_by_token(pool: &PgPool, key: &str) -> Result<Option<User>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {USER_COLUMNS} FROM users WHERE id = (SELECT user_id FROM auth_tokens WHERE key_hash = $1)"
    ))
    .bind(token_hash(key))
    .fetch_optional(pool)
    .await
}

/// The active user owning a token key.
pub async fn token_user(pool: &PgPool, key: &str) -> Result<Option<User>, ApiError> {
    Ok(user_by_token(pool, key).await?.filter(|u| u.is_active))
}

pub use crate::security::cookie_token;

async fn authenticate(
    state: &impl AuthState,
    parts: &Parts,
    header: &str,
) -> Result<User, ApiError> {
    if let Some(key) = header.strip_prefix("Token ").map(str::trim) {
        let user = user_by_token(state.pool(), key)
            .await?
            .ok_or(ApiError::BadCredentials("Invalid token."))?;
        if !user.is_active {
            return Err(ApiError::BadCredentials("User inactive or deleted."));
        }
        return Ok(user);
    }
    if let Some(encoded) = header.strip_prefix("Basic ").map(str::trim) {
        let cache_key = token_hash(encoded);
        if let Some((id, stamp)) = state.basic_cache().get(&cache_key)
            && let Some((user, now)) = stamped_user(state.pool(), id).await?
            && now == stamp
            && user.is_active
        {
            return Ok(user);
        }
        let invalid = ApiError::BadCredentials("Invalid username/password.");
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|_| {
                ApiError::BadCredentials(
                    "Invalid basic header. Credentials not correctly base64 encoded.",
                )
            })?;
        let text = String::from_utf8(decoded).map_err(|_| invalid)?;
        let (login, password) = text
            .split_once(':')
            .ok_or(ApiError::BadCredentials("Invalid username/password."))?;
        let client = crate::security::client_of(parts, state.security());
        let user = check_credentials(state, client, login, password)
            .await?
            .ok_or(ApiError::BadCredentials("Invalid username/password."))?;
        if !user.is_active {
            return Err(ApiError::BadCredentials("User inactive or deleted."));
        }
        if let Some((_, stamp)) = stamped_user(state.pool(), user.id).await? {
            state.basic_cache().put(cache_key, user.id, stamp);
        }
        return Ok(user);
    }
    Err(ApiError::BadCredentials("Invalid authorization header."))
}

impl<S: AuthState> FromRequestParts<S> for User {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or(ApiError::NotAuthenticated)?;
        authenticate(state, parts, header).await
    }
}

/// A user when credentials are given; nobody otherwise (for AllowAny routes).
#[derive(Debug, Clone)]
pub struct MaybeUser(pub Option<User>);

impl<S: AuthState> FromRequestParts<S> for MaybeUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match parts
            .headers
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
        {
            Some(header) => Ok(Self(Some(authenticate(state, parts, header).await?))),
            None => Ok(Self(None)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authentication_reads_the_state_through_its_trait_only() {
        // `state` holds the Basic cache of this module; this module reaches the state only
        // through `AuthState`, so the two do not import each other.
        let source = include_str!("auth.rs");
        assert!(!source.contains(concat!("crate::", "state")));
    }

    #[test]
    fn a_password_verifies_against_its_own_hash_only() {
        let stored = hash_password("s3cret").expect("hashing works");
        assert!(stored.starts_with("$argon2id$"));
        assert!(verify_password("s3cret", &stored));
        assert!(!verify_password("s3cret ", &stored));
        assert!(!verify_password("s3cret", "not a hash"));
    }

    #[test]
    fn basic_cache_forgets_nothing_within_its_ttl() {
        let cache = BasicCache::default();
        cache.put("k".into(), 7, [1; 32]);
        assert_eq!(cache.get("k"), Some((7, [1; 32])));
        assert_eq!(cache.get("other"), None);
    }
}
