//! External processes: redis-server and the test OP. Missing tools fail loudly.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Kill the child when this process or thread dies (Linux PR_SET_PDEATHSIG).
pub(crate) fn die_with_parent(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    #[allow(unsafe_code)]
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn require(bin: &str, hint: &str) {
    let ok = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {bin}"))
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        ok,
        "`{bin}` is not installed: {hint} (run `make test`, which installs it)"
    );
}

/// A private redis-server on a free port.
pub struct Redis {
    child: Child,
    pub port: u16,
    _dir: tempdir::TempDir,
}

mod tempdir {
    pub struct TempDir(pub std::path::PathBuf);
    impl TempDir {
        pub fn new(tag: &str) -> Self {
            static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
            let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let p = std::env::temp_dir().join(format!("sso-test-{tag}-{}-{n}", std::process::id()));
            std::fs::create_dir_all(&p).unwrap();
            Self(p)
        }
    }
    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

impl Redis {
    pub fn start() -> Self {
        require("redis-server", "apt-get install redis-server");
        for _ in 0..20 {
            let port = free_port();
            let dir = tempdir::TempDir::new("redis");
            let mut child = redis_server(port, &dir.0, &[]);
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if pong(port) {
                    return Self {
                        child,
                        port,
                        _dir: dir,
                    };
                }
                if let Ok(Some(_)) = child.try_wait() {
                    break; // port taken: try another
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("could not start redis-server");
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kill redis-server and start it again, empty (no persistence), on the same port:
    /// a restart that lost every key, as after a crash without AOF/RDB.
    pub fn restart_empty(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let mut child = redis_server(self.port, &self._dir.0, &[]);
            let started = Instant::now();
            while started.elapsed() < Duration::from_secs(3) {
                if pong(self.port) {
                    self.child = child;
                    return;
                }
                if let Ok(Some(_)) = child.try_wait() {
                    break; // port not free yet
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = child.kill();
            let _ = child.wait();
            assert!(
                Instant::now() < deadline,
                "redis-server did not restart on port {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Run a command with redis-cli (e.g. `FLUSHALL`) and return its output.
    pub fn cli(&self, args: &[&str]) -> String {
        redis_cli(self.port, args)
    }

    /// Freeze the server (`SIGSTOP`): connections stay open and nothing answers, as with
    /// a hung or partitioned Redis. Its data survives; [`Redis::resume`] thaws it.
    pub fn pause(&self) {
        self.signal(libc::SIGSTOP);
    }

    /// Undo [`Redis::pause`] (`SIGCONT`).
    pub fn resume(&self) {
        self.signal(libc::SIGCONT);
    }

    fn signal(&self, sig: libc::c_int) {
        let pid = libc::pid_t::try_from(self.child.id()).unwrap();
        #[allow(unsafe_code)]
        // SAFETY: kill(2) on our own child's pid; no memory involved.
        let rc = unsafe { libc::kill(pid, sig) };
        assert_eq!(rc, 0, "kill({pid}, {sig})");
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `redis-server` on loopback `port`, no persistence, working dir `dir`, plus `extra` args;
/// dies with this process.
fn redis_server(port: u16, dir: &std::path::Path, extra: &[&str]) -> Child {
    let mut cmd = Command::new("redis-server");
    cmd.args([
        "--port",
        &port.to_string(),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
    ])
    .arg("--dir")
    .arg(dir)
    .args(extra)
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    die_with_parent(&mut cmd);
    cmd.spawn().expect("spawn redis-server")
}

/// A Redis Cluster of `masters` nodes (no replicas) on free ports.
pub struct RedisCluster {
    nodes: Vec<Child>,
    pub ports: Vec<u16>,
    _dir: tempdir::TempDir,
}

/// redis-cli against the server on `port`; its output, trimmed.
fn redis_cli(port: u16, args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .arg("-p")
        .arg(port.to_string())
        .args(args)
        .output()
        .expect("redis-cli");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

impl RedisCluster {
    /// Run a command with redis-cli on the first node (e.g. `CLUSTER KEYSLOT k`).
    pub fn cli(&self, args: &[&str]) -> String {
        redis_cli(self.ports[0], args)
    }

    pub fn start(masters: usize) -> Self {
        require("redis-server", "apt-get install redis-server");
        require("redis-cli", "apt-get install redis-tools");
        let dir = tempdir::TempDir::new("cluster");
        let mut nodes = Vec::new();
        let mut ports = Vec::new();
        for i in 0..masters {
            let port = free_port();
            let conf = dir.0.join(format!("nodes-{i}.conf")).display().to_string();
            nodes.push(redis_server(
                port,
                &dir.0,
                &["--cluster-enabled", "yes", "--cluster-config-file", &conf],
            ));
            ports.push(port);
        }
        for &p in &ports {
            wait_ping(p);
        }
        let mut create = Command::new("redis-cli");
        create.arg("--cluster").arg("create");
        for p in &ports {
            create.arg(format!("127.0.0.1:{p}"));
        }
        let out = create
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .output()
            .expect("redis-cli --cluster create");
        assert!(
            out.status.success(),
            "cluster create failed: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        // wait until every node reports cluster_state:ok
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let ok = ports.iter().all(|p| {
                Command::new("redis-cli")
                    .args(["-p", &p.to_string(), "cluster", "info"])
                    .output()
                    .map(|o| String::from_utf8_lossy(&o.stdout).contains("cluster_state:ok"))
                    .unwrap_or(false)
            });
            if ok {
                break;
            }
            assert!(Instant::now() < deadline, "cluster did not become ok");
            std::thread::sleep(Duration::from_millis(100));
        }
        Self {
            nodes,
            ports,
            _dir: dir,
        }
    }

    pub fn urls(&self) -> Vec<String> {
        self.ports
            .iter()
            .map(|p| format!("redis://127.0.0.1:{p}"))
            .collect()
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for n in &mut self.nodes {
            let _ = n.kill();
            let _ = n.wait();
        }
    }
}

/// A master, one replica and one Sentinel (quorum 1) monitoring them as `mymaster`.
pub struct RedisSentinel {
    procs: Vec<Child>,
    pub master_port: u16,
    pub replica_port: u16,
    pub sentinel_port: u16,
    _dir: tempdir::TempDir,
}

impl RedisSentinel {
    pub const MASTER: &'static str = "mymaster";

    pub fn start() -> Self {
        require("redis-server", "apt-get install redis-server");
        let dir = tempdir::TempDir::new("sentinel");
        let (m, r, s) = (free_port(), free_port(), free_port());
        let mut procs = vec![redis_server(m, &dir.0, &[])];
        wait_ping(m);
        procs.push(redis_server(
            r,
            &dir.0,
            &["--replicaof", "127.0.0.1", &m.to_string()],
        ));
        wait_ping(r);
        // Sentinel rewrites its config file: it needs a writable one of its own.
        let conf = dir.0.join("sentinel.conf");
        std::fs::write(
            &conf,
            format!(
                "port {s}\nbind 127.0.0.1\ndir {}\nsentinel monitor {} 127.0.0.1 {m} 1\nsentinel down-after-milliseconds {} 1000\nsentinel failover-timeout {} 5000\n",
                dir.0.display(),
                Self::MASTER,
                Self::MASTER,
                Self::MASTER
            ),
        )
        .unwrap();
        let mut sentinel = Command::new("redis-server");
        sentinel
            .arg(&conf)
            .arg("--sentinel")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        die_with_parent(&mut sentinel);
        procs.push(sentinel.spawn().expect("spawn redis-server --sentinel"));
        wait_ping(s);
        let me = Self {
            procs,
            master_port: m,
            replica_port: r,
            sentinel_port: s,
            _dir: dir,
        };
        // wait until the replica is in sync and the sentinel knows it
        let deadline = Instant::now() + Duration::from_secs(20);
        while !(me
            .cli(r, &["info", "replication"])
            .contains("master_link_status:up")
            && me
                .cli(s, &["sentinel", "replicas", Self::MASTER])
                .contains(&r.to_string()))
        {
            assert!(Instant::now() < deadline, "sentinel setup did not settle");
            std::thread::sleep(Duration::from_millis(100));
        }
        me
    }

    /// redis-cli against the node or Sentinel on `port`; its output, trimmed.
    pub fn cli(&self, port: u16, args: &[&str]) -> String {
        redis_cli(port, args)
    }

    pub fn sentinel_urls(&self) -> Vec<String> {
        vec![format!("redis://127.0.0.1:{}", self.sentinel_port)]
    }

    /// Port of the master Sentinel currently names.
    pub fn current_master(&self) -> u16 {
        let out = self.cli(
            self.sentinel_port,
            &["sentinel", "get-master-addr-by-name", Self::MASTER],
        );
        out.lines()
            .nth(1)
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or(0)
    }

    /// Ask Sentinel to fail over and wait until the replica is master.
    pub fn failover(&self) {
        self.cli(self.sentinel_port, &["sentinel", "failover", Self::MASTER]);
        let deadline = Instant::now() + Duration::from_secs(30);
        while !(self.current_master() == self.replica_port
            && self.cli(self.replica_port, &["role"]).starts_with("master"))
        {
            assert!(Instant::now() < deadline, "failover did not complete");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for RedisSentinel {
    fn drop(&mut self) {
        for p in &mut self.procs {
            let _ = p.kill();
            let _ = p.wait();
        }
    }
}

/// Does a redis-server on `port` answer PING?
fn pong(port: u16) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let mut buf = [0u8; 7];
    s.write_all(b"PING\r\n").is_ok() && s.read_exact(&mut buf).is_ok() && &buf == b"+PONG\r\n"
}

/// Block until a redis-server on `port` answers PING.
pub fn wait_ping(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if pong(port) {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("redis on port {port} did not answer");
}

/// A Node.js script from this repo that prints one `<PREFIX> <base url>` line on stdout
/// when ready and exits when its stdin closes. Killed in `Drop`.
pub struct NodeService {
    child: Child,
    pub base: String,
}

impl NodeService {
    /// `dir` is relative to the repo root and must hold `server.mjs` and `node_modules/<module>`;
    /// `log_var` set in the environment shows the script's stderr.
    pub fn start(
        dir: &str,
        module: &str,
        env: &[(&str, String)],
        prefix: &str,
        log_var: &str,
    ) -> Self {
        require("node", "apt-get install nodejs");
        let path = crate::root().join(dir);
        assert!(
            path.join("node_modules").join(module).exists(),
            "{dir}/node_modules is missing: run `npm ci --prefix {dir}` (make test does)"
        );
        // Node 20 + OpenSSL 3 occasionally (a few starts in a hundred, seen here) stalls for
        // good right after generating the OP's RSA key: give each start 20 s, try 3 times,
        // and show the stderr of the last try if none announced itself.
        let mut last = String::new();
        for attempt in 1..=3 {
            match Self::try_start(&path, env, log_var) {
                Ok((child, line)) => {
                    let base = line
                        .strip_prefix(&format!("{prefix} "))
                        .unwrap_or_else(|| {
                            panic!("unexpected output from {dir}/server.mjs: {line}")
                        })
                        .trim()
                        .to_string();
                    return Self { child, base };
                }
                Err(why) => {
                    eprintln!("{dir}/server.mjs start {attempt}/3 failed: {why}");
                    last = why;
                }
            }
        }
        panic!("{dir}/server.mjs did not start in 3 tries: {last}");
    }

    /// One start: the child and its announcement line, or why not (with its stderr).
    fn try_start(
        path: &std::path::Path,
        env: &[(&str, String)],
        log_var: &str,
    ) -> Result<(Child, String), String> {
        // stderr goes to a file so a failed start can show why
        let log_dir = tempdir::TempDir::new("node-log");
        let log_path = log_dir.0.join("stderr.log");
        let stderr = if std::env::var_os(log_var).is_some() {
            Stdio::inherit()
        } else {
            Stdio::from(std::fs::File::create(&log_path).unwrap())
        };
        let mut cmd = Command::new("node");
        cmd.arg(path.join("server.mjs"))
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr);
        die_with_parent(&mut cmd);
        let mut child = cmd.spawn().map_err(|e| format!("spawn node: {e}"))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            // None: stdout closed before the line (the script exited)
            let _ = tx.send(lines.next().and_then(Result::ok));
            for _ in lines {} // keep the pipe drained
        });
        match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(Some(l)) => Ok((child, l)),
            other => {
                let _ = child.kill();
                let status = child.wait();
                let log = std::fs::read_to_string(&log_path).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(30).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                Err(format!(
                    "{} (exit {status:?}); its stderr:\n{}",
                    if other.is_err() {
                        "no announcement within 20 s"
                    } else {
                        "exited"
                    },
                    tail.join("\n")
                ))
            }
        }
    }

    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for NodeService {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One client registered at the test OP.
#[derive(Clone, Debug)]
pub struct OpClient {
    pub client_id: String,
    pub client_secret: String,
    pub gateway_port: u16,
    pub host: String,
    pub auth_method: &'static str,
}

#[derive(Clone, Debug, Default)]
pub struct OpOptions {
    pub access_token_ttl: Option<u64>,
    pub refresh_token_ttl: Option<u64>,
    pub big_roles: Option<usize>,
    pub refresh_delay_ms: Option<u64>,
    /// Clients the OP sends no back-channel logout to (registered without
    /// `backchannel_logout_uri`): they learn of a logout only through fan-out.
    pub without_backchannel: Vec<String>,
}

/// The test OP (`node tests/op/server.mjs`).
pub struct Op {
    service: NodeService,
    pub base: String,
    pub issuer: String,
    http: reqwest::Client,
}

impl Op {
    pub fn start(clients: &[OpClient], opts: &OpOptions) -> Self {
        let clients_json: Vec<serde_json::Value> = clients
            .iter()
            .map(|c| {
                let base = format!("http://{}:{}", c.host, c.gateway_port);
                let mut j = serde_json::json!({
                    "client_id": c.client_id,
                    "client_secret": c.client_secret,
                    "redirect_uris": [format!("{base}/sso/callback")],
                    "post_logout_redirect_uris": [format!("{base}/sso/logged-out")],
                    "backchannel_logout_uri": format!("http://127.0.0.1:{}/sso/backchannel-logout", c.gateway_port),
                    "token_endpoint_auth_method": c.auth_method,
                });
                if opts.without_backchannel.contains(&c.client_id) {
                    j.as_object_mut().unwrap().remove("backchannel_logout_uri");
                }
                j
            })
            .collect();
        let mut env = vec![
            ("OP_PORT", "0".to_string()),
            ("OP_CLIENTS", serde_json::to_string(&clients_json).unwrap()),
            ("OP_EXIT_ON_STDIN_EOF", "1".to_string()),
        ];
        let optional = [
            ("OP_ACCESS_TOKEN_TTL", opts.access_token_ttl),
            ("OP_REFRESH_TOKEN_TTL", opts.refresh_token_ttl),
            ("OP_BIG_ROLES", opts.big_roles.map(|v| v as u64)),
            ("OP_REFRESH_DELAY_MS", opts.refresh_delay_ms),
        ];
        env.extend(
            optional
                .into_iter()
                .filter_map(|(k, v)| v.map(|v| (k, v.to_string()))),
        );
        let service =
            NodeService::start("tests/op", "oidc-provider", &env, "OP_LISTENING", "OP_LOG");
        let base = service.base.clone();
        Self {
            service,
            issuer: format!("{base}/realms/demo"),
            base,
            http: reqwest::Client::new(),
        }
    }

    pub async fn stats(&self) -> serde_json::Value {
        self.http
            .get(format!("{}/__test/stats", self.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    pub async fn refresh_calls(&self) -> u64 {
        self.stats().await["token"]["refresh_token"]
            .as_u64()
            .unwrap_or(0)
    }

    pub async fn reset_stats(&self) {
        self.http
            .post(format!("{}/__test/stats/reset", self.base))
            .send()
            .await
            .unwrap();
    }

    /// Keycloak's admin "log out user": ends the OP sessions and sends back-channel logouts.
    pub async fn admin_logout(&self, username: &str) -> serde_json::Value {
        self.http
            .post(format!("{}/__test/admin-logout", self.base))
            .form(&[("username", username)])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    pub fn stop(&mut self) {
        self.service.stop();
    }
}
