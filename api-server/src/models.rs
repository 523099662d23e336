//! Every model's read side ([`Model`]): its JSON representation with absolute hyperlinks, the
//! project it belongs to, its filters and its ordering fields, following upstream's serializers
//! and django-filter sets (rodan-reference §2.2, §2.3).

use crate::link::sql_link;
use crate::query::{Field, Kind, Model, field};

const CMP: &[&str] = &["lt", "gt", "lte", "gte"];
const TEXT: &[&str] = &["icontains", "in"];
const IN: &[&str] = &["in"];
const NULL: &[&str] = &["isnull"];

macro_rules! common_time_filters {
    () => {
        [
            field("uuid", "t.uuid", Kind::Uuid, IN),
            field("created", "t.created", Kind::Time, CMP),
            field("updated", "t.updated", Kind::Time, CMP),
        ]
    };
}

const fn concat<const A: usize, const B: usize, const C: usize>(
    a: [Field; A],
    b: [Field; B],
) -> [Field; C] {
    let mut out = [a[0]; C];
    let mut i = 0;
    while i < A {
        out[i] = a[i];
        i += 1;
    }
    let mut j = 0;
    while j < B {
        out[A + j] = b[j];
        j += 1;
    }
    out
}

// The representations of the workflow graph's models, as macros so that a model's rows can be
// nested whole in another's (`concat!`): upstream's workflow detail nests its workflow jobs, and
// each workflow job nests its ports. A nested read is a subquery over the same `FROM` whose row
// alias `t` shadows the outer one; the outer row is reached through its `LATERAL` alias (`wf`,
// `wj`).

/// Upstream's `ResourceLabelSerializer` (url, name, uuid).
macro_rules! label_json {
    () => {
        concat!(
            "json_build_object('url', ",
            sql_link!("label", "t.uuid"),
            ", 'uuid', t.uuid, 'name', t.name)"
        )
    };
}

/// The workflow's `LATERAL` alias `wf` (its uuid as `wf.id`), for its nested reads.
macro_rules! workflow_lateral {
    () => {
        " CROSS JOIN LATERAL (SELECT t.uuid AS id) wf"
    };
}

/// Upstream's `InputPortSerializer` (with the port type's name and the creation time).
macro_rules! input_port_json {
    () => {
        concat!(
            "json_build_object('url', ",
            sql_link!("inputport", "t.uuid"),
            ", 'uuid', t.uuid, \
        'workflow_job', ",
            sql_link!("workflowjob", "t.workflow_job_uuid"),
            ", \
        'input_port_type', ",
            sql_link!("inputporttype", "t.input_port_type_uuid"),
            ", \
        'input_port_type_name', pt.name, 'label', t.label, 'extern', t.extern, \
        'connections', ARRAY(SELECT ",
            sql_link!("connection", "c.uuid"),
            " FROM connections c \
            WHERE c.input_port_uuid = t.uuid ORDER BY c.created), \
        'created', t.created)"
        )
    };
}
macro_rules! input_port_from {
    () => {
        "input_ports t JOIN input_port_types pt ON pt.uuid = t.input_port_type_uuid"
    };
}

/// Upstream's `OutputPortSerializer` (with the port type's name and the creation time).
macro_rules! output_port_json {
    () => {
        concat!(
            "json_build_object('url', ",
            sql_link!("outputport", "t.uuid"),
            ", 'uuid', t.uuid, \
        'workflow_job', ",
            sql_link!("workflowjob", "t.workflow_job_uuid"),
            ", \
        'output_port_type', ",
            sql_link!("outputporttype", "t.output_port_type_uuid"),
            ", \
        'output_port_type_name', pt.name, 'label', t.label, 'extern', t.extern, \
        'connections', ARRAY(SELECT ",
            sql_link!("connection", "c.uuid"),
            " FROM connections c \
            WHERE c.output_port_uuid = t.uuid ORDER BY c.created), \
        'created', t.created)"
        )
    };
}
macro_rules! output_port_from {
    () => {
        "output_ports t JOIN output_port_types pt ON pt.uuid = t.output_port_type_uuid"
    };
}

/// Upstream's `ConnectionSerializer` (with both workflow jobs and the workflow).
macro_rules! connection_json {
    () => {
        concat!(
            "json_build_object('url', ",
            sql_link!("connection", "t.uuid"),
            ", 'uuid', t.uuid, \
        'input_port', ",
            sql_link!("inputport", "t.input_port_uuid"),
            ", \
        'output_port', ",
            sql_link!("outputport", "t.output_port_uuid"),
            ", \
        'offset_x', t.offset_x, 'offset_y', t.offset_y, \
        'input_workflow_job', ",
            sql_link!("workflowjob", "ip.workflow_job_uuid"),
            ", \
        'output_workflow_job', ",
            sql_link!("workflowjob", "op.workflow_job_uuid"),
            ", \
        'workflow', ",
            sql_link!("workflow", "ij.workflow_uuid"),
            ")"
        )
    };
}
macro_rules! connection_from {
    () => {
        "connections t JOIN input_ports ip ON ip.uuid = t.input_port_uuid \
        JOIN output_ports op ON op.uuid = t.output_port_uuid \
        JOIN workflow_jobs ij ON ij.uuid = ip.workflow_job_uuid"
    };
}

