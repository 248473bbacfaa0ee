//! A deliberately hostile OpenID Provider.
//!
//! From the outside it looks like a Keycloak realm (`/realms/evil`): discovery, JWKS with one
//! RS256 key, an auto-login authorization endpoint, a token endpoint and a logout page. Per test
//! it can be told to forge the ID token it hands out (see [`Forge`]), so the gateway's tests can
//! prove that every forgery is rejected while the [`Forge::Valid`] control case is accepted.
//!
//! The server runs on `127.0.0.1:<free port>` in its own thread with its own actix `System`, so it
//! can be started from synchronous code or from inside any async test runtime.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use actix_web::dev::ServerHandle;
use actix_web::http::header;
use actix_web::{web, App, HttpRequest, HttpResponse, HttpServer};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use josekit::jwk::alg::rsa::RsaKeyPair;
use josekit::jwk::KeyPair as _;
use josekit::jws::alg::rsassa::RsassaJwsSigner;
use josekit::jws::{JwsSigner, HS256, RS256};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const REALM_PATH: &str = "/realms/evil";
const OIDC_PATH: &str = "/realms/evil/protocol/openid-connect";
const GOOD_KID: &str = "good-key";
const UNKNOWN_KID: &str = "rogue-key";
const ROTATED_KID: &str = "rotated-key";
const SUB: &str = "evil-user";
const SID: &str = "evil-sid";

/// What the token endpoint does to the ID token (or to the whole token response).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Forge {
    /// A correct RS256 ID token (the control case: the gateway must accept it).
    Valid,
    /// Signed by an RSA key NOT in the JWKS, but with the kid of the published key.
    WrongKey,
    /// Signed by an unpublished key with an unknown kid.
    UnknownKid,
    /// Header `{"alg":"none"}`, empty signature.
    AlgNone,
    /// HS256 keyed with the published RSA public key (see [`HsSecret`], default PEM), kid of the
    /// published key.
    HsWithPublicKey,
    /// `aud = "someone-else"`.
    WrongAud,
    /// `aud = [client_id, "other"]`, no `azp`.
    MultiAudNoAzp,
    /// `aud = client_id`, `azp = "other"`.
    WrongAzp,
    /// `iss = "http://127.0.0.1:<port>/realms/other"`.
    WrongIss,
    /// `nonce = "not-the-nonce"`.
    WrongNonce,
    /// No `nonce` claim.
    MissingNonce,
    /// `exp = now - 600`, `iat = now - 900`.
    Expired,
    /// `iat = now + 600`, `exp = now + 900`.
    IatFuture,
    /// Token response without `id_token`.
    NoIdToken,
    /// Token endpoint answers 400 `{"error":"invalid_grant"}`.
    TokenEndpointError,
    /// Token endpoint answers 500 with an HTML body.
    TokenEndpoint500,
}

/// Which bytes of the published RSA public key [`Forge::HsWithPublicKey`] uses as HMAC secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HsSecret {
    /// SPKI PEM (`-----BEGIN PUBLIC KEY-----`, trailing newline included). The classic; default.
    Pem,
    /// PKCS#1 PEM (`-----BEGIN RSA PUBLIC KEY-----`, trailing newline included).
    PemPkcs1,
    /// SPKI DER bytes.
    Der,
    /// The raw big-endian modulus bytes (the base64url-decoded JWK `n`).
    JwkN,
    /// The published JWK itself, serialized as JSON exactly as served in the JWKS.
    JwkJson,
}

#[derive(Debug, Clone)]
struct Settings {
    forge: Forge,
    iss_param: Option<String>,
    advertise_iss: bool,
    hs_secret: HsSecret,
    /// Whether access tokens carry `sid` (and `session_state`); default true.
    access_token_sid: bool,
}

#[derive(Debug, Clone)]
struct CodeGrant {
    client_id: String,
    redirect_uri: String,
    nonce: String,
    code_challenge: String,
    auth_time: i64,
}

#[derive(Debug, Clone)]
struct RefreshGrant {
    client_id: String,
    nonce: String,
    auth_time: i64,
}

