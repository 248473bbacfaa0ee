//! nginx in front of apps: the shipped snippets `deploy/nginx/sso-auth.conf` and
//! `deploy/nginx/sso-protect.conf`, included unchanged from the repository, in a real nginx
//! (non-root, everything under a temp prefix) between the test browser and a tiny echo app
//! that answers with the request headers it received.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sso_integration_tests::browser::Resp;
use sso_integration_tests::procs::free_port;
use sso_integration_tests::world::{login, urlencode, World};
use sso_integration_tests::{Browser, OpOptions};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::{header, short_lived, wait_for_expiry};

/// Kill the child when this process or thread dies (Linux PR_SET_PDEATHSIG), as the
/// harness does for the test OP. nginx runs with `master_process off` (one process), so
/// this takes all of it down.
fn die_with_parent(cmd: &mut Command) {
    use std::os::unix::process::CommandExt;
    #[allow(unsafe_code)]
    unsafe {
        cmd.pre_exec(|| {
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
            Ok(())
        });
    }
}

/// `nginx` with the auth_request module, or a loud failure saying how to get it.
fn require_nginx() {
    let out = Command::new("nginx")
        .arg("-V")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output();
    let Ok(out) = out else {
        panic!(
            "`nginx` is not installed: apt-get install nginx (or nginx-light) \
             (run `make test`, which installs it)"
        );
    };
    let v = String::from_utf8_lossy(&out.stderr);
    assert!(
        v.contains("http_auth_request_module"),
        "this nginx has no auth_request module (Debian's `nginx` package has it): {v}"
    );
}

/// A fresh directory, removed in `Drop`.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("sso-test-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Self(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `main` and `events` plus the opening of `http {}` with every temp path and log under the
/// prefix (nginx's compiled-in ones are under /var, not writable for a non-root user).
fn http_preamble(dir: &Path) -> String {
    let d = dir.display();
    format!(
        r#"master_process off;
worker_processes 1;
error_log {d}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log {d}/access.log;
    client_body_temp_path {d}/client_body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
"#
    )
}

/// nginx (non-root, its own prefix) serving `app1.a.localhost` on a free port: the shipped
/// snippets included from the repository, the echo app behind `location /`.
struct Nginx {
    child: Child,
    port: u16,
    dir: TempDir,
}

impl Nginx {
    fn start(gateway_port: u16, app_port: u16) -> Self {
        require_nginx();
        let snippets = sso_integration_tests::root().join("deploy/nginx");
        let (auth, protect) = (
            snippets.join("sso-auth.conf"),
            snippets.join("sso-protect.conf"),
        );
        for _ in 0..10 {
            let dir = TempDir::new("nginx");
            let port = free_port();
            let conf = format!(
                r#"{preamble}
    # as example-site.conf: big tokens make Cookie lines over the default 8 KB
    large_client_header_buffers 4 32k;
    upstream sso_gateway {{ server 127.0.0.1:{gateway_port}; keepalive 4; }}
    upstream app_upstream {{ server 127.0.0.1:{app_port}; }}
    server {{
        listen 127.0.0.1:{port};
        server_name app1.a.localhost;
        include "{auth}";
        location / {{
            include "{protect}";
            proxy_pass http://app_upstream;
        }}
        # the optional block of example-site.conf: session endpoints on the app's host
        location ~ ^/sso/(session|refresh|logout)$ {{
            proxy_pass http://sso_gateway;
            proxy_set_header Host $host;
        }}
    }}
}}
"#,
                preamble = http_preamble(&dir.0),
                auth = auth.display(),
                protect = protect.display(),
            );
            let conf_path = dir.0.join("nginx.conf");
            std::fs::write(&conf_path, conf).unwrap();
            let mut cmd = nginx_command(&dir.0, &conf_path);
            cmd.stdout(Stdio::null()).stderr(Stdio::null());
            die_with_parent(&mut cmd);
            let mut child = cmd.spawn().expect("spawn nginx");
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline && matches!(child.try_wait(), Ok(None)) {
                if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                    return Self { child, port, dir };
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = child.kill();
            let _ = child.wait();
            let log = std::fs::read_to_string(dir.0.join("error.log")).unwrap_or_default();
            if log.contains("Address already in use") {
                continue; // the free port was taken meanwhile
            }
            panic!("nginx did not start:\n{log}");
        }
        panic!("could not start nginx on a free port");
    }

    fn url(&self, path: &str) -> String {
        format!("http://app1.a.localhost:{}{path}", self.port)
    }

    /// nginx's error log, for failure messages.
    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.0.join("error.log")).unwrap_or_default()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `nginx -p <prefix> -c <conf> -e <prefix>/error.log -g 'daemon off; pid …;'`.
