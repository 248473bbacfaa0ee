//! Configuration: a TOML file, overridden by `SSO__SECTION__KEY` environment variables,
//! deserialised into raw structs that refuse unknown keys, then validated once into the
//! immutable [`Settings`] the rest of the gateway uses. Every error says how to fix it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use base64::Engine;
use serde::Deserialize;
use url::Url;

use crate::federation::{FederationKey, FederationKeys, PeerKeys};
use crate::redirect::RedirectPolicy;
use crate::secret::{AdminToken, ClientSecret, ConfigKey};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read configuration: {0}")]
    Load(String),
    #[error("configuration is invalid:\n{}", .0.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<String>),
}

// ---------------------------------------------------------------- raw (as written)

#[derive(Debug, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct RawConfig {
    pub server: RawServer,
    pub oidc: RawOidc,
    pub cookie: RawCookie,
    pub redirect: RawRedirect,
    pub session: RawSession,
    pub store: RawStore,
    pub revocation: RevocationSettings,
    pub fanout: RawFanout,
    pub forward_auth: RawForwardAuth,
    pub cors: RawCors,
    pub logout: RawLogout,
    pub admin: RawAdmin,
    pub log: RawLog,
    pub rate_limit: RawRateLimit,
    pub tls: RawTls,
    pub ui: RawUi,
}

#[derive(Debug, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct RawUi {
    /// Directory of operator templates replacing the built-in pages by file name.
    pub template_dir: Option<PathBuf>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct RawTls {
    /// PEM bundle of extra trusted CAs for the OP and peer gateways (private PKI).
    pub ca_file: Option<PathBuf>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct RawServer {
    pub listen: Option<String>,
    pub public_url: Option<String>,
    pub prefix: Option<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct RawOidc {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Option<ClientSecret>,
    pub client_secret_file: Option<PathBuf>,
    pub auth_method: Option<Choice<AuthMethod>>,
    pub scopes: Option<Vec<String>>,
    pub allowed_algs: Option<Vec<String>>,
    pub pass_params: Option<Vec<String>>,
    pub clock_leeway_secs: Option<u64>,
    pub jwks_min_refetch_secs: Option<u64>,
    pub jwks_max_age_secs: Option<u64>,
    pub verified_token_cache_size: Option<usize>,
    pub http_timeout_secs: Option<u64>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct RawCookie {
    pub domain: String,
    pub secure: Option<bool>,
    pub keys: Option<Vec<ConfigKey>>,
    pub keys_file: Option<PathBuf>,
    pub same_site: Option<Choice<SameSite>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct RawRedirect {
    pub allowed: Vec<String>,
    pub allow_http: bool,
}

#[derive(Debug, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct RawSession {
    pub max_lifetime_secs: Option<u64>,
    pub idle_timeout_secs: Option<u64>,
    pub refresh_grace_secs: Option<u64>,
    pub refresh_lock_secs: Option<u64>,
    pub refresh_before_expiry_secs: Option<u64>,
    pub revocation_ttl_secs: Option<u64>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct RawStore {
    pub kind: Option<Choice<StoreKind>>,
    pub url: Option<String>,
    pub urls: Vec<String>,
    pub master_name: String,
}

#[derive(Debug, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct RawFanout {
    /// Peers without federation keys (forwarded logout tokens only).
    pub peers: Vec<String>,
    /// `[[fanout.peer]]`: a peer with its own keys.
    pub peer: Vec<RawPeer>,
    pub accepted_audiences: Vec<String>,
    pub federation_key: Option<ConfigKey>,
    pub federation_key_file: Option<PathBuf>,
    pub chain_binding: Option<Choice<ChainBinding>>,
}

/// `[[fanout.peer]]`.
#[derive(Debug, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct RawPeer {
    pub url: Option<String>,
    pub keys: Vec<RawPeerKey>,
}

/// One entry of `fanout.peer.keys`.
#[derive(Debug, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct RawPeerKey {
    pub id: String,
    pub key: Option<ConfigKey>,
    pub key_file: Option<PathBuf>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct RawForwardAuth {
    pub pass_authorization: Option<bool>,
    pub accepted_clients: Vec<String>,
    pub accept_audience_only: bool,
    pub unverified_email: Option<Choice<UnverifiedEmail>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct RawRateLimit {
    pub enabled: Option<bool>,
    pub trusted_proxies: Vec<String>,
    pub login_per_minute: Option<u32>,
    pub login_burst: Option<u32>,
    pub backchannel_per_minute: Option<u32>,
    pub backchannel_burst: Option<u32>,
    pub clear_per_minute: Option<u32>,
    pub clear_burst: Option<u32>,
    pub admin_per_minute: Option<u32>,
    pub admin_burst: Option<u32>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct RawCors {
    pub allowed_origins: Vec<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct RawLogout {
    pub allow_get: Option<bool>,
    pub server_side: Option<Choice<LogoutMode>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct RawAdmin {
    pub token: Option<AdminToken>,
    pub token_file: Option<PathBuf>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct RawLog {
    pub format: Option<Choice<LogFormat>>,
    pub filter: Option<String>,
}

/// An enumerated key as written: one of `T`'s words (its serde names, next to each enum
/// below), or any other text, kept so that [`pick`] reports it together with every other
/// problem instead of the parse stopping at the first unknown word.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Choice<T> {
    Known(T),
    Other(String),
}

/// The value of an enumerated key: `T`'s default when unset; an unknown word is pushed to
/// `p` as `key = "word": fix` (and the default stands, so checking goes on).
fn pick<T: Copy + Default>(c: &Option<Choice<T>>, key: &str, fix: &str, p: &mut Vec<String>) -> T {
    match c {
        None => T::default(),
        Some(Choice::Known(t)) => *t,
        Some(Choice::Other(word)) => {
            p.push(format!("{key} = {word:?}: {fix}"));
            T::default()
        }
    }
}

/// `store.kind`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StoreKind {
    #[default]
    Redis,
    Sentinel,
    Cluster,
    /// One local instance only (the demo): sessions live in the process.
    Memory,
}

/// `logout.server_side` as written: `auto` picks by the issuer ([`ServerSideLogout`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogoutMode {
    #[default]
    Auto,
    Keycloak,
    Revocation,
}

// ---------------------------------------------------------------- validated

/// `oidc.auth_method`: how the client authenticates at the token endpoint.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    #[default]
    ClientSecretBasic,
    ClientSecretPost,
}

/// `cookie.same_site`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SameSite {
    #[default]
    #[serde(alias = "Lax")]
    Lax,
    #[serde(alias = "Strict")]
    Strict,
    #[serde(alias = "None")]
    None,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreSettings {
    Memory,
    Redis {
        url: String,
    },
    Sentinel {
        urls: Vec<String>,
        master_name: String,
    },
    Cluster {
        urls: Vec<String>,
    },
}

/// How `POST /sso/logout` (JSON) ends the OP session without the browser.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerSideLogout {
    /// Keycloak: `POST <end_session_endpoint>` with client credentials and the refresh token.
    Keycloak,
    /// RFC 7009: revoke the refresh token at the revocation endpoint.
    Revocation,
}

/// `log.format`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Json,
    #[serde(alias = "text")]
    Pretty,
}

#[derive(Debug, Clone)]
pub struct ServerSettings {
    pub listen: SocketAddr,
    /// Public base URL of this gateway, e.g. `https://auth.a.com`.
    pub public_url: Url,
    /// Route prefix, `/sso` by default.
    pub prefix: String,
}

/// Default bound of the verified access-token cache (`oidc.verified_token_cache_size`).
pub const DEFAULT_VERIFIED_TOKEN_CACHE_SIZE: usize = 8_000;

#[derive(Debug, Clone)]
pub struct OidcSettings {
    pub client_id: String,
    pub client_secret: ClientSecret,
    pub auth_method: AuthMethod,
    pub scopes: Vec<String>,
    pub pass_params: Vec<String>,
    /// What the token verifier needs (no client credentials): `oidc.issuer` and the other
    /// `[oidc]` keys of [`crate::oidc::TokenVerifier`].
    pub verifier: VerifierSettings,
}

/// The settings of a token verifier ([`crate::oidc::TokenVerifier`]): the gateway's come
/// from `[oidc]`; a resource server states its own.
#[derive(Debug, Clone)]
pub struct VerifierSettings {
    pub issuer: String,
    pub allowed_algs: Vec<String>,
    pub clock_leeway_secs: i64,
    pub jwks_min_refetch_secs: u64,
    /// The key set is fetched again once it is this old; keys the OP no longer publishes
    /// are then dropped (a removed, compromised key stops verifying within this bound).
    pub jwks_max_age_secs: u64,
    /// Bound of the verified access-token cache (entries; 0 turns it off). An entry holds
    /// the token, its claims and its forward-auth headers (about 3.8 KB for a Keycloak
    /// token), valid until the token's `exp` and only under the key set that verified it.
    pub verified_token_cache_size: usize,
    pub http_timeout_secs: u64,
    /// Extra trusted CA certificates (PEM) for calls to the OP and to peers.
    pub extra_roots_pem: Option<Vec<u8>>,
    /// Access tokens must name one of these in `azp` or `client_id` (empty: any client).
    pub accepted_clients: Vec<String>,
    /// Also accept an access token whose only link to an accepted client is `aud`
    /// (Keycloak's audience resolution puts every client the user holds roles of in `aud`,
    /// so this lets tokens issued to other clients in: an explicit opt-in).
    pub accept_audience_only: bool,
}

#[derive(Clone)]
pub struct CookieSettings {
    pub domain: String,
    pub secure: bool,
    pub same_site: SameSite,
    /// First key encrypts; all keys are tried when decrypting (rotation).
    pub keys: Vec<cookie::Key>,
}

impl std::fmt::Debug for CookieSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CookieSettings")
            .field("domain", &self.domain)
            .field("secure", &self.secure)
            .field("same_site", &self.same_site)
            .field("keys", &format_args!("[{} redacted]", self.keys.len()))
            .finish()
    }
}

