//! OpenID Connect client: discovery, JWKS cache, code exchange, refresh, token validation.

pub mod backoff;
pub mod jwt;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock as SyncRwLock};
use std::time::{Duration, Instant};

use josekit::jwk::Jwk;
use oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse,
    BasicTokenType,
};
use oauth2::{
    AuthType, AuthorizationCode, EndpointNotSet, EndpointSet, ExtraTokenFields, PkceCodeVerifier,
    RedirectUrl, RequestTokenError, RevocationUrl, StandardRevocableToken, StandardTokenResponse,
    TokenResponse, TokenUrl,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::{Mutex, RwLock};
use url::Url;

use crate::config::{AuthMethod, OidcSettings, VerifierSettings};
use crate::metrics::{op_timer, OpCall};
use crate::secret::{AccessToken, IdToken, RefreshToken};
use crate::util::now;
pub use jwt::{JwtError, KeySet, VerifiedJwt};

#[derive(Debug, Clone, thiserror::Error)]
pub enum OidcError {
    /// The OP could not be reached (connect error, timeout).
    #[error("the identity provider is unreachable: {0}")]
    Unavailable(String),
    /// The OP answered something that is not a valid protocol response.
    #[error("the identity provider sent an invalid response: {0}")]
    BadResponse(String),
    /// RFC 6749 §5.2 `invalid_grant`: the code or refresh token is invalid, expired, used or revoked.
    #[error("the grant was refused by the identity provider: {0}")]
    InvalidGrant(String),
    /// Any other OAuth error from the token endpoint (e.g. `invalid_client`: our configuration).
    #[error("the identity provider refused the request: {0}")]
    Refused(String),
}

/// OIDC Discovery 1.0 §3 metadata (the fields we use).
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct ProviderMetadata {
    pub issuer: String,
    pub authorization_endpoint: Url,
    pub token_endpoint: Url,
    pub jwks_uri: Url,
    pub end_session_endpoint: Option<Url>,
    pub revocation_endpoint: Option<Url>,
    #[serde(default)]
    pub authorization_response_iss_parameter_supported: bool,
    #[serde(default)]
    pub code_challenge_methods_supported: Vec<String>,
    #[serde(default)]
    pub id_token_signing_alg_values_supported: Vec<String>,
}

/// Extra fields of an OIDC token response (OIDC Core §3.1.3.3) and Keycloak's extensions.
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct OidcExtra {
    pub id_token: Option<String>,
    pub refresh_expires_in: Option<i64>,
}
impl ExtraTokenFields for OidcExtra {}

type OidcTokenResponse = StandardTokenResponse<OidcExtra, BasicTokenType>;
type OAuthClient = oauth2::Client<
    BasicErrorResponse,
    OidcTokenResponse,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

/// Tokens from a token-endpoint response.
#[derive(Debug, Clone)]
pub struct TokenSet {
    pub access_token: AccessToken,
    pub refresh_token: Option<RefreshToken>,
    pub id_token: Option<IdToken>,
    pub expires_in: Option<i64>,
    pub refresh_expires_in: Option<i64>,
}

/// Claims of a validated ID token that the gateway keeps.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdClaims {
    pub iss: String,
    pub sub: String,
    pub sid: Option<String>,
    pub exp: i64,
    pub auth_time: Option<i64>,
    pub preferred_username: Option<String>,
    pub email: Option<String>,
    pub name: Option<String>,
}

/// Why an ID token was refused (OIDC Core §3.1.3.7).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum IdTokenError {
    #[error("ID token signature: {0}")]
    Jwt(#[from] JwtError),
    #[error("ID token issuer does not match the configured issuer")]
    Issuer,
    #[error("ID token audience does not contain this client")]
    Audience,
    #[error("ID token authorized party (azp) is not this client")]
    AuthorizedParty,
    #[error("ID token has expired")]
    Expired,
    #[error("ID token was issued in the future")]
    IssuedInFuture,
    #[error("ID token nonce does not match this login")]
    Nonce,
    #[error("ID token lacks a required claim, or it is out of range: {0}")]
    MissingClaim(&'static str),
    #[error("the authentication is older than max_age allows")]
    AuthTooOld,
    #[error("the token response carried no ID token")]
    NoIdToken,
}

#[derive(Default)]
struct JwksState {
    /// The published keys with their verifiers, built once per fetch.
    keys: Arc<KeySet>,
    /// When the OP last answered with a key set.
    fetched_at: Option<Instant>,
    /// When a fetch was last tried (failed tries included), for the refetch rate limit.
    tried_at: Option<Instant>,
}

struct Discovered {
    meta: Arc<ProviderMetadata>,
    fetched_at: Instant,
}

/// Verifies the OP's JWTs (access tokens, ID tokens' and logout tokens' signatures) with
/// the published keys: discovery, the JWKS with its refetch rules, the verified-token
/// cache. It holds no client credentials: a resource server uses it alone, the gateway's
/// [`OidcClient`] through its own.
pub struct TokenVerifier {
    settings: VerifierSettings,
    http: reqwest::Client,
    discovered: RwLock<Option<Discovered>>,
    discovery_gate: Mutex<()>,
    /// Issue 8: failed discovery/JWKS fetches back off (see `backoff.rs`).
    fetch_backoff: backoff::FetchBackoff,
    /// The same for the JWKS endpoint.
    jwks_backoff: backoff::FetchBackoff,
    /// Never held across an await.
    jwks: SyncRwLock<JwksState>,
    jwks_gate: Mutex<()>,
    /// Access tokens whose signature and claims checked out, keyed by the token itself
    /// (a hit compares every byte; hashing it with SHA-256 cost more than the rest of the
    /// cache lookup, see `docs/benchmarks.md`). The key is a view into the claims'
    /// `Bearer <token>` buffer, so the token is held once. `None` when
    /// `oidc.verified_token_cache_size` is 0.
    verified: Option<quick_cache::sync::Cache<bytes::Bytes, CachedAccess>>,
    verified_hits: AtomicU64,
    verified_misses: AtomicU64,
}

/// A verified access token: good until its `exp`, and only under the key set it was
/// verified with (any change of the published keys drops it).
#[derive(Clone)]
struct CachedAccess {
    claims: Arc<AccessClaims>,
    generation: u64,
}

/// Hits, misses and entries of the verified-token cache (for `/metrics` and the benchmark).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct VerifiedCacheStats {
    pub hits: u64,
    pub misses: u64,
    pub entries: u64,
    pub capacity: u64,
}

