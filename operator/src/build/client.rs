//! The web client: upstream's rodan-client image (nginx serving the built single-page
//! application on port 80), its rendered `configuration.json`, its Service, and its Deployment
//! under the restricted Pod Security Standard.

use serde_json::{Value, json};

use super::{Apply, Child, Instance, Kind, annotations, hash};

/// Default client image: upstream's own build of the v3.1.0 release (rodan-client 0.20.0).
/// Upstream's Docker Hub build hook pushes `ddmal/rodan-client:<git tag>` from the release
/// branch together with `ddmal/rodan-main:<git tag>`, whose `v3.1.0` upstream's
/// `production.yml` runs.
pub const CLIENT_IMAGE: &str = "docker.io/ddmal/rodan-client:v3.1.0";
/// The port the image's nginx listens on (upstream's `listen 80`).
pub const PORT: u16 = 80;
/// The uid of the `nginx` user of the image's base (docker-library's `nginx:alpine`).
const CLIENT_UID: i64 = 101;
/// Where the image serves the client from, and the configuration file in it.
const CLIENT_ROOT: &str = "/client";
/// The key of the rendered configuration in the ConfigMap.
pub const CONFIG_KEY: &str = "configuration.json";
/// The component label of the client's objects.
const COMPONENT: &str = "client";
/// The namespaced sysctl, in the restricted profile's allowed set, that lets the image's nginx
/// bind port 80 without any capability: the pod's network namespace treats every port as
/// unprivileged.
const UNPRIVILEGED_PORTS: &str = "net.ipv4.ip_unprivileged_port_start";

/// The client's Service, in front of its pods: `<instance>-client`.
pub fn service(instance: &str) -> String {
    format!("{instance}-client")
}

/// The client's `configuration.json`, from the spec: upstream's keys and values, with the public
/// host (with its port when not the scheme's default), HTTPS when the public URL is https, token
/// authentication, and the websocket.
///
/// The client opens the websocket at `SERVER_HOST + ':' + SERVER_PORT` (its `SocketUpdater`),
/// while it calls the API at `SERVER_HOST + '/api/'`: a host that must carry its port would give
/// `host:port:port`, a URL the browser refuses with an exception. So the websocket is turned on
/// where the public port is the scheme's default (an Ingress host), and the client polls every
/// 3 s otherwise (upstream's fallback), instead of failing.
pub(crate) fn configuration(inst: &Instance<'_>) -> Value {
    let origin = inst.public_origin();
    json!({
        "SERVER_HOST": origin.server_host(),
        "SERVER_PORT": origin.port.to_string(),
        "SERVER_HTTPS": origin.https,
        "SERVER_SOCKET_AVAILABLE": origin.default_port(),
        "SERVER_AUTHENTICATION_TYPE": "token",
        "ADMIN_CLIENT": {"NAME": "", "EMAIL": ""},
        "DEBUG": false,
        "WORKFLOWBUILDERGUI": {
            "USER_AGENT": "rodan-standard",
            "GRID": {"DIMENSION": 20, "LINE_COLOR": "#606060", "LINE_WIDTH": 0.5},
            "ZOOM_MAX": 3.0,
            "ZOOM_MIN": 1.0,
            "ZOOM_RATE": 0.05,
            "ZOOM_INITIAL": 1.7,
            "WORKFLOWJOB_WIDTH": 20,
            "WORKFLOWJOB_HEIGHT": 22,
            "PORT_WIDTH": 8,
            "PORT_HEIGHT": 8,
            "OUTPUTPORT_COLOR": "#00ff00",
            "INPUTPORT_COLOR_SATISFIED": "#00ff00",
            "INPUTPORT_COLOR_UNSATISFIED": "#ff0000",
            "INPUTPORT_COLOR_CANDIDATE": "#00ff00",
            "STROKE_COLOR": "#000000",
            "FILL_COLOR": "#ccccff",
            "WORKFLOWJOBGROUP_FILL_COLOR": "#8888ff",
            "STROKE_WIDTH": 1,
            "FONT_SIZE": 10,
            "STROKE_COLOR_SELECTED": "#0000ff",
            "STROKE_WIDTH_SELECTED": 2,
            "CONNECTION_CIRCLE_RADIUS": 4,
            "HOVER_TIME": 1000,
        },
    })
}

