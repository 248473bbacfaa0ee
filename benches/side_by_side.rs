//! Side-by-side forward-auth benchmark: every system answers the same kind of request
//! under the same `wrk` load, interleaved round by round (system A, B, C … at 8
//! connections, then at 64, then the next round), so drift on the shared 2-core machine
//! hits all of them alike. Ratios are taken within a round, then the median over rounds.
//!
//! Systems:
//! - `sso-gateway` `GET /sso/auth` with a valid session (in-process, 2 actix workers);
//! - a bare actix-web 4 handler answering 200 (same process kind, 2 workers): the
//!   framework's limit on this machine;
//! - nginx with the shipped `deploy/nginx` auth_request snippets in front of a static
//!   upstream, and the same nginx serving that upstream without auth;
//! - peers (`peers.rs`): Apache + mod_auth_openidc and oauth2-proxy, when installed.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// wrk run length per system and connection count.
pub const SBS_SECS: u64 = 5;
pub const SBS_ROUNDS: usize = 3;
pub const SBS_CONNS: [usize; 2] = [8, 64];

/// One system under test: what wrk sends.
#[derive(Clone)]
pub struct System {
    pub name: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    /// Status a valid request gets (checked before each run: wrk counts 3xx as success).
    pub expect: u16,
}

#[derive(Clone, Copy, Debug, Default)]
pub struct WrkResult {
    pub rps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    #[allow(dead_code)]
    pub requests: u64,
}

fn parse_ms(v: &str) -> f64 {
    let v = v.trim();
    let (num, mul) = if let Some(n) = v.strip_suffix("us") {
        (n, 0.001)
    } else if let Some(n) = v.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = v.strip_suffix('s') {
        (n, 1000.0)
    } else {
        (v, 1.0)
    };
    num.trim().parse::<f64>().unwrap_or(f64::NAN) * mul
}

/// `wrk -t2 -c<conns> -d<secs>s --latency` against `s`; panics when wrk saw any non-2xx/3xx.
pub fn wrk(s: &System, conns: usize, secs: u64) -> WrkResult {
    let mut args = vec![
        "-t2".to_string(),
        format!("-c{conns}"),
        format!("-d{secs}s"),
        "--timeout".into(),
        "5s".into(),
        "--latency".into(),
    ];
    for (k, v) in &s.headers {
        args.push("-H".into());
        args.push(format!("{k}: {v}"));
    }
    args.push(s.url.clone());
    let out = Command::new("wrk").args(&args).output().expect("run wrk");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "wrk failed on {}: {text}", s.name);
    let field = |prefix: &str| -> Option<String> {
        text.lines()
            .map(str::trim)
            .find_map(|l| l.strip_prefix(prefix))
            .map(|v| v.trim().to_string())
    };
    if let Some(n) = field("Non-2xx or 3xx responses:") {
        panic!(
            "{}: wrk saw {n} non-2xx/3xx answers (session not accepted?):\n{text}",
            s.name
        );
    }
    let requests = text
        .lines()
        .find(|l| l.contains(" requests in "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    WrkResult {
        rps: field("Requests/sec:")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0),
        p50_ms: field("50%").map(|v| parse_ms(&v)).unwrap_or(f64::NAN),
        p99_ms: field("99%").map(|v| parse_ms(&v)).unwrap_or(f64::NAN),
        requests,
    }
}

/// One plain HTTP/1.1 GET with `s`'s headers over a fresh connection; the status code.
pub fn probe(s: &System) -> u16 {
    use std::io::{Read, Write};
    let u = url::Url::parse(&s.url).unwrap();
    let port = u.port_or_known_default().unwrap();
    let Ok(mut c) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return 0;
    };
    let _ = c.set_read_timeout(Some(Duration::from_secs(10)));
    let mut req = format!(
        "GET {}{} HTTP/1.1\r\nConnection: close\r\n",
        u.path(),
        u.query().map(|q| format!("?{q}")).unwrap_or_default()
    );
    if !s
        .headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("host"))
    {
        req.push_str(&format!("Host: {}\r\n", u.authority()));
    }
    for (k, v) in &s.headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    if c.write_all(req.as_bytes()).is_err() {
        return 0;
    }
    let mut buf = [0u8; 64];
    let mut got = Vec::new();
    while got.len() < 12 {
        match c.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&got)
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        f64::NAN
    } else {
        v[v.len() / 2]
    }
}

/// results[round][conn index][system index]
pub type Grid = Vec<Vec<Vec<WrkResult>>>;

/// Run every system at every connection count, interleaved, `rounds` times.
pub fn interleaved(systems: &[System], rounds: usize, secs: u64) -> Grid {
    let mut grid = Vec::new();
    for round in 0..rounds {
        let mut per_conn = Vec::new();
        for &c in &SBS_CONNS {
            let mut row = Vec::new();
            for s in systems {
                let st = probe(s);
                assert_eq!(
                    st, s.expect,
                    "{}: precondition: a valid request gets {} (got {st})",
                    s.name, s.expect
                );
                let r = wrk(s, c, secs);
                eprintln!(
                    "bench: round {} c={c} {}: {:.0} req/s p50 {:.2} ms p99 {:.2} ms",
                    round + 1,
                    s.name,
                    r.rps,
                    r.p50_ms,
                    r.p99_ms
                );
                // the session must still be valid after the run
                let st = probe(s);
                assert_eq!(st, s.expect, "{}: after the run got {st}", s.name);
                row.push(r);
            }
            per_conn.push(row);
        }
        grid.push(per_conn);
    }
    grid
}