fn nginx_command(dir: &Path, conf: &Path) -> Command {
    let mut cmd = Command::new("nginx");
    cmd.arg("-p")
        .arg(dir)
        .arg("-c")
        .arg(conf)
        .arg("-e")
        .arg(dir.join("error.log"))
        .arg("-g")
        .arg(format!(
            "daemon off; pid {};",
            dir.join("nginx.pid").display()
        ));
    cmd
}

/// The app behind nginx: answers every request `200` with
/// `{"app": "echo", "request": "<request line>", "headers": {"<lower-case name>": [values]}}`.
struct EchoApp {
    port: u16,
    hits: Arc<AtomicUsize>,
}

impl EchoApp {
    async fn start() -> Self {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = hits.clone();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = l.accept().await {
                let counter = counter.clone();
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 16384];
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        match s.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    counter.fetch_add(1, Ordering::SeqCst);
                    let head = String::from_utf8_lossy(&buf).to_string();
                    let mut lines = head.split("\r\n");
                    let request = lines.next().unwrap_or_default().to_string();
                    let mut headers: BTreeMap<String, Vec<String>> = BTreeMap::new();
                    for line in lines.take_while(|l| !l.is_empty()) {
                        if let Some((k, v)) = line.split_once(':') {
                            headers
                                .entry(k.trim().to_ascii_lowercase())
                                .or_default()
                                .push(v.trim().to_string());
                        }
                    }
                    let body =
                        json!({"app": "echo", "request": request, "headers": headers}).to_string();
                    let resp = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\
                         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = s.write_all(resp.as_bytes()).await;
                    let _ = s.shutdown().await;
                });
            }
        });
        Self { port, hits }
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

/// The headers the echo app received (panics unless the answer came from the app).
fn app_saw(r: &Resp, ng: &Nginx) -> Value {
    assert_eq!(
        r.status,
        200,
        "expected the app's answer: {}\nnginx log:\n{}",
        r.body,
        ng.log()
    );
    let v = r.json();
    assert_eq!(v["app"], "echo", "{}", r.body);
    v["headers"].clone()
}

/// The Set-Cookie headers of `r` for exactly the cookie `name`.
fn cookies_named(r: &Resp, name: &str) -> Vec<String> {
    r.set_cookies()
        .into_iter()
        .filter(|c| c.starts_with(&format!("{name}=")))
        .collect()
}

/// Nothing the gateway told nginx leaks to the browser on a 200.
fn assert_no_auth_headers_to_browser(r: &Resp) {
    for (k, _) in r.headers.iter() {
        let k = k.as_str();
        assert!(
            k != "authorization" && !k.starts_with("x-auth-request"),
            "{k} sent to the browser"
        );
    }
}

#[tokio::test]
async fn nginx_anonymous_goes_to_login_and_comes_back_signed_in() {
    let w = short_lived(300);
    let app = EchoApp::start().await;
    let ng = Nginx::start(w.a.port, app.port);
    let b = Browser::new();
    let target = ng.url("/some/page?x=1");

    let r = b.get(&target).await;
    assert_eq!(r.status, 302, "{}\nnginx log:\n{}", r.body, ng.log());
    let expected = format!("{}?rd={}", w.a.url("/sso/login"), urlencode(&target));
    assert_eq!(header(&r, "location").unwrap(), expected);
    assert!(
        expected.contains(&format!(
            "rd=http%3A%2F%2Fapp1.a.localhost%3A{}%2Fsome%2Fpage%3Fx%3D1",
            ng.port
        )),
        "{expected}"
    );
    assert!(r.set_cookies().is_empty(), "nothing to clear");
    assert_eq!(app.hits(), 0, "the app never sees an anonymous request");

    // The whole trip a browser makes: login page at the OP, callback, back to the page.
    let hops = b.follow(&target, |_| false).await;
    let page = hops.last().unwrap();
    assert!(page.body.contains("id=\"login\""), "{}", page.body);
    let hops = b
        .submit_login(page, "alice", "alice-password", |_| false)
        .await;
    let last = hops.last().unwrap();
    assert_eq!(last.url.as_str(), target);
    let seen = app_saw(last, &ng);
    assert_eq!(seen["x-auth-request-user"], json!(["alice"]));
    assert_eq!(
        last.json()["request"],
        "GET /some/page?x=1 HTTP/1.0",
        "the app gets the original request"
    );

    // A Host outside the gateway's redirect allow-list: no login link, so a plain 401 (no
    // open redirect through a forged Host).
    let anon = Browser::new();
    let r = anon
        .get_with(&ng.url("/"), &[("Host", "evil.example")])
        .await;
    assert_eq!(r.status, 401, "{}\nnginx log:\n{}", r.body, ng.log());
    assert!(header(&r, "location").is_none());
    assert_eq!(app.hits(), 1);
}

