//! Forward-auth (`GET /sso/auth`) and the cookie-carrying session calls
//! (`GET /sso/session`, `POST /sso/refresh`). Valid access token: verified locally, no
//! store round trip. Expired: refreshed through the lease. Dead: cookies cleared.

use std::sync::Arc;

use cookie::Cookie;

use crate::api::{Allowed, AuthOutcome, Denied, Presented, SessionView};
use crate::config::UnverifiedEmail;
use crate::cookies::{RefreshHandle, REFRESH};
use crate::error::Result;
use crate::gateway::Gateway;
use crate::oidc::{AccessClaims, BEARER};
use crate::refresh::RefreshFailure;
use crate::secret::AccessToken;
use crate::session::Unauthorized;
use crate::util::now;

/// Bytes an identity header value carries percent-encoded (RFC 3986 §2.1, UTF-8): controls,
/// space, `%` (so decoding is unambiguous), `,` (the groups separator) and, through
/// `utf8_percent_encode`, every non-ASCII byte. Plain ASCII names pass unchanged; an app
/// percent-decodes each value (each group after splitting on `,`) to get the OP's string.
const HEADER_UNSAFE: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'%')
    .add(b',')
    .add(b'"');

/// An identity header value: never dropped for its characters, encoded instead.
pub fn header_value(v: &str) -> String {
    percent_encoding::utf8_percent_encode(v, HEADER_UNSAFE).to_string()
}

impl Gateway {
    /// Read the gateway cookies and a bearer token through a cookie lookup.
    pub fn presented(
        &self,
        cookie: impl Fn(&str) -> Option<String>,
        authorization: Option<&str>,
    ) -> Presented {
        let (access, chunks) = crate::cookies::join_access(&cookie);
        let rt = cookie(REFRESH);
        Presented {
            access,
            chunks,
            had_refresh_cookie: rt.is_some(),
            refresh_sealed: rt,
            refresh: std::sync::OnceLock::new(),
            bearer: crate::cookies::bearer(authorization),
        }
    }

