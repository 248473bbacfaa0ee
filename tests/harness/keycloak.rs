//! A real Keycloak server (`org.keycloak:keycloak-quarkus-dist`, the version in
//! `deploy/keycloak/VERSION`), one per test binary, started on first use.
//!
//! `deploy/scripts/keycloak.sh install` (run by `make test`) fetches it with Maven into a cache
//! outside the repository; a missing install fails loudly. It runs `start-dev` on free loopback
//! ports (the management port, with `/health/ready`, on its own free port), with H2 in a temp
//! dir and the bootstrap admin from the environment, and `--import-realm` imports the shipped
//! `deploy/keycloak/realm-demo.json` itself (its `${NAME:default}` placeholders resolved by
//! Keycloak). Tests that change realm state get their own realm, made from the same shipped
//! file through the admin REST API ([`Keycloak::realm`]), so they can run in parallel.
//!
//! kc.sh runs java as its child, so the server gets a process group of its own and a
//! watchdog `sh` kills that group once the test process is gone, however it ends.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::procs::free_port;

pub const ADMIN_USER: &str = "kc-admin";
pub const ADMIN_PASSWORD: &str = "kc-admin-password";
/// Client secrets the realms get (`${GW_A_CLIENT_SECRET}` / `${GW_B_CLIENT_SECRET}`).
pub const GW_A_SECRET: &str = "gw-a-secret";
pub const GW_B_SECRET: &str = "gw-b-secret";

/// The running server.
pub struct Keycloak {
    pub port: u16,
    pub management_port: u16,
    pub version: String,
    /// Seconds from spawn to a served discovery document of the imported realm.
    pub start_secs: f64,
    pub log: PathBuf,
}

/// `deploy/keycloak/VERSION`.
pub fn version() -> String {
    std::fs::read_to_string(crate::root().join("deploy/keycloak/VERSION"))
        .unwrap()
        .trim()
        .to_string()
}

/// Where `deploy/scripts/keycloak.sh` installs Keycloak.
pub fn home() -> PathBuf {
    if let Some(h) = std::env::var_os("SSO_KEYCLOAK_HOME") {
        return PathBuf::from(h);
    }
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cache"));
    cache
        .join("sso-gateway")
        .join(format!("keycloak-{}", version()))
}

/// The shipped realm file.
pub fn realm_file() -> PathBuf {
    crate::root().join("deploy/keycloak/realm-demo.json")
}

/// Resolve `${NAME}` and `${NAME:default}` the way Keycloak's realm import does.
pub fn resolve_placeholders(text: &str, vars: &[(&str, String)]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("${") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        let end = after.find('}').expect("unclosed ${ in the realm file");
        let expr = &after[..end];
        let (name, default) = match expr.split_once(':') {
            Some((n, d)) => (n, Some(d)),
            None => (expr, None),
        };
        let value = vars
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.clone())
            .or(default.map(String::from))
            .unwrap_or_else(|| panic!("realm file placeholder ${{{name}}} has no value"));
        out.push_str(&value);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}

/// Placeholder values for gateways A and B listening on `pa` and `pb`.
pub fn gateway_vars(pa: u16, pb: u16) -> Vec<(&'static str, String)> {
    vec![
        ("GW_A_CLIENT_SECRET", GW_A_SECRET.into()),
        ("GW_B_CLIENT_SECRET", GW_B_SECRET.into()),
        ("GW_A_URL", format!("http://auth.a.localhost:{pa}")),
        ("GW_B_URL", format!("http://auth.b.localhost:{pb}")),
        // Keycloak (Java) resolves no `*.localhost` name: back-channel to the loopback address
        (
            "GW_A_BACKCHANNEL_URL",
            format!("http://127.0.0.1:{pa}/sso/backchannel-logout"),
        ),
        (
            "GW_B_BACKCHANNEL_URL",
            format!("http://127.0.0.1:{pb}/sso/backchannel-logout"),
        ),
    ]
}

static SHARED: OnceLock<Keycloak> = OnceLock::new();