#[tokio::test]
async fn nginx_passes_identity_and_drops_forged_headers() {
    let w = short_lived(300);
    let app = EchoApp::start().await;
    let ng = Nginx::start(w.a.port, app.port);
    let b = Browser::new();
    login(&b, &w.a, "alice", "alice-password").await;
    let at = b.jar.cookies_for(&ng.url("/"))["sso_at"].clone();

    let r = b
        .get_with(
            &ng.url("/dashboard"),
            &[
                ("X-Auth-Request-User", "mallory"),
                ("X-Auth-Request-Email", "mallory@evil.example"),
                ("X-Auth-Request-Sub", "mallory-sub"),
                ("X-Auth-Request-Groups", "forged-admins"),
                ("X-Auth-Request-Redirect", "https://evil.example/"),
            ],
        )
        .await;
    let seen = app_saw(&r, &ng);
    assert_eq!(seen["x-auth-request-user"], json!(["alice"]), "{seen}");
    assert_eq!(seen["x-auth-request-email"], json!(["alice@example.com"]));
    assert_eq!(
        seen["x-auth-request-sub"],
        json!(["1b8f0e3c-0000-4000-8000-00000000a11c"])
    );
    let groups = seen["x-auth-request-groups"].as_array().unwrap();
    assert_eq!(groups.len(), 1, "{groups:?}");
    let groups = groups[0].as_str().unwrap();
    assert!(
        groups.split(',').any(|g| g == "admin") && groups.contains("gw-a:client-user"),
        "{groups}"
    );
    assert!(!groups.contains("forged"), "{groups}");
    assert_eq!(seen["authorization"], json!([format!("Bearer {at}")]));
    assert!(seen["x-auth-request-redirect"].is_null(), "{seen}");
    assert!(r.set_cookies().is_empty(), "no new cookies on the hot path");
    assert_no_auth_headers_to_browser(&r);

    // Other methods: the auth subrequest is always a GET without a body; the app gets the POST.
    let r = b
        .post_form(&ng.url("/form"), &[("field", "value")], &[])
        .await;
    let seen = app_saw(&r, &ng);
    assert_eq!(seen["x-auth-request-user"], json!(["alice"]));
    assert!(r.json()["request"]
        .as_str()
        .unwrap()
        .starts_with("POST /form "));

    // A non-browser client with a Bearer token and no cookies.
    let api = Browser::new();
    let r = api
        .get_with(
            &ng.url("/api/x"),
            &[("Authorization", &format!("Bearer {at}"))],
        )
        .await;
    let seen = app_saw(&r, &ng);
    assert_eq!(seen["x-auth-request-user"], json!(["alice"]));

    // The optional /sso/ block of example-site.conf: the session on the app's own origin.
    let s = b
        .get_with(&ng.url("/sso/session"), &[("Accept", "application/json")])
        .await;
    assert_eq!(s.status, 200, "{}", s.body);
    assert_eq!(s.json()["authenticated"], true, "{}", s.body);
}

#[tokio::test]
async fn nginx_refreshes_an_expired_access_token_transparently() {
    let w = World::start(OpOptions {
        access_token_ttl: Some(2),
        ..Default::default()
    });
    let app = EchoApp::start().await;
    let ng = Nginx::start(w.a.port, app.port);
    let b = Browser::new();
    login(&b, &w.a, "alice", "alice-password").await;
    let before = b.jar.cookies_for(&ng.url("/"));
    wait_for_expiry(2).await;
    w.op.reset_stats().await;

    let r = b.get(&ng.url("/after-expiry")).await;
    let seen = app_saw(&r, &ng);
    assert_eq!(w.op.refresh_calls().await, 1);
    for name in ["sso_at", "sso_rt"] {
        let set = cookies_named(&r, name);
        assert_eq!(set.len(), 1, "one Set-Cookie for {name}: {set:?}");
        assert!(
            set[0].contains("Domain=a.localhost") && !set[0].contains("Max-Age=0"),
            "{}",
            set[0]
        );
    }
    let after = b.jar.cookies_for(&ng.url("/"));
    assert_ne!(after["sso_at"], before["sso_at"], "new access token");
    assert_ne!(after["sso_rt"], before["sso_rt"], "rotated refresh handle");
    assert_eq!(
        seen["authorization"],
        json!([format!("Bearer {}", after["sso_at"])]),
        "the app gets the new token"
    );
    assert_eq!(seen["x-auth-request-user"], json!(["alice"]));
    assert_no_auth_headers_to_browser(&r);

    // The browser now sends the new cookies: hot path, no second refresh.
    let r = b.get(&ng.url("/again")).await;
    let seen = app_saw(&r, &ng);
    assert!(r.set_cookies().is_empty(), "{:?}", r.set_cookies());
    assert_eq!(
        seen["authorization"],
        json!([format!("Bearer {}", after["sso_at"])])
    );
    assert_eq!(w.op.refresh_calls().await, 1);
}

