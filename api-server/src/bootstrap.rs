//! `migrate`: schema migrations, built-in resource types, and the admin user from upstream's
//! `ADMIN_USER`/`ADMIN_EMAIL`/`ADMIN_PASS`.

use crate::auth::hash_password;
use crate::config::MigrateArgs;
use anyhow::Context;
use sqlx::PgPool;
use uuid::Uuid;

/// Runs the migrations, registers the resource types and creates the admin when asked.
pub async fn migrate(args: MigrateArgs) -> anyhow::Result<()> {
    let wait = rodan_db::STARTUP_WAIT;
    let pool = rodan_db::until_up("the database", wait, rodan_db::unreachable, || {
        rodan_db::connect(&args.database_url, 2)
    })
    .await
    .context("failed to connect to the database")?;
    prepare(&pool).await?;
    if let (Some(user), Some(email), Some(pass)) =
        (&args.admin_user, &args.admin_email, &args.admin_pass)
        && create_superuser(&pool, user, email, pass).await?
    {
        tracing::info!(user, "created the admin user");
    }
    tracing::info!("database is up to date");
    Ok(())
}

/// Migrations and resource types; what tests call too.
pub async fn prepare(pool: &PgPool) -> anyhow::Result<()> {
    rodan_db::migrate(pool)
        .await
        .context("failed to apply the migrations")?;
    let types: Vec<(&str, &str, &str)> = rodan_core::resource_types::BUILTIN
        .iter()
        .map(|t| (t.mimetype, t.description, t.extension))
        .collect();
    rodan_db::catalogue::register_resource_types(pool, &types)
        .await
        .context("failed to register the resource types")?;
    Ok(())
}

/// Creates a superuser unless a user with this name or e-mail exists (upstream's rule).
/// Returns whether it created one.
pub async fn create_superuser(
    pool: &PgPool,
    username: &str,
    email: &str,
    password: &str,
) -> anyhow::Result<bool> {
    let hash = hash_password(password).map_err(|e| anyhow::anyhow!("{e}"))?;
    let id: Option<i64> = sqlx::query_scalar(
        "INSERT INTO users (username, email, password, is_staff, is_superuser)
         SELECT $1, $2, $3, true, true
         WHERE NOT EXISTS (SELECT 1 FROM users WHERE username = $1 OR email = $2)
         RETURNING id",
    )
    .bind(username)
    .bind(email)
    .bind(hash)
    .fetch_optional(pool)
    .await
    .context("failed to create the admin user")?;
    if let Some(id) = id {
        sqlx::query(
            "INSERT INTO user_preferences (uuid, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(Uuid::new_v4())
        .bind(id)
        .execute(pool)
        .await?;
    }
    Ok(id.is_some())
}
