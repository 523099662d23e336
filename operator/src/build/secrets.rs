//! Generated credentials. Unlike the rest of the build these are random, so they are made
//! outside the pure build, created once (create, never apply) and never rewritten: a new
//! password on a database that was initialised with the old one would lock everyone out.

use std::collections::BTreeMap;

use rand::Rng;
use rand::distr::Alphanumeric;
use rodan_types::{amqp_url, postgres_url, redis_url, secret_keys, services};
use serde_json::json;

use super::{Apply, BuildError, Child, Instance, Kind};
use crate::crd::Rodan;

/// The database user and database name of a managed PostgreSQL.
pub const DB_USER: &str = "rodan";
/// The broker user of a managed RabbitMQ.
pub const BROKER_USER: &str = "rodan";
/// The bootstrap superuser's name when the operator generates it.
pub const ADMIN_USER: &str = "admin";

/// Name of the generated Secret holding the managed database's credentials.
pub fn postgres(instance: &str) -> String {
    format!("{instance}-postgres")
}
/// Name of the generated Secret holding the managed broker's credentials.
pub fn rabbitmq(instance: &str) -> String {
    format!("{instance}-rabbitmq")
}
/// Name of the generated Secret holding the managed Redis password.
pub fn redis(instance: &str) -> String {
    format!("{instance}-redis")
}
/// Name of the generated Secret holding the signing key and the bootstrap superuser.
pub fn app(instance: &str) -> String {
    format!("{instance}-app")
}

/// The Secrets the operator generates for this `Rodan`, with fresh random values. The apply step
/// creates those that do not exist yet and leaves existing ones alone.
pub fn generate(rodan: &Rodan, rng: &mut impl Rng) -> Result<Vec<Child>, BuildError> {
    let inst = Instance::new(rodan, None, false)?;
    let mut token = |len: usize| -> String {
        (&mut *rng)
            .sample_iter(&Alphanumeric)
            .take(len)
            .map(char::from)
            .collect()
    };
    let spec = &rodan.spec;
    let mut out = Vec::new();
    if Instance::managed(spec.database.mode) {
        let password = token(32);
        let host = services::postgres(&inst.name);
        out.push(secret(
            &inst,
            postgres(&inst.name),
            "postgres",
            true,
            [
                (secret_keys::USERNAME, DB_USER.to_owned()),
                (secret_keys::PASSWORD, password.clone()),
                (secret_keys::DATABASE, DB_USER.to_owned()),
                (
                    secret_keys::URL,
                    postgres_url(&host, DB_USER, &password, DB_USER),
                ),
            ],
        ));
    }
    if Instance::managed(spec.rabbitmq.mode) {
        let password = token(32);
        let host = services::rabbitmq(&inst.name);
        out.push(secret(
            &inst,
            rabbitmq(&inst.name),
            "rabbitmq",
            false,
            [
                (secret_keys::USERNAME, BROKER_USER.to_owned()),
                (secret_keys::PASSWORD, password.clone()),
                (secret_keys::URL, amqp_url(&host, BROKER_USER, &password)),
            ],
        ));
    }
    if Instance::managed(spec.redis.mode) {
        let password = token(32);
        let host = services::redis(&inst.name);
        out.push(secret(
            &inst,
            redis(&inst.name),
            "redis",
            false,
            [
                (secret_keys::PASSWORD, password.clone()),
                (secret_keys::URL, redis_url(&host, &password)),
            ],
        ));
    }
    out.push(secret(
        &inst,
        app(&inst.name),
        "api",
        true,
        [
            (secret_keys::SECRET_KEY, token(64)),
            (secret_keys::ADMIN_USER, ADMIN_USER.to_owned()),
            (
                secret_keys::ADMIN_EMAIL,
                format!("{ADMIN_USER}@{}.{}.invalid", inst.name, inst.namespace),
            ),
            (secret_keys::ADMIN_PASSWORD, token(24)),
        ],
    ));
    Ok(out)
}

fn secret<const N: usize>(
    inst: &Instance<'_>,
    name: String,
    component: &str,
    holds_data: bool,
    data: [(&str, String); N],
) -> Child {
    let meta = if holds_data {
        inst.data_meta(&name, component)
    } else {
        inst.meta(&name, component)
    };
    let data: BTreeMap<&str, String> = data.into_iter().collect();
    Child {
        kind: Kind::Secret,
        name,
        object: json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": meta,
            "type": "Opaque",
            "stringData": data,
        }),
        apply: Apply::Always,
    }
}
