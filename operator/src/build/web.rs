//! The web entry point: stock nginx with a configuration the operator renders, its Service and
//! the optional Ingress.

use rodan_types::{MEDIA_ACCEL_PREFIX, MEDIA_ROOT, ports, services};
use serde_json::{Value, json};

use super::backing::media_claim;
use super::{Apply, Child, Instance, Kind, annotations, hash};
use crate::crd::{ServiceType, WebSpec};

/// Default nginx image: the stock image, unchanged.
pub(crate) const NGINX_IMAGE: &str = "docker.io/library/nginx:1.27";
/// The uid of the stock image's `nginx` user.
const NGINX_UID: i64 = 101;
/// The key of the rendered configuration in the ConfigMap.
const CONFIG_KEY: &str = "nginx.conf";

/// Where users reach a Rodan: scheme, host name and port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicOrigin {
    /// Whether it is `https`.
    pub https: bool,
    /// The host name, without the port.
    pub host: String,
    /// The port.
    pub port: u16,
}

impl PublicOrigin {
    /// Whether the port is the scheme's default (443 for https, 80 for http).
    pub fn default_port(&self) -> bool {
        self.port == if self.https { 443 } else { 80 }
    }

    /// The host with its port when it is not the scheme's default: upstream's `SERVER_HOST`
    /// (`rodan.example.org`, `rodan-web.lab.svc:8080`).
    pub fn server_host(&self) -> String {
        if self.default_port() {
            self.host.clone()
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The URL: `https://rodan.example.org`, `http://rodan-web.lab.svc:8080`.
    pub fn url(&self) -> String {
        format!(
            "{}://{}",
            if self.https { "https" } else { "http" },
            self.server_host()
        )
    }
}

impl Instance<'_> {
    /// Where users reach this Rodan: the Ingress's host (https with a TLS Secret), else the
    /// web Service's cluster name and port.
    pub(crate) fn public_origin(&self) -> PublicOrigin {
        match &self.rodan.spec.ingress {
            Some(ingress) if ingress.host.is_some() => {
                let https = ingress.tls_secret_name.is_some();
                PublicOrigin {
                    https,
                    host: ingress.host.clone().unwrap_or_default(),
                    port: if https { 443 } else { 80 },
                }
            }
            _ => PublicOrigin {
                https: false,
                host: format!("{}.{}.svc", services::web(&self.name), self.namespace),
                port: ports::WEB,
            },
        }
    }

    /// The URL users reach this Rodan at.
    pub(crate) fn public_url(&self) -> String {
        self.public_origin().url()
    }
}

/// Security headers on every answer, nginx's own and the API's (whose copies nginx hides, so
/// each is sent once). HSTS only for requests that came over TLS (a terminating ingress).
const SECURITY_HEADERS: &[(&str, &str)] = &[
    ("X-Content-Type-Options", "nosniff"),
    ("X-Frame-Options", "DENY"),
    (
        "Content-Security-Policy",
        "\"default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'\"",
    ),
    ("Referrer-Policy", "same-origin"),
    ("Strict-Transport-Security", "$rodan_hsts"),
];

/// The Content-Security-Policy of the web client's pages, in place of the API's
/// `default-src 'none'`: its own scripts, styles, images and API calls (and the websocket, which
/// `'self'` covers), templates compiled at run time (Underscore's `_.template`, hence
/// `'unsafe-eval'`) and inline `style` attributes in them.
const CLIENT_CSP: &str = "\"default-src 'self'; script-src 'self' 'unsafe-eval'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; connect-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'\"";

/// Renders nginx's configuration without the web client: `/` redirects to `/api/`. See
/// [`nginx_conf_with_client`].
pub fn nginx_conf(api_host: &str, web: &WebSpec) -> String {
    nginx_conf_with_client(api_host, None, web)
}

/// Renders nginx's configuration: `/api`, `/ht` and `/ws` go to the API server; media files are
/// served from the shared volume only through an internal location the API server redirects to
/// after it checked the user may read the file (`X-Accel-Redirect`). Logins are limited per
/// client address (`web.loginRequestsPerMinute`), the client being the peer unless it is one of
/// `web.trustedProxies`. With `client` (the web client's `host:port`), every other path goes to
/// the web client, as upstream's nginx sends `/` to rodan-client; without it `/` redirects to
/// `/api/`.
pub fn nginx_conf_with_client(api_host: &str, client: Option<&str>, web: &WebSpec) -> String {
    let api_port = ports::API;
    let web_port = ports::WEB;
    let client_max_body_size = &web.client_max_body_size;
    let rate = web.login_requests_per_minute.max(1);
    // One request more every this many seconds: what a refused client is told to wait.
    let wait = (60 + rate - 1) / rate;
    let add_csp = |indent: &str, csp: Option<&str>| {
        SECURITY_HEADERS
            .iter()
            .map(|(name, value)| {
                let value = match csp {
                    Some(csp) if *name == "Content-Security-Policy" => csp,
                    _ => value,
                };
                format!("add_header {name} {value} always;")
            })
            .collect::<Vec<_>>()
            .join(&format!("\n{indent}"))
    };
    let add = |indent: &str| add_csp(indent, None);
    let add_headers = add("        ");
    let throttled_headers = add("            ");
    let interactive_policy = format!("\"{}\"", rodan_types::INTERACTIVE_PAGE_POLICY);
    let interactive_headers = add_csp("            ", Some(&interactive_policy));
    let (client_upstream, root_locations) = match client {
        Some(client) => (
            format!(
                "\n    upstream rodan_client {{\n        server {client};\n        keepalive 8;\n    }}\n"
            ),
            format!(
                r#"# Everything else is the web client (upstream's rodan-client), with a policy that lets
        # its pages run.
        location / {{
            limit_except GET HEAD {{ deny all; }}
            {}
            proxy_pass http://rodan_client;
        }}"#,
                add_csp("            ", Some(CLIENT_CSP))
            ),
        ),
        None => (
            String::new(),
            r#"location = / {
            return 302 /api/;
        }

        location / {
            return 404;
        }"#
            .to_owned(),
        ),
    };
    let hide_headers: String = SECURITY_HEADERS
        .iter()
        .map(|(name, _)| format!("proxy_hide_header {name};"))
        .collect::<Vec<_>>()
        .join("\n        ");
    let real_ip = if web.trusted_proxies.is_empty() {
        "# No trusted proxies in front: the client is the peer.".to_owned()
    } else {
        let mut lines: Vec<String> = web
            .trusted_proxies
            .iter()
            .map(|p| format!("set_real_ip_from {p};"))
            .collect();
        lines.push("real_ip_header X-Forwarded-For;".into());
        lines.push("real_ip_recursive on;".into());
        format!(
            "# The client named by the trusted proxies in front.\n    {}",
            lines.join("\n    ")
        )
    };
    let throttled = format!(
        r#"{{"detail": "Request was throttled. Expected available in {wait} second{}."}}"#,
        if wait == 1 { "" } else { "s" }
    );
    format!(
        r#"# Rendered by rodan-operator; edits are overwritten.
worker_processes auto;
pid /tmp/nginx.pid;
error_log /dev/stderr warn;

events {{
    worker_connections 1024;
}}

http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log /dev/stdout;
    sendfile on;
    tcp_nopush on;
    keepalive_timeout 20s;
    gzip on;
    gzip_types application/json application/javascript text/css text/plain application/xml;
    server_tokens off;
    client_max_body_size {client_max_body_size};
    client_body_temp_path /tmp/client_body;
    proxy_temp_path /tmp/proxy;
    fastcgi_temp_path /tmp/fastcgi;
    uwsgi_temp_path /tmp/uwsgi;
    scgi_temp_path /tmp/scgi;

    # Keep the scheme and host a TLS-terminating ingress saw; fall back to our own.
    map $http_x_forwarded_proto $rodan_forwarded_proto {{
        default $http_x_forwarded_proto;
        ''      $scheme;
    }}
    map $http_x_forwarded_host $rodan_forwarded_host {{
        default $http_x_forwarded_host;
        ''      $http_host;
    }}
    # Websockets upgrade; everything else keeps the upstream connection alive ("").
    map $http_upgrade $rodan_connection_upgrade {{
        default upgrade;
        ''      "";
    }}
    # HSTS for requests that came over TLS only; an empty value sends no header.
    map $rodan_forwarded_proto $rodan_hsts {{
        https   "max-age=31536000";
        default "";
    }}

    {real_ip}
    # Logins per client address; the API server counts failures per account and address too.
    limit_req_zone $binary_remote_addr zone=rodan_login:10m rate={rate}r/m;
    limit_req_status 429;

    upstream rodan_api {{
        server {api_host}:{api_port};
        keepalive 32;
    }}
{client_upstream}
    server {{
        listen {web_port};

        # Set once here: a location with any proxy_set_header of its own would drop all of these.
        proxy_http_version 1.1;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection $rodan_connection_upgrade;
        proxy_set_header Host $http_host;
        proxy_set_header X-Forwarded-Proto $rodan_forwarded_proto;
        proxy_set_header X-Forwarded-Host $rodan_forwarded_host;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Real-IP $remote_addr;

        # Likewise: a location with an add_header of its own drops these.
        {add_headers}
        {hide_headers}

        location = /nginx-health {{
            access_log off;
            default_type text/plain;
            return 200 "ok\n";
        }}

        location /api {{
            limit_except GET POST HEAD OPTIONS PATCH PUT DELETE {{ deny all; }}
            proxy_request_buffering off;
            proxy_read_timeout 300s;
            proxy_pass http://rodan_api;
        }}

        location = /api/auth/token/ {{
            limit_req zone=rodan_login burst={rate} nodelay;
            error_page 429 = @rodan_throttled;
            proxy_pass http://rodan_api;
        }}

        location = /api/auth/change-password/ {{
            limit_req zone=rodan_login burst={rate} nodelay;
            error_page 429 = @rodan_throttled;
            proxy_pass http://rodan_api;
        }}

        # Django REST framework's answer to a throttled request.
        location @rodan_throttled {{
            default_type application/json;
            {throttled_headers}
            add_header Retry-After {wait} always;
            return 429 '{throttled}\n';
        }}

        # Interactive jobs' pages and files, authorised by the token in their path: their own
        # scripts and styles may run there, nothing else.
        location /api/interactive/ {{
            limit_except GET POST HEAD OPTIONS {{ deny all; }}
            {interactive_headers}
            proxy_pass http://rodan_api;
        }}

        location /ht {{
            proxy_pass http://rodan_api;
        }}

        location /ws {{
            proxy_read_timeout 1h;
            proxy_send_timeout 1h;
            proxy_pass http://rodan_api;
        }}

        # Media links (`/uploads/...`, upstream's URLs) go to the API server, which checks the
        # user may read the file and answers with X-Accel-Redirect to the internal location.
        location /uploads/ {{
            limit_except GET HEAD {{ deny all; }}
            proxy_pass http://rodan_api;
        }}

        # Media: reachable only through X-Accel-Redirect from the API server.
        location {MEDIA_ACCEL_PREFIX} {{
            internal;
            alias {MEDIA_ROOT}/;
        }}

        {root_locations}
    }}
}}
"#
    )
}

