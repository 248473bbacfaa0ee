//! Prometheus counters, rendered by hand in the text exposition format.

use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Default)]
pub struct Metrics {
    pub logins: AtomicU64,
    pub login_failures: AtomicU64,
    pub auth_ok: AtomicU64,
    pub auth_denied: AtomicU64,
    pub refreshes: AtomicU64,
    pub refresh_failures: AtomicU64,
    pub logouts: AtomicU64,
    pub backchannel_logouts: AtomicU64,
    pub rate_limited: AtomicU64,
}

impl Metrics {
    pub fn inc(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }

    pub fn render(&self, extra: &[(&str, &str, u64)]) -> String {
        let rows = [
            ("sso_logins_total", "Completed logins", &self.logins),
            (
                "sso_login_failures_total",
                "Refused login callbacks",
                &self.login_failures,
            ),
            (
                "sso_auth_ok_total",
                "Forward-auth checks allowed",
                &self.auth_ok,
            ),
            (
                "sso_auth_denied_total",
                "Forward-auth checks denied",
                &self.auth_denied,
            ),
            (
                "sso_refreshes_total",
                "Token refreshes performed at the OP",
                &self.refreshes,
            ),
            (
                "sso_refresh_failures_total",
                "Failed refreshes",
                &self.refresh_failures,
            ),
            ("sso_logouts_total", "RP-initiated logouts", &self.logouts),
            (
                "sso_backchannel_logouts_total",
                "Accepted back-channel logouts",
                &self.backchannel_logouts,
            ),
            (
                "sso_rate_limited_total",
                "Requests refused with 429 by the per-address rate limits",
                &self.rate_limited,
            ),
        ];
        let mut out = String::new();
        for (name, help, v) in rows {
            out.push_str(&format!(
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}\n",
                v.load(Ordering::Relaxed)
            ));
        }
        for (name, help, v) in extra {
            out.push_str(&format!(
                "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}\n"
            ));
        }
        out
    }
}
