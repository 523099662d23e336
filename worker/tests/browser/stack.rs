//! What the browser talks to: the operator's nginx in front of the API server and the client's
//! own nginx (as upstream's `ddmal/rodan-client` image serves the built client), and
//! `chromedriver` with a headless Chromium that reaches nothing beyond loopback.

use crate::world::World;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// An nginx process and its prefix directory.
pub struct Nginx {
    child: Child,
    dir: tempfile::TempDir,
}

impl Nginx {
    fn start(conf: &str, addr: (&str, u16)) -> Self {
        let dir = tempfile::tempdir().expect("a temp dir");
        let path = dir.path().join("nginx.conf");
        std::fs::write(
            &path,
            conf.replace("@PREFIX@", &dir.path().display().to_string()),
        )
        .expect("write nginx.conf");
        let child = Command::new("nginx")
            .args(["-e", "stderr", "-g", "daemon off;", "-p"])
            .arg(dir.path())
            .arg("-c")
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("stderr.log")).expect("a log file"))
            .spawn()
            .expect("nginx starts (Debian nginx-light)");
        let nginx = Self { child, dir };
        nginx.wait_for(addr);
        nginx
    }

    fn wait_for(&self, addr: (&str, u16)) {
        let start = Instant::now();
        while TcpStream::connect(addr).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "nginx listens on {addr:?}: {}",
                std::fs::read_to_string(self.dir.path().join("stderr.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Its access log: the requests it saw.
    pub fn access_log(&self) -> PathBuf {
        self.dir.path().join("access.log")
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

/// The front nginx, the client's nginx and the public origin.
pub struct Front {
    /// `http://<loopback address>` on port 80: upstream's client builds its websocket URL from
    /// host and port separately, so only a default port serves both the API and the socket.
    pub origin: String,
    /// The operator's nginx.
    pub front: Nginx,
    _client: Nginx,
}

/// A loopback address of this trial's own, so that trials and runs at once do not meet on port
/// 80.
fn loopback_address() -> String {
    static TRIALS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let trial = TRIALS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let k = std::process::id().wrapping_mul(8).wrapping_add(trial);
    format!(
        "127.{}.{}.{}",
        1 + k % 250,
        1 + (k / 250) % 250,
        1 + (k / 62_500) % 250
    )
}

/// What the operator renders for a `Rodan` whose public host is `host` (an Ingress host, so port
/// 80): the client's `configuration.json` and nginx's configuration.
fn rendered(host: &str) -> (String, String) {
    let rodan: rodan_operator::crd::Rodan = serde_json::from_value(serde_json::json!({
        "apiVersion": "rodan.ddmal.music.mcgill.ca/v1alpha1",
        "kind": "Rodan",
        "metadata": {"name": "rodan", "namespace": "rodan", "uid": "0"},
        "spec": {"ingress": {"host": host}},
    }))
    .expect("a Rodan");
    let desired = rodan_operator::build::build(&rodan, &Default::default()).expect("it builds");
    let data = |key: &str| {
        desired
            .children
            .iter()
            .filter(|c| c.object["kind"] == "ConfigMap")
            .find_map(|c| c.object["data"][key].as_str())
            .unwrap_or_else(|| panic!("the operator renders {key} in a ConfigMap"))
            .to_owned()
    };
    (data("configuration.json"), data("nginx.conf"))
}

/// The client's files with the `configuration.json` the operator renders.
fn client_files(configuration: &str) -> tempfile::TempDir {
    let shared = std::env::var("RODAN_SHARED_DIR").unwrap_or_else(|_| "../../shared".into());
    let from = Path::new(&shared).join("fixtures/rodan-client");
    assert!(
        from.join("index.html").is_file(),
        "upstream's built client is at {} (set RODAN_SHARED_DIR)",
        from.display()
    );
    let dir = tempfile::tempdir().expect("a temp dir");
    copy_tree(&from, dir.path());
    std::fs::write(dir.path().join("configuration.json"), configuration)
        .expect("write configuration.json");
    make_readable(dir.path());
    dir
}

fn copy_tree(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).expect("read the client's folder") {
        let entry = entry.expect("an entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("a type").is_dir() {
            std::fs::create_dir_all(&target).expect("mkdir");
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy a client file");
        }
    }
}

/// nginx's workers run as an unprivileged user.
fn make_readable(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let mut at = Some(dir);
    while let Some(d) = at {
        let _ = std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o755));
        at = d
            .parent()
            .filter(|p| p.starts_with(std::env::temp_dir()) && *p != std::env::temp_dir());
    }
    for entry in walk(dir) {
        let mode = if entry.is_dir() { 0o755 } else { 0o644 };
        std::fs::set_permissions(&entry, std::fs::Permissions::from_mode(mode)).expect("chmod");
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read a folder").flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(walk(&path));
        }
        out.push(path);
    }
    out
}

