//! Login: the authorization-code flow with PKCE, `state`, `nonce` and RFC 9207 `iss`.

use std::collections::HashMap;

use cookie::Cookie;
use url::Url;

use crate::api::Redirect;
use crate::cookies::{LoginTransaction, RefreshHandle, LOGIN_TTL_SECS};
use crate::error::{BadInput, Error, Result, StateProblem};
use crate::gateway::Gateway;
use crate::oidc::{pkce_pair, IdTokenError, JwtOrOidc, OidcError};
use crate::secret::SessionId;
use crate::store::{keys, SessionRecord};
use crate::util::{now, sha256_b64};

/// Query of `GET /sso/callback` (RFC 6749 §4.1.2, §4.1.2.1; RFC 9207 §2).
#[derive(Debug, Default, serde::Deserialize)]
pub struct CallbackParams {
    pub code: Option<String>,
    pub state: Option<String>,
    pub iss: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

/// Pending logins kept in one `sso_login` cookie (several tabs may log in at once).
const MAX_PENDING: usize = 4;
const MAX_PARAM_LEN: usize = 512;

impl Gateway {
    /// The `rd` to use: validated against `redirect.allowed`, or the gateway's session page.
    pub fn checked_rd(&self, rd: Option<&str>) -> Result<Url> {
        match rd {
            Some(rd) if !rd.is_empty() => Ok(self.settings.redirect.check(rd)?),
            _ => Url::parse(&self.settings.public_route("/session"))
                .map_err(|_| Error::Internal("the session route is not a URL")),
        }
    }

    /// The `rd` of the login this callback belongs to (by `state`, else the newest one
    /// pending in `sso_login`), for the "Try again" of a failed sign-in.
    pub fn pending_login_rd(
        &self,
        state: Option<&str>,
        login_cookie: Option<&str>,
    ) -> Option<String> {
        let pending = self.pending_logins(login_cookie);
        let by_state = state.and_then(|s| pending.iter().find(|t| crate::util::ct_eq(&t.state, s)));
        by_state.or_else(|| pending.first()).map(|t| t.rd.clone())
    }

    /// `GET /sso/login`: remember the transaction in `sso_login` and send the browser to the OP.
    #[tracing::instrument(skip_all, name = "start_login")]
    pub async fn start_login(
        &self,
        query: &HashMap<String, String>,
        login_cookie: Option<&str>,
    ) -> Result<Redirect> {
        let rd = self.checked_rd(query.get("rd").map(String::as_str))?;
        let extra = self.pass_through_params(query)?;
        let max_age = extra.iter().find(|(k, _)| k == "max_age");
        let max_age = max_age.map(|(_, v)| v.parse::<i64>()).transpose();
        let max_age = max_age.map_err(|_| Error::BadRequest(BadInput::MaxAge))?;
        let meta = self.oidc.verifier().metadata().await?;
        let (verifier, challenge) = pkce_pair();
        let tx = LoginTransaction {
            state: crate::oidc::random_state(),
            verifier,
            nonce: crate::oidc::random_state(),
            rd: rd.to_string(),
            created_at: now(),
            max_age,
        };
        let mut url = meta.authorization_endpoint.clone();
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.settings.oidc.client_id)
            .append_pair("redirect_uri", self.oidc.redirect_uri())
            .append_pair("scope", &self.settings.oidc.scopes.join(" "))
            .append_pair("state", &tx.state)
            .append_pair("nonce", &tx.nonce)
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256") // RFC 7636 §4.3, never plain
            .extend_pairs(&extra);
        let mut pending = self.pending_logins(login_cookie);
        pending.retain(|t| t.created_at + LOGIN_TTL_SECS > now());
        pending.insert(0, tx);
        pending.truncate(MAX_PENDING);
        Ok(Redirect {
            location: url.to_string(),
            cookies: vec![self.cookies.login_cookie(&pending)?],
        })
    }

    /// The logins pending in `sso_login`, newest first.
    fn pending_logins(&self, login_cookie: Option<&str>) -> Vec<LoginTransaction> {
        let pending = login_cookie.map(|c| self.cookies.read_login(c));
        pending.unwrap_or_default()
    }

    fn pass_through_params(
        &self,
        query: &HashMap<String, String>,
    ) -> Result<Vec<(String, String)>> {
        let mut out = Vec::new();
        for name in &self.settings.oidc.pass_params {
            let Some(v) = query.get(name) else { continue };
            if v.len() > MAX_PARAM_LEN || v.chars().any(char::is_control) {
                return Err(Error::BadRequest(BadInput::ParameterTooLong(name.clone())));
            }
            let ok = match name.as_str() {
                // OIDC Core §3.1.2.1 prompt values
                "prompt" => v
                    .split(' ')
                    .all(|p| matches!(p, "none" | "login" | "consent" | "select_account")),
                "max_age" => v.parse::<u32>().is_ok(),
                _ => !v.is_empty(),
            };
            if !ok {
                return Err(Error::BadRequest(BadInput::ParameterInvalid(name.clone())));
            }
            out.push((name.clone(), v.clone()));
        }
        Ok(out)
    }

