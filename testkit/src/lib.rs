//! Real backing services for tests and benchmarks: PostgreSQL 15, RabbitMQ and Redis from the
//! Debian packages `.ci/run` installs, each started on a free loopback port in its own
//! temporary directory and stopped when dropped. Nothing shared with the system's instances.
//! [`Smtp`]: an SMTP server (aiosmtpd) on loopback that keeps what it receives.

mod smtp;
pub mod suite;
pub use smtp::{ReceivedMail, Smtp};

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A free TCP port on loopback (bound then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

fn wait_for_port(port: u16, what: &str, timeout: Duration) {
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < timeout,
            "{what} did not open port {port} within {timeout:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn run(cmd: &mut Command, what: &str) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("failed to start {what}: {e}"));
    assert!(
        out.status.success(),
        "{what} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

const PG_BIN: &str = "/usr/lib/postgresql/15/bin";
const RABBITMQ_SERVER: &str = "/usr/lib/rabbitmq/bin/rabbitmq-server";

/// A PostgreSQL cluster in a temporary directory, superuser `rodan`/`rodan`.
#[derive(Debug)]
pub struct Postgres {
    dir: tempfile::TempDir,
    /// Its port on 127.0.0.1.
    pub port: u16,
    as_postgres: bool,
}

impl Postgres {
    /// Starts a new cluster. Under root, runs as the `postgres` system user (initdb refuses root).
    pub fn start() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("rodan-pg-")
            .tempdir()
            .expect("a temp dir");
        let as_postgres = is_root();
        if as_postgres {
            run(
                Command::new("chown")
                    .args(["-R", "postgres:postgres"])
                    .arg(dir.path()),
                "chown",
            );
        }
        let data = dir.path().join("data");
        let pwfile = dir.path().join("pw");
        std::fs::write(&pwfile, "rodan\n").expect("write the password file");
        if as_postgres {
            run(
                Command::new("chown").arg("postgres:postgres").arg(&pwfile),
                "chown",
            );
        }
        let port = free_port();
        let mut initdb = pg_command(as_postgres, "initdb");
        initdb
            .args(["-A", "scram-sha-256", "-U", "rodan", "--pwfile"])
            .arg(&pwfile)
            .arg("-D")
            .arg(&data);
        run(&mut initdb, "initdb");
        let postgres = Self {
            dir,
            port,
            as_postgres,
        };
        postgres.start_again();
        postgres
    }

    /// Starts the server (again) on its port and data, after [`Postgres::stop`].
    pub fn start_again(&self) {
        let mut start = pg_command(self.as_postgres, "pg_ctl");
        start
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .arg("-l")
            .arg(self.dir.path().join("log"))
            .arg("-o")
            .arg(format!(
                "-p {} -c listen_addresses=127.0.0.1 -k {} -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200 {}",
                self.port,
                self.dir.path().display(),
                // Extra server options for investigations, e.g. loading pg_stat_statements.
                std::env::var("RODAN_TESTKIT_POSTGRES_OPTIONS").unwrap_or_default()
            ))
            .args(["-w", "start"]);
        run(&mut start, "pg_ctl start");
    }

    /// Stops the server as an outage would (fast shutdown: clients are disconnected); its data
    /// stays for [`Postgres::start_again`].
    pub fn stop(&self) {
        let mut stop = pg_command(self.as_postgres, "pg_ctl");
        stop.arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-m", "fast", "-w", "stop"]);
        run(&mut stop, "pg_ctl stop");
    }

    /// A URL of a fresh database named `name` (created now).
    pub fn database(&self, name: &str) -> String {
        let mut create = pg_command(self.as_postgres, "createdb");
        create
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "rodan",
                name,
            ])
            .env("PGPASSWORD", "rodan");
        run(&mut create, "createdb");
        format!("postgres://rodan:rodan@127.0.0.1:{}/{name}", self.port)
    }
}

fn pg_command(as_postgres: bool, tool: &str) -> Command {
    let path = format!("{PG_BIN}/{tool}");
    if as_postgres {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--", &path]);
        c
    } else {
        Command::new(path)
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let mut stop = pg_command(self.as_postgres, "pg_ctl");
        stop.arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-m", "immediate", "stop"])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let _ = stop.status();
    }
}

