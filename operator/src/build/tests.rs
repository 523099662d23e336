use rand::SeedableRng;
use serde_json::json;

use super::*;
use crate::crd::{Rodan, RodanSpec};

fn rodan(spec: serde_json::Value) -> Rodan {
    let spec: RodanSpec = serde_json::from_value(spec).expect("a valid spec");
    let mut r = Rodan::new("lab", spec);
    r.metadata.namespace = Some("music".into());
    r.metadata.uid = Some("0000-uid".into());
    r
}

fn succeeded(r: &Rodan) -> Observed {
    let release = Release::of(&r.spec);
    Observed {
        migrations: vec![(
            release::job_name("lab", &release),
            release,
            MigrationState::Succeeded,
        )],
        keda: true,
    }
}

fn names(d: &Desired, kind: Kind) -> Vec<&str> {
    d.children
        .iter()
        .filter(|c| c.kind == kind)
        .map(|c| c.name.as_str())
        .collect()
}

fn child<'a>(d: &'a Desired, kind: Kind, name: &str) -> &'a Child {
    d.children
        .iter()
        .find(|c| c.kind == kind && c.name == name)
        .unwrap_or_else(|| panic!("{kind:?} {name} is built"))
}

#[test]
fn a_new_rodan_gets_backing_services_and_a_migration_but_no_api_yet() {
    let r = rodan(json!({}));
    let d = build(&r, &Observed::default()).expect("built");
    assert_eq!(d.migration, MigrationState::Pending);
    assert_eq!(d.running, None);
    assert_eq!(
        names(&d, Kind::StatefulSet),
        ["lab-postgres", "lab-rabbitmq"]
    );
    assert_eq!(names(&d, Kind::Deployment), ["lab-redis", "lab-web"]);
    let job = &d
        .children
        .iter()
        .find(|c| c.kind == Kind::Job)
        .expect("a Job");
    assert_eq!(job.apply, Apply::Always);
    assert_eq!(
        names(&d, Kind::PersistentVolumeClaim),
        ["lab-media", "lab-postgres-data"]
    );
}

#[test]
fn a_migrated_rodan_runs_the_api_and_one_worker_per_queue() {
    let r = rodan(json!({}));
    let d = build(&r, &succeeded(&r)).expect("built");
    assert_eq!(
        d.running.as_ref().map(|r| r.version.as_str()),
        Some(crate::crd::DEFAULT_VERSION)
    );
    assert_eq!(
        names(&d, Kind::Deployment),
        [
            "lab-redis",
            "lab-api",
            "lab-worker-celery",
            "lab-worker-python3",
            "lab-worker-gpu",
            "lab-web"
        ]
    );
    let job = d
        .children
        .iter()
        .find(|c| c.kind == Kind::Job)
        .expect("a Job");
    assert_eq!(
        job.apply,
        Apply::KeepOnly,
        "a finished Job is not rewritten"
    );
}

#[test]
fn children_come_in_apply_order() {
    let r = rodan(json!({"ingress": {"host": "r.example.org"}, "backups": {"enabled": true}}));
    let d = build(&r, &succeeded(&r)).expect("built");
    let kinds: Vec<Kind> = d.children.iter().map(|c| c.kind).collect();
    let mut sorted = kinds.clone();
    sorted.sort();
    assert_eq!(kinds, sorted);
    let pos = |k: Kind| kinds.iter().position(|x| *x == k).expect("present");
    assert!(pos(Kind::ConfigMap) < pos(Kind::StatefulSet));
    assert!(
        pos(Kind::Job) < pos(Kind::Deployment),
        "migrate before rolling the API"
    );
    assert!(pos(Kind::Deployment) < pos(Kind::Ingress));
}

#[test]
fn an_upgrade_keeps_the_migrated_release_until_the_new_one_is_migrated() {
    let old = rodan(json!({"version": "3.1.0"}));
    let observed = succeeded(&old);
    let new = rodan(json!({"version": "3.2.0"}));
    let d = build(&new, &observed).expect("built");
    assert_eq!(d.migration, MigrationState::Pending);
    assert_eq!(d.target.version, "3.2.0");
    assert_eq!(
        d.running.as_ref().map(|r| r.version.as_str()),
        Some("3.1.0")
    );
    let api = child(&d, Kind::Deployment, "lab-api");
    assert_eq!(
        api.object["spec"]["template"]["spec"]["containers"][0]["image"],
        "ghcr.io/ddmal/rodan-api-server:3.1.0"
    );
    let jobs = names(&d, Kind::Job);
    assert_eq!(
        jobs.len(),
        2,
        "the new Job and the one proving the old release: {jobs:?}"
    );
    let kept = child(&d, Kind::Job, &observed.migrations[0].0);
    assert_eq!(kept.apply, Apply::KeepOnly);

    let mut migrated = observed.clone();
    let release = Release::of(&new.spec);
    migrated.migrations.push((
        release::job_name("lab", &release),
        release,
        MigrationState::Succeeded,
    ));
    let d = build(&new, &migrated).expect("built");
    assert_eq!(
        d.running.as_ref().map(|r| r.version.as_str()),
        Some("3.2.0")
    );
    assert_eq!(
        names(&d, Kind::Job).len(),
        1,
        "the old Job becomes an orphan"
    );
}

