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
    assert_eq!(
        names(&d, Kind::Deployment),
        ["lab-redis", "lab-client", "lab-web"]
    );
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
            "lab-client",
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
    assert_eq!(
        names(&d, Kind::NetworkPolicy),
        ["lab-client"],
        "only the web client's"
    );
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
    assert_eq!(pods, 11, "every workload was checked");
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

fn pod_of<'a>(d: &'a Desired, name: &str) -> &'a serde_json::Value {
    &child(d, Kind::Deployment, name).object["spec"]["template"]["spec"]
}

fn nginx_conf_of(d: &Desired) -> String {
    child(d, Kind::ConfigMap, "lab-nginx").object["data"]["nginx.conf"]
        .as_str()
        .expect("a configuration")
        .to_owned()
}

fn client_configuration(d: &Desired) -> serde_json::Value {
    let text = child(d, Kind::ConfigMap, "lab-client").object["data"]["configuration.json"]
        .as_str()
        .expect("configuration.json")
        .to_owned();
    serde_json::from_str(&text).expect("configuration.json is JSON")
}

/// `shared/` beside the repository, or where `RODAN_SHARED_DIR` says.
fn shared_dir() -> std::path::PathBuf {
    std::env::var_os("RODAN_SHARED_DIR").map_or_else(
        || std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared"),
        std::path::PathBuf::from,
    )
}

#[test]
fn the_web_client_runs_by_default_behind_nginx_and_goes_when_turned_off() {
    let r = rodan(json!({}));
    let d = build(&r, &succeeded(&r)).expect("built");
    let pod = pod_of(&d, "lab-client");
    assert_eq!(
        pod["containers"][0]["image"],
        "docker.io/ddmal/rodan-client:v3.1.0"
    );
    assert_eq!(pod["containers"][0]["ports"][0]["containerPort"], 80);
    assert_eq!(pod["containers"][0]["args"], json!(["nginx"]));
    assert!(
        pod["containers"][0].get("command").is_none(),
        "the image's entrypoint"
    );
    let mount = pod["containers"][0]["volumeMounts"]
        .as_array()
        .and_then(|m| m.iter().find(|m| m["name"] == "config"))
        .expect("the configuration mount");
    assert_eq!(mount["mountPath"], "/client/configuration.json");
    assert_eq!(mount["subPath"], "configuration.json");
    assert_eq!(pod["volumes"][0]["configMap"]["name"], "lab-client");
    let svc = &child(&d, Kind::Service, "lab-client").object["spec"];
    assert_eq!(svc["ports"][0]["port"], 80);
    assert_eq!(svc["selector"]["app.kubernetes.io/component"], "client");
    let labels = &child(&d, Kind::Deployment, "lab-client").object["metadata"]["labels"];
    for (key, value) in [
        ("app.kubernetes.io/name", "rodan"),
        ("app.kubernetes.io/instance", "lab"),
        ("app.kubernetes.io/component", "client"),
        ("app.kubernetes.io/part-of", "rodan"),
        ("app.kubernetes.io/managed-by", "rodan-operator"),
    ] {
        assert_eq!(labels[key], value, "{key}");
    }
    // Only nginx reaches the client.
    let policy = &child(&d, Kind::NetworkPolicy, "lab-client").object["spec"];
    assert_eq!(
        policy["podSelector"]["matchLabels"]["app.kubernetes.io/component"],
        "client"
    );
    assert_eq!(
        policy["ingress"][0]["from"][0]["podSelector"]["matchLabels"],
        json!({"app.kubernetes.io/name": "rodan", "app.kubernetes.io/instance": "lab", "app.kubernetes.io/component": "web"})
    );
    assert_eq!(policy["ingress"][0]["ports"][0]["port"], 80);
    // nginx sends `/` to it; the API, the websocket and media stay as they were.
    let conf = nginx_conf_of(&d);
    assert!(conf.contains("server lab-client:80;"), "{conf}");
    assert!(conf.contains("proxy_pass http://rodan_client;"), "{conf}");
    assert!(!conf.contains("return 302 /api/;"), "{conf}");
    let plain = web::nginx_conf("lab-api", &r.spec.web);
    for location in [
        "location /api {",
        "location = /api/auth/token/ {",
        "location /ws {",
        "location /uploads/ {",
        "location /_media/ {",
    ] {
        let block = |c: &str| {
            let start = c.find(location).unwrap_or_else(|| panic!("{location}"));
            let len = c[start..].find("\n        }").expect("a block");
            c[start..start + len].to_owned()
        };
        assert_eq!(block(&conf), block(&plain), "{location} is unchanged");
    }

    let mut off = rodan(json!({"client": {"enabled": false}}));
    off.spec.client.replicas = 3;
    let d = build(&off, &succeeded(&off)).expect("built");
    for kind in [
        Kind::ConfigMap,
        Kind::Service,
        Kind::Deployment,
        Kind::NetworkPolicy,
        Kind::PodDisruptionBudget,
    ] {
        assert!(
            !names(&d, kind).contains(&"lab-client"),
            "no {kind:?} of the client"
        );
    }
    let conf = nginx_conf_of(&d);
    assert_eq!(conf, plain, "today's configuration: / redirects to /api/");
    assert!(conf.contains("return 302 /api/;"));
    assert!(!conf.contains("rodan_client"));
}

