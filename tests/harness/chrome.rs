//! Headless Chromium through chromedriver's W3C WebDriver API, spoken over reqwest.
//!
//! `Chrome::start()` spawns `chromedriver --port=<free port>` and opens one session with a
//! fresh profile. Chromium outlives a killed chromedriver, so chromedriver gets a process group
//! of its own (Chromium joins it) and a watchdog `sh` kills that group once the test process
//! is gone, however it ends: the watchdog reads a pipe only the test process holds. The browser
//! resolves nothing but `localhost`, `*.localhost` and `127.0.0.1`, so nothing leaves the
//! machine. The cookie jar is read through the DevTools protocol (`Network.getAllCookies` via
//! chromedriver's `goog/cdp/execute`): every cookie, HttpOnly included, whatever page is open.
//!
//! Binaries: `/usr/bin/chromium` and `/usr/bin/chromedriver` (Debian's `chromium` and
//! `chromium-driver`), or `CHROMIUM` / `CHROMEDRIVER` to point elsewhere. `CHROMEDRIVER_LOG=1`
//! shows chromedriver's verbose log on stderr.

use std::future::Future;
use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use url::Url;

use crate::procs::{die_with_parent, free_port};

/// W3C WebDriver's key for element references.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";
/// How often the `wait_*` helpers look again.
const POLL: Duration = Duration::from_millis(25);

/// An error answer from chromedriver (`{"value": {"error", "message"}}`).
#[derive(Debug, Clone)]
pub struct WdError {
    pub error: String,
    pub message: String,
}

impl std::fmt::Display for WdError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.error, self.message)
    }
}

/// One cookie of the browser's jar, as the DevTools protocol reports it.
#[derive(Debug, Clone)]
pub struct BrowserCookie {
    pub name: String,
    pub value: String,
    /// Without the leading dot DevTools puts on `Domain=` cookies.
    pub domain: String,
    /// No `Domain` attribute: sent to exactly `domain`, not its subdomains.
    pub host_only: bool,
    pub path: String,
    pub http_only: bool,
    pub secure: bool,
    /// "Strict", "Lax", "None", or "" when unset.
    pub same_site: String,
    /// Session cookie (no Expires / Max-Age).
    pub session: bool,
}

impl BrowserCookie {
    /// Would a request to `host` carry this cookie (domain rules only; path and Secure
    /// are ignored)?
    pub fn matches_host(&self, host: &str) -> bool {
        host == self.domain || (!self.host_only && host.ends_with(&format!(".{}", self.domain)))
    }
}

struct Profile(PathBuf);

impl Profile {
    fn new() -> Self {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("sso-test-chrome-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Self(p)
    }
}

impl Drop for Profile {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn binary(env: &str, default: &str) -> PathBuf {
    let p = std::env::var_os(env)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(default));
    assert!(
        p.is_file(),
        "`{}` is not installed: apt-get install chromium chromium-driver \
         (`make test` installs them), or set {env} to the binary",
        p.display()
    );
    p
}

/// How to start the browser; `Default` is a plain headless desktop Chromium.
#[derive(Debug, Clone, Default)]
pub struct ChromeOptions {
    /// Chromium's mobile emulation (`goog:chromeOptions.mobileEmulation`), e.g.
    /// [`ChromeOptions::android_webview`].
    pub mobile_emulation: Option<Value>,
    /// `--app=<url>`: the window an embedding desktop shell opens (no tabs, no address bar).
    pub app_url: Option<String>,
    /// Profile preferences (`goog:chromeOptions.prefs`), e.g. cookie content settings.
    pub prefs: Option<Value>,
    /// `--window-size=W,H` (desktop); mobile emulation sets its own viewport.
    pub window_size: Option<(u32, u32)>,
    /// Keep the DevTools network events for [`Chrome::network_responses`].
    pub performance_log: bool,
}

impl ChromeOptions {
    /// An Android WebView: its user agent (`; wv`), touch, and a phone viewport (Pixel 7's
    /// 412×915 CSS pixels; device pixel ratio 1 keeps screenshots small).
    pub fn android_webview() -> Self {
        Self {
            mobile_emulation: Some(json!({
                "deviceMetrics": {"width": 412, "height": 915, "pixelRatio": 1.0, "touch": true, "mobile": true},
                "userAgent": ANDROID_WEBVIEW_UA,
                "clientHints": {
                    "platform": "Android", "mobile": true, "model": "Pixel 7",
                    "platformVersion": "14", "architecture": "", "bitness": "",
                    "brands": [{"brand": "Android WebView", "version": "120"}],
                    "fullVersionList": [{"brand": "Android WebView", "version": "120.0.6099.230"}],
                },
            })),
            ..Self::default()
        }
    }