impl Keycloak {
    /// The test binary's Keycloak, started on first use (later calls wait for it).
    pub fn shared() -> &'static Keycloak {
        SHARED.get_or_init(Keycloak::start)
    }

    fn start() -> Keycloak {
        let home = home();
        let kc_sh = home.join("bin/kc.sh");
        assert!(
            kc_sh.is_file(),
            "Keycloak is not installed at {}: run `bash deploy/scripts/keycloak.sh install` \
             (`make test` does), or set SSO_KEYCLOAK_HOME",
            home.display()
        );
        let java_ok = Command::new("java")
            .arg("-version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(
            java_ok,
            "`java` (JDK 17+) is not installed: run `make test`, which installs it"
        );

        // --import-realm reads <home>/data/import/*.json: the shipped file, as it is.
        let import = home.join("data/import");
        std::fs::create_dir_all(&import).unwrap();
        std::fs::copy(realm_file(), import.join("realm-demo.json")).unwrap();

        let dir = std::env::temp_dir().join(format!(
            "sso-test-keycloak-{}-{}",
            std::process::id(),
            free_port()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let log = dir.join("keycloak.log");
        let port = free_port();
        let management_port = free_port();
        let version = version();
        let t0 = Instant::now();
        {
            let (tx, rx) = std::sync::mpsc::channel();
            let (kc_sh2, dir, log2) = (kc_sh.clone(), dir.clone(), log.clone());
            // the watchdog's pipe lives in a thread that never ends
            std::thread::spawn(move || {
                let out = std::fs::File::create(&log2).unwrap();
                let mut cmd = Command::new(&kc_sh2);
                cmd.arg("start-dev")
                    .arg("--http-host=127.0.0.1")
                    .arg(format!("--http-port={port}"))
                    .arg(format!("--http-management-port={management_port}"))
                    .arg("--health-enabled=true")
                    .arg("--import-realm")
                    .arg("--db=dev-file")
                    .arg(format!(
                        "--db-url=jdbc:h2:file:{}/keycloakdb;NON_KEYWORDS=VALUE;DB_CLOSE_ON_EXIT=FALSE",
                        dir.display()
                    ))
                    .env("KC_BOOTSTRAP_ADMIN_USERNAME", ADMIN_USER)
                    .env("KC_BOOTSTRAP_ADMIN_PASSWORD", ADMIN_PASSWORD)
                    .env("JAVA_OPTS_KC_HEAP", "-Xms128m -Xmx768m")
                    .stdin(Stdio::null())
                    .stdout(out.try_clone().unwrap())
                    .stderr(out);
                // the imported realm: gateways of the shipped defaults' shape on unused ports
                for (k, v) in gateway_vars(1, 2) {
                    cmd.env(k, v);
                }
                // kc.sh runs java as its child: the whole process group goes, through a
                // watchdog that reads a pipe only this process holds (EOF when it exits,
                // however it ends)
                use std::os::unix::process::CommandExt;
                cmd.process_group(0);
                let child = cmd.spawn();
                let watchdog = child.as_ref().ok().map(|c| {
                    Command::new("sh")
                        .arg("-c")
                        .arg(format!(
                            "read _; kill -TERM -{0} 2>/dev/null; sleep 10; kill -KILL -{0} 2>/dev/null",
                            c.id()
                        ))
                        .stdin(Stdio::piped())
                        .stdout(Stdio::null())
                        .stderr(Stdio::null())
                        .spawn()
                        .unwrap()
                });
                let ok = child.is_ok();
                tx.send(child.map_err(|e| e.to_string())).unwrap();
                if ok {
                    let _keep_pipe_open = watchdog;
                    loop {
                        std::thread::park();
                    }
                }
            });
            let mut child = rx
                .recv()
                .unwrap()
                .unwrap_or_else(|e| panic!("spawning {}: {e}", kc_sh.display()));
            let disco = "/realms/demo/.well-known/openid-configuration";
            let deadline = t0 + Duration::from_secs(420);
            loop {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!(
                        "Keycloak exited ({status}) while starting; its log:\n{}",
                        tail(&log)
                    );
                }
                if get_ok(management_port, "/health/ready") && get_ok(port, disco) {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "Keycloak not ready after {:?}; its log:\n{}",
                    t0.elapsed(),
                    tail(&log)
                );
                std::thread::sleep(Duration::from_millis(250));
            }
            drop(child); // the watchdog ends it
        }
        let start_secs = t0.elapsed().as_secs_f64();
        eprintln!(
            "keycloak: {version} started in {start_secs:.1} s (http {port}, management {management_port}, log {})",
            log.display()
        );
        Keycloak {
            port,
            management_port,
            version,
            start_secs,
            log,
        }
    }

    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn issuer(&self, realm: &str) -> String {
        format!("{}/realms/{realm}", self.base())
    }

    /// A client for Keycloak. A new one per call: each test has its own runtime, and pooled
    /// connections die with the runtime that opened them.
    pub fn http(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap()
    }

    /// A master-realm admin token (admin-cli, password grant).
    pub async fn admin_token(&self) -> String {
        let r = self
            .http()
            .post(format!(
                "{}/realms/master/protocol/openid-connect/token",
                self.base()
            ))
            .form(&[
                ("grant_type", "password"),
                ("client_id", "admin-cli"),
                ("username", ADMIN_USER),
                ("password", ADMIN_PASSWORD),
            ])
            .send()
            .await
            .unwrap();
        let v: Value = r.json().await.unwrap();
        v["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("admin token: {v}"))
            .to_string()
    }

    /// An admin REST call (`path` below `/admin/realms`); returns status and JSON body
    /// (`Null` when empty).
    pub async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (reqwest::StatusCode, Value) {
        let token = self.admin_token().await;
        let mut rb = self
            .http()
            .request(method, format!("{}/admin/realms{path}", self.base()))
            .bearer_auth(token);
        if let Some(b) = body {
            rb = rb.json(&b);
        }
        let r = rb.send().await.unwrap();
        let status = r.status();
        let text = r.text().await.unwrap_or_default();
        let v = serde_json::from_str(&text).unwrap_or(Value::Null);
        (status, v)
    }

    /// A new realm `name` made from the shipped realm file for gateways on ports `pa`/`pb`;
    /// `tweak` may change the realm representation before it is created.
    pub async fn realm(
        &'static self,
        name: &str,
        pa: u16,
        pb: u16,
        tweak: impl FnOnce(&mut Value),
    ) -> Realm {
        let text = std::fs::read_to_string(realm_file()).unwrap();
        let mut rep: Value =
            serde_json::from_str(&resolve_placeholders(&text, &gateway_vars(pa, pb))).unwrap();
        rep["realm"] = json!(name);
        tweak(&mut rep);
        let (status, body) = self.admin(reqwest::Method::POST, "", Some(rep)).await;
        assert!(
            status.is_success(),
            "creating realm {name}: {status} {body}"
        );
        Realm {
            kc: self,
            name: name.into(),
        }
    }
}

/// `GET path` on a loopback port answers 200 (plain HTTP/1.0; callable from any thread,
/// inside an async runtime or not).
fn get_ok(port: u16, path: &str) -> bool {
    use std::io::{Read, Write};
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    if write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n").is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    s.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.") && &head[9..12] == b"200"
}