/// The OIDC relying-party client: the confidential client's calls (code exchange,
/// refresh, revocation, Keycloak logout, ID-token claims) over a [`TokenVerifier`]. Cheap
/// to share behind an `Arc`.
pub struct OidcClient {
    settings: OidcSettings,
    redirect_uri: String,
    verifier: TokenVerifier,
}

impl std::fmt::Debug for OidcClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcClient")
            .field("issuer", &self.settings.verifier.issuer)
            .field("client_id", &self.settings.client_id)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenVerifier")
            .field("issuer", &self.settings.issuer)
            .finish_non_exhaustive()
    }
}

const DISCOVERY_TTL: Duration = Duration::from_secs(3600);

/// The HTTP client used towards the OP (and, with name overrides, the peers): no redirects
/// (SSRF), bounded timeouts.
pub fn http_client_builder(
    timeout_secs: u64,
    extra_roots_pem: Option<&[u8]>,
) -> Result<reqwest::ClientBuilder, OidcError> {
    let mut b = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(timeout_secs))
        .connect_timeout(Duration::from_secs(timeout_secs.min(5)))
        .user_agent(concat!("sso-gateway/", env!("CARGO_PKG_VERSION")));
    if let Some(pem) = extra_roots_pem {
        let certs = reqwest::Certificate::from_pem_bundle(pem)
            .map_err(|e| OidcError::Unavailable(format!("tls.ca_file: {e}")))?;
        for c in certs {
            b = b.add_root_certificate(c);
        }
    }
    Ok(b)
}

fn net_err(e: reqwest::Error) -> OidcError {
    if e.is_connect() || e.is_timeout() {
        OidcError::Unavailable(e.to_string())
    } else {
        OidcError::BadResponse(e.to_string())
    }
}

impl OidcClient {
    /// The client's own [`TokenVerifier`]: discovery, the JWKS and the token checks.
    pub fn verifier(&self) -> &TokenVerifier {
        &self.verifier
    }

    pub fn new(settings: OidcSettings, redirect_uri: String) -> Result<Self, OidcError> {
        Ok(Self {
            verifier: TokenVerifier::new(settings.verifier.clone())?,
            settings,
            redirect_uri,
        })
    }

    pub fn redirect_uri(&self) -> &str {
        &self.redirect_uri
    }

    fn oauth_client(&self, token_endpoint: &Url) -> Result<OAuthClient, OidcError> {
        let redirect = RedirectUrl::new(self.redirect_uri.clone())
            .map_err(|e| OidcError::BadResponse(e.to_string()))?;
        Ok(
            oauth2::Client::new(oauth2::ClientId::new(self.settings.client_id.clone()))
                .set_client_secret(oauth2::ClientSecret::new(
                    self.settings.client_secret.secret().to_string(),
                ))
                .set_auth_type(match self.settings.auth_method {
                    AuthMethod::ClientSecretBasic => AuthType::BasicAuth,
                    AuthMethod::ClientSecretPost => AuthType::RequestBody,
                })
                .set_token_uri(TokenUrl::from_url(token_endpoint.clone()))
                .set_redirect_uri(redirect),
        )
    }

    /// RFC 6749 §4.1.3 with RFC 7636 §4.5 `code_verifier`.
    pub async fn exchange_code(&self, code: &str, verifier: &str) -> Result<TokenSet, OidcError> {
        let meta = self.verifier.metadata().await?;
        let client = self.oauth_client(&meta.token_endpoint)?;
        let _timer = op_timer(OpCall::TOKEN);
        let resp = client
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .set_pkce_verifier(PkceCodeVerifier::new(verifier.to_string()))
            .request_async(&self.verifier.http)
            .await;
        token_set(resp)
    }

    /// RFC 6749 §6.
    pub async fn refresh(&self, rt: &RefreshToken) -> Result<TokenSet, OidcError> {
        let meta = self.verifier.metadata().await?;
        let client = self.oauth_client(&meta.token_endpoint)?;
        let rt = oauth2::RefreshToken::new(rt.secret().to_string());
        let _timer = op_timer(OpCall::REFRESH);
        let resp = client
            .exchange_refresh_token(&rt)
            .request_async(&self.verifier.http)
            .await;
        token_set(resp)
    }

    /// RFC 7009 §2.1 (oauth2's revocation request: the client's authentication, `token`
    /// and `token_type_hint=refresh_token`). Ok(false) when the OP has no revocation
    /// endpoint.
    pub async fn revoke_refresh_token(&self, rt: &RefreshToken) -> Result<bool, OidcError> {
        let meta = self.verifier.metadata().await?;
        let Some(endpoint) = meta.revocation_endpoint.clone() else {
            return Ok(false);
        };
        let client = self
            .oauth_client(&meta.token_endpoint)?
            .set_revocation_url(RevocationUrl::from_url(endpoint));
        let token = StandardRevocableToken::RefreshToken(oauth2::RefreshToken::new(
            rt.secret().to_string(),
        ));
        let _timer = op_timer(OpCall::REVOCATION);
        client
            .revoke_token(token)
            .map_err(|e| OidcError::BadResponse(e.to_string()))?
            .request_async(&self.verifier.http)
            .await
            .map_err(|e| match e {
                RequestTokenError::Request(e) => OidcError::Unavailable(error_chain(&e)),
                // RFC 7009 §2.2.1: an error answer is the OP refusing
                RequestTokenError::ServerResponse(r) => {
                    OidcError::Refused(format!("the OP refused the revocation: {r}"))
                }
                RequestTokenError::Parse(e, _) => {
                    OidcError::BadResponse(format!("revocation response: {e}"))
                }
                RequestTokenError::Other(e) => OidcError::BadResponse(e),
            })?;
        Ok(true)
    }