#[tokio::test]
async fn nginx_clears_garbage_cookies_on_the_way_to_login() {
    let w = short_lived(300);
    let app = EchoApp::start().await;
    let ng = Nginx::start(w.a.port, app.port);
    let url = url::Url::parse(&ng.url("/")).unwrap();
    let garbage = |b: &Browser| {
        b.jar
            .store(&url, "sso_at=not.a.jwt; Domain=a.localhost; Path=/");
        b.jar
            .store(&url, "sso_rt=garbage; Domain=a.localhost; Path=/");
    };
    let assert_cleared = |r: &Resp, b: &Browser| {
        for name in ["sso_at", "sso_rt"] {
            let set = cookies_named(r, name);
            assert_eq!(set.len(), 1, "{name}: {:?}", r.set_cookies());
            assert!(
                set[0].contains("Max-Age=0")
                    && set[0].contains("Domain=a.localhost")
                    && set[0].contains("Path=/"),
                "{}",
                set[0]
            );
        }
        assert!(b.jar.cookies_for(&ng.url("/")).is_empty());
    };

    let b = Browser::new();
    garbage(&b);
    let r = b.get(&ng.url("/page")).await;
    assert_eq!(r.status, 302, "{}\nnginx log:\n{}", r.body, ng.log());
    assert!(
        header(&r, "location")
            .unwrap()
            .starts_with(&w.a.url("/sso/login?rd=")),
        "{:?}",
        r.headers
    );
    assert_cleared(&r, &b);

    // Without a login link (Host not allowed) the 401 clears them too.
    let b = Browser::new();
    garbage(&b);
    let r = b.get_with(&ng.url("/"), &[("Host", "evil.example")]).await;
    assert_eq!(r.status, 401, "{}\nnginx log:\n{}", r.body, ng.log());
    assert_cleared(&r, &b);

    // A script or API client (no `Accept: text/html`): 401 instead of a redirect it cannot
    // follow across origins; the cookies are cleared all the same.
    let api = reqwest::Client::builder()
        .resolve("app1.a.localhost", ([127, 0, 0, 1], ng.port).into())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = api
        .get(ng.url("/api/items"))
        .header("Accept", "application/json")
        .header("Cookie", "sso_at=not.a.jwt; sso_rt=garbage")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers().get("location").is_none());
    let cleared: Vec<&str> = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert_eq!(cleared.len(), 2, "{cleared:?}");
    assert!(
        cleared.iter().all(|c| c.contains("Max-Age=0")),
        "{cleared:?}"
    );
    assert_eq!(app.hits(), 0);
}

#[tokio::test]
async fn nginx_carries_tokens_over_8kb_and_their_refresh() {
    let w = World::start(OpOptions {
        big_roles: Some(150),
        access_token_ttl: Some(2),
        ..Default::default()
    });
    let app = EchoApp::start().await;
    let ng = Nginx::start(w.a.port, app.port);
    let b = Browser::new();
    login(&b, &w.a, "alice", "alice-password").await;
    assert!(b.jar.cookies_for(&ng.url("/")).contains_key("sso_at.2"));

    let r = b.get(&ng.url("/")).await;
    let seen = app_saw(&r, &ng);
    let bearer = seen["authorization"][0].as_str().unwrap();
    assert!(bearer.len() > 8000, "token is {} bytes", bearer.len());
    assert!(seen["x-auth-request-groups"][0]
        .as_str()
        .unwrap()
        .contains("role-0149"));

    wait_for_expiry(2).await;
    let r = b.get(&ng.url("/")).await;
    let seen = app_saw(&r, &ng);
    for name in ["sso_at", "sso_at.1", "sso_at.2", "sso_rt"] {
        assert_eq!(cookies_named(&r, name).len(), 1, "{name}");
    }
    let jar = b.jar.cookies_for(&ng.url("/"));
    let joined: String = ["sso_at", "sso_at.1", "sso_at.2", "sso_at.3"]
        .iter()
        .filter_map(|n| jar.get(*n).cloned())
        .collect();
    assert_eq!(seen["authorization"], json!([format!("Bearer {joined}")]));
    let r = b.get(&ng.url("/")).await;
    app_saw(&r, &ng);
    assert!(r.set_cookies().is_empty());
}