/// Upstream's `WorkflowJobSerializer`: its ports nested whole.
macro_rules! workflow_job_json {
    () => {
        concat!(
            concat!(
                "json_build_object('url', ",
                sql_link!("workflowjob", "t.uuid"),
                ", 'uuid', t.uuid, \
        'workflow', ",
                sql_link!("workflow", "t.workflow_uuid"),
                ", \
        'job', ",
                sql_link!("job", "t.job_uuid"),
                ", 'job_name', jb.name, \
        'job_description', jb.description, 'job_settings', t.job_settings, 'name', t.name, \
        'group', CASE WHEN t.group_uuid IS NULL THEN NULL ELSE ",
                sql_link!("workflowjobgroup", "t.group_uuid"),
                " END, \
        'appearance', t.appearance, \
        'input_ports', ARRAY(SELECT "
            ),
            input_port_json!(),
            " FROM ",
            input_port_from!(),
            " WHERE t.workflow_job_uuid = wj.id ORDER BY t.created, t.uuid), \
        'output_ports', ARRAY(SELECT ",
            output_port_json!(),
            " FROM ",
            output_port_from!(),
            " WHERE t.workflow_job_uuid = wj.id ORDER BY t.created, t.uuid), \
        'created', t.created, 'updated', t.updated)"
        )
    };
}
macro_rules! workflow_job_from {
    () => {
        "workflow_jobs t JOIN jobs jb ON jb.uuid = t.job_uuid CROSS JOIN LATERAL (SELECT t.uuid AS id) wj"
    };
}

/// Users' projects: creator, admins, workers.
pub static PROJECT: Model = Model {
    route: "project",
    plural: "projects",
    title: "Project",
    from: "projects t",
    json: concat!(
        "json_build_object('url', ",
        sql_link!("project", "t.uuid"),
        ", 'uuid', t.uuid, \
        'name', t.name, 'description', t.description, \
        'creator', (SELECT u.username FROM users u WHERE u.id = t.creator_id), \
        'created', t.created, 'updated', t.updated, \
        'workflow_count', (SELECT count(*) FROM workflows w WHERE w.project_uuid = t.uuid), \
        'resource_count', (SELECT count(*) FROM resources r WHERE r.project_uuid = t.uuid), \
        'resourcelist_count', (SELECT count(*) FROM resource_lists r WHERE r.project_uuid = t.uuid), \
        'admins_url', b.base || 'project/' || t.uuid || '/admins/', \
        'workers_url', b.base || 'project/' || t.uuid || '/workers/')"
    ),
    project: Some("t.uuid"),
    owner: None,
    filters: &PROJECT_FILTERS,
    ordering: &[
        ("name", "t.name"),
        ("created", "t.created"),
        ("updated", "t.updated"),
        ("creator", "t.creator_id"),
        ("description", "t.description"),
    ],
    default_order: "t.created DESC, t.uuid",
    unpaginated_ok: false,
    detail_json: None,
};
const PROJECT_FILTERS: [Field; 6] = concat(
    common_time_filters!(),
    [
        field("creator", "t.creator_id", Kind::UserRef, IN),
        field("name", "t.name", Kind::Text, TEXT),
        field("description", "t.description", Kind::Text, TEXT),
    ],
);

/// Users. Everyone sees themselves; project co-members see each other; superusers see all.
pub static USER: Model = Model {
    route: "user",
    plural: "users",
    title: "User",
    from: "users t",
    json: concat!(
        "json_build_object('url', ",
        sql_link!("user", "t.id"),
        ", 'pk', t.id, \
        'username', t.username, 'email', t.email, 'first_name', t.first_name, \
        'last_name', t.last_name, 'is_active', t.is_active, 'is_staff', t.is_staff, \
        'is_superuser', t.is_superuser, \
        'user_preference', (SELECT ",
        sql_link!("userpreference", "p.uuid"),
        " FROM user_preferences p WHERE p.user_id = t.id))"
    ),
    project: None,
    owner: Some(
        "t.id = $user OR t.id IN (SELECT a.user_id FROM project_access a WHERE a.project_uuid IN \
         (SELECT project_uuid FROM project_access WHERE user_id = $user))",
    ),
    filters: &[
        field("username", "t.username", Kind::Text, TEXT),
        field("email", "t.email", Kind::Text, TEXT),
    ],
    ordering: &[("username", "t.username"), ("email", "t.email")],
    default_order: "t.id",
    unpaginated_ok: true,
    detail_json: None,
};

/// A user's preferences.
pub static USER_PREFERENCE: Model = Model {
    route: "userpreference",
    plural: "userpreferences",
    title: "User Preference",
    from: "user_preferences t",
    json: concat!(
        "json_build_object('url', ",
        sql_link!("userpreference", "t.uuid"),
        ", 'uuid', t.uuid, \
        'user', ",
        sql_link!("user", "t.user_id"),
        ", 'send_email', t.send_email)"
    ),
    project: None,
    owner: Some("t.user_id = $user"),
    filters: &[field("uuid", "t.uuid", Kind::Uuid, IN)],
    ordering: &[],
    default_order: "t.uuid",
    unpaginated_ok: false,
    detail_json: None,
};

/// Resource types, registered from code; public.
pub static RESOURCE_TYPE: Model = Model {
    route: "resourcetype",
    plural: "resourcetypes",
    title: "Resource Type",
    from: "resource_types t",
    json: concat!(
        "json_build_object('url', ",
        sql_link!("resourcetype", "t.uuid"),
        ", 'uuid', t.uuid, \
        'mimetype', t.mimetype, 'description', t.description, 'extension', t.extension)"
    ),
    project: None,
    owner: None,
    filters: &[
        field("uuid", "t.uuid", Kind::Uuid, IN),
        field("mimetype", "t.mimetype", Kind::Text, TEXT),
        field("extension", "t.extension", Kind::Text, TEXT),
        field("description", "t.description", Kind::Text, TEXT),
    ],
    ordering: &[("mimetype", "t.mimetype"), ("extension", "t.extension")],
    default_order: "t.mimetype",
    unpaginated_ok: true,
    detail_json: None,
};

