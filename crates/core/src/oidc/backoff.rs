//! Backoff with jitter for fetches from the OP (discovery, JWKS): after a failure, callers
//! get the failure at once until the backoff ends instead of each retrying the OP behind
//! the fetch lock (issue 8 item 11). Kept in its own file so `oidc/mod.rs` changes little.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use rand::Rng;

use super::OidcError;

const FIRST: Duration = Duration::from_millis(500);
const MAX: Duration = Duration::from_secs(30);

#[derive(Debug, Default)]
pub struct FetchBackoff {
    /// (retry not before, current delay, the failure)
    state: Mutex<Option<(Instant, Duration, OidcError)>>,
}

impl FetchBackoff {
    /// While backing off after a failure: that failure again (same kind and text).
    pub fn replay(&self) -> Option<OidcError> {
        let st = self.state.lock().ok()?;
        let (until, _, e) = st.as_ref()?;
        (Instant::now() < *until).then(|| e.clone())
    }

    /// `fetch`, unless backing off after a failure (then that failure again, and `fetch`
    /// does not run); its outcome is recorded.
    pub async fn run<T>(
        &self,
        fetch: impl std::future::Future<Output = Result<T, OidcError>>,
    ) -> Result<T, OidcError> {
        if let Some(e) = self.replay() {
            return Err(e);
        }
        let r = fetch.await;
        self.record(r.as_ref().err());
        r
    }

    /// Record the outcome of a fetch: a failure backs off (doubling from 0.5 s up to 30 s,
    /// with ±25 % jitter), a success ends the backoff.
    pub fn record(&self, outcome: Option<&OidcError>) {
        let Ok(mut st) = self.state.lock() else {
            return;
        };
        *st = outcome.map(|error| {
            let delay = st.as_ref().map_or(FIRST, |(_, d, _)| (*d * 2).min(MAX));
            let ms = delay.as_millis() as u64;
            let jittered = rand::thread_rng().gen_range(ms * 3 / 4..=ms * 5 / 4);
            let until = Instant::now() + Duration::from_millis(jittered);
            (until, delay, error.clone())
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backs_off_after_a_failure_and_resets_on_success() {
        let b = FetchBackoff::default();
        assert!(b.replay().is_none());
        b.record(Some(&OidcError::BadResponse("bad".into())));
        assert!(matches!(b.replay(), Some(OidcError::BadResponse(m)) if m == "bad"));
        b.record(None);
        assert!(b.replay().is_none());
    }
}