    /// Keycloak's server-side logout: `POST <end_session_endpoint>` with the client's
    /// credentials and the refresh token ends the whole SSO session (and Keycloak sends
    /// back-channel logout to the other clients). Ok(false) without an end-session endpoint.
    pub async fn keycloak_logout(&self, rt: &RefreshToken) -> Result<bool, OidcError> {
        let meta = self.verifier.metadata().await?;
        let Some(endpoint) = meta.end_session_endpoint.clone() else {
            return Ok(false);
        };
        let mut form = vec![("refresh_token", rt.secret())];
        let _timer = op_timer(OpCall::END_SESSION);
        let mut req = self.verifier.http.post(endpoint);
        match self.settings.auth_method {
            AuthMethod::ClientSecretBasic => {
                // RFC 6749 §2.3.1: form-urlencode id and secret before Basic.
                let enc = |s: &str| -> String {
                    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
                };
                req = req.basic_auth(
                    enc(&self.settings.client_id),
                    Some(enc(self.settings.client_secret.secret())),
                );
            }
            AuthMethod::ClientSecretPost => {
                form.push(("client_id", &self.settings.client_id));
                form.push(("client_secret", self.settings.client_secret.secret()));
            }
        }
        let status = req.form(&form).send().await.map_err(net_err)?.status();
        if !status.is_success() {
            return Err(OidcError::Refused(format!("the OP answered {status}")));
        }
        Ok(true)
    }

    /// Validate ID token claims (OIDC Core §3.1.3.7) after the signature verified.
    pub fn check_id_token(
        &self,
        jwt: &VerifiedJwt,
        expected_nonce: Option<&str>,
        max_age: Option<i64>,
        now: i64,
    ) -> Result<IdClaims, IdTokenError> {
        let leeway = self.settings.verifier.clock_leeway_secs;
        let date = |c| jwt.date_claim(c).ok_or(IdTokenError::MissingClaim(c));
        // §3.1.3.7 step 2: iss MUST exactly match.
        if jwt.str_claim("iss") != Some(self.settings.verifier.issuer.as_str()) {
            return Err(IdTokenError::Issuer);
        }
        // step 3: aud MUST contain our client_id.
        let aud = jwt.audiences();
        if !aud.contains(&self.settings.client_id.as_str()) {
            return Err(IdTokenError::Audience);
        }
        // steps 4-5: several audiences need azp; if azp is present it MUST be our client_id.
        match jwt.str_claim("azp") {
            Some(azp) if azp != self.settings.client_id => {
                return Err(IdTokenError::AuthorizedParty)
            }
            None if aud.len() > 1 => return Err(IdTokenError::AuthorizedParty),
            _ => {}
        }
        // step 9: exp.
        let exp = date("exp")?;
        if exp + leeway < now {
            return Err(IdTokenError::Expired);
        }
        // step 10: iat within an acceptable range.
        let iat = date("iat")?;
        if iat > now + leeway {
            return Err(IdTokenError::IssuedInFuture);
        }
        // step 11: nonce MUST match the one sent.
        if let Some(expected) = expected_nonce {
            match jwt.str_claim("nonce") {
                Some(n) if crate::util::ct_eq(n, expected) => {}
                _ => return Err(IdTokenError::Nonce),
            }
        }
        // step 13: max_age requested → auth_time required and recent enough.
        let auth_time = jwt.date_claim("auth_time");
        if let Some(max_age) = max_age {
            let at = auth_time.ok_or(IdTokenError::MissingClaim("auth_time"))?;
            if at + max_age + leeway < now {
                return Err(IdTokenError::AuthTooOld);
            }
        }
        let sub = jwt
            .str_claim("sub")
            .filter(|s| !s.is_empty())
            .ok_or(IdTokenError::MissingClaim("sub"))?;
        Ok(IdClaims {
            iss: self.settings.verifier.issuer.clone(),
            sub: sub.to_string(),
            sid: jwt.str_claim("sid").map(String::from),
            exp,
            auth_time,
            preferred_username: jwt.str_claim("preferred_username").map(String::from),
            email: jwt.str_claim("email").map(String::from),
            name: jwt.str_claim("name").map(String::from),
        })
    }
}

impl TokenVerifier {
    pub fn new(settings: VerifierSettings) -> Result<Self, OidcError> {
        let http = http_client_builder(
            settings.http_timeout_secs,
            settings.extra_roots_pem.as_deref(),
        )?
        .build()
        .map_err(|e| OidcError::Unavailable(e.to_string()))?;
        Ok(Self {
            http,
            discovered: RwLock::new(None),
            discovery_gate: Mutex::new(()),
            fetch_backoff: backoff::FetchBackoff::default(),
            jwks_backoff: backoff::FetchBackoff::default(),
            jwks: SyncRwLock::default(),
            jwks_gate: Mutex::new(()),
            verified: (settings.verified_token_cache_size > 0)
                .then(|| quick_cache::sync::Cache::new(settings.verified_token_cache_size)),
            verified_hits: AtomicU64::new(0),
            verified_misses: AtomicU64::new(0),
            settings,
        })
    }

    /// Provider metadata, discovered on first use and cached for an hour.
    pub async fn metadata(&self) -> Result<Arc<ProviderMetadata>, OidcError> {
        let fresh = || async {
            let d = self.discovered.read().await;
            d.as_ref()
                .filter(|d| d.fetched_at.elapsed() < DISCOVERY_TTL)
                .map(|d| d.meta.clone())
        };
        if let Some(meta) = fresh().await {
            return Ok(meta);
        }
        let _gate = self.discovery_gate.lock().await;
        if let Some(meta) = fresh().await {
            return Ok(meta);
        }
        match self.fetch_backoff.run(self.discover()).await {
            Ok(meta) => {
                let meta = Arc::new(meta);
                *self.discovered.write().await = Some(Discovered {
                    meta: meta.clone(),
                    fetched_at: Instant::now(),
                });
                Ok(meta)
            }
            Err(e) => {
                // Keep serving stale metadata if the OP is briefly away.
                if let Some(d) = self.discovered.read().await.as_ref() {
                    tracing::warn!(error = %e, "rediscovery failed, keeping cached metadata");
                    return Ok(d.meta.clone());
                }
                Err(e)
            }
        }
    }