    /// Block cookies for requests to `cookie_origin` made while `top_origin` is the page
    /// (a content-settings exception): the page's calls to the gateway carry no cookie, while
    /// top-level visits to the gateway still get and send theirs. What a WebView or browser
    /// that refuses these cookies does to an SPA.
    pub fn block_cookies(mut self, cookie_origin: &str, top_origin: &str) -> Self {
        let key = format!("{cookie_origin},{top_origin}");
        self.prefs = Some(json!({
            "profile.content_settings.exceptions.cookies": { key: {"setting": 2} }
        }));
        self
    }
}

/// The user agent of Android System WebView (the `; wv` marks a WebView, not Chrome).
pub const ANDROID_WEBVIEW_UA: &str =
    "Mozilla/5.0 (Linux; Android 14; Pixel 7 Build/UQ1A.240205.004; wv) \
AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/120.0.6099.230 Mobile Safari/537.36";

/// A chromedriver process with one open browser session.
pub struct Chrome {
    http: reqwest::Client,
    port: u16,
    base: String,
    session: String,
    driver: Child,
    /// `sh` that kills chromedriver's process group when `watchdog_pipe` closes.
    watchdog: Child,
    watchdog_pipe: Option<ChildStdin>,
    _profile: Profile,
}

impl Chrome {
    /// Start chromedriver and open a headless Chromium session with a fresh profile.
    pub async fn start() -> Self {
        Self::start_with(ChromeOptions::default()).await
    }

    /// As [`Chrome::start`], with mobile emulation, app mode, profile preferences.
    pub async fn start_with(opts: ChromeOptions) -> Self {
        let chromium = binary("CHROMIUM", "/usr/bin/chromium");
        let chromedriver = binary("CHROMEDRIVER", "/usr/bin/chromedriver");
        let http = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        let (driver, port) = Self::spawn_driver(&http, &chromedriver).await;
        let base = format!("http://127.0.0.1:{port}");
        let profile = Profile::new();
        let (watchdog, watchdog_pipe) = Self::spawn_watchdog(driver.id(), &profile.0);
        let mut args = vec![
            "--headless=new".to_string(),
            "--no-sandbox".into(),
            "--disable-gpu".into(),
            "--disable-quic".into(),
            "--no-first-run".into(),
            "--no-default-browser-check".into(),
            "--disable-background-networking".into(),
            "--disable-component-update".into(),
            "--disable-sync".into(),
            "--disable-dev-shm-usage".into(),
            // a proxy from the environment must not see test traffic
            "--no-proxy-server".into(),
            format!("--user-data-dir={}", profile.0.display()),
            // resolve nothing but loopback names: nothing leaves the machine
            "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1, \
             EXCLUDE *.localhost"
                .into(),
        ];
        if let Some((w, h)) = opts.window_size {
            args.push(format!("--window-size={w},{h}"));
        }
        if let Some(u) = &opts.app_url {
            args.push(format!("--app={u}"));
        }
        let mut chrome_options = json!({
            "binary": chromium.to_string_lossy(),
            "args": args,
        });
        if let Some(m) = &opts.mobile_emulation {
            chrome_options["mobileEmulation"] = m.clone();
        }
        if let Some(p) = &opts.prefs {
            chrome_options["prefs"] = p.clone();
        }
        let mut always = json!({
            "browserName": "chrome",
            "pageLoadStrategy": "normal",
            "timeouts": {"implicit": 0, "pageLoad": 15000, "script": 10000},
            "goog:chromeOptions": chrome_options,
        });
        if opts.performance_log {
            always["goog:loggingPrefs"] = json!({"performance": "ALL"});
        }
        let caps = json!({ "capabilities": { "alwaysMatch": always } });
        let r = http
            .post(format!("{base}/session"))
            .json(&caps)
            .send()
            .await
            .unwrap_or_else(|e| panic!("chromedriver: new session: {e}"));
        let v: Value = r.json().await.unwrap();
        let session = v["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| {
                panic!(
                    "chromedriver could not start {} (CHROMEDRIVER_LOG=1 shows why): {v}",
                    chromium.display()
                )
            })
            .to_string();
        Self {
            http,
            port,
            base,
            session,
            driver,
            watchdog,
            watchdog_pipe: Some(watchdog_pipe),
            _profile: profile,
        }
    }