/// A RabbitMQ node in a temporary directory, user `guest`/`guest` on loopback.
#[derive(Debug)]
pub struct RabbitMq {
    _dir: tempfile::TempDir,
    child: Child,
    dist: u16,
    /// AMQP port.
    pub port: u16,
    /// Erlang node name, for `rabbitmqctl -n`.
    pub node: String,
    home: PathBuf,
}

impl RabbitMq {
    /// Starts a node and waits until it accepts AMQP connections.
    pub fn start() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("rodan-rmq-")
            .tempdir()
            .expect("a temp dir");
        let port = free_port();
        let dist = free_port();
        let node = format!("rodan{port}@localhost");
        let home = dir.path().to_path_buf();
        std::fs::write(dir.path().join("enabled_plugins"), "[].\n").expect("write enabled_plugins");
        std::fs::write(
            dir.path().join("rabbitmq.conf"),
            format!("listeners.tcp.default = 127.0.0.1:{port}\nloopback_users = none\n"),
        )
        .expect("write rabbitmq.conf");
        let child = spawn_rabbit(dir.path(), &node, port, dist);
        Self {
            _dir: dir,
            child,
            dist,
            port,
            node,
            home,
        }
    }

    /// Stops the node at once, as a crash would: the Erlang VM is killed (a graceful shutdown
    /// takes seconds, during which a test's work would go on), connections drop; its durable
    /// queues and persistent messages stay for [`RabbitMq::start_again`]. Falls back to
    /// `rabbitmqctl shutdown` when the node's PID file is missing.
    pub fn stop(&mut self) {
        let pid_file = self.home.join("rabbit.pid");
        if let Some(pid) = std::fs::read_to_string(&pid_file)
            .ok()
            .and_then(|p| p.trim().parse::<u32>().ok())
        {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            let _ = std::fs::remove_file(&pid_file);
            let _ = self.child.kill();
            let _ = self.child.wait();
            // Until the VM is gone its port may still answer.
            let start = Instant::now();
            while TcpStream::connect(("127.0.0.1", self.port)).is_ok()
                && start.elapsed() < Duration::from_secs(10)
            {
                std::thread::sleep(Duration::from_millis(20));
            }
            return;
        }
        self.shutdown();
    }

    /// A graceful `rabbitmqctl shutdown`, then the node's process reaped.
    fn shutdown(&mut self) {
        let _ = Command::new("/usr/lib/rabbitmq/bin/rabbitmqctl")
            .arg("-n")
            .arg(&self.node)
            .arg("shutdown")
            .env("HOME", &self.home)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts the node again on its port and data, after [`RabbitMq::stop`].
    pub fn start_again(&mut self) {
        self.child = spawn_rabbit(&self.home, &self.node, self.port, self.dist);
    }

    /// `amqp://guest:guest@127.0.0.1:<port>/%2f`.
    pub fn url(&self) -> String {
        format!("amqp://guest:guest@127.0.0.1:{}/%2f", self.port)
    }

    /// Runs `rabbitmqctl` against this node and returns its stdout.
    pub fn ctl(&self, args: &[&str]) -> String {
        let out = Command::new("/usr/lib/rabbitmq/bin/rabbitmqctl")
            .arg("-n")
            .arg(&self.node)
            .args(args)
            .env("HOME", &self.home)
            .output()
            .expect("rabbitmqctl runs");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Messages ready plus unacknowledged in `queue` (0 when it does not exist).
    pub fn queue_depth(&self, queue: &str) -> u64 {
        self.ctl(&[
            "list_queues",
            "-q",
            "--no-table-headers",
            "name",
            "messages",
        ])
        .lines()
        .filter_map(|l| {
            let mut parts = l.split_whitespace();
            Some((parts.next()?.to_owned(), parts.next()?.parse::<u64>().ok()?))
        })
        .find(|(name, _)| name == queue)
        .map_or(0, |(_, n)| n)
    }

    /// Messages delivered but unacknowledged on the channel of `queue`'s consumer (one counter for
    /// every queue that channel consumes, read at one instant); `None` without a consumer.
    pub fn consumer_channel_unacked(&self, queue: &str) -> Option<u64> {
        let consumers = self.ctl(&[
            "list_consumers",
            "-q",
            "--no-table-headers",
            "queue_name",
            "channel_pid",
        ]);
        let pid = consumers.lines().find_map(|l| {
            let mut parts = l.split_whitespace();
            (parts.next()? == queue).then(|| parts.next().map(str::to_owned))?
        })?;
        self.ctl(&[
            "list_channels",
            "-q",
            "--no-table-headers",
            "pid",
            "messages_unacknowledged",
        ])
        .lines()
        .find_map(|l| {
            let mut parts = l.split_whitespace();
            (parts.next()? == pid).then(|| parts.next()?.parse().ok())?
        })
    }
}

fn spawn_rabbit(dir: &Path, node: &str, port: u16, dist: u16) -> Child {
    let child = Command::new(RABBITMQ_SERVER)
        .stdin(Stdio::null())
        .envs(rabbit_env(dir, node, port, dist))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("rabbitmq-server starts (is the Debian package installed?)");
    wait_for_port(port, "RabbitMQ", Duration::from_secs(90));
    child
}

fn rabbit_env(dir: &Path, node: &str, port: u16, dist: u16) -> Vec<(String, String)> {
    let d = |sub: &str| dir.join(sub).display().to_string();
    vec![
        ("HOME".into(), dir.display().to_string()),
        ("RABBITMQ_NODENAME".into(), node.into()),
        ("RABBITMQ_NODE_IP_ADDRESS".into(), "127.0.0.1".into()),
        ("RABBITMQ_NODE_PORT".into(), port.to_string()),
        ("RABBITMQ_DIST_PORT".into(), dist.to_string()),
        ("RABBITMQ_MNESIA_BASE".into(), d("mnesia")),
        ("RABBITMQ_LOG_BASE".into(), d("log")),
        ("RABBITMQ_CONFIG_FILE".into(), d("rabbitmq")),
        ("RABBITMQ_ENABLED_PLUGINS_FILE".into(), d("enabled_plugins")),
        ("RABBITMQ_PID_FILE".into(), d("rabbit.pid")),
    ]
}

impl Drop for RabbitMq {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// A Redis server without persistence.
#[derive(Debug)]
pub struct Redis {
    child: Child,
    /// Its port on 127.0.0.1.
    pub port: u16,
}

impl Redis {
    /// Starts Redis and waits for its port.
    pub fn start() -> Self {
        let port = free_port();
        Self {
            child: spawn_redis(port),
            port,
        }
    }

    /// Stops the server as an outage would.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts the server again on its port, after [`Redis::stop`].
    pub fn start_again(&mut self) {
        self.child = spawn_redis(self.port);
    }

    /// `redis://127.0.0.1:<port>/0`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }
}

fn spawn_redis(port: u16) -> Child {
    let child = Command::new("redis-server")
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("redis-server starts (is the Debian package installed?)");
    wait_for_port(port, "Redis", Duration::from_secs(20));
    child
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// All three, started in parallel.
#[derive(Debug)]
pub struct Services {
    /// PostgreSQL.
    pub postgres: Postgres,
    /// RabbitMQ.
    pub rabbitmq: RabbitMq,
    /// Redis.
    pub redis: Redis,
}

impl Services {
    /// The services that are not installed here (their Debian packages: `postgresql-15`,
    /// `rabbitmq-server`, `redis-server`), by name; empty when all are.
    pub fn missing() -> Vec<&'static str> {
        let on_path = |name: &str| {
            std::env::var_os("PATH").is_some_and(|path| {
                std::env::split_paths(&path).any(|dir| dir.join(name).is_file())
            })
        };
        let mut missing = Vec::new();
        if !Path::new(PG_BIN).join("initdb").is_file() {
            missing.push("PostgreSQL 15");
        }
        if !Path::new(RABBITMQ_SERVER).is_file() {
            missing.push("RabbitMQ");
        }
        if !on_path("redis-server") {
            missing.push("Redis");
        }
        missing
    }

    /// Starts PostgreSQL, RabbitMQ and Redis.
    pub fn start() -> Self {
        let rabbit = std::thread::spawn(RabbitMq::start);
        let postgres = Postgres::start();
        let redis = Redis::start();
        let rabbitmq = rabbit.join().expect("RabbitMQ started");
        Self {
            postgres,
            rabbitmq,
            redis,
        }
    }
}