/// Resource labels (global, as upstream).
pub static LABEL: Model = Model {
    route: "label",
    plural: "labels",
    title: "Resource Label",
    from: "resource_labels t",
    json: label_json!(),
    project: None,
    owner: None,
    filters: &[
        field("uuid", "t.uuid", Kind::Uuid, IN),
        field("name", "t.name", Kind::Text, TEXT),
    ],
    ordering: &[("name", "t.name")],
    default_order: "t.name",
    unpaginated_ok: true,
    detail_json: None,
};

/// Jobs from the catalogue the workers register; public.
pub static JOB: Model = Model {
    route: "job",
    plural: "jobs",
    title: "Job",
    from: "jobs t",
    json: concat!(
        "json_build_object('url', ",
        sql_link!("job", "t.uuid"),
        ", 'uuid', t.uuid, \
        'name', t.name, 'author', t.author, 'category', t.category, 'description', t.description, \
        'settings', t.settings, 'job_queue', t.job_queue, 'enabled', t.enabled, \
        'interactive', t.interactive, \
        'input_port_types', ARRAY(SELECT json_build_object('url', ",
        sql_link!("inputporttype", "p.uuid"),
        ", \
            'uuid', p.uuid, 'name', p.name, 'minimum', p.minimum, 'maximum', p.maximum, 'is_list', p.is_list, \
            'resource_types', ARRAY(SELECT ",
        sql_link!("resourcetype", "l.resource_type_uuid"),
        " \
                FROM input_port_type_resource_types l WHERE l.port_type_uuid = p.uuid ORDER BY l.resource_type_uuid)) \
            FROM input_port_types p WHERE p.job_uuid = t.uuid ORDER BY p.name), \
        'output_port_types', ARRAY(SELECT json_build_object('url', ",
        sql_link!("outputporttype", "p.uuid"),
        ", \
            'uuid', p.uuid, 'name', p.name, 'minimum', p.minimum, 'maximum', p.maximum, 'is_list', p.is_list, \
            'resource_types', ARRAY(SELECT ",
        sql_link!("resourcetype", "l.resource_type_uuid"),
        " \
                FROM output_port_type_resource_types l WHERE l.port_type_uuid = p.uuid ORDER BY l.resource_type_uuid)) \
            FROM output_port_types p WHERE p.job_uuid = t.uuid ORDER BY p.name))"
    ),
    project: None,
    owner: None,
    filters: &[
        field("uuid", "t.uuid", Kind::Uuid, IN),
        field("name", "t.name", Kind::Text, TEXT),
        field("category", "t.category", Kind::Text, TEXT),
        field("interactive", "t.interactive", Kind::Bool, &[]),
        field("enabled", "t.enabled", Kind::Bool, &[]),
        field("job_queue", "t.job_queue", Kind::Text, IN),
    ],
    ordering: &[("name", "t.name"), ("category", "t.category")],
    default_order: "t.category, t.name",
    unpaginated_ok: true,
    detail_json: None,
};

/// Input port types of jobs; public.
pub static INPUT_PORT_TYPE: Model = Model {
    route: "inputporttype",
    plural: "inputporttypes",
    title: "Input Port Type",
    from: "input_port_types t",
    json: const_format_port_type(true),
    project: None,
    owner: None,
    filters: &PORT_TYPE_FILTERS,
    ordering: &[("name", "t.name")],
    default_order: "t.name, t.uuid",
    unpaginated_ok: true,
    detail_json: None,
};

/// Output port types of jobs; public.
pub static OUTPUT_PORT_TYPE: Model = Model {
    route: "outputporttype",
    plural: "outputporttypes",
    title: "Output Port Type",
    from: "output_port_types t",
    json: const_format_port_type(false),
    project: None,
    owner: None,
    filters: &PORT_TYPE_FILTERS,
    ordering: &[("name", "t.name")],
    default_order: "t.name, t.uuid",
    unpaginated_ok: true,
    detail_json: None,
};

const PORT_TYPE_FILTERS: [Field; 5] = [
    field("uuid", "t.uuid", Kind::Uuid, IN),
    field("job", "t.job_uuid", Kind::Ref("job"), IN),
    field("name", "t.name", Kind::Text, TEXT),
    field("minimum", "t.minimum", Kind::Int, CMP),
    field("maximum", "t.maximum", Kind::Int, CMP),
];

const fn const_format_port_type(input: bool) -> &'static str {
    // The two representations differ only in route and link table.
    if input {
        concat!(
            "json_build_object('url', ",
            sql_link!("inputporttype", "t.uuid"),
            ", \
    'uuid', t.uuid, 'job', ",
            sql_link!("job", "t.job_uuid"),
            ", 'name', t.name, \
    'minimum', t.minimum, 'maximum', t.maximum, 'is_list', t.is_list, \
    'resource_types', ARRAY(SELECT ",
            sql_link!("resourcetype", "l.resource_type_uuid"),
            " \
        FROM input_port_type_resource_types l WHERE l.port_type_uuid = t.uuid ORDER BY l.resource_type_uuid))"
        )
    } else {
        concat!(
            "json_build_object('url', ",
            sql_link!("outputporttype", "t.uuid"),
            ", \
    'uuid', t.uuid, 'job', ",
            sql_link!("job", "t.job_uuid"),
            ", 'name', t.name, \
    'minimum', t.minimum, 'maximum', t.maximum, 'is_list', t.is_list, \
    'resource_types', ARRAY(SELECT ",
            sql_link!("resourcetype", "l.resource_type_uuid"),
            " \
        FROM output_port_type_resource_types l WHERE l.port_type_uuid = t.uuid ORDER BY l.resource_type_uuid))"
        )
    }
}