struct Shared {
    client_id: String,
    issuer: String,
    good_key: RsaKeyPair,
    good_signer: RsassaJwsSigner,
    wrong_key_signer: RsassaJwsSigner,
    unknown_kid_signer: RsassaJwsSigner,
    published_jwk: Value,
    /// After `rotate_key`: the new signing key and its public JWK (kid `rotated-key`).
    rotated: Mutex<Option<(RsassaJwsSigner, Value)>>,
    settings: Mutex<Settings>,
    codes: Mutex<HashMap<String, CodeGrant>>,
    refresh_tokens: Mutex<HashMap<String, RefreshGrant>>,
    token_calls: AtomicUsize,
    jwks_calls: AtomicUsize,
    counter: AtomicU64,
}

/// Which key [`HostileOp::sign`] uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignWith {
    /// The published key.
    Good,
    /// An unpublished RSA key.
    Rogue,
    /// HS256 keyed with the published public key's PEM.
    HsPublicPem,
    /// `alg: none`, empty signature.
    None,
}

/// The hostile OP. Dropping it stops the server.
pub struct HostileOp {
    shared: Arc<Shared>,
    handle: ServerHandle,
    thread: Option<JoinHandle<()>>,
}

impl HostileOp {
    /// Starts on 127.0.0.1:<free port> in a background thread with its own actix System; returns
    /// once discovery answers.
    pub fn start(client_id: &str) -> HostileOp {
        let listener = TcpListener::bind("127.0.0.1:0").expect("hostile OP: bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("hostile OP: local_addr");
        let issuer = format!("http://127.0.0.1:{}{REALM_PATH}", addr.port());

        let good_key = RsaKeyPair::generate(2048).expect("hostile OP: generate good key");
        let rogue_key = RsaKeyPair::generate(2048).expect("hostile OP: generate rogue key");

        let mut good_signer = RS256
            .signer_from_der(good_key.to_der_private_key())
            .expect("hostile OP: good signer");
        good_signer.set_key_id(GOOD_KID);
        // The rogue key impersonates the published key's kid ...
        let mut wrong_key_signer = RS256
            .signer_from_der(rogue_key.to_der_private_key())
            .expect("hostile OP: rogue signer");
        wrong_key_signer.set_key_id(GOOD_KID);
        // ... or announces a kid nobody published.
        let mut unknown_kid_signer = wrong_key_signer.clone();
        unknown_kid_signer.set_key_id(UNKNOWN_KID);

        let mut jwk = good_key.to_jwk_public_key();
        jwk.set_key_id(GOOD_KID);
        jwk.set_algorithm("RS256");
        jwk.set_key_use("sig");
        let published_jwk = Value::Object(jwk.as_ref().clone());

        let shared = Arc::new(Shared {
            client_id: client_id.to_owned(),
            issuer: issuer.clone(),
            good_key,
            good_signer,
            wrong_key_signer,
            unknown_kid_signer,
            published_jwk,
            rotated: Mutex::new(None),
            settings: Mutex::new(Settings {
                forge: Forge::Valid,
                iss_param: Some(issuer),
                advertise_iss: true,
                hs_secret: HsSecret::Pem,
                access_token_sid: true,
            }),
            codes: Mutex::new(HashMap::new()),
            refresh_tokens: Mutex::new(HashMap::new()),
            token_calls: AtomicUsize::new(0),
            jwks_calls: AtomicUsize::new(0),
            counter: AtomicU64::new(0),
        });

        let (tx, rx) = std::sync::mpsc::channel::<ServerHandle>();
        let data = web::Data::new(shared.clone());
        let thread = std::thread::Builder::new()
            .name(format!("hostile-op-{}", addr.port()))
            .spawn(move || {
                let system = actix_rt::System::new();
                system.block_on(async move {
                    let server = HttpServer::new(move || {
                        App::new()
                            .app_data(data.clone())
                            .route(
                                &format!("{REALM_PATH}/.well-known/openid-configuration"),
                                web::get().to(discovery),
                            )
                            .route(&format!("{OIDC_PATH}/certs"), web::get().to(certs))
                            .route(&format!("{OIDC_PATH}/auth"), web::get().to(authorize))
                            .route(&format!("{OIDC_PATH}/token"), web::post().to(token))
                            .route(&format!("{OIDC_PATH}/logout"), web::get().to(logout))
                            .route(&format!("{OIDC_PATH}/logout"), web::post().to(logout))
                    })
                    .workers(1)
                    .disable_signals()
                    .shutdown_timeout(1)
                    .listen(listener)
                    .expect("hostile OP: listen")
                    .run();
                    let _ = tx.send(server.handle());
                    let _ = server.await;
                });
            })
            .expect("hostile OP: spawn thread");

        let handle = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("hostile OP: server did not start");
        let op = HostileOp {
            shared,
            handle,
            thread: Some(thread),
        };
        wait_for_discovery(addr);
        op
    }

    /// `http://127.0.0.1:<port>/realms/evil`
    pub fn issuer(&self) -> String {
        self.shared.issuer.clone()
    }

    /// Select what the token endpoint forges from now on.
    pub fn set_forge(&self, f: Forge) {
        lock(&self.shared.settings).forge = f;
    }

    /// Whether access tokens carry `sid` (the ID token always does).
    pub fn set_access_token_sid(&self, yes: bool) {
        lock(&self.shared.settings).access_token_sid = yes;
    }

    /// Override the RFC 9207 `iss` query parameter the auth endpoint appends: None = omit it,
    /// Some(v) = use v. Default: Some(issuer).
    pub fn set_iss_param(&self, v: Option<String>) {
        lock(&self.shared.settings).iss_param = v;
    }

    /// Whether discovery advertises authorization_response_iss_parameter_supported (default
    /// true). When false the field is omitted from discovery (RFC 9207: omitted means false).
    pub fn set_advertise_iss(&self, yes: bool) {
        lock(&self.shared.settings).advertise_iss = yes;
    }

    /// Which encoding of the published public key [`Forge::HsWithPublicKey`] uses as HMAC
    /// secret (default [`HsSecret::Pem`]).
    pub fn set_hs_secret(&self, form: HsSecret) {
        lock(&self.shared.settings).hs_secret = form;
    }

    /// The exact HMAC secret bytes [`Forge::HsWithPublicKey`] uses for `form`.
    pub fn hs_secret_bytes(&self, form: HsSecret) -> Vec<u8> {
        self.shared.hs_secret_bytes(form)
    }

    /// Sign arbitrary claims with a chosen key (`header` must carry `alg`; `kid` defaults to
    /// the published key). Used to forge logout tokens.
    pub fn sign(&self, header: Value, claims: Value, key: SignWith) -> String {
        let sh = &self.shared;
        match key {
            SignWith::Good => sign_jwt(&header, &claims, &sh.good_signer),
            SignWith::Rogue => sign_jwt(&header, &claims, &sh.wrong_key_signer),
            SignWith::HsPublicPem => {
                let signer = HS256
                    .signer_from_bytes(sh.hs_secret_bytes(HsSecret::Pem))
                    .expect("hostile OP: HS256 signer");
                sign_jwt(&header, &claims, &signer)
            }
            SignWith::None => format!(
                "{}.{}.",
                URL_SAFE_NO_PAD.encode(header.to_string()),
                URL_SAFE_NO_PAD.encode(claims.to_string())
            ),
        }
    }

    /// Key rotation: from now on tokens are signed by a new key (kid `rotated-key`), which
    /// the JWKS publishes next to the old one.
    pub fn rotate_key(&self) {
        let key = RsaKeyPair::generate(2048).expect("hostile OP: generate rotated key");
        let mut signer = RS256
            .signer_from_der(key.to_der_private_key())
            .expect("hostile OP: rotated signer");
        signer.set_key_id(ROTATED_KID);
        let mut jwk = key.to_jwk_public_key();
        jwk.set_key_id(ROTATED_KID);
        jwk.set_algorithm("RS256");
        jwk.set_key_use("sig");
        *lock(&self.shared.rotated) = Some((signer, Value::Object(jwk.as_ref().clone())));
    }

    /// How many requests reached the JWKS endpoint.
    pub fn jwks_calls(&self) -> usize {
        self.shared.jwks_calls.load(Ordering::SeqCst)
    }

    /// How many requests reached the token endpoint.
    pub fn token_calls(&self) -> usize {
        self.shared.token_calls.load(Ordering::SeqCst)
    }
}

impl Drop for HostileOp {
    fn drop(&mut self) {
        // `stop` sends the command eagerly; the returned future only waits for completion.
        drop(self.handle.stop(false));
        if let Some(thread) = self.thread.take() {
            let deadline = Instant::now() + Duration::from_secs(5);
            while !thread.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            if thread.is_finished() {
                let _ = thread.join();
            }
        }
    }
}

impl Shared {
    fn settings(&self) -> Settings {
        lock(&self.settings).clone()
    }