#[test]
fn the_client_configuration_is_upstreams_with_the_public_host() {
    let conf = |spec| {
        let r = rodan(spec);
        client_configuration(&build(&r, &succeeded(&r)).expect("built"))
    };
    // No Ingress: the web Service, whose port is not http's default. The client's websocket URL
    // would be `host:port:port`, so it polls.
    let c = conf(json!({}));
    assert_eq!(c["SERVER_HOST"], "lab-web.music.svc:8080");
    assert_eq!(c["SERVER_PORT"], "8080");
    assert_eq!(c["SERVER_HTTPS"], false);
    assert_eq!(c["SERVER_SOCKET_AVAILABLE"], false);
    assert_eq!(c["SERVER_AUTHENTICATION_TYPE"], "token");
    // An Ingress host over http and over https: default ports, the websocket on.
    let c = conf(json!({"ingress": {"host": "rodan.example.org"}}));
    assert_eq!(c["SERVER_HOST"], "rodan.example.org");
    assert_eq!(c["SERVER_PORT"], "80");
    assert_eq!(c["SERVER_HTTPS"], false);
    assert_eq!(c["SERVER_SOCKET_AVAILABLE"], true);
    let c = conf(json!({"ingress": {"host": "rodan.example.org", "tlsSecretName": "cert"}}));
    assert_eq!(c["SERVER_HOST"], "rodan.example.org");
    assert_eq!(c["SERVER_PORT"], "443");
    assert_eq!(c["SERVER_HTTPS"], true);
    assert_eq!(c["SERVER_SOCKET_AVAILABLE"], true);

    // Every other key as upstream's file (the fixture's configuration.json).
    let path = shared_dir().join("fixtures/rodan-client/configuration.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{} (set RODAN_SHARED_DIR): {e}", path.display()));
    let mut upstream: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    let mut ours = c;
    for key in [
        "SERVER_HOST",
        "SERVER_PORT",
        "SERVER_HTTPS",
        "SERVER_SOCKET_AVAILABLE",
    ] {
        upstream.as_object_mut().map(|o| o.remove(key));
        ours.as_object_mut().map(|o| o.remove(key));
    }
    assert_eq!(ours, upstream);
}

#[test]
fn a_change_of_the_client_configuration_rolls_the_client() {
    let checksum = |spec| {
        let r = rodan(spec);
        let d = build(&r, &succeeded(&r)).expect("built");
        child(&d, Kind::Deployment, "lab-client").object["spec"]["template"]["metadata"]
            ["annotations"][annotations::CONFIG_CHECKSUM]
            .clone()
    };
    let base = checksum(json!({}));
    assert!(base.is_string());
    assert_eq!(base, checksum(json!({"client": {"replicas": 2}})));
    assert_ne!(
        base,
        checksum(json!({"ingress": {"host": "rodan.example.org"}}))
    );
}

#[test]
fn client_pods_bind_port_80_under_the_restricted_standard() {
    let r = rodan(json!({"client": {
        "replicas": 2,
        "nodeSelector": {"zone": "a"},
        "tolerations": [{"key": "web", "operator": "Exists"}],
        "resources": {"limits": {"memory": "64Mi"}},
    }}));
    let d = build(&r, &succeeded(&r)).expect("built");
    let pod = pod_of(&d, "lab-client");
    let psc = &pod["securityContext"];
    assert_eq!(psc["runAsNonRoot"], true);
    assert_eq!(psc["runAsUser"], 101);
    assert_eq!(psc["seccompProfile"]["type"], "RuntimeDefault");
    assert_eq!(
        psc["sysctls"],
        json!([{"name": "net.ipv4.ip_unprivileged_port_start", "value": "0"}])
    );
    let c = &pod["containers"][0];
    assert_eq!(c["securityContext"]["capabilities"]["drop"], json!(["ALL"]));
    assert_eq!(c["securityContext"]["allowPrivilegeEscalation"], false);
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
    let writable: Vec<&str> = c["volumeMounts"]
        .as_array()
        .expect("mounts")
        .iter()
        .filter(|m| m["readOnly"] != true)
        .filter_map(|m| m["mountPath"].as_str())
        .collect();
    assert_eq!(writable, ["/var/cache/nginx", "/run", "/tmp"]);
    assert_eq!(c["resources"]["limits"]["memory"], "64Mi");
    assert_eq!(pod["nodeSelector"]["zone"], "a");
    assert_eq!(pod["tolerations"][0]["key"], "web");
    assert_eq!(
        child(&d, Kind::Deployment, "lab-client").object["spec"]["replicas"],
        2
    );
    assert!(names(&d, Kind::PodDisruptionBudget).contains(&"lab-client"));
}