/// Workflows.
pub static WORKFLOW: Model = Model {
    route: "workflow",
    plural: "workflows",
    title: "Workflow",
    from: concat!("workflows t", workflow_lateral!()),
    json: concat!(
        "json_build_object('url', ",
        sql_link!("workflow", "t.uuid"),
        ", 'uuid', t.uuid, \
        'name', t.name, 'project', ",
        sql_link!("project", "t.project_uuid"),
        ", \
        'description', t.description, \
        'creator', (SELECT u.username FROM users u WHERE u.id = t.creator_id), \
        'valid', t.valid, 'created', t.created, 'updated', t.updated)"
    ),
    project: Some("t.project_uuid"),
    owner: None,
    filters: &WORKFLOW_FILTERS,
    ordering: &[
        ("name", "t.name"),
        ("created", "t.created"),
        ("updated", "t.updated"),
        ("valid", "t.valid"),
        ("project", "t.project_uuid"),
    ],
    default_order: "t.created DESC, t.uuid",
    unpaginated_ok: false,
    // Upstream's `WorkflowSerializer`: the list's fields, then the graph nested whole (workflow
    // jobs with their ports, the extern ports, the connections) and the runs as hyperlinks.
    detail_json: Some(concat!(
        concat!(
            "json_build_object('url', ",
            sql_link!("workflow", "t.uuid"),
            ", 'uuid', t.uuid, \
        'name', t.name, 'project', ",
            sql_link!("project", "t.project_uuid"),
            ", \
        'description', t.description, \
        'creator', (SELECT u.username FROM users u WHERE u.id = t.creator_id), \
        'valid', t.valid, 'created', t.created, 'updated', t.updated, \
        'workflow_jobs', ARRAY(SELECT "
        ),
        workflow_job_json!(),
        " FROM ",
        workflow_job_from!(),
        concat!(
            " WHERE t.workflow_uuid = wf.id ORDER BY t.created, t.uuid), \
        'workflow_runs', ARRAY(SELECT ",
            sql_link!("workflowrun", "r.uuid"),
            " FROM workflow_runs r \
            WHERE r.workflow_uuid = wf.id ORDER BY r.created, r.uuid), \
        'workflow_input_ports', ARRAY(SELECT "
        ),
        input_port_json!(),
        " FROM ",
        input_port_from!(),
        " JOIN workflow_jobs j ON j.uuid = t.workflow_job_uuid WHERE j.workflow_uuid = wf.id AND t.extern \
            ORDER BY t.created, t.uuid), \
        'workflow_output_ports', ARRAY(SELECT ",
        output_port_json!(),
        " FROM ",
        output_port_from!(),
        " JOIN workflow_jobs j ON j.uuid = t.workflow_job_uuid WHERE j.workflow_uuid = wf.id AND t.extern \
            ORDER BY t.created, t.uuid), \
        'workflow_connections', ARRAY(SELECT ",
        connection_json!(),
        " FROM ",
        connection_from!(),
        " WHERE ij.workflow_uuid = wf.id ORDER BY t.created, t.uuid))"
    )),
};
const WORKFLOW_FILTERS: [Field; 9] = concat(
    common_time_filters!(),
    [
        field("project", "t.project_uuid", Kind::Ref("project"), IN),
        field("creator", "t.creator_id", Kind::UserRef, IN),
        field(
            "creator__username",
            "(SELECT u.username FROM users u WHERE u.id = t.creator_id)",
            Kind::Text,
            TEXT,
        ),
        field("valid", "t.valid", Kind::Bool, &[]),
        field("name", "t.name", Kind::Text, TEXT),
        field("description", "t.description", Kind::Text, TEXT),
    ],
);

const WFJ_PROJECT: &str = "(SELECT w.project_uuid FROM workflows w WHERE w.uuid = t.workflow_uuid)";

/// Workflow jobs.
pub static WORKFLOW_JOB: Model = Model {
    route: "workflowjob",
    plural: "workflowjobs",
    title: "Workflow Job",
    from: workflow_job_from!(),
    json: workflow_job_json!(),
    project: Some(WFJ_PROJECT),
    owner: None,
    filters: &WORKFLOW_JOB_FILTERS,
    ordering: &[
        ("name", "t.name"),
        ("created", "t.created"),
        ("updated", "t.updated"),
    ],
    default_order: "t.created, t.uuid",
    unpaginated_ok: false,
    detail_json: None,
};
const WORKFLOW_JOB_FILTERS: [Field; 7] = concat(
    common_time_filters!(),
    [
        field("workflow", "t.workflow_uuid", Kind::Ref("workflow"), IN),
        field("job", "t.job_uuid", Kind::Ref("job"), IN),
        field("group", "t.group_uuid", Kind::Ref("workflowjobgroup"), NULL),
        field("name", "t.name", Kind::Text, TEXT),
    ],
);

/// Workflow job groups.
pub static WORKFLOW_JOB_GROUP: Model = Model {
    route: "workflowjobgroup",
    plural: "workflowjobgroups",
    title: "Workflow Job Group",
    from: "workflow_job_groups t",
    json: concat!(
        "json_build_object('url', ",
        sql_link!("workflowjobgroup", "t.uuid"),
        ", 'uuid', t.uuid, \
        'name', t.name, 'description', t.description, \
        'workflow', ",
        sql_link!("workflow", "t.workflow_uuid"),
        ", \
        'origin', CASE WHEN t.origin_uuid IS NULL THEN NULL ELSE ",
        sql_link!("workflow", "t.origin_uuid"),
        " END, \
        'appearance', t.appearance, \
        'workflow_jobs', ARRAY(SELECT ",
        sql_link!("workflowjob", "j.uuid"),
        " FROM workflow_jobs j \
            WHERE j.group_uuid = t.uuid ORDER BY j.created, j.uuid), \
        'created', t.created, 'updated', t.updated)"
    ),
    project: Some(WFJ_PROJECT),
    owner: None,
    filters: &WFJ_GROUP_FILTERS,
    ordering: &[("name", "t.name"), ("created", "t.created")],
    default_order: "t.created, t.uuid",
    unpaginated_ok: false,
    detail_json: None,
};
const WFJ_GROUP_FILTERS: [Field; 7] = concat(
    common_time_filters!(),
    [
        field("workflow", "t.workflow_uuid", Kind::Ref("workflow"), IN),
        field("origin", "t.origin_uuid", Kind::Ref("workflow"), NULL),
        field("name", "t.name", Kind::Text, TEXT),
        field("project", WFJ_PROJECT, Kind::Ref("project"), &[]),
    ],
);