    async fn spawn_driver(http: &reqwest::Client, bin: &std::path::Path) -> (Child, u16) {
        let verbose = std::env::var_os("CHROMEDRIVER_LOG").is_some();
        for _ in 0..10 {
            let port = free_port();
            let mut cmd = Command::new(bin);
            cmd.arg(format!("--port={port}"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(if verbose {
                    Stdio::inherit()
                } else {
                    Stdio::null()
                });
            if verbose {
                cmd.arg("--verbose").arg("--log-path=/dev/stderr");
            }
            // its own group, which Chromium and its helpers join: one kill ends them all
            cmd.process_group(0);
            die_with_parent(&mut cmd);
            let mut child = cmd
                .spawn()
                .unwrap_or_else(|e| panic!("spawn {}: {e}", bin.display()));
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(r) = http
                    .get(format!("http://127.0.0.1:{port}/status"))
                    .timeout(Duration::from_secs(2))
                    .send()
                    .await
                {
                    if let Ok(v) = r.json::<Value>().await {
                        if v["value"]["ready"] == true {
                            return (child, port);
                        }
                    }
                }
                if let Ok(Some(_)) = child.try_wait() {
                    break; // port taken: try another
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("could not start {}", bin.display());
    }

    /// Kills process group `pgid` and removes `profile` when its stdin reaches EOF, i.e. when
    /// the test process exits or is killed (the kernel closes the pipe's write end).
    fn spawn_watchdog(pgid: u32, profile: &std::path::Path) -> (Child, ChildStdin) {
        // dash's `kill` takes no `--`: `-PGID` it is
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(r#"read x; kill -KILL -"$1" 2>/dev/null; sleep 0.2; rm -rf "$2""#)
            .arg("sh")
            .arg(pgid.to_string())
            .arg(profile)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn sh (chromedriver watchdog): {e}"));
        let pipe = child.stdin.take().unwrap();
        (child, pipe)
    }

    fn url(&self, path: &str) -> String {
        format!("{}/session/{}{path}", self.base, self.session)
    }

    /// One WebDriver command; the `value` of the answer, or the WebDriver error.
    pub async fn command(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, WdError> {
        let mut rb = self.http.request(method.clone(), self.url(path));
        // chromedriver wants a JSON body on every POST, `{}` at least
        if method == reqwest::Method::POST {
            rb = rb.json(&body.unwrap_or_else(|| json!({})));
        }
        let r = rb
            .send()
            .await
            .unwrap_or_else(|e| panic!("chromedriver {method} {path}: {e}"));
        let ok = r.status().is_success();
        let v: Value = r
            .json()
            .await
            .unwrap_or_else(|e| panic!("chromedriver {method} {path}: not JSON: {e}"));
        let value = v.get("value").cloned().unwrap_or(Value::Null);
        if ok {
            Ok(value)
        } else {
            Err(WdError {
                error: value["error"].as_str().unwrap_or("unknown error").into(),
                message: value["message"].as_str().unwrap_or("").into(),
            })
        }
    }

    async fn must(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let what = format!("{method} {path}");
        self.command(method, path, body)
            .await
            .unwrap_or_else(|e| panic!("webdriver {what}: {e}"))
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        self.must(reqwest::Method::POST, path, Some(body)).await
    }

    async fn get(&self, path: &str) -> Value {
        self.must(reqwest::Method::GET, path, None).await
    }

    /// Navigate and wait for the page load (redirects followed by the browser).
    pub async fn goto(&self, url: &str) {
        self.post("/url", json!({ "url": url })).await;
    }

    /// The browser's Back button (waits for the page load).
    pub async fn back(&self) {
        self.post("/back", json!({})).await;
    }

    pub async fn current_url(&self) -> Url {
        let v = self.get("/url").await;
        Url::parse(v.as_str().unwrap_or_default())
            .unwrap_or_else(|e| panic!("current URL {v}: {e}"))
    }

    pub async fn page_source(&self) -> String {
        self.get("/source").await.as_str().unwrap_or("").to_string()
    }

    pub async fn title(&self) -> String {
        self.get("/title").await.as_str().unwrap_or("").to_string()
    }

    /// The first element matching `css` on the current page, if any.
    pub async fn try_find_css(&self, css: &str) -> Option<String> {
        let body = json!({"using": "css selector", "value": css});
        match self
            .command(reqwest::Method::POST, "/element", Some(body))
            .await
        {
            Ok(v) => v[ELEMENT].as_str().map(str::to_string),
            Err(e) if e.error == "no such element" => None,
            Err(e) => panic!("find {css}: {e}"),
        }
    }

    /// Element id of the first match of `css`; panics when there is none.
    pub async fn find_css(&self, css: &str) -> String {
        match self.try_find_css(css).await {
            Some(id) => id,
            None => panic!(
                "no element {css} on {}:\n{}",
                self.current_url().await,
                self.page_source().await
            ),
        }
    }

    /// Visible text of the first match of `css`; `None` if absent or replaced meanwhile.
    pub async fn try_text(&self, css: &str) -> Option<String> {
        let id = self.try_find_css(css).await?;
        self.command(reqwest::Method::GET, &format!("/element/{id}/text"), None)
            .await
            .ok()
            .map(|v| v.as_str().unwrap_or("").to_string())
    }

    pub async fn text(&self, css: &str) -> String {
        let id = self.find_css(css).await;
        self.get(&format!("/element/{id}/text"))
            .await
            .as_str()
            .unwrap_or("")
            .to_string()
    }

    /// Click the first match of `css` (chromedriver waits for a navigation it starts).
    pub async fn click(&self, css: &str) {
        let id = self.find_css(css).await;
        self.post(&format!("/element/{id}/click"), json!({})).await;
    }

    /// Clear the input matching `css` and type `text` into it.
    pub async fn type_into(&self, css: &str, text: &str) {
        let id = self.find_css(css).await;
        self.post(&format!("/element/{id}/clear"), json!({})).await;
        self.post(&format!("/element/{id}/value"), json!({ "text": text }))
            .await;
    }

    /// Run `script` (a function body; `arguments` holds `args`) and return its result.
    pub async fn execute(&self, script: &str, args: Vec<Value>) -> Value {
        self.post("/execute/sync", json!({ "script": script, "args": args }))
            .await
    }

    /// Poll `f` until it yields `Some`, at most `timeout`; panics with `what`, the current
    /// URL and the page otherwise.
    pub async fn wait_until<T, F, Fut>(&self, what: &str, timeout: Duration, mut f: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Option<T>>,
    {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(v) = f().await {
                return v;
            }
            if Instant::now() >= deadline {
                let url = self.get("/url").await;
                panic!(
                    "timed out after {timeout:?} waiting for {what}; at {url}:\n{}",
                    self.page_source().await
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Wait until an element matches `css`; its id.
    pub async fn wait_for(&self, css: &str, timeout: Duration) -> String {
        self.wait_until(&format!("element {css}"), timeout, || {
            self.try_find_css(css)
        })
        .await
    }

    /// Wait until the first match of `css` has exactly the text `expected`.
    pub async fn wait_for_text(&self, css: &str, expected: &str, timeout: Duration) {
        self.wait_until(&format!("{css} to read {expected:?}"), timeout, || async {
            (self.try_text(css).await.as_deref() == Some(expected)).then_some(())
        })
        .await
    }

    /// Wait until the current URL satisfies `pred`; that URL.
    pub async fn wait_for_url(
        &self,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&Url) -> bool,
    ) -> Url {
        self.wait_until(what, timeout, || async {
            let u = self.current_url().await;
            pred(&u).then_some(u)
        })
        .await
    }

    /// A DevTools protocol command on the current tab (`goog/cdp/execute`).
    pub async fn cdp(&self, cmd: &str, params: Value) -> Value {
        self.post("/goog/cdp/execute", json!({ "cmd": cmd, "params": params }))
            .await
    }

    /// Every cookie in the browser's jar (HttpOnly included), whatever page is open.
    pub async fn all_cookies(&self) -> Vec<BrowserCookie> {
        let v = self.cdp("Network.getAllCookies", json!({})).await;
        let s = |c: &Value, k: &str| c[k].as_str().unwrap_or("").to_string();
        v["cookies"]
            .as_array()
            .unwrap_or_else(|| panic!("Network.getAllCookies: {v}"))
            .iter()
            .map(|c| {
                let raw = s(c, "domain");
                BrowserCookie {
                    name: s(c, "name"),
                    value: s(c, "value"),
                    domain: raw.trim_start_matches('.').to_string(),
                    host_only: !raw.starts_with('.'),
                    path: s(c, "path"),
                    http_only: c["httpOnly"] == true,
                    secure: c["secure"] == true,
                    same_site: s(c, "sameSite"),
                    session: c["session"] == true,
                }
            })
            .collect()
    }

    /// `(name, value, domain)` of every cookie whose domain covers `url`'s host (what a
    /// request there would carry, path and Secure aside).
    pub async fn cookies_for(&self, url: &str) -> Vec<(String, String, String)> {
        let u = Url::parse(url).unwrap_or_else(|e| panic!("{url}: {e}"));
        let host = u.host_str().unwrap_or("").to_string();
        self.all_cookies()
            .await
            .into_iter()
            .filter(|c| c.matches_host(&host))
            .map(|c| (c.name, c.value, c.domain))
            .collect()
    }

    /// URLs of the tab's session history, oldest first (redirect hops leave no entry; every
    /// page the user saw does).
    pub async fn history(&self) -> Vec<Url> {
        let v = self.cdp("Page.getNavigationHistory", json!({})).await;
        v["entries"]
            .as_array()
            .unwrap_or_else(|| panic!("Page.getNavigationHistory: {v}"))
            .iter()
            .filter_map(|e| e["url"].as_str().and_then(|u| Url::parse(u).ok()))
            .collect()
    }

    /// Run `script` as an async function body: it gets `done` (call it with the result) as
    /// its last argument, after `args`.
    pub async fn execute_async(&self, script: &str, args: Vec<Value>) -> Value {
        self.post("/execute/async", json!({ "script": script, "args": args }))
            .await
    }

    /// A PNG of the viewport (chromedriver's screenshot, base64-decoded).
    pub async fn screenshot_png(&self) -> Vec<u8> {
        use base64::Engine;
        let v = self.get("/screenshot").await;
        base64::engine::general_purpose::STANDARD
            .decode(v.as_str().unwrap_or(""))
            .unwrap_or_else(|e| panic!("screenshot is not base64: {e}"))
    }

    /// `(url, status)` of every HTTP response the browser received since the last call
    /// (needs [`ChromeOptions::performance_log`]): what the network saw, redirect hops and
    /// answers that CORS hid from the page included.
    pub async fn network_responses(&self) -> Vec<(String, u16)> {
        let v = self.post("/se/log", json!({"type": "performance"})).await;
        let mut urls = std::collections::HashMap::new();
        let mut answered = std::collections::HashSet::new();
        let mut extra = Vec::new();
        let mut out = Vec::new();
        for e in v.as_array().into_iter().flatten() {
            let Some(m) = e["message"]
                .as_str()
                .and_then(|m| serde_json::from_str::<Value>(m).ok())
            else {
                continue;
            };
            let (method, p) = (&m["message"]["method"], &m["message"]["params"]);
            let id = p["requestId"].as_str().unwrap_or("").to_string();
            let status = |v: &Value| u16::try_from(v.as_u64().unwrap_or(0)).unwrap_or(0);
            match method.as_str() {
                Some("Network.requestWillBeSent") => {
                    let r = &p["redirectResponse"];
                    if r.is_object() {
                        out.push((
                            r["url"].as_str().unwrap_or("").to_string(),
                            status(&r["status"]),
                        ));
                    }
                    urls.insert(id, p["request"]["url"].as_str().unwrap_or("").to_string());
                }
                Some("Network.responseReceived") => {
                    let r = &p["response"];
                    out.push((
                        r["url"].as_str().unwrap_or("").to_string(),
                        status(&r["status"]),
                    ));
                    answered.insert(id);
                }
                // also sent for answers the page never gets (CORS): no responseReceived
                Some("Network.responseReceivedExtraInfo") => {
                    extra.push((id, status(&p["statusCode"])));
                }
                _ => {}
            }
        }
        for (id, st) in extra {
            if !answered.contains(&id) {
                if let Some(u) = urls.get(&id) {
                    out.push((u.clone(), st));
                }
            }
        }
        out
    }

    /// Close the browser and chromedriver (also done on drop).
    fn shutdown(&mut self) {
        if !self.session.is_empty() {
            // DELETE /session quits Chromium cleanly. Drop cannot await, and may run while a
            // runtime unwinds: speak HTTP/1.1 over a plain socket.
            let path = format!("/session/{}", self.session);
            self.session.clear();
            let _ = raw_request(self.port, "DELETE", &path, Duration::from_secs(10));
        }
        // the watchdog must not fire once chromedriver is reaped (its pid, the group id,
        // could be reused): stop it first, then end the group ourselves
        let _ = self.watchdog.kill();
        let _ = self.watchdog.wait();
        self.watchdog_pipe.take();
        if let Ok(pgid) = i32::try_from(self.driver.id()) {
            #[allow(unsafe_code)]
            // SAFETY: kill(2) with a negative pid signals that process group; no memory involved.
            unsafe {
                libc::kill(-pgid, libc::SIGKILL);
            }
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Drop for Chrome {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn raw_request(port: u16, method: &str, path: &str, timeout: Duration) -> std::io::Result<String> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )?;
    // chromedriver keeps the connection open whatever `Connection` says: read the head,
    // then exactly Content-Length bytes
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = s.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf);
        if let Some(end) = text.find("\r\n\r\n") {
            let len = text[..end]
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if buf.len() >= end + 4 + len {
                break;
            }
        }
    }
    Ok(String::from_utf8_lossy(&buf).into_owned())
}
