//! Refresh that never races (docs/architecture.md §7.2): one refresh per session at a time across all
//! replicas through a Redis lease that is renewed while held; concurrent callers wait and
//! reuse the result; a caller still holding the previous handle inside the grace window
//! gets the new tokens; an older handle is treated as refresh-token reuse and ends the session.

use std::time::Duration;

use crate::cookies::RefreshHandle;
use crate::error::Error;
use crate::gateway::Gateway;
use crate::oidc::OidcError;
use crate::store::{keys, SessionRecord};
use crate::util::{now, random_token};

/// Why a refresh could not give the caller a session.
#[derive(Debug)]
pub enum RefreshFailure {
    /// The session is gone (expired, logged out, reuse detected, `invalid_grant`).
    Ended(&'static str),
    /// The OP or the store failed; the session is kept.
    Upstream(Error),
}

impl<E: Into<Error>> From<E> for RefreshFailure {
    fn from(e: E) -> Self {
        RefreshFailure::Upstream(e.into())
    }
}

/// A waiter is woken when a refresh finishes (in process, or through `sso:revocations`
/// from another replica); it re-reads its session at least this often anyway, in case the
/// notification was lost.
const FALLBACK_POLL: Duration = Duration::from_millis(1000);

impl Gateway {
    /// Tokens for the session behind `handle`, refreshing at the OP only when needed.
    /// `force` refreshes even if the access token is still valid (`POST /sso/refresh`).
    #[tracing::instrument(skip_all, name = "refresh_session")]
    pub async fn refresh_session(
        &self,
        handle: &RefreshHandle,
        force: bool,
    ) -> std::result::Result<SessionRecord, RefreshFailure> {
        let lock_ms = self.settings.session.refresh_lock_secs * 1000;
        let deadline = tokio::time::Instant::now() + Duration::from_millis(lock_ms * 2 + 2000);
        let lock_key = keys::refresh_lock(handle.session.secret());
        let token = random_token(16);
        loop {
            // Registered before reading, so a refresh finishing meanwhile is not missed.
            let woken = self.revocations.cache().refreshed.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            let rec = self.current_session(handle).await?;
            let now = now();
            if rec.generation > handle.generation {
                return Ok(rec); // someone refreshed for us, within the grace window
            }
            let skew = self.settings.session.refresh_before_expiry_secs.max(5);
            if !force && rec.access_expires_at > now + skew {
                return Ok(rec); // still valid (the browser's cookie just expired earlier)
            }
            if self.store.lock_acquire(&lock_key, &token, lock_ms).await? {
                let out = self
                    .refresh_locked(handle, &lock_key, &token, lock_ms)
                    .await;
                if let Err(e) = self.store.lock_release(&lock_key, &token).await {
                    // it lapses by itself after `session.refresh_lock_secs`
                    tracing::warn!(error = %e, "could not release the refresh lease");
                }
                // Wake the waiters: here at once, elsewhere through the channel.
                self.revocations.cache().refreshed.notify_waiters();
                if let Err(e) = self.store.refreshed().await {
                    tracing::warn!(error = %e, "cannot announce a finished refresh");
                }
                if let Some(rec) = out? {
                    return Ok(rec);
                }
                continue; // changed under us: evaluate again
            }
            if tokio::time::Instant::now() > deadline {
                return Err(OidcError::Unavailable(
                    "timed out waiting for a concurrent refresh".into(),
                )
                .into());
            }
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            tokio::select! {
                _ = woken => {}
                _ = tokio::time::sleep(FALLBACK_POLL.min(left)) => {}
            }
        }
    }

    /// The session if `handle` may use it: current generation, or the previous one inside
    /// the grace window. An older handle means the refresh cookie was replayed.
    async fn current_session(
        &self,
        handle: &RefreshHandle,
    ) -> std::result::Result<SessionRecord, RefreshFailure> {
        let now = now();
        let Some(rec) = self.store.get_session(&handle.session).await? else {
            return Err(RefreshFailure::Ended("session not found"));
        };
        if rec.expires_at <= now {
            self.sessions.discard(&rec.id, "refresh").await;
            return Err(RefreshFailure::Ended(
                "session reached its maximum lifetime",
            ));
        }
        let grace = self.settings.session.refresh_grace_secs;
        let fresh = handle.generation == rec.generation
            || (handle.generation + 1 == rec.generation && now <= rec.refreshed_at + grace);
        if !fresh {
            // RFC 9700 §4.14.2: reuse of a rotated credential ends the session.
            tracing::warn!(sub = %rec.sub, "stale refresh handle reused; ending the session");
            self.sessions.end(&rec).await?;
            return Err(RefreshFailure::Ended("stale refresh handle"));
        }
        Ok(rec)
    }

    /// Holding the lease: re-read, refresh at the OP, store with compare-and-set.
    /// `Ok(None)` when the session changed before we got the lease.
    async fn refresh_locked(
        &self,
        handle: &RefreshHandle,
        lock_key: &str,
        token: &str,
        lock_ms: u64,
    ) -> std::result::Result<Option<SessionRecord>, RefreshFailure> {
        let rec = self.current_session(handle).await?;
        if rec.generation != handle.generation {
            return Ok(None);
        }
        let Some(rt) = rec.refresh_token.clone() else {
            self.sessions.discard(&rec.id, "refresh").await;
            return Err(RefreshFailure::Ended("no refresh token"));
        };
        // Renew the lease while the OP call runs.
        let renew = {
            let store = self.store.clone();
            let (k, t) = (lock_key.to_string(), token.to_string());
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(Duration::from_millis(lock_ms / 3)).await;
                    if !matches!(store.lock_renew(&k, &t, lock_ms).await, Ok(true)) {
                        break;
                    }
                }
            })
        };
        let result = self.oidc.refresh(&rt).await;
        renew.abort();
        self.metrics.refreshes.inc();
        let tokens = match result {
            Ok(t) => t,
            Err(OidcError::InvalidGrant(reason)) => {
                // Keycloak: "Stale token", "Token is not active", "Session not active", …
                tracing::info!(sub = %rec.sub, reason, "refresh refused by the OP; ending the session");
                self.metrics.refresh_failures.inc();
                self.sessions.end(&rec).await?;
                return Err(RefreshFailure::Ended(
                    "the identity provider ended the session",
                ));
            }
            Err(e) => {
                self.metrics.refresh_failures.inc();
                return Err(e.into());
            }
        };
        let at = self
            .op_access_claims(&tokens.access_token, &rec.sub, true)
            .await?;
        let now = now();
        // what the OP did not send again stays as it was
        let next = SessionRecord {
            access_token: tokens.access_token,
            access_expires_at: at.exp,
            access_jti: at.jti.clone(),
            refresh_token: tokens.refresh_token.or_else(|| rec.refresh_token.clone()),
            refresh_expires_at: tokens
                .refresh_expires_in
                .map(|r| now + r)
                .or(rec.refresh_expires_at),
            id_token: tokens.id_token.or_else(|| rec.id_token.clone()),
            generation: rec.generation + 1,
            refreshed_at: now,
            ..rec.clone()
        };
        let ttl = self.session_ttl(&next, now);
        if !self
            .store
            .update_session(&next, rec.generation, ttl)
            .await?
        {
            // Deleted (logout) while we refreshed.
            return Err(RefreshFailure::Ended("session ended during refresh"));
        }
        Ok(Some(next))
    }
}