const PORT_PROJECT: &str = "(SELECT w.project_uuid FROM workflow_jobs j JOIN workflows w ON w.uuid = j.workflow_uuid WHERE j.uuid = t.workflow_job_uuid)";
const PORT_WORKFLOW: &str =
    "(SELECT j.workflow_uuid FROM workflow_jobs j WHERE j.uuid = t.workflow_job_uuid)";

/// Input ports of workflow jobs.
pub static INPUT_PORT: Model = Model {
    route: "inputport",
    plural: "inputports",
    title: "Input Port",
    from: input_port_from!(),
    json: input_port_json!(),
    project: Some(PORT_PROJECT),
    owner: None,
    filters: &INPUT_PORT_FILTERS,
    ordering: &[("label", "t.label"), ("created", "t.created")],
    default_order: "t.created, t.uuid",
    unpaginated_ok: false,
    detail_json: None,
};
const INPUT_PORT_FILTERS: [Field; 7] = [
    field("uuid", "t.uuid", Kind::Uuid, IN),
    field("extern", "t.extern", Kind::Bool, &[]),
    field(
        "input_port_type",
        "t.input_port_type_uuid",
        Kind::Ref("inputporttype"),
        IN,
    ),
    field(
        "workflow_job",
        "t.workflow_job_uuid",
        Kind::Ref("workflowjob"),
        IN,
    ),
    field("label", "t.label", Kind::Text, TEXT),
    field("workflow", PORT_WORKFLOW, Kind::Ref("workflow"), &[]),
    field(
        "has_connections",
        "EXISTS (SELECT 1 FROM connections c WHERE c.input_port_uuid = t.uuid)",
        Kind::Bool,
        &[],
    ),
];

/// Output ports of workflow jobs.
pub static OUTPUT_PORT: Model = Model {
    route: "outputport",
    plural: "outputports",
    title: "Output Port",
    from: output_port_from!(),
    json: output_port_json!(),
    project: Some(PORT_PROJECT),
    owner: None,
    filters: &OUTPUT_PORT_FILTERS,
    ordering: &[("label", "t.label"), ("created", "t.created")],
    default_order: "t.created, t.uuid",
    unpaginated_ok: false,
    detail_json: None,
};
const OUTPUT_PORT_FILTERS: [Field; 6] = [
    field("uuid", "t.uuid", Kind::Uuid, IN),
    field("extern", "t.extern", Kind::Bool, &[]),
    field(
        "output_port_type",
        "t.output_port_type_uuid",
        Kind::Ref("outputporttype"),
        IN,
    ),
    field(
        "workflow_job",
        "t.workflow_job_uuid",
        Kind::Ref("workflowjob"),
        IN,
    ),
    field("label", "t.label", Kind::Text, TEXT),
    field("workflow", PORT_WORKFLOW, Kind::Ref("workflow"), &[]),
];

/// Connections between an output port and an input port.
pub static CONNECTION: Model = Model {
    route: "connection",
    plural: "connections",
    title: "Connection",
    from: connection_from!(),
    json: connection_json!(),
    project: Some("(SELECT w.project_uuid FROM workflows w WHERE w.uuid = ij.workflow_uuid)"),
    owner: None,
    filters: &[
        field("uuid", "t.uuid", Kind::Uuid, IN),
        field(
            "input_port",
            "t.input_port_uuid",
            Kind::Ref("inputport"),
            IN,
        ),
        field(
            "output_port",
            "t.output_port_uuid",
            Kind::Ref("outputport"),
            IN,
        ),
        field(
            "input_workflow_job",
            "ip.workflow_job_uuid",
            Kind::Ref("workflowjob"),
            IN,
        ),
        field(
            "output_workflow_job",
            "op.workflow_job_uuid",
            Kind::Ref("workflowjob"),
            IN,
        ),
        field("workflow", "ij.workflow_uuid", Kind::Ref("workflow"), IN),
    ],
    ordering: &[("created", "t.created")],
    default_order: "t.created, t.uuid",
    unpaginated_ok: false,
    detail_json: None,
};