#[derive(Debug, Clone)]
pub struct SessionSettings {
    pub max_lifetime_secs: i64,
    pub idle_timeout_secs: i64,
    pub refresh_grace_secs: i64,
    pub refresh_lock_secs: u64,
    pub refresh_before_expiry_secs: i64,
    /// How long tombstones live: at least the longest access-token lifetime.
    pub revocation_ttl_secs: i64,
}

/// Liveness of the revocation subscription and periodic resync (`[revocation]`, read as
/// written: every key has its default from [`RevocationSettings::default`]).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RevocationSettings {
    /// Every replica publishes a heartbeat on `sso:revocations` this often.
    pub heartbeat_interval_secs: u64,
    /// No heartbeat received for this long: the subscription is dead (resubscribe, rebuild,
    /// not ready meanwhile).
    pub heartbeat_timeout_secs: u64,
    /// Merge the tombstones from the store into the cache (and write back what the store
    /// lost) this often, even while subscribed.
    pub resync_interval_secs: u64,
    /// A stale cache (no heartbeat within the deadline) makes `/readyz` answer 503. When
    /// false, the replica stays ready and says `degraded`: it still answers correctly (the
    /// hot path reads the tombstones from the store), which keeps the service up when
    /// pub/sub fails for every replica at once.
    pub stale_is_unready: bool,
}

impl Default for RevocationSettings {
    fn default() -> Self {
        Self {
            heartbeat_interval_secs: 5,
            heartbeat_timeout_secs: 15,
            resync_interval_secs: 60,
            stale_is_unready: true,
        }
    }
}

/// What a clearing-chain link is bound to (`fanout.chain_binding`): a hop ends the session
/// the browser presents at that peer only if it belongs to the same OP session (`sid`,
/// for OPs that share one session id across clients, like Keycloak) or at least the same
/// subject (`sub`, for OPs with a session id per client).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChainBinding {
    #[default]
    Sid,
    Sub,
}

/// `[fanout]`. `Debug` redacts the keys ([`FederationKeys`] shows only ids).
#[derive(Debug, Clone)]
pub struct FanoutSettings {
    /// Every peer, with or without keys, in configuration order.
    pub peers: Vec<Url>,
    pub accepted_audiences: Vec<String>,
    /// The keys each peer shares with this gateway.
    pub federation: FederationKeys,
    pub chain_binding: ChainBinding,
}

impl FanoutSettings {
    /// The peers this gateway shares a federation key with: the ones it can sign for.
    pub fn keyed_peers(&self) -> impl Iterator<Item = &Url> {
        let keyed = |u: &&Url| self.federation.signing_kid(u).is_some();
        self.peers.iter().filter(keyed)
    }
}

/// `forward_auth.unverified_email`: `X-Auth-Request-Email` is only ever sent for an
/// `email_verified: true` token; this says what happens to the others.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum UnverifiedEmail {
    /// Allow the request, without `X-Auth-Request-Email`.
    #[default]
    Omit,
    /// Refuse the request (403): the app requires a verified email.
    Deny,
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub server: ServerSettings,
    pub oidc: OidcSettings,
    pub cookie: CookieSettings,
    pub redirect: RedirectPolicy,
    pub session: SessionSettings,
    pub store: StoreSettings,
    pub revocation: RevocationSettings,
    pub fanout: FanoutSettings,
    pub pass_authorization: bool,
    /// What forward-auth does with an email the OP has not verified.
    pub unverified_email: UnverifiedEmail,
    pub cors_allowed_origins: Vec<String>,
    pub logout_allow_get: bool,
    pub logout_server_side: ServerSideLogout,
    pub admin_token: Option<AdminToken>,
    pub log_format: LogFormat,
    pub log_filter: String,
    pub rate_limit: crate::rate_limit::RateLimitSettings,
    /// The pages shown to people (`[ui]`): built-in templates, or the operator's.
    pub pages: std::sync::Arc<crate::ui::Pages>,
}

impl Settings {
    /// Load a TOML file (optional) and `SSO__SECTION__KEY` overrides, then validate.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        Self::load_with_env(file, std::env::vars())
    }

    /// Like [`Settings::load`] with an explicit environment (tests).
    pub fn load_with_env(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, ConfigError> {
        validate(load_raw(file, env)?)
    }

    /// Settings from a TOML string (tests, demo).
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        let raw = config::Config::builder()
            .add_source(config::File::from_str(text, config::FileFormat::Toml))
            .build()
            .and_then(|c| c.try_deserialize::<RawConfig>())
            .map_err(|e| ConfigError::Load(e.to_string()))?;
        validate(raw)
    }

    /// Path prefix plus a route, e.g. `route("/callback")` → `/sso/callback`.
    pub fn route(&self, path: &str) -> String {
        format!("{}{}", self.server.prefix, path)
    }

    /// Absolute public URL of a gateway route.
    pub fn public_route(&self, path: &str) -> String {
        let base = self.server.public_url.as_str().trim_end_matches('/');
        format!("{base}{}", self.route(path))
    }
}

