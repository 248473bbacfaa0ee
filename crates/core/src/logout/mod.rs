//! Logging out (docs/architecture.md §9): RP-initiated logout, the back-channel logout receiver, the
//! signed cross-domain cookie-clearing chain, and ending sessions by OP session or subject.

pub mod chain;
pub mod token;

use cookie::Cookie;
use serde::{Deserialize, Serialize};

use crate::api::Presented;
use crate::api::{Ended, Redirect};
use crate::config::ServerSideLogout;
use crate::error::{BadInput, Error, Result};
use crate::federation::BackchannelForm;
use crate::gateway::Gateway;
use crate::oidc::JwtOrOidc;
use crate::store::{keys, Revocation, SessionRecord};
use crate::util::now;
use token::LogoutTokenError;

pub const LOGOUT_COOKIE: &str = "sso_logout";
const LOGOUT_TTL: i64 = 600;
/// How long after the first gateway received a logout token a peer still accepts it
/// forwarded (a peer may be down for that long; the fan-out queue keeps it meanwhile).
/// The jti replay mark lives at least this long past the token's `exp`.
pub const FORWARD_WINDOW_SECS: i64 = 86_400;

/// How an RP-initiated logout goes on once the session ended here.
#[derive(Debug)]
pub enum LogoutStart {
    /// To the chain, the OP's end-session endpoint, or `rd`.
    Redirect(Redirect),
    /// The session ended here and the cookies are cleared, but the OP's metadata could not
    /// be fetched: the OP session may still be alive. Show a signed-out page saying so.
    OpUnreachable { cookies: Vec<Cookie<'static>> },
}

/// Pending RP-initiated logout, sealed in the host-only `sso_logout` cookie.
#[derive(Debug, Serialize, Deserialize)]
struct LogoutState {
    state: String,
    rd: String,
    created_at: i64,
}

impl Gateway {
    // ------------------------------------------------------------ back-channel

    /// OIDC Back-Channel Logout 1.0 §2.5–2.8. `Ok` only after the store holds the result.
    #[tracing::instrument(skip_all, name = "backchannel_logout")]
    pub async fn backchannel_logout(&self, req: &BackchannelForm) -> Result<Ended> {
        // `forwarded=1`: from a peer gateway (never forwarded again), with the time the
        // first gateway received it and the federation MAC over (token, time)
        let forwarded = req.forwarded.as_deref() == Some("1");
        let token = req
            .logout_token
            .as_deref()
            .filter(|t| !t.is_empty())
            .ok_or_else(|| bcl(LogoutTokenError::Missing))?;
        // §2.6 step 2: JWS with the ID-token algorithms, key from the OP's JWKS.
        let jwt = self
            .oidc
            .verifier()
            .verify_jwt(token)
            .await
            .map_err(|e| match e {
                JwtOrOidc::Jwt(j) => bcl(LogoutTokenError::Signature(j.to_string())),
                JwtOrOidc::Oidc(o) => Error::Provider(o),
            })?;
        let now = now();
        // A peer-forwarded token is judged by when the first gateway received it, if the
        // federation MAC (the key that peer shares with us) proves that time and it is at
        // most FORWARD_WINDOW_SECS old; otherwise by now. Federation fields that do not
        // verify (unknown kid, another peer's key, forged) are refused: nothing is applied.
        let mut exp_reference = now;
        if forwarded {
            use crate::federation::ForwardCheck;
            match self.settings.fanout.federation.check_forward(
                &self.settings.server.public_url,
                token,
                req.received_at,
                req.federation_kid.as_deref(),
                req.federation_mac.as_deref(),
            ) {
                ForwardCheck::Unsigned => {}
                ForwardCheck::Signed { peer, received_at } => {
                    tracing::debug!(peer = %crate::federation::origin(peer), "forwarded logout verified");
                    if received_at <= now && received_at >= now - FORWARD_WINDOW_SECS {
                        exp_reference = received_at;
                    }
                }
                ForwardCheck::Invalid => {
                    return Err(Error::Forbidden("invalid federation MAC"));
                }
            }
        }
        let mut audiences = self.settings.fanout.accepted_audiences.clone();
        if !forwarded {
            // Directly from the OP: only our own client id.
            audiences = vec![self.settings.oidc.client_id.clone()];
        }
        let issuer = &self.settings.oidc.verifier.issuer;
        let leeway = self.settings.oidc.verifier.clock_leeway_secs;
        let claims = token::check_claims(&jwt, issuer, &audiences, now, leeway, exp_reference)
            .map_err(bcl)?;
        // §2.6 step 7: jti not seen before (per receiving client, so peers sharing a Redis
        // each process the same token once). The mark is set only once the logout is
        // applied (and queued for the peers), so a store failure in between answers 503 and
        // the OP's retry applies it; a jti already applied is answered 200 without applying
        // it again (the retry of a lost answer, or the same token from the OP and a peer).
        // The mark lasts as long as the token can be accepted: until `exp` (+ leeway), and
        // with a federation key FORWARD_WINDOW_SECS longer (a forwarded receive time).
        let keyed = !self.settings.fanout.federation.is_empty();
        let window = if keyed { FORWARD_WINDOW_SECS } else { 0 };
        let ttl = (claims.exp - now).max(0) + leeway + window + 60;
        let jti_key = keys::jti(&format!("{}:{}", self.settings.oidc.client_id, claims.jti));
        if self.store.mark_exists(&jti_key).await? {
            tracing::info!(forwarded, "back-channel logout already applied");
            return Ok(Ended::default());
        }
        // A forwarded logout happened when the first gateway received it. Keycloak
        // `revoke_offline_access`: every session of the user goes.
        let mut ended = self
            .sessions
            .end_sessions(
                &claims.iss,
                claims.sid.as_deref(),
                claims.sub.as_deref(),
                claims.revoke_offline_access,
                exp_reference,
            )
            .await?;
        if !forwarded {
            self.fanout.enqueue_fanout(token, now).await?;
        } else if let (Some(_), Some(sub)) = (&claims.sid, &claims.sub) {
            ended.sessions += self
                .sessions
                .end_sidless(&claims.iss, sub, exp_reference)
                .await?;
        }
        self.store.mark_once(&jti_key, ttl).await?;
        self.metrics.backchannel_logouts.inc();
        tracing::info!(sessions = ended.sessions, forwarded, "back-channel logout");
        Ok(ended)
    }

