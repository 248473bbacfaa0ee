//! Per-client-address rate limits on the routes a hostile client can hammer for free:
//! login and callback (each one costs a PKCE pair, a sealed cookie and a Redis write, and
//! the callback a call to the OP), back-channel logout (a signature check), the clearing
//! chain's hops, and the admin API. GCRA from the `governor` crate, one keyed limiter per
//! route class.
//!
//! The client address is the TCP peer, unless the peer is a configured trusted proxy: then
//! `X-Forwarded-For` is read from the right, skipping trusted proxies, and the first address
//! that is not one of them is the client (a client can prepend anything to the header, so
//! only what the trusted proxies appended counts).

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use ipnet::IpNet;

/// The routes that are limited, each with its own budget per client address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateClass {
    /// `/login` and `/callback`.
    Login,
    /// `/backchannel-logout` (the OP and peers in bursts: a generous budget).
    Backchannel,
    /// `/logout/clear` (one hop per peer domain per logout).
    Clear,
    /// `/admin/*` and `/federation/revoke`.
    Admin,
}

impl RateClass {
    /// The class of a route path below the gateway's prefix (`/login`, `/admin/sessions`, …).
    pub fn for_route(path: &str) -> Option<RateClass> {
        match path {
            "/login" | "/callback" => Some(RateClass::Login),
            "/backchannel-logout" => Some(RateClass::Backchannel),
            "/logout/clear" => Some(RateClass::Clear),
            "/federation/revoke" => Some(RateClass::Admin),
            p if p.starts_with("/admin/") => Some(RateClass::Admin),
            _ => None,
        }
    }
}

/// One class's budget: `per_minute` sustained, `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub per_minute: u32,
    pub burst: u32,
}

/// `[rate_limit]` settings.
#[derive(Debug, Clone)]
pub struct RateLimitSettings {
    pub enabled: bool,
    pub trusted_proxies: Vec<IpNet>,
    pub login: Budget,
    pub backchannel: Budget,
    pub clear: Budget,
    pub admin: Budget,
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        let budget = |per_minute, burst| Budget { per_minute, burst };
        Self {
            enabled: true,
            trusted_proxies: Vec::new(),
            login: budget(600, 100),
            // Keycloak sends one back-channel call per session and retries none: never the
            // limit an OP's mass logout runs into.
            backchannel: budget(6000, 1000),
            clear: budget(600, 100),
            admin: budget(120, 20),
        }
    }
}

/// The limiters of one gateway (shared by its workers).
pub struct RateLimits {
    settings: RateLimitSettings,
    /// One limiter per [`RateClass`], in the enum's order.
    limiters: [DefaultKeyedRateLimiter<IpAddr>; 4],
}

impl std::fmt::Debug for RateLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimits")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// A budget of 0 counts as 1.
fn quota(b: Budget) -> Quota {
    let at_least_one = |n| NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN);
    Quota::per_minute(at_least_one(b.per_minute)).allow_burst(at_least_one(b.burst))
}

impl RateLimits {
    pub fn new(settings: RateLimitSettings) -> Self {
        let s = &settings;
        Self {
            limiters: [s.login, s.backchannel, s.clear, s.admin]
                .map(|b| DefaultKeyedRateLimiter::keyed(quota(b))),
            settings,
        }
    }

    /// `Err(wait)` when `client` is over its budget for `class`: answer 429 with
    /// `Retry-After` (RFC 6585 §4) of at least `wait`.
    pub fn check(&self, class: RateClass, client: IpAddr) -> Result<(), Duration> {
        if !self.settings.enabled {
            return Ok(());
        }
        self.limiters[class as usize]
            .check_key(&client)
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }

    /// Forget clients whose budget is full again (bounded memory under address churn).
    pub fn prune(&self) {
        for l in &self.limiters {
            l.retain_recent();
            l.shrink_to_fit();
        }
    }

    /// The client address of a request from `peer` carrying `x_forwarded_for`.
    pub fn client_address(&self, peer: IpAddr, x_forwarded_for: Option<&str>) -> IpAddr {
        client_address(&self.settings.trusted_proxies, peer, x_forwarded_for)
    }
}

/// The client behind `peer`: `peer` itself unless it is a trusted proxy; then the rightmost
/// `X-Forwarded-For` entry that is not a trusted proxy (a malformed entry stops the walk: the
/// last trusted hop is the best address known).
pub fn client_address(trusted: &[IpNet], peer: IpAddr, x_forwarded_for: Option<&str>) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let mut client = peer;
    if let Some(xff) = x_forwarded_for {
        for entry in xff.rsplit(',') {
            let Ok(ip) = entry.trim().parse::<IpAddr>() else {
                break;
            };
            client = ip;
            if !is_trusted(&ip) {
                break;
            }
        }
    }
    client
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forwarded_addresses_count_only_from_trusted_proxies() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        // an untrusted peer's header is ignored
        assert_eq!(
            client_address(&trusted, ip("203.0.113.9"), Some("1.2.3.4")),
            ip("203.0.113.9")
        );
        // a trusted proxy: the rightmost untrusted entry (the client may prepend lies)
        assert_eq!(
            client_address(
                &trusted,
                ip("10.0.0.2"),
                Some("6.6.6.6, 198.51.100.7, 10.0.0.5")
            ),
            ip("198.51.100.7")
        );
        assert_eq!(
            client_address(&trusted, ip("10.0.0.2"), None),
            ip("10.0.0.2")
        );
        assert_eq!(
            client_address(&trusted, ip("10.0.0.2"), Some("garbage, 198.51.100.7")),
            ip("198.51.100.7")
        );
        assert_eq!(
            client_address(&trusted, ip("10.0.0.2"), Some("198.51.100.7, garbage")),
            ip("10.0.0.2")
        );
    }

    #[test]
    fn budget_per_client_and_class() {
        let l = RateLimits::new(RateLimitSettings {
            login: Budget {
                per_minute: 60,
                burst: 3,
            },
            ..RateLimitSettings::default()
        });
        for _ in 0..3 {
            assert!(l.check(RateClass::Login, ip("192.0.2.1")).is_ok());
        }
        let wait = l.check(RateClass::Login, ip("192.0.2.1")).unwrap_err();
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(1),
            "{wait:?}"
        );
        assert!(
            l.check(RateClass::Login, ip("192.0.2.2")).is_ok(),
            "another client"
        );
        assert!(
            l.check(RateClass::Admin, ip("192.0.2.1")).is_ok(),
            "another class"
        );
        let off = RateLimits::new(RateLimitSettings {
            enabled: false,
            ..RateLimitSettings::default()
        });
        for _ in 0..1000 {
            assert!(off.check(RateClass::Admin, ip("192.0.2.1")).is_ok());
        }
    }

    #[test]
    fn route_classes() {
        assert_eq!(RateClass::for_route("/login"), Some(RateClass::Login));
        assert_eq!(RateClass::for_route("/callback"), Some(RateClass::Login));
        assert_eq!(
            RateClass::for_route("/backchannel-logout"),
            Some(RateClass::Backchannel)
        );
        assert_eq!(
            RateClass::for_route("/logout/clear"),
            Some(RateClass::Clear)
        );
        assert_eq!(
            RateClass::for_route("/admin/sessions/revoke"),
            Some(RateClass::Admin)
        );
        assert_eq!(
            RateClass::for_route("/auth"),
            None,
            "the hot path is not limited"
        );
        assert_eq!(RateClass::for_route("/session"), None);
    }
}