    async fn discover(&self) -> Result<ProviderMetadata, OidcError> {
        let _timer = op_timer(OpCall::DISCOVERY);
        let url = format!(
            "{}/.well-known/openid-configuration",
            self.settings.issuer.trim_end_matches('/')
        );
        let resp = self.get(&url, &format!("discovery at {url}")).await?;
        let meta: ProviderMetadata = resp
            .json()
            .await
            .map_err(|e| OidcError::BadResponse(format!("discovery document: {e}")))?;
        // OIDC Discovery 1.0 §4.3: the issuer in the document MUST equal the configured one.
        if meta.issuer != self.settings.issuer {
            return Err(OidcError::BadResponse(format!(
                "discovery issuer {:?} differs from oidc.issuer {:?}",
                meta.issuer, self.settings.issuer
            )));
        }
        Ok(meta)
    }

    /// GET from the OP: an answer other than 2xx is `"<what> answered <status>"`.
    async fn get(&self, url: &str, what: &str) -> Result<reqwest::Response, OidcError> {
        let resp = self.http.get(url).send().await.map_err(net_err)?;
        if !resp.status().is_success() {
            let status = resp.status();
            return Err(OidcError::BadResponse(format!("{what} answered {status}")));
        }
        Ok(resp)
    }

    /// Fetch the key set and replace the cached one whole: a key the OP no longer
    /// publishes is dropped here. A failed fetch keeps the cached keys.
    async fn fetch_jwks(&self) -> Result<(), OidcError> {
        self.jwks_write().tried_at = Some(Instant::now());
        let meta = self.metadata().await?;
        let _timer = op_timer(OpCall::JWKS);
        let resp = self.get(meta.jwks_uri.as_str(), "JWKS").await?;
        let body = resp.bytes().await.map_err(net_err)?;
        let set = josekit::jwk::JwkSet::from_bytes(&body)
            .map_err(|e| OidcError::BadResponse(format!("JWKS: {e}")))?;
        let keys: Vec<Jwk> = set.keys().into_iter().cloned().collect();
        let current = self.jwks_read().keys.clone();
        let generation = current.generation() + u64::from(!current.same_keys(&keys));
        // The verifiers are built here, once per fetch, outside the lock.
        let prepared = Arc::new(KeySet::new(keys, &self.settings.allowed_algs, generation));
        {
            let mut st = self.jwks_write();
            st.keys = prepared;
            st.fetched_at = Some(Instant::now());
        }
        if generation != current.generation() {
            // A key was added, changed or removed: what the old set verified is checked
            // again (entries also carry their generation, so a verification racing with
            // this fetch cannot be served under the new set).
            if let Some(c) = &self.verified {
                c.clear();
            }
        }
        Ok(())
    }