    // ------------------------------------------------------------ RP-initiated

    /// The session a browser presents, if any.
    pub async fn presented_session(&self, p: &Presented) -> Result<Option<SessionRecord>> {
        match self.refresh_of(p) {
            Some(h) => Ok(self.store.get_session(&h.session).await?),
            None => Ok(None),
        }
    }

    /// `GET|POST /sso/logout`: end the session here and everywhere, clear this domain's
    /// cookies, then go to the OP's end-session endpoint (optionally through the peers'
    /// cookie-clearing chain first).
    #[tracing::instrument(skip_all, name = "start_logout")]
    pub async fn start_logout(
        &self,
        p: &Presented,
        rd: Option<&str>,
        through_peers: bool,
    ) -> Result<LogoutStart> {
        // without `rd`, the browser ends on the gateway's "You are signed out" page
        let rd = match rd.filter(|r| !r.is_empty()) {
            Some(_) => self.checked_rd(rd)?,
            None => url::Url::parse(&self.settings.public_route("/signed-out"))
                .map_err(|_| Error::Internal("the signed-out route is not a URL"))?,
        };
        let rec = self.presented_session(p).await?;
        let mut cookies = self.cookies.clear_session(p.chunks);
        self.metrics.logouts.inc();
        let to_rd = |cookies| {
            let location = rd.to_string();
            Ok(LogoutStart::Redirect(Redirect { location, cookies }))
        };
        let Some(rec) = rec else {
            // No session record (ended already, or the store lost it): still refuse the
            // access token this browser holds, then go on.
            self.revoke_presented_token(p).await?;
            return to_rd(cookies);
        };
        // The local session ends whatever the OP does (issue 8: the OP may be down).
        self.end_session_everywhere(&rec).await?;
        let meta = match self.oidc.verifier().metadata().await {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(error = %e, "signed out here, but the OP could not be reached: its session may still be alive");
                return Ok(LogoutStart::OpUnreachable { cookies });
            }
        };
        let Some(end_session) = meta.end_session_endpoint.clone() else {
            return to_rd(cookies);
        };
        let state = crate::oidc::random_state();
        let st = LogoutState {
            state: state.clone(),
            rd: rd.to_string(),
            created_at: now(),
        };
        let sealed = self.cookies.seal(LOGOUT_COOKIE, &st)?;
        cookies.push(self.cookies.host_cookie(LOGOUT_COOKIE, sealed, LOGOUT_TTL));
        // RP-Initiated Logout 1.0 §2
        let mut url = end_session;
        {
            let mut q = url.query_pairs_mut();
            if let Some(idt) = &rec.id_token {
                q.append_pair("id_token_hint", idt.secret());
            }
            q.append_pair("client_id", &self.settings.oidc.client_id)
                .append_pair(
                    "post_logout_redirect_uri",
                    &self.settings.public_route("/logged-out"),
                )
                .append_pair("state", &state);
        }
        let location = if through_peers {
            self.chain_start(url.as_str(), &rec)?
                .unwrap_or_else(|| url.to_string())
        } else {
            url.to_string()
        };
        Ok(LogoutStart::Redirect(Redirect { location, cookies }))
    }

