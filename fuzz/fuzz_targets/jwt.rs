//! The verify path of an access token: JOSE header peeking, signature verification against
//! a fixed key set, and the access-token claim rules, on arbitrary text. Never a panic, and
//! nothing verifies without the fixed key's signature.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use sso_core::oidc::jwt;

/// A fixed RSA public key (generated once per process; the fuzzer cannot sign with it).
fn keys() -> &'static Vec<josekit::jwk::Jwk> {
    static K: OnceLock<Vec<josekit::jwk::Jwk>> = OnceLock::new();
    K.get_or_init(|| {
        let mut private = josekit::jwk::Jwk::generate_rsa_key(2048).unwrap();
        private.set_key_id("k1");
        let mut public = private.to_public_key().unwrap();
        public.set_key_id("k1");
        let mut ec =
            josekit::jwk::Jwk::generate_ec_key(josekit::jwk::alg::ec::EcCurve::P256).unwrap();
        ec.set_key_id("k2");
        vec![public, ec.to_public_key().unwrap()]
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    let _ = jwt::peek_header(token);
    let allowed = vec![
        "RS256".to_string(),
        "ES256".to_string(),
        "HS256".to_string(),
        "none".to_string(),
    ];
    if let Ok(v) = jwt::verify(token, keys(), &allowed) {
        panic!("a token verified without the key's signature: {:?}", v.alg);
    }
    // the claim rules on whatever JSON object the input is (as if its signature verified)
    if let Ok(serde_json::Value::Object(claims)) = serde_json::from_str::<serde_json::Value>(token)
    {
        let v = jwt::VerifiedJwt {
            alg: "RS256".into(),
            typ: claims
                .get("__typ")
                .and_then(|t| t.as_str())
                .map(String::from),
            kid: None,
            claims,
        };
        let _ = client().verifier().check_access_claims(&v, 1_700_000_000);
    }
});

fn client() -> &'static sso_core::oidc::OidcClient {
    static C: OnceLock<sso_core::oidc::OidcClient> = OnceLock::new();
    C.get_or_init(|| {
        sso_core::oidc::OidcClient::new(
            sso_core::config::OidcSettings {
                client_id: "gw-a".into(),
                client_secret: sso_core::secret::ClientSecret::new("s"),
                auth_method: sso_core::config::AuthMethod::ClientSecretBasic,
                scopes: vec!["openid".into()],
                pass_params: vec![],
                verifier: sso_core::config::VerifierSettings {
                    issuer: "https://op/realms/x".into(),
                    allowed_algs: vec!["RS256".into()],
                    clock_leeway_secs: 30,
                    jwks_min_refetch_secs: 10,
                    jwks_max_age_secs: 300,
                    http_timeout_secs: 5,
                    extra_roots_pem: None,
                    accepted_clients: vec!["gw-a".into()],
                    accept_audience_only: false,
                    verified_token_cache_size: 0,
                },
            },
            "https://auth.a.com/sso/callback".into(),
        )
        .unwrap()
    })
}