/// The most cookies one answer carries (a refresh that also clears 15 leftover `sso_at.N`
/// chunks: 17 `Set-Cookie`s) all pass through nginx, and the rotated `sso_rt` is never the one
/// dropped: the browser's next request is on the hot path with the new handle.
#[tokio::test]
async fn nginx_never_drops_the_rotated_refresh_handle() {
    let w = World::start(OpOptions {
        access_token_ttl: Some(2),
        ..Default::default()
    });
    let app = EchoApp::start().await;
    let ng = Nginx::start(w.a.port, app.port);
    let b = Browser::new();
    login(&b, &w.a, "alice", "alice-password").await;
    let before = b.jar.cookies_for(&ng.url("/"));
    // an expired token plus leftovers of an earlier, bigger one: the gateway refreshes
    // (rotating the handle) and clears all 15 leftovers in the same answer
    wait_for_expiry(2).await;
    let app_url = url::Url::parse(&ng.url("/")).unwrap();
    for i in 1..16 {
        b.jar.store(
            &app_url,
            &format!("sso_at.{i}=x; Domain=a.localhost; Path=/"),
        );
    }
    w.op.reset_stats().await;
    let r = b.get(&ng.url("/many-cookies")).await;
    app_saw(&r, &ng);
    assert_eq!(w.op.refresh_calls().await, 1);
    let rt = cookies_named(&r, "sso_rt");
    assert_eq!(
        rt.len(),
        1,
        "sso_rt reached the browser: {:?}",
        r.set_cookies()
    );
    assert!(!rt[0].contains("Max-Age=0"), "{}", rt[0]);
    for i in 1..16 {
        let c = cookies_named(&r, &format!("sso_at.{i}"));
        assert!(
            c.len() == 1 && c[0].contains("Max-Age=0"),
            "sso_at.{i} cleared: {c:?}"
        );
    }
    let after = b.jar.cookies_for(&ng.url("/"));
    assert_ne!(
        after["sso_rt"], before["sso_rt"],
        "the browser holds the rotated handle"
    );
    assert!(!after.contains_key("sso_at.1"));
    // the next request: hot path, no refresh, nothing to set
    let r = b.get(&ng.url("/again")).await;
    app_saw(&r, &ng);
    assert!(r.set_cookies().is_empty(), "{:?}", r.set_cookies());
    assert_eq!(w.op.refresh_calls().await, 1);
}

/// `deploy/nginx/example-site.conf` with the snippets where it expects them passes `nginx -t`.
#[test]
fn nginx_example_site_conf_is_valid() {
    require_nginx();
    let dir = TempDir::new("nginx-example");
    let repo = sso_integration_tests::root().join("deploy/nginx");
    std::fs::create_dir_all(dir.0.join("snippets")).unwrap();
    for f in ["sso-auth.conf", "sso-protect.conf"] {
        std::fs::copy(repo.join(f), dir.0.join("snippets").join(f)).unwrap();
    }
    // A throwaway certificate where the example expects Let's Encrypt's.
    let (cert, key) = (dir.0.join("cert.pem"), dir.0.join("key.pem"));
    let ok = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
        .arg("ec_paramgen_curve:prime256v1")
        .args(["-nodes", "-days", "1", "-subj", "/CN=a.com", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(
        ok,
        "`openssl` is needed for a test certificate: apt-get install openssl"
    );
    let example = std::fs::read_to_string(repo.join("example-site.conf"))
        .unwrap()
        .replace(
            "/etc/letsencrypt/live/a.com/fullchain.pem",
            &cert.display().to_string(),
        )
        .replace(
            "/etc/letsencrypt/live/a.com/privkey.pem",
            &key.display().to_string(),
        );
    std::fs::write(dir.0.join("example-site.conf"), example).unwrap();
    let conf = dir.0.join("nginx.conf");
    std::fs::write(
        &conf,
        format!(
            "{}    include example-site.conf;\n}}\n",
            http_preamble(&dir.0)
        ),
    )
    .unwrap();
    let out = nginx_command(&dir.0, &conf).arg("-t").output().unwrap();
    let log = std::fs::read_to_string(dir.0.join("error.log")).unwrap_or_default();
    assert!(
        out.status.success(),
        "nginx -t failed:\n{}{log}",
        String::from_utf8_lossy(&out.stderr)
    );
}
