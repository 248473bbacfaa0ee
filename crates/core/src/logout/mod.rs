//! Logging out (DESIGN §6): RP-initiated logout, the back-channel logout receiver, the
//! signed cross-domain cookie-clearing chain, and ending sessions by OP session or subject.

pub mod chain;
pub mod token;

use cookie::Cookie;
use serde::{Deserialize, Serialize};

use crate::config::ServerSideLogout;
use crate::error::{Error, Result};
use crate::forward_auth::Presented;
use crate::gateway::Gateway;
use crate::login::Redirect;
use crate::metrics::Metrics;
use crate::oidc::JwtOrOidc;
use crate::store::{keys, Index, Revocation, SessionRecord};
use crate::util::{now, random_token};
use token::{LogoutClaims, LogoutTokenError};

pub const LOGOUT_COOKIE: &str = "sso_logout";
const LOGOUT_TTL: i64 = 600;

/// Pending RP-initiated logout, sealed in the host-only `sso_logout` cookie.
#[derive(Debug, Serialize, Deserialize)]
struct LogoutState {
    state: String,
    rd: String,
    created_at: i64,
}

/// `POST /sso/backchannel-logout` input.
#[derive(Debug, Default)]
pub struct BackchannelRequest {
    pub logout_token: Option<String>,
    /// Forwarded by a peer gateway (never forwarded again).
    pub forwarded: bool,
    /// When the first gateway received it, with the federation MAC over (token, time).
    pub received_at: Option<i64>,
    pub federation_mac: Option<String>,
}

/// What ending sessions did.
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct Ended {
    pub sessions: usize,
}

impl Gateway {
    // ------------------------------------------------------------ ending sessions

    /// End every session of an OP session (`sid`) or, without `sid`, of a subject; write
    /// the tombstone and publish it so every replica's revocation cache learns it.
    pub async fn end_sessions(
        &self,
        iss: &str,
        sid: Option<&str>,
        sub: Option<&str>,
        all_of_sub: bool,
    ) -> Result<Ended> {
        let mut ids = Vec::new();
        if let Some(sid) = sid {
            ids.extend(self.store.lookup(Index::Sid, iss, sid).await?);
        }
        if let (Some(sub), true) = (sub, sid.is_none() || all_of_sub) {
            ids.extend(self.store.lookup(Index::Sub, iss, sub).await?);
        }
        ids.sort_by(|a, b| a.secret().cmp(b.secret()));
        ids.dedup();
        let mut ended = Ended::default();
        for id in &ids {
            if self.store.delete_session(id).await?.is_some() {
                ended.sessions += 1;
            }
        }
        // Tombstones so every replica's revocation cache refuses the live access tokens.
        if let Some(sid) = sid {
            self.revoke(Revocation::Sid {
                sid: sid.to_string(),
            })
            .await?;
        }
        if let (Some(sub), true) = (sub, sid.is_none() || all_of_sub) {
            self.revoke(Revocation::Sub {
                sub: sub.to_string(),
                before: now(),
            })
            .await?;
        }
        Ok(ended)
    }

    async fn revoke(&self, r: Revocation) -> Result<()> {
        self.store
            .revoke(&r, self.settings.session.revocation_ttl_secs)
            .await?;
        self.revocations.insert(&r);
        Ok(())
    }

    // ------------------------------------------------------------ back-channel

    /// OIDC Back-Channel Logout 1.0 §2.5–2.8. `Ok` only after the store holds the result.
    #[tracing::instrument(skip_all, name = "backchannel_logout")]
    pub async fn backchannel_logout(&self, req: &BackchannelRequest) -> Result<Ended> {
        let token = req
            .logout_token
            .as_deref()
            .filter(|t| !t.is_empty())
            .ok_or_else(|| bcl(LogoutTokenError::Missing))?;
        // §2.6 step 2: JWS with the ID-token algorithms, key from the OP's JWKS.
        let jwt = self.oidc.verify_jwt(token).await.map_err(|e| match e {
            JwtOrOidc::Jwt(j) => bcl(LogoutTokenError::Signature(j.to_string())),
            JwtOrOidc::Oidc(o) => Error::Provider(o),
        })?;
        let now = now();
        // A peer-forwarded token is judged by when the first gateway received it, if the
        // federation MAC proves that time; otherwise by now.
        let exp_reference = match (req.forwarded, req.received_at, &req.federation_mac) {
            (true, Some(t), Some(mac)) if self.federation_mac_ok(token, t, mac) && t <= now => t,
            _ => now,
        };
        let mut audiences = self.settings.fanout.accepted_audiences.clone();
        if !req.forwarded {
            // Directly from the OP: only our own client id.
            audiences = vec![self.settings.oidc.client_id.clone()];
        }
        let claims = token::check_claims(
            &jwt,
            &self.settings.oidc.issuer,
            &audiences,
            now,
            self.settings.oidc.clock_leeway_secs,
            exp_reference,
        )
        .map_err(bcl)?;
        // §2.6 step 7: jti not seen before (per receiving client, so peers sharing a Redis
        // each process the same token once).
        let ttl = (claims.exp - now).max(0) + self.settings.oidc.clock_leeway_secs + 60;
        let jti_key = keys::jti(&format!("{}:{}", self.settings.oidc.client_id, claims.jti));
        if !self.store.mark_once(&jti_key, ttl).await? {
            return Err(bcl(LogoutTokenError::Replayed));
        }
        let ended = self.apply_logout(&claims).await?;
        if !req.forwarded {
            self.enqueue_fanout(token, now).await?;
        }
        Metrics::inc(&self.metrics.backchannel_logouts);
        tracing::info!(
            sessions = ended.sessions,
            forwarded = req.forwarded,
            "back-channel logout"
        );
        Ok(ended)
    }

