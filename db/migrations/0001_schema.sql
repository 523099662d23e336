-- Rodan's schema: upstream's models (rodan-reference §2.3) with ids and relations as upstream has
-- them on the wire, plus what the durable scheduler needs (leases, attempts) and an event outbox.
-- Plain PostgreSQL: no plpython, no superuser.

CREATE TABLE users (
    id            bigserial PRIMARY KEY,
    username      text NOT NULL UNIQUE CHECK (username <> ''),
    email         text NOT NULL UNIQUE CHECK (email <> ''),
    password      text NOT NULL,
    first_name    text NOT NULL DEFAULT '',
    last_name     text NOT NULL DEFAULT '',
    is_staff      boolean NOT NULL DEFAULT false,
    is_active     boolean NOT NULL DEFAULT true,
    is_superuser  boolean NOT NULL DEFAULT false,
    date_joined   timestamptz NOT NULL DEFAULT now(),
    last_login    timestamptz
);

-- DRF-style static tokens: one per user, `Authorization: Token <key>`. Only a hash is stored.
CREATE TABLE auth_tokens (
    key_hash  text PRIMARY KEY,
    user_id   bigint NOT NULL UNIQUE REFERENCES users(id) ON DELETE CASCADE,
    created   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE user_preferences (
    uuid        uuid PRIMARY KEY,
    user_id     bigint NOT NULL UNIQUE REFERENCES users(id) ON DELETE CASCADE,
    send_email  boolean NOT NULL DEFAULT true
);

CREATE TABLE projects (
    uuid         uuid PRIMARY KEY,
    name         text NOT NULL,
    description  text NOT NULL DEFAULT '',
    creator_id   bigint REFERENCES users(id) ON DELETE RESTRICT,
    created      timestamptz NOT NULL DEFAULT now(),
    updated      timestamptz NOT NULL DEFAULT now()
);

-- Upstream's per-project admin and worker groups.
CREATE TABLE project_members (
    project_uuid  uuid NOT NULL REFERENCES projects(uuid) ON DELETE CASCADE,
    user_id       bigint NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role          text NOT NULL CHECK (role IN ('admin', 'worker')),
    PRIMARY KEY (project_uuid, role, user_id)
);
CREATE INDEX project_members_user ON project_members (user_id);

-- Who may see a project: its creator, its admins and its workers.
CREATE VIEW project_access AS
    SELECT uuid AS project_uuid, creator_id AS user_id FROM projects WHERE creator_id IS NOT NULL
    UNION
    SELECT project_uuid, user_id FROM project_members;

CREATE TABLE resource_types (
    uuid         uuid PRIMARY KEY,
    mimetype     text NOT NULL UNIQUE,
    description  text NOT NULL DEFAULT '',
    extension    text NOT NULL DEFAULT ''
);

CREATE TABLE resource_labels (
    uuid  uuid PRIMARY KEY,
    name  text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 36)
);

CREATE TABLE jobs (
    uuid         uuid PRIMARY KEY,
    name         text NOT NULL UNIQUE,
    author       text NOT NULL DEFAULT '',
    category     text NOT NULL DEFAULT '',
    description  text NOT NULL DEFAULT '',
    settings     jsonb NOT NULL DEFAULT '{}',
    job_queue    text NOT NULL DEFAULT 'celery',
    enabled      boolean NOT NULL DEFAULT true,
    interactive  boolean NOT NULL DEFAULT false
);