    /// The browser presents an access token but no session record exists (ended already,
    /// or the store lost it, issue 8): revoke the token's OP session (tokens issued until
    /// now) and the token itself, so a logout is never a no-op while that token is valid.
    /// A token that does not verify (or keys that cannot be fetched) is left alone.
    async fn revoke_presented_token(&self, p: &Presented) -> Result<()> {
        let Some(at) = &p.access else {
            return Ok(());
        };
        let Ok(c) = self.oidc.verifier().verify_access_token(at.secret()).await else {
            return Ok(());
        };
        if let Some(sid) = &c.sid {
            let r = Revocation::Sid {
                sid: sid.clone(),
                before: now(),
            };
            self.revocations.revoke_sessions(&r).await?;
        }
        if let Some(jti) = &c.jti {
            self.revocations.revoke_token(jti, c.exp).await?;
        }
        Ok(())
    }

    /// Delete the session and tombstone its OP session for every replica and domain
    /// sharing this store; the OP's back-channel logout reaches the others.
    async fn end_session_everywhere(&self, rec: &SessionRecord) -> Result<()> {
        self.sessions.end(rec).await?;
        if let Some(sid) = &rec.sid {
            self.sessions
                .end_sessions(&rec.iss, Some(sid), Some(&rec.sub), false, now())
                .await?;
        }
        Ok(())
    }

    /// `GET /sso/logged-out`: the OP came back; check `state`, then go on to `rd`.
    pub fn finish_logout(&self, state: Option<&str>, cookie: Option<&str>) -> Result<Redirect> {
        let st: LogoutState = cookie
            .and_then(|c| self.cookies.open(LOGOUT_COOKIE, c))
            .ok_or(Error::BadRequest(BadInput::NoLogoutInProgress))?;
        let ok = state.is_some_and(|s| crate::util::ct_eq(s, &st.state))
            && st.created_at + LOGOUT_TTL >= now();
        if !ok {
            return Err(Error::BadRequest(BadInput::LogoutMismatch));
        }
        Ok(Redirect {
            location: st.rd,
            cookies: vec![self.cookies.clear_host_cookie(LOGOUT_COOKIE)],
        })
    }

    /// `POST /sso/logout` with `Accept: application/json`: end everything server-side
    /// (the OP session ended per `logout.server_side`: Keycloak's logout endpoint or RFC 7009
    /// revocation of the refresh token) and answer JSON.
    #[tracing::instrument(skip_all, name = "logout_json")]
    pub async fn logout_json(
        &self,
        p: &Presented,
    ) -> Result<(serde_json::Value, Vec<Cookie<'static>>)> {
        let cookies = self.cookies.clear_session(p.chunks);
        let Some(rec) = self.presented_session(p).await? else {
            return Ok((
                serde_json::json!({"logged_out": true, "sessions": 0}),
                cookies,
            ));
        };
        self.end_session_everywhere(&rec).await?;
        self.metrics.logouts.inc();
        let op = match (&rec.refresh_token, self.settings.logout_server_side) {
            (Some(rt), ServerSideLogout::Keycloak) => self.oidc.keycloak_logout(rt).await,
            (Some(rt), ServerSideLogout::Revocation) => self.oidc.revoke_refresh_token(rt).await,
            (None, _) => Ok(false),
        };
        let op_ended = op.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "could not end the OP session server-side");
            false
        });
        Ok((
            serde_json::json!({"logged_out": true, "sessions": 1, "op_session_ended": op_ended}),
            cookies,
        ))
    }
}

fn bcl(e: LogoutTokenError) -> Error {
    Error::LogoutToken(e.to_string())
}