/// Resources (files in a project).
pub static RESOURCE: Model = Model {
    route: "resource",
    plural: "resources",
    title: "Resource",
    from: "resources t JOIN resource_types rt ON rt.uuid = t.resource_type_uuid \
        CROSS JOIN LATERAL (SELECT t.uuid AS id) res",
    // Upstream's `NestedLabelsResourceSerializer`: the creator's username, the labels nested
    // whole.
    json: concat!(
        concat!(
            "json_build_object('url', ",
            sql_link!("resource", "t.uuid"),
            ", 'uuid', t.uuid, \
        'name', t.name, 'description', t.description, \
        'project', ",
            sql_link!("project", "t.project_uuid"),
            ", \
        'resource_type', ",
            sql_link!("resourcetype", "t.resource_type_uuid"),
            ", \
        'resource_type_mimetype', rt.mimetype, \
        'resource_file', CASE WHEN t.resource_file IS NULL THEN '' ELSE regexp_replace(b.base, '/api/$', '/uploads/') || t.resource_file END, \
        'processing_status', t.processing_status, 'error_summary', t.error_summary, \
        'error_details', t.error_details, \
        'creator', (SELECT u.username FROM users u WHERE u.id = t.creator_id), \
        'origin', CASE WHEN t.origin_uuid IS NULL THEN NULL ELSE ",
            sql_link!("output", "t.origin_uuid"),
            " END, \
        'labels', ARRAY(SELECT "
        ),
        label_json!(),
        " FROM resource_labels t JOIN resource_resource_labels l ON l.label_uuid = t.uuid \
            WHERE l.resource_uuid = res.id ORDER BY t.name, t.uuid), \
        'label_names', (SELECT coalesce(string_agg(rl.name, ',' ORDER BY rl.name), '') FROM resource_resource_labels l \
            JOIN resource_labels rl ON rl.uuid = l.label_uuid WHERE l.resource_uuid = t.uuid), \
        'viewer_url', NULL, 'small_thumb', NULL, 'medium_thumb', NULL, 'large_thumb', NULL, \
        'created', t.created, 'updated', t.updated)"
    ),
    project: Some("t.project_uuid"),
    owner: None,
    filters: &RESOURCE_FILTERS,
    ordering: &[
        ("name", "t.name"),
        ("created", "t.created"),
        ("updated", "t.updated"),
        ("resource_type", "rt.mimetype"),
        ("processing_status", "t.processing_status"),
    ],
    default_order: "t.created, t.uuid",
    unpaginated_ok: true,
    detail_json: None,
};
const RESOURCE_FILTERS: [Field; 16] = concat(
    common_time_filters!(),
    [
        field("project", "t.project_uuid", Kind::Ref("project"), IN),
        field("origin", "t.origin_uuid", Kind::Ref("output"), NULL),
        field("creator", "t.creator_id", Kind::UserRef, IN),
        field(
            "creator__username",
            "(SELECT u.username FROM users u WHERE u.id = t.creator_id)",
            Kind::Text,
            TEXT,
        ),
        field(
            "processing_status",
            "t.processing_status",
            Kind::Int,
            &["in", "isnull"],
        ),
        field(
            "resource_type",
            "t.resource_type_uuid",
            Kind::Ref("resourcetype"),
            IN,
        ),
        field("name", "t.name", Kind::Text, TEXT),
        field("description", "t.description", Kind::Text, TEXT),
        field("uploaded", "t.origin_uuid IS NULL", Kind::Bool, &[]),
        field("resource_type__mimetype", "rt.mimetype", Kind::Text, TEXT),
        // Repeated `labels=<uuid>` must all be there (django-filter's conjoined
        // `ModelMultipleChoiceFilter`).
        field(
            "labels",
            "t.uuid IN (SELECT l.resource_uuid FROM resource_resource_labels l WHERE l.label_uuid = {})",
            Kind::Ref("label"),
            &[],
        ),
        // Upstream's `result_of_workflow_run`: produced by a run job of that run and not used
        // by another job of the same run, unless by a Labeler.
        field(
            "result_of_workflow_run",
            "(SELECT j.workflow_run_uuid FROM outputs o JOIN run_jobs j ON j.uuid = o.run_job_uuid \
                WHERE o.uuid = t.origin_uuid AND (NOT EXISTS (SELECT 1 FROM inputs i \
                JOIN run_jobs ij ON ij.uuid = i.run_job_uuid WHERE i.resource_uuid = t.uuid \
                AND ij.workflow_run_uuid = j.workflow_run_uuid) OR EXISTS (SELECT 1 FROM inputs i \
                JOIN run_jobs ij ON ij.uuid = i.run_job_uuid WHERE i.resource_uuid = t.uuid \
                AND ij.job_name = 'Labeler')))",
            Kind::Ref("workflowrun"),
            &[],
        ),
        // Upstream's `resource_list` (its URL or uuid): the list's resources.
        field(
            "resource_list",
            "t.uuid IN (SELECT m.resource_uuid FROM resource_list_members m WHERE m.resource_list_uuid = {})",
            Kind::Ref("resourcelist"),
            &[],
        ),
    ],
);

/// Resource lists.
pub static RESOURCE_LIST: Model = Model {
    route: "resourcelist",
    plural: "resourcelists",
    title: "Resource List",
    from: "resource_lists t",
    json: concat!(
        "json_build_object('url', ",
        sql_link!("resourcelist", "t.uuid"),
        ", 'uuid', t.uuid, \
        'name', t.name, 'description', t.description, \
        'project', ",
        sql_link!("project", "t.project_uuid"),
        ", \
        'resource_type', CASE WHEN t.resource_type_uuid IS NULL THEN NULL ELSE ",
        sql_link!("resourcetype", "t.resource_type_uuid"),
        " END, \
        'resources', ARRAY(SELECT ",
        sql_link!("resource", "m.resource_uuid"),
        " FROM resource_list_members m \
            WHERE m.resource_list_uuid = t.uuid ORDER BY m.position), \
        'origin', CASE WHEN t.origin_uuid IS NULL THEN NULL ELSE ",
        sql_link!("output", "t.origin_uuid"),
        " END, \
        'creator', (SELECT u.username FROM users u WHERE u.id = t.creator_id), \
        'created', t.created, 'updated', t.updated)"
    ),
    project: Some("t.project_uuid"),
    owner: None,
    filters: &RESOURCE_LIST_FILTERS,
    ordering: &[
        ("name", "t.name"),
        ("created", "t.created"),
        ("updated", "t.updated"),
    ],
    default_order: "t.created, t.uuid",
    unpaginated_ok: false,
    detail_json: None,
};
const RESOURCE_LIST_FILTERS: [Field; 6] = concat(
    common_time_filters!(),
    [
        field("project", "t.project_uuid", Kind::Ref("project"), IN),
        field("name", "t.name", Kind::Text, TEXT),
        field("origin", "t.origin_uuid", Kind::Ref("output"), NULL),
    ],
);