fn rendered(inst: &Instance<'_>) -> String {
    let client = inst.rodan.spec.client.enabled.then(|| {
        format!(
            "{}:{}",
            super::client::service(&inst.name),
            super::client::PORT
        )
    });
    nginx_conf_with_client(
        &services::api(&inst.name),
        client.as_deref(),
        &inst.rodan.spec.web,
    )
}

/// The ConfigMap holding nginx's configuration.
pub(super) fn config_maps(inst: &Instance<'_>) -> Vec<Child> {
    let name = inst.child_name("nginx");
    vec![Child {
        kind: Kind::ConfigMap,
        object: json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": inst.meta(&name, "web"),
            "data": {CONFIG_KEY: rendered(inst)},
        }),
        name,
        apply: Apply::Always,
    }]
}

/// The `<name>-web` Service: the public entry point.
pub(super) fn services(inst: &Instance<'_>) -> Vec<Child> {
    let mut svc = super::backing::service(
        inst,
        services::web(&inst.name),
        "web",
        &[("http", ports::WEB)],
    );
    let kind = match inst.rodan.spec.web.service_type {
        ServiceType::ClusterIP => "ClusterIP",
        ServiceType::NodePort => "NodePort",
        ServiceType::LoadBalancer => "LoadBalancer",
    };
    svc.object["spec"]["type"] = json!(kind);
    vec![svc]
}