CREATE TABLE input_port_types (
    uuid     uuid PRIMARY KEY,
    job_uuid uuid NOT NULL REFERENCES jobs(uuid) ON DELETE CASCADE,
    name     text NOT NULL,
    minimum  integer NOT NULL,
    maximum  integer NOT NULL,
    is_list  boolean NOT NULL DEFAULT false,
    UNIQUE (job_uuid, name)
);
CREATE TABLE input_port_type_resource_types (
    port_type_uuid      uuid NOT NULL REFERENCES input_port_types(uuid) ON DELETE CASCADE,
    resource_type_uuid  uuid NOT NULL REFERENCES resource_types(uuid) ON DELETE CASCADE,
    PRIMARY KEY (port_type_uuid, resource_type_uuid)
);
CREATE TABLE output_port_types (
    uuid     uuid PRIMARY KEY,
    job_uuid uuid NOT NULL REFERENCES jobs(uuid) ON DELETE CASCADE,
    name     text NOT NULL,
    minimum  integer NOT NULL,
    maximum  integer NOT NULL,
    is_list  boolean NOT NULL DEFAULT false,
    UNIQUE (job_uuid, name)
);
CREATE TABLE output_port_type_resource_types (
    port_type_uuid      uuid NOT NULL REFERENCES output_port_types(uuid) ON DELETE CASCADE,
    resource_type_uuid  uuid NOT NULL REFERENCES resource_types(uuid) ON DELETE CASCADE,
    PRIMARY KEY (port_type_uuid, resource_type_uuid)
);

