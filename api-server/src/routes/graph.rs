//! Loading a workflow and the job catalogue from the database into `rodan_core::workflow`'s
//! plain types, and writing imported graphs back.

use crate::error::ApiResult;
use rodan_core::catalogue::{JobDescriptor, PortType};
use rodan_core::workflow::{Connection, InputPort, OutputPort, Workflow, WorkflowJob};
use serde_json::Value;
use sqlx::{PgPool, Postgres, Transaction};
use std::collections::HashMap;
use uuid::Uuid;

/// The whole job catalogue.
pub(crate) async fn catalogue(pool: &PgPool) -> ApiResult<Vec<JobDescriptor>> {
    type JobRow = (
        Uuid,
        String,
        String,
        String,
        String,
        Value,
        String,
        bool,
        bool,
    );
    let jobs: Vec<JobRow> = sqlx::query_as(
        "SELECT uuid, name, author, category, description, settings, job_queue, interactive, enabled FROM jobs ORDER BY name",
    )
    .fetch_all(pool)
    .await?;
    type PortRow = (Uuid, String, i32, i32, bool, Vec<String>, bool);
    let ports: Vec<PortRow> = sqlx::query_as(
        "SELECT p.job_uuid, p.name, p.minimum, p.maximum, p.is_list,
                ARRAY(SELECT rt.mimetype FROM input_port_type_resource_types l JOIN resource_types rt ON rt.uuid = l.resource_type_uuid WHERE l.port_type_uuid = p.uuid ORDER BY rt.mimetype), true
         FROM input_port_types p
         UNION ALL
         SELECT p.job_uuid, p.name, p.minimum, p.maximum, p.is_list,
                ARRAY(SELECT rt.mimetype FROM output_port_type_resource_types l JOIN resource_types rt ON rt.uuid = l.resource_type_uuid WHERE l.port_type_uuid = p.uuid ORDER BY rt.mimetype), false
         FROM output_port_types p
         ORDER BY 2",
    )
    .fetch_all(pool)
    .await?;
    let mut by_job: HashMap<Uuid, (Vec<PortType>, Vec<PortType>)> = HashMap::new();
    for (job, name, minimum, maximum, is_list, resource_types, input) in ports {
        let port = PortType {
            name,
            minimum: u32::try_from(minimum).unwrap_or(0),
            maximum: u32::try_from(maximum).unwrap_or(0),
            is_list,
            resource_types,
        };
        let entry = by_job.entry(job).or_default();
        if input {
            entry.0.push(port);
        } else {
            entry.1.push(port);
        }
    }
    Ok(jobs
        .into_iter()
        .map(
            |(uuid, name, author, category, description, settings, queue, interactive, enabled)| {
                let (input_port_types, output_port_types) =
                    by_job.remove(&uuid).unwrap_or_default();
                JobDescriptor {
                    name,
                    author,
                    category,
                    description,
                    queue,
                    settings,
                    interactive,
                    enabled,
                    input_port_types,
                    output_port_types,
                }
            },
        )
        .collect())
}

/// A workflow's graph, in creation order.
pub(crate) async fn load(pool: &PgPool, id: Uuid) -> ApiResult<Workflow> {
    let (name, description): (String, String) =
        sqlx::query_as("SELECT name, description FROM workflows WHERE uuid = $1")
            .bind(id)
            .fetch_one(pool)
            .await?;
    let jobs: Vec<(Uuid, String, String, Value, Option<Value>)> = sqlx::query_as(
        "SELECT j.uuid, jb.name, j.name, j.job_settings, j.appearance FROM workflow_jobs j
         JOIN jobs jb ON jb.uuid = j.job_uuid WHERE j.workflow_uuid = $1 ORDER BY j.created, j.uuid",
    )
    .bind(id)
    .fetch_all(pool)
    .await?;
    let inputs: Vec<(Uuid, Uuid, String, String)> = sqlx::query_as(
        "SELECT p.uuid, p.workflow_job_uuid, pt.name, p.label FROM input_ports p
         JOIN input_port_types pt ON pt.uuid = p.input_port_type_uuid
         JOIN workflow_jobs j ON j.uuid = p.workflow_job_uuid
         WHERE j.workflow_uuid = $1 ORDER BY p.created, p.uuid",
    )
    .bind(id)
    .fetch_all(pool)
    .await?;
    let outputs: Vec<(Uuid, Uuid, String, String)> = sqlx::query_as(
        "SELECT p.uuid, p.workflow_job_uuid, pt.name, p.label FROM output_ports p
         JOIN output_port_types pt ON pt.uuid = p.output_port_type_uuid
         JOIN workflow_jobs j ON j.uuid = p.workflow_job_uuid
         WHERE j.workflow_uuid = $1 ORDER BY p.created, p.uuid",
    )
    .bind(id)
    .fetch_all(pool)
    .await?;
    let connections: Vec<(Uuid, Uuid, Uuid)> = sqlx::query_as(
        "SELECT c.uuid, c.input_port_uuid, c.output_port_uuid FROM connections c
         JOIN input_ports p ON p.uuid = c.input_port_uuid
         JOIN workflow_jobs j ON j.uuid = p.workflow_job_uuid
         WHERE j.workflow_uuid = $1 ORDER BY c.created, c.uuid",
    )
    .bind(id)
    .fetch_all(pool)
    .await?;
    Ok(Workflow {
        uuid: id,
        name,
        description,
        jobs: jobs
            .into_iter()
            .map(|(uuid, job_name, name, settings, appearance)| WorkflowJob {
                uuid,
                job_name,
                name,
                settings,
                appearance,
            })
            .collect(),
        input_ports: inputs
            .into_iter()
            .map(|(uuid, workflow_job, port_type_name, label)| InputPort {
                uuid,
                workflow_job,
                port_type_name,
                label,
            })
            .collect(),
        output_ports: outputs
            .into_iter()
            .map(|(uuid, workflow_job, port_type_name, label)| OutputPort {
                uuid,
                workflow_job,
                port_type_name,
                label,
            })
            .collect(),
        connections: connections
            .into_iter()
            .map(|(uuid, input_port, output_port)| Connection {
                uuid,
                input_port,
                output_port,
            })
            .collect(),
    })
}