    /// The opened `sso_rt` cookie (decrypted once, on first use), if it opens.
    pub fn refresh_of<'p>(&self, p: &'p Presented) -> Option<&'p RefreshHandle> {
        p.refresh
            .get_or_init(|| {
                p.refresh_sealed
                    .as_deref()
                    .and_then(|v| self.cookies.read_refresh(v))
            })
            .as_ref()
    }

    /// Allowed: on the hot path a valid token as presented, no new cookies.
    fn allow(
        &self,
        claims: Arc<AccessClaims>,
        access_token: &AccessToken,
        set_cookies: Vec<Cookie<'static>>,
    ) -> AuthOutcome {
        self.metrics.auth_ok.inc();
        AuthOutcome::allowed(Allowed {
            claims,
            access_token: access_token.clone(),
            set_cookies,
        })
    }

    fn deny(&self, p: &Presented, reason: &'static str) -> AuthOutcome {
        self.metrics.auth_denied.inc();
        AuthOutcome::Denied(Denied {
            reason,
            set_cookies: if p.has_cookies() {
                self.cookies.clear_session(p.chunks)
            } else {
                vec![]
            },
        })
    }

    /// Forward-auth decision. `force_refresh` is `POST /sso/refresh`.
    pub async fn authenticate(&self, p: &Presented, force_refresh: bool) -> Result<AuthOutcome> {
        // A bearer token (non-browser clients) is checked first, like resource servers do;
        // it is never refreshed. If it is not valid, cookies (if any) decide.
        if let Some(b) = &p.bearer {
            match self.check_access_token(b).await? {
                Ok(claims) => return Ok(self.allow(claims, b, vec![])),
                _ if !p.has_cookies() => return Ok(self.deny(p, "invalid bearer token")),
                _ => {}
            }
        }
        let early = self.settings.session.refresh_before_expiry_secs;
        if let (Some(at), false) = (&p.access, force_refresh) {
            match self.check_access_token(at).await? {
                // `session.refresh_before_expiry_secs`: refresh a token about to expire
                // (when the browser has a refresh cookie) instead of serving it.
                Ok(claims)
                    if early > 0 && claims.exp - now() <= early && self.refresh_of(p).is_some() => {
                }
                Ok(claims) => return Ok(self.allow(claims, at, vec![])),
                Err(Unauthorized::Revoked) => return Ok(self.revoked(p).await),
                Err(_) => {}
            }
        }
        let Some(handle) = self.refresh_of(p) else {
            return Ok(self.deny(p, "no valid session cookie"));
        };
        let rec = match self.refresh_session(handle, force_refresh).await {
            Ok(rec) => rec,
            Err(RefreshFailure::Ended(why)) => return Ok(self.deny(p, why)),
            Err(RefreshFailure::Upstream(e)) => return Err(e),
        };
        // (the refreshed session is the one `handle` names)
        let claims = match self.check_access_token(&rec.access_token).await? {
            Ok(c) => c,
            Err(Unauthorized::Revoked) => return Ok(self.revoked(p).await),
            Err(_) => return Ok(self.deny(p, "refreshed token not usable")),
        };
        // counted once the answer is certain: a cookie that fails to seal is an error
        let set_cookies = self.session_cookies(&rec, p.chunks, now())?;
        Ok(self.allow(claims, &rec.access_token, set_cookies))
    }

    /// Logged out elsewhere (another replica, domain or the OP): the session record goes too.
    async fn revoked(&self, p: &Presented) -> AuthOutcome {
        if let Some(h) = self.refresh_of(p) {
            self.sessions.discard(&h.session, "forward-auth").await;
        }
        self.deny(p, "session revoked")
    }

    /// The headers a forward-auth `200` hands the upstream: the identity headers and, with
    /// `forward_auth.pass_authorization`, `Authorization: Bearer <access token>`. `None`
    /// when the `forward_auth.unverified_email = "deny"` policy refuses the caller.
    ///
    /// The headers are (lowercase name, value) pairs, the values visible ASCII. `form`
    /// turns them into the HTTP layer's own header values, once per verified token: the
    /// result is kept with the cached claims, so the hot path neither builds nor validates
    /// them again.
    pub fn upstream_headers<T: std::any::Any + Send + Sync>(
        &self,
        a: &Allowed,
        form: impl Fn(Vec<(&'static str, bytes::Bytes)>) -> T,
    ) -> Option<std::sync::Arc<T>> {
        a.claims.upstream.get_or_init(|| {
            let mut h: Vec<(&'static str, bytes::Bytes)> = self
                .identity_headers(&a.claims)?
                .into_iter()
                .map(|(k, v)| (k, v.into()))
                .collect();
            if self.settings.pass_authorization {
                // the cached claims' buffer (also the cache's key): the token is held once
                let v = match &a.claims.upstream.bearer {
                    Some(b)
                        if b.get(BEARER.len()..) == Some(a.access_token.secret().as_bytes()) =>
                    {
                        b.clone()
                    }
                    _ => format!("{BEARER}{}", a.access_token.secret()).into(),
                };
                h.push(("authorization", v));
            }
            Some(form(h))
        })
    }

    /// The identity headers for the upstream (`X-Auth-Request-*`), or `None` when the
    /// `forward_auth.unverified_email = "deny"` policy refuses the caller. The email is sent
    /// only when the OP says `email_verified: true`; `X-Auth-Request-Sub` is the one stable
    /// identifier (a username or an email can be changed or reassigned at the OP).
    pub fn identity_headers(&self, c: &AccessClaims) -> Option<Vec<(&'static str, String)>> {
        if !c.email_verified
            && c.email.is_some()
            && self.settings.unverified_email == UnverifiedEmail::Deny
        {
            return None;
        }
        let user = c.preferred_username.as_deref().unwrap_or(&c.sub);
        let mut h = vec![("x-auth-request-user", header_value(user))];
        if let (Some(email), true) = (&c.email, c.email_verified) {
            h.push(("x-auth-request-email", header_value(email)));
        }
        h.push(("x-auth-request-sub", header_value(&c.sub)));
        let groups: Vec<String> = c.groups.iter().map(|g| header_value(g)).collect();
        h.push(("x-auth-request-groups", groups.join(",")));
        Some(h)
    }

    /// `GET /sso/session`: who is signed in, refreshing if needed.
    pub async fn session_status(
        &self,
        p: &Presented,
    ) -> Result<(SessionView, Vec<Cookie<'static>>)> {
        Ok(match self.authenticate(p, false).await? {
            AuthOutcome::Allowed(a) => (SessionView::from_claims(&a.claims), a.set_cookies),
            AuthOutcome::Denied(d) => (SessionView::default(), d.set_cookies),
        })
    }

    /// The login URL for a denied forward-auth request, when the original URL is allowed.
    pub fn login_url_for(&self, original: Option<&str>) -> Option<String> {
        let rd = self.settings.redirect.check(original?).ok()?;
        let enc: String = url::form_urlencoded::byte_serialize(rd.as_str().as_bytes()).collect();
        Some(format!("{}?rd={enc}", self.settings.public_route("/login")))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::header_value;

    #[test]
    fn identity_values_are_encoded_not_dropped() {
        assert_eq!(header_value("alice"), "alice");
        assert_eq!(header_value("alice@example.com"), "alice@example.com");
        assert_eq!(header_value("Jörg Müller"), "J%C3%B6rg%20M%C3%BCller");
        assert_eq!(header_value("a,b"), "a%2Cb");
        assert_eq!(header_value("100%"), "100%25");
        assert_eq!(header_value("x\r\ny"), "x%0D%0Ay");
        for v in ["Jörg Müller", "a,b", "100%", "日本語", "x\r\ny"] {
            let e = header_value(v);
            assert!(e.bytes().all(|b| (0x21..=0x7e).contains(&b)), "{e}");
            assert_eq!(
                percent_encoding::percent_decode_str(&e)
                    .decode_utf8()
                    .unwrap(),
                v
            );
        }
    }
}
