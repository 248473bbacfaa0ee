//! Gateway benchmarks against the real pieces the integration tests use: `redis-server`,
//! the test OP (`node tests/op/server.mjs`) and in-process gateways (2 actix workers each).
//!
//! `cargo bench -p sso-integration-tests --bench gateway` (or `make bench`, which also rewrites docs/benchmarks.md).
//! Prints a markdown report; with `BENCH_OUT=path` it also writes it there.
//!
//! The load generators (wrk, or a reqwest pool in this process) share the machine's cores
//! with the gateway, Redis and the OP, so absolute numbers are a floor for this machine,
//! not a capacity figure; ratios between runs on the same machine are what to compare.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod peers;
mod rss;
mod side_by_side;

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sso_core::secret::SessionId;
use sso_core::store::memory::MemoryStore;
use sso_core::store::{SessionRecord, SessionStore};
use sso_integration_tests::world::{login, GatewayHandle, World};
use sso_integration_tests::{Browser, OpOptions};

/// Forward-auth run with the in-process client: requests and concurrent connections.
const HOT_REQUESTS: usize = 20_000;
const HOT_CONNECTIONS: usize = 32;
const HOT_RUNS: usize = 3;
/// wrk run length (wrk is time based).
const WRK_SECS: u64 = 10;
const SEQ_REFRESHES: usize = 200;
const STAMPEDE_REQUESTS: usize = 50;
const STAMPEDE_ROUNDS: usize = 5;
const LOGOUT_RUNS: usize = 1_000;
const FANOUT_RUNS: usize = 1_000;
/// The bench logs in thousands of times from one loopback address: the per-address login
/// limit (`[rate_limit]`, issue 10) would answer 429 after its burst.
const NO_RATE_LIMIT: &str = "[rate_limit]\nenabled = false\n";
const MEMORY_LOGINS: usize = 100;
const SYNTHETIC_SESSIONS: usize = 10_000;

/// One row of the results table.
struct Row {
    what: String,
    result: String,
    notes: String,
}

#[derive(Default)]
struct Report {
    rows: Vec<Row>,
}

impl Report {
    fn add(
        &mut self,
        what: impl Into<String>,
        result: impl Into<String>,
        notes: impl Into<String>,
    ) {
        let row = Row {
            what: what.into(),
            result: result.into(),
            notes: notes.into(),
        };
        eprintln!("bench: {} = {} ({})", row.what, row.result, row.notes);
        self.rows.push(row);
    }
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let started = Instant::now();
    let load_before = loadavg();
    let mut report = Report::default();
    rt.block_on(run(&mut report));
    let load = format!("{load_before} before, {} after", loadavg());
    let md = render(&report, started.elapsed(), &load);
    println!("{md}");
    if let Some(path) = std::env::var_os("BENCH_OUT") {
        std::fs::write(&path, &md).unwrap();
        eprintln!("bench: wrote {}", std::path::Path::new(&path).display());
    }
}

async fn run(report: &mut Report) {
    let ports = peers::PeerPorts::new();
    let proc_port = rss::ProcPort::new();
    let mut clients = ports.clients();
    clients.push(proc_port.client());
    // BENCH_VERIFIED_CACHE=0: the gateways without the verified-token cache (signature
    // verified on every request with the prebuilt verifiers), for comparison.
    let cache = std::env::var("BENCH_VERIFIED_CACHE").ok();
    // Access tokens outlive the side-by-side run (≈ 7 min): wrk replays one cookie, so a
    // token expiring mid-run would be refreshed once and the replayed cookie then refused.
    let op = OpOptions {
        access_token_ttl: Some(1800),
        ..OpOptions::default()
    };
    let w = World::start_with_clients(op, &clients, |o| {
        o.extra.push_str(NO_RATE_LIMIT);
        if let Some(n) = &cache {
            o.oidc_extra
                .push_str(&format!("verified_token_cache_size = {n}\n"));
        }
    });
    wait_ready(&w.a).await;
    side_by_side_run(&w, &ports, report).await;
    process_memory(&w, &proc_port, report).await;
    process_memory_full_cache(&w, report).await;
    if std::env::var_os("BENCH_ONLY_SIDE_BY_SIDE").is_some() {
        return;
    }
    hot_path(&w, report).await;
    sequential_refresh(&w, report).await;
    backchannel_logout(&w, report).await;
    redis_memory(&w, report).await;
    rss(&w, report).await;
    drop(w);
    fanout_logout(report).await;
    stampede(report).await;
}

// ------------------------------------------------------------------ helpers

async fn wait_ready(g: &GatewayHandle) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !g.gw.revocations().cache().is_ready() {
        assert!(Instant::now() < deadline, "revocation cache never built");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn pool_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(HOT_CONNECTIONS * 2)
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// `Cookie` header with the cookies a browser would send to `g`'s apps (`sso_at*` only
/// when `access_only`).
fn cookie_header(b: &Browser, g: &GatewayHandle, access_only: bool) -> String {
    let mut v: Vec<(String, String)> = b
        .jar
        .cookies_for(&g.app_url())
        .into_iter()
        .filter(|(k, _)| !access_only || k.starts_with("sso_at"))
        .collect();
    v.sort();
    assert!(
        v.iter().any(|(k, _)| k == "sso_at"),
        "no sso_at cookie after login"
    );
    v.iter()
        .map(|(k, val)| format!("{k}={val}"))
        .collect::<Vec<_>>()
        .join("; ")
}

fn loopback_url(g: &GatewayHandle, path: &str) -> String {
    format!("http://127.0.0.1:{}{path}", g.port)
}

async fn redis_conn(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

async fn info(c: &mut redis::aio::MultiplexedConnection, section: &str) -> String {
    redis::cmd("INFO")
        .arg(section)
        .query_async(c)
        .await
        .unwrap()
}

/// `INFO commandstats` as command → calls.
async fn commandstats(c: &mut redis::aio::MultiplexedConnection) -> HashMap<String, u64> {
    info(c, "commandstats")
        .await
        .lines()
        .filter_map(|l| {
            let rest = l.strip_prefix("cmdstat_")?;
            let (name, fields) = rest.split_once(':')?;
            let calls = fields
                .split(',')
                .find_map(|f| f.strip_prefix("calls="))?
                .trim()
                .parse()
                .ok()?;
            Some((name.to_string(), calls))
        })
        .collect()
}

/// Commands Redis ran between two snapshots, leaving out this benchmark's own `INFO`.
fn command_delta(
    before: &HashMap<String, u64>,
    after: &HashMap<String, u64>,
) -> Vec<(String, u64)> {
    let mut d: Vec<(String, u64)> = after
        .iter()
        .filter(|(k, _)| k.as_str() != "info")
        .map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or(0)))
        .filter(|(_, v)| *v > 0)
        .collect();
    d.sort();
    d
}