const LIST_KEYS: &[&str] = &[
    "oidc.scopes",
    "oidc.allowed_algs",
    "oidc.pass_params",
    "cookie.keys",
    "redirect.allowed",
    "store.urls",
    "fanout.peers",
    "fanout.accepted_audiences",
    "cors.allowed_origins",
    "forward_auth.accepted_clients",
    "rate_limit.trusted_proxies",
];

fn load_raw(
    file: Option<&Path>,
    env: impl IntoIterator<Item = (String, String)>,
) -> Result<RawConfig, ConfigError> {
    let mut builder = config::Config::builder();
    if let Some(path) = file {
        if !path.exists() {
            return Err(ConfigError::Load(format!(
                "config file {} does not exist; pass an existing TOML file with --config",
                path.display()
            )));
        }
        builder = builder.add_source(config::File::from(path).format(config::FileFormat::Toml));
    }
    let vars: config::Map<String, String> = env
        .into_iter()
        .filter(|(k, _)| k.starts_with("SSO__"))
        .collect();
    let mut environment = config::Environment::with_prefix("SSO")
        .prefix_separator("__")
        .separator("__")
        .try_parsing(true)
        .list_separator(",")
        .source(Some(vars));
    for key in LIST_KEYS {
        environment = environment.with_list_parse_key(key);
    }
    builder
        .add_source(environment)
        .build()
        .and_then(|c| c.try_deserialize::<RawConfig>())
        .map_err(|e| {
            ConfigError::Load(format!(
                "{e} (check spelling against docs/configuration.md; unknown keys are refused)"
            ))
        })
}

/// A secret given inline (`name`) or in a file (`name_file`, trimmed), never both. Neither:
/// `missing` is the problem to report, if the secret is required.
fn secret_or_file<T: Clone>(
    name: &str,
    inline: &Option<T>,
    file: &Option<PathBuf>,
    from_file: impl FnOnce(String) -> T,
    missing: Option<String>,
    p: &mut Vec<String>,
) -> Option<T> {
    let problem = match (inline, file) {
        (Some(_), Some(_)) => format!("{name} and {name}_file are both set: keep one"),
        (Some(v), None) => return Some(v.clone()),
        (None, Some(f)) => match std::fs::read_to_string(f) {
            Ok(s) => return Some(from_file(s.trim().to_string())),
            Err(e) => format!(
                "{name}_file: cannot read {}: {e}; make the file readable by the gateway",
                f.display()
            ),
        },
        (None, None) => missing?,
    };
    p.push(problem);
    None
}

fn parse_url(s: &str, what: &str, problems: &mut Vec<String>) -> Option<Url> {
    let problem = match Url::parse(s) {
        Ok(u) if (u.scheme() == "https" || u.scheme() == "http") && u.host_str().is_some() => {
            return Some(u)
        }
        Ok(_) => "must be an absolute http(s) URL".to_string(),
        Err(e) => format!("not a URL ({e})"),
    };
    problems.push(format!("{what} = {s:?}: {problem}"));
    None
}

const KNOWN_ALGS: &[&str] = &[
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA",
];
const KNOWN_PASS_PARAMS: &[&str] = &[
    "prompt",
    "max_age",
    "ui_locales",
    "login_hint",
    "kc_idp_hint",
];

/// Validate everything at once so the operator sees every problem in one run.
impl RawSession {
    /// `[session]`: its settings, every problem pushed to `p` with how to fix it.
    fn check(&self, p: &mut Vec<String>) -> SessionSettings {
        // Ten years: any longer is a typo, and times past it overflow the clock arithmetic.
        const MAX_SECS: u64 = 315_360_000;
        let mut secs = |v: Option<u64>, default: u64, key: &str| match v {
            Some(v) if v > MAX_SECS => {
                p.push(format!(
                    "session.{key} = {v} is too large: use at most {MAX_SECS} seconds (10 years)"
                ));
                default as i64
            }
            v => v.unwrap_or(default) as i64,
        };
        let session = SessionSettings {
            max_lifetime_secs: secs(self.max_lifetime_secs, 36_000, "max_lifetime_secs"),
            idle_timeout_secs: secs(self.idle_timeout_secs, 1_800, "idle_timeout_secs"),
            refresh_grace_secs: secs(self.refresh_grace_secs, 10, "refresh_grace_secs"),
            refresh_lock_secs: self.refresh_lock_secs.unwrap_or(10),
            refresh_before_expiry_secs: secs(
                self.refresh_before_expiry_secs,
                0,
                "refresh_before_expiry_secs",
            ),
            revocation_ttl_secs: secs(self.revocation_ttl_secs, 3600, "revocation_ttl_secs"),
        };
        if session.max_lifetime_secs < 60 {
            p.push("session.max_lifetime_secs must be at least 60".into());
        }
        if session.idle_timeout_secs < 60 || session.idle_timeout_secs > session.max_lifetime_secs {
            p.push(
                "session.idle_timeout_secs must be between 60 and session.max_lifetime_secs".into(),
            );
        }
        if session.refresh_grace_secs > 60 {
            p.push("session.refresh_grace_secs must be at most 60: a longer window weakens refresh-token reuse detection".into());
        }
        if session.revocation_ttl_secs < 60 {
            p.push("session.revocation_ttl_secs must be at least 60 and at least the longest access-token lifetime of the OP".into());
        }
        if session.refresh_lock_secs == 0 || session.refresh_lock_secs > 120 {
            p.push("session.refresh_lock_secs must be between 1 and 120".into());
        }
        session
    }
}

impl RevocationSettings {
    /// `[revocation]`: its settings, every problem pushed to `p` with how to fix it.
    fn check(self, p: &mut Vec<String>) -> Self {
        if self.heartbeat_interval_secs == 0 || self.heartbeat_interval_secs > 60 {
            p.push("revocation.heartbeat_interval_secs must be between 1 and 60".into());
        }
        if self.heartbeat_timeout_secs < self.heartbeat_interval_secs.saturating_mul(2)
            || self.heartbeat_timeout_secs > 300
        {
            p.push("revocation.heartbeat_timeout_secs must be at least twice revocation.heartbeat_interval_secs and at most 300".into());
        }
        if self.resync_interval_secs == 0 || self.resync_interval_secs > 3600 {
            p.push("revocation.resync_interval_secs must be between 1 and 3600".into());
        }
        self
    }
}

impl RawStore {
    /// `[store]`: its settings, every problem pushed to `p` with how to fix it.
    fn check(self, p: &mut Vec<String>) -> StoreSettings {
        let kind = pick(
            &self.kind,
            "store.kind",
            "use \"redis\", \"sentinel\", \"cluster\" or \"memory\"",
            p,
        );
        match kind {
            StoreKind::Memory => StoreSettings::Memory,
            StoreKind::Redis => {
                let problem = match self.url {
                    Some(url)
                        if url.starts_with("redis://")
                            || url.starts_with("rediss://")
                            || url.starts_with("unix://") =>
                    {
                        return StoreSettings::Redis { url };
                    }
                    Some(u) => format!(
                        "store.url = {u:?}: expected redis://host:port[/db] or rediss://…"
                    ),
                    None => "store.url is missing: set store.url = \"redis://127.0.0.1:6379\" or store.kind = \"memory\" for one local instance".into(),
                };
                p.push(problem);
                StoreSettings::Memory
            }
            StoreKind::Sentinel => {
                if self.urls.is_empty() || self.master_name.is_empty() {
                    p.push("store.kind = \"sentinel\" needs store.urls (the sentinels) and store.master_name".into());
                }
                StoreSettings::Sentinel {
                    urls: self.urls,
                    master_name: self.master_name,
                }
            }
            StoreKind::Cluster => {
                if self.urls.is_empty() {
                    p.push("store.kind = \"cluster\" needs store.urls (seed nodes)".into());
                }
                StoreSettings::Cluster { urls: self.urls }
            }
        }
    }
}

