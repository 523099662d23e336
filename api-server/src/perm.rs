//! Project roles: who may change what (upstream's guardian groups, applied to every model).

use crate::auth::User;
use crate::error::{ApiError, ApiResult};
use crate::query::{self, Model};
use sqlx::PgPool;
use uuid::Uuid;

/// A user's role in a project, strongest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Created the project (or a superuser): everything, including the admin list.
    Creator,
    /// May change the project and its worker list.
    Admin,
    /// May use and change everything inside the project.
    Worker,
}

/// The user's role in `project`, `None` when they are not a member (or the project is missing).
pub async fn role(pool: &PgPool, user: &User, project: Uuid) -> ApiResult<Option<Role>> {
    let row: Option<(Option<i64>, bool, bool)> = sqlx::query_as(
        "SELECT p.creator_id,
                EXISTS (SELECT 1 FROM project_members m WHERE m.project_uuid = p.uuid AND m.user_id = $2 AND m.role = 'admin'),
                EXISTS (SELECT 1 FROM project_members m WHERE m.project_uuid = p.uuid AND m.user_id = $2 AND m.role = 'worker')
         FROM projects p WHERE p.uuid = $1",
    )
    .bind(project)
    .bind(user.id)
    .fetch_optional(pool)
    .await?;
    let Some((creator, admin, worker)) = row else {
        return Ok(None);
    };
    Ok(if user.is_superuser || creator == Some(user.id) {
        Some(Role::Creator)
    } else if admin {
        Some(Role::Admin)
    } else if worker {
        Some(Role::Worker)
    } else {
        None
    })
}

/// Requires at least `needed` in `project`: 404 for non-members (they may not know it exists),
/// 403 for members with a weaker role.
pub async fn require(pool: &PgPool, user: &User, project: Uuid, needed: Role) -> ApiResult<Role> {
    match role(pool, user, project).await? {
        None => Err(ApiError::NotFound),
        Some(role) if role <= needed => Ok(role),
        Some(_) => Err(ApiError::Forbidden(
            "You do not have permission to perform this action.".into(),
        )),
    }
}

/// Requires membership of the project a hyperlinked field points to; a project the user cannot
/// see is reported as a bad hyperlink on that field, as if it did not exist.
pub async fn require_field(
    pool: &PgPool,
    user: &User,
    project: Uuid,
    field: &str,
) -> ApiResult<Role> {
    match role(pool, user, project).await? {
        Some(role) => Ok(role),
        None => Err(ApiError::field(
            field,
            "Invalid hyperlink - Object does not exist.",
        )),
    }
}

/// The project of object `id` of `model`, requiring at least `needed` there: 404 when the object
/// is missing or the user is not a member, 403 for a weaker role.
pub async fn require_object(
    pool: &PgPool,
    user: &User,
    model: &Model,
    id: Uuid,
    needed: Role,
) -> ApiResult<Uuid> {
    let project = query::project_of(pool, model, id)
        .await?
        .ok_or(ApiError::NotFound)?;
    require(pool, user, project, needed).await?;
    Ok(project)
}

/// The project of the object a hyperlinked `field` names, requiring membership: a missing
/// object or a project the user cannot see is a 400 on that field.
pub async fn require_field_object(
    pool: &PgPool,
    user: &User,
    model: &Model,
    id: Uuid,
    field: &str,
) -> ApiResult<Uuid> {
    let project = query::project_of(pool, model, id)
        .await?
        .ok_or_else(|| ApiError::field(field, "Invalid hyperlink - Object does not exist."))?;
    require_field(pool, user, project, field).await?;
    Ok(project)
}
