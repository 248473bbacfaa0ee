//! Operator actions: list a user's sessions and end them all. Revoking reaches every
//! replica (tombstone + pub/sub) and every peer domain (federation-signed message through
//! the durable fan-out queue), like a back-channel logout.

use serde::Serialize;

use crate::api::Ended;
use crate::error::{BadInput, Error, Result};
use crate::federation::RevokeForm;
use crate::gateway::Gateway;
use crate::util::now;

/// A session as operators see it (never the session id or tokens).
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct SessionSummary {
    pub sub: String,
    pub sid: Option<String>,
    pub preferred_username: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
    pub access_expires_at: i64,
    pub refreshes: u64,
}

const ADMIN_MAX_AGE: i64 = 86_400;

impl Gateway {
    pub async fn list_sessions(&self, sub: &str) -> Result<Vec<SessionSummary>> {
        let iss = &self.settings.oidc.verifier.issuer;
        let records = self.sessions.of_subject(iss, sub).await?;
        Ok(records
            .into_iter()
            .map(|s| SessionSummary {
                sub: s.sub,
                sid: s.sid,
                preferred_username: s.preferred_username,
                created_at: s.created_at,
                expires_at: s.expires_at,
                access_expires_at: s.access_expires_at,
                refreshes: s.generation,
            })
            .collect())
    }

    /// End every session of `sub` here and queue the revocation for every peer domain.
    #[tracing::instrument(skip_all, name = "revoke_subject")]
    pub async fn revoke_subject(&self, sub: &str) -> Result<Ended> {
        if sub.is_empty() || sub.len() > 255 {
            return Err(Error::BadRequest(BadInput::Subject));
        }
        let iss = &self.settings.oidc.verifier.issuer;
        let ended = self.sessions.end_subject(iss, sub, now()).await?;
        // Queued for every peer this gateway shares a key with; signed at delivery time
        // with that peer's current key (crate::fanout).
        let msg = crate::fanout::FanoutMessage::Revoke {
            sub: sub.to_string(),
            at: now(),
        };
        let keyed = self.settings.fanout.keyed_peers();
        self.fanout.enqueue_for(keyed, &msg).await?;
        Ok(ended)
    }

    /// `POST /sso/federation/revoke` from a peer: verify the federation MAC with the key
    /// its kid names, then end the subject's sessions here (never forwarded again).
    pub async fn federation_revoke(&self, f: &RevokeForm) -> Result<Ended> {
        let now = now();
        let at = f.received_at;
        let s = &self.settings;
        let verified =
            s.fanout
                .federation
                .check_admin(&s.server.public_url, &s.oidc.verifier.issuer, f);
        let peer = verified
            .filter(|_| at <= now + 60 && at + ADMIN_MAX_AGE >= now)
            .ok_or(Error::Forbidden("invalid federation revocation"))?;
        tracing::info!(peer = %crate::federation::origin(peer), "federation revocation verified");
        // Marked only once applied (a store failure in between is retried by the sender);
        // a revocation already applied is an idempotent success.
        let mark = format!("sso:fedrev:{{{}}}", f.federation_mac);
        if self.store.mark_exists(&mark).await? {
            return Ok(Ended::default());
        }
        // The revocation happened at `at` on the peer: sessions created here since (a
        // login after it, reached by a late delivery) are left alone.
        let iss = &s.oidc.verifier.issuer;
        let ended = self.sessions.end_subject(iss, &f.sub, at.min(now)).await?;
        self.store.mark_once(&mark, ADMIN_MAX_AGE).await?;
        Ok(ended)
    }

    /// Constant-time check of the admin API bearer token; false when none is configured.
    pub fn admin_token_ok(&self, presented: Option<&str>) -> bool {
        match (&self.settings.admin_token, presented) {
            (Some(t), Some(p)) => crate::util::ct_eq(t.secret(), p),
            _ => false,
        }
    }
}