    /// `GET /sso/callback`: check state and iss, exchange the code, validate the ID token,
    /// store the session and set the cookies. On error nothing is stored and no session
    /// cookie is set (the caller clears `sso_login`).
    /// `previous`: the browser's current cookies: leftover `sso_at` chunks are cleared and
    /// the session they point to is ended (a new login replaces it).
    #[tracing::instrument(skip_all, name = "finish_login")]
    pub async fn finish_login(
        &self,
        p: &CallbackParams,
        login_cookie: Option<&str>,
        previous: &crate::api::Presented,
    ) -> Result<Redirect> {
        let r = self
            .finish_login_inner(p, login_cookie, previous.chunks)
            .await;
        if r.is_err() {
            self.metrics.login_failures.inc();
            return r;
        }
        if let Some(h) = self.refresh_of(previous) {
            if let Ok(Some(old)) = self.store.get_session(&h.session).await {
                if let Err(e) = self.sessions.end(&old).await {
                    tracing::warn!(error = %e, "could not end the replaced session");
                }
            }
        }
        self.metrics.logins.inc();
        r
    }

    async fn finish_login_inner(
        &self,
        p: &CallbackParams,
        login_cookie: Option<&str>,
        previous_chunks: usize,
    ) -> Result<Redirect> {
        let state = p
            .state
            .as_deref()
            .filter(|s| !s.is_empty())
            .ok_or(Error::LoginState(StateProblem::Missing))?;
        let mut pending = self.pending_logins(login_cookie);
        // RFC 6749 §10.12: the state must match one this browser started.
        let pos = pending
            .iter()
            .position(|t| crate::util::ct_eq(&t.state, state))
            .ok_or(Error::LoginState(StateProblem::Unknown))?;
        let tx = pending.remove(pos);
        if tx.created_at + LOGIN_TTL_SECS < now() {
            return Err(Error::LoginState(StateProblem::Expired));
        }
        // Single use, across replicas: a replayed response fails even with the cookie.
        if !self
            .store
            .mark_once(&keys::state(&sha256_b64(state.as_bytes())), LOGIN_TTL_SECS)
            .await?
        {
            return Err(Error::LoginState(StateProblem::Replayed));
        }
        let meta = self.oidc.verifier().metadata().await?;
        // RFC 9207 §2.4: compare iss when present; require it when the OP advertises it.
        match p.iss.as_deref() {
            Some(iss) if iss != meta.issuer => return Err(Error::IssuerMismatch),
            None if meta.authorization_response_iss_parameter_supported => {
                return Err(Error::IssuerMismatch)
            }
            _ => {}
        }
        if let Some(error) = &p.error {
            return Err(Error::OpCallbackError {
                error: error.chars().take(100).collect(),
                description: p
                    .error_description
                    .as_ref()
                    .map(|d| d.chars().take(300).collect()),
            });
        }
        let code = p
            .code
            .as_deref()
            .filter(|c| !c.is_empty())
            .ok_or(Error::BadRequest(BadInput::MissingCode))?;
        let mut tokens =
            self.oidc
                .exchange_code(code, &tx.verifier)
                .await
                .map_err(|e| match e {
                    OidcError::InvalidGrant(_) => Error::CodeRejected,
                    other => Error::Provider(other),
                })?;
        let id_token = tokens.id_token.clone().ok_or(IdTokenError::NoIdToken)?;
        let jwt = self
            .oidc
            .verifier()
            .verify_jwt(id_token.secret())
            .await
            .map_err(|e| match e {
                JwtOrOidc::Jwt(j) => Error::IdToken(IdTokenError::Jwt(j)),
                JwtOrOidc::Oidc(o) => Error::Provider(o),
            })?;
        let now = now();
        let claims = self
            .oidc
            .check_id_token(&jwt, Some(&tx.nonce), tx.max_age, now)?;
        // The access token must be a JWT from the same OP for the same user: the hot path
        // and sibling resource servers verify it locally.
        let mut at = self
            .op_access_claims(&tokens.access_token, &claims.sub, false)
            .await?;
        // Issue 8: a login never creates a session that is already revoked. A logout that
        // never reached the OP leaves the OP session alive, and the OP signs the user in
        // again on it (same sid). The sid tombstone covers tokens issued up to the logout's
        // second, so a login within that second gets a token it covers: wait until the
        // clock is past that second and refresh once for a later token.
        if self.covered_by_revocation(&at).await? {
            let rt = tokens.refresh_token.clone().ok_or_else(|| {
                Error::Provider(OidcError::BadResponse(
                    "the OP signed in on an OP session logged out here in this very second, and \
                     sent no refresh token to get a later access token"
                        .into(),
                ))
            })?;
            let wait = ((at.iat + 1) * 1000 - crate::util::now_ms()).clamp(0, 1_100);
            tokio::time::sleep(std::time::Duration::from_millis(wait as u64)).await;
            let fresh = self.oidc.refresh(&rt).await?;
            let fresh_at = self
                .op_access_claims(&fresh.access_token, &claims.sub, false)
                .await?;
            if self.covered_by_revocation(&fresh_at).await? {
                return Err(Error::Provider(OidcError::BadResponse(
                    "the OP issued tokens for an OP session logged out here (is the OP's clock \
                     behind the gateway's?)"
                        .into(),
                )));
            }
            tokens = crate::oidc::TokenSet {
                refresh_token: fresh.refresh_token.clone().or(tokens.refresh_token),
                refresh_expires_in: fresh.refresh_expires_in.or(tokens.refresh_expires_in),
                ..fresh
            };
            at = fresh_at;
        }
        let record = SessionRecord {
            id: SessionId::generate(),
            iss: claims.iss.clone(),
            sub: claims.sub.clone(),
            sid: claims.sid.clone().or(at.sid.clone()),
            access_token: tokens.access_token.clone(),
            refresh_token: tokens.refresh_token.clone(),
            id_token: Some(id_token),
            access_expires_at: at.exp,
            refresh_expires_at: tokens.refresh_expires_in.map(|r| now + r),
            created_at: now,
            expires_at: now + self.settings.session.max_lifetime_secs,
            generation: 0,
            refreshed_at: now,
            preferred_username: claims.preferred_username.clone(),
            email: claims.email.clone(),
            name: claims.name.clone(),
            access_jti: at.jti.clone(),
        };
        self.store
            .put_session(&record, self.session_ttl(&record, now))
            .await?;
        let mut cookies = self.session_cookies(&record, previous_chunks, now)?;
        cookies.push(if pending.is_empty() {
            self.cookies.clear_login()
        } else {
            self.cookies.login_cookie(&pending)?
        });
        tracing::info!(sub = %record.sub, "login completed");
        Ok(Redirect {
            location: tx.rd,
            cookies,
        })
    }

