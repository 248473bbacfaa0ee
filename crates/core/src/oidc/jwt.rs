//! JWS verification with josekit against a JWK set, restricted to the configured
//! asymmetric algorithms. Shared by ID tokens, access tokens and logout tokens.

use josekit::jwk::Jwk;
use josekit::jws::JwsVerifier;
use serde_json::{Map, Value};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JwtError {
    #[error("token is not a compact JWS")]
    Malformed,
    #[error("signing algorithm {0:?} is not allowed")]
    AlgNotAllowed(String),
    #[error("no published key matches the token's key id")]
    UnknownKey,
    #[error("signature does not verify")]
    BadSignature,
}

/// A JWT whose signature verified. Claims still need checking by the caller.
#[derive(Clone)]
pub struct VerifiedJwt {
    pub alg: String,
    pub typ: Option<String>,
    pub kid: Option<String>,
    pub claims: Map<String, Value>,
}

impl std::fmt::Debug for VerifiedJwt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifiedJwt")
            .field("alg", &self.alg)
            .field("typ", &self.typ)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// 9999-12-31T23:59:59Z, the largest NumericDate accepted (see [`VerifiedJwt::date_claim`]).
pub const MAX_NUMERIC_DATE: i64 = 253_402_300_799;

impl VerifiedJwt {
    pub fn str_claim(&self, name: &str) -> Option<&str> {
        self.claims.get(name).and_then(Value::as_str)
    }
    /// A NumericDate claim (RFC 7519 §2: seconds since the epoch, possibly non-integer).
    /// A value outside `0..=MAX_NUMERIC_DATE` (the year 9999) counts as absent: no real token
    /// carries one, and it would overflow the arithmetic that compares it with the clock
    /// (`exp + leeway`, `exp - iat`), a crash the `logout_token` fuzz target found.
    pub fn date_claim(&self, name: &str) -> Option<i64> {
        self.claims
            .get(name)
            .and_then(|v| {
                v.as_i64()
                    .or_else(|| v.as_f64().filter(|f| f.is_finite()).map(|f| f as i64))
            })
            .filter(|d| (0..=MAX_NUMERIC_DATE).contains(d))
    }
    /// `aud` as a list (RFC 7519 §4.1.3: a string or an array of strings).
    pub fn audiences(&self) -> Vec<&str> {
        match self.claims.get("aud") {
            Some(Value::String(s)) => vec![s.as_str()],
            Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        }
    }
}

/// The unverified JOSE header; only used to pick a key, never trusted for anything else.
#[derive(Debug)]
pub struct PeekedHeader {
    pub alg: String,
    pub kid: Option<String>,
}

/// RFC 7515 §7.1 compact serialisation, decoded by josekit; 5 parts would be a JWE (RFC
/// 7516 §7.1): not accepted here.
pub fn peek_header(token: &str) -> Result<PeekedHeader, JwtError> {
    if token.split('.').count() != 3 {
        return Err(JwtError::Malformed);
    }
    let h = josekit::jwt::decode_header(token).map_err(|_| JwtError::Malformed)?;
    let field = |k: &str| h.claim(k).and_then(Value::as_str).map(String::from);
    Ok(PeekedHeader {
        alg: field("alg").ok_or(JwtError::Malformed)?,
        kid: field("kid"),
    })
}

fn verifier_for(alg: &str, jwk: &Jwk) -> Option<Box<dyn JwsVerifier>> {
    use josekit::jws::*;
    // Only asymmetric algorithms: an HMAC "key" made from a public key must never verify.
    let v: Result<Box<dyn JwsVerifier>, _> = match alg {
        "RS256" => RS256.verifier_from_jwk(jwk).map(|v| Box::new(v) as _),
        "RS384" => RS384.verifier_from_jwk(jwk).map(|v| Box::new(v) as _),
        "RS512" => RS512.verifier_from_jwk(jwk).map(|v| Box::new(v) as _),
        "PS256" => PS256.verifier_from_jwk(jwk).map(|v| Box::new(v) as _),
        "PS384" => PS384.verifier_from_jwk(jwk).map(|v| Box::new(v) as _),
        "PS512" => PS512.verifier_from_jwk(jwk).map(|v| Box::new(v) as _),
        "ES256" => ES256.verifier_from_jwk(jwk).map(|v| Box::new(v) as _),
        "ES384" => ES384.verifier_from_jwk(jwk).map(|v| Box::new(v) as _),
        "ES512" => ES512.verifier_from_jwk(jwk).map(|v| Box::new(v) as _),
        "EdDSA" => EdDSA.verifier_from_jwk(jwk).map(|v| Box::new(v) as _),
        _ => return None,
    };
    v.ok()
}

fn key_usable(jwk: &Jwk, alg: &str) -> bool {
    if jwk.key_use().is_some_and(|u| u != "sig") || jwk.algorithm().is_some_and(|a| a != alg) {
        return false;
    }
    let kty = jwk.key_type();
    match alg {
        a if a.starts_with("RS") || a.starts_with("PS") => kty == "RSA",
        a if a.starts_with("ES") => kty == "EC",
        "EdDSA" => kty == "OKP",
        _ => false,
    }
}

/// A published key with its verifiers built once, when the key set is fetched: building a
/// verifier parses the JWK into an OpenSSL key (decoder and provider lookups under global
/// locks), which must not happen per request.
pub struct PreparedKey {
    jwk: Jwk,
    /// One verifier per allowed algorithm this key can serve (`None`: the JWK did not load).
    verifiers: Vec<(String, Option<Box<dyn JwsVerifier>>)>,
}