fn tail(log: &std::path::Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// A realm of the shared Keycloak.
pub struct Realm {
    pub kc: &'static Keycloak,
    pub name: String,
}

impl Realm {
    /// The realm `demo` imported at start from the shipped file.
    pub fn imported() -> Realm {
        Realm {
            kc: Keycloak::shared(),
            name: "demo".into(),
        }
    }

    pub fn issuer(&self) -> String {
        self.kc.issuer(&self.name)
    }

    pub async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (reqwest::StatusCode, Value) {
        self.kc
            .admin(method, &format!("/{}{path}", self.name), body)
            .await
    }

    pub async fn get(&self, path: &str) -> Value {
        let (s, v) = self.admin(reqwest::Method::GET, path, None).await;
        assert!(s.is_success(), "GET {path}: {s} {v}");
        v
    }

    pub async fn user_id(&self, username: &str) -> String {
        let v = self
            .get(&format!("/users?username={username}&exact=true"))
            .await;
        v[0]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("no user {username}: {v}"))
            .to_string()
    }

    /// The user's SSO sessions at Keycloak.
    pub async fn sessions(&self, username: &str) -> Vec<Value> {
        let id = self.user_id(username).await;
        self.get(&format!("/users/{id}/sessions"))
            .await
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// `POST /users/{id}/logout`: Keycloak ends every session of the user and sends
    /// back-channel logout to the clients.
    pub async fn logout_user(&self, username: &str) {
        let id = self.user_id(username).await;
        let (s, v) = self
            .admin(reqwest::Method::POST, &format!("/users/{id}/logout"), None)
            .await;
        assert!(s.is_success(), "logout {username}: {s} {v}");
    }

    /// `DELETE /sessions/{id}`: ends one SSO session (back-channel logout follows).
    pub async fn delete_session(&self, session_id: &str) {
        let (s, v) = self
            .admin(
                reqwest::Method::DELETE,
                &format!("/sessions/{session_id}"),
                None,
            )
            .await;
        assert!(s.is_success(), "delete session: {s} {v}");
    }

    /// The internal id and representation of client `client_id`.
    pub async fn client(&self, client_id: &str) -> Value {
        let v = self.get(&format!("/clients?clientId={client_id}")).await;
        v[0].clone()
    }

    pub async fn update_client(&self, client_id: &str, f: impl FnOnce(&mut Value)) {
        let mut c = self.client(client_id).await;
        let id = c["id"].as_str().unwrap().to_string();
        f(&mut c);
        let (s, v) = self
            .admin(reqwest::Method::PUT, &format!("/clients/{id}"), Some(c))
            .await;
        assert!(s.is_success(), "update client {client_id}: {s} {v}");
    }

    /// Events of `kind` (e.g. `REFRESH_TOKEN`) recorded so far (needs `eventsEnabled`).
    pub async fn events(&self, kind: &str) -> Vec<Value> {
        self.get(&format!("/events?type={kind}&max=1000"))
            .await
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Resource Owner Password grant at `client_id` (needs direct access grants on).
    pub async fn password_grant(
        &self,
        client_id: &str,
        secret: Option<&str>,
        user: &str,
        password: &str,
    ) -> Value {
        let mut form = vec![
            ("grant_type", "password"),
            ("client_id", client_id),
            ("username", user),
            ("password", password),
            ("scope", "openid"),
        ];
        if let Some(s) = secret {
            form.push(("client_secret", s));
        }
        let r = self
            .kc
            .http()
            .post(format!("{}/protocol/openid-connect/token", self.issuer()))
            .form(&form)
            .send()
            .await
            .unwrap();
        let v: Value = r.json().await.unwrap();
        assert!(v["access_token"].is_string(), "password grant: {v}");
        v
    }

    /// Add an `rsa-generated` signing key with `priority`; returns its component id.
    pub async fn add_rsa_key(&self, name: &str, priority: u32) -> String {
        let realm = self.get("").await;
        let realm_id = realm["id"].as_str().unwrap().to_string();
        let (s, v) = self
            .admin(
                reqwest::Method::POST,
                "/components",
                Some(json!({
                    "name": name,
                    "providerId": "rsa-generated",
                    "providerType": "org.keycloak.keys.KeyProvider",
                    "parentId": realm_id,
                    "config": {"priority": [priority.to_string()], "enabled": ["true"], "active": ["true"], "algorithm": ["RS256"]}
                })),
            )
            .await;
        assert!(s.is_success(), "add key: {s} {v}");
        let comps = self
            .get("/components?type=org.keycloak.keys.KeyProvider")
            .await;
        comps
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .and_then(|c| c["id"].as_str())
            .unwrap()
            .to_string()
    }

    /// The realm's RS256 key providers: (component id, name, kid).
    pub async fn rsa_keys(&self) -> Vec<(String, String)> {
        let keys = self.get("/keys").await;
        keys["keys"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|k| k["algorithm"] == "RS256" && k["status"] == "ACTIVE")
            .map(|k| {
                (
                    k["providerId"].as_str().unwrap_or_default().to_string(),
                    k["kid"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect()
    }

    pub async fn delete_component(&self, id: &str) {
        let (s, v) = self
            .admin(reqwest::Method::DELETE, &format!("/components/{id}"), None)
            .await;
        assert!(s.is_success(), "delete component: {s} {v}");
    }
}