/// Inserts an imported graph's jobs, ports and connections into workflow `workflow`, keeping
/// their creation order. Port types are looked up by job and name.
pub(crate) async fn insert(
    tx: &mut Transaction<'_, Postgres>,
    workflow: Uuid,
    graph: &Workflow,
    group: Option<Uuid>,
) -> ApiResult<()> {
    let mut job_of: HashMap<Uuid, &str> = HashMap::new();
    for job in &graph.jobs {
        job_of.insert(job.uuid, &job.job_name);
        sqlx::query(
            "INSERT INTO workflow_jobs (uuid, workflow_uuid, job_uuid, job_settings, name, group_uuid, appearance, created)
             VALUES ($1, $2, (SELECT uuid FROM jobs WHERE name = $3), $4, $5, $6, $7, clock_timestamp())",
        )
        .bind(job.uuid)
        .bind(workflow)
        .bind(&job.job_name)
        .bind(&job.settings)
        .bind(&job.name)
        .bind(group)
        .bind(&job.appearance)
        .execute(&mut **tx)
        .await?;
    }
    for port in &graph.input_ports {
        sqlx::query(
            "INSERT INTO input_ports (uuid, workflow_job_uuid, input_port_type_uuid, label, created)
             VALUES ($1, $2, (SELECT p.uuid FROM input_port_types p JOIN jobs j ON j.uuid = p.job_uuid WHERE j.name = $3 AND p.name = $4), $5, clock_timestamp())",
        )
        .bind(port.uuid)
        .bind(port.workflow_job)
        .bind(job_of.get(&port.workflow_job).copied().unwrap_or(""))
        .bind(&port.port_type_name)
        .bind(&port.label)
        .execute(&mut **tx)
        .await?;
    }
    for port in &graph.output_ports {
        sqlx::query(
            "INSERT INTO output_ports (uuid, workflow_job_uuid, output_port_type_uuid, label, created)
             VALUES ($1, $2, (SELECT p.uuid FROM output_port_types p JOIN jobs j ON j.uuid = p.job_uuid WHERE j.name = $3 AND p.name = $4), $5, clock_timestamp())",
        )
        .bind(port.uuid)
        .bind(port.workflow_job)
        .bind(job_of.get(&port.workflow_job).copied().unwrap_or(""))
        .bind(&port.port_type_name)
        .bind(&port.label)
        .execute(&mut **tx)
        .await?;
    }
    for connection in &graph.connections {
        sqlx::query(
            "INSERT INTO connections (uuid, input_port_uuid, output_port_uuid, created) VALUES ($1, $2, $3, clock_timestamp())",
        )
        .bind(connection.uuid)
        .bind(connection.input_port)
        .bind(connection.output_port)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// Marks a workflow invalid after an edit of its jobs, ports or connections (upstream's save
/// hooks).
pub(crate) async fn invalidate(pool: &PgPool, workflow: Uuid) -> ApiResult<()> {
    sqlx::query("UPDATE workflows SET valid = false, updated = now() WHERE uuid = $1")
        .bind(workflow)
        .execute(pool)
        .await?;
    Ok(())
}