fn describe_delta(d: &[(String, u64)]) -> String {
    if d.is_empty() {
        "none".into()
    } else {
        d.iter()
            .map(|(k, v)| format!("{k}×{v}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

async fn used_memory(c: &mut redis::aio::MultiplexedConnection) -> i64 {
    info(c, "memory")
        .await
        .lines()
        .find_map(|l| l.strip_prefix("used_memory:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap()
}

async fn keys(c: &mut redis::aio::MultiplexedConnection, pattern: &str) -> Vec<String> {
    redis::cmd("KEYS")
        .arg(pattern)
        .query_async(c)
        .await
        .unwrap()
}

async fn memory_usage(c: &mut redis::aio::MultiplexedConnection, key: &str) -> i64 {
    let v: Option<i64> = redis::cmd("MEMORY")
        .arg("USAGE")
        .arg(key)
        .arg("SAMPLES")
        .arg(0)
        .query_async(c)
        .await
        .unwrap();
    v.unwrap_or(0)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    assert!(!sorted.is_empty());
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

fn ms(d: Duration) -> String {
    let m = d.as_secs_f64() * 1000.0;
    if m < 10.0 {
        format!("{m:.2} ms")
    } else {
        format!("{m:.1} ms")
    }
}

fn vm_rss_kib() -> i64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

fn cmd_out(cmd: &str, args: &[&str]) -> Option<String> {
    let o = std::process::Command::new(cmd).args(args).output().ok()?;
    o.status
        .success()
        .then(|| String::from_utf8_lossy(&o.stdout).trim().to_string())
}

// ------------------------------------------------------------------ 0. side by side

async fn side_by_side_run(w: &World, ports: &peers::PeerPorts, report: &mut Report) {
    use side_by_side::*;
    let b = Browser::new();
    login(&b, &w.a, "bob", "bob-password").await;
    let cookie = cookie_header(&b, &w.a, false);
    let original = w.a.app_url();
    // the gateway's answer headers (minus what every server sends), for the bare server's
    // `/answer`
    let answer: Vec<(String, String)> = reqwest::Client::new()
        .get(loopback_url(&w.a, "/sso/auth"))
        .header("Cookie", &cookie)
        .header("X-Original-URL", &original)
        .send()
        .await
        .unwrap()
        .headers()
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "date" | "content-length"))
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_string()))
        .collect();
    assert!(
        answer.iter().any(|(k, _)| k == "x-auth-request-user"),
        "the gateway allowed the bench's session: {answer:?}"
    );
    let bare = Bare::start(answer);
    let nginx = Nginx::start(w.a.port);
    let app_host = url::Url::parse(&original)
        .unwrap()
        .host_str()
        .unwrap()
        .to_string();
    let mut systems = vec![
        System {
            name: "sso-gateway /sso/auth".into(),
            url: loopback_url(&w.a, "/sso/auth"),
            headers: vec![
                ("Cookie".into(), cookie.clone()),
                ("X-Original-URL".into(), original.clone()),
            ],
            expect: 200,
        },
        // Target 1's denominator: the framework's limit for the same request (the
        // gateway's Cookie and X-Original-URL headers, ≈ 1.4 KB, read and dropped).
        System {
            name: "bare actix-web 200".into(),
            url: format!("http://127.0.0.1:{}/", bare.port),
            headers: vec![
                ("Cookie".into(), cookie.clone()),
                ("X-Original-URL".into(), original.clone()),
            ],
            expect: 200,
        },
        // The same server answering with the gateway's answer headers (identity and the
        // token): how much of target 1's gap is the answer itself, listed for comparison.
        System {
            name: "bare actix-web 200 with the gateway's answer headers".into(),
            url: format!("http://127.0.0.1:{}/answer", bare.port),
            headers: vec![
                ("Cookie".into(), cookie.clone()),
                ("X-Original-URL".into(), original.clone()),
            ],
            expect: 200,
        },
        // The same handler sent a bare `GET /` (no cookie): listed for comparison.
        System {
            name: "bare actix-web 200, empty request".into(),
            url: format!("http://127.0.0.1:{}/", bare.port),
            headers: vec![],
            expect: 200,
        },
        System {
            name: "nginx + sso-gateway auth_request".into(),
            url: format!("http://127.0.0.1:{}/", nginx.auth_port),
            headers: vec![
                ("Host".into(), app_host.clone()),
                ("Cookie".into(), cookie.clone()),
            ],
            expect: 200,
        },
        // Target 3's reference: the same auth_request answered by nginx's own static 200 (an
        // authorizer that does no work, but in nginx's own workers).
        System {
            name: "nginx + auth_request answered by nginx itself".into(),
            url: format!("http://127.0.0.1:{}/", nginx.selfauth_port),
            headers: vec![
                ("Host".into(), app_host.clone()),
                ("Cookie".into(), cookie.clone()),
            ],
            expect: 200,
        },
        System {
            name: "nginx, no auth".into(),
            url: format!("http://127.0.0.1:{}/", nginx.plain_port),
            headers: vec![
                ("Host".into(), app_host.clone()),
                ("Cookie".into(), cookie.clone()),
            ],
            expect: 200,
        },
    ];
    // Peers: same OP, own client each, a real session for bob.
    let skip_peers = std::env::var_os("BENCH_SKIP_PEERS").is_some();
    let mut peer_procs = Vec::new();
    let mut peer_names: Vec<String> = Vec::new();
    if !skip_peers {
        assert!(
            peers::apache_installed(),
            "Apache is not installed (deploy/scripts/bench.sh installs apache2 and libapache2-mod-auth-openidc; BENCH_SKIP_PEERS=1 runs without peers)"
        );
        let ap = peers::start_apache(ports.apache, &w.op.issuer);
        let cookie = peers::peer_login(
            peers::APACHE_HOST,
            ports.apache,
            "/static.txt",
            "bob",
            "bob-password",
        )
        .await;
        let s = peers::apache_system(ports.apache, cookie);
        peer_names.push(s.name.clone());
        systems.push(s);
        peer_procs.push(ap);
        let bin = peers::o2p_bin().expect(
            "oauth2-proxy is not installed (deploy/scripts/bench.sh: go install github.com/oauth2-proxy/oauth2-proxy/v7@v7.15.6; BENCH_SKIP_PEERS=1 runs without peers)",
        );
        let redis_url = w.redis.url();
        for (name, host, port, client, redis) in [
            (
                "oauth2-proxy auth, cookie store",
                peers::O2P_COOKIE_HOST,
                ports.o2p_cookie,
                "peer-o2p-cookie",
                None,
            ),
            (
                "oauth2-proxy auth, Redis store",
                peers::O2P_REDIS_HOST,
                ports.o2p_redis,
                "peer-o2p-redis",
                Some(redis_url.as_str()),
            ),
        ] {
            let p = peers::start_o2p(&bin, host, port, &w.op.issuer, client, redis);
            let cookie = peers::peer_login(host, port, "/", "bob", "bob-password").await;
            let s = peers::o2p_system(name, host, port, cookie);
            peer_names.push(s.name.clone());
            systems.push(s);
            peer_procs.push(p);
        }
    }
    let names: Vec<String> = systems.iter().map(|s| s.name.clone()).collect();
    // warm-up: connections, JWKS, the verified-token cache, nginx keepalive pools
    for s in &systems {
        let s = s.clone();
        tokio::task::spawn_blocking(move || wrk(&s, 8, 1))
            .await
            .unwrap();
    }
    // BENCH_PERF=<file>: a CPU profile of this process (the in-process gateway) during a
    // gateway-only wrk run at 64 connections (`perf record -e cpu-clock -g`).
    // BENCH_PERF_SYSTEM=<name>: profile the whole machine (`perf record -a`) during a run of
    // that system instead (e.g. "nginx + sso-gateway auth_request": who spends the CPU).
    if let Some(out) = std::env::var_os("BENCH_PERF") {
        let which = std::env::var("BENCH_PERF_SYSTEM").ok();
        let s = match &which {
            Some(n) => systems
                .iter()
                .find(|s| &s.name == n)
                .expect("BENCH_PERF_SYSTEM names a system")
                .clone(),
            None => systems[0].clone(),
        };
        let target = match which {
            Some(_) => vec!["-a".to_string()],
            None => vec!["-p".to_string(), std::process::id().to_string()],
        };
        let mut perf = std::process::Command::new("perf")
            .args(["record", "-e", "cpu-clock", "-F", "999", "-g"])
            .args(&target)
            .arg("-o")
            .arg(&out)
            .args(["--", "sleep", "8"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("perf");
        let r = tokio::task::spawn_blocking(move || wrk(&s, 64, 8))
            .await
            .unwrap();
        let _ = perf.wait();
        eprintln!("bench: profiled run: {:.0} req/s", r.rps);
        if std::env::var_os("BENCH_ONLY_PERF").is_some() {
            return;
        }
    }
    let ok0 = w.a.gw.metrics().auth_ok.get();
    let denied0 = w.a.gw.metrics().auth_denied.get();
    let sys2 = systems.clone();
    let t = Instant::now();
    let secs = std::env::var("BENCH_SIDE_BY_SIDE_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(SBS_SECS);
    let grid = tokio::task::spawn_blocking(move || interleaved(&sys2, SBS_ROUNDS, secs))
        .await
        .unwrap();
    let took = t.elapsed();
    let denied = w.a.gw.metrics().auth_denied.get() - denied0;
    let ok = w.a.gw.metrics().auth_ok.get() - ok0;
    assert_eq!(denied, 0, "the gateway denied requests during the runs");
    let idx = |n: &str| names.iter().position(|x| x == n).unwrap();
    let (gw_i, bare_i, ng_i, plain_i) = (
        idx("sso-gateway /sso/auth"),
        idx("bare actix-web 200"),
        idx("nginx + sso-gateway auth_request"),
        idx("nginx, no auth"),
    );
    for (ci, c) in SBS_CONNS.iter().enumerate() {
        for (si, name) in names.iter().enumerate() {
            let rps = med_over_rounds(&grid, ci, |r| r[si].rps);
            let p50 = med_over_rounds(&grid, ci, |r| r[si].p50_ms);
            let p99 = med_over_rounds(&grid, ci, |r| r[si].p99_ms);
            let vs_bare = med_over_rounds(&grid, ci, |r| r[si].rps / r[bare_i].rps);
            let vs_gw = med_over_rounds(&grid, ci, |r| r[gw_i].rps / r[si].rps);
            let rounds: Vec<String> = grid
                .iter()
                .map(|r| format!("{:.0}", r[ci][si].rps))
                .collect();
            report.add(
                format!("Side by side, {c} connections: {name}"),
                format!("{rps:.0} req/s; p50 {p50:.2} ms, p99 {p99:.2} ms"),
                format!(
                    "rounds: {} req/s; {:.0} % of bare actix-web; sso-gateway = {:.2}× this",
                    rounds.join(" / "),
                    vs_bare * 100.0,
                    vs_gw
                ),
            );
        }
    }
    // targets
    let mut t1 = Vec::new();
    let mut t1_empty = Vec::new();
    let mut t1_met = true;
    let empty_i = idx("bare actix-web 200, empty request");
    let answer_i = idx("bare actix-web 200 with the gateway's answer headers");
    let mut t1_answer = Vec::new();
    for (ci, c) in SBS_CONNS.iter().enumerate() {
        let r = med_over_rounds(&grid, ci, |r| r[gw_i].rps / r[bare_i].rps);
        let p = med_over_rounds(&grid, ci, |r| r[gw_i].p99_ms / r[bare_i].p99_ms);
        t1_met &= r >= 0.70 && p <= 1.5;
        t1.push(format!("@{c}: {:.0} % of req/s, p99 {:.2}×", r * 100.0, p));
        let e = med_over_rounds(&grid, ci, |r| r[gw_i].rps / r[empty_i].rps);
        let a = med_over_rounds(&grid, ci, |r| r[gw_i].rps / r[answer_i].rps);
        let ab = med_over_rounds(&grid, ci, |r| r[answer_i].rps / r[bare_i].rps);
        t1_empty.push(format!("@{c} {:.0} %", e * 100.0));
        t1_answer.push(format!(
            "@{c}: that server is {:.0} % of bare actix-web, the gateway {:.0} % of it",
            ab * 100.0,
            a * 100.0
        ));
    }
    report.add(
        "Target 1: `/sso/auth` ≥ 70 % of bare actix-web req/s at 8 and 64 conns, p99 ≤ 1.5× bare",
        format!(
            "{} — {}",
            t1.join("; "),
            if t1_met { "met" } else { "NOT met" }
        ),
        format!(
            "median of the per-round ratios (same round, same load generator); bare actix-web sent the gateway's request (Cookie, X-Original-URL); against it sent an empty `GET /`: {}. The bare server answering with the gateway's answer headers (identity and the token, no work): {}",
            t1_empty.join(", "),
            t1_answer.join("; ")
        ),
    );
    let mut t3 = Vec::new();
    let mut t3_self = Vec::new();
    let mut t3_met = true;
    let ceil_i = idx("nginx + auth_request answered by nginx itself");
    for (ci, c) in SBS_CONNS.iter().enumerate() {
        let r = med_over_rounds(&grid, ci, |r| r[ng_i].rps / r[plain_i].rps);
        let p = med_over_rounds(&grid, ci, |r| r[ng_i].p99_ms / r[plain_i].p99_ms);
        t3_met &= r >= 0.50;
        t3.push(format!("@{c}: {:.0} % of req/s (p99 {:.2}×)", r * 100.0, p));
        let ceil = med_over_rounds(&grid, ci, |r| r[ceil_i].rps / r[plain_i].rps);
        let of_ceil = med_over_rounds(&grid, ci, |r| r[ng_i].rps / r[ceil_i].rps);
        t3_self.push(format!(
            "@{c}: {:.0} % of nginx without auth; the gateway's auth_request is {:.0} % of it",
            ceil * 100.0,
            of_ceil * 100.0
        ));
    }
    report.add(
        "Target 3: nginx + shipped auth_request ≥ 50 % of the same nginx without auth",
        format!("{} — {}", t3.join("; "), if t3_met { "met" } else { "NOT met" }),
        format!(
            "static upstream served by the same nginx (2 workers); the auth subrequest goes to the in-process gateway over keepalive. The same auth_request answered by nginx itself (a static 200 behind a proxy hop, no authorizer work, no auth_request_set): {}",
            t3_self.join("; ")
        ),
    );
    if !peer_names.is_empty() {
        let mut t2 = Vec::new();
        let mut t2_met = true;
        for (ci, c) in SBS_CONNS.iter().enumerate() {
            for name in &peer_names {
                let pi = idx(name);
                let r = med_over_rounds(&grid, ci, |r| r[gw_i].rps / r[pi].rps);
                let need = if name.starts_with("Apache") { 5.0 } else { 1.0 };
                t2_met &= r >= need;
                t2.push(format!("@{c} vs {name}: {r:.2}× (need ≥ {need}×)"));
            }
        }
        report.add(
            "Target 2: sso-gateway ≥ 5× Apache + mod_auth_openidc, ahead of oauth2-proxy (cookie and Redis store)",
            format!("{} — {}", t2.join("; "), if t2_met { "met" } else { "NOT met" }),
            "req/s ratios, median of the per-round ratios; every peer is a client of the same OP with a real session (bob) from the OP's login form",
        );
    }
    drop(peer_procs);
    report.add(
        "Side-by-side run",
        format!(
            "{SBS_ROUNDS} rounds × {} connection counts × {} systems × {secs} s, interleaved",
            SBS_CONNS.len(),
            names.len()
        ),
        format!(
            "{:.0} s; wrk -t2; the gateway counted {ok} allowed, {denied} denied; every system probed before and after each run (expected status) and no run reported non-2xx/3xx answers",
            took.as_secs_f64()
        ),
    );
    drop(nginx);
    drop(bare);
}

/// Target 6: RSS of a gateway process (the release binary), idle and under load.
async fn process_memory(w: &World, pp: &rss::ProcPort, report: &mut Report) {
    let Some(bin) = rss::bin() else {
        report.add(
            "Target 6: gateway process RSS",
            "skipped",
            "SSO_GATEWAY_BIN not set (deploy/scripts/bench.sh builds the release binary and sets it)",
        );
        return;
    };
    let g = rss::start(&bin, pp.0, &w.op.issuer, &w.redis.url());
    let cookie = rss::login(pp.0).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (idle, _) = rss::rss_hwm(g.pid());
    let s = rss::system(pp.0, cookie);
    let r = tokio::task::spawn_blocking(move || side_by_side::wrk(&s, 64, 6))
        .await
        .unwrap();
    let (after, peak) = rss::rss_hwm(g.pid());
    let mib = |k: u64| k as f64 / 1024.0;
    let met = mib(peak) < 50.0;
    report.add(
        "Target 6: gateway process RSS < 50 MB, idle and under forward-auth load",
        format!(
            "idle {:.1} MiB; peak (VmHWM) {:.1} MiB, {:.1} MiB after wrk -c64 6 s ({:.0} req/s) — {}",
            mib(idle),
            mib(peak),
            mib(after),
            r.rps,
            if met { "met" } else { "NOT met" }
        ),
        "release `sso-gateway` binary as its own process (workers = cores), Redis store; its verified-token cache holds one token here (the next row fills it to its bound); the revocation cache holds the bench's tombstones",
    );
    drop(g);
}

/// Target 6 with every cache at its bound: a gateway process in front of the in-process
/// hostile-OP fixture (which signs whatever the bench asks), sent as many distinct valid
/// access tokens (`Authorization: Bearer`, Keycloak-shaped claims) as its verified-token
/// cache holds, so the cache is full; then a forward-auth load on top.
async fn process_memory_full_cache(w: &World, report: &mut Report) {
    use sso_integration_tests::hostile_op::{HostileOp, SignWith};
    let Some(bin) = rss::bin() else {
        return;
    };
    let bound = sso_core::config::DEFAULT_VERIFIED_TOKEN_CACHE_SIZE;
    let op = HostileOp::start("gw-proc");
    let port = sso_integration_tests::procs::free_port();
    let g = rss::start(&bin, port, &op.issuer(), &w.redis.url());
    let (idle, _) = rss::rss_hwm(g.pid());
    let t0 = Instant::now();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let iss = op.issuer();
    let tokens: Vec<String> = (0..bound)
        .map(|i| {
            op.sign(
                serde_json::json!({"alg": "RS256", "typ": "JWT", "kid": "good-key"}),
                serde_json::json!({
                    "exp": now + 3600, "iat": now, "auth_time": now, "jti": format!("{i:08}-7d9c-4f5e-9b1a-3c2d1e0f9a8b"),
                    "iss": iss, "aud": "account", "sub": format!("{i:08}-1b2c-4d5e-8f90-a1b2c3d4e5f6"),
                    "typ": "Bearer", "azp": "gw-proc", "sid": format!("{i:08}-aaaa-bbbb-cccc-ddddeeeeffff"),
                    "acr": "1", "allowed-origins": ["https://app1.a.localhost"],
                    "realm_access": {"roles": ["default-roles-demo", "offline_access", "uma_authorization", "staff"]},
                    "resource_access": {"account": {"roles": ["manage-account", "view-profile"]}},
                    "scope": "openid email profile", "email_verified": true, "name": format!("User {i}"),
                    "preferred_username": format!("user{i}"), "given_name": "User", "family_name": format!("{i}"),
                    "email": format!("user{i}@a.localhost"),
                }),
                SignWith::Good,
            )
        })
        .collect();
    let signed = t0.elapsed();
    let client = pool_client();
    let url = format!("http://127.0.0.1:{port}/sso/auth");
    let next = Arc::new(AtomicUsize::new(0));
    let tokens = Arc::new(tokens);
    let workers: Vec<_> = (0..16)
        .map(|_| {
            let (client, url, next, tokens) =
                (client.clone(), url.clone(), next.clone(), tokens.clone());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(t) = tokens.get(i) else { break };
                    let r = client
                        .get(&url)
                        .header("Authorization", format!("Bearer {t}"))
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(r.status(), 200, "token {i}: {}", r.text().await.unwrap());
                }
            })
        })
        .collect();
    for wk in workers {
        wk.await.unwrap();
    }
    let metrics = client
        .get(format!("http://127.0.0.1:{port}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let entries = metrics
        .lines()
        .find_map(|l| l.strip_prefix("sso_verified_token_cache_entries "))
        .unwrap_or("?")
        .to_string();
    let (full, _) = rss::rss_hwm(g.pid());
    // forward-auth load on top, with one of the cached tokens
    let s = side_by_side::System {
        name: "sso-gateway process, full cache".into(),
        url: url.clone(),
        headers: vec![
            ("Authorization".into(), format!("Bearer {}", tokens[0])),
            ("X-Original-URL".into(), "http://app1.a.localhost:9/".into()),
        ],
        expect: 200,
    };
    let r = tokio::task::spawn_blocking(move || side_by_side::wrk(&s, 64, 6))
        .await
        .unwrap();
    let (after, peak) = rss::rss_hwm(g.pid());
    let mib = |k: u64| k as f64 / 1024.0;
    report.add(
        "Target 6: gateway process RSS < 50 MB with the verified-token cache at its bound",
        format!(
            "idle {:.1} MiB; {} distinct tokens verified → cache {entries} entries, RSS {:.1} MiB (+{:.1} MiB, {:.0} B per entry); peak (VmHWM) {:.1} MiB, {:.1} MiB after wrk -c64 6 s ({:.0} req/s) — {}",
            mib(idle),
            bound,
            mib(full),
            mib(full.saturating_sub(idle)),
            (full.saturating_sub(idle) * 1024) as f64 / bound as f64,
            mib(peak),
            mib(after),
            r.rps,
            if mib(peak) < 50.0 { "met" } else { "NOT met" }
        ),
        format!("release binary in front of the hostile-OP fixture (in-process, signs on demand); Keycloak-shaped access tokens of ≈ {} bytes (roles, email, names, sid), each sent once as `Authorization: Bearer` by 16 connections (signing took {} s)", tokens[0].len(), signed.as_secs()),
    );
    drop(g);
}

// ------------------------------------------------------------------ 1. forward-auth hot path

async fn hot_path(w: &World, report: &mut Report) {
    let b = Browser::new();
    login(&b, &w.a, "bob", "bob-password").await;
    let cookie = cookie_header(&b, &w.a, false);
    let url = loopback_url(&w.a, "/sso/auth");
    let original = w.a.app_url();
    let client = pool_client();
    let r = client
        .get(&url)
        .header("Cookie", &cookie)
        .header("X-Original-URL", &original)
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        200,
        "hot path precondition: a valid sso_at gets 200"
    );
    assert!(
        r.headers().get("set-cookie").is_none(),
        "hot path must not refresh"
    );

    // warm-up (connections, JWKS, allocator)
    let _ = load(&client, &url, &cookie, &original, 1_000, HOT_CONNECTIONS).await;

    let mut rc = redis_conn(&w.redis.url()).await;
    // Three runs: on 2 shared cores one run alone says little about the spread.
    let mut runs = Vec::new(); // (req/s, p50, p99)
    let mut delta_all: Vec<(String, u64)> = Vec::new();
    let mut allowed = 0;
    for _ in 0..HOT_RUNS {
        let ok0 = w.a.gw.metrics().auth_ok.get();
        let before = commandstats(&mut rc).await;
        let t = Instant::now();
        let (mut lat, bad) = load(
            &client,
            &url,
            &cookie,
            &original,
            HOT_REQUESTS,
            HOT_CONNECTIONS,
        )
        .await;
        let wall = t.elapsed();
        let after = commandstats(&mut rc).await;
        allowed += w.a.gw.metrics().auth_ok.get() - ok0;
        assert_eq!(bad, 0, "every hot-path answer must be 200");
        lat.sort();
        for (k, v) in command_delta(&before, &after) {
            match delta_all.iter_mut().find(|(n, _)| *n == k) {
                Some(e) => e.1 += v,
                None => delta_all.push((k, v)),
            }
        }
        runs.push((
            HOT_REQUESTS as f64 / wall.as_secs_f64(),
            percentile(&lat, 0.50),
            percentile(&lat, 0.99),
        ));
    }
    let requests = HOT_REQUESTS * HOT_RUNS;
    let mut by_rps = runs.clone();
    by_rps.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (rps, p50, p99) = by_rps[by_rps.len() / 2];
    let total: u64 = delta_all.iter().map(|(_, v)| v).sum();
    report.add(
        format!(
            "Forward-auth `GET /sso/auth`, valid `sso_at`, in-process reqwest pool ({HOT_REQUESTS} req × {HOT_RUNS} runs, {HOT_CONNECTIONS} concurrent)"
        ),
        format!(
            "{rps:.0} req/s; p50 {}, p99 {} (median run)",
            ms(p50),
            ms(p99)
        ),
        format!(
            "runs: {}; all {requests} answered 200 (gateway counted {allowed} allowed); the client runs in the gateways' process",
            runs.iter()
                .map(|(r, a, b)| format!("{r:.0} req/s p50 {} p99 {}", ms(*a), ms(*b)))
                .collect::<Vec<_>>()
                .join(" / ")
        ),
    );
    report.add(
        "Redis commands during those runs",
        format!("{:.4} per request", total as f64 / requests as f64),
        format!(
            "`INFO commandstats` delta (minus the bench's own INFO) over {requests} requests: {}",
            describe_delta(&delta_all)
        ),
    );

    if which("wrk") {
        wrk_run(w, &url, &cookie, &original, report, &mut rc).await;
    } else {
        report.add(
            "Forward-auth with wrk",
            "skipped",
            "`wrk` not installed (deploy/scripts/bench.sh installs it)",
        );
    }
}

fn which(bin: &str) -> bool {
    cmd_out("sh", &["-c", &format!("command -v {bin}")]).is_some_and(|s| !s.is_empty())
}

/// `total` GETs over `conns` concurrent loops; per-request latencies and non-200 count.
async fn load(
    client: &reqwest::Client,
    url: &str,
    cookie: &str,
    original: &str,
    total: usize,
    conns: usize,
) -> (Vec<Duration>, usize) {
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..conns {
        let (client, next) = (client.clone(), next.clone());
        let (url, cookie, original) = (url.to_string(), cookie.to_string(), original.to_string());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(total / conns + 1);
            let mut bad = 0usize;
            while next.fetch_add(1, Ordering::Relaxed) < total {
                let t = Instant::now();
                let r = client
                    .get(&url)
                    .header("Cookie", &cookie)
                    .header("X-Original-URL", &original)
                    .send()
                    .await
                    .unwrap();
                let ok = r.status() == 200;
                let _ = r.bytes().await.unwrap();
                lat.push(t.elapsed());
                if !ok {
                    bad += 1;
                }
            }
            (lat, bad)
        }));
    }
    let mut all = Vec::with_capacity(total);
    let mut bad = 0;
    for t in tasks {
        let (l, b) = t.await.unwrap();
        all.extend(l);
        bad += b;
    }
    (all, bad)
}

async fn wrk_run(
    w: &World,
    url: &str,
    cookie: &str,
    original: &str,
    report: &mut Report,
    rc: &mut redis::aio::MultiplexedConnection,
) {
    let ok0 = w.a.gw.metrics().auth_ok.get();
    let denied0 = w.a.gw.metrics().auth_denied.get();
    let before = commandstats(rc).await;
    let out = tokio::process::Command::new("wrk")
        .args([
            "-t2",
            &format!("-c{HOT_CONNECTIONS}"),
            &format!("-d{WRK_SECS}s"),
            "--timeout",
            "5s",
            "--latency",
            "-H",
            &format!("Cookie: {cookie}"),
            "-H",
            &format!("X-Original-URL: {original}"),
            url,
        ])
        .output()
        .await
        .unwrap();
    let after = commandstats(rc).await;
    let ok = w.a.gw.metrics().auth_ok.get() - ok0;
    let denied = w.a.gw.metrics().auth_denied.get() - denied0;
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "wrk failed: {text}");
    eprintln!("{text}");
    let field = |prefix: &str| -> Option<String> {
        text.lines()
            .map(str::trim)
            .find_map(|l| l.strip_prefix(prefix))
            .map(|v| v.trim().to_string())
    };
    let non2xx = field("Non-2xx or 3xx responses:");
    let socket_errors = field("Socket errors:");
    assert!(
        non2xx.is_none(),
        "wrk saw non-2xx/3xx answers ({non2xx:?}): the cookie was not accepted"
    );
    assert_eq!(denied, 0, "the gateway denied requests during the wrk run");
    let requests: u64 = text
        .lines()
        .find(|l| l.contains(" requests in "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    let rps = field("Requests/sec:").unwrap();
    let p50 = field("50%").unwrap();
    let p99 = field("99%").unwrap();
    let delta = command_delta(&before, &after);
    let total: u64 = delta.iter().map(|(_, v)| v).sum();
    report.add(
        format!(
            "Forward-auth `GET /sso/auth`, valid `sso_at`, wrk (2 threads, {HOT_CONNECTIONS} connections, {WRK_SECS} s)"
        ),
        format!("{rps} req/s; p50 {p50}, p99 {p99}"),
        format!(
            "{requests} requests; no `Non-2xx or 3xx responses` line; gateway counted {ok} allowed, {denied} denied{}",
            socket_errors
                .map(|s| format!("; socket errors: {s}"))
                .unwrap_or_default()
        ),
    );
    report.add(
        "Redis commands during the wrk run",
        format!("{:.5} per request", total as f64 / requests.max(1) as f64),
        format!(
            "`INFO commandstats` delta: {} over {requests} requests",
            describe_delta(&delta)
        ),
    );
}

// ------------------------------------------------------------------ 2. refresh

async fn sequential_refresh(w: &World, report: &mut Report) {
    let b = Browser::new();
    login(&b, &w.a, "bob", "bob-password").await;
    let url = w.a.url("/sso/refresh");
    let refresh = |b: Browser, url: String| async move {
        let r = b
            .post_form(&url, &[], &[("Accept", "application/json")])
            .await;
        assert_eq!(r.status, 200, "refresh: {}", r.body);
        assert!(r.set_cookie("sso_rt").is_some(), "refresh rotates sso_rt");
    };
    refresh(b.clone(), url.clone()).await; // warm-up (token endpoint, connection)
    w.op.reset_stats().await;
    let mut rc = redis_conn(&w.redis.url()).await;
    let before = commandstats(&mut rc).await;
    let mut lat = Vec::with_capacity(SEQ_REFRESHES);
    let t = Instant::now();
    for _ in 0..SEQ_REFRESHES {
        let t1 = Instant::now();
        refresh(b.clone(), url.clone()).await;
        lat.push(t1.elapsed());
    }
    let wall = t.elapsed();
    let after = commandstats(&mut rc).await;
    let op_calls = w.op.refresh_calls().await;
    assert_eq!(op_calls, SEQ_REFRESHES as u64, "one OP refresh per POST");
    lat.sort();
    let delta = command_delta(&before, &after);
    let total: u64 = delta.iter().map(|(_, v)| v).sum();
    report.add(
        format!("{SEQ_REFRESHES} sequential `POST /sso/refresh` (one session, each rotates)"),
        format!(
            "{:.2} s total, {:.0} refresh/s; p50 {}, p99 {}",
            wall.as_secs_f64(),
            SEQ_REFRESHES as f64 / wall.as_secs_f64(),
            ms(percentile(&lat, 0.50)),
            ms(percentile(&lat, 0.99)),
        ),
        format!(
            "OP refresh_token grants: {op_calls}; includes the OP's token endpoint (Node) each time; {:.1} Redis commands per refresh ({})",
            total as f64 / SEQ_REFRESHES as f64,
            describe_delta(&delta)
        ),
    );
}

/// 50 concurrent requests with one expired access token, split over two replicas.
async fn stampede(report: &mut Report) {
    let w = World::start(OpOptions {
        access_token_ttl: Some(2),
        ..Default::default()
    });
    let replica = w.replica_of_a();
    wait_ready(&w.a).await;
    wait_ready(&replica).await;
    // One fresh session per round, all logged in now and expired together.
    let mut sessions = Vec::new();
    for _ in 0..STAMPEDE_ROUNDS {
        let b = Browser::new();
        login(&b, &w.a, "bob", "bob-password").await;
        sessions.push(cookie_header(&b, &w.a, false));
    }
    tokio::time::sleep(Duration::from_millis(3_100)).await;
    let urls = [
        loopback_url(&w.a, "/sso/auth"),
        loopback_url(&replica, "/sso/auth"),
    ];
    let mut walls = Vec::new();
    let mut calls = Vec::new();
    let mut each = Vec::new();
    for cookie in sessions {
        // one client (own connection) per request, built before the clock starts
        let clients: Vec<reqwest::Client> = (0..STAMPEDE_REQUESTS).map(|_| pool_client()).collect();
        w.op.reset_stats().await;
        let t = Instant::now();
        let tasks: Vec<_> = clients
            .into_iter()
            .enumerate()
            .map(|(i, c)| {
                let url = urls[i % 2].clone();
                let cookie = cookie.clone();
                tokio::spawn(async move {
                    let t0 = Instant::now();
                    let r = c.get(&url).header("Cookie", cookie).send().await.unwrap();
                    let status = r.status();
                    let rotated = r
                        .headers()
                        .get_all("set-cookie")
                        .iter()
                        .any(|v| v.as_bytes().starts_with(b"sso_rt="));
                    let _ = r.bytes().await;
                    (status, rotated, t0.elapsed())
                })
            })
            .collect();
        for task in tasks {
            let (status, rotated, took) = task.await.unwrap();
            each.push(took);
            assert_eq!(status, 200, "every stampede request is answered 200");
            assert!(rotated, "every answer carries the new cookies");
        }
        walls.push(t.elapsed());
        calls.push(w.op.refresh_calls().await);
    }
    let sorted = {
        let mut s = walls.clone();
        s.sort();
        s
    };
    each.sort();
    report.add(
        format!(
            "Target 5: refresh stampede, {STAMPEDE_REQUESTS} concurrent requests × {STAMPEDE_ROUNDS} sessions"
        ),
        format!(
            "OP refresh calls per session: {} — {}; per-request latency p50 {}, p99 {} ({} requests, all but one per round waited for the refresh)",
            calls.iter().map(u64::to_string).collect::<Vec<_>>().join(", "),
            if calls.iter().all(|c| *c == 1) { "exactly one, met" } else { "NOT met" },
            ms(percentile(&each, 0.5)),
            ms(percentile(&each, 0.99)),
            each.len()
        ),
        "each request on its own new connection, alternating between two replicas; includes the OP's token endpoint (Node) once per round",
    );
    report.add(
        format!(
            "{STAMPEDE_REQUESTS} concurrent `GET /sso/auth` with an expired `sso_at`, over 2 replicas ({STAMPEDE_ROUNDS} rounds)"
        ),
        format!(
            "median {} until all {STAMPEDE_REQUESTS} answered (rounds: {})",
            ms(percentile(&sorted, 0.5)),
            walls.iter().map(|d| ms(*d)).collect::<Vec<_>>().join(", ")
        ),
        format!(
            "OP refresh calls per round: {} (one refresh, the rest wait on the Redis lease and reuse it); a new connection per request; access token TTL 2 s",
            calls
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    );
    assert!(
        calls.iter().all(|c| *c == 1),
        "exactly one OP refresh per round: {calls:?}"
    );
}

// ------------------------------------------------------------------ 4. back-channel logout

async fn backchannel_logout(w: &World, report: &mut Report) {
    let replica = w.replica_of_a();
    wait_ready(&replica).await;
    let probe = pool_client();
    let url = loopback_url(&replica, "/sso/auth");
    let mut props = Vec::new();
    let mut total = Vec::new();
    let mut admin = Vec::new();
    let mut cache_e2e = Vec::new();
    let mut lag_us = Vec::new();
    let mut already = 0;
    for _ in 0..LOGOUT_RUNS {
        let b = Browser::new();
        login(&b, &w.a, "alice", "alice-password").await;
        let cookie = cookie_header(&b, &w.a, true);
        let check = || async {
            probe
                .get(&url)
                .header("Cookie", &cookie)
                .send()
                .await
                .unwrap()
                .status()
        };
        assert_eq!(
            check().await,
            200,
            "replica accepts the token before logout"
        );
        let t0 = Instant::now();
        // When each gateway's in-memory revocation cache gains the entry (polled every ~20 µs).
        let on_a = watch_cache(w.a.gw.clone(), t0);
        let on_replica = watch_cache(replica.gw.clone(), t0);
        let res = w.op.admin_logout("alice").await;
        let t1 = Instant::now();
        assert!(
            res.to_string().contains("200"),
            "back-channel delivered: {res}"
        );
        let polls = probe_until_refused(
            &probe,
            &url,
            &cookie,
            t1,
            Duration::from_secs(5),
            "replica never rejected",
        )
        .await;
        props.push(t1.elapsed());
        total.push(t0.elapsed());
        admin.push(t1 - t0);
        if polls == 1 {
            already += 1;
        }
        let a_at = on_a
            .join()
            .unwrap()
            .expect("gateway A's cache got the revocation");
        let r_at = on_replica
            .join()
            .unwrap()
            .expect("the replica's cache got the revocation");
        cache_e2e.push(r_at);
        lag_us.push(r_at.as_secs_f64() * 1e6 - a_at.as_secs_f64() * 1e6);
    }
    props.sort();
    total.sort();
    admin.sort();
    cache_e2e.sort();
    lag_us.sort_by(f64::total_cmp);
    report.add(
        format!(
            "Back-channel logout → second replica rejects the access token ({LOGOUT_RUNS} logouts)"
        ),
        format!(
            "{} after `admin_logout` returned (median; p99 {}, max {}); from the admin call's start: median {}, p99 {}",
            ms(percentile(&props, 0.5)),
            ms(percentile(&props, 0.99)),
            ms(*props.last().unwrap()),
            ms(percentile(&total, 0.5)),
            ms(percentile(&total, 0.99)),
        ),
        format!(
            "the time after the return is one probe round trip: in {already}/{LOGOUT_RUNS} runs the first probe was already refused, i.e. pub/sub had reached the replica before the OP's admin call returned; admin call (OP → back-channel POST to gateway A → delete + tombstone + PUBLISH → 200) median {}",
            ms(percentile(&admin, 0.5))
        ),
    );
    let p99 = percentile(&total, 0.99);
    report.add(
        "Target 4a: refused on another replica, p99 < 50 ms over 1,000 back-channel logouts",
        format!(
            "p99 {} from the start of the OP's admin logout call to the replica's 401 — {}",
            ms(p99),
            if p99 < Duration::from_millis(50) {
                "met"
            } else {
                "NOT met"
            }
        ),
        "includes the OP (Node) delivering the back-channel POST to gateway A; another root domain through fan-out: target 4b below",
    );
    report.add(
        "Pub/sub propagation into the replica's revocation cache",
        format!(
            "{:+.0} µs relative to gateway A's own cache (median; max {:+.0} µs); {} from the admin call's start",
            lag_us[lag_us.len() / 2],
            lag_us.last().unwrap(),
            ms(percentile(&cache_e2e, 0.5)),
        ),
        "in-process watcher threads poll both gateways' `revocations.len()`, sleeping 20 µs between polls (resolution: tens of µs); A inserts only after its SET, ZADD and PUBLISH replies, the replica when the message arrives on its subscription, so a negative value means the replica had it first",
    );
}

/// Target 4b: two root domains, each gateway with its own Redis, peered through `[fanout]`.
/// The OP back-channels only gateway A (gw-b is registered without a back-channel URI), so
/// B learns of each logout only through A's fan-out: A verifies the token, queues it
/// durably in its Redis stream for B and wakes its delivery worker, which posts it to B.
async fn fanout_logout(report: &mut Report) {
    let w = World::start_split(
        OpOptions {
            without_backchannel: vec!["gw-b".into()],
            ..Default::default()
        },
        |o| {
            let f = World::fanout_toml(o, true);
            o.extra.push_str(&f);
            o.extra.push_str(NO_RATE_LIMIT);
        },
    );
    wait_ready(&w.a).await;
    wait_ready(&w.b).await;
    let probe = pool_client();
    let url = loopback_url(&w.b, "/sso/auth");
    let (mut total, mut after) = (Vec::new(), Vec::new());
    for _ in 0..FANOUT_RUNS {
        let b = Browser::new();
        login(&b, &w.a, "alice", "alice-password").await;
        login(&b, &w.b, "alice", "alice-password").await;
        let cookie = cookie_header(&b, &w.b, true);
        let check = || async {
            probe
                .get(&url)
                .header("Cookie", &cookie)
                .send()
                .await
                .unwrap()
                .status()
        };
        assert_eq!(check().await, 200, "B accepts the token before the logout");
        let t0 = Instant::now();
        let res = w.op.admin_logout("alice").await;
        let t1 = Instant::now();
        let told: Vec<String> = res["backchannel"]
            .as_array()
            .map(|a| a.iter().map(|r| r.to_string()).collect())
            .unwrap_or_default();
        assert!(
            told.iter().all(|r| !r.contains("gw-b")),
            "the OP must not tell B itself: {res}"
        );
        probe_until_refused(
            &probe,
            &url,
            &cookie,
            t0,
            Duration::from_secs(10),
            "B never refused the token through fan-out",
        )
        .await;
        total.push(t0.elapsed());
        after.push(t1.elapsed());
    }
    total.sort();
    after.sort();
    let p99 = percentile(&total, 0.99);
    report.add(
        format!("Back-channel logout at A → gateway B (another root domain, own Redis) refuses through fan-out ({FANOUT_RUNS} logouts)"),
        format!(
            "from the admin call's start: median {}, p99 {}, max {}; after the OP's call returned: median {}, p99 {}",
            ms(percentile(&total, 0.5)),
            ms(p99),
            ms(*total.last().unwrap()),
            ms(percentile(&after, 0.5)),
            ms(percentile(&after, 0.99)),
        ),
        "the OP back-channels gateway A only; A queues the token in its Redis stream for B and wakes its delivery worker, which POSTs it to B (federation MAC, verified, applied to B's Redis and cache); B probed until 401",
    );
    report.add(
        "Target 4b: refused on another root domain through the fan-out, p99 < 200 ms (peer up)",
        format!(
            "p99 {} over {FANOUT_RUNS} logouts — {}",
            ms(p99),
            if p99 < Duration::from_millis(200) {
                "met"
            } else {
                "NOT met"
            }
        ),
        "from the start of the OP's admin logout call to B's 401",
    );
}

/// Probe `url` with the session `cookie` until it answers 401 (200 before that, nothing
/// else), failing with `what` past `limit` after `since`. Returns how many probes it took.
async fn probe_until_refused(
    probe: &reqwest::Client,
    url: &str,
    cookie: &str,
    since: Instant,
    limit: Duration,
    what: &str,
) -> usize {
    let mut polls = 0;
    loop {
        polls += 1;
        let s = probe
            .get(url)
            .header("Cookie", cookie)
            .send()
            .await
            .unwrap()
            .status();
        if s == 401 {
            return polls;
        }
        assert_eq!(s, 200);
        assert!(since.elapsed() < limit, "{what}");
    }
}

/// A thread that reports when `gw`'s revocation cache grows (time since `t0`).
fn watch_cache(
    gw: Arc<sso_core::Gateway>,
    t0: Instant,
) -> std::thread::JoinHandle<Option<Duration>> {
    let base = gw.revocations().cache().len();
    std::thread::spawn(move || {
        while t0.elapsed() < Duration::from_secs(5) {
            if gw.revocations().cache().len() > base {
                return Some(t0.elapsed());
            }
            std::thread::sleep(Duration::from_micros(20));
        }
        None
    })
}

// ------------------------------------------------------------------ 3. memory

async fn redis_memory(w: &World, report: &mut Report) {
    let mut rc = redis_conn(&w.redis.url()).await;
    let used0 = used_memory(&mut rc).await;
    let before = keys(&mut rc, "sso:sess:*").await.len();
    let t = Instant::now();
    for i in 0..MEMORY_LOGINS {
        let b = Browser::new();
        let (u, p) = if i % 2 == 0 {
            ("alice", "alice-password")
        } else {
            ("bob", "bob-password")
        };
        login(&b, &w.a, u, p).await;
    }
    let login_wall = t.elapsed();
    let used1 = used_memory(&mut rc).await;
    let sess = keys(&mut rc, "sso:sess:*").await;
    assert_eq!(sess.len(), before + MEMORY_LOGINS);
    let mut hash = 0;
    for k in &sess {
        hash += memory_usage(&mut rc, k).await;
    }
    let mut index = 0;
    let mut index_keys = 0;
    for pat in ["sso:sid:*", "sso:sub:*"] {
        for k in keys(&mut rc, pat).await {
            index += memory_usage(&mut rc, &k).await;
            index_keys += 1;
        }
    }
    let n = sess.len() as i64;
    report.add(
        format!("Redis bytes per session ({n} real sessions from the login flow)"),
        format!(
            "{} B (hash {} B + index sets {} B)",
            (hash + index) / n,
            hash / n,
            index / n
        ),
        format!(
            "`MEMORY USAGE … SAMPLES 0` of every `sso:sess:{{…}}` and of the {index_keys} `sso:sid`/`sso:sub` sets (2 users, so the sub sets are shared); `used_memory` grew {} B per login (includes single-use state marks)",
            (used1 - used0) / MEMORY_LOGINS as i64
        ),
    );
    report.add(
        "Full login flow (gateway ⇄ OP form, sequential)",
        format!("{} per login", ms(login_wall / MEMORY_LOGINS as u32)),
        format!(
            "{MEMORY_LOGINS} logins in {:.2} s, each a new browser",
            login_wall.as_secs_f64()
        ),
    );
}

/// A copy of a real session with fresh identifiers (own sid and sub: two index sets each).
fn synthetic(template: &SessionRecord, i: usize) -> SessionRecord {
    let mut r = template.clone();
    // same length as a real id (random_token is base64url without padding)
    let bytes = (template.id.secret().len() * 3 / 4).max(16);
    r.id = SessionId::new(sso_core::util::random_token(bytes));
    r.sid = Some(format!("bench-sid-{i}"));
    r.sub = format!("bench-sub-{i}");
    r
}

async fn put_many(store: &dyn SessionStore, template: &SessionRecord) -> Duration {
    let t = Instant::now();
    for chunk in (0..SYNTHETIC_SESSIONS).collect::<Vec<_>>().chunks(64) {
        let recs: Vec<SessionRecord> = chunk.iter().map(|i| synthetic(template, *i)).collect();
        let futs = recs.iter().map(|r| store.put_session(r, 3600));
        for r in futures_util::future::join_all(futs).await {
            r.unwrap();
        }
    }
    t.elapsed()
}

async fn rss(w: &World, report: &mut Report) {
    let mut rc = redis_conn(&w.redis.url()).await;
    let any = keys(&mut rc, "sso:sess:*").await;
    let id = any[0]
        .strip_prefix("sso:sess:{")
        .and_then(|s| s.strip_suffix('}'))
        .unwrap()
        .to_string();
    let template =
        w.a.gw
            .store()
            .get_session(&SessionId::new(id))
            .await
            .unwrap()
            .unwrap();

    // Redis store (production): sessions live in Redis, not in the gateway.
    let used0 = used_memory(&mut rc).await;
    let rss0 = vm_rss_kib();
    let took = put_many(w.a.gw.store().as_ref(), &template).await;
    let rss1 = vm_rss_kib();
    let used1 = used_memory(&mut rc).await;
    report.add(
        format!(
            "{SYNTHETIC_SESSIONS} sessions written with `gw.store().put_session` (Redis store)"
        ),
        format!(
            "Redis `used_memory` +{} B per session; bench-process VmRSS {} → {} MiB",
            (used1 - used0) / SYNTHETIC_SESSIONS as i64,
            rss0 / 1024,
            rss1 / 1024
        ),
        format!(
            "copies of a real session, each with its own sid and sub (two index sets each); {:.2} s at 64 in flight; VmRSS is the whole bench process (3 gateways, their clients, the load generator), so it only shows the gateway keeps no per-session state",
            took.as_secs_f64()
        ),
    );

    // The same records without the OP's tokens (access token emptied, no refresh or ID
    // token): what the session costs in Redis apart from the tokens it stores.
    let mut bare = template.clone();
    bare.access_token = sso_core::secret::AccessToken::new(String::new());
    bare.refresh_token = None;
    bare.id_token = None;
    let mut with_tokens = Vec::new();
    let mut without = Vec::new();
    for i in 0..200 {
        for (t, out) in [(&template, &mut with_tokens), (&bare, &mut without)] {
            let r = synthetic(t, SYNTHETIC_SESSIONS + i);
            w.a.gw.store().put_session(&r, 3600).await.unwrap();
            let key = format!("sso:sess:{{{}}}", r.id.secret());
            out.push(memory_usage(&mut rc, &key).await);
        }
    }
    let avg = |v: &[i64]| v.iter().sum::<i64>() / v.len().max(1) as i64;
    report.add(
        "Redis bytes per session hash, with and without the stored tokens",
        format!(
            "{} B with tokens, {} B without (tokens: {} B)",
            avg(&with_tokens),
            avg(&without),
            avg(&with_tokens) - avg(&without)
        ),
        "`MEMORY USAGE … SAMPLES 0` of 200 session hashes each: copies of a real session (test OP tokens: access, refresh and ID token) and the same with the access token emptied and no refresh/ID token; index sets (`sso:sid`/`sso:sub`, ≈ 370 B per session above) come on top of both",
    );

    // In-memory store (demo, single instance): the sessions are in the process.
    let mem = MemoryStore::new();
    let rss2 = vm_rss_kib();
    let took = put_many(&mem, &template).await;
    let rss3 = vm_rss_kib();
    report.add(
        format!("{SYNTHETIC_SESSIONS} sessions in the in-memory store (demo)"),
        format!(
            "VmRSS +{} B per session ({} → {} MiB)",
            (rss3 - rss2) * 1024 / SYNTHETIC_SESSIONS as i64,
            rss2 / 1024,
            rss3 / 1024
        ),
        format!("same records; {:.2} s", took.as_secs_f64()),
    );
    drop(mem);
}

// ------------------------------------------------------------------ report

/// 1/5/15-minute load averages: other work on the machine skews every number.
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "?".into())
}

fn render(report: &Report, took: Duration, load: &str) -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|v| v.trim_start_matches([' ', '\t', ':']).trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    let nproc = cmd_out("nproc", &[]).unwrap_or_else(|| "?".into());
    let mem = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map(|kib| format!("{:.1} GiB", kib as f64 / 1024.0 / 1024.0))
        .unwrap_or_else(|| "?".into());
    let date = cmd_out("date", &["-u", "+%Y-%m-%d %H:%M UTC"]).unwrap_or_else(|| "?".into());
    let commit = cmd_out("git", &["rev-parse", "--short", "HEAD"]).unwrap_or_else(|| "?".into());
    // (the results file itself does not count)
    let dirty = cmd_out(
        "git",
        &[
            "status",
            "--porcelain",
            "--untracked-files=no",
            "--",
            ".",
            ":!docs/benchmarks.md",
        ],
    )
    .is_some_and(|s| !s.is_empty());
    let redis = cmd_out("redis-server", &["--version"])
        .and_then(|s| {
            s.split_whitespace()
                .find_map(|w| w.strip_prefix("v="))
                .map(str::to_string)
        })
        .unwrap_or_else(|| "?".into());
    let node = cmd_out("node", &["--version"]).unwrap_or_else(|| "?".into());
    let rustc = cmd_out("rustc", &["--version"]).unwrap_or_else(|| "?".into());
    let wrk = cmd_out("sh", &["-c", "wrk --version 2>&1 | head -1"])
        .filter(|s| s.starts_with("wrk"))
        .map(|s| s.split_whitespace().take(2).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "not installed".into());

    let mut s = String::new();
    let _ = writeln!(s, "| Machine | |");
    let _ = writeln!(s, "| --- | --- |");
    let _ = writeln!(s, "| CPU | {cpu} |");
    let _ = writeln!(s, "| Cores (`nproc`) | {nproc} |");
    let _ = writeln!(s, "| Memory | {mem} |");
    let _ = writeln!(s, "| Date | {date} |");
    let _ = writeln!(
        s,
        "| Commit | `{commit}`{} |",
        if dirty {
            " (with uncommitted changes)"
        } else {
            ""
        }
    );
    let _ = writeln!(
        s,
        "| Build | `cargo bench -p sso-integration-tests --bench gateway` (bench profile = release), {rustc} |"
    );
    let _ = writeln!(
        s,
        "| Redis / Node (test OP) / wrk | {redis} / {node} / {wrk} |"
    );
    let _ = writeln!(s, "| Bench wall time | {:.0} s |", took.as_secs_f64());
    let _ = writeln!(s, "| Load average (1/5/15 min) | {load} |");
    let _ = writeln!(s);
    let _ = writeln!(s, "| # | Measurement | Result | Notes |");
    let _ = writeln!(s, "| --- | --- | --- | --- |");
    for (i, r) in report.rows.iter().enumerate() {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} |",
            i + 1,
            r.what.replace('|', "\\|"),
            r.result.replace('|', "\\|"),
            r.notes.replace('|', "\\|")
        );
    }
    s
}