impl RawCors {
    /// `[cors]`: its settings, every problem pushed to `p` with how to fix it.
    fn check(self, p: &mut Vec<String>) -> Vec<String> {
        for o in &self.allowed_origins {
            if !Url::parse(o).is_ok_and(|u| u.origin().ascii_serialization() == *o) {
                p.push(format!("cors.allowed_origins entry {o:?}: must be an exact origin like \"https://app.a.com\" (scheme, host, optional port, no path or trailing slash)"));
            }
        }
        self.allowed_origins
    }
}

impl RawAdmin {
    /// `[admin]`: its settings, every problem pushed to `p` with how to fix it.
    fn check(&self, p: &mut Vec<String>) -> Option<AdminToken> {
        // neither: no admin API
        let admin_token = secret_or_file(
            "admin.token",
            &self.token,
            &self.token_file,
            AdminToken::new,
            None,
            p,
        );
        if admin_token.as_ref().is_some_and(|t| t.secret().len() < 32) {
            p.push("admin.token must be at least 32 characters (`openssl rand -hex 32`)".into());
        }
        admin_token
    }
}

impl RawTls {
    /// `[tls]`: its settings, every problem pushed to `p` with how to fix it.
    fn check(&self, p: &mut Vec<String>) -> Option<Vec<u8>> {
        let f = self.ca_file.as_ref()?;
        let problem = match std::fs::read(f) {
            Ok(pem) if reqwest::Certificate::from_pem_bundle(&pem).is_ok_and(|c| !c.is_empty()) => {
                return Some(pem)
            }
            Ok(_) => format!(
                "tls.ca_file {}: no PEM certificate found; give a PEM bundle of CA certificates",
                f.display()
            ),
            Err(e) => format!("tls.ca_file: cannot read {}: {e}", f.display()),
        };
        p.push(problem);
        None
    }
}

