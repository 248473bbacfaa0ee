//! Logout Token validation, OpenID Connect Back-Channel Logout 1.0 §2.6 — one function per
//! rule so each can be checked against the spec.

use serde_json::Value;

use crate::oidc::VerifiedJwt;

/// BCL 1.0 §2.4: the event member of the `events` claim.
pub const BCL_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LogoutTokenError {
    #[error("the request has no logout_token")]
    Missing,
    #[error("the token type {0:?} is not a logout token")]
    WrongType(String),
    #[error("signature: {0}")]
    Signature(String),
    #[error("the issuer is not the configured OP")]
    Issuer,
    #[error("the audience does not include this client")]
    Audience,
    #[error("the token was issued in the future")]
    IssuedInFuture,
    #[error("the token has expired")]
    Expired,
    #[error("the token lacks the claim {0}, or it is out of range")]
    MissingClaim(&'static str),
    #[error("the events claim lacks the back-channel logout event")]
    Events,
    #[error("a logout token must not contain a nonce")]
    Nonce,
    #[error("the token has neither sid nor sub")]
    NoSubject,
}

/// The validated content of a logout token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoutClaims {
    pub iss: String,
    pub sub: Option<String>,
    pub sid: Option<String>,
    pub jti: String,
    pub iat: i64,
    pub exp: i64,
    /// Keycloak's `revoke_offline_access` event member.
    pub revoke_offline_access: bool,
}

/// BCL 1.0 §2.6 step 2 / RFC 8417 §2.3: `typ` is `logout+jwt`; older Keycloak sends `JWT`
/// or nothing. Anything else (e.g. `at+jwt`, an ID token's type) is refused.
pub fn check_typ(typ: Option<&str>) -> Result<(), LogoutTokenError> {
    match typ.map(str::to_ascii_lowercase).as_deref() {
        None | Some("logout+jwt") | Some("application/logout+jwt") | Some("jwt") => Ok(()),
        Some(other) => Err(LogoutTokenError::WrongType(other.to_string())),
    }
}

/// BCL 1.0 §2.6 step 3: iss, aud, iat (and exp, §2.4).
fn check_iss_aud_time(
    jwt: &VerifiedJwt,
    issuer: &str,
    audiences: &[String],
    now: i64,
    leeway: i64,
    exp_reference: i64,
) -> Result<(i64, i64), LogoutTokenError> {
    if jwt.str_claim("iss") != Some(issuer) {
        return Err(LogoutTokenError::Issuer);
    }
    if !jwt
        .audiences()
        .iter()
        .any(|a| audiences.iter().any(|x| x == a))
    {
        return Err(LogoutTokenError::Audience);
    }
    let iat = jwt
        .date_claim("iat")
        .ok_or(LogoutTokenError::MissingClaim("iat"))?;
    if iat > now + leeway {
        return Err(LogoutTokenError::IssuedInFuture);
    }
    let exp = jwt
        .date_claim("exp")
        .ok_or(LogoutTokenError::MissingClaim("exp"))?;
    if exp + leeway < exp_reference {
        return Err(LogoutTokenError::Expired);
    }
    Ok((iat, exp))
}

/// BCL 1.0 §2.6 step 4: `sub` or `sid` present.
fn check_subject(jwt: &VerifiedJwt) -> Result<(Option<String>, Option<String>), LogoutTokenError> {
    let claim = |name| {
        jwt.str_claim(name)
            .filter(|s| !s.is_empty())
            .map(String::from)
    };
    let (sub, sid) = (claim("sub"), claim("sid"));
    if sub.is_none() && sid.is_none() {
        return Err(LogoutTokenError::NoSubject);
    }
    Ok((sub, sid))
}

/// BCL 1.0 §2.6 step 5: `events` has the back-channel-logout member, a JSON object.
fn check_events(jwt: &VerifiedJwt) -> Result<bool, LogoutTokenError> {
    let member = jwt
        .claims
        .get("events")
        .and_then(Value::as_object)
        .and_then(|e| e.get(BCL_EVENT))
        .and_then(Value::as_object)
        .ok_or(LogoutTokenError::Events)?;
    Ok(member
        .get("revoke_offline_access")
        .and_then(Value::as_bool)
        .unwrap_or(false))
}

/// BCL 1.0 §2.6 step 6: no `nonce`.
fn check_no_nonce(jwt: &VerifiedJwt) -> Result<(), LogoutTokenError> {
    if jwt.claims.contains_key("nonce") {
        return Err(LogoutTokenError::Nonce);
    }
    Ok(())
}