CREATE TABLE workflows (
    uuid         uuid PRIMARY KEY,
    name         text NOT NULL CHECK (length(name) <= 100),
    project_uuid uuid NOT NULL REFERENCES projects(uuid) ON DELETE CASCADE,
    description  text NOT NULL DEFAULT '',
    creator_id   bigint REFERENCES users(id) ON DELETE SET NULL,
    valid        boolean NOT NULL DEFAULT false,
    created      timestamptz NOT NULL DEFAULT now(),
    updated      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX workflows_project ON workflows (project_uuid);

CREATE TABLE workflow_job_groups (
    uuid          uuid PRIMARY KEY,
    name          text NOT NULL DEFAULT '',
    description   text NOT NULL DEFAULT '',
    workflow_uuid uuid NOT NULL REFERENCES workflows(uuid) ON DELETE CASCADE,
    origin_uuid   uuid REFERENCES workflows(uuid) ON DELETE SET NULL,
    appearance    jsonb,
    created       timestamptz NOT NULL DEFAULT now(),
    updated       timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE workflow_jobs (
    uuid          uuid PRIMARY KEY,
    workflow_uuid uuid NOT NULL REFERENCES workflows(uuid) ON DELETE CASCADE,
    job_uuid      uuid NOT NULL REFERENCES jobs(uuid) ON DELETE RESTRICT,
    job_settings  jsonb NOT NULL DEFAULT '{}',
    name          text NOT NULL DEFAULT '',
    group_uuid    uuid REFERENCES workflow_job_groups(uuid) ON DELETE SET NULL,
    appearance    jsonb,
    created       timestamptz NOT NULL DEFAULT now(),
    updated       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX workflow_jobs_workflow ON workflow_jobs (workflow_uuid);

CREATE TABLE resources (
    uuid              uuid PRIMARY KEY,
    name              text NOT NULL DEFAULT '',
    description       text NOT NULL DEFAULT '',
    project_uuid      uuid NOT NULL REFERENCES projects(uuid) ON DELETE CASCADE,
    -- Path below the media root; NULL until a file exists (run outputs before their job ran).
    resource_file     text,
    resource_type_uuid uuid NOT NULL REFERENCES resource_types(uuid) ON DELETE RESTRICT,
    processing_status integer,
    error_summary     text NOT NULL DEFAULT '',
    error_details     text NOT NULL DEFAULT '',
    creator_id        bigint REFERENCES users(id) ON DELETE SET NULL,
    origin_uuid       uuid,
    created           timestamptz NOT NULL DEFAULT now(),
    updated           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX resources_project ON resources (project_uuid);

CREATE TABLE resource_resource_labels (
    resource_uuid uuid NOT NULL REFERENCES resources(uuid) ON DELETE CASCADE,
    label_uuid    uuid NOT NULL REFERENCES resource_labels(uuid) ON DELETE CASCADE,
    PRIMARY KEY (resource_uuid, label_uuid)
);

CREATE TABLE resource_lists (
    uuid               uuid PRIMARY KEY,
    name               text NOT NULL DEFAULT '',
    description        text NOT NULL DEFAULT '',
    project_uuid       uuid NOT NULL REFERENCES projects(uuid) ON DELETE CASCADE,
    resource_type_uuid uuid REFERENCES resource_types(uuid) ON DELETE RESTRICT,
    origin_uuid        uuid,
    creator_id         bigint REFERENCES users(id) ON DELETE SET NULL,
    created            timestamptz NOT NULL DEFAULT now(),
    updated            timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE resource_list_members (
    resource_list_uuid uuid NOT NULL REFERENCES resource_lists(uuid) ON DELETE CASCADE,
    resource_uuid      uuid NOT NULL REFERENCES resources(uuid) ON DELETE RESTRICT,
    position           integer NOT NULL,
    PRIMARY KEY (resource_list_uuid, position)
);

CREATE TABLE input_ports (
    uuid                 uuid PRIMARY KEY,
    workflow_job_uuid    uuid NOT NULL REFERENCES workflow_jobs(uuid) ON DELETE CASCADE,
    input_port_type_uuid uuid NOT NULL REFERENCES input_port_types(uuid) ON DELETE RESTRICT,
    label                text NOT NULL DEFAULT '',
    extern               boolean NOT NULL DEFAULT false,
    created              timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX input_ports_wfj ON input_ports (workflow_job_uuid);
-- Saved resource assignments of a workflow's extern input ports.
CREATE TABLE input_port_extern_resources (
    input_port_uuid uuid NOT NULL REFERENCES input_ports(uuid) ON DELETE CASCADE,
    resource_uuid   uuid NOT NULL REFERENCES resources(uuid) ON DELETE CASCADE,
    position        integer NOT NULL,
    PRIMARY KEY (input_port_uuid, position)
);

CREATE TABLE output_ports (
    uuid                  uuid PRIMARY KEY,
    workflow_job_uuid     uuid NOT NULL REFERENCES workflow_jobs(uuid) ON DELETE CASCADE,
    output_port_type_uuid uuid NOT NULL REFERENCES output_port_types(uuid) ON DELETE RESTRICT,
    label                 text NOT NULL DEFAULT '',
    extern                boolean NOT NULL DEFAULT false,
    created               timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX output_ports_wfj ON output_ports (workflow_job_uuid);

CREATE TABLE connections (
    uuid             uuid PRIMARY KEY,
    input_port_uuid  uuid NOT NULL REFERENCES input_ports(uuid) ON DELETE CASCADE,
    output_port_uuid uuid NOT NULL REFERENCES output_ports(uuid) ON DELETE CASCADE,
    created          timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE workflow_runs (
    uuid          uuid PRIMARY KEY,
    project_uuid  uuid NOT NULL REFERENCES projects(uuid) ON DELETE CASCADE,
    workflow_uuid uuid REFERENCES workflows(uuid) ON DELETE SET NULL,
    creator_id    bigint REFERENCES users(id) ON DELETE SET NULL,
    status        integer NOT NULL DEFAULT 1,
    name          text NOT NULL DEFAULT '',
    description   text NOT NULL DEFAULT '',
    last_redone_runjob_tree uuid,
    error_summary text NOT NULL DEFAULT '',
    error_details text NOT NULL DEFAULT '',
    created       timestamptz NOT NULL DEFAULT now(),
    updated       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX workflow_runs_project ON workflow_runs (project_uuid);

CREATE TABLE run_jobs (
    uuid               uuid PRIMARY KEY,
    workflow_run_uuid  uuid NOT NULL REFERENCES workflow_runs(uuid) ON DELETE CASCADE,
    workflow_job_uuid  uuid REFERENCES workflow_jobs(uuid) ON DELETE SET NULL,
    -- Kept as upstream's hex strings even after the workflow job is gone.
    workflow_job_hex   text NOT NULL,
    resource_hex       text,
    job_name           text NOT NULL,
    job_queue          text NOT NULL,
    job_settings       jsonb NOT NULL DEFAULT '{}',
    status             integer NOT NULL DEFAULT 0,
    -- Our id of the queue message (upstream's `celery_task_id`).
    celery_task_id     text,
    error_summary      text NOT NULL DEFAULT '',
    error_details      text NOT NULL DEFAULT '',
    interactive_timings jsonb NOT NULL DEFAULT '[]',
    working_user_id    bigint REFERENCES users(id) ON DELETE SET NULL,
    working_user_token uuid,
    working_user_expiry timestamptz,
    -- Durable scheduling: how many times it was started, who holds it, until when.
    attempts           integer NOT NULL DEFAULT 0,
    lease_owner        text,
    lease_expires      timestamptz,
    created            timestamptz NOT NULL DEFAULT now(),
    updated            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX run_jobs_run ON run_jobs (workflow_run_uuid);
CREATE INDEX run_jobs_lease ON run_jobs (lease_expires) WHERE status = 1;
ALTER TABLE workflow_runs ADD FOREIGN KEY (last_redone_runjob_tree) REFERENCES run_jobs(uuid) ON DELETE SET NULL;

CREATE TABLE inputs (
    uuid                 uuid PRIMARY KEY,
    input_port_uuid      uuid REFERENCES input_ports(uuid) ON DELETE SET NULL,
    input_port_type_name text NOT NULL,
    resource_uuid        uuid REFERENCES resources(uuid) ON DELETE RESTRICT,
    resource_list_uuid   uuid REFERENCES resource_lists(uuid) ON DELETE RESTRICT,
    run_job_uuid         uuid NOT NULL REFERENCES run_jobs(uuid) ON DELETE CASCADE,
    created              timestamptz NOT NULL DEFAULT now(),
    CHECK ((resource_uuid IS NULL) <> (resource_list_uuid IS NULL))
);
CREATE INDEX inputs_run_job ON inputs (run_job_uuid);
CREATE INDEX inputs_resource ON inputs (resource_uuid);

CREATE TABLE outputs (
    uuid                  uuid PRIMARY KEY,
    output_port_uuid      uuid REFERENCES output_ports(uuid) ON DELETE SET NULL,
    output_port_type_name text NOT NULL,
    run_job_uuid          uuid NOT NULL REFERENCES run_jobs(uuid) ON DELETE CASCADE,
    resource_uuid         uuid REFERENCES resources(uuid) ON DELETE RESTRICT,
    resource_list_uuid    uuid REFERENCES resource_lists(uuid) ON DELETE RESTRICT,
    created               timestamptz NOT NULL DEFAULT now(),
    CHECK ((resource_uuid IS NULL) <> (resource_list_uuid IS NULL))
);
CREATE INDEX outputs_run_job ON outputs (run_job_uuid);
CREATE INDEX outputs_resource ON outputs (resource_uuid);
ALTER TABLE resources ADD FOREIGN KEY (origin_uuid) REFERENCES outputs(uuid) ON DELETE SET NULL;
ALTER TABLE resource_lists ADD FOREIGN KEY (origin_uuid) REFERENCES outputs(uuid) ON DELETE SET NULL;

CREATE TABLE results_packages (
    uuid              uuid PRIMARY KEY,
    status            integer NOT NULL DEFAULT 0,
    percent_completed integer NOT NULL DEFAULT 0,
    workflow_run_uuid uuid NOT NULL REFERENCES workflow_runs(uuid) ON DELETE CASCADE,
    packaging_mode    integer NOT NULL,
    creator_id        bigint REFERENCES users(id) ON DELETE SET NULL,
    celery_task_id    text,
    error_summary     text NOT NULL DEFAULT '',
    error_details     text NOT NULL DEFAULT '',
    created           timestamptz NOT NULL DEFAULT now(),
    updated           timestamptz NOT NULL DEFAULT now(),
    expiry_time       timestamptz
);