#[test]
fn cors_registration_and_mail_settings_reach_the_api_and_workers() {
    let r = rodan(json!({
        "ingress": {"host": "rodan.example.org", "tlsSecretName": "cert"},
        "api": {
            "corsAllowedOrigins": ["https://client.example", "http://localhost:9002"],
            "selfRegistration": true,
        },
        "email": {"host": "smtp.example.org", "credentialsSecret": "smtp"},
    }));
    let d = build(&r, &succeeded(&r)).expect("built");
    let env = |deployment: &str| {
        pod_of(&d, deployment)["containers"][0]["env"]
            .as_array()
            .expect("env")
            .clone()
    };
    let value = |env: &[serde_json::Value], name: &str| {
        env.iter().find(|v| v["name"] == name).map(|v| {
            v.get("value")
                .cloned()
                .unwrap_or_else(|| v["valueFrom"].clone())
        })
    };
    let api = env("lab-api");
    assert_eq!(
        value(&api, "CORS_ALLOWED_ORIGINS"),
        Some(json!("https://client.example,http://localhost:9002"))
    );
    assert_eq!(value(&api, "RODAN_SELF_REGISTRATION"), Some(json!("true")));
    for deployment in ["lab-api", "lab-worker-celery", "lab-worker-gpu"] {
        let env = env(deployment);
        assert_eq!(value(&env, "SERVER_HOST"), Some(json!("rodan.example.org")));
        assert_eq!(value(&env, "SERVER_HTTPS"), Some(json!("true")));
        assert_eq!(value(&env, "EMAIL_HOST"), Some(json!("smtp.example.org")));
        assert_eq!(value(&env, "EMAIL_PORT"), Some(json!("587")));
        assert_eq!(value(&env, "EMAIL_USE_TLS"), Some(json!("true")));
        assert_eq!(
            value(&env, "DEFAULT_FROM_EMAIL"),
            Some(json!("Rodan <noreply@rodan.example.org>"))
        );
        assert_eq!(
            value(&env, "EMAIL_HOST_USER"),
            Some(json!({"secretKeyRef": {"name": "smtp", "key": "username"}}))
        );
        assert_eq!(
            value(&env, "EMAIL_HOST_PASSWORD"),
            Some(json!({"secretKeyRef": {"name": "smtp", "key": "password"}}))
        );
    }
    let worker = env("lab-worker-celery");
    assert_eq!(value(&worker, "CORS_ALLOWED_ORIGINS"), None);

    // Defaults: no CORS, no registration, no mail; the host carries its port.
    let r = rodan(json!({"email": null}));
    let d = build(&r, &succeeded(&r)).expect("built");
    let api = pod_of(&d, "lab-api")["containers"][0]["env"]
        .as_array()
        .expect("env")
        .clone();
    assert_eq!(value(&api, "CORS_ALLOWED_ORIGINS"), None);
    assert_eq!(value(&api, "RODAN_SELF_REGISTRATION"), Some(json!("false")));
    assert_eq!(
        value(&api, "SERVER_HOST"),
        Some(json!("lab-web.music.svc:8080"))
    );
    assert_eq!(value(&api, "SERVER_HTTPS"), Some(json!("false")));
    assert!(
        api.iter()
            .all(|v| !v["name"].as_str().is_some_and(|n| n.starts_with("EMAIL_")))
    );
    // A sender, port and TLS of one's own; no login.
    let r = rodan(
        json!({"email": {"host": "mail", "port": 25, "useTls": false, "from": "lab@example.org"}}),
    );
    let d = build(&r, &succeeded(&r)).expect("built");
    let api = pod_of(&d, "lab-api")["containers"][0]["env"]
        .as_array()
        .expect("env")
        .clone();
    assert_eq!(value(&api, "EMAIL_PORT"), Some(json!("25")));
    assert_eq!(value(&api, "EMAIL_USE_TLS"), Some(json!("false")));
    assert_eq!(
        value(&api, "DEFAULT_FROM_EMAIL"),
        Some(json!("lab@example.org"))
    );
    assert_eq!(value(&api, "EMAIL_HOST_USER"), None);
}

#[test]
fn pods_behind_a_service_drain_before_they_stop() {
    let r = rodan(json!({}));
    let d = build(&r, &succeeded(&r)).expect("built");
    for name in ["lab-web", "lab-api", "lab-client"] {
        let pod = pod_of(&d, name);
        let c = &pod["containers"][0];
        assert_eq!(
            c["lifecycle"]["preStop"]["sleep"]["seconds"], DRAIN_SECONDS,
            "{name}"
        );
        // The drain fits in the grace period (the default 30 s where none is set).
        let grace = pod["terminationGracePeriodSeconds"].as_i64().unwrap_or(30);
        assert!(grace > DRAIN_SECONDS + 10, "{name}: {grace}");
    }
    // Workers and the backing services are behind no load-balanced Service: no drain.
    for c in &d.children {
        if c.kind == Kind::Deployment && c.name.starts_with("lab-worker") {
            let pod = &c.object["spec"]["template"]["spec"];
            assert!(pod["containers"][0]["lifecycle"].is_null(), "{}", c.name);
        }
    }
}