impl std::fmt::Debug for PreparedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreparedKey")
            .field("kid", &self.jwk.key_id())
            .field("kty", &self.jwk.key_type())
            .finish_non_exhaustive()
    }
}

/// A JWK set with prebuilt verifiers. `generation` changes whenever the published keys
/// change (not on a refetch that returned the same keys), so results verified under an
/// older generation can be told apart.
#[derive(Debug, Default)]
pub struct KeySet {
    keys: Vec<PreparedKey>,
    generation: u64,
}

impl KeySet {
    /// Prepare `jwks` for the `allowed` algorithms (never `none`, never HS*).
    pub fn new(jwks: Vec<Jwk>, allowed: &[String], generation: u64) -> Self {
        let keys = jwks
            .into_iter()
            .map(|jwk| {
                let verifiers = allowed
                    .iter()
                    .filter(|alg| alg.as_str() != "none" && !alg.starts_with("HS"))
                    .filter(|alg| key_usable(&jwk, alg))
                    .map(|alg| (alg.clone(), verifier_for(alg, &jwk)))
                    .collect();
                PreparedKey { jwk, verifiers }
            })
            .collect();
        Self { keys, generation }
    }

    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// True when `other` publishes exactly the same keys (in any order).
    pub fn same_keys(&self, other: &[Jwk]) -> bool {
        self.keys.len() == other.len()
            && other.iter().all(|o| self.keys.iter().any(|k| &k.jwk == o))
    }
}

/// Verify `token` against `keys`. `alg` must be in `allowed` (never `none`, never HS*).
/// Builds the verifiers for this call; the hot path uses [`verify_prepared`].
pub fn verify(token: &str, keys: &[Jwk], allowed: &[String]) -> Result<VerifiedJwt, JwtError> {
    verify_prepared(token, &KeySet::new(keys.to_vec(), allowed, 0), allowed)
}

/// Verify `token` against a prepared key set. `alg` must be in `allowed`.
pub fn verify_prepared(
    token: &str,
    set: &KeySet,
    allowed: &[String],
) -> Result<VerifiedJwt, JwtError> {
    let header = peek_header(token)?;
    if header.alg == "none" || header.alg.starts_with("HS") || !allowed.contains(&header.alg) {
        return Err(JwtError::AlgNotAllowed(header.alg));
    }
    let kid = header.kid.as_deref();
    let mut candidates = set
        .keys
        .iter()
        // a kid in the header must name the key; without one, every key is tried
        .filter(|k| kid.is_none_or(|kid| k.jwk.key_id() == Some(kid)))
        .filter_map(|k| {
            k.verifiers
                .iter()
                .find(|(alg, _)| *alg == header.alg)
                .map(|(_, v)| v)
        })
        .peekable();
    if candidates.peek().is_none() {
        return Err(JwtError::UnknownKey);
    }
    // `None`: the JWK did not load for this algorithm
    for verifier in candidates.flatten() {
        if let Ok((payload, h)) = josekit::jwt::decode_with_verifier(token, verifier.as_ref()) {
            return Ok(VerifiedJwt {
                alg: header.alg,
                typ: h.token_type().map(String::from),
                kid: h.key_id().map(String::from),
                claims: payload.claims_set().clone(),
            });
        }
    }
    Err(JwtError::BadSignature)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    use josekit::jws::{JwsHeader, RS256};
    use josekit::jwt::JwtPayload;

    fn keypair() -> (josekit::jwk::Jwk, josekit::jwk::Jwk) {
        let mut private = Jwk::generate_rsa_key(2048).unwrap();
        private.set_key_id("k1");
        let mut public = private.to_public_key().unwrap();
        public.set_key_id("k1");
        (private, public)
    }

    fn sign(private: &Jwk, kid: &str) -> String {
        let mut h = JwsHeader::new();
        h.set_key_id(kid);
        let mut p = JwtPayload::new();
        p.set_subject("alice");
        josekit::jwt::encode_with_signer(&p, &h, &RS256.signer_from_jwk(private).unwrap()).unwrap()
    }

    #[test]
    fn verifies_good_and_rejects_forgeries() {
        let allowed = vec!["RS256".to_string()];
        let (private, public) = keypair();
        let good = sign(&private, "k1");
        let v = verify(&good, std::slice::from_ref(&public), &allowed).unwrap();
        assert_eq!(v.str_claim("sub"), Some("alice"));

        let (other, _) = keypair();
        let forged = sign(&other, "k1");
        assert_eq!(
            verify(&forged, std::slice::from_ref(&public), &allowed).unwrap_err(),
            JwtError::BadSignature
        );
        let mut renamed = private.clone();
        renamed.set_key_id("k2");
        let unknown = sign(&renamed, "k2");
        assert_eq!(
            verify(&unknown, std::slice::from_ref(&public), &allowed).unwrap_err(),
            JwtError::UnknownKey
        );

        let parts: Vec<&str> = good.split('.').collect();
        let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#);
        let none = format!("{none_header}.{}.", parts[1]);
        assert!(matches!(
            verify(&none, std::slice::from_ref(&public), &allowed),
            Err(JwtError::AlgNotAllowed(_))
        ));
        let hs = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","kid":"k1"}"#);
        let hs = format!("{hs}.{}.{}", parts[1], parts[2]);
        assert!(matches!(
            verify(&hs, std::slice::from_ref(&public), &["HS256".into()]),
            Err(JwtError::AlgNotAllowed(_))
        ));
        assert_eq!(
            verify("a.b", &[public], &allowed).unwrap_err(),
            JwtError::Malformed
        );
    }
}
