//! Backoff with jitter for fetches from the OP (discovery, JWKS): after a failure, callers
//! get the failure at once until the backoff ends instead of each retrying the OP behind
//! the fetch lock (issue 8 item 11). Kept in its own file so `oidc/mod.rs` changes little.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use rand::Rng;

const FIRST: Duration = Duration::from_millis(500);
const MAX: Duration = Duration::from_secs(30);

#[derive(Debug, Default)]
pub struct FetchBackoff {
    /// (retry not before, current delay, last error text)
    state: Mutex<Option<(Instant, Duration, String)>>,
}

impl FetchBackoff {
    /// `Some(error text)` while backing off after a failure.
    pub fn check(&self) -> Option<String> {
        let st = self.state.lock().ok()?;
        match st.as_ref() {
            Some((until, _, e)) if Instant::now() < *until => Some(e.clone()),
            _ => None,
        }
    }

    /// A fetch failed: back off (doubling from 0.5 s up to 30 s, with ±25 % jitter).
    pub fn failed(&self, error: &str) {
        if let Ok(mut st) = self.state.lock() {
            let delay = match st.as_ref() {
                Some((_, d, _)) => (*d * 2).min(MAX),
                None => FIRST,
            };
            let ms = delay.as_millis() as u64;
            let jittered = rand::thread_rng().gen_range(ms * 3 / 4..=ms * 5 / 4);
            *st = Some((
                Instant::now() + Duration::from_millis(jittered),
                delay,
                error.to_string(),
            ));
        }
    }

    pub fn succeeded(&self) {
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
        assert!(b.check().is_none());
        b.failed("down");
        assert_eq!(b.check().as_deref(), Some("down"));
        b.succeeded();
        assert!(b.check().is_none());
    }
}