    async fn apply_logout(&self, c: &LogoutClaims) -> Result<Ended> {
        // Keycloak `revoke_offline_access`: every session of the user goes.
        self.end_sessions(
            &c.iss,
            c.sid.as_deref(),
            c.sub.as_deref(),
            c.revoke_offline_access,
        )
        .await
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
    ) -> Result<Redirect> {
        let rd = self.checked_rd(rd)?;
        let rec = self.presented_session(p).await?;
        let mut cookies = self.cookies.clear_session(p.chunks);
        let meta = self.oidc.metadata().await?;
        Metrics::inc(&self.metrics.logouts);
        let Some(rec) = rec else {
            // Nothing to end here: just go on.
            return Ok(Redirect {
                location: rd.to_string(),
                cookies,
            });
        };
        self.end_session_everywhere(&rec).await?;
        let Some(end_session) = meta.end_session_endpoint.clone() else {
            return Ok(Redirect {
                location: rd.to_string(),
                cookies,
            });
        };
        let state = random_token(24);
        let st = LogoutState {
            state: state.clone(),
            rd: rd.to_string(),
            created_at: now(),
        };
        let sealed = self.cookies.seal(LOGOUT_COOKIE, &st).unwrap_or_default();
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
            self.chain_start(url.as_str())?
                .unwrap_or_else(|| url.to_string())
        } else {
            url.to_string()
        };
        Ok(Redirect { location, cookies })
    }

    /// Delete the session and tombstone its OP session for every replica and domain
    /// sharing this store; the OP's back-channel logout reaches the others.
    async fn end_session_everywhere(&self, rec: &SessionRecord) -> Result<()> {
        self.end_session(rec).await?;
        if let Some(sid) = &rec.sid {
            self.end_sessions(&rec.iss, Some(sid), Some(&rec.sub), false)
                .await?;
        }
        Ok(())
    }

    /// `GET /sso/logged-out`: the OP came back; check `state`, then go on to `rd`.
    pub fn finish_logout(&self, state: Option<&str>, cookie: Option<&str>) -> Result<Redirect> {
        let st: LogoutState = cookie
            .and_then(|c| self.cookies.open(LOGOUT_COOKIE, c))
            .ok_or(Error::BadRequest(
                "no logout is in progress in this browser".into(),
            ))?;
        let ok = state.is_some_and(|s| crate::util::ct_eq(s, &st.state))
            && st.created_at + LOGOUT_TTL >= now();
        if !ok {
            return Err(Error::BadRequest(
                "the logout response does not match this browser's logout".into(),
            ));
        }
        Ok(Redirect {
            location: st.rd,
            cookies: vec![self.cookies.clear_host_cookie(LOGOUT_COOKIE)],
        })
    }

    /// `POST /sso/logout` with `Accept: application/json`: end everything server-side
    /// (RFC 7009 revocation of the refresh token at the OP) and answer JSON.
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
        Metrics::inc(&self.metrics.logouts);
        let op = match (&rec.refresh_token, self.settings.logout_server_side) {
            (Some(rt), ServerSideLogout::Keycloak) => self.oidc.keycloak_logout(rt).await,
            (Some(rt), ServerSideLogout::Revocation) => self.oidc.revoke_refresh_token(rt).await,
            (None, _) => Ok(false),
        };
        let op_ended = match op {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(error = %e, "could not end the OP session server-side");
                false
            }
        };
        Ok((
            serde_json::json!({"logged_out": true, "sessions": 1, "op_session_ended": op_ended}),
            cookies,
        ))
    }

    fn federation_mac_ok(&self, token: &str, t: i64, mac: &str) -> bool {
        match &self.settings.fanout.federation_key {
            Some(k) => chain::verify_mac(k, &format!("fwd|{t}|{token}"), mac),
            None => false,
        }
    }

    pub fn federation_mac(&self, token: &str, t: i64) -> Option<String> {
        self.settings
            .fanout
            .federation_key
            .as_ref()
            .map(|k| chain::mac(k, &format!("fwd|{t}|{token}")))
    }
}

fn bcl(e: LogoutTokenError) -> Error {
    Error::LogoutToken(e.to_string())
}