    fn jwks_read(&self) -> std::sync::RwLockReadGuard<'_, JwksState> {
        self.jwks.read().unwrap_or_else(|e| e.into_inner())
    }

    fn jwks_write(&self) -> std::sync::RwLockWriteGuard<'_, JwksState> {
        self.jwks.write().unwrap_or_else(|e| e.into_inner())
    }

    /// True when the cached key set must be fetched again before use (`jwks_max_age_secs`,
    /// rate-limited by `jwks_min_refetch_secs`).
    fn jwks_stale(&self, st: &JwksState) -> bool {
        let s = &self.settings;
        st.fetched_at
            .is_some_and(|t| t.elapsed().as_secs() >= s.jwks_max_age_secs)
            && st
                .tried_at
                .is_none_or(|t| t.elapsed().as_secs() >= s.jwks_min_refetch_secs)
    }

    /// Verify a JWS signed by the OP. An unknown `kid` triggers one JWKS refetch, at most
    /// once per `jwks_min_refetch_secs` (key rotation without a thundering herd). A key set
    /// older than `jwks_max_age_secs` is fetched again before it is used, so a key the OP
    /// stopped publishing (disabled or removed after a compromise) stops verifying within
    /// that bound; while the OP cannot be reached the cached keys stay in use.
    pub async fn verify_jwt(&self, token: &str) -> Result<VerifiedJwt, JwtOrOidc> {
        self.verify_jwt_gen(token).await.map(|(jwt, _)| jwt)
    }

    /// [`Self::verify_jwt`], also naming the generation of the key set that verified it.
    async fn verify_jwt_gen(&self, token: &str) -> Result<(VerifiedJwt, u64), JwtOrOidc> {
        let min = Duration::from_secs(self.settings.jwks_min_refetch_secs);
        let verify = |keys: &KeySet| {
            jwt::verify_prepared(token, keys, &self.settings.allowed_algs)
                .map(|j| (j, keys.generation()))
                .map_err(JwtOrOidc::Jwt)
        };
        let (keys, fetched, stale) = {
            let st = self.jwks_read();
            (st.keys.clone(), st.fetched_at, self.jwks_stale(&st))
        };
        if fetched.is_some() && !stale {
            match verify(&keys) {
                Err(JwtOrOidc::Jwt(JwtError::UnknownKey)) => {}
                other => return other,
            }
        }
        // No keys yet, too old, or an unknown kid: refetch, rate-limited.
        {
            let _gate = self.jwks_gate.lock().await;
            let (fetched_at, tried_at, same) = {
                let st = self.jwks_read();
                (st.fetched_at, st.tried_at, Arc::ptr_eq(&st.keys, &keys))
            };
            let due = match fetched_at {
                None => tried_at.is_none_or(|t| t.elapsed() >= min.min(Duration::from_secs(1))),
                Some(_) => same && tried_at.is_none_or(|t| t.elapsed() >= min),
            };
            if due {
                // a failing JWKS endpoint backs off with jitter (as discovery does)
                if let Err(e) = self.jwks_backoff.run(self.fetch_jwks()).await {
                    if fetched_at.is_none() {
                        return Err(JwtOrOidc::Oidc(e));
                    }
                    tracing::warn!(error = %e, "JWKS refetch failed, keeping the cached keys");
                }
            }
        }
        let keys = {
            let st = self.jwks_read();
            if st.fetched_at.is_none() {
                return Err(JwtOrOidc::Oidc(OidcError::Unavailable(
                    "no key set fetched yet".into(),
                )));
            }
            st.keys.clone()
        };
        verify(&keys)
    }

    /// Validate an access token JWT for the hot path: signature, `iss`, `exp`, `nbf`.
    ///
    /// A token that passed is remembered (keyed by the token) until its `exp`, under the key set
    /// that verified it: a repeat skips the signature check while the key set is unchanged
    /// and not due for its `jwks_max_age_secs` refetch. Revocation is not part of this
    /// result; callers check it on every request.
    pub async fn verify_access_token(
        &self,
        token: &str,
    ) -> Result<Arc<AccessClaims>, AccessTokenError> {
        let now = now();
        let Some(cache) = &self.verified else {
            return self
                .verify_access_token_uncached(token, now)
                .await
                .map(|(c, _)| Arc::new(c));
        };
        let (current, stale) = {
            let st = self.jwks_read();
            (st.keys.generation(), self.jwks_stale(&st))
        };
        if let Some(hit) = cache.get(token.as_bytes()) {
            if hit.generation == current && hit.claims.exp > now && !stale {
                self.verified_hits.fetch_add(1, Ordering::Relaxed);
                return Ok(hit.claims);
            }
            cache.remove(token.as_bytes());
        }
        self.verified_misses.fetch_add(1, Ordering::Relaxed);
        let (mut claims, generation) = self.verify_access_token_uncached(token, now).await?;
        let bearer = bytes::Bytes::from(format!("{BEARER}{token}"));
        let key = bearer.slice(BEARER.len()..);
        claims.upstream.bearer = Some(bearer);
        let claims = Arc::new(claims);
        // Stamped with the generation of the key set that verified it: if a fetch replaced
        // that set since (and cleared the cache), the entry never matches and the token is
        // verified again.
        cache.insert(
            key,
            CachedAccess {
                claims: claims.clone(),
                generation,
            },
        );
        Ok(claims)
    }

    async fn verify_access_token_uncached(
        &self,
        token: &str,
        now: i64,
    ) -> Result<(AccessClaims, u64), AccessTokenError> {
        let (jwt, generation) = self.verify_jwt_gen(token).await.map_err(|e| match e {
            JwtOrOidc::Jwt(j) => AccessTokenError::Invalid(j.to_string()),
            JwtOrOidc::Oidc(o) => AccessTokenError::Provider(o),
        })?;
        Ok((self.check_access_claims(&jwt, now)?, generation))
    }

    /// Counters and size of the verified-token cache.
    pub fn verified_cache_stats(&self) -> VerifiedCacheStats {
        VerifiedCacheStats {
            hits: self.verified_hits.load(Ordering::Relaxed),
            misses: self.verified_misses.load(Ordering::Relaxed),
            entries: self.verified.as_ref().map_or(0, |c| c.len() as u64),
            capacity: self.verified.as_ref().map_or(0, |c| c.capacity()),
        }
    }

    pub fn check_access_claims(
        &self,
        jwt: &VerifiedJwt,
        now: i64,
    ) -> Result<AccessClaims, AccessTokenError> {
        let invalid = |m: &str| AccessTokenError::Invalid(m.into());
        if jwt.str_claim("iss") != Some(self.settings.issuer.as_str()) {
            return Err(invalid("issuer"));
        }
        // RFC 9068 §4: an ID token or logout token must not be usable as an access token.
        if let Some(typ) = &jwt.typ {
            let t = typ.to_ascii_lowercase();
            if t != "jwt" && t != "at+jwt" && t != "application/at+jwt" {
                return Err(invalid("typ"));
            }
        }
        // BCL 1.0 §2.4: a logout token carries `events`; never an access token.
        if jwt.claims.contains_key("events") {
            return Err(invalid("not an access token"));
        }
        // Keycloak names each token's kind in a payload `typ` claim: "Bearer" for access
        // tokens, "ID", "Refresh", "Offline", "Logout" for the others. Only "Bearer" passes.
        // Without it, a `nonce` marks an ID token (OIDC Core §2); with it, a `nonce` is
        // Keycloak's "Nonce backwards compatible" mapper and the token is still an access token.
        match jwt.claims.get("typ") {
            Some(Value::String(t)) if t.eq_ignore_ascii_case("bearer") => {}
            Some(_) => return Err(invalid("not an access token (typ)")),
            None if jwt.claims.contains_key("nonce") => return Err(invalid("not an access token")),
            None => {}
        }
        // The token must be meant for us: an accepted client as `azp` (Keycloak) or
        // `client_id` (RFC 9068 §2.2). `aud` alone only with `accept_audience_only`:
        // Keycloak's audience resolution adds every client whose roles the user holds.
        let accepted = &self.settings.accepted_clients;
        if !accepted.is_empty() {
            let is_accepted = |v: &str| accepted.iter().any(|c| c == v);
            let azp_ok = jwt.str_claim("azp").is_some_and(is_accepted)
                || jwt.str_claim("client_id").is_some_and(is_accepted);
            let aud_ok =
                self.settings.accept_audience_only && jwt.audiences().into_iter().any(is_accepted);
            if !azp_ok && !aud_ok {
                return Err(invalid("token issued to another client"));
            }
        }
        let exp = jwt.date_claim("exp").ok_or(invalid("exp"))?;
        if exp <= now {
            return Err(AccessTokenError::Expired);
        }
        if jwt
            .date_claim("nbf")
            .is_some_and(|nbf| nbf > now + self.settings.clock_leeway_secs)
        {
            return Err(invalid("nbf"));
        }
        let sub = jwt.str_claim("sub").ok_or(invalid("sub"))?.to_string();
        fn roles(v: Option<&Value>) -> impl Iterator<Item = &str> {
            let roles = v.and_then(|v| v.get("roles")).and_then(Value::as_array);
            roles.into_iter().flatten().filter_map(Value::as_str)
        }
        let mut groups: Vec<String> = roles(jwt.claims.get("realm_access"))
            .map(String::from)
            .collect();
        if let Some(Value::Object(clients)) = jwt.claims.get("resource_access") {
            for (client, v) in clients {
                groups.extend(roles(Some(v)).map(|r| format!("{client}:{r}")));
            }
        }
        Ok(AccessClaims {
            sub,
            jti: jwt.str_claim("jti").map(String::from),
            sid: jwt.str_claim("sid").map(String::from),
            exp,
            iat: jwt.date_claim("iat").unwrap_or(0),
            azp: jwt.str_claim("azp").map(String::from),
            preferred_username: jwt.str_claim("preferred_username").map(String::from),
            email: jwt.str_claim("email").map(String::from),
            email_verified: jwt.claims.get("email_verified").and_then(Value::as_bool) == Some(true),
            name: jwt.str_claim("name").map(String::from),
            groups,
            upstream: UpstreamMemo::default(),
        })
    }
}

