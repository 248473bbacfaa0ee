//! Gateways in-process on pre-bound listeners, and the usual two-domain setup.

use std::net::TcpListener;
use std::sync::Arc;
use std::thread::JoinHandle;

use sso_core::config::Settings;
use sso_core::Gateway;

use crate::procs::{Op, OpClient, OpOptions, Redis};

pub const COOKIE_KEY: &str =
    "dGVzdC1rZXktdGVzdC1rZXktdGVzdC1rZXktdGVzdC1rZXktdGVzdC1rZXktdGVzdC1rZXktdGVzdC1rZXktdGVzdA==";

#[derive(Clone, Debug)]
pub struct GatewayOptions {
    /// "a" or "b": cookie domain `<x>.localhost`, public URL `http://auth.<x>.localhost:<port>`.
    pub domain: String,
    pub client_id: String,
    pub client_secret: String,
    pub issuer: String,
    /// None: in-memory store.
    pub redis_url: Option<String>,
    /// Extra TOML appended to the generated config (sections must not repeat generated ones).
    pub extra: String,
    /// Extra lines inside the generated `[oidc]` section.
    pub oidc_extra: String,
    pub secure: bool,
    pub auth_method: &'static str,
    /// The other domain's gateway port (for `[fanout]` in `extra`).
    pub peer_port: Option<u16>,
}

impl GatewayOptions {
    pub fn new(domain: &str, issuer: &str, redis_url: Option<String>) -> Self {
        Self {
            domain: domain.into(),
            client_id: format!("gw-{domain}"),
            client_secret: format!("gw-{domain}-secret"),
            issuer: issuer.into(),
            redis_url,
            extra: String::new(),
            oidc_extra: String::new(),
            secure: true,
            auth_method: "client_secret_basic",
            peer_port: None,
        }
    }

    pub fn toml(&self, port: u16) -> String {
        let d = &self.domain;
        let store = match &self.redis_url {
            Some(u) => format!("kind = \"redis\"\nurl = \"{u}\""),
            None => "kind = \"memory\"".into(),
        };
        format!(
            r#"
[server]
listen = "127.0.0.1:{port}"
public_url = "http://auth.{d}.localhost:{port}"
[oidc]
issuer = "{issuer}"
client_id = "{cid}"
client_secret = "{secret}"
auth_method = "{auth_method}"
http_timeout_secs = 5
jwks_min_refetch_secs = 1
{oidc_extra}
[cookie]
domain = "{d}.localhost"
secure = {secure}
keys = ["{COOKIE_KEY}"]
[redirect]
allowed = ["{d}.localhost:*", "*.{d}.localhost:*"]
allow_http = true
[store]
{store}
[log]
format = "pretty"
filter = "warn"
{extra}
"#,
            issuer = self.issuer,
            cid = self.client_id,
            secret = self.client_secret,
            secure = self.secure,
            extra = self.extra,
            oidc_extra = self.oidc_extra,
            auth_method = self.auth_method,
        )
    }
}

/// A running gateway.
pub struct GatewayHandle {
    pub port: u16,
    pub domain: String,
    pub gw: Arc<Gateway>,
    system: Option<actix_rt::System>,
    thread: Option<JoinHandle<()>>,
}

pub fn bind() -> (TcpListener, u16) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let p = l.local_addr().unwrap().port();
    (l, p)
}

