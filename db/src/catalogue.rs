//! The job catalogue and the resource types in the database, written idempotently: at `migrate`
//! (resource types) and by each worker at start (the jobs it runs).

use rodan_core::catalogue::{JobDescriptor, PortType};
use sqlx::{PgPool, Postgres, Transaction};
use uuid::Uuid;

/// Upserts resource types by mimetype: `(mimetype, description, extension)`.
pub async fn register_resource_types(
    pool: &PgPool,
    types: &[(&str, &str, &str)],
) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    for (mimetype, description, extension) in types {
        sqlx::query(
            r#"INSERT INTO resource_types (uuid, mimetype, description, extension)
               VALUES ($1, $2, $3, $4)
               ON CONFLICT (mimetype) DO UPDATE
               SET description = EXCLUDED.description, extension = EXCLUDED.extension"#,
        )
        .bind(Uuid::new_v4())
        .bind(mimetype)
        .bind(description)
        .bind(extension)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await
}

/// Registers `jobs`: inserts new ones, updates changed ones in place (keeping their uuids, so
/// workflows that use them stay valid), and syncs their port types. A port type that no longer
/// exists is removed unless a workflow still uses it. Resource types a port names that are not
/// registered are ignored, as upstream's callable filters resolve only against registered types.
pub async fn register_jobs(pool: &PgPool, jobs: &[JobDescriptor]) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    // Serialise concurrent registrations (several workers starting at once).
    sqlx::query("SELECT pg_advisory_xact_lock(7210001)")
        .execute(&mut *tx)
        .await?;
    for job in jobs {
        let job_uuid: Uuid = sqlx::query_scalar(
            r#"INSERT INTO jobs (uuid, name, author, category, description, settings, job_queue,
                                 enabled, interactive)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
               ON CONFLICT (name) DO UPDATE SET author = EXCLUDED.author,
                 category = EXCLUDED.category, description = EXCLUDED.description,
                 settings = EXCLUDED.settings, job_queue = EXCLUDED.job_queue,
                 enabled = EXCLUDED.enabled, interactive = EXCLUDED.interactive
               RETURNING uuid"#,
        )
        .bind(Uuid::new_v4())
        .bind(&job.name)
        .bind(&job.author)
        .bind(&job.category)
        .bind(&job.description)
        .bind(&job.settings)
        .bind(&job.queue)
        .bind(job.enabled)
        .bind(job.interactive)
        .fetch_one(&mut *tx)
        .await?;
        sync_ports(&mut tx, job_uuid, "input", &job.input_port_types).await?;
        sync_ports(&mut tx, job_uuid, "output", &job.output_port_types).await?;
    }
    tx.commit().await
}

async fn sync_ports(
    tx: &mut Transaction<'_, Postgres>,
    job: Uuid,
    side: &str,
    ports: &[PortType],
) -> Result<(), sqlx::Error> {
    let (table, links, used_by) = match side {
        "input" => (
            "input_port_types",
            "input_port_type_resource_types",
            "input_ports",
        ),
        _ => (
            "output_port_types",
            "output_port_type_resource_types",
            "output_ports",
        ),
    };
    let names: Vec<&str> = ports.iter().map(|p| p.name.as_str()).collect();
    sqlx::query(&format!(
        "DELETE FROM {table} t WHERE job_uuid = $1 AND NOT (name = ANY($2))
         AND NOT EXISTS (SELECT 1 FROM {used_by} u WHERE u.{side}_port_type_uuid = t.uuid)"
    ))
    .bind(job)
    .bind(&names)
    .execute(&mut **tx)
    .await?;
    for port in ports {
        let port_uuid: Uuid = sqlx::query_scalar(&format!(
            "INSERT INTO {table} (uuid, job_uuid, name, minimum, maximum, is_list)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (job_uuid, name) DO UPDATE SET minimum = EXCLUDED.minimum,
               maximum = EXCLUDED.maximum, is_list = EXCLUDED.is_list
             RETURNING uuid"
        ))
        .bind(Uuid::new_v4())
        .bind(job)
        .bind(&port.name)
        .bind(i32::try_from(port.minimum).unwrap_or(i32::MAX))
        .bind(i32::try_from(port.maximum).unwrap_or(i32::MAX))
        .bind(port.is_list)
        .fetch_one(&mut **tx)
        .await?;
        sqlx::query(&format!("DELETE FROM {links} WHERE port_type_uuid = $1"))
            .bind(port_uuid)
            .execute(&mut **tx)
            .await?;
        sqlx::query(&format!(
            "INSERT INTO {links} (port_type_uuid, resource_type_uuid)
             SELECT $1, uuid FROM resource_types WHERE mimetype = ANY($2)"
        ))
        .bind(port_uuid)
        .bind(&port.resource_types)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}