/// What the hot path needs from an access token. Shared (`Arc`) between the
/// verified-token cache and the requests presenting the token.
#[derive(Debug)]
pub struct AccessClaims {
    pub sub: String,
    pub jti: Option<String>,
    pub sid: Option<String>,
    pub exp: i64,
    pub iat: i64,
    pub azp: Option<String>,
    pub preferred_username: Option<String>,
    pub email: Option<String>,
    /// `email_verified` is `true` (absent or anything else: not verified).
    pub email_verified: bool,
    pub name: Option<String>,
    pub groups: Vec<String>,
    /// The forward-auth headers for this token, built on first use and shared by every
    /// request that presents the same (cached) token
    /// ([`crate::Gateway::upstream_headers`]).
    pub(crate) upstream: UpstreamMemo,
}

/// The scheme prefix of an `Authorization` value (RFC 6750 §2.1).
pub(crate) const BEARER: &str = "Bearer ";

/// The forward-auth headers of one verified token in the HTTP layer's own form (its
/// framework's header values), built once and shared with the cached claims. They depend
/// only on the claims, the token and the gateway's fixed settings (one verifier belongs
/// to one gateway). `None` inside: the `unverified_email = "deny"` policy refuses.
#[derive(Default)]
pub(crate) struct UpstreamMemo {
    headers: std::sync::OnceLock<Option<Arc<dyn std::any::Any + Send + Sync>>>,
    /// `Bearer <token>` of the token the claims were verified from, when the
    /// verified-token cache keeps them: the cache's key and the forward-auth
    /// `Authorization` value share this one buffer. A secret: never in `Debug`.
    pub(crate) bearer: Option<bytes::Bytes>,
}

impl UpstreamMemo {
    pub(crate) fn get_or_init<T: std::any::Any + Send + Sync>(
        &self,
        build: impl Fn() -> Option<T>,
    ) -> Option<Arc<T>> {
        let slot = self.headers.get_or_init(|| {
            let v: Arc<dyn std::any::Any + Send + Sync> = Arc::new(build()?);
            Some(v)
        });
        match slot.clone()?.downcast::<T>() {
            Ok(v) => Some(v),
            // another layer's form (two HTTP layers in one process): build, do not keep
            Err(_) => build().map(Arc::new),
        }
    }
}

impl std::fmt::Debug for UpstreamMemo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UpstreamMemo(redacted)")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AccessTokenError {
    #[error("access token expired")]
    Expired,
    #[error("access token invalid: {0}")]
    Invalid(String),
    #[error(transparent)]
    Provider(OidcError),
}

/// A JWT problem (the token's fault) or an OP problem (fetching keys failed).
#[derive(Debug, thiserror::Error)]
pub enum JwtOrOidc {
    #[error(transparent)]
    Jwt(JwtError),
    #[error(transparent)]
    Oidc(OidcError),
}

/// A token-endpoint answer (RFC 6749 §5.1), or its error (§5.2) as ours.
fn token_set<RE: std::error::Error + 'static>(
    resp: Result<OidcTokenResponse, RequestTokenError<RE, BasicErrorResponse>>,
) -> Result<TokenSet, OidcError> {
    use oauth2::basic::BasicErrorResponseType as T;
    let resp = resp.map_err(|e| match e {
        RequestTokenError::ServerResponse(r) => {
            let desc = r.error_description().cloned().unwrap_or_default();
            match r.error() {
                T::InvalidGrant => OidcError::InvalidGrant(desc),
                other => OidcError::Refused(format!("{other}: {desc}")),
            }
        }
        RequestTokenError::Request(e) => OidcError::Unavailable(error_chain(&e)),
        RequestTokenError::Parse(e, _) => OidcError::BadResponse(format!("token response: {e}")),
        RequestTokenError::Other(e) => OidcError::BadResponse(e),
    })?;
    Ok(TokenSet {
        access_token: AccessToken::new(resp.access_token().secret().clone()),
        refresh_token: resp
            .refresh_token()
            .map(|r| RefreshToken::new(r.secret().clone())),
        id_token: resp.extra_fields().id_token.clone().map(IdToken::new),
        expires_in: resp.expires_in().map(|d| d.as_secs() as i64),
        refresh_expires_in: resp.extra_fields().refresh_expires_in,
    })
}

/// An error with its sources, `outer: inner: …`.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let chain = std::iter::successors(Some(e), |e| e.source());
    chain.map(|e| e.to_string()).collect::<Vec<_>>().join(": ")
}

/// PKCE (RFC 7636 §4.1-4.2): a 43-char verifier (32 random bytes) and its S256 challenge,
/// from the oauth2 crate.
pub fn pkce_pair() -> (String, String) {
    let (challenge, verifier) = oauth2::PkceCodeChallenge::new_random_sha256();
    (verifier.secret().clone(), challenge.as_str().to_string())
}