/// Starts the client's nginx and the operator's nginx in front of `world`'s API server.
pub fn start(world: &World, files: &mut Option<tempfile::TempDir>) -> Front {
    use std::os::unix::fs::PermissionsExt;
    let address = loopback_address();
    let origin = format!("http://{address}");
    let (configuration, nginx) = rendered(&address);
    let served = client_files(&configuration);
    // The client's own server, as its image runs it: the files on a port of its own.
    let client_port = rodan_testkit::free_port();
    let client_conf = format!(
        r#"worker_processes 1;
pid @PREFIX@/nginx.pid;
events {{}}
http {{
    include /etc/nginx/mime.types;
    access_log off;
    client_body_temp_path @PREFIX@/body;
    proxy_temp_path @PREFIX@/proxy;
    fastcgi_temp_path @PREFIX@/fastcgi;
    uwsgi_temp_path @PREFIX@/uwsgi;
    scgi_temp_path @PREFIX@/scgi;
    server {{
        listen 127.0.0.1:{client_port};
        root {root};
        index index.html;
    }}
}}
"#,
        root = served.path().display()
    );
    let client = Nginx::start(&client_conf, ("127.0.0.1", client_port));
    let api_port = world.root.rsplit(':').next().expect("a port");
    std::fs::set_permissions(world.media.path(), std::fs::Permissions::from_mode(0o755))
        .expect("chmod");
    let conf = nginx
        .replace("/tmp/", "@PREFIX@/")
        .replace(
            "server rodan-api:8000;",
            &format!("server 127.0.0.1:{api_port};"),
        )
        .replace(
            "server rodan-client:80;",
            &format!("server 127.0.0.1:{client_port};"),
        )
        .replace("listen 8080;", &format!("listen {address}:80;"))
        .replace(
            "alias /rodan/data/;",
            &format!("alias {}/;", world.media.path().display()),
        )
        .replace("access_log /dev/stdout;", "access_log @PREFIX@/access.log;");
    for moved in [
        format!("server 127.0.0.1:{api_port};"),
        format!("server 127.0.0.1:{client_port};"),
        format!("listen {address}:80;"),
    ] {
        assert!(
            conf.contains(&moved),
            "the rendered nginx.conf changed: {conf}"
        );
    }
    let front = Nginx::start(&conf, (address.as_str(), 80));
    *files = Some(served);
    Front {
        origin,
        front,
        _client: client,
    }
}

/// `chromedriver` on a port of its own.
pub struct Driver {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub url: String,
}

impl Driver {
    pub fn start() -> Self {
        let port = rodan_testkit::free_port();
        use std::os::unix::process::CommandExt;
        // A process group of its own: Chromium's processes are chromedriver's children, and a
        // failed test (no session closed) must not leave them running.
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts (Debian chromium-driver)");
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "chromedriver listens"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // chromedriver and every Chromium process it started.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Chromium's switches: headless, and no packet beyond loopback (no background services, every
/// other host through a proxy that is not there, no name resolved).
pub const CHROMIUM_ARGS: &[&str] = &[
    "--headless=new",
    "--no-sandbox",
    "--disable-dev-shm-usage",
    "--window-size=1400,1000",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
    "--disable-domain-reliability",
    "--disable-client-side-phishing-detection",
    "--no-first-run",
    "--no-pings",
    "--proxy-server=http://127.0.0.1:9",
    "--proxy-bypass-list=127.0.0.0/8",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.*",
];
