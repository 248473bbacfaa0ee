//! `GET /readyz`: ready when the store answers, the OP metadata is known, and the revocation
//! cache is current (built, and its subscription delivered a heartbeat within
//! `revocation.heartbeat_timeout_secs`). With `revocation.stale_is_unready = false`, a stale
//! cache leaves the replica ready but `degraded` (its checks read the store).

use serde::Serialize;

use crate::gateway::Gateway;

/// The readiness report, served as JSON (`503` when `ready` is false).
#[derive(Debug, Serialize)]
pub struct Readiness {
    #[serde(skip)]
    pub ready: bool,
    /// `ready`, `degraded` (ready with a stale cache, `revocation.stale_is_unready = false`)
    /// or `not_ready`.
    pub status: &'static str,
    /// `ok`, or why the store did not answer.
    pub store: String,
    /// `ok`, or why the OP metadata is not known.
    pub oidc: String,
    /// `ok`, `building`, or `stale: …`.
    pub revocation_cache: String,
    pub revocation_heartbeat_age_secs: Option<f64>,
}

impl Gateway {
    pub async fn readiness(&self) -> Readiness {
        let store = self.store.ping().await;
        let op = self.oidc.verifier().metadata().await;
        let rev = self.revocations.cache();
        let cache_ok = rev.is_ready();
        let stale = !cache_ok && rev.heartbeat_overdue() && rev.was_built();
        let degraded = stale && !self.settings.revocation.stale_is_unready;
        let ready = store.is_ok() && op.is_ok() && (cache_ok || degraded);
        let revocation_cache = if cache_ok {
            "ok".to_string()
        } else if stale {
            format!(
                "stale: no heartbeat on the revocation channel for more than {} s",
                rev.heartbeat_timeout().map(|t| t.as_secs()).unwrap_or(0)
            )
        } else {
            "building".to_string()
        };
        let ok_or = |r: Result<(), String>| r.map_or_else(|e| e, |()| "ok".to_string());
        Readiness {
            ready,
            status: match (ready, degraded) {
                (true, false) => "ready",
                (true, true) => "degraded",
                (false, _) => "not_ready",
            },
            store: ok_or(store.map_err(|e| e.to_string())),
            oidc: ok_or(op.map(|_| ()).map_err(|e| e.to_string())),
            revocation_cache,
            revocation_heartbeat_age_secs: rev.heartbeat_age().map(|a| a.as_secs_f64()),
        }
    }
}
