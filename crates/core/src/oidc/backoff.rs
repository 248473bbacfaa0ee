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
    /// (retry not before, current delay, last error text, was it "unreachable")
    state: Mutex<Option<(Instant, Duration, String, bool)>>,
}

impl FetchBackoff {
    /// While backing off after a failure: that failure again (same kind and text).
    pub fn replay(&self) -> Option<OidcError> {
        let st = self.state.lock().ok()?;
        match st.as_ref() {
            Some((until, _, e, unreachable)) if Instant::now() < *until => Some(if *unreachable {
                OidcError::Unavailable(e.clone())
            } else {
                OidcError::BadResponse(e.clone())
            }),
            _ => None,
        }
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

    /// Record the outcome of a fetch.
    pub fn record(&self, outcome: Option<&OidcError>) {
        match outcome {
            None => self.succeeded(),
            Some(OidcError::Unavailable(m)) => self.failed(m, true),
            Some(
                OidcError::BadResponse(m) | OidcError::InvalidGrant(m) | OidcError::Refused(m),
            ) => self.failed(m, false),
        }
    }

    /// A fetch failed: back off (doubling from 0.5 s up to 30 s, with ±25 % jitter).
    fn failed(&self, error: &str, unreachable: bool) {
        if let Ok(mut st) = self.state.lock() {
            let delay = match st.as_ref() {
                Some((_, d, _, _)) => (*d * 2).min(MAX),
                None => FIRST,
            };
            let ms = delay.as_millis() as u64;
            let jittered = rand::thread_rng().gen_range(ms * 3 / 4..=ms * 5 / 4);
            *st = Some((
                Instant::now() + Duration::from_millis(jittered),
                delay,
                error.to_string(),
                unreachable,
            ));
        }
    }

    fn succeeded(&self) {
        if let Ok(mut st) = self.state.lock() {
            *st = None;
        }
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