impl GatewayHandle {
    pub fn start(listener: TcpListener, opts: &GatewayOptions) -> Self {
        let port = listener.local_addr().unwrap().port();
        let settings = Settings::from_toml(&opts.toml(port)).unwrap_or_else(|e| panic!("{e}"));
        let (tx, rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let sys = actix_rt::System::new();
            let started = sys.block_on(async move {
                let gw = Gateway::build(settings).await.map_err(|e| e.to_string())?;
                let background = gw.spawn_background();
                let server =
                    sso_gateway::server(gw.clone(), listener, 2).map_err(|e| e.to_string())?;
                actix_rt::spawn(server);
                Ok::<_, String>((gw, actix_rt::System::current(), background))
            });
            let (started, background) = match started {
                Ok((gw, system, background)) => (Ok((gw, system)), Some(background)),
                Err(e) => (Err(e), None),
            };
            let ok = started.is_ok();
            let _ = tx.send(started);
            if ok {
                let _ = sys.run();
            }
            drop(background);
        });
        let (gw, system) = rx
            .recv()
            .unwrap()
            .unwrap_or_else(|e| panic!("gateway start: {e}"));
        Self {
            port,
            domain: opts.domain.clone(),
            gw,
            system: Some(system),
            thread: Some(thread),
        }
    }

    pub fn base(&self) -> String {
        format!("http://auth.{}.localhost:{}", self.domain, self.port)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base())
    }

    /// An app URL on a sibling subdomain (nothing listens there; tests stop before it).
    pub fn app_url(&self) -> String {
        let sub = if self.domain == "a" { "app1" } else { "app" };
        format!("http://{sub}.{}.localhost:9/", self.domain)
    }

    pub fn stop(&mut self) {
        if let Some(s) = self.system.take() {
            s.stop();
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for GatewayHandle {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Redis, the test OP and gateways for `a.localhost` and `b.localhost`.
pub struct World {
    pub a_opts: GatewayOptions,
    pub b_opts: GatewayOptions,
    /// B's own Redis when the domains do not share one (`start_split`).
    pub redis_b: Option<Redis>,
    pub a: GatewayHandle,
    pub b: GatewayHandle,
    pub op: Op,
    pub redis: Redis,
}

impl World {
    pub fn start(op_opts: OpOptions) -> Self {
        Self::start_with(op_opts, |_| {})
    }

    pub fn start_with(op_opts: OpOptions, tweak: impl Fn(&mut GatewayOptions)) -> Self {
        Self::start_full(op_opts, false, tweak, &[])
    }

    /// The usual setup, with more clients registered at the OP (benchmark peers).
    pub fn start_with_clients(
        op_opts: OpOptions,
        extra: &[OpClient],
        tweak: impl Fn(&mut GatewayOptions),
    ) -> Self {
        Self::start_full(op_opts, false, tweak, extra)
    }

    /// Each domain with its own Redis, peered through `[fanout]` with a federation key.
    pub fn start_federated() -> Self {
        Self::start_split(Default::default(), |o| {
            let f = World::fanout_toml(o, true);
            o.extra.push_str(&f);
        })
    }

    /// Each domain with its own Redis; `tweak` sees both option sets (fan-out peers etc.).
    pub fn start_split(op_opts: OpOptions, tweak: impl Fn(&mut GatewayOptions)) -> Self {
        Self::start_full(op_opts, true, tweak, &[])
    }

    fn start_full(
        op_opts: OpOptions,
        split: bool,
        tweak: impl Fn(&mut GatewayOptions),
        extra: &[OpClient],
    ) -> Self {
        let redis = Redis::start();
        let redis_b = split.then(Redis::start);
        let (la, pa) = bind();
        let (lb, pb) = bind();
        let mut clients = vec![
            OpClient {
                client_id: "gw-a".into(),
                client_secret: "gw-a-secret".into(),
                gateway_port: pa,
                host: "auth.a.localhost".into(),
                auth_method: "client_secret_basic",
            },
            OpClient {
                client_id: "gw-b".into(),
                client_secret: "gw-b-secret".into(),
                gateway_port: pb,
                host: "auth.b.localhost".into(),
                auth_method: "client_secret_post",
            },
        ];
        clients.extend_from_slice(extra);
        let op = Op::start(&clients, &op_opts);
        let mut oa = GatewayOptions::new("a", &op.issuer, Some(redis.url()));
        oa.peer_port = Some(pb);
        tweak(&mut oa);
        let mut ob = GatewayOptions::new(
            "b",
            &op.issuer,
            Some(redis_b.as_ref().unwrap_or(&redis).url()),
        );
        // gw-b is registered with client_secret_post at the OP: the gateway must use it.
        ob.auth_method = "client_secret_post";
        ob.peer_port = Some(pa);
        tweak(&mut ob);
        let a = GatewayHandle::start(la, &oa);
        let b = GatewayHandle::start(lb, &ob);
        Self {
            a_opts: oa,
            b_opts: ob,
            redis_b,
            a,
            b,
            op,
            redis,
        }
    }
}

/// Log in at gateway `g` through the OP's login form; returns the final redirect target.
pub async fn login(
    browser: &crate::Browser,
    g: &GatewayHandle,
    user: &str,
    password: &str,
) -> url::Url {
    let rd = g.app_url();
    let start = format!("{}?rd={}", g.url("/sso/login"), urlencode(&rd));
    let app_host = url::Url::parse(&rd)
        .unwrap()
        .host_str()
        .unwrap()
        .to_string();
    let stop = |u: &url::Url| u.host_str() == Some(app_host.as_str());
    let hops = browser.follow(&start, &stop).await;
    let last = hops.last().unwrap();
    let hops = if last.status == reqwest::StatusCode::OK && last.body.contains("id=\"login\"") {
        browser.submit_login(last, user, password, &stop).await
    } else {
        hops
    };
    let last = hops.last().unwrap();
    assert!(
        last.status.is_redirection(),
        "login did not finish with a redirect: {} {}",
        last.status,
        last.body
    );
    last.location().unwrap()
}

pub fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

impl World {
    /// Another replica of gateway A (same config and Redis, its own port).
    pub fn replica_of_a(&self) -> GatewayHandle {
        let (l, _) = bind();
        GatewayHandle::start(l, &self.a_opts)
    }
}

impl World {
    /// Stop gateway B (its port stays reserved for `restart_b`).
    pub fn stop_b(&mut self) {
        self.b.stop();
    }

    /// Start gateway B again on the same port with the same config.
    pub fn restart_b(&mut self) {
        let port = self.b.port;
        let l = TcpListener::bind(("127.0.0.1", port)).unwrap();
        self.b = GatewayHandle::start(l, &self.b_opts);
    }

    /// Stop gateway A (its port stays reserved for `restart_a`).
    pub fn stop_a(&mut self) {
        self.a.stop();
    }

    /// Start gateway A again on the same port with `a_opts`.
    pub fn restart_a(&mut self) {
        let port = self.a.port;
        let l = TcpListener::bind(("127.0.0.1", port)).unwrap();
        self.a = GatewayHandle::start(l, &self.a_opts);
    }

    /// `[fanout]` section for a gateway whose peer is the other domain; with
    /// `federation_key`, the pair shares key [`FED_KEY`] under id [`FED_KID`]. Peers listed
    /// after it are added with [`World::extra_peer_toml`].
    pub fn fanout_toml(o: &GatewayOptions, federation_key: bool) -> String {
        let other = if o.domain == "a" { "b" } else { "a" };
        let port = o.peer_port.unwrap();
        // the test OP (oidc-provider) gives each client its own sid: bind chain links by sub
        let head = "[fanout]\naccepted_audiences = [\"gw-a\", \"gw-b\"]\nchain_binding = \"sub\"\n";
        let url = format!("http://auth.{other}.localhost:{port}");
        if federation_key {
            format!(
                "{head}{}",
                Self::extra_peer_toml(&url, &[(FED_KID, FED_KEY)])
            )
        } else {
            format!("{head}peers = [\"{url}\"]\n")
        }
    }

    /// One `[[fanout.peer]]` entry with its keys (id, base64 key), signing key first.
    pub fn extra_peer_toml(url: &str, keys: &[(&str, &str)]) -> String {
        let keys: Vec<String> = keys
            .iter()
            .map(|(id, k)| format!("{{ id = \"{id}\", key = \"{k}\" }}"))
            .collect();
        format!(
            "[[fanout.peer]]\nurl = \"{url}\"\nkeys = [{}]\n",
            keys.join(", ")
        )
    }
}

/// The key the two test domains share (base64 of 44 bytes), and its id.
pub const FED_KEY: &str = "ZmVkZXJhdGlvbi1rZXktZmVkZXJhdGlvbi1rZXktZmVkZXJhdGlvbi1rZXk=";
pub const FED_KID: &str = "ab-1";

/// Submit the OP's auto-submitting logout form (what the browser's script does) and follow.
pub async fn submit_op_logout(
    browser: &crate::Browser,
    page: &crate::browser::Resp,
    stop: impl Fn(&url::Url) -> bool,
) -> Vec<crate::browser::Resp> {
    let action = crate::browser::form_action(&page.body, "op-logout")
        .unwrap_or_else(|| panic!("no logout form: {}", page.body));
    let action = page.url.join(&action).unwrap();
    let inputs = crate::browser::hidden_inputs(&page.body);
    let form: Vec<(&str, &str)> = inputs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let r = browser.post_form(action.as_str(), &form, &[]).await;
    let loc = r.location();
    let mut hops = vec![r];
    if let Some(l) = loc {
        if !stop(&l) {
            hops.extend(browser.follow(l.as_str(), stop).await);
        }
    }
    hops
}

/// Session keys currently in a Redis (`sso:sess:*`).
pub async fn session_keys(redis_url: &str) -> Vec<String> {
    let client = redis::Client::open(redis_url).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    redis::cmd("KEYS")
        .arg("sso:sess:*")
        .query_async(&mut c)
        .await
        .unwrap()
}

/// `GET /sso/auth` as nginx sends it (with `X-Original-URL`).
pub async fn forward_auth(b: &crate::Browser, g: &GatewayHandle) -> crate::browser::Resp {
    b.get_with(&g.url("/sso/auth"), &[("X-Original-URL", &g.app_url())])
        .await
}

/// `GET /sso/auth` with exactly these cookies (another replica, another browser).
pub async fn forward_auth_with_cookies(
    g: &GatewayHandle,
    cookies: &std::collections::HashMap<String, String>,
) -> crate::browser::Resp {
    let header: Vec<String> = cookies.iter().map(|(k, v)| format!("{k}={v}")).collect();
    crate::Browser::new()
        .get_with(&g.url("/sso/auth"), &[("Cookie", &header.join("; "))])
        .await
}

/// Poll until `f` is true (pub/sub and fan-out are asynchronous), at most `secs`.
pub async fn eventually<F, Fut>(secs: u64, mut f: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while std::time::Instant::now() < deadline {
        if f().await {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    false
}

/// A gateway for `a.localhost` in front of the hostile OP, with its own Redis.
pub struct EvilWorld {
    pub op: crate::hostile_op::HostileOp,
    pub gw: GatewayHandle,
    pub redis: Redis,
}

impl EvilWorld {
    pub fn start() -> Self {
        Self::start_with(|_| {})
    }

    /// `setup` runs before the gateway starts (it caches discovery).
    pub fn start_with(setup: impl Fn(&crate::hostile_op::HostileOp)) -> Self {
        let redis = Redis::start();
        let op = crate::hostile_op::HostileOp::start("gw-a");
        setup(&op);
        let (l, _) = bind();
        let gw = GatewayHandle::start(
            l,
            &GatewayOptions::new("a", &op.issuer(), Some(redis.url())),
        );
        Self { op, gw, redis }
    }

    /// Run the login (the hostile OP logs in without a form); returns the last response.
    pub async fn attempt_login(&self, b: &crate::Browser) -> crate::browser::Resp {
        let start = format!(
            "{}?rd={}",
            self.gw.url("/sso/login"),
            urlencode(&self.gw.app_url())
        );
        let hops = b
            .follow(&start, |u| u.host_str() == Some("app1.a.localhost"))
            .await;
        hops.into_iter().last().unwrap()
    }
}

/// `sub` of the test OP's user alice.
pub const ALICE_SUB: &str = "1b8f0e3c-0000-4000-8000-00000000a11c";

/// The sessions gateway `g` holds for `sub`.
pub async fn sessions_of(
    g: &GatewayHandle,
    issuer: &str,
    sub: &str,
) -> Vec<sso_core::store::SessionRecord> {
    let mut out = Vec::new();
    for id in
        g.gw.store()
            .lookup(sso_core::store::Index::Sub, issuer, sub)
            .await
            .unwrap()
    {
        out.extend(g.gw.store().get_session(&id).await.unwrap());
    }
    out
}

/// The OP's admin logout answer (`Op::admin_logout`) shows a back-channel delivery answered
/// `200` for each of `clients` (not merely some `200` somewhere in the answer).
#[track_caller]
pub fn assert_backchannel_delivered(res: &serde_json::Value, clients: &[&str]) {
    let calls = res["backchannel"]
        .as_array()
        .unwrap_or_else(|| panic!("no back-channel list in {res}"));
    for c in clients {
        assert!(
            calls
                .iter()
                .any(|r| r["client_id"] == *c && r["status"] == 200),
            "back-channel logout to {c} not answered 200: {res}"
        );
    }
}

/// The `sso_at` chunks the browser holds for `g`'s domain, without `sso_rt`: a client that
/// presents the access token but cannot refresh (so a 401 means the token itself is refused).
pub fn access_cookies_only(
    b: &crate::Browser,
    g: &GatewayHandle,
) -> std::collections::HashMap<String, String> {
    b.jar
        .cookies_for(&g.app_url())
        .into_iter()
        .filter(|(k, _)| k.starts_with("sso_at"))
        .collect()
}

/// What a peer holding key `kid` (base64 `key_b64`) would send to the gateway whose public
/// URL is `to`: the MAC of `msg` for `purpose`, made by sso-core's own signing code.
pub fn sign_as_peer(
    to: &str,
    kid: &str,
    key_b64: &str,
    purpose: sso_core::federation::Purpose,
    msg: &str,
) -> sso_core::federation::Signed {
    use sso_core::federation::{FederationKey, FederationKeys, PeerKeys};
    let key = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, key_b64).unwrap();
    let to = url::Url::parse(to).unwrap();
    FederationKeys::new(vec![PeerKeys {
        peer: to.clone(),
        keys: vec![FederationKey::new(kid, key)],
    }])
    .sign(&to, purpose, msg)
    .unwrap()
}