/// A `state` or `nonce` value: 24 random bytes, base64url (oauth2's CSRF-token helper).
pub fn random_state() -> String {
    oauth2::CsrfToken::new_random_len(24).secret().clone()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pkce_pair_is_s256_and_fresh() {
        // RFC 7636 §4.1: 43–128 unreserved characters; §4.2: S256 = base64url(SHA-256(verifier))
        let (v, c) = pkce_pair();
        assert_eq!(v.len(), 43);
        assert!(v
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || "-._~".contains(ch)));
        assert_eq!(c, crate::util::sha256_b64(v.as_bytes()));
        assert_ne!(pkce_pair().0, v);
        let s = random_state();
        assert_eq!(s.len(), 32, "24 bytes, base64url without padding");
        assert_ne!(random_state(), s);
    }

    fn client() -> OidcClient {
        OidcClient::new(
            OidcSettings {
                client_id: "gw-a".into(),
                client_secret: crate::secret::ClientSecret::new("s"),
                auth_method: AuthMethod::ClientSecretBasic,
                scopes: vec!["openid".into()],
                pass_params: vec![],
                verifier: VerifierSettings {
                    issuer: "https://op/realms/x".into(),
                    allowed_algs: vec!["RS256".into()],
                    clock_leeway_secs: 30,
                    jwks_min_refetch_secs: 10,
                    jwks_max_age_secs: 300,
                    verified_token_cache_size: 100,
                    http_timeout_secs: 5,
                    extra_roots_pem: None,
                    accepted_clients: vec!["gw-a".into(), "mobile".into()],
                    accept_audience_only: false,
                },
            },
            "https://auth.a.com/sso/callback".into(),
        )
        .unwrap()
    }

    fn at(extra: serde_json::Value, typ: Option<&str>) -> VerifiedJwt {
        let mut c = json!({"iss": "https://op/realms/x", "sub": "u", "exp": 2000, "iat": 1000});
        for (k, v) in extra.as_object().unwrap() {
            c[k] = v.clone();
        }
        VerifiedJwt {
            alg: "RS256".into(),
            typ: typ.map(String::from),
            kid: None,
            claims: c.as_object().unwrap().clone(),
        }
    }

    #[test]
    fn access_tokens_must_be_for_an_accepted_client() {
        let c = client();
        let ok = |j: &VerifiedJwt| c.verifier().check_access_claims(j, 1500).is_ok();
        assert!(
            ok(&at(json!({"azp": "gw-a", "aud": "account"}), Some("JWT"))),
            "Keycloak: azp"
        );
        assert!(
            ok(&at(
                json!({"client_id": "mobile", "aud": "https://api"}),
                Some("at+jwt")
            )),
            "RFC 9068 client_id"
        );
        assert!(
            !ok(&at(json!({"aud": ["x", "gw-a"]}), None)),
            "aud alone is not enough by default"
        );
        assert!(
            !ok(&at(
                json!({"azp": "other-app", "aud": ["gw-a", "account"]}),
                None
            )),
            "Keycloak audience resolution: another client's token naming gw-a in aud"
        );
        assert!(
            !ok(&at(json!({"azp": "other", "aud": "account"}), None)),
            "foreign client"
        );
        assert!(
            !ok(&at(json!({"azp": "gw-a", "nonce": "n"}), None)),
            "an ID token is not an access token"
        );
        for kind in ["ID", "Refresh", "Offline", "Logout"] {
            assert!(
                !ok(&at(json!({"azp": "gw-a", "typ": kind}), Some("JWT"))),
                "Keycloak {kind} token"
            );
        }
        assert!(
            ok(&at(
                json!({"azp": "gw-a", "typ": "Bearer", "nonce": "n"}),
                Some("JWT")
            )),
            "Keycloak access token with the nonce backwards-compatible mapper"
        );
        assert!(
            !ok(&at(
                json!({"azp": "gw-a", "typ": "Bearer", "events": {}}),
                None
            )),
            "a logout token is never an access token"
        );
        assert!(
            !ok(&at(json!({"azp": "gw-a"}), Some("logout+jwt"))),
            "wrong typ"
        );
        assert!(matches!(
            c.verifier()
                .check_access_claims(&at(json!({"azp": "gw-a"}), None), 2000),
            Err(AccessTokenError::Expired)
        ));
        assert!(
            !ok(&at(json!({"azp": "gw-a", "iss": "https://evil"}), None)),
            "issuer"
        );
    }

    #[test]
    fn audience_only_is_an_explicit_opt_in() {
        let mut settings = client().settings.verifier.clone();
        settings.accept_audience_only = true;
        let c = TokenVerifier::new(settings).unwrap();
        assert!(c
            .check_access_claims(&at(json!({"aud": ["x", "gw-a"]}), None), 1500)
            .is_ok());
        assert!(c
            .check_access_claims(&at(json!({"aud": ["x", "y"]}), None), 1500)
            .is_err());
    }

    // ------------------------------------------------------------ verified-token cache

    use josekit::jws::{JwsHeader, RS256};
    use josekit::jwt::JwtPayload;
    use std::sync::atomic::AtomicUsize;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn rsa_key(kid: &str) -> (Jwk, Value) {
        let mut private = Jwk::generate_rsa_key(2048).unwrap();
        private.set_key_id(kid);
        let mut public = private.to_public_key().unwrap();
        public.set_key_id(kid);
        let public: Value = serde_json::from_str(&public.to_string()).unwrap();
        (private, public)
    }

    fn access_token(issuer: &str, private: &Jwk) -> String {
        let mut h = JwsHeader::new();
        h.set_key_id(private.key_id().unwrap());
        h.set_token_type("JWT");
        let mut p = JwtPayload::new();
        let now = crate::util::now();
        for (k, v) in [
            ("iss", json!(issuer)),
            ("sub", json!("alice")),
            ("azp", json!("gw-a")),
            ("typ", json!("Bearer")),
            ("iat", json!(now)),
            ("exp", json!(now + 300)),
        ] {
            p.set_claim(k, Some(v)).unwrap();
        }
        josekit::jwt::encode_with_signer(&p, &h, &RS256.signer_from_jwk(private).unwrap()).unwrap()
    }

    /// A minimal OP on loopback: discovery and a JWKS the test can change.
    async fn tiny_op(jwks: Arc<std::sync::Mutex<Value>>, fetches: Arc<AtomicUsize>) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let issuer = format!("http://{}/realms/t", listener.local_addr().unwrap());
        let iss = issuer.clone();
        tokio::spawn(async move {
            loop {
                let Ok((mut sock, _)) = listener.accept().await else {
                    return;
                };
                let (jwks, fetches, iss) = (jwks.clone(), fetches.clone(), iss.clone());
                tokio::spawn(async move {
                    let mut req = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                        match sock.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => req.extend_from_slice(&buf[..n]),
                        }
                    }
                    let line = String::from_utf8_lossy(&req)
                        .lines()
                        .next()
                        .unwrap_or("")
                        .to_string();
                    let body = if line.contains("/.well-known/openid-configuration") {
                        json!({
                            "issuer": iss,
                            "authorization_endpoint": format!("{iss}/auth"),
                            "token_endpoint": format!("{iss}/token"),
                            "jwks_uri": format!("{iss}/certs"),
                        })
                    } else {
                        fetches.fetch_add(1, Ordering::SeqCst);
                        jwks.lock().unwrap().clone()
                    };
                    let body = body.to_string();
                    let resp = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = sock.write_all(resp.as_bytes()).await;
                });
            }
        });
        issuer
    }

    /// A verifier alone (no client credentials), as a resource server has.
    fn client_for(issuer: &str, min_refetch: u64, max_age: u64) -> TokenVerifier {
        let mut settings = client().settings.verifier.clone();
        settings.issuer = issuer.to_string();
        settings.jwks_min_refetch_secs = min_refetch;
        settings.jwks_max_age_secs = max_age;
        TokenVerifier::new(settings).unwrap()
    }

    fn refused(r: Result<Arc<AccessClaims>, AccessTokenError>) -> bool {
        matches!(r, Err(AccessTokenError::Invalid(_)))
    }

    #[tokio::test]
    async fn removed_key_evicts_what_it_verified() {
        let (k1, k1_pub) = rsa_key("k1");
        let (k2, k2_pub) = rsa_key("k2");
        let (k3, k3_pub) = rsa_key("k3");
        let jwks = Arc::new(std::sync::Mutex::new(json!({"keys": [k1_pub, k2_pub]})));
        let fetches = Arc::new(AtomicUsize::new(0));
        let issuer = tiny_op(jwks.clone(), fetches.clone()).await;
        let c = client_for(&issuer, 0, 300);
        let (t1, t2, t3) = (
            access_token(&issuer, &k1),
            access_token(&issuer, &k2),
            access_token(&issuer, &k3),
        );

        c.verify_access_token(&t1).await.unwrap();
        c.verify_access_token(&t2).await.unwrap();
        let s = c.verified_cache_stats();
        c.verify_access_token(&t1).await.unwrap();
        assert_eq!(
            c.verified_cache_stats().hits,
            s.hits + 1,
            "t1 from the cache"
        );
        assert_eq!(fetches.load(Ordering::SeqCst), 1);

        // The OP stops publishing k1 and starts k3. A token under the new kid makes the
        // gateway fetch the set again, and with it k1 is gone...
        let new_set = json!({"keys": [jwks.lock().unwrap()["keys"][1].clone(), k3_pub]});
        *jwks.lock().unwrap() = new_set;
        c.verify_access_token(&t3).await.unwrap();
        assert_eq!(fetches.load(Ordering::SeqCst), 2);
        // ...so what k1 verified is refused on its next use although it was cached.
        assert!(
            refused(c.verify_access_token(&t1).await),
            "k1 token refused"
        );
        // A token of a key still published verifies again (its entry went with the old set)...
        let s = c.verified_cache_stats();
        c.verify_access_token(&t2).await.unwrap();
        assert_eq!(
            c.verified_cache_stats().misses,
            s.misses + 1,
            "t2 verified again"
        );
        // ...and a refetch that returns the same keys keeps what they verified.
        let f = fetches.load(Ordering::SeqCst);
        assert!(refused(c.verify_access_token(&t1).await));
        assert_eq!(
            fetches.load(Ordering::SeqCst),
            f + 1,
            "unknown kid: refetched"
        );
        let s = c.verified_cache_stats();
        c.verify_access_token(&t2).await.unwrap();
        assert_eq!(c.verified_cache_stats().hits, s.hits + 1, "t2 still cached");
    }

    #[tokio::test]
    async fn cached_tokens_follow_the_key_set_max_age() {
        let (k1, k1_pub) = rsa_key("k1");
        let (_k2, k2_pub) = rsa_key("k2");
        let jwks = Arc::new(std::sync::Mutex::new(json!({"keys": [k1_pub]})));
        let fetches = Arc::new(AtomicUsize::new(0));
        let issuer = tiny_op(jwks.clone(), fetches.clone()).await;
        let c = client_for(&issuer, 0, 1);
        let t1 = access_token(&issuer, &k1);
        c.verify_access_token(&t1).await.unwrap();
        let cached = c.verify_access_token(&t1).await.unwrap();
        assert_eq!(c.verified_cache_stats().hits, 1);
        // the cached claims hold the token (the cache's key): never in their Debug
        let sig = t1.rsplit('.').next().unwrap();
        assert!(cached.upstream.bearer.is_some());
        assert!(!format!("{cached:?}").contains(sig), "{cached:?}");
        // k1 removed at the OP; nothing asks for another kid. Within the max age the
        // cached result stands (the documented bound); once the set is older, the next
        // check refetches and the removed key's token is refused.
        *jwks.lock().unwrap() = json!({"keys": [k2_pub]});
        tokio::time::sleep(Duration::from_millis(1100)).await;
        assert!(refused(c.verify_access_token(&t1).await));
        assert_eq!(fetches.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn email_verified_only_when_true() {
        let c = client();
        let v = |x: serde_json::Value| {
            c.verifier()
                .check_access_claims(&at(x, None), 1500)
                .unwrap()
                .email_verified
        };
        assert!(v(json!({"azp": "gw-a", "email_verified": true})));
        assert!(!v(json!({"azp": "gw-a", "email_verified": "true"})));
        assert!(!v(json!({"azp": "gw-a"})));
        assert!(!v(json!({"azp": "gw-a", "email_verified": false})));
    }
}