/// Median over rounds of `f(round results of conn index ci)`.
pub fn med_over_rounds(grid: &Grid, ci: usize, f: impl Fn(&[WrkResult]) -> f64) -> f64 {
    median(grid.iter().map(|r| f(&r[ci])).collect())
}

// ------------------------------------------------------------------ bare actix-web

/// A bare actix-web 4 server answering `200` to `GET /`, 2 workers, in its own thread; and
/// `GET /answer` with the given headers (the gateway's answer, copied: what sending the
/// identity headers and the token back costs the framework alone).
pub struct Bare {
    pub port: u16,
    handle: actix_web::dev::ServerHandle,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Bare {
    pub fn start(answer: Vec<(String, String)>) -> Self {
        let answer = std::sync::Arc::new(answer);
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let sys = actix_rt::System::new();
            sys.block_on(async move {
                let server = actix_web::HttpServer::new(move || {
                    let answer = answer.clone();
                    actix_web::App::new()
                        .route(
                            "/",
                            actix_web::web::get()
                                .to(|| async { actix_web::HttpResponse::Ok().finish() }),
                        )
                        .route(
                            "/answer",
                            actix_web::web::get().to(move || {
                                let answer = answer.clone();
                                async move {
                                    let mut r = actix_web::HttpResponse::Ok();
                                    for (k, v) in answer.iter() {
                                        r.insert_header((k.as_str(), v.as_str()));
                                    }
                                    r.finish()
                                }
                            }),
                        )
                })
                .workers(2)
                .disable_signals()
                .listen(l)
                .unwrap()
                .run();
                tx.send(server.handle()).unwrap();
                let _ = server.await;
            });
        });
        let handle = rx.recv().unwrap();
        Self {
            port,
            handle,
            thread: Some(thread),
        }
    }
}

impl Drop for Bare {
    fn drop(&mut self) {
        let h = self.handle.clone();
        let _ = std::thread::spawn(move || {
            actix_rt::System::new().block_on(h.stop(false));
        })
        .join();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

// ------------------------------------------------------------------ nginx

/// nginx (its own prefix, 2 workers) with three servers: a static upstream, the upstream
/// behind the shipped auth_request snippets, and the upstream proxied without auth.
pub struct Nginx {
    child: Child,
    pub auth_port: u16,
    pub plain_port: u16,
    /// A protected location whose `auth_request` goes to nginx's own static 200: what the
    /// auth subrequest costs nginx with an authorizer that does no work.
    pub selfauth_port: u16,
    dir: PathBuf,
}

impl Nginx {
    pub fn start(gateway_port: u16) -> Self {
        let snippets = sso_integration_tests::root().join("deploy/nginx");
        let dir = std::env::temp_dir().join(format!("sso-bench-nginx-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let d = dir.display();
        let static_port = sso_integration_tests::procs::free_port();
        let auth_port = sso_integration_tests::procs::free_port();
        let plain_port = sso_integration_tests::procs::free_port();
        let selfauth_port = sso_integration_tests::procs::free_port();
        let conf = format!(
            r#"worker_processes 2;
error_log {d}/error.log warn;
pid {d}/nginx.pid;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {d}/client_body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    large_client_header_buffers 4 32k;
    upstream sso_gateway {{ server 127.0.0.1:{gateway_port}; keepalive 64; }}
    upstream static_app {{ server 127.0.0.1:{static_port}; keepalive 64; }}
    server {{
        listen 127.0.0.1:{static_port};
        location / {{ default_type text/plain; return 200 "static upstream\n"; }}
    }}
    server {{
        listen 127.0.0.1:{auth_port};
        server_name app1.a.localhost;
        include "{auth}";
        location / {{
            include "{protect}";
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass http://static_app;
        }}
    }}
    server {{
        listen 127.0.0.1:{selfauth_port};
        server_name app1.a.localhost;
        location = /_free_auth {{
            internal;
            proxy_pass http://static_app/;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }}
        location / {{
            auth_request /_free_auth;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass http://static_app;
        }}
    }}
    server {{
        listen 127.0.0.1:{plain_port};
        server_name app1.a.localhost;
        location / {{
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_pass http://static_app;
        }}
    }}
}}
"#,
            auth = snippets.join("sso-auth.conf").display(),
            protect = snippets.join("sso-protect.conf").display(),
        );
        let conf_path = dir.join("nginx.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let child = Command::new("nginx")
            .arg("-p")
            .arg(&dir)
            .arg("-c")
            .arg(&conf_path)
            .arg("-e")
            .arg(dir.join("error.log"))
            .arg("-g")
            .arg("daemon off;")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn nginx (apt-get install nginx)");
        let n = Self {
            child,
            auth_port,
            plain_port,
            selfauth_port,
            dir,
        };
        wait_port(auth_port, &n.dir.join("error.log"));
        wait_port(plain_port, &n.dir.join("error.log"));
        wait_port(selfauth_port, &n.dir.join("error.log"));
        n
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGTERM to the master: it stops its workers.
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub fn wait_port(port: u16, log: &Path) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!(
        "nothing listens on {port}:\n{}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}
