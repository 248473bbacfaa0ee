//! Logout-token validation (BCL 1.0 §2.6) on arbitrary claims and `typ`, as if the signature
//! had verified: a typed refusal or valid claims, never a panic; what passes always names
//! a subject and this issuer.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sso_core::logout::token::check_claims;
use sso_core::oidc::jwt::VerifiedJwt;

const ISS: &str = "https://op/realms/x";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // first line: the header `typ` (empty: none); the rest: the claims object
    let (typ, rest) = text.split_once('\n').unwrap_or(("", text));
    let Ok(serde_json::Value::Object(claims)) = serde_json::from_str::<serde_json::Value>(rest)
    else {
        return;
    };
    let jwt = VerifiedJwt {
        alg: "RS256".into(),
        typ: (!typ.is_empty()).then(|| typ.to_string()),
        kid: None,
        claims,
    };
    if let Ok(c) = check_claims(
        &jwt,
        ISS,
        &["gw-a".to_string()],
        1_700_000_000,
        30,
        1_700_000_000,
    ) {
        assert_eq!(c.iss, ISS);
        assert!(c.sub.is_some() || c.sid.is_some());
        assert!(!c.jti.is_empty());
    }
});