fn rendered(inst: &Instance<'_>) -> String {
    let mut text = serde_json::to_string_pretty(&configuration(inst)).unwrap_or_default();
    text.push('\n');
    text
}

/// The ConfigMap holding `configuration.json`, when the client is enabled.
pub(super) fn config_maps(inst: &Instance<'_>) -> Vec<Child> {
    if !inst.rodan.spec.client.enabled {
        return Vec::new();
    }
    let name = service(&inst.name);
    vec![Child {
        kind: Kind::ConfigMap,
        object: json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": inst.meta(&name, COMPONENT),
            "data": {CONFIG_KEY: rendered(inst)},
        }),
        name,
        apply: Apply::Always,
    }]
}

/// The `<name>-client` Service that nginx sends `/` to.
pub(super) fn services(inst: &Instance<'_>) -> Vec<Child> {
    if !inst.rodan.spec.client.enabled {
        return Vec::new();
    }
    vec![super::backing::service(
        inst,
        service(&inst.name),
        COMPONENT,
        &[("http", PORT)],
    )]
}

/// The client Deployment: the image as published, its `configuration.json` replaced by the
/// rendered one, under the restricted Pod Security Standard. The image's nginx runs as its
/// `nginx` user (101) instead of root, binds port 80 through the namespaced sysctl
/// `net.ipv4.ip_unprivileged_port_start=0` (no capability needed), and writes only to emptyDirs:
/// its temporary files (`/var/cache/nginx`), its pid file (`/var/run` is `/run`) and `/tmp`. Its
/// pods roll when the rendered configuration changes.
pub(super) fn deployments(inst: &Instance<'_>) -> Vec<Child> {
    let spec = &inst.rodan.spec;
    let client = &spec.client;
    if !client.enabled {
        return Vec::new();
    }
    let name = service(&inst.name);
    let image = spec
        .images
        .client
        .clone()
        .unwrap_or_else(|| CLIENT_IMAGE.to_owned());
    let probe =
        json!({"httpGet": {"path": "/", "port": "http"}, "periodSeconds": 10, "timeoutSeconds": 3});
    let mut container = json!({
        "name": "client",
        "image": image,
        // The image's CMD is the shell form `nginx` (`/bin/sh -c nginx`): a shell as the
        // container's first process ignores SIGTERM, so every stop would wait out the grace
        // period. The image's entrypoint then execs nginx itself (its configuration says
        // `daemon off`), which stops on the kubelet's signal.
        "args": ["nginx"],
        "ports": [{"name": "http", "containerPort": PORT, "protocol": "TCP"}],
        "readinessProbe": probe,
        "livenessProbe": probe,
        "lifecycle": super::serving_lifecycle(),
        "volumeMounts": [
            {
                "name": "config",
                "mountPath": format!("{CLIENT_ROOT}/{CONFIG_KEY}"),
                "subPath": CONFIG_KEY,
                "readOnly": true,
            },
            {"name": "cache", "mountPath": "/var/cache/nginx"},
            {"name": "run", "mountPath": "/run"},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    });
    if let Some(r) = &client.resources {
        container["resources"] = json!(r);
    }
    let mut pod = json!({
        "containers": [container],
        "volumes": [
            {"name": "config", "configMap": {"name": service(&inst.name)}},
            {"name": "cache", "emptyDir": {}},
            {"name": "run", "emptyDir": {"medium": "Memory", "sizeLimit": "1Mi"}},
            {"name": "tmp", "emptyDir": {}},
        ],
    });
    if !client.node_selector.is_empty() {
        pod["nodeSelector"] = json!(client.node_selector);
    }
    if !client.tolerations.is_empty() {
        pod["tolerations"] = json!(client.tolerations);
    }
    let mut pod = inst.pod_spec(CLIENT_UID, pod);
    pod["securityContext"]["sysctls"] = json!([{"name": UNPRIVILEGED_PORTS, "value": "0"}]);
    vec![Child {
        kind: Kind::Deployment,
        object: json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": inst.meta(&name, COMPONENT),
            "spec": {
                "replicas": client.replicas,
                "selector": {"matchLabels": inst.selector(COMPONENT)},
                "template": {
                    "metadata": {
                        "labels": inst.labels(COMPONENT),
                        "annotations": {annotations::CONFIG_CHECKSUM: hash(&rendered(inst))},
                    },
                    "spec": pod,
                },
            },
        }),
        name,
        apply: Apply::Always,
    }]
}