/// Workflow runs.
pub static WORKFLOW_RUN: Model = Model {
    route: "workflowrun",
    plural: "workflowruns",
    title: "Workflow Run",
    from: "workflow_runs t",
    json: concat!(
        "json_build_object('url', ",
        sql_link!("workflowrun", "t.uuid"),
        ", 'uuid', t.uuid, \
        'project', ",
        sql_link!("project", "t.project_uuid"),
        ", \
        'workflow', CASE WHEN t.workflow_uuid IS NULL THEN NULL ELSE ",
        sql_link!("workflow", "t.workflow_uuid"),
        " END, \
        'creator', (SELECT u.username FROM users u WHERE u.id = t.creator_id), \
        'status', t.status, 'name', t.name, 'description', t.description, \
        'error_summary', t.error_summary, 'error_details', t.error_details, \
        'last_redone_runjob_tree', CASE WHEN t.last_redone_runjob_tree IS NULL THEN NULL ELSE ",
        sql_link!("runjob", "t.last_redone_runjob_tree"),
        " END, \
        'run_jobs', ARRAY(SELECT ",
        sql_link!("runjob", "r.uuid"),
        " FROM run_jobs r \
            WHERE r.workflow_run_uuid = t.uuid ORDER BY r.created, r.uuid), \
        'created', t.created, 'updated', t.updated)"
    ),
    project: Some("t.project_uuid"),
    owner: None,
    filters: &WORKFLOW_RUN_FILTERS,
    ordering: &[
        ("name", "t.name"),
        ("created", "t.created"),
        ("updated", "t.updated"),
        ("status", "t.status"),
    ],
    default_order: "t.created DESC, t.uuid",
    unpaginated_ok: false,
    detail_json: None,
};
const WORKFLOW_RUN_FILTERS: [Field; 10] = concat(
    common_time_filters!(),
    [
        field("status", "t.status", Kind::Int, IN),
        field("workflow", "t.workflow_uuid", Kind::Ref("workflow"), IN),
        field("project", "t.project_uuid", Kind::Ref("project"), IN),
        field("creator", "t.creator_id", Kind::UserRef, IN),
        field(
            "creator__username",
            "(SELECT u.username FROM users u WHERE u.id = t.creator_id)",
            Kind::Text,
            TEXT,
        ),
        field("name", "t.name", Kind::Text, TEXT),
        field("description", "t.description", Kind::Text, TEXT),
    ],
);

const RUN_PROJECT: &str =
    "(SELECT r.project_uuid FROM workflow_runs r WHERE r.uuid = t.workflow_run_uuid)";

/// Run jobs.
pub static RUN_JOB: Model = Model {
    route: "runjob",
    plural: "runjobs",
    title: "Run Job",
    from: "run_jobs t",
    json: concat!(
        "json_build_object('url', ",
        sql_link!("runjob", "t.uuid"),
        ", 'uuid', t.uuid, \
        'workflow_run', ",
        sql_link!("workflowrun", "t.workflow_run_uuid"),
        ", \
        'workflow_job', CASE WHEN t.workflow_job_uuid IS NULL THEN NULL ELSE ",
        sql_link!("workflowjob", "t.workflow_job_uuid"),
        " END, \
        'workflow_job_uuid', t.workflow_job_hex, 'resource_uuid', t.resource_hex, \
        'job', (SELECT ",
        sql_link!("job", "j.uuid"),
        " FROM jobs j WHERE j.name = t.job_name), \
        'project', b.base || 'project/' || (SELECT r.project_uuid FROM workflow_runs r WHERE r.uuid = t.workflow_run_uuid) || '/', \
        'job_name', t.job_name, 'job_queue', t.job_queue, 'job_settings', t.job_settings, \
        'status', t.status, 'celery_task_id', t.celery_task_id, \
        'error_summary', t.error_summary, 'error_details', t.error_details, \
        'attempts', t.attempts, 'interactive_timings', t.interactive_timings, \
        'interactive_acquire', CASE WHEN t.status = rodan_status('WAITING_FOR_INPUT') THEN b.base || 'interactive/' || t.uuid || '/acquire/' ELSE NULL END, \
        'working_user', CASE WHEN t.working_user_id IS NULL THEN NULL ELSE ",
        sql_link!("user", "t.working_user_id"),
        " END, \
        'working_user_expiry', t.working_user_expiry, \
        'inputs', ARRAY(SELECT ",
        sql_link!("input", "i.uuid"),
        " FROM inputs i WHERE i.run_job_uuid = t.uuid ORDER BY i.created, i.uuid), \
        'outputs', ARRAY(SELECT ",
        sql_link!("output", "o.uuid"),
        " FROM outputs o WHERE o.run_job_uuid = t.uuid ORDER BY o.created, o.uuid), \
        'created', t.created, 'updated', t.updated)"
    ),
    project: Some(RUN_PROJECT),
    owner: None,
    filters: &RUN_JOB_FILTERS,
    ordering: &[
        ("created", "t.created"),
        ("updated", "t.updated"),
        ("status", "t.status"),
        ("job_name", "t.job_name"),
    ],
    default_order: "t.created, t.uuid",
    unpaginated_ok: false,
    detail_json: None,
};
const RUN_JOB_FILTERS: [Field; 10] = concat(
    common_time_filters!(),
    [
        field("status", "t.status", Kind::Int, IN),
        field(
            "workflow_run",
            "t.workflow_run_uuid",
            Kind::Ref("workflowrun"),
            IN,
        ),
        field("workflow_job_uuid", "t.workflow_job_hex", Kind::Text, &[]),
        field("resource_uuid", "t.resource_hex", Kind::Text, NULL),
        field("job_name", "t.job_name", Kind::Text, TEXT),
        field("project", RUN_PROJECT, Kind::Ref("project"), &[]),
        field("job_queue", "t.job_queue", Kind::Text, IN),
    ],
);