/// Every claim rule of BCL 1.0 §2.6 after the signature verified (step 2 is the caller's).
/// `exp_reference` is the time `exp` is compared with: now, or when a peer first received
/// a forwarded token.
pub fn check_claims(
    jwt: &VerifiedJwt,
    issuer: &str,
    audiences: &[String],
    now: i64,
    leeway: i64,
    exp_reference: i64,
) -> Result<LogoutClaims, LogoutTokenError> {
    check_typ(jwt.typ.as_deref())?;
    let (iat, exp) = check_iss_aud_time(jwt, issuer, audiences, now, leeway, exp_reference)?;
    let (sub, sid) = check_subject(jwt)?;
    let revoke_offline_access = check_events(jwt)?;
    check_no_nonce(jwt)?;
    // §2.6 step 7 (jti replay) needs the store; the caller does it. jti is required (§2.4).
    let jti = jwt
        .str_claim("jti")
        .filter(|s| !s.is_empty())
        .ok_or(LogoutTokenError::MissingClaim("jti"))?
        .to_string();
    Ok(LogoutClaims {
        iss: issuer.to_string(),
        sub,
        sid,
        jti,
        iat,
        exp,
        revoke_offline_access,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use serde_json::json;

    fn jwt(claims: Value, typ: Option<&str>) -> VerifiedJwt {
        VerifiedJwt {
            alg: "RS256".into(),
            typ: typ.map(String::from),
            kid: None,
            claims: claims.as_object().unwrap().clone(),
        }
    }

    fn good() -> Value {
        json!({"iss": "https://op", "aud": "gw-a", "iat": 1000, "exp": 1120, "jti": "j1",
               "sid": "s1", "sub": "u1", "events": {BCL_EVENT: {}}})
    }

    fn check(v: Value, typ: Option<&str>) -> Result<LogoutClaims, LogoutTokenError> {
        check_claims(
            &jwt(v, typ),
            "https://op",
            &["gw-a".to_string()],
            1010,
            30,
            1010,
        )
    }

    #[test]
    fn each_rule_refuses_its_violation() {
        assert!(check(good(), Some("logout+jwt")).is_ok());
        assert!(check(good(), Some("JWT")).is_ok());
        assert!(check(good(), None).is_ok());
        assert_eq!(
            check(good(), Some("at+jwt")),
            Err(LogoutTokenError::WrongType("at+jwt".into()))
        );
        let with = |k: &str, v: Value| {
            let mut g = good();
            g[k] = v;
            g
        };
        let without = |k: &str| {
            let mut g = good();
            g.as_object_mut().unwrap().remove(k);
            g
        };
        assert_eq!(
            check(with("iss", json!("https://evil")), None),
            Err(LogoutTokenError::Issuer)
        );
        assert_eq!(
            check(with("aud", json!(["other"])), None),
            Err(LogoutTokenError::Audience)
        );
        assert_eq!(
            check(with("iat", json!(2000)), None),
            Err(LogoutTokenError::IssuedInFuture)
        );
        assert_eq!(
            check(with("exp", json!(900)), None),
            Err(LogoutTokenError::Expired)
        );
        assert_eq!(
            check(without("events"), None),
            Err(LogoutTokenError::Events)
        );
        // Found by the logout_token fuzz target: an exp beyond i64 (saturated by the parse)
        // overflowed `exp + leeway`, a panic on the back-channel endpoint. Out-of-range dates
        // are refused as invalid, never wrapped or compared.
        let huge: Value = serde_json::from_str("1700066666666666666666666666666666600120").unwrap();
        assert_eq!(
            check(with("exp", huge), None),
            Err(LogoutTokenError::MissingClaim("exp"))
        );
        assert_eq!(
            check(with("exp", json!(i64::MAX)), None),
            Err(LogoutTokenError::MissingClaim("exp"))
        );
        assert_eq!(
            check(with("iat", json!(i64::MIN)), None),
            Err(LogoutTokenError::MissingClaim("iat"))
        );
        assert_eq!(
            check(with("events", json!({"other": {}})), None),
            Err(LogoutTokenError::Events)
        );
        assert_eq!(
            check(with("events", json!({BCL_EVENT: "x"})), None),
            Err(LogoutTokenError::Events)
        );
        assert_eq!(
            check(with("nonce", json!("n")), None),
            Err(LogoutTokenError::Nonce)
        );
        let mut g = without("sid");
        g.as_object_mut().unwrap().remove("sub");
        assert_eq!(check(g, None), Err(LogoutTokenError::NoSubject));
        assert_eq!(
            check(without("jti"), None),
            Err(LogoutTokenError::MissingClaim("jti"))
        );
        let r = check(
            with(
                "events",
                json!({BCL_EVENT: {"revoke_offline_access": true}}),
            ),
            None,
        )
        .unwrap();
        assert!(r.revoke_offline_access);
        // sub only is fine
        assert!(check(without("sid"), None).is_ok());
    }
}
