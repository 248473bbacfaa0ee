//! The binary's command line: `check-config` and refusing to start on bad config.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

const KEY: &str =
    "dGVzdC1rZXktdGVzdC1rZXktdGVzdC1rZXktdGVzdC1rZXktdGVzdC1rZXktdGVzdC1rZXktdGVzdC1rZXktdGVzdA==";

fn write(name: &str, text: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("sso-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn good() -> String {
    format!(
        r#"[server]
public_url = "https://auth.a.com"
[oidc]
issuer = "https://kc.example.com/realms/demo"
client_id = "gw-a"
client_secret = "topsecret-value"
[cookie]
domain = "a.com"
keys = ["{KEY}"]
[redirect]
allowed = ["a.com", "*.a.com"]
[store]
kind = "memory"
"#
    )
}

fn gateway() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sso-gateway"));
    for (k, _) in std::env::vars() {
        if k.starts_with("SSO__") {
            c.env_remove(k);
        }
    }
    c
}

/// `sso-gateway check-config --config <path>` with extra environment.
fn check_config(path: &std::path::Path, env: &[(&str, &str)]) -> std::process::Output {
    gateway()
        .args(["check-config", "--config"])
        .arg(path)
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

#[test]
fn check_config_accepts_a_good_file() {
    let p = write("good.toml", &good());
    let out = check_config(&p, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("configuration OK"));
    assert!(!stdout.contains("topsecret-value"));
}

#[test]
fn check_config_lists_every_problem_and_exits_non_zero() {
    let bad = good()
        .replace("domain = \"a.com\"", "domain = \"a.com\"\nsecuer = true")
        .replace("*.a.com", "*a.com");
    let p = write("typo.toml", &bad);
    let out = check_config(&p, &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("secuer"), "unknown key named: {err}");

    let p = write(
        "bad.toml",
        &good()
            .replace("*.a.com", "*a.com")
            .replace("client_id = \"gw-a\"\n", ""),
    );
    let out = check_config(&p, &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("oidc.client_id is missing"), "{err}");
    assert!(err.contains("*.a.com"), "suggests the fix: {err}");
}

#[test]
fn env_overrides_and_secret_files() {
    let secret = write("secret", "from-a-file\n");
    let text = good().replace(
        "client_secret = \"topsecret-value\"",
        &format!("client_secret_file = {secret:?}"),
    );
    let p = write("env.toml", &text);
    let out = check_config(&p, &[("SSO__OIDC__CLIENT_ID", "gw-from-env")]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("gw-from-env"));
    let out = check_config(&p, &[("SSO__OIDC__CLIENTID", "typo")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("clientid"));
}

#[test]
fn missing_config_file_is_a_clear_error() {
    let out = gateway()
        .args(["check-config", "--config", "/nonexistent/x.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not exist"));
}

/// A private `redis-server` on a free port, killed on drop.
struct Redis {
    child: std::process::Child,
    port: u16,
}

impl Redis {
    fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server is not installed (make test installs it)");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "redis-server did not start"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        Self { child, port }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Sessions as a login stores them (the store's own `put_session`, indexes included).
fn seed_sessions(url: &str, subs: &[(&str, &str)]) {
    use sso_core::secret::{AccessToken, SessionId};
    use sso_core::store::{SessionRecord, SessionStore};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = sso_core::store::redis::RedisStore::connect(url)
            .await
            .unwrap();
        let now = sso_core::util::now();
        for (sub, user) in subs {
            let rec = SessionRecord {
                id: SessionId::generate(),
                iss: "https://kc.example.com/realms/demo".into(),
                sub: (*sub).into(),
                sid: Some(format!("sid-{user}-{}", sso_core::util::random_token(4))),
                access_token: AccessToken::new("a.b.c"),
                refresh_token: None,
                id_token: None,
                access_expires_at: now + 300,
                refresh_expires_at: None,
                created_at: now,
                expires_at: now + 3600,
                generation: 0,
                refreshed_at: now,
                preferred_username: Some((*user).into()),
                email: None,
                name: None,
                access_jti: Some(format!("jti-{}", sso_core::util::random_token(4))),
            };
            store.put_session(&rec, 3600).await.unwrap();
        }
    });
}

fn cli_json(args: &[&str], config: &std::path::Path) -> serde_json::Value {
    let out = gateway()
        .args(args)
        .arg("--config")
        .arg(config)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// `sessions list|revoke` against Redis holding real sessions of two users: the list shows
/// alice's two sessions (never ids or tokens), the revoke ends exactly those, bob keeps his.
#[test]
fn sessions_list_and_revoke_from_the_command_line() {
    let redis = Redis::start();
    let url = format!("redis://127.0.0.1:{}", redis.port);
    seed_sessions(
        &url,
        &[
            ("alice-sub", "alice"),
            ("alice-sub", "alice"),
            ("bob-sub", "bob"),
        ],
    );
    let p = write(
        "redis.toml",
        &good().replace(
            "kind = \"memory\"",
            &format!("kind = \"redis\"\nurl = \"{url}\""),
        ),
    );
    let j = cli_json(&["sessions", "list", "--sub", "alice-sub"], &p);
    let list = j["sessions"].as_array().unwrap();
    assert_eq!(list.len(), 2, "{j}");
    assert!(list.iter().all(|s| s["preferred_username"] == "alice"));
    let text = j.to_string();
    assert!(
        !text.contains("a.b.c") && !text.contains("jti-"),
        "no tokens: {text}"
    );

    let j = cli_json(&["sessions", "revoke", "--sub", "alice-sub"], &p);
    assert_eq!(j["ended"], 2, "{j}");
    let j = cli_json(&["sessions", "list", "--sub", "alice-sub"], &p);
    assert_eq!(j["sessions"], serde_json::json!([]));
    let j = cli_json(&["sessions", "list", "--sub", "bob-sub"], &p);
    assert_eq!(
        j["sessions"].as_array().unwrap().len(),
        1,
        "bob is untouched: {j}"
    );
    // a second revoke finds nothing
    let j = cli_json(&["sessions", "revoke", "--sub", "alice-sub"], &p);
    assert_eq!(j["ended"], 0);
}

/// A private CA for the OP: without `tls.ca_file` the TLS handshake fails (OP unreachable);
/// with it the gateway talks TLS to the OP (which here answers no discovery JSON).
#[test]
fn private_ca_for_the_op_via_tls_ca_file() {
    let dir = std::env::temp_dir().join(format!("sso-cli-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // a private CA and a server certificate it signed (webpki refuses a CA as end entity)
    let f = |n: &str| dir.join(n).display().to_string();
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .output()
            .expect("openssl is needed (Debian: openssl)");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=test CA",
        "-keyout",
        &f("ca.key"),
        "-out",
        &f("ca.pem"),
    ]);
    openssl(&[
        "req",
        "-new",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        &f("k.pem"),
        "-out",
        &f("s.csr"),
    ]);
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        &f("s.csr"),
        "-CA",
        &f("ca.pem"),
        "-CAkey",
        &f("ca.key"),
        "-CAcreateserial",
        "-days",
        "1",
        "-extfile",
        &f("ext.cnf"),
        "-out",
        &f("c.pem"),
    ]);
    let (cert, key, ca) = (dir.join("c.pem"), dir.join("k.pem"), dir.join("ca.pem"));
    let tls_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut server = Command::new("openssl")
        .args([
            "s_server",
            "-quiet",
            "-www",
            "-accept",
            &tls_port.to_string(),
        ])
        .arg("-cert")
        .arg(&cert)
        .arg("-key")
        .arg(&key)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // wait until s_server accepts connections (the condition, not a guess at its start time)
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", tls_port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "openssl s_server did not start"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let readyz = |extra: &str, name: &str| -> String {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let cfg = good()
            .replace(
                "https://kc.example.com/realms/demo",
                &format!("https://127.0.0.1:{tls_port}/realms/demo"),
            )
            .replace(
                "[server]",
                &format!("[server]\nlisten = \"127.0.0.1:{port}\""),
            )
            + extra;
        let p = write(name, &cfg);
        let mut gw = gateway()
            .arg("--config")
            .arg(&p)
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut body = String::new();
        for _ in 0..50 {
            std::thread::sleep(std::time::Duration::from_millis(100));
            if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
                use std::io::{Read, Write};
                let _ = s.write_all(b"GET /readyz HTTP/1.0\r\nHost: x\r\n\r\n");
                let _ = s.read_to_string(&mut body);
                break;
            }
        }
        let _ = gw.kill();
        let _ = gw.wait();
        body
    };
    let without = readyz("", "tls-without.toml");
    assert!(without.contains("unreachable"), "untrusted CA: {without}");
    let with = readyz(
        &format!("[tls]\nca_file = {:?}\n", ca.display().to_string()),
        "tls-with.toml",
    );
    assert!(
        with.contains("invalid response") && !with.contains("unreachable"),
        "trusted CA: {with}"
    );
    let _ = server.kill();
    let _ = server.wait();
}