/// The nginx Deployment. Its pods roll when the rendered configuration changes.
pub(super) fn deployment(inst: &Instance<'_>) -> Child {
    let spec = &inst.rodan.spec;
    let name = services::web(&inst.name);
    let image = spec
        .images
        .nginx
        .clone()
        .unwrap_or_else(|| NGINX_IMAGE.to_owned());
    let probe = json!({"httpGet": {"path": "/nginx-health", "port": "http"}, "periodSeconds": 10, "timeoutSeconds": 3});
    let mut container = json!({
        "name": "nginx",
        "image": image,
        "command": ["nginx", "-c", "/etc/rodan-nginx/nginx.conf", "-g", "daemon off;"],
        "ports": [{"name": "http", "containerPort": ports::WEB, "protocol": "TCP"}],
        "readinessProbe": probe,
        "livenessProbe": probe,
        "lifecycle": super::serving_lifecycle(),
        "volumeMounts": [
            {"name": "config", "mountPath": "/etc/rodan-nginx", "readOnly": true},
            {"name": "media", "mountPath": MEDIA_ROOT, "readOnly": true},
            {"name": "tmp", "mountPath": "/tmp"},
            {"name": "cache", "mountPath": "/var/cache/nginx"},
        ],
    });
    if let Some(r) = &spec.web.resources {
        container["resources"] = json!(r);
    }
    let volumes: Vec<Value> = vec![
        json!({"name": "config", "configMap": {"name": inst.child_name("nginx")}}),
        json!({"name": "media", "persistentVolumeClaim": {"claimName": media_claim(inst), "readOnly": true}}),
        json!({"name": "tmp", "emptyDir": {}}),
        json!({"name": "cache", "emptyDir": {}}),
    ];
    let pod = inst.pod_spec(
        NGINX_UID,
        json!({"containers": [container], "volumes": volumes}),
    );
    Child {
        kind: Kind::Deployment,
        object: json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": inst.meta(&name, "web"),
            "spec": {
                "replicas": spec.web.replicas,
                "selector": {"matchLabels": inst.selector("web")},
                "template": {
                    "metadata": {
                        "labels": inst.labels("web"),
                        "annotations": {annotations::CONFIG_CHECKSUM: hash(&rendered(inst))},
                    },
                    "spec": pod,
                },
            },
        }),
        name,
        apply: Apply::Always,
    }
}

