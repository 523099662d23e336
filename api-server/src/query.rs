//! Generic reads over one model: upstream's list conventions (pagination envelope, `page_size`
//! limits, django-filter `field__lookup` filters, `ordering`, `OPTIONS` metadata) and detail
//! reads, all filtered by project membership. Each model describes itself once as a [`Model`]:
//! its table, its JSON representation as SQL (hyperlinks built from the request's base URL),
//! how it reaches its project, and its filter and ordering fields.

use crate::auth::User;
use crate::error::{ApiError, ApiResult};
use crate::link::{parse_ref, parse_user_ref};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use sqlx::{PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

/// Upstream's default page size.
pub const PAGE_SIZE: i64 = 20;
/// Upstream's largest page size.
pub const MAX_PAGE_SIZE: i64 = 100;

/// How a filter field's value is parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A uuid column.
    Uuid,
    /// A relation to another model's uuid: accepts its hyperlink or its uuid.
    Ref(&'static str),
    /// A relation to a user: accepts `/api/user/<id>/` or the id.
    UserRef,
    /// Text.
    Text,
    /// An integer.
    Int,
    /// A boolean (`true`/`false`/`True`/`False`/`1`/`0`).
    Bool,
    /// A timestamp (ISO 8601).
    Time,
}

/// A filterable field.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    /// Name in the query string.
    pub name: &'static str,
    /// SQL expression over the model's row alias `t`, compared with the value; or, when it
    /// holds `{}`, a condition with the value in that place (exact lookups only).
    pub sql: &'static str,
    /// Value type.
    pub kind: Kind,
    /// Lookups accepted besides `exact` (`icontains`, `lt`, `gt`, `in`, `isnull`).
    pub lookups: &'static [&'static str],
}

/// Shorthand constructor for [`Field`].
pub const fn field(
    name: &'static str,
    sql: &'static str,
    kind: Kind,
    lookups: &'static [&'static str],
) -> Field {
    Field {
        name,
        sql,
        kind,
        lookups,
    }
}

/// One model's read side.
#[derive(Debug)]
pub struct Model {
    /// Detail route segment and event model name (`"project"`).
    pub route: &'static str,
    /// List route segment (`"projects"`).
    pub plural: &'static str,
    /// Human name for `OPTIONS` (`"Project"`).
    pub title: &'static str,
    /// `FROM` clause; the model's row is aliased `t`.
    pub from: &'static str,
    /// SQL of the JSON object for one row; `b.base` is the `…/api/` base URL.
    pub json: &'static str,
    /// SQL of the project uuid the row belongs to, for permission filtering; `None` for models
    /// every authenticated user (or anyone) may read.
    pub project: Option<&'static str>,
    /// Extra visibility rule for models without a project (users see only themselves, ...),
    /// with `$user` standing for the user's id; used when `project` is `None`.
    pub owner: Option<&'static str>,
    /// Filter fields.
    pub filters: &'static [Field],
    /// Fields accepted by `?ordering=`: (name, SQL).
    pub ordering: &'static [(&'static str, &'static str)],
    /// Default `ORDER BY`.
    pub default_order: &'static str,
    /// Whether `?disable_pagination=` (or `?no_page`) may return a bare list.
    pub unpaginated_ok: bool,
    /// The detail routes' representation where upstream's detail serializer differs from its
    /// list serializer (workflows); `None`: `json` everywhere.
    pub detail_json: Option<&'static str>,
}

impl Model {
    /// The representation of the detail routes.
    pub fn detail_shape(&self) -> &'static str {
        self.detail_json.unwrap_or(self.json)
    }
}

/// A JSON body already serialised by PostgreSQL.
#[derive(Debug)]
pub struct RawJson(pub StatusCode, pub String);

impl IntoResponse for RawJson {
    fn into_response(self) -> Response {
        (self.0, [(header::CONTENT_TYPE, "application/json")], self.1).into_response()
    }
}

/// Query-string pairs, in order, repeated keys kept.
#[derive(Debug, Clone, Default)]
pub struct Params(pub Vec<(String, String)>);