#[test]
fn only_queues_with_gpus_request_them_and_use_the_gpu_image() {
    let r = rodan(json!({"workers": [
        {"name": "celery"},
        {"name": "GPU", "gpus": 2, "nodeSelector": {"gpu": "true"}, "runtimeClassName": "nvidia",
         "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]},
    ]}));
    let d = build(&r, &succeeded(&r)).expect("built");
    let gpu = &child(&d, Kind::Deployment, "lab-worker-gpu").object["spec"];
    let pod = &gpu["template"]["spec"];
    assert_eq!(
        pod["containers"][0]["resources"]["limits"]["nvidia.com/gpu"],
        "2"
    );
    assert!(
        pod["containers"][0]["image"]
            .as_str()
            .is_some_and(|i| i.contains("rodan-worker-gpu"))
    );
    assert_eq!(pod["nodeSelector"]["gpu"], "true");
    assert_eq!(pod["runtimeClassName"], "nvidia");
    assert_eq!(gpu["strategy"]["rollingUpdate"]["maxSurge"], 0);
    let celery =
        &child(&d, Kind::Deployment, "lab-worker-celery").object["spec"]["template"]["spec"];
    assert!(celery["containers"][0].get("resources").is_none());
    assert!(celery.get("nodeSelector").is_none());
    assert!(
        celery["containers"][0]["image"]
            .as_str()
            .is_some_and(|i| i.contains("/rodan-worker:"))
    );
}

#[test]
fn data_outlives_the_rodan_unless_the_policy_says_delete() {
    let r = rodan(json!({}));
    let d = build(&r, &Observed::default()).expect("built");
    for claim in ["lab-media", "lab-postgres-data"] {
        let meta = &child(&d, Kind::PersistentVolumeClaim, claim).object["metadata"];
        assert!(
            meta.get("ownerReferences").is_none(),
            "{claim} is not owned"
        );
    }
    let owned = &child(&d, Kind::Deployment, "lab-web").object["metadata"]["ownerReferences"];
    assert_eq!(owned[0]["controller"], true);

    let r = rodan(json!({"storage": {"deletionPolicy": "Delete"}}));
    let d = build(&r, &Observed::default()).expect("built");
    let meta = &child(&d, Kind::PersistentVolumeClaim, "lab-media").object["metadata"];
    assert_eq!(meta["ownerReferences"][0]["uid"], "0000-uid");
}

#[test]
fn external_services_replace_the_managed_ones() {
    let r = rodan(json!({
        "database": {"mode": "External", "externalSecretName": "db"},
        "rabbitmq": {"mode": "External", "externalSecretName": "mq"},
        "redis": {"mode": "External", "externalSecretName": "cache"},
    }));
    let d = build(&r, &succeeded(&r)).expect("built");
    assert!(names(&d, Kind::StatefulSet).is_empty());
    assert!(names(&d, Kind::NetworkPolicy).is_empty());
    assert_eq!(names(&d, Kind::PersistentVolumeClaim), ["lab-media"]);
    let env = &child(&d, Kind::Deployment, "lab-api").object["spec"]["template"]["spec"]["containers"]
        [0]["env"];
    let from = |name: &str| {
        env.as_array()
            .and_then(|e| e.iter().find(|v| v["name"] == name))
            .map(|v| v["valueFrom"]["secretKeyRef"]["name"].clone())
    };
    assert_eq!(from("DATABASE_URL"), Some(json!("db")));
    assert_eq!(from("RABBITMQ_URL"), Some(json!("mq")));
    assert_eq!(from("REDIS_URL"), Some(json!("cache")));
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let secrets = secrets::generate(&r, &mut rng).expect("generated");
    assert_eq!(
        secrets.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
        ["lab-app"]
    );
}

#[test]
fn generated_urls_carry_the_generated_passwords() {
    let r = rodan(json!({}));
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let secrets = secrets::generate(&r, &mut rng).expect("generated");
    let pg = secrets
        .iter()
        .find(|s| s.name == "lab-postgres")
        .expect("postgres");
    let data = &pg.object["stringData"];
    let password = data["password"].as_str().expect("a password");
    assert_eq!(password.len(), 32);
    assert!(password.chars().all(|c| c.is_ascii_alphanumeric()));
    assert_eq!(
        data["url"],
        format!("postgres://rodan:{password}@lab-postgres:5432/rodan")
    );
    let again = secrets::generate(&r, &mut rng).expect("generated");
    assert_ne!(
        again[0].object, pg.object,
        "each generation draws new values"
    );
}

#[test]
fn a_configuration_change_rolls_nginx() {
    let checksum = |spec| {
        let r = rodan(spec);
        let d = build(&r, &Observed::default()).expect("built");
        child(&d, Kind::Deployment, "lab-web").object["spec"]["template"]["metadata"]["annotations"]
            [annotations::CONFIG_CHECKSUM]
            .clone()
    };
    assert_eq!(
        checksum(json!({})),
        checksum(json!({"web": {"replicas": 3}}))
    );
    assert_ne!(
        checksum(json!({})),
        checksum(json!({"web": {"clientMaxBodySize": "1g"}}))
    );
}

#[test]
fn every_pod_meets_the_restricted_pod_security_standard() {
    let r = rodan(json!({"backups": {"enabled": true}}));
    let d = build(&r, &succeeded(&r)).expect("built");
    let mut pods = 0;
    for c in &d.children {
        let pod = match c.kind {
            Kind::Deployment | Kind::StatefulSet | Kind::Job => {
                &c.object["spec"]["template"]["spec"]
            }
            Kind::CronJob => &c.object["spec"]["jobTemplate"]["spec"]["template"]["spec"],
            _ => continue,
        };
        pods += 1;
        let psc = &pod["securityContext"];
        assert_eq!(psc["runAsNonRoot"], true, "{}", c.name);
        assert_eq!(
            psc["seccompProfile"]["type"], "RuntimeDefault",
            "{}",
            c.name
        );
        assert_eq!(pod["automountServiceAccountToken"], false, "{}", c.name);
        for container in pod["containers"].as_array().expect("containers") {
            let sc = &container["securityContext"];
            assert_eq!(sc["allowPrivilegeEscalation"], false, "{}", c.name);
            assert_eq!(sc["capabilities"]["drop"], json!(["ALL"]), "{}", c.name);
            assert_eq!(sc["readOnlyRootFilesystem"], true, "{}", c.name);
        }
    }
    assert_eq!(pods, 10, "every workload was checked");
}

#[test]
fn migration_job_names_are_valid_labels_whatever_the_input() {
    let long = "a".repeat(60);
    let release = Release {
        version: "v3.2.0-rc.1+build.20261125.with.a.very.long.suffix".into(),
        api: "x".into(),
        worker: "y".into(),
        gpu_worker: "z".into(),
    };
    let name = release::job_name(&long, &release);
    assert!(name.len() <= 63, "{name}");
    assert!(
        name.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
        "{name}"
    );
    assert!(!name.starts_with('-') && !name.ends_with('-'));
    let other = Release {
        api: "x2".into(),
        ..release.clone()
    };
    assert_ne!(
        name,
        release::job_name(&long, &other),
        "images are part of a release"
    );
}

#[test]
fn the_minimal_rodan_renders_as_recorded() {
    let r = rodan(json!({}));
    let d = build(&r, &succeeded(&r)).expect("built");
    let objects: Vec<&serde_json::Value> = d.children.iter().map(|c| &c.object).collect();
    insta::assert_yaml_snapshot!("minimal", objects);
}

#[test]
fn autoscaled_queues_are_scaled_by_keda_when_it_is_served() {
    let r = rodan(json!({"workers": [
        {"name": "celery", "replicas": 2},
        {"name": "GPU", "gpus": 1, "replicas": 1,
         "autoscaling": {"minReplicas": 0, "maxReplicas": 3, "messagesPerReplica": 4}},
    ]}));
    let d = build(&r, &succeeded(&r)).expect("built");
    assert!(d.unscaled_queues.is_empty());
    let so = &child(&d, Kind::ScaledObject, "lab-worker-gpu").object["spec"];
    assert_eq!(so["scaleTargetRef"]["name"], "lab-worker-gpu");
    assert_eq!(
        (so["minReplicaCount"].clone(), so["maxReplicaCount"].clone()),
        (json!(0), json!(3))
    );
    let trigger = &so["triggers"][0];
    assert_eq!(trigger["type"], "rabbitmq");
    assert_eq!(trigger["metadata"]["queueName"], "GPU");
    assert_eq!(trigger["metadata"]["value"], "4");
    assert_eq!(trigger["authenticationRef"]["name"], "lab-rabbitmq");
    let auth = &child(&d, Kind::TriggerAuthentication, "lab-rabbitmq").object["spec"];
    assert_eq!(
        auth["secretTargetRef"][0],
        json!({"parameter": "host", "name": "lab-rabbitmq", "key": "url"})
    );
    let gpu = &child(&d, Kind::Deployment, "lab-worker-gpu").object["spec"];
    assert!(gpu.get("replicas").is_none(), "KEDA owns the count");
    let celery = &child(&d, Kind::Deployment, "lab-worker-celery").object["spec"];
    assert_eq!(celery["replicas"], 2);
    assert!(
        names(&d, Kind::ScaledObject).len() == 1,
        "only autoscaled queues"
    );
    assert!(
        names(&d, Kind::PodDisruptionBudget).contains(&"lab-worker-gpu"),
        "up to 3 pods"
    );

    let mut without_keda = succeeded(&r);
    without_keda.keda = false;
    let d = build(&r, &without_keda).expect("built");
    assert!(names(&d, Kind::ScaledObject).is_empty());
    assert!(names(&d, Kind::TriggerAuthentication).is_empty());
    assert_eq!(d.unscaled_queues, ["GPU"]);
    let gpu = &child(&d, Kind::Deployment, "lab-worker-gpu").object["spec"];
    assert_eq!(gpu["replicas"], 1, "held within the bounds");
}

#[test]
fn the_api_refuses_the_uploads_nginx_refuses() {
    for (size, mib) in [
        ("700m", "700"),
        ("2g", "2048"),
        ("512k", "1"),
        ("1048577", "2"),
        ("0", "0"),
    ] {
        let r = rodan(json!({"web": {"clientMaxBodySize": size}}));
        let d = build(&r, &succeeded(&r)).expect("built");
        let env = &child(&d, Kind::Deployment, "lab-api").object["spec"]["template"]["spec"]["containers"]
            [0]["env"];
        let value = env
            .as_array()
            .and_then(|e| e.iter().find(|v| v["name"] == "RODAN_MAX_UPLOAD_MIB"))
            .map(|v| v["value"].clone());
        assert_eq!(value, Some(json!(mib)), "{size}");
    }
}

#[test]
fn login_limits_trusted_proxies_and_origins_reach_nginx_and_the_api() {
    let r = rodan(json!({
        "api": {"allowedOrigins": ["https://client.example", "http://localhost:9002"]},
        "web": {"loginRequestsPerMinute": 30, "trustedProxies": ["10.0.0.0/8", "fd00::/8"]},
    }));
    let d = build(&r, &succeeded(&r)).expect("built");
    let conf = child(&d, Kind::ConfigMap, "lab-nginx").object["data"]["nginx.conf"]
        .as_str()
        .expect("a configuration")
        .to_owned();
    assert!(conf.contains("rate=30r/m;"), "{conf}");
    assert!(conf.contains("limit_req zone=rodan_login burst=30 nodelay;"));
    assert!(conf.contains("Expected available in 2 seconds."));
    assert!(conf.contains("set_real_ip_from 10.0.0.0/8;\n    set_real_ip_from fd00::/8;"));
    let env = &child(&d, Kind::Deployment, "lab-api").object["spec"]["template"]["spec"]["containers"]
        [0]["env"];
    let value = |name: &str| {
        env.as_array()
            .and_then(|e| e.iter().find(|v| v["name"] == name))
            .and_then(|v| v["value"].as_str())
            .map(str::to_owned)
    };
    assert_eq!(
        value("RODAN_ALLOWED_ORIGINS").as_deref(),
        Some("https://client.example,http://localhost:9002")
    );
    assert!(
        value("RODAN_TRUSTED_PROXIES").is_some_and(|v| v.contains("10.0.0.0/8")),
        "the API takes nginx's word for the client"
    );
    // Without proxies in front, nginx trusts no forwarded address.
    let plain = rodan(json!({}));
    let d = build(&plain, &succeeded(&plain)).expect("built");
    let conf = child(&d, Kind::ConfigMap, "lab-nginx").object["data"]["nginx.conf"]
        .as_str()
        .expect("a configuration");
    assert!(!conf.contains("set_real_ip_from"), "{conf}");
    assert!(!conf.contains("real_ip_header"), "{conf}");
}