/// `fanout replay-dead` moves a peer's dead letters back to its delivery queue (issue 8).
#[test]
fn fanout_replay_dead_moves_dead_letters_back_to_the_queue() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = std::env::temp_dir().join(format!("sso-cli-redis-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut redis = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no", "--dir"])
        .arg(&dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("redis-server");
    let cli = |args: &[&str]| -> String {
        let out = Command::new("redis-cli")
            .arg("-p")
            .arg(port.to_string())
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while cli(&["PING"]) != "PONG" {
        assert!(std::time::Instant::now() < deadline, "redis did not start");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let dead = "sso:fanout:dead:https://auth.b.com";
    let queue = "sso:fanout:https://auth.b.com";
    cli(&[
        "XADD",
        dead,
        "*",
        "token",
        "t1",
        "received_at",
        "1",
        "status",
        "403",
        "failed_at",
        "2",
    ]);
    let cfg = good().replace(
        "[store]\nkind = \"memory\"\n",
        &format!(
            "[store]\nkind = \"redis\"\nurl = \"redis://127.0.0.1:{port}\"\n[fanout]\npeers = [\"https://auth.b.com\"]\n"
        ),
    );
    let p = write("fanout.toml", &cfg);
    let out = gateway()
        .args(["fanout", "replay-dead", "--config"])
        .arg(&p)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let (queued, left) = (cli(&["XLEN", queue]), cli(&["XLEN", dead]));
    let fields = cli(&["XRANGE", queue, "-", "+"]);
    let _ = redis.kill();
    let _ = redis.wait();
    assert_eq!((queued.as_str(), left.as_str()), ("1", "0"), "{fields}");
    assert!(
        fields.contains("t1") && !fields.contains("failed_at"),
        "{fields}"
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(j["replayed"], 1, "{stdout}");
}