    fn unique(&self, prefix: &str) -> String {
        let n = self.counter.fetch_add(1, Ordering::SeqCst);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let rnd = URL_SAFE_NO_PAD.encode(josekit::util::random_bytes(12));
        format!("{prefix}{n}.{nanos:x}.{rnd}")
    }

    fn hs_secret_bytes(&self, form: HsSecret) -> Vec<u8> {
        match form {
            HsSecret::Pem => self.good_key.to_pem_public_key(),
            HsSecret::PemPkcs1 => self.good_key.to_traditional_pem_public_key(),
            HsSecret::Der => self.good_key.to_der_public_key(),
            HsSecret::JwkN => {
                let n = self.published_jwk["n"].as_str().unwrap_or_default();
                URL_SAFE_NO_PAD.decode(n).expect("hostile OP: decode n")
            }
            HsSecret::JwkJson => self.published_jwk.to_string().into_bytes(),
        }
    }

    fn discovery(&self) -> Value {
        let base = format!("{}/protocol/openid-connect", self.issuer);
        let mut doc = json!({
            "issuer": self.issuer,
            "authorization_endpoint": format!("{base}/auth"),
            "token_endpoint": format!("{base}/token"),
            "jwks_uri": format!("{base}/certs"),
            "end_session_endpoint": format!("{base}/logout"),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "subject_types_supported": ["public"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "scopes_supported": ["openid", "profile", "email"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "backchannel_logout_supported": true,
            "backchannel_logout_session_supported": true,
        });
        if self.settings().advertise_iss {
            doc["authorization_response_iss_parameter_supported"] = json!(true);
        }
        doc
    }

    /// Issue a fresh token response. `forge` only affects the ID token.
    fn token_response(
        &self,
        client_id: &str,
        nonce: &str,
        auth_time: i64,
        forge: Forge,
        hs_secret: HsSecret,
    ) -> Value {
        let now = now();
        let access_claims = json!({
            "iss": self.issuer,
            "sub": SUB,
            "aud": client_id,
            "azp": client_id,
            "typ": "Bearer",
            "exp": now + 300,
            "iat": now,
            "auth_time": auth_time,
            "jti": self.unique("at-"),
            "sid": SID,
            "session_state": SID,
            "scope": "openid profile email",
            "preferred_username": "mallory",
            "email": "mallory@example.com",
            "email_verified": true,
            "realm_access": { "roles": ["user"] },
        });
        let mut access_claims = access_claims;
        if !lock(&self.settings).access_token_sid {
            if let Some(o) = access_claims.as_object_mut() {
                o.remove("sid");
                o.remove("session_state");
            }
        }
        let access_token = self.sign_current(&access_claims);

        let refresh_token = format!("rt-{}", self.counter.fetch_add(1, Ordering::SeqCst));
        lock(&self.refresh_tokens).insert(
            refresh_token.clone(),
            RefreshGrant {
                client_id: client_id.to_owned(),
                nonce: nonce.to_owned(),
                auth_time,
            },
        );

        let mut body = json!({
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": 300,
            "refresh_expires_in": 1800,
            "refresh_token": refresh_token,
            "scope": "openid profile email",
            "session_state": SID,
        });
        if forge != Forge::NoIdToken {
            body["id_token"] =
                json!(self.id_token(client_id, nonce, auth_time, &access_token, forge, hs_secret));
        }
        body
    }

    fn id_token(
        &self,
        client_id: &str,
        nonce: &str,
        auth_time: i64,
        access_token: &str,
        forge: Forge,
        hs_secret: HsSecret,
    ) -> String {
        let now = now();
        let digest = Sha256::digest(access_token.as_bytes());
        let mut claims = json!({
            "iss": self.issuer,
            "sub": SUB,
            "aud": client_id,
            "azp": client_id,
            "typ": "ID",
            "exp": now + 300,
            "iat": now,
            "auth_time": auth_time,
            "jti": self.unique("id-"),
            "nonce": nonce,
            "at_hash": URL_SAFE_NO_PAD.encode(&digest[..16]),
            "sid": SID,
            "session_state": SID,
            "preferred_username": "mallory",
            "email": "mallory@example.com",
            "email_verified": true,
        });
        match forge {
            Forge::WrongAud => claims["aud"] = json!("someone-else"),
            Forge::MultiAudNoAzp => {
                claims["aud"] = json!([client_id, "other"]);
                if let Some(map) = claims.as_object_mut() {
                    map.remove("azp");
                }
            }
            Forge::WrongAzp => claims["azp"] = json!("other"),
            Forge::WrongIss => {
                let other = self.issuer.replace(REALM_PATH, "/realms/other");
                claims["iss"] = json!(other);
            }
            Forge::WrongNonce => claims["nonce"] = json!("not-the-nonce"),
            Forge::MissingNonce => {
                if let Some(map) = claims.as_object_mut() {
                    map.remove("nonce");
                }
            }
            Forge::Expired => {
                claims["exp"] = json!(now - 600);
                claims["iat"] = json!(now - 900);
                claims["auth_time"] = json!(now - 900);
            }
            Forge::IatFuture => {
                claims["iat"] = json!(now + 600);
                claims["exp"] = json!(now + 900);
            }
            _ => {}
        }

        match forge {
            Forge::WrongKey => sign_jwt(&rs256_header(GOOD_KID), &claims, &self.wrong_key_signer),
            Forge::UnknownKid => sign_jwt(
                &rs256_header(UNKNOWN_KID),
                &claims,
                &self.unknown_kid_signer,
            ),
            Forge::AlgNone => {
                format!(
                    "{}.{}.",
                    URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#),
                    URL_SAFE_NO_PAD.encode(claims.to_string())
                )
            }
            Forge::HsWithPublicKey => {
                let signer = HS256
                    .signer_from_bytes(self.hs_secret_bytes(hs_secret))
                    .expect("hostile OP: HS256 signer");
                let header = json!({ "alg": "HS256", "typ": "JWT", "kid": GOOD_KID });
                sign_jwt(&header, &claims, &signer)
            }
            _ => self.sign_current(&claims),
        }
    }

    /// Sign with the current key: the rotated one once `rotate_key` ran.
    fn sign_current(&self, claims: &Value) -> String {
        match lock(&self.rotated).as_ref() {
            Some((signer, _)) => sign_jwt(&rs256_header(ROTATED_KID), claims, signer),
            None => sign_jwt(&rs256_header(GOOD_KID), claims, &self.good_signer),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Handlers
// ---------------------------------------------------------------------------------------------

type Data = web::Data<Arc<Shared>>;

async fn discovery(op: Data) -> HttpResponse {
    HttpResponse::Ok().json(op.discovery())
}

async fn certs(op: Data) -> HttpResponse {
    op.jwks_calls.fetch_add(1, Ordering::SeqCst);
    let mut keys = vec![op.published_jwk.clone()];
    if let Some((_, jwk)) = lock(&op.rotated).as_ref() {
        keys.push(jwk.clone());
    }
    HttpResponse::Ok().json(json!({ "keys": keys }))
}

async fn logout() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body("<!DOCTYPE html><html><body><h1>You are logged out</h1></body></html>")
}

async fn authorize(op: Data, req: HttpRequest) -> HttpResponse {
    let params = match parse_form(req.query_string().as_bytes()) {
        Ok(p) => p,
        Err(e) => return bad_request_text(&e),
    };
    let get = |k: &str| params.get(k).filter(|v| !v.is_empty()).cloned();
    let required = [
        "response_type",
        "client_id",
        "redirect_uri",
        "state",
        "nonce",
        "code_challenge",
        "code_challenge_method",
    ];
    for name in required {
        if get(name).is_none() {
            return bad_request_text(&format!("missing parameter: {name}"));
        }
    }
    let (Some(response_type), Some(client_id), Some(redirect_uri), Some(state)) = (
        get("response_type"),
        get("client_id"),
        get("redirect_uri"),
        get("state"),
    ) else {
        return bad_request_text("missing parameter");
    };
    let (Some(nonce), Some(code_challenge), Some(method)) = (
        get("nonce"),
        get("code_challenge"),
        get("code_challenge_method"),
    ) else {
        return bad_request_text("missing parameter");
    };
    if response_type != "code" {
        return bad_request_text("unsupported response_type");
    }
    if method != "S256" {
        return bad_request_text("code_challenge_method must be S256");
    }
    if client_id != op.client_id {
        return bad_request_text("unknown client_id");
    }
    let Ok(mut location) = url::Url::parse(&redirect_uri) else {
        return bad_request_text("invalid redirect_uri");
    };

    let code = op.unique("code-");
    lock(&op.codes).insert(
        code.clone(),
        CodeGrant {
            client_id,
            redirect_uri,
            nonce,
            code_challenge,
            auth_time: now(),
        },
    );

    let iss_param = op.settings().iss_param;
    {
        let mut q = location.query_pairs_mut();
        q.append_pair("code", &code);
        q.append_pair("state", &state);
        if let Some(iss) = &iss_param {
            q.append_pair("iss", iss);
        }
    }
    HttpResponse::Found()
        .insert_header((header::LOCATION, location.to_string()))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

async fn token(op: Data, req: HttpRequest, body: web::Bytes) -> HttpResponse {
    op.token_calls.fetch_add(1, Ordering::SeqCst);
    let settings = op.settings();
    match settings.forge {
        Forge::TokenEndpointError => {
            return oauth_error(400, "invalid_grant", "forged token endpoint error")
        }
        Forge::TokenEndpoint500 => {
            return HttpResponse::InternalServerError()
                .content_type("text/html; charset=utf-8")
                .body(
                    "<!DOCTYPE html><html><head><title>Error</title></head>\
                     <body><h1>500 Internal Server Error</h1><p>Something broke.</p></body></html>",
                );
        }
        _ => {}
    }

    let form = match parse_form(&body) {
        Ok(f) => f,
        Err(e) => return oauth_error(400, "invalid_request", &e),
    };
    let client_id = match client_auth(&req, &form) {
        Ok(c) => c,
        Err((status, error, description)) => return oauth_error(status, error, description),
    };
    if client_id != op.client_id {
        return oauth_error(401, "invalid_client", "unknown client");
    }

    match form.get("grant_type").map(String::as_str) {
        Some("authorization_code") => {
            let Some(code) = form.get("code") else {
                return oauth_error(400, "invalid_request", "missing code");
            };
            // Single use: the code is gone whatever happens next.
            let Some(grant) = lock(&op.codes).remove(code) else {
                return oauth_error(400, "invalid_grant", "code not valid");
            };
            if grant.client_id != client_id {
                return oauth_error(400, "invalid_grant", "code was issued to another client");
            }
            if form.get("redirect_uri") != Some(&grant.redirect_uri) {
                return oauth_error(400, "invalid_grant", "incorrect redirect_uri");
            }
            let Some(verifier) = form.get("code_verifier") else {
                return oauth_error(400, "invalid_grant", "missing code_verifier");
            };
            let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
            if computed != grant.code_challenge {
                return oauth_error(400, "invalid_grant", "PKCE verification failed");
            }
            let body = op.token_response(
                &client_id,
                &grant.nonce,
                grant.auth_time,
                settings.forge,
                settings.hs_secret,
            );
            token_ok(body)
        }
        Some("refresh_token") => {
            let Some(rt) = form.get("refresh_token") else {
                return oauth_error(400, "invalid_request", "missing refresh_token");
            };
            let Some(grant) = lock(&op.refresh_tokens).get(rt).cloned() else {
                return oauth_error(400, "invalid_grant", "invalid refresh token");
            };
            if grant.client_id != client_id {
                return oauth_error(400, "invalid_grant", "refresh token of another client");
            }
            // Refreshed tokens are always valid.
            let body = op.token_response(
                &client_id,
                &grant.nonce,
                grant.auth_time,
                Forge::Valid,
                settings.hs_secret,
            );
            token_ok(body)
        }
        Some(_) => oauth_error(400, "unsupported_grant_type", "unsupported grant_type"),
        None => oauth_error(400, "invalid_request", "missing grant_type"),
    }
}

/// (status, error, error_description) of a failed client authentication.
type OAuthError = (u16, &'static str, &'static str);

/// Client authentication: HTTP Basic (RFC 6749 2.3.1, form-urlencoded id and secret) or
/// client_secret_post. Any secret is accepted; the client id must be present.
fn client_auth(req: &HttpRequest, form: &HashMap<String, String>) -> Result<String, OAuthError> {
    if let Some(value) = req.headers().get(header::AUTHORIZATION) {
        let value = value.to_str().unwrap_or_default();
        let Some(b64) = value
            .strip_prefix("Basic ")
            .or_else(|| value.strip_prefix("basic "))
        else {
            return Err((401, "invalid_client", "unsupported authorization scheme"));
        };
        let decoded = STANDARD
            .decode(b64.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok());
        let Some(decoded) = decoded else {
            return Err((401, "invalid_client", "malformed basic credentials"));
        };
        let Some((id, _secret)) = decoded.split_once(':') else {
            return Err((401, "invalid_client", "malformed basic credentials"));
        };
        let id = form_decode(id);
        if let Some(body_id) = form.get("client_id") {
            if *body_id != id {
                return Err((400, "invalid_request", "client_id mismatch"));
            }
        }
        return Ok(id);
    }
    match (form.get("client_id"), form.get("client_secret")) {
        (Some(id), Some(_secret)) => Ok(id.clone()),
        _ => Err((401, "invalid_client", "client authentication required")),
    }
}

fn token_ok(body: Value) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .json(body)
}

fn oauth_error(status: u16, error: &str, description: &str) -> HttpResponse {
    let status = actix_web::http::StatusCode::from_u16(status)
        .unwrap_or(actix_web::http::StatusCode::BAD_REQUEST);
    let mut resp = HttpResponse::build(status);
    resp.insert_header((header::CACHE_CONTROL, "no-store"));
    if status == actix_web::http::StatusCode::UNAUTHORIZED {
        resp.insert_header((header::WWW_AUTHENTICATE, r#"Basic realm="evil""#));
    }
    resp.json(json!({ "error": error, "error_description": description }))
}

fn bad_request_text(msg: &str) -> HttpResponse {
    HttpResponse::BadRequest()
        .content_type("text/plain; charset=utf-8")
        .body(format!("invalid request: {msg}"))
}

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Parse `application/x-www-form-urlencoded`; repeated parameters are an error (RFC 6749 3.1).
fn parse_form(input: &[u8]) -> Result<HashMap<String, String>, String> {
    let mut out = HashMap::new();
    for (k, v) in url::form_urlencoded::parse(input) {
        if out.insert(k.to_string(), v.to_string()).is_some() {
            return Err(format!("repeated parameter: {k}"));
        }
    }
    Ok(out)
}

/// Decode one form-urlencoded component (`+` is a space, `%XX` escapes), as RFC 6749 §2.3.1
/// encodes the client id in HTTP Basic credentials.
fn form_decode(s: &str) -> String {
    url::form_urlencoded::parse(s.as_bytes())
        .next()
        .map(|(k, _)| k.into_owned())
        .unwrap_or_default()
}

fn rs256_header(kid: &str) -> Value {
    json!({ "alg": "RS256", "typ": "JWT", "kid": kid })
}

fn sign_jwt(header: &Value, claims: &Value, signer: &dyn JwsSigner) -> String {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let sig = signer
        .sign(input.as_bytes())
        .expect("hostile OP: signing failed");
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
}

/// Block until `GET <discovery>` answers 200 (plain std TCP, so it works inside or outside any
/// async runtime).
fn wait_for_discovery(addr: SocketAddr) {
    let deadline = Instant::now() + Duration::from_secs(10);
    let request = format!(
        "GET {REALM_PATH}/.well-known/openid-configuration HTTP/1.1\r\n\
         Host: {addr}\r\nConnection: close\r\n\r\n"
    );
    loop {
        let ok = (|| -> std::io::Result<bool> {
            let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(1))?;
            stream.set_read_timeout(Some(Duration::from_secs(2)))?;
            stream.write_all(request.as_bytes())?;
            let mut buf = Vec::new();
            stream.read_to_end(&mut buf)?;
            let text = String::from_utf8_lossy(&buf);
            Ok(text.starts_with("HTTP/1.1 200") && text.contains("\"issuer\""))
        })()
        .unwrap_or(false);
        if ok {
            return;
        }
        if Instant::now() > deadline {
            panic!("hostile OP: discovery on {addr} did not answer within 10s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