impl Params {
    /// Parses a raw query string.
    pub fn parse(query: Option<&str>) -> Self {
        Self(
            form_urlencoded::parse(query.unwrap_or("").as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// The first value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Whether `key` is present at all.
    pub fn has(&self, key: &str) -> bool {
        self.0.iter().any(|(k, _)| k == key)
    }

    /// Every value of `key`.
    pub fn all(&self, key: &str) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

fn parse_bool(value: &str) -> Option<bool> {
    match value {
        "true" | "True" | "1" => Some(true),
        "false" | "False" | "0" => Some(false),
        _ => None,
    }
}

/// Pushes `sql = value` (or another comparison) with the value bound by its kind.
fn push_value(
    qb: &mut QueryBuilder<'_, Postgres>,
    field: &Field,
    key: &str,
    raw: &str,
) -> ApiResult<()> {
    let bad = |message: &str| ApiError::field(key, message.to_owned());
    match field.kind {
        Kind::Uuid => {
            let id = Uuid::parse_str(raw.trim()).map_err(|_| bad("Enter a valid UUID."))?;
            qb.push_bind(id);
        }
        Kind::Ref(route) => {
            let id = parse_ref(raw, route).ok_or_else(|| {
                bad("Select a valid choice. That choice is not one of the available choices.")
            })?;
            qb.push_bind(id);
        }
        Kind::UserRef => {
            let id = parse_user_ref(raw).ok_or_else(|| {
                bad("Select a valid choice. That choice is not one of the available choices.")
            })?;
            qb.push_bind(id);
        }
        Kind::Text => {
            qb.push_bind(raw.to_owned());
        }
        Kind::Int => {
            let n: i64 = raw.trim().parse().map_err(|_| bad("Enter a number."))?;
            qb.push_bind(n);
        }
        Kind::Bool => {
            let b = parse_bool(raw.trim()).ok_or_else(|| bad("Enter a valid boolean."))?;
            qb.push_bind(b);
        }
        Kind::Time => {
            let t = chrono::DateTime::parse_from_rfc3339(raw.trim())
                .map(|t| t.with_timezone(&chrono::Utc))
                .or_else(|_| {
                    chrono::NaiveDateTime::parse_from_str(raw.trim(), "%Y-%m-%dT%H:%M:%S%.f")
                        .or_else(|_| {
                            chrono::NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d")
                                .map(|d| d.and_hms_opt(0, 0, 0).unwrap_or_default())
                        })
                        .map(|n| n.and_utc())
                })
                .map_err(|_| bad("Enter a valid date/time."))?;
            qb.push_bind(t);
        }
    }
    Ok(())
}

/// Appends the model's filters from `params` as `AND ...` clauses. Unknown keys are ignored, as
/// django-filter does; a bad value for a known filter is a 400 naming the field.
pub fn push_filters(
    qb: &mut QueryBuilder<'_, Postgres>,
    model: &Model,
    params: &Params,
) -> ApiResult<()> {
    for (key, raw) in &params.0 {
        // A field name may itself contain `__` (`creator__username`): try it whole first.
        let (name, lookup) = if model.filters.iter().any(|f| f.name == key) {
            (key.as_str(), "exact")
        } else {
            match key.rsplit_once("__") {
                Some((name, lookup)) if model.filters.iter().any(|f| f.name == name) => {
                    (name, lookup)
                }
                _ => (key.as_str(), "exact"),
            }
        };
        let Some(field) = model.filters.iter().find(|f| f.name == name) else {
            continue;
        };
        if lookup != "exact" && !field.lookups.contains(&lookup) {
            continue;
        }
        // An empty value filters nothing, as django-filter skips `EMPTY_VALUES` (form fields
        // strip whitespace first).
        if raw.trim().is_empty() {
            continue;
        }
        qb.push(" AND ");
        match lookup {
            // A condition with the value's place marked (`... = {}`): membership filters.
            "exact" if field.sql.contains("{}") => {
                let (before, after) = field.sql.split_once("{}").unwrap_or((field.sql, ""));
                qb.push("(");
                qb.push(before);
                push_value(qb, field, key, raw)?;
                qb.push(after);
                qb.push(")");
            }
            "exact" => {
                qb.push(format!("({}) = ", field.sql));
                push_value(qb, field, key, raw)?;
            }
            "icontains" => {
                qb.push(format!("({})::text ILIKE '%' || ", field.sql));
                let escaped = raw
                    .replace('\\', "\\\\")
                    .replace('%', "\\%")
                    .replace('_', "\\_");
                qb.push_bind(escaped);
                qb.push(" || '%'");
            }
            "lt" | "gt" | "lte" | "gte" => {
                let op = match lookup {
                    "lt" => "<",
                    "gt" => ">",
                    "lte" => "<=",
                    _ => ">=",
                };
                qb.push(format!("({}) {op} ", field.sql));
                push_value(qb, field, key, raw)?;
            }
            "in" => {
                qb.push(format!("({}) IN (", field.sql));
                let mut first = true;
                for part in raw.split(',').filter(|p| !p.is_empty()) {
                    if !first {
                        qb.push(", ");
                    }
                    first = false;
                    push_value(qb, field, key, part)?;
                }
                if first {
                    qb.push("NULL");
                }
                qb.push(")");
            }
            "isnull" => {
                let b = parse_bool(raw.trim())
                    .ok_or_else(|| ApiError::field(key, "Enter a valid boolean."))?;
                qb.push(format!(
                    "({}) IS {}NULL",
                    field.sql,
                    if b { "" } else { "NOT " }
                ));
            }
            _ => {
                qb.push("true");
            }
        }
    }
    Ok(())
}

/// Appends the visibility rule for `user`.
pub fn push_visibility(qb: &mut QueryBuilder<'_, Postgres>, model: &Model, user: Option<&User>) {
    let Some(user) = user else {
        if model.project.is_some() || model.owner.is_some() {
            qb.push(" AND false");
        }
        return;
    };
    if user.sees_all() {
        return;
    }
    if let Some(project) = model.project {
        qb.push(format!(
            " AND ({project}) IN (SELECT project_uuid FROM project_access WHERE user_id = "
        ));
        qb.push_bind(user.id);
        qb.push(")");
    } else if let Some(owner) = model.owner {
        let mut parts = owner.split("$user");
        qb.push(" AND (");
        if let Some(first) = parts.next() {
            qb.push(first);
        }
        for part in parts {
            qb.push_bind(user.id);
            qb.push(part);
        }
        qb.push(")");
    }
}

fn push_ordering(qb: &mut QueryBuilder<'_, Postgres>, model: &Model, params: &Params) {
    let mut clauses = Vec::new();
    if let Some(ordering) = params.get("ordering") {
        for part in ordering.split(',').map(str::trim) {
            let (desc, name) = match part.strip_prefix('-') {
                Some(name) => (true, name),
                None => (false, part),
            };
            if let Some((_, sql)) = model.ordering.iter().find(|(n, _)| *n == name) {
                clauses.push(format!("{sql} {}", if desc { "DESC" } else { "ASC" }));
            }
        }
    }
    clauses.push(model.default_order.to_owned());
    qb.push(" ORDER BY ");
    qb.push(clauses.join(", "));
}

fn select_head<'a>(base: &str, model: &Model) -> QueryBuilder<'a, Postgres> {
    select_shape(base, model, model.json)
}

/// `SELECT <json> AS j FROM <base>, <model's tables> WHERE true`.
fn select_shape<'a>(base: &str, model: &Model, json: &str) -> QueryBuilder<'a, Postgres> {
    let mut qb = QueryBuilder::new("SELECT ");
    qb.push(json);
    qb.push(" AS j FROM (SELECT ");
    qb.push_bind(base.to_owned());
    qb.push("::text AS base) b, ");
    qb.push(model.from);
    qb.push(" WHERE true");
    qb
}

/// Extra SQL conditions a route adds to a list (`AND ...`), with bound values.
pub type Extra<'a> = &'a (dyn Fn(&mut QueryBuilder<'_, Postgres>) -> ApiResult<()> + Sync);

/// `?page_size=` as DRF's `PageNumberPagination` reads it (`_positive_int`, strict, cut off at
/// the largest size): a positive integer, at most [`MAX_PAGE_SIZE`] (larger ones, however
/// large, give the largest); zero, negative or not a number gives the default.
fn page_size(value: &str) -> i64 {
    let value = value.trim();
    let digits = value.strip_prefix('+').unwrap_or(value);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        return match digits.parse::<i64>() {
            Ok(0) => PAGE_SIZE,
            Ok(n) => n.min(MAX_PAGE_SIZE),
            // More digits than an i64 holds: positive and over the cut-off.
            Err(_) if digits.trim_start_matches('0').is_empty() => PAGE_SIZE,
            Err(_) => MAX_PAGE_SIZE,
        };
    }
    PAGE_SIZE
}

/// The rows a list read selects: the model's rows the user may see, filtered.
struct Listing<'a> {
    base: &'a str,
    model: &'a Model,
    user: Option<&'a User>,
    params: &'a Params,
    extra: Option<Extra<'a>>,
}

/// A list row: its JSON, as PostgreSQL built it.
type JsonRow = (sqlx::types::Json<Box<serde_json::value::RawValue>>,);

impl Listing<'_> {
    /// `AND ...`: the visibility, the filters and the route's extra conditions.
    fn push_conditions(&self, qb: &mut QueryBuilder<'_, Postgres>) -> ApiResult<()> {
        push_visibility(qb, self.model, self.user);
        push_filters(qb, self.model, self.params)?;
        if let Some(extra) = self.extra {
            extra(qb)?;
        }
        Ok(())
    }

    /// Every row, in order.
    async fn all(&self, pool: &PgPool) -> ApiResult<Vec<JsonRow>> {
        let mut qb = select_head(self.base, self.model);
        self.push_conditions(&mut qb)?;
        push_ordering(&mut qb, self.model, self.params);
        Ok(qb.build_query_as().fetch_all(pool).await?)
    }

    /// One page's rows. Which rows is decided first, without building any JSON (filtered,
    /// ordered, offset and limited, by their `ctid`); only those rows are then rendered. In one
    /// `SELECT` with `OFFSET`, PostgreSQL would build the JSON, with its nested reads, of every
    /// row it skips too.
    async fn page(&self, pool: &PgPool, limit: i64, offset: i64) -> ApiResult<Vec<JsonRow>> {
        let mut qb = select_head(self.base, self.model);
        qb.push(" AND t.ctid = ANY(ARRAY(SELECT t.ctid FROM ");
        qb.push(self.model.from);
        qb.push(" WHERE true");
        self.push_conditions(&mut qb)?;
        push_ordering(&mut qb, self.model, self.params);
        qb.push(" LIMIT ");
        qb.push_bind(limit);
        qb.push(" OFFSET ");
        qb.push_bind(offset);
        qb.push("))");
        push_ordering(&mut qb, self.model, self.params);
        Ok(qb.build_query_as().fetch_all(pool).await?)
    }

    /// How many rows there are (a separate count: a window count needs the whole filtered set
    /// and is no faster here).
    async fn count(&self, pool: &PgPool) -> ApiResult<i64> {
        let mut qb = QueryBuilder::new("SELECT count(*) FROM ");
        qb.push(self.model.from);
        qb.push(" WHERE true");
        self.push_conditions(&mut qb)?;
        let (count,): (i64,) = qb.build_query_as().fetch_one(pool).await?;
        Ok(count)
    }
}

/// A list read: `GET /api/<plural>/`.
pub async fn list(
    pool: &PgPool,
    model: &Model,
    base: &str,
    user: Option<&User>,
    params: &Params,
    path_and_query: (&str, Option<&str>),
    extra: Option<Extra<'_>>,
) -> ApiResult<RawJson> {
    let unpaginated = model.unpaginated_ok
        && (params
            .get("disable_pagination")
            .is_some_and(|v| v != "false" && v != "0")
            || params.has("no_page"));
    let page_size = params.get("page_size").map_or(PAGE_SIZE, page_size);
    let page = match params.get("page") {
        None => 1,
        Some("last") => -1,
        Some(v) => v
            .parse::<i64>()
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(|| ApiError::Detail(StatusCode::NOT_FOUND, "Invalid page.".into()))?,
    };

    let listing = Listing {
        base,
        model,
        user,
        params,
        extra,
    };
    if unpaginated {
        let rows = listing.all(pool).await?;
        let body = format!(
            "[{}]",
            rows.iter()
                .map(|(j,)| j.0.get())
                .collect::<Vec<_>>()
                .join(",")
        );
        return Ok(RawJson(StatusCode::OK, body));
    }
    let offset_page = page.max(1);
    // A page whose first row lies past any possible row (`page=9223372036854775807`) is past
    // the end, as any page after the last is.
    let offset = (offset_page - 1)
        .checked_mul(page_size)
        .ok_or_else(|| ApiError::Detail(StatusCode::NOT_FOUND, "Invalid page.".into()))?;
    let rows = listing.page(pool, page_size, offset).await?;
    let count = listing.count(pool).await?;
    let total_pages = ((count + page_size - 1) / page_size).max(1);
    let page = if page == -1 { total_pages } else { page };
    if page > total_pages {
        return Err(ApiError::Detail(
            StatusCode::NOT_FOUND,
            "Invalid page.".into(),
        ));
    }
    let rows = if page != offset_page {
        // `page=last`: read that page now that the count is known.
        listing
            .page(pool, page_size, (page - 1) * page_size)
            .await?
    } else {
        rows
    };
    let link = |n: i64| -> Value {
        let (path, query) = path_and_query;
        let mut pairs: Vec<(String, String)> = Params::parse(query)
            .0
            .into_iter()
            .filter(|(k, _)| k != "page")
            .collect();
        if n > 1 {
            pairs.push(("page".into(), n.to_string()));
        }
        let host = base.trim_end_matches("/api/");
        let encoded = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        if encoded.is_empty() {
            Value::String(format!("{host}{path}"))
        } else {
            Value::String(format!("{host}{path}?{encoded}"))
        }
    };
    let next = if page < total_pages {
        link(page + 1)
    } else {
        Value::Null
    };
    let previous = if page > 1 {
        link(page - 1)
    } else {
        Value::Null
    };
    let results = rows
        .iter()
        .map(|(j,)| j.0.get())
        .collect::<Vec<_>>()
        .join(",");
    let body = format!(
        r#"{{"count":{count},"next":{next},"previous":{previous},"current_page":{page},"total_pages":{total_pages},"results":[{results}]}}"#
    );
    Ok(RawJson(StatusCode::OK, body))
}

/// A detail read of one object the user may see, in the detail routes' representation.
pub async fn detail(
    pool: &PgPool,
    model: &Model,
    base: &str,
    user: Option<&User>,
    id: Uuid,
) -> ApiResult<String> {
    detail_as(pool, model, model.detail_shape(), base, user, id).await
}

/// A read of one object the user may see in the list routes' representation (what upstream's
/// list views answer to a create).
pub async fn list_row(
    pool: &PgPool,
    model: &Model,
    base: &str,
    user: Option<&User>,
    id: Uuid,
) -> ApiResult<String> {
    detail_as(pool, model, model.json, base, user, id).await
}

async fn detail_as(
    pool: &PgPool,
    model: &Model,
    json: &str,
    base: &str,
    user: Option<&User>,
    id: Uuid,
) -> ApiResult<String> {
    let mut qb = select_shape(base, model, json);
    qb.push(" AND t.uuid = ");
    qb.push_bind(id);
    push_visibility(&mut qb, model, user);
    let row: Option<(sqlx::types::Json<Box<serde_json::value::RawValue>>,)> =
        qb.build_query_as().fetch_optional(pool).await?;
    row.map(|(j,)| j.0.get().to_owned())
        .ok_or(ApiError::NotFound)
}

/// A detail read by another key column (users: `t.id`).
pub async fn detail_by(
    pool: &PgPool,
    model: &Model,
    base: &str,
    user: Option<&User>,
    column: &str,
    id: i64,
) -> ApiResult<String> {
    let mut qb = select_shape(base, model, model.detail_shape());
    qb.push(format!(" AND {column} = "));
    qb.push_bind(id);
    push_visibility(&mut qb, model, user);
    let row: Option<(sqlx::types::Json<Box<serde_json::value::RawValue>>,)> =
        qb.build_query_as().fetch_optional(pool).await?;
    row.map(|(j,)| j.0.get().to_owned())
        .ok_or(ApiError::NotFound)
}

/// [`detail`] as a parsed value, for handlers that add to it.
pub async fn detail_value(
    pool: &PgPool,
    model: &Model,
    base: &str,
    user: Option<&User>,
    id: Uuid,
) -> ApiResult<Value> {
    let raw = detail(pool, model, base, user, id).await?;
    serde_json::from_str(&raw).map_err(ApiError::internal)
}

/// Whether `user` may see the object `id` of `model` (for writes that first need read access).
pub async fn visible(pool: &PgPool, model: &Model, user: &User, id: Uuid) -> ApiResult<bool> {
    let mut qb = QueryBuilder::new("SELECT 1 FROM ");
    qb.push(model.from);
    qb.push(" WHERE t.uuid = ");
    qb.push_bind(id);
    push_visibility(&mut qb, model, Some(user));
    Ok(qb.build().fetch_optional(pool).await?.is_some())
}

/// The project an object belongs to, when the model has one.
pub async fn project_of(pool: &PgPool, model: &Model, id: Uuid) -> ApiResult<Option<Uuid>> {
    let Some(project) = model.project else {
        return Ok(None);
    };
    let mut qb = QueryBuilder::new(format!("SELECT ({project}) FROM "));
    qb.push(model.from);
    qb.push(" WHERE t.uuid = ");
    qb.push_bind(id);
    let row: Option<(Option<Uuid>,)> = qb.build_query_as().fetch_optional(pool).await?;
    Ok(row.and_then(|(p,)| p))
}

/// `OPTIONS` metadata as upstream's `RodanMetadata`: DRF's name/description/renders/parses plus
/// `filter_fields` (`{field: [lookups]}`) and `ordering_fields`.
pub fn options(model: &Model, list: bool, methods: &[&str]) -> Value {
    let mut filter_fields = Map::new();
    for field in model.filters {
        let mut lookups = vec![Value::from("exact")];
        lookups.extend(field.lookups.iter().map(|l| Value::from(*l)));
        filter_fields.insert(field.name.to_owned(), Value::Array(lookups));
    }
    let ordering: Vec<&str> = model.ordering.iter().map(|(n, _)| *n).collect();
    json!({
        "name": format!("{} {}", model.title, if list { "List" } else { "Detail" }),
        "description": "",
        "renders": ["application/json"],
        "parses": ["application/json", "application/x-www-form-urlencoded", "multipart/form-data"],
        "allowed_methods": methods,
        "filter_fields": filter_fields,
        "ordering_fields": ordering,
    })
}

/// `OPTIONS` metadata of a view without a model (`auth/me/`, `resources/archive/`).
pub fn view_options(name: &str, methods: &[&str]) -> Value {
    json!({
        "name": name,
        "description": "",
        "renders": ["application/json"],
        "parses": ["application/json", "application/x-www-form-urlencoded", "multipart/form-data"],
        "allowed_methods": methods,
        "filter_fields": {},
        "ordering_fields": [],
    })
}

/// Reads a JSON or form body into a map of fields (values as JSON).
pub fn body_map(body: &Value) -> ApiResult<&Map<String, Value>> {
    body.as_object()
        .ok_or_else(|| ApiError::bad_request("Expected a JSON object."))
}