    /// The claims of an access token the OP just issued (at login or its retry, or by a
    /// `refreshed` session) for `sub`.
    pub(crate) async fn op_access_claims(
        &self,
        token: &crate::secret::AccessToken,
        sub: &str,
        refreshed: bool,
    ) -> Result<std::sync::Arc<crate::oidc::AccessClaims>> {
        let bad = |m: String| Error::Provider(OidcError::BadResponse(m));
        let at = self
            .oidc
            .verifier()
            .verify_access_token(token.secret())
            .await
            .map_err(|e| match refreshed {
                true => bad(format!("refreshed access token: {e}")),
                false => bad(format!(
                    "the access token from the OP was refused ({e}): it must be a JWT signed by the OP \
                     and issued to this client or one in forward_auth.accepted_clients"
                )),
            })?;
        if at.sub != sub {
            return Err(bad(match refreshed {
                true => "refreshed access token is for another subject".into(),
                false => "access token subject differs from the ID token".into(),
            }));
        }
        self.revocations.note_token_lifetime(at.exp, at.iat);
        Ok(at)
    }

    /// Redis TTL of a session: idle timeout, capped by the absolute end.
    pub fn session_ttl(&self, s: &SessionRecord, now: i64) -> i64 {
        let idle = self.settings.session.idle_timeout_secs;
        let refresh = s.refresh_expires_at.map_or(i64::MAX, |r| (r - now).max(1));
        (s.expires_at - now).min(idle).min(refresh).max(1)
    }

    /// `sso_at` (chunked) and `sso_rt` for a session.
    pub fn session_cookies(
        &self,
        s: &SessionRecord,
        previous_chunks: usize,
        now: i64,
    ) -> Result<Vec<Cookie<'static>>> {
        let mut v = self.cookies.access_cookies(
            &s.access_token,
            s.access_expires_at - now,
            previous_chunks,
        );
        let handle = RefreshHandle {
            session: s.id.clone(),
            generation: s.generation,
        };
        // sso_rt first: a proxy that copies only the first N cookies (nginx's numbered
        // `X-Auth-Request-Set-Cookie-N`) must never drop the rotated refresh handle, or the
        // browser keeps the old one and the session later ends as a refresh-token reuse.
        v.insert(0, self.cookies.refresh_cookie(&handle, s.expires_at - now)?);
        Ok(v)
    }
}