/// The Ingress, when the spec asks for one.
pub(super) fn ingress(inst: &Instance<'_>) -> Vec<Child> {
    let Some(spec) = &inst.rodan.spec.ingress else {
        return Vec::new();
    };
    let name = inst.child_name("web");
    let mut meta = inst.meta(&name, "web");
    if !spec.annotations.is_empty() {
        meta["annotations"] = json!(spec.annotations);
    }
    let mut rule = json!({
        "http": {"paths": [{
            "path": "/",
            "pathType": "Prefix",
            "backend": {"service": {"name": services::web(&inst.name), "port": {"name": "http"}}},
        }]},
    });
    if let Some(host) = &spec.host {
        rule["host"] = json!(host);
    }
    let mut ingress_spec = json!({"rules": [rule]});
    if let Some(class) = &spec.class_name {
        ingress_spec["ingressClassName"] = json!(class);
    }
    if let (Some(secret), Some(host)) = (&spec.tls_secret_name, &spec.host) {
        ingress_spec["tls"] = json!([{"hosts": [host], "secretName": secret}]);
    }
    vec![Child {
        kind: Kind::Ingress,
        object: json!({
            "apiVersion": "networking.k8s.io/v1",
            "kind": "Ingress",
            "metadata": meta,
            "spec": ingress_spec,
        }),
        name,
        apply: Apply::Always,
    }]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rendered configuration is checked by a real nginx (`nginx -t`), with the API upstream
    /// on loopback (nginx resolves upstream names while checking).
    #[test]
    fn the_rendered_configuration_is_accepted_by_nginx() {
        nginx_accepts(&WebSpec::default());
        // With proxies in front and the slowest login rate.
        let conf = nginx_accepts(&WebSpec {
            trusted_proxies: vec!["10.0.0.0/8".into(), "fd00::/8".into(), "192.0.2.1".into()],
            login_requests_per_minute: 1,
            ..WebSpec::default()
        });
        assert!(conf.contains("set_real_ip_from fd00::/8;"), "{conf}");
        assert!(conf.contains("Expected available in 60 seconds."), "{conf}");
    }

    /// The same with the web client behind it (its upstream on loopback too).
    #[test]
    fn the_rendered_configuration_with_the_client_is_accepted_by_nginx() {
        let conf = nginx_accepts_with(Some("127.0.0.1:8081"), &WebSpec::default());
        assert!(conf.contains("server 127.0.0.1:8081;"), "{conf}");
        assert!(conf.contains("script-src 'self' 'unsafe-eval'"), "{conf}");
        assert!(!conf.contains("return 302 /api/;"), "{conf}");
        let conf = nginx_accepts(&WebSpec::default());
        assert!(conf.contains("return 302 /api/;"), "{conf}");
        assert!(!conf.contains("rodan_client"), "{conf}");
    }

    fn nginx_accepts(web: &WebSpec) -> String {
        nginx_accepts_with(None, web)
    }

    fn nginx_accepts_with(client: Option<&str>, web: &WebSpec) -> String {
        let dir = tempfile::tempdir().expect("a temp dir");
        let conf = dir.path().join("nginx.conf");
        let text = nginx_conf_with_client("127.0.0.1", client, web);
        std::fs::write(&conf, &text).expect("written");
        let out = std::process::Command::new("nginx")
            .arg("-t")
            .arg("-e")
            .arg("stderr")
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&conf)
            .output()
            .expect("nginx is installed (Debian: nginx-light); .ci/run installs it");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "nginx refused the configuration:\n{stderr}"
        );
        assert!(stderr.contains("test is successful"), "{stderr}");
        text
    }

    /// A free loopback port.
    fn free_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port")
    }

    /// A running nginx, stopped (with its workers) when dropped.
    struct Nginx(std::process::Child);

    impl Drop for Nginx {
        fn drop(&mut self) {
            // SIGQUIT, not SIGKILL: the master then stops its workers too.
            let _ = std::process::Command::new("kill")
                .args(["-QUIT", &self.0.id().to_string()])
                .status();
            let _ = self.0.wait();
        }
    }

    fn run_nginx(dir: &std::path::Path, name: &str, conf: &str, port: u16) -> Nginx {
        let path = dir.join(format!("{name}.conf"));
        std::fs::write(&path, conf).expect("written");
        let child = std::process::Command::new("nginx")
            .args(["-e", "stderr", "-p"])
            .arg(dir)
            .arg("-c")
            .arg(&path)
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(dir.join(format!("{name}.log"))).expect("a log"))
            .spawn()
            .expect("nginx is installed (Debian: nginx-light)");
        let start = std::time::Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < std::time::Duration::from_secs(10),
                "{name} listens: {}",
                std::fs::read_to_string(dir.join(format!("{name}.log"))).unwrap_or_default()
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Nginx(child)
    }

    /// `GET path` over HTTP/1.0: the status, the headers (lowercase names) and the body.
    fn get(port: u16, path: &str) -> (u16, Vec<(String, String)>, String) {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connects");
        write!(stream, "GET {path} HTTP/1.0\r\nHost: rodan.test\r\n\r\n").expect("sent");
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).expect("an answer");
        let text = String::from_utf8_lossy(&raw).into_owned();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let mut lines = head.lines();
        let status = lines
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        (status, headers, body.to_owned())
    }

    fn header<'a>(headers: &'a [(String, String)], name: &str) -> &'a str {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }

    /// A stand-in API on loopback: answers every request with a fixed JSON body.
    fn stub_api() -> u16 {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
        let port = listener.local_addr().expect("an address").port();
        std::thread::spawn(move || {
            use std::io::{BufRead, Write};
            for stream in listener.incoming().flatten() {
                let mut reader = std::io::BufReader::new(&stream);
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                let body = r#"{"stub": "rodan-api"}"#;
                let _ = write!(
                    &stream,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        port
    }

    /// Real nginx on the rendered configuration, in front of the built web client (served by a
    /// second nginx from `../shared`, as upstream's image serves it) and a stand-in API: with
    /// the client, `/` and its files come from it under the client's policy while `/api` still
    /// reaches the API under the API's; without it, `/` redirects to `/api/` as before.
    #[test]
    fn nginx_serves_the_web_client_at_the_root_and_the_api_as_before() {
        use std::os::unix::fs::PermissionsExt;
        let shared = std::env::var_os("RODAN_SHARED_DIR").map_or_else(
            || std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared"),
            std::path::PathBuf::from,
        );
        let built = shared.join("fixtures/rodan-client");
        assert!(
            built.join("index.html").is_file(),
            "{} holds the built client (set RODAN_SHARED_DIR)",
            built.display()
        );
        let dir = tempfile::tempdir().expect("a temp dir");
        // nginx's workers run as an unprivileged user when the tests run as root.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
            .expect("chmod");
        let d = dir.path().display();
        let api_port = stub_api();
        let client_port = free_port();
        let _client = run_nginx(
            dir.path(),
            "client",
            &format!(
                "daemon off; pid {d}/client.pid; events {{}}\nhttp {{ include /etc/nginx/mime.types; access_log off; client_body_temp_path {d}/c-body; proxy_temp_path {d}/c-proxy; fastcgi_temp_path {d}/c-fastcgi; uwsgi_temp_path {d}/c-uwsgi; scgi_temp_path {d}/c-scgi;\n server {{ listen 127.0.0.1:{client_port}; root {}; }} }}\n",
                built.display()
            ),
            client_port,
        );
        for (name, client) in [("with", true), ("without", false)] {
            let web_port = free_port();
            let client_host = format!("127.0.0.1:{client_port}");
            let conf = nginx_conf_with_client(
                "127.0.0.1",
                client.then_some(client_host.as_str()),
                &WebSpec::default(),
            )
            .replace("/tmp/", &format!("{d}/{name}-"))
            .replace(
                "server 127.0.0.1:8000;",
                &format!("server 127.0.0.1:{api_port};"),
            )
            .replace("listen 8080;", &format!("listen 127.0.0.1:{web_port};"))
            .replace("access_log /dev/stdout;", "access_log off;");
            let _web = run_nginx(dir.path(), name, &conf, web_port);

            let (status, headers, body) = get(web_port, "/api/projects/");
            assert_eq!(status, 200, "{name}: {body}");
            assert!(body.contains("rodan-api"), "{name}: {body}");
            assert!(
                header(&headers, "content-security-policy").starts_with("default-src 'none'"),
                "{name}: {headers:?}"
            );
            let (status, headers, body) = get(web_port, "/");
            if client {
                assert_eq!(status, 200, "{body:.300}");
                assert!(body.contains("<title>Rodan Client</title>"), "{body:.300}");
                let csp = header(&headers, "content-security-policy");
                assert!(csp.contains("script-src 'self' 'unsafe-eval'"), "{csp}");
                assert_eq!(header(&headers, "x-frame-options"), "DENY");
                let (status, _, js) = get(web_port, "/rodan_client.min.js");
                assert_eq!(status, 200);
                assert!(js.len() > 1_000_000, "the whole script: {}", js.len());
                let (status, _, json) = get(web_port, "/configuration.json");
                assert_eq!(status, 200);
                assert!(json.contains("SERVER_HOST"), "{json}");
                let (status, _, _) = get(web_port, "/nowhere");
                assert_eq!(status, 404);
            } else {
                assert_eq!(status, 302, "{body}");
                assert_eq!(
                    header(&headers, "location"),
                    format!("http://rodan.test:{web_port}/api/")
                );
                let (status, _, _) = get(web_port, "/rodan_client.min.js");
                assert_eq!(status, 404);
            }
        }
    }

    #[test]
    fn nginx_refuses_a_broken_configuration_so_the_check_above_can_fail() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let conf = dir.path().join("nginx.conf");
        let broken = nginx_conf("127.0.0.1", &WebSpec::default()).replace("internal;", "internal");
        std::fs::write(&conf, broken).expect("written");
        let out = std::process::Command::new("nginx")
            .args(["-t", "-e", "stderr", "-p"])
            .arg(dir.path())
            .arg("-c")
            .arg(&conf)
            .output()
            .expect("nginx is installed");
        assert!(!out.status.success());
    }
}