impl RawRateLimit {
    /// `[rate_limit]`: its settings, every problem pushed to `p` with how to fix it.
    fn check(&self, p: &mut Vec<String>) -> crate::rate_limit::RateLimitSettings {
        use crate::rate_limit::{Budget, RateLimitSettings};
        let d = RateLimitSettings::default();
        let r = self;
        let mut trusted_proxies = Vec::new();
        for t in &r.trusted_proxies {
            match t
                .parse()
                .or_else(|_| t.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
            {
                Ok(n) => trusted_proxies.push(n),
                Err(_) => p.push(format!(
                    "rate_limit.trusted_proxies: {t:?} is not an address or CIDR range \
                     (e.g. \"10.0.0.0/8\" or \"127.0.0.1\")"
                )),
            }
        }
        let mut budget = |name: &str, per: Option<u32>, burst: Option<u32>, def: Budget| {
            let b = Budget {
                per_minute: per.unwrap_or(def.per_minute),
                burst: burst.unwrap_or(def.burst),
            };
            if b.per_minute == 0 || b.burst == 0 {
                p.push(format!(
                    "rate_limit.{name}_per_minute and {name}_burst must be > 0 \
                     (turn limits off with rate_limit.enabled = false)"
                ));
            }
            b
        };
        RateLimitSettings {
            enabled: r.enabled.unwrap_or(true),
            login: budget("login", r.login_per_minute, r.login_burst, d.login),
            backchannel: budget(
                "backchannel",
                r.backchannel_per_minute,
                r.backchannel_burst,
                d.backchannel,
            ),
            clear: budget("clear", r.clear_per_minute, r.clear_burst, d.clear),
            admin: budget("admin", r.admin_per_minute, r.admin_burst, d.admin),
            trusted_proxies,
        }
    }
}

impl RawLog {
    /// `[log]`: its settings, every problem pushed to `p` with how to fix it.
    fn check(&self, p: &mut Vec<String>) -> LogFormat {
        pick(&self.format, "log.format", "use \"json\" or \"pretty\"", p)
    }
}

impl RawUi {
    /// `[ui]`: the pages; templates compile now, or the gateway does not start.
    fn check(&self, p: &mut Vec<String>) -> std::sync::Arc<crate::ui::Pages> {
        match &self.template_dir {
            None => crate::ui::Pages::builtin(),
            Some(dir) => crate::ui::Pages::load(dir)
                .map(std::sync::Arc::new)
                .unwrap_or_else(|e| {
                    p.push(format!(
                    "{e}; fix the template (minijinja syntax) or remove it to use the built-in one"
                ));
                    crate::ui::Pages::builtin()
                }),
        }
    }
}

impl RawFanout {
    /// `[fanout]`: peers, their federation keys and the chain binding, every problem pushed
    /// to `p` with how to fix it. `client_id` is always an accepted audience.
    fn check(self, client_id: &str, p: &mut Vec<String>) -> FanoutSettings {
        let mut peers: Vec<Url> = self
            .peers
            .iter()
            .enumerate()
            .filter_map(|(i, peer)| parse_url(peer, &format!("fanout.peers[{i}]"), p))
            .collect();
        let mut accepted_audiences = self.accepted_audiences;
        if !client_id.is_empty() && !accepted_audiences.iter().any(|a| a == client_id) {
            accepted_audiences.push(client_id.to_string());
        }
        let chain_binding = pick(
            &self.chain_binding,
            "fanout.chain_binding",
            "use \"sid\" (the OP shares one session id across clients, like Keycloak) or \"sub\"",
            p,
        );
        if self.federation_key.is_some() || self.federation_key_file.is_some() {
            p.push(
            "fanout.federation_key / federation_key_file (one key shared by every peer) is no longer accepted: \
any peer holding it could forge revocations and chain links for the others. Give each peer pair its own new key \
(every peer knew the old one), on both sides: [[fanout.peer]] url = \"https://auth.b.com\" keys = [{ id = \"ab-1\", key_file = \"/run/secrets/ab-1\" }] \
(docs/configuration.md, [fanout]; docs/operations.md, \"Federation keys\")"
                .into(),
        );
        }
        if !self.peer.is_empty() && !peers.is_empty() {
            p.push("fanout.peers and [[fanout.peer]] are both set: list every peer as [[fanout.peer]] (keys are optional there)".into());
        }
        let mut peer_keys: Vec<PeerKeys> = Vec::new();
        for (i, rp) in self.peer.into_iter().enumerate() {
            let what = format!("fanout.peer[{i}]");
            let Some(u) = rp.url else {
                p.push(format!("{what}.url is missing: set the peer gateway's server.public_url, e.g. \"https://auth.b.com\""));
                continue;
            };
            let Some(u) = parse_url(&u, &format!("{what}.url"), p) else {
                continue;
            };
            if rp.keys.len() > crate::federation::MAX_KEYS_PER_PEER {
                p.push(format!(
                "{what}.keys has {} keys: at most {} (the current one and, during a rotation, one more); remove the retired ones",
                rp.keys.len(),
                crate::federation::MAX_KEYS_PER_PEER
            ));
            }
            let mut keys = Vec::new();
            for (j, rk) in rp.keys.into_iter().enumerate() {
                let kwhat = format!("{what}.keys[{j}]");
                let id = rk.id;
                if !crate::federation::valid_kid(&id) {
                    p.push(format!("{kwhat}.id = {id:?}: set a key id of 1 to 64 letters, digits, '-' or '_', the same on both peers, e.g. \"ab-2026-12\""));
                }
                let text = secret_or_file(
                &format!("{kwhat}.key"),
                &rk.key,
                &rk.key_file,
                ConfigKey::new,
                Some(format!("{kwhat}: set key or key_file (base64 of at least {} random bytes: `openssl rand -base64 32`)", crate::federation::MIN_KEY_BYTES)),
                p,
            );
                let Some(text) = text else { continue };
                match base64::engine::general_purpose::STANDARD.decode(text.secret().trim()) {
                    Ok(b) if b.len() >= crate::federation::MIN_KEY_BYTES => {
                        keys.push(FederationKey::new(id, b));
                    }
                    _ => p.push(format!("{kwhat} (id {id:?}): the key must be base64 of at least {} random bytes (`openssl rand -base64 32`)", crate::federation::MIN_KEY_BYTES)),
                }
            }
            peers.push(u.clone());
            peer_keys.push(PeerKeys { peer: u, keys });
        }
        // Pairwise: a key id, or a key, belongs to one peer only; a peer is listed once.
        for (i, a) in peer_keys.iter().enumerate() {
            for b in &peer_keys[i + 1..] {
                if crate::federation::origin(&a.peer) == crate::federation::origin(&b.peer) {
                    p.push(format!(
                    "fanout.peer: {} is listed twice: keep one entry per peer, with all its keys",
                    crate::federation::origin(&a.peer)
                ));
                }
            }
        }
        let all: Vec<(&Url, &FederationKey)> = peer_keys
            .iter()
            .flat_map(|pk| pk.keys.iter().map(move |k| (&pk.peer, k)))
            .collect();
        for (i, (pa, a)) in all.iter().enumerate() {
            for (pb, b) in &all[i + 1..] {
                if a.id == b.id {
                    p.push(format!(
                    "fanout.peer: key id {:?} is used twice ({} and {}): every key id must be unique across all peers, so the receiver knows who signed",
                    a.id,
                    crate::federation::origin(pa),
                    crate::federation::origin(pb)
                ));
                } else if a.same_secret(b) {
                    p.push(format!(
                    "fanout.peer: keys {:?} and {:?} hold the same secret: generate a separate key per peer (`openssl rand -base64 32`)",
                    a.id, b.id
                ));
                }
            }
        }
        let federation = FederationKeys::new(peer_keys);
        FanoutSettings {
            peers,
            accepted_audiences,
            federation,
            chain_binding,
        }
    }
}

impl RawCookie {
    /// `[cookie]`: domain, flags and keys, every problem pushed to `p` with how to fix it.
    /// The domain must cover `public_url`'s host.
    fn check(&self, public_url: Option<&Url>, p: &mut Vec<String>) -> CookieSettings {
        let domain = self.domain.trim_start_matches('.').to_ascii_lowercase();
        if domain.is_empty() {
            p.push(
                "cookie.domain is missing: set the root domain shared by your apps, e.g. \"a.com\""
                    .into(),
            );
        } else if domain.contains(|c: char| !c.is_ascii_alphanumeric() && c != '.' && c != '-')
            || domain.ends_with('.')
        {
            p.push(format!(
                "cookie.domain = {domain:?}: must be a plain host name like \"a.com\""
            ));
        }
        if let (Some(u), false) = (public_url, domain.is_empty()) {
            let host = u.host_str().unwrap_or("");
            if host != domain && !host.ends_with(&format!(".{domain}")) {
                p.push(format!("cookie.domain = {domain:?} does not cover server.public_url host {host:?}: the gateway must live under the cookie domain"));
            }
        }
        let secure = self.secure.unwrap_or(true);
        let same_site = pick(
            &self.same_site,
            "cookie.same_site",
            "use \"lax\", \"strict\" or \"none\"",
            p,
        );
        if same_site == SameSite::None && !secure {
            p.push("cookie.same_site = \"none\" requires cookie.secure = true".into());
        }
        let key_texts: Vec<ConfigKey> = secret_or_file(
        "cookie.keys",
        &self.keys,
        &self.keys_file,
        |s| {
            s.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(ConfigKey::new)
                .collect()
        },
        Some("cookie.keys is missing: generate one with `openssl rand -base64 64` and set cookie.keys = [\"<key>\"] (or cookie.keys_file)".into()),
        p,
    )
    .unwrap_or_default();
        let mut keys = Vec::new();
        for (i, k) in key_texts.iter().map(ConfigKey::secret).enumerate() {
            match base64::engine::general_purpose::STANDARD.decode(k.trim()) {
            Ok(bytes) if bytes.len() >= 64 => keys.push(cookie::Key::from(&bytes[..64])),
            _ if k.chars().any(char::is_whitespace) => p.push(format!("cookie.keys[{i}] contains whitespace or a line break: generate keys with `openssl rand -base64 64 | tr -d '\\n'`")),
            Ok(bytes) => p.push(format!("cookie.keys[{i}] decodes to {} bytes; at least 64 random bytes are needed (`openssl rand -base64 64`)", bytes.len())),
            Err(_) => p.push(format!("cookie.keys[{i}] is not valid base64; generate one with `openssl rand -base64 64`")),
        }
        }
        if key_texts.is_empty() && (self.keys.is_some() || self.keys_file.is_some()) {
            p.push("cookie.keys is empty: add at least one key".into());
        }
        CookieSettings {
            domain,
            secure,
            same_site,
            keys,
        }
    }
}

impl RawRedirect {
    /// `[redirect]`: the `rd` policy. `domain` (the cookie domain) names the example in the
    /// missing-list message; with `secure` cookies only https targets pass unless
    /// `allow_http`.
    fn check(&self, domain: &str, secure: bool, p: &mut Vec<String>) -> Option<RedirectPolicy> {
        if self.allowed.is_empty() {
            let d = if domain.is_empty() { "a.com" } else { domain };
            p.push(format!("redirect.allowed is missing: list the hosts the gateway may send users back to, e.g. [\"{d}\", \"*.{d}\"]"));
        }
        // Secure cookies cannot be used by an http page: its targets are https only, unless
        // the operator opts in (`redirect.allow_http = true`, e.g. for *.localhost
        // development).
        let allow_http = !secure || self.allow_http;
        RedirectPolicy::new(&self.allowed)
            .map(|r| r.with_http(allow_http))
            .map_err(|e| p.push(e.to_string()))
            .ok()
    }
}

impl RawLogout {
    /// `[logout]`: how the OP session ends server-side; `auto` picks Keycloak's endpoint
    /// for a Keycloak `issuer`.
    fn check(&self, issuer: &str, p: &mut Vec<String>) -> ServerSideLogout {
        let fix = "use \"auto\", \"keycloak\" or \"revocation\"";
        match pick(&self.server_side, "logout.server_side", fix, p) {
            // Keycloak issuers look like https://kc/realms/<realm>
            LogoutMode::Auto if issuer.contains("/realms/") => ServerSideLogout::Keycloak,
            LogoutMode::Auto | LogoutMode::Revocation => ServerSideLogout::Revocation,
            LogoutMode::Keycloak => ServerSideLogout::Keycloak,
        }
    }
}

impl RawServer {
    /// `[server]`: the listen address and public URL (`None` when unusable, the problem
    /// pushed to `p` with how to fix it) and the route prefix.
    fn check(&self, p: &mut Vec<String>) -> (Option<SocketAddr>, Option<Url>, String) {
        let listen = self.listen.as_deref().unwrap_or("127.0.0.1:8080");
        let listen = listen.parse::<SocketAddr>().map_err(|_| {
            p.push(format!(
                "server.listen = {listen:?}: expected host:port such as \"0.0.0.0:8080\""
            ))
        });
        let public_url = match self.public_url.as_deref() {
            Some(s) => parse_url(s, "server.public_url", p),
            None => {
                p.push("server.public_url is missing: set the gateway's public base URL, e.g. \"https://auth.a.com\"".into());
                None
            }
        };
        if public_url
            .as_ref()
            .is_some_and(|u| u.path() != "/" || u.query().is_some())
        {
            p.push("server.public_url must have no path or query; use server.prefix for the route prefix".into());
        }
        let prefix = self.prefix.clone().unwrap_or_else(|| "/sso".into());
        if !prefix.starts_with('/') || prefix.ends_with('/') || prefix.contains("//") {
            p.push(format!(
                "server.prefix = {prefix:?}: must start with '/' and not end with '/', e.g. \"/sso\""
            ));
        }
        (listen.ok(), public_url, prefix)
    }
}

impl RawOidc {
    /// `[oidc]`, with the clients `[forward_auth]` accepts tokens of (the verifier's
    /// settings); `None` without a usable client secret. Every problem goes to `p` with how
    /// to fix it.
    fn check(
        &self,
        forward_auth: &RawForwardAuth,
        extra_roots_pem: Option<Vec<u8>>,
        p: &mut Vec<String>,
    ) -> Option<OidcSettings> {
        let issuer = self.issuer.clone();
        if issuer.is_empty() {
            p.push("oidc.issuer is missing: set the OP issuer, e.g. \"https://kc.example.com/realms/demo\"".into());
        } else {
            parse_url(&issuer, "oidc.issuer", p);
        }
        let client_id = self.client_id.clone();
        if client_id.is_empty() {
            p.push("oidc.client_id is missing: set the client id registered at the OP".into());
        }
        let secret = secret_or_file(
            "oidc.client_secret",
            &self.client_secret,
            &self.client_secret_file,
            ClientSecret::new,
            Some("oidc.client_secret is missing: set oidc.client_secret or oidc.client_secret_file (or SSO__OIDC__CLIENT_SECRET)".into()),
            p,
        );
        if secret.as_ref().is_some_and(|s| s.secret().is_empty()) {
            p.push("oidc.client_secret is empty".into());
        }
        let auth_method = pick(
            &self.auth_method,
            "oidc.auth_method",
            "use \"client_secret_basic\" or \"client_secret_post\" (as registered at the OP)",
            p,
        );
        let mut scopes = self
            .scopes
            .clone()
            .unwrap_or_else(|| vec!["openid".into(), "profile".into(), "email".into()]);
        if !scopes.iter().any(|s| s == "openid") {
            scopes.insert(0, "openid".into()); // OIDC Core §3.1.2.1: openid is required
        }
        for s in &scopes {
            if s.is_empty() || s.contains(|c: char| c.is_whitespace() || c == '"' || c == '\\') {
                p.push(format!(
                    "oidc.scopes entry {s:?}: scopes are single tokens without spaces or quotes"
                ));
            }
        }
        let allowed_algs = self
            .allowed_algs
            .clone()
            .unwrap_or_else(|| vec!["RS256".into(), "PS256".into(), "ES256".into()]);
        for a in &allowed_algs {
            if !KNOWN_ALGS.contains(&a.as_str()) {
                p.push(format!(
                    "oidc.allowed_algs entry {a:?}: only asymmetric algorithms are accepted ({})",
                    KNOWN_ALGS.join(", ")
                ));
            }
        }
        if allowed_algs.is_empty() {
            p.push("oidc.allowed_algs is empty: list at least \"RS256\"".into());
        }
        let pass_params = self
            .pass_params
            .clone()
            .unwrap_or_else(|| KNOWN_PASS_PARAMS.iter().map(|s| s.to_string()).collect());
        for a in &pass_params {
            if !KNOWN_PASS_PARAMS.contains(&a.as_str()) {
                p.push(format!(
                    "oidc.pass_params entry {a:?}: supported are {}",
                    KNOWN_PASS_PARAMS.join(", ")
                ));
            }
        }
        let leeway = self.clock_leeway_secs.unwrap_or(30);
        if leeway > 60 {
            p.push(format!(
                "oidc.clock_leeway_secs = {leeway}: at most 60 seconds are allowed"
            ));
        }
        let jwks_max_age_secs = self.jwks_max_age_secs.unwrap_or(300);
        if jwks_max_age_secs == 0 {
            p.push("oidc.jwks_max_age_secs = 0: use a number of seconds > 0 (default 300)".into());
        }
        // [forward_auth]: the gateway's own client first, then the listed ones
        let mut accepted_clients = vec![client_id.clone()];
        for c in &forward_auth.accepted_clients {
            if !accepted_clients.contains(c) {
                accepted_clients.push(c.clone());
            }
        }
        Some(OidcSettings {
            client_id,
            client_secret: secret?,
            auth_method,
            scopes,
            pass_params,
            verifier: VerifierSettings {
                issuer,
                allowed_algs,
                clock_leeway_secs: leeway as i64,
                jwks_min_refetch_secs: self.jwks_min_refetch_secs.unwrap_or(10),
                jwks_max_age_secs,
                verified_token_cache_size: self
                    .verified_token_cache_size
                    .unwrap_or(DEFAULT_VERIFIED_TOKEN_CACHE_SIZE),
                http_timeout_secs: self.http_timeout_secs.unwrap_or(10),
                extra_roots_pem,
                accepted_clients,
                accept_audience_only: forward_auth.accept_audience_only,
            },
        })
    }
}

impl RawForwardAuth {
    /// `[forward_auth]`: what happens to an email the OP has not verified (the accepted
    /// clients are the verifier's, [`RawOidc::check`]).
    fn check(&self, p: &mut Vec<String>) -> UnverifiedEmail {
        pick(
            &self.unverified_email,
            "forward_auth.unverified_email",
            "use \"omit\" (no X-Auth-Request-Email unless email_verified is true) or \"deny\" \
             (403 unless email_verified is true)",
            p,
        )
    }
}

pub fn validate(raw: RawConfig) -> Result<Settings, ConfigError> {
    let mut p: Vec<String> = Vec::new();
    let (listen, public_url, prefix) = raw.server.check(&mut p);
    let extra_roots_pem = raw.tls.check(&mut p);
    let oidc = raw.oidc.check(&raw.forward_auth, extra_roots_pem, &mut p);
    let cookie = raw.cookie.check(public_url.as_ref(), &mut p);
    let redirect = raw.redirect.check(&cookie.domain, cookie.secure, &mut p);
    let session = raw.session.check(&mut p);
    let revocation = raw.revocation.check(&mut p);
    let store = raw.store.check(&mut p);
    let fanout = raw.fanout.check(&raw.oidc.client_id, &mut p);
    let cors_allowed_origins = raw.cors.check(&mut p);
    let admin_token = raw.admin.check(&mut p);
    let logout_server_side = raw.logout.check(&raw.oidc.issuer, &mut p);
    let unverified_email = raw.forward_auth.check(&mut p);
    let rate_limit = raw.rate_limit.check(&mut p);
    let log_format = raw.log.check(&mut p);
    // templates compile now, or the gateway does not start
    let pages = raw.ui.check(&mut p);
    if !p.is_empty() {
        return Err(ConfigError::Invalid(p));
    }
    let (Some(listen), Some(public_url), Some(oidc), Some(redirect)) =
        (listen, public_url, oidc, redirect)
    else {
        return Err(ConfigError::Invalid(
            vec!["incomplete configuration".into()],
        ));
    };
    Ok(Settings {
        server: ServerSettings {
            listen,
            public_url,
            prefix,
        },
        oidc,
        cookie,
        redirect,
        session,
        store,
        revocation,
        fanout,
        pass_authorization: raw.forward_auth.pass_authorization.unwrap_or(true),
        unverified_email,
        cors_allowed_origins,
        logout_allow_get: raw.logout.allow_get.unwrap_or(true),
        logout_server_side,
        admin_token,
        log_format,
        log_filter: raw.log.filter.unwrap_or_else(|| "info".into()),
        rate_limit,
        pages,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    /// Every key the config parser accepts is documented in docs/configuration.md, in its
    /// section (a `## [name]` or `### [name]` heading), as `` `key` ``. The field lists
    /// come from the structs' own `Deserialize` impls (serde-aux introspection), so a new
    /// key without a line in the docs fails here.
    #[test]
    fn every_config_key_is_documented() {
        use serde_aux::serde_introspection::serde_introspect;
        let doc = include_str!("../../../docs/configuration.md");
        let section = |name: &str| -> &str {
            let start = doc
                .find(&format!("## `[{name}]`"))
                .unwrap_or_else(|| panic!("docs/configuration.md has no `[{name}]` section"));
            let body = &doc[start..];
            let rest = &body[4..];
            let end = rest
                .find("\n## ")
                .into_iter()
                .chain(rest.find("\n### "))
                .min();
            &body[..end.map_or(body.len(), |e| e + 4)]
        };
        let sections: Vec<(&str, &[&str])> = vec![
            ("server", serde_introspect::<RawServer>()),
            ("oidc", serde_introspect::<RawOidc>()),
            ("cookie", serde_introspect::<RawCookie>()),
            ("redirect", serde_introspect::<RawRedirect>()),
            ("session", serde_introspect::<RawSession>()),
            ("store", serde_introspect::<RawStore>()),
            ("revocation", serde_introspect::<RevocationSettings>()),
            ("fanout", serde_introspect::<RawFanout>()),
            ("fanout", serde_introspect::<RawPeer>()),
            ("fanout", serde_introspect::<RawPeerKey>()),
            ("forward_auth", serde_introspect::<RawForwardAuth>()),
            ("cors", serde_introspect::<RawCors>()),
            ("logout", serde_introspect::<RawLogout>()),
            ("admin", serde_introspect::<RawAdmin>()),
            ("log", serde_introspect::<RawLog>()),
            ("rate_limit", serde_introspect::<RawRateLimit>()),
            ("tls", serde_introspect::<RawTls>()),
            ("ui", serde_introspect::<RawUi>()),
        ];
        let top = serde_introspect::<RawConfig>();
        let mut missing = Vec::new();
        for t in top {
            if !sections.iter().any(|(n, _)| n == t) {
                missing.push(format!("[{t}]: no field list in this test"));
            }
        }
        for (name, fields) in &sections {
            let text = section(name);
            for f in *fields {
                let documented =
                    text.contains(&format!("`{f}`")) || text.contains(&format!("`peer.{f}`"));
                if !documented {
                    missing.push(format!("[{name}] {f}"));
                }
            }
        }
        assert!(
            missing.is_empty(),
            "keys missing from docs/configuration.md: {missing:?}"
        );
    }

    const KEY: &str = "Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4";

    fn good() -> String {
        format!(
            r#"
[server]
listen = "127.0.0.1:8080"
public_url = "https://auth.a.com"
[oidc]
issuer = "https://kc.example.com/realms/demo"
client_id = "gw-a"
client_secret = "s3cret"
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

    #[test]
    fn minimal_config_validates_with_defaults() {
        let s = Settings::from_toml(&good()).unwrap();
        assert_eq!(s.cookie.domain, "a.com");
        assert!(s.cookie.secure);
        assert_eq!(s.oidc.scopes[0], "openid");
        assert_eq!(s.route("/login"), "/sso/login");
        assert_eq!(
            s.public_route("/callback"),
            "https://auth.a.com/sso/callback"
        );
        assert!(!format!("{s:?}").contains("s3cret"));
    }

    #[test]
    fn unknown_key_is_an_error() {
        let text = good().replace("[store]", "[store]\nkindd = \"x\"");
        let e = Settings::from_toml(&text).unwrap_err().to_string();
        assert!(e.contains("kindd"), "{e}");
    }

    #[test]
    fn env_overrides_file_and_unknown_env_fails() {
        let dir = std::env::temp_dir().join(format!("sso-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("c.toml");
        std::fs::write(&f, good()).unwrap();
        let s = Settings::load_with_env(
            Some(&f),
            vec![
                ("SSO__OIDC__CLIENT_ID".into(), "gw-z".into()),
                ("SSO__REDIRECT__ALLOWED".into(), "z.com,*.z.com".into()),
                ("SSO__COOKIE__SECURE".into(), "false".into()),
            ],
        );
        // cookie domain a.com still covers the public url, redirect changed
        let s = s.unwrap();
        assert_eq!(s.oidc.client_id, "gw-z");
        assert!(!s.cookie.secure);
        assert!(s.redirect.check("https://x.z.com/").is_ok());
        let e = Settings::load_with_env(Some(&f), vec![("SSO__OIDC__TYPO".into(), "1".into())])
            .unwrap_err();
        assert!(e.to_string().contains("typo"), "{e}");
    }

    /// The enumerated keys are serde enums, yet an unknown word in one section does not stop
    /// the parse: every one is reported at once with its fix, and the words (with their
    /// aliases) arrive from the file and from the environment alike.
    #[test]
    fn enumerated_keys_report_every_unknown_word_and_accept_their_aliases() {
        let bad = format!(
            "{}[log]\nformat = \"xml\"\n[logout]\nserver_side = \"ping\"\n[forward_auth]\nunverified_email = \"maybe\"\n[fanout]\nchain_binding = \"jti\"\n",
            good()
                .replace("kind = \"memory\"", "kind = \"etcd\"")
                .replace("[cookie]\n", "[cookie]\nsame_site = \"lox\"\n")
                .replace("[oidc]\n", "[oidc]\nauth_method = \"private_key_jwt\"\n")
        );
        let e = Settings::from_toml(&bad).unwrap_err().to_string();
        assert_mentions(
            &e,
            &[
                "store.kind = \"etcd\": use \"redis\"",
                "cookie.same_site = \"lox\": use \"lax\"",
                "oidc.auth_method = \"private_key_jwt\": use \"client_secret_basic\"",
                "log.format = \"xml\": use \"json\" or \"pretty\"",
                "logout.server_side = \"ping\": use \"auto\"",
                "forward_auth.unverified_email = \"maybe\": use \"omit\"",
                "fanout.chain_binding = \"jti\": use \"sid\"",
            ],
        );
        let ok = format!(
            "{}[log]\nformat = \"text\"\n[logout]\nserver_side = \"revocation\"\n",
            good()
                .replace("[cookie]\n", "[cookie]\nsame_site = \"Strict\"\n")
                .replace("[oidc]\n", "[oidc]\nauth_method = \"client_secret_post\"\n")
        );
        let s = Settings::from_toml(&ok).unwrap();
        assert_eq!(s.log_format, LogFormat::Pretty);
        assert_eq!(s.cookie.same_site, SameSite::Strict);
        assert_eq!(s.oidc.auth_method, AuthMethod::ClientSecretPost);
        assert_eq!(s.logout_server_side, ServerSideLogout::Revocation);
        assert_eq!(s.unverified_email, UnverifiedEmail::Omit);
        assert_eq!(s.fanout.chain_binding, ChainBinding::Sid);
        let dir = std::env::temp_dir().join(format!("sso-cfg-enum-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("c.toml");
        std::fs::write(&f, good()).unwrap();
        let s = Settings::load_with_env(
            Some(&f),
            vec![
                ("SSO__STORE__KIND".into(), "memory".into()),
                ("SSO__FORWARD_AUTH__UNVERIFIED_EMAIL".into(), "deny".into()),
                ("SSO__FANOUT__CHAIN_BINDING".into(), "sub".into()),
            ],
        )
        .unwrap();
        assert_eq!(s.unverified_email, UnverifiedEmail::Deny);
        assert_eq!(s.fanout.chain_binding, ChainBinding::Sub);
        let e = Settings::load_with_env(Some(&f), vec![("SSO__LOG__FORMAT".into(), "yaml".into())])
            .unwrap_err();
        assert!(e.to_string().contains("log.format = \"yaml\""), "{e}");
    }

    #[test]
    fn secrets_from_files() {
        let dir = std::env::temp_dir().join(format!("sso-cfg-f-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("secret"), "from-file\n").unwrap();
        let text = good().replace(
            "client_secret = \"s3cret\"",
            &format!("client_secret_file = {:?}", dir.join("secret")),
        );
        let s = Settings::from_toml(&text).unwrap();
        assert_eq!(s.oidc.client_secret.secret(), "from-file");
    }

    #[test]
    fn every_problem_is_reported_with_a_fix() {
        let e =
            Settings::from_toml("[cookie]\nkeys = [\"short\"]\n[oidc]\nallowed_algs=[\"HS256\"]")
                .unwrap_err()
                .to_string();
        assert_mentions(
            &e,
            &[
                "server.public_url is missing",
                "oidc.issuer is missing",
                "oidc.client_id is missing",
                "cookie.keys[0]",
                "HS256",
                "redirect.allowed is missing",
            ],
        );
    }

    /// Hostile or mistyped numbers are problems with a fix, never a panic or an overflow of
    /// the clock arithmetic later (`now + max_lifetime_secs`).
    /// Every needle is in the error text `e`.
    fn assert_mentions(e: &str, needles: &[&str]) {
        for needle in needles {
            assert!(e.contains(needle), "missing {needle:?} in {e}");
        }
    }

    #[test]
    fn huge_numbers_are_refused_with_their_key() {
        let e = Settings::from_toml(&format!(
            "{}[session]\nmax_lifetime_secs = 9223372036854775807\n\
             refresh_before_expiry_secs = 4000000000000000000\n\
             [revocation]\nheartbeat_interval_secs = 9223372036854775807\n",
            good()
        ))
        .unwrap_err()
        .to_string();
        assert_mentions(
            &e,
            &[
                "session.max_lifetime_secs = 9223372036854775807 is too large",
                "session.refresh_before_expiry_secs = 4000000000000000000 is too large",
                "revocation.heartbeat_interval_secs must be between 1 and 60",
                "revocation.heartbeat_timeout_secs must be at least twice",
            ],
        );
    }

    #[test]
    fn server_side_logout_follows_the_issuer() {
        let s = Settings::from_toml(&good()).unwrap();
        assert_eq!(
            s.logout_server_side,
            ServerSideLogout::Keycloak,
            "a /realms/ issuer is Keycloak"
        );
        let other = good().replace(
            "https://kc.example.com/realms/demo",
            "https://op.example.com",
        );
        let s = Settings::from_toml(&other).unwrap();
        assert_eq!(s.logout_server_side, ServerSideLogout::Revocation);
        let forced = format!("{other}\n[logout]\nserver_side = \"keycloak\"\n");
        assert_eq!(
            Settings::from_toml(&forced).unwrap().logout_server_side,
            ServerSideLogout::Keycloak
        );
        let bad = format!("{other}\n[logout]\nserver_side = \"maybe\"\n");
        assert!(Settings::from_toml(&bad)
            .unwrap_err()
            .to_string()
            .contains("logout.server_side"));
    }

    #[test]
    fn openid_scope_is_always_requested() {
        let text = good().replace(
            "client_id = \"gw-a\"",
            "client_id = \"gw-a\"\nscopes = [\"profile\", \"roles\"]",
        );
        let s = Settings::from_toml(&text).unwrap();
        assert_eq!(s.oidc.scopes, vec!["openid", "profile", "roles"]);
    }

    const FK1: &str = "MTExMTExMTExMTExMTExMTExMTExMTExMTExMTExMTE=";
    const FK2: &str = "MjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjIyMjI=";

    #[test]
    fn per_peer_federation_keys() {
        let text = format!(
            "{}\n[[fanout.peer]]\nurl = \"https://auth.b.com\"\nkeys = [{{ id = \"ab-2\", key = \"{FK1}\" }}, {{ id = \"ab-1\", key = \"{FK2}\" }}]\n[[fanout.peer]]\nurl = \"https://auth.c.com\"\n",
            good()
        );
        let s = Settings::from_toml(&text).unwrap();
        let f = &s.fanout.federation;
        assert_eq!(s.fanout.peers.len(), 2);
        assert_eq!(f.signing_kid(&s.fanout.peers[0]), Some("ab-2"));
        assert_eq!(
            f.signing_kid(&s.fanout.peers[1]),
            None,
            "a peer without keys"
        );
        assert_eq!(f.kids().collect::<Vec<_>>(), ["ab-2", "ab-1"]);
        let dbg = format!("{s:?}");
        assert!(!dbg.contains(FK1) && !dbg.contains("49, 49"), "{dbg}");
        // the URL-list form still lists peers without keys
        let text = format!("{}\n[fanout]\npeers = [\"https://auth.b.com\"]\n", good());
        let s = Settings::from_toml(&text).unwrap();
        assert_eq!(s.fanout.peers.len(), 1);
        assert!(s.fanout.federation.is_empty());
    }

    #[test]
    fn federation_key_problems_are_reported_together_with_a_fix() {
        let text = format!(
            "{}\n[fanout]\nfederation_key = \"{FK1}\"\npeers = [\"https://auth.x.com\"]\n\
[[fanout.peer]]\nurl = \"https://auth.b.com\"\nkeys = [{{ id = \"dup\", key = \"{FK1}\" }}, {{ id = \"bad.id\", key = \"c2hvcnQ=\" }}, {{ id = \"k3\", key = \"{FK2}\" }}]\n\
[[fanout.peer]]\nurl = \"https://auth.c.com\"\nkeys = [{{ id = \"dup\", key = \"{FK2}\" }}]\n\
[[fanout.peer]]\nurl = \"https://auth.c.com/sso\"\nkeys = [{{ id = \"c2\", key = \"{FK1}\", key_file = \"/x\" }}, {{ id = \"c3\" }}]\n\
[[fanout.peer]]\nkeys = []\n",
            good()
        );
        let e = Settings::from_toml(&text).unwrap_err().to_string();
        assert_mentions(&e, &[
            "fanout.federation_key / federation_key_file (one key shared by every peer) is no longer accepted",
            "fanout.peers and [[fanout.peer]] are both set",
            "fanout.peer[0].keys has 3 keys: at most 2",
            "fanout.peer[0].keys[1].id = \"bad.id\"",
            "fanout.peer[0].keys[1] (id \"bad.id\"): the key must be base64 of at least 32",
            "key id \"dup\" is used twice (https://auth.b.com and https://auth.c.com)",
            "keys \"k3\" and \"dup\" hold the same secret",
            "https://auth.c.com is listed twice",
            "fanout.peer[2].keys[0].key and fanout.peer[2].keys[0].key_file are both set",
            "fanout.peer[2].keys[1]: set key or key_file",
            "fanout.peer[3].url is missing",
        ]);
    }

    #[test]
    fn leeway_capped_at_60() {
        let text = good().replace(
            "client_id = \"gw-a\"",
            "client_id = \"gw-a\"\nclock_leeway_secs = 300",
        );
        assert!(Settings::from_toml(&text)
            .unwrap_err()
            .to_string()
            .contains("at most 60"));
    }
}