const RJ_PROJECT: &str = "(SELECT r.project_uuid FROM run_jobs j JOIN workflow_runs r ON r.uuid = j.workflow_run_uuid WHERE j.uuid = t.run_job_uuid)";

/// A run job's input or output (upstream's `InputSerializer` and `OutputSerializer`): the same
/// columns, named for the side of its port.
macro_rules! run_job_side {
    ($route:literal, $plural:literal, $title:literal, $port:literal, $port_route:literal, $port_id:literal, $type_name:literal) => {
        Model {
            route: $route,
            plural: $plural,
            title: $title,
            from: concat!($plural, " t"),
            json: concat!(
                "json_build_object('url', ",
                sql_link!($route, "t.uuid"),
                ", 'uuid', t.uuid, '",
                $port,
                "', CASE WHEN ",
                $port_id,
                " IS NULL THEN NULL ELSE ",
                sql_link!($port_route, $port_id),
                " END, '",
                $type_name,
                "', t.",
                $type_name,
                ", 'resource', CASE WHEN t.resource_uuid IS NULL THEN NULL ELSE ",
                sql_link!("resource", "t.resource_uuid"),
                " END, \
                'resource_list', CASE WHEN t.resource_list_uuid IS NULL THEN NULL ELSE ",
                sql_link!("resourcelist", "t.resource_list_uuid"),
                " END, 'run_job', ",
                sql_link!("runjob", "t.run_job_uuid"),
                ", 'created', t.created)"
            ),
            project: Some(RJ_PROJECT),
            owner: None,
            filters: &[
                field("uuid", "t.uuid", Kind::Uuid, IN),
                field("run_job", "t.run_job_uuid", Kind::Ref("runjob"), IN),
                field("resource", "t.resource_uuid", Kind::Ref("resource"), IN),
                field($port, $port_id, Kind::Ref($port_route), IN),
            ],
            ordering: &[("created", "t.created")],
            default_order: "t.created, t.uuid",
            unpaginated_ok: false,
            detail_json: None,
        }
    };
}

/// Inputs of run jobs.
pub static INPUT: Model = run_job_side!(
    "input",
    "inputs",
    "Input",
    "input_port",
    "inputport",
    "t.input_port_uuid",
    "input_port_type_name"
);

/// Outputs of run jobs.
pub static OUTPUT: Model = run_job_side!(
    "output",
    "outputs",
    "Output",
    "output_port",
    "outputport",
    "t.output_port_uuid",
    "output_port_type_name"
);

/// Results packages (zips of a run's outputs).
pub static RESULTS_PACKAGE: Model = Model {
    route: "resultspackage",
    plural: "resultspackages",
    title: "Results Package",
    from: "results_packages t",
    json: concat!(
        "json_build_object('url', ",
        sql_link!("resultspackage", "t.uuid"),
        ", 'uuid', t.uuid, \
        'status', t.status, 'percent_completed', t.percent_completed, \
        'workflow_run', ",
        sql_link!("workflowrun", "t.workflow_run_uuid"),
        ", \
        'packaging_mode', t.packaging_mode, \
        'creator', (SELECT u.username FROM users u WHERE u.id = t.creator_id), \
        'celery_task_id', t.celery_task_id, 'error_summary', t.error_summary, \
        'error_details', t.error_details, 'created', t.created, 'updated', t.updated, \
        'expiry_time', t.expiry_time, \
        'package_url', CASE WHEN t.status = rodan_status('FINISHED') THEN regexp_replace(b.base, '/api/$', '/uploads/') || 'results_packages/' || replace(t.uuid::text, '-', '') || '.zip' ELSE NULL END)"
    ),
    project: Some(
        "(SELECT r.project_uuid FROM workflow_runs r WHERE r.uuid = t.workflow_run_uuid)",
    ),
    owner: None,
    filters: &RESULTS_PACKAGE_FILTERS,
    ordering: &[("created", "t.created"), ("status", "t.status")],
    default_order: "t.created DESC, t.uuid",
    unpaginated_ok: false,
    detail_json: None,
};
const RESULTS_PACKAGE_FILTERS: [Field; 7] = concat(
    common_time_filters!(),
    [
        field("status", "t.status", Kind::Int, IN),
        field(
            "workflow_run",
            "t.workflow_run_uuid",
            Kind::Ref("workflowrun"),
            IN,
        ),
        field("packaging_mode", "t.packaging_mode", Kind::Int, &[]),
        field("creator", "t.creator_id", Kind::UserRef, &[]),
    ],
);

/// Every model, for the OpenAPI document and tests.
pub static ALL: [&Model; 21] = [
    &PROJECT,
    &USER,
    &USER_PREFERENCE,
    &RESOURCE_TYPE,
    &LABEL,
    &JOB,
    &INPUT_PORT_TYPE,
    &OUTPUT_PORT_TYPE,
    &WORKFLOW,
    &WORKFLOW_JOB,
    &WORKFLOW_JOB_GROUP,
    &INPUT_PORT,
    &OUTPUT_PORT,
    &CONNECTION,
    &RESOURCE,
    &RESOURCE_LIST,
    &WORKFLOW_RUN,
    &RUN_JOB,
    &INPUT,
    &OUTPUT,
    &RESULTS_PACKAGE,
];
