//! `GET /api/openapi.json`: an OpenAPI 3.1 document of the whole API, generated from the same
//! model descriptors the handlers use: paths, methods, filter parameters, ordering fields, and
//! each model's response schema, whose properties are the keys of the model's own SQL
//! `json_build_object` (so the two cannot drift) typed from their SQL expressions and the
//! model's filter kinds. The routes besides the models' are listed in [`OTHER`], and a test
//! probes the router for any method or path missing from the document.

use crate::link::Base;
use crate::models::ALL;
use crate::query::{Kind, Model};
use axum::Json;
use serde_json::{Map, Value, json};

fn kind_schema(kind: Kind) -> Value {
    match kind {
        Kind::Uuid => json!({"type": "string", "format": "uuid"}),
        Kind::Ref(route) => {
            json!({"type": "string", "description": format!("Hyperlink to a {route} (or its uuid)")})
        }
        Kind::UserRef => {
            json!({"type": "string", "description": "Hyperlink to a user (or its id)"})
        }
        Kind::Text => json!({"type": "string"}),
        Kind::Int => json!({"type": "integer"}),
        Kind::Bool => json!({"type": "boolean"}),
        Kind::Time => json!({"type": "string", "format": "date-time"}),
    }
}

/// The top-level `(key, SQL expression)` pairs of a model's `json_build_object(...)`.
fn json_pairs(sql: &str) -> Vec<(&str, &str)> {
    let inner = sql
        .trim()
        .strip_prefix("json_build_object(")
        .and_then(|rest| rest.strip_suffix(')'))
        .unwrap_or("");
    let mut parts = Vec::new();
    let (mut depth, mut quoted, mut start) = (0i32, false, 0);
    for (i, c) in inner.char_indices() {
        match c {
            '\'' => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted => depth -= 1,
            ',' if !quoted && depth == 0 => {
                parts.push(inner[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(inner[start..].trim());
    parts
        .chunks(2)
        .filter_map(|pair| match pair {
            [key, expr] => Some((key.trim_matches('\''), *expr)),
            _ => None,
        })
        .collect()
}

fn nullable(schema: Value) -> Value {
    json!({"anyOf": [schema, {"type": "null"}]})
}

/// The schema of one property from its SQL expression.
fn property_schema(model: &Model, expr: &str) -> Value {
    let uri = json!({"type": "string", "format": "uri"});
    let e = expr.trim();
    if e == "NULL" {
        return json!({"type": "null"});
    }
    if let Some(nested) = ALL
        .iter()
        .find(|m| e.starts_with(&format!("ARRAY(SELECT {} ", m.json)))
    {
        return json!({"type": "array", "items": model_ref(nested)});
    }
    if e.starts_with("ARRAY(SELECT json_build_object") {
        return json!({"type": "array", "items": {"type": "object"}});
    }
    if e.starts_with("ARRAY(") {
        return json!({"type": "array", "items": uri});
    }
    if e.starts_with("b.base ||") {
        return uri;
    }
    if e.starts_with("CASE") {
        let may_be_null = e.contains("THEN NULL") || e.contains("ELSE NULL");
        let schema = if e.contains("b.base") {
            json!({"type": "string"})
        } else {
            json!({})
        };
        return if may_be_null {
            nullable(schema)
        } else {
            schema
        };
    }
    if e.starts_with("(SELECT count(") {
        return json!({"type": "integer", "minimum": 0});
    }
    if e.starts_with("(SELECT coalesce(string_agg") {
        return json!({"type": "string"});
    }
    if e.starts_with("(SELECT u.username") {
        return nullable(json!({"type": "string"}));
    }
    match e {
        "t.uuid" => return json!({"type": "string", "format": "uuid"}),
        "t.id" => return json!({"type": "integer"}),
        "t.created" | "t.updated" => return json!({"type": "string", "format": "date-time"}),
        _ => {}
    }
    if e.starts_with("t.") && e.ends_with("_time") {
        return nullable(json!({"type": "string", "format": "date-time"}));
    }
    if let Some(field) = model.filters.iter().find(|f| f.sql == e) {
        return nullable(kind_schema(field.kind));
    }
    json!({})
}

/// A model's response schema: every key of its SQL representation (`json`: the list's or the
/// detail's), typed where the expression tells.
fn model_schema(model: &Model, json: &str) -> Value {
    let pairs = json_pairs(json);
    let properties: Map<String, Value> = pairs
        .iter()
        .map(|(key, expr)| ((*key).to_owned(), property_schema(model, expr)))
        .collect();
    let required: Vec<&str> = pairs.iter().map(|(key, _)| *key).collect();
    json!({"type": "object", "title": model.title, "properties": properties, "required": required})
}

fn schema_name(model: &Model) -> String {
    model.title.replace(' ', "")
}

fn model_ref(model: &Model) -> Value {
    json!({"$ref": format!("#/components/schemas/{}", schema_name(model))})
}

/// The schema name of a model's detail representation, where it differs from the list's.
fn detail_schema_name(model: &Model) -> String {
    if model.detail_json.is_some() {
        format!("{}Detail", schema_name(model))
    } else {
        schema_name(model)
    }
}

fn detail_ref(model: &Model) -> Value {
    json!({"$ref": format!("#/components/schemas/{}", detail_schema_name(model))})
}

fn list_parameters(model: &Model) -> Vec<Value> {
    let mut params = vec![
        json!({"name": "page", "in": "query", "description": "A page number, or `last`", "schema": {"type": "string"}}),
        json!({"name": "page_size", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": crate::query::MAX_PAGE_SIZE}}),
        json!({"name": "ordering", "in": "query", "description": format!("Comma-separated fields, `-` for descending: {}", model.ordering.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")), "schema": {"type": "string"}}),
    ];
    if model.unpaginated_ok {
        params.push(json!({"name": "disable_pagination", "in": "query", "description": "Any value: answer a bare array instead of the pagination envelope", "schema": {"type": "string"}}));
    }
    for field in model.filters {
        params.push(json!({"name": field.name, "in": "query", "schema": kind_schema(field.kind)}));
        for lookup in field.lookups {
            let schema = if *lookup == "isnull" {
                json!({"type": "boolean"})
            } else if *lookup == "in" {
                json!({"type": "string", "description": "comma-separated values"})
            } else {
                kind_schema(field.kind)
            };
            params.push(json!({"name": format!("{}__{lookup}", field.name), "in": "query", "schema": schema}));
        }
    }
    params
}

/// Lists answered as a bare array whatever the query (`GET /api/users/`, as upstream).
const ALWAYS_UNPAGINATED: &[&str] = &["user"];

fn list_schema(model: &Model) -> Value {
    let envelope = json!({
        "type": "object",
        "required": ["count", "next", "previous", "current_page", "total_pages", "results"],
        "properties": {
            "count": {"type": "integer", "minimum": 0},
            "next": {"anyOf": [{"type": "string", "format": "uri"}, {"type": "null"}]},
            "previous": {"anyOf": [{"type": "string", "format": "uri"}, {"type": "null"}]},
            "current_page": {"type": "integer", "minimum": 1},
            "total_pages": {"type": "integer", "minimum": 1},
            "results": {"type": "array", "items": model_ref(model)}
        }
    });
    let bare = json!({"type": "array", "items": model_ref(model)});
    if ALWAYS_UNPAGINATED.contains(&model.route) {
        bare
    } else if model.unpaginated_ok {
        json!({"anyOf": [envelope, bare]})
    } else {
        envelope
    }
}

fn json_content(schema: Value) -> Value {
    json!({"application/json": {"schema": schema}})
}

fn error_ref(name: &str) -> Value {
    json!({"$ref": format!("#/components/responses/{name}")})
}

/// The error answers any operation may give, and those of operations with bodies.
const READ_ERRORS: &[&str] = &["400", "401", "403", "404", "429", "503"];
const WRITE_ERRORS: &[&str] = &["400", "401", "403", "404", "409", "413", "429", "503"];

fn error_responses() -> Value {
    let detail = || json_content(json!({"$ref": "#/components/schemas/Detail"}));
    json!({
        "400": {"description": "Bad input: field errors `{\"field\": [\"message\"]}` or `{\"detail\": \"...\"}`", "content": json_content(json!({"anyOf": [{"$ref": "#/components/schemas/FieldErrors"}, {"$ref": "#/components/schemas/Detail"}]}))},
        "401": {"description": "No or bad credentials", "content": detail()},
        "403": {"description": "Not allowed for this user", "content": detail()},
        "404": {"description": "Not found, or not visible to this user", "content": detail()},
        "409": {"description": "The change conflicts with the current state (validation codes, references)", "content": json_content(json!({"type": "object"}))},
        "413": {"description": "The body is over the configured limit", "content": detail()},
        "429": {"description": "Too many failed logins (token login, HTTP Basic) for this account or address, with `Retry-After`", "content": detail()},
        "503": {"description": "A service the API needs (PostgreSQL) is unavailable, with `Retry-After`", "content": detail()},
    })
}

/// Request bodies: JSON, or form fields (DRF's parsers).
fn body(schema: Value) -> Value {
    json!({"required": false, "content": {
        "application/json": {"schema": schema},
        "application/x-www-form-urlencoded": {"schema": schema},
    }})
}

/// What an operation answers on success.
enum Success {
    /// 200 with this JSON schema.
    Json(u16, Value),
    /// 204, no body.
    NoContent,
    /// This status with this media type and schema.
    Other(u16, &'static str, Value),
}

struct Operation {
    summary: String,
    tag: &'static str,
    params: Vec<Value>,
    body: Option<Value>,
    ok: Success,
    errors: &'static [&'static str],
}

impl Operation {
    fn render(self) -> Value {
        let mut responses = Map::new();
        match self.ok {
            Success::Json(code, schema) => {
                responses.insert(
                    code.to_string(),
                    json!({"description": "Success", "content": json_content(schema)}),
                );
            }
            Success::NoContent => {
                responses.insert("204".into(), json!({"description": "Done, no content"}));
            }
            Success::Other(code, media, schema) => {
                responses.insert(
                    code.to_string(),
                    json!({"description": "Success", "content": {media: {"schema": schema}}}),
                );
            }
        }
        for code in self.errors {
            responses.insert((*code).to_owned(), error_ref(code));
        }
        let mut operation = json!({
            "summary": self.summary,
            "tags": [self.tag],
            "parameters": self.params,
            "responses": responses,
        });
        if let Some(body) = self.body {
            operation["requestBody"] = body;
        }
        operation
    }
}

fn path_params(path: &str) -> Vec<Value> {
    path.split('{')
        .skip(1)
        .filter_map(|rest| rest.split_once('}'))
        .map(|(name, _)| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
        .collect()
}

/// Methods each model's list and detail routes serve besides `GET` and `OPTIONS` (the router in
/// `routes/*.rs`; the `every_route_and_method_is_documented` test probes it for drift).
const WRITES: &[(&str, &[&str], &[&str])] = &[
    ("project", &["post"], &["put", "patch", "delete"]),
    ("user", &["post"], &["put", "patch", "delete"]),
    ("userpreference", &[], &["put", "patch"]),
    ("label", &[], &["put", "patch", "delete"]),
    ("workflow", &["post"], &["put", "patch", "delete"]),
    ("workflowjob", &["post"], &["put", "patch", "delete"]),
    ("workflowjobgroup", &["post"], &["put", "patch", "delete"]),
    ("inputport", &["post"], &["put", "patch", "delete"]),
    ("outputport", &["post"], &["put", "patch", "delete"]),
    ("connection", &["post"], &["put", "patch", "delete"]),
    ("resource", &["post"], &["put", "patch", "delete"]),
    ("resourcelist", &["post"], &["put", "patch", "delete"]),
    ("workflowrun", &["post"], &["put", "patch", "delete"]),
    ("resultspackage", &["post"], &["patch", "delete"]),
];

/// The request body of a model's create (`create`) or change, generated from the type its
/// handler reads (`routes/*.rs`).
fn request_schema(route: &str, create: bool) -> Value {
    use super::{account, package, port, project, resource, workflow, workflowjob, workflowrun};
    use crate::body::schema;
    match (route, create) {
        ("project", true) => schema::<project::NewProject>(),
        ("project", false) => schema::<project::ProjectChange>(),
        ("user", true) => schema::<account::NewUser>(),
        ("user", false) => schema::<account::UserChange>(),
        ("userpreference", _) => schema::<account::PreferenceChange>(),
        ("label", _) => schema::<resource::LabelChange>(),
        ("resource", false) => schema::<resource::ResourceChange>(),
        ("resourcelist", true) => schema::<resource::NewResourceList>(),
        ("resourcelist", false) => schema::<resource::ResourceListChange>(),
        ("workflow", true) => schema::<workflow::NewWorkflow>(),
        ("workflow", false) => schema::<workflow::WorkflowChange>(),
        ("workflowjob", true) => schema::<workflowjob::NewWorkflowJob>(),
        ("workflowjob", false) => schema::<workflowjob::WorkflowJobChange>(),
        ("workflowjobgroup", true) => schema::<workflowjob::NewGroup>(),
        ("workflowjobgroup", false) => schema::<workflowjob::GroupChange>(),
        ("inputport", true) => schema::<port::NewInputPort>(),
        ("outputport", true) => schema::<port::NewOutputPort>(),
        ("inputport" | "outputport", false) => schema::<port::PortChange>(),
        ("connection", true) => schema::<port::NewConnection>(),
        ("connection", false) => schema::<port::ConnectionChange>(),
        ("workflowrun", true) => schema::<workflowrun::NewRun>(),
        ("workflowrun", false) => schema::<workflowrun::RunChange>(),
        ("resultspackage", true) => schema::<package::NewPackage>(),
        ("resultspackage", false) => schema::<package::PackageChange>(),
        // `WRITES` names a write of a route this match does not: the tests catch it.
        _ => json!({"type": "object"}),
    }
}

fn options_op(model: &Model) -> Operation {
    Operation {
        summary: format!("{} metadata (DRF's `OPTIONS`)", model.title),
        tag: model.title,
        params: vec![],
        body: None,
        ok: Success::Json(
            200,
            json!({"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}}),
        ),
        errors: READ_ERRORS,
    }
}

fn model_paths(model: &'static Model, paths: &mut Map<String, Value>) {
    let (list_writes, detail_writes) = WRITES
        .iter()
        .find(|(route, _, _)| *route == model.route)
        .map_or((&[][..], &[][..]), |(_, l, d)| (*l, *d));
    let tag = model.title;
    let mut list = Map::new();
    list.insert(
        "get".into(),
        Operation {
            summary: format!("List {}s", model.title),
            tag,
            params: list_parameters(model),
            body: None,
            ok: Success::Json(200, list_schema(model)),
            errors: READ_ERRORS,
        }
        .render(),
    );
    list.insert("options".into(), options_op(model).render());
    if list_writes.contains(&"post") {
        let (body, ok) = if model.route == "resource" {
            (
                json!({"required": true, "content": {"multipart/form-data": {"schema": {
                    "type": "object",
                    "required": ["project", "files"],
                    "properties": {
                        "project": {"type": "string", "description": "Hyperlink to a project (or its uuid)"},
                        "type": {"type": "string", "description": "Hyperlink to a resource type (or its uuid); guessed from each file when left out"},
                        "label_names": {"type": "string", "description": "Comma-separated label names"},
                        "files": {"type": "array", "items": {"type": "string", "format": "binary"}}
                    }
                }}}}),
                Success::Json(201, json!({"type": "array", "items": model_ref(model)})),
            )
        } else {
            (
                body(request_schema(model.route, true)),
                Success::Json(201, model_ref(model)),
            )
        };
        list.insert(
            "post".into(),
            Operation {
                summary: format!("Create a {}", model.title),
                tag,
                params: vec![],
                body: Some(body),
                ok,
                errors: WRITE_ERRORS,
            }
            .render(),
        );
    }
    paths.insert(format!("/api/{}/", model.plural), Value::Object(list));

    let id = path_params("{id}");
    let mut detail = Map::new();
    detail.insert(
        "get".into(),
        Operation {
            summary: format!("Read a {}", model.title),
            tag,
            params: id.clone(),
            body: None,
            ok: Success::Json(200, detail_ref(model)),
            errors: READ_ERRORS,
        }
        .render(),
    );
    let mut options = options_op(model);
    options.params = id.clone();
    detail.insert("options".into(), options.render());
    for method in detail_writes {
        let (body, ok, summary) = match *method {
            "delete" => (None, Success::NoContent, "Delete"),
            _ => (
                Some(body(request_schema(model.route, false))),
                Success::Json(200, detail_ref(model)),
                "Change",
            ),
        };
        detail.insert(
            (*method).to_owned(),
            Operation {
                summary: format!("{summary} a {}", model.title),
                tag,
                params: id.clone(),
                body,
                ok,
                errors: WRITE_ERRORS,
            }
            .render(),
        );
    }
    paths.insert(
        format!("/api/{}/{{id}}/", model.route),
        Value::Object(detail),
    );
}

/// The routes besides the models' lists and details: (path, method, summary, request body,
/// success).
fn other_routes() -> Vec<(
    &'static str,
    &'static str,
    &'static str,
    Option<Value>,
    Success,
)> {
    let user = json!({"$ref": "#/components/schemas/User"});
    let object = json!({"type": "object"});
    use super::{account, project, resourceassignment};
    use crate::body::schema;
    let names = schema::<project::MemberNames>();
    let names_body = body(names.clone());
    let health = json!({"type": "object", "required": ["database"], "properties": {"database": {"type": "string"}}});
    let assignments = json!({"type": "object", "description": "Input port hyperlinks to their assigned resources", "additionalProperties": {"type": "array", "items": {"$ref": "#/components/schemas/Resource"}}});
    let assignment_body = body(schema::<resourceassignment::Assignments>());
    let metadata =
        json!({"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}}});
    let mut token_user = user.clone();
    token_user = json!({"allOf": [token_user, {"type": "object", "required": ["token"], "properties": {"token": {"type": "string"}}}]});
    vec![
        (
            "/",
            "get",
            "A notice that the API lives under /api/",
            None,
            Success::Json(200, object.clone()),
        ),
        (
            "/api/",
            "get",
            "Route names and version",
            None,
            Success::Json(
                200,
                json!({"type": "object", "required": ["routes", "configuration", "version"], "properties": {"routes": {"type": "object", "additionalProperties": {"type": "string", "format": "uri"}}, "configuration": {"type": "object"}, "version": {"type": "string"}, "build_hash": {"type": "string"}}}),
            ),
        ),
        (
            "/api/openapi.json",
            "get",
            "This document",
            None,
            Success::Json(200, object.clone()),
        ),
        (
            "/healthz",
            "get",
            "Liveness: the process answers",
            None,
            Success::Other(200, "text/plain", json!({"type": "string"})),
        ),
        (
            "/readyz",
            "get",
            "Readiness: the database answers (503 `{\"database\": \"unavailable\"}` when not)",
            None,
            Success::Json(200, health.clone()),
        ),
        (
            "/api/ht/",
            "get",
            "Health: the database answers (503 when not)",
            None,
            Success::Json(200, health),
        ),
        (
            "/api/auth/token/",
            "post",
            "Obtain a token from {email or username, password}: the user with its `token`; a refusal is upstream's `{\"is_logged_in\": false, \"detail\": ...}`, 401 for wrong credentials, 403 for an account not activated",
            Some(body(schema::<account::Login>())),
            Success::Json(200, token_user),
        ),
        (
            "/api/auth/me/",
            "get",
            "The current user",
            None,
            Success::Json(200, user.clone()),
        ),
        (
            "/api/auth/me/",
            "put",
            "Change the current user",
            Some(body(schema::<account::UserChange>())),
            Success::Json(200, user.clone()),
        ),
        (
            "/api/auth/me/",
            "patch",
            "Change the current user",
            Some(body(schema::<account::UserChange>())),
            Success::Json(200, user.clone()),
        ),
        (
            "/api/auth/reset-token/",
            "post",
            "Revoke the current token",
            None,
            Success::NoContent,
        ),
        (
            "/api/auth/change-password/",
            "post",
            "Change the password",
            Some(body(schema::<account::PasswordChange>())),
            Success::NoContent,
        ),
        (
            "/api/auth/register/",
            "post",
            "Create a user: administrators create active ones; with self-registration on (`RODAN_SELF_REGISTRATION`) anyone else creates an inactive one and is mailed its activation link",
            Some(body(schema::<account::NewUser>())),
            Success::Json(201, user),
        ),
        (
            "/api/project/{id}/admins/",
            "get",
            "The project's administrators (user names)",
            None,
            Success::Json(200, names.clone()),
        ),
        (
            "/api/project/{id}/admins/",
            "put",
            "Set the project's administrators (user names)",
            Some(names_body.clone()),
            Success::Json(200, names.clone()),
        ),
        (
            "/api/project/{id}/admins/",
            "patch",
            "Set the project's administrators (user names)",
            Some(names_body.clone()),
            Success::Json(200, names.clone()),
        ),
        (
            "/api/project/{id}/workers/",
            "get",
            "The project's workers (user names)",
            None,
            Success::Json(200, names.clone()),
        ),
        (
            "/api/project/{id}/workers/",
            "put",
            "Set the project's workers (user names)",
            Some(names_body.clone()),
            Success::Json(200, names.clone()),
        ),
        (
            "/api/project/{id}/workers/",
            "patch",
            "Set the project's workers (user names)",
            Some(names_body),
            Success::Json(200, names),
        ),
        (
            "/api/resources/archive/",
            "get",
            "A zip of the resources named by `resource_uuid` (repeated)",
            None,
            Success::Other(
                200,
                "application/zip",
                json!({"type": "string", "format": "binary"}),
            ),
        ),
        (
            "/api/workflow/{id}/resourceassignments/",
            "get",
            "The resources assigned to each input port of the workflow",
            None,
            Success::Json(200, assignments.clone()),
        ),
        (
            "/api/workflow/{id}/resourceassignments/",
            "put",
            "Replace every assignment of the workflow: ports not named are cleared",
            Some(assignment_body.clone()),
            Success::Json(200, assignments.clone()),
        ),
        (
            "/api/workflow/{id}/resourceassignments/",
            "patch",
            "Replace the assignments of the ports named",
            Some(assignment_body),
            Success::Json(200, assignments.clone()),
        ),
        (
            "/api/workflow/{id}/resourceassignments/",
            "delete",
            "Clear every assignment of the workflow (answers the now empty assignments)",
            None,
            Success::Json(200, assignments),
        ),
        (
            "/api/workflow/{id}/resourceassignments/",
            "options",
            "Metadata (DRF's `OPTIONS`)",
            None,
            Success::Json(200, metadata.clone()),
        ),
        (
            "/api/auth/me/",
            "options",
            "Metadata (DRF's `OPTIONS`)",
            None,
            Success::Json(200, metadata.clone()),
        ),
        (
            "/api/resources/archive/",
            "options",
            "Metadata (DRF's `OPTIONS`)",
            None,
            Success::Json(200, metadata.clone()),
        ),
        (
            "/api/taskqueue/active/",
            "get",
            "Run jobs held by workers, by worker (staff)",
            None,
            Success::Json(200, object.clone()),
        ),
        (
            "/api/taskqueue/scheduled/",
            "get",
            "Run jobs waiting, by queue (staff)",
            None,
            Success::Json(200, object.clone()),
        ),
        (
            "/api/taskqueue/status/",
            "get",
            "Queue depths (staff)",
            None,
            Success::Json(200, object.clone()),
        ),
        (
            "/uploads/{path}",
            "get",
            "A media file, after authorisation (X-Accel-Redirect behind nginx)",
            None,
            Success::Other(200, "*/*", json!({"type": "string", "format": "binary"})),
        ),
        (
            "/api/interactive/{id}/acquire/",
            "post",
            "Lock a run job that waits for input (status 2) to the user: its working URL and the lock's expiry; another user's unexpired lock is a 400",
            Some(body(object.clone())),
            Success::Json(
                200,
                json!({"type": "object", "required": ["working_url", "working_user_expiry"], "properties": {"working_url": {"type": "string", "format": "uri"}, "working_user_expiry": {"type": "string", "format": "date-time"}}}),
            ),
        ),
        (
            "/api/interactive/{id}/{token}/",
            "get",
            "The waiting job's page, authorised by the working URL's token alone",
            None,
            Success::Other(200, "text/html", json!({"type": "string"})),
        ),
        (
            "/api/interactive/{id}/{token}/",
            "post",
            "The person's input (JSON or form, `__serialized__` decoded): checked against the job's input schema, merged into its `@` settings; the job runs again",
            Some(body(object.clone())),
            Success::Json(200, object),
        ),
        (
            "/api/interactive/{id}/{token}/{path}",
            "get",
            "A file of the waiting job's page, authorised by the token alone",
            None,
            Success::Other(200, "*/*", json!({"type": "string", "format": "binary"})),
        ),
        (
            "/ws/rodan",
            "get",
            "Websocket of model events {status, model, uuid, project}",
            None,
            Success::Other(101, "*/*", json!({})),
        ),
    ]
}

/// Accounts by e-mail (`routes/registration.rs`), each a `POST` answering 204.
fn registration_operations() -> Vec<(&'static str, Operation)> {
    use super::registration::{AccountEmail, LinkUse, PasswordReset};
    use crate::body::schema;
    let op = |summary: &str, request: Value, errors| Operation {
        summary: summary.to_owned(),
        tag: "Other",
        params: Vec::new(),
        body: Some(body(request)),
        ok: Success::NoContent,
        errors,
    };
    const ERRORS: &[&str] = &["400", "401", "413", "429", "503"];
    vec![
        (
            "/api/auth/activate/",
            op(
                "Activate an account with the uid and token of its mailed link; 400 `{\"uid\"|\"token\": [...]}` for a wrong, expired or used link, 403 for a link already used",
                schema::<LinkUse>(),
                &["400", "401", "403", "413", "429", "503"],
            ),
        ),
        (
            "/api/auth/resend-activation/",
            op(
                "Mail a new activation link to the inactive account with this address; 400 when there is none, 503 when the mail cannot be sent",
                schema::<AccountEmail>(),
                ERRORS,
            ),
        ),
        (
            "/api/auth/reset-password/",
            op(
                "Mail a password-reset link to the active account with this address (204 whether or not there is one; 503 when the mail cannot be sent)",
                schema::<AccountEmail>(),
                ERRORS,
            ),
        ),
        (
            "/api/auth/reset-password/confirm/",
            op(
                "Set a new password with the uid and token of a mailed reset link, which then stops working; 400 `{\"uid\"|\"token\"|\"new_password\": [...]}`",
                schema::<PasswordReset>(),
                ERRORS,
            ),
        ),
    ]
}

/// The document.
pub(super) async fn document(base: Base) -> Json<Value> {
    let mut paths = Map::new();
    let mut schemas = Map::new();
    for model in ALL {
        model_paths(model, &mut paths);
        schemas.insert(schema_name(model), model_schema(model, model.json));
        if let Some(detail) = model.detail_json {
            schemas.insert(detail_schema_name(model), model_schema(model, detail));
        }
    }
    for (path, method, summary, request, ok) in other_routes() {
        let mut params = path_params(path);
        if path == "/api/resources/archive/" && method == "get" {
            params.push(json!({"name": "resource_uuid", "in": "query", "required": true, "schema": {"type": "string", "format": "uuid"}}));
        }
        let errors = if request.is_some() {
            WRITE_ERRORS
        } else {
            READ_ERRORS
        };
        let operation = Operation {
            summary: summary.to_owned(),
            tag: "Other",
            params,
            body: request,
            ok,
            errors,
        };
        let entry = paths.entry(path.to_owned()).or_insert_with(|| json!({}));
        entry[method] = operation.render();
    }
    for (path, operation) in registration_operations() {
        let options = Operation {
            summary: "Metadata with the `POST` fields (DRF's `OPTIONS`)".into(),
            tag: "Other",
            params: vec![],
            body: None,
            ok: Success::Json(
                200,
                json!({"type": "object", "required": ["name", "actions"], "properties": {"name": {"type": "string"}, "actions": {"type": "object"}}}),
            ),
            errors: READ_ERRORS,
        };
        paths.insert(
            path.to_owned(),
            json!({"post": operation.render(), "options": options.render()}),
        );
    }
    // Refusals before the handler reads anything: a request to the websocket that is not an
    // upgrade, and an upload that is not multipart or has no usable boundary.
    let detail = error_responses()["403"]["content"].clone();
    let ws = &mut paths["/ws/rodan"]["get"]["responses"];
    ws["400"] = json!({"description": "Not a websocket upgrade", "content": detail});
    ws["426"] = json!({"description": "The connection cannot be upgraded", "content": detail});
    paths["/api/resources/"]["post"]["responses"]["400"]["description"] =
        json!("Field errors, or a multipart body without a usable boundary");
    paths["/api/resources/"]["post"]["responses"]["415"] =
        json!({"description": "Not a multipart/form-data body", "content": detail});
    // The working URLs answer as upstream's: `{"message": ...}` for a wrong or expired token.
    let message = json!({"type": "object", "required": ["message"], "properties": {"message": {"type": "string"}}});
    let denied =
        json!({"description": "A wrong or expired token", "content": json_content(message)});
    for (path, method) in [
        ("/api/interactive/{id}/{token}/", "get"),
        ("/api/interactive/{id}/{token}/", "post"),
        ("/api/interactive/{id}/{token}/{path}", "get"),
    ] {
        paths[path][method]["responses"]["401"] = denied.clone();
    }
    schemas.insert(
        "Detail".into(),
        json!({"type": "object", "required": ["detail"], "properties": {"detail": {"type": "string"}}}),
    );
    schemas.insert(
        "FieldErrors".into(),
        json!({"type": "object", "description": "Messages by field name", "additionalProperties": {"anyOf": [{"type": "array"}, {"type": "object"}, {"type": "string"}]}}),
    );
    Json(json!({
        "openapi": "3.1.0",
        "info": {"title": "Rodan API", "version": env!("CARGO_PKG_VERSION"), "description": "Rodan's REST API: hyperlinked JSON, `Authorization: Token <key>` or HTTP Basic, pagination `{count, next, previous, current_page, total_pages, results}`."},
        "servers": [{"url": base.0.trim_end_matches("/api/")}],
        "components": {
            "securitySchemes": {
                "token": {"type": "apiKey", "in": "header", "name": "Authorization", "description": "`Token <key>`"},
                "basic": {"type": "http", "scheme": "basic"}
            },
            "schemas": schemas,
            "responses": error_responses(),
        },
        "security": [{"token": []}, {"basic": []}],
        "paths": paths,
    }))
}
