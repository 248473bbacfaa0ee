//! Prometheus metrics with the `prometheus` crate: each gateway's counters and the gauges
//! read at scrape time (its own registry), and the process-wide latency histograms of
//! HTTP requests, OP calls and Redis commands ([`observe_http`], [`op_timer`],
//! [`redis_timer`]). `GET /metrics` renders both ([`crate::Gateway::metrics_text`]).

use std::sync::atomic::Ordering;
use std::sync::LazyLock;
use std::time::Duration;

use prometheus::core::{Atomic, Collector, GenericCounter, GenericGauge, GenericGaugeVec};
use prometheus::{
    Encoder, Gauge, GaugeVec, Histogram, HistogramOpts, HistogramVec, IntCounter, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

use crate::gateway::Gateway;

/// Buckets for latencies from tens of µs (the hot path) to seconds (a slow OP).
const LATENCY_BUCKETS: &[f64] = &[
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0, 10.0,
];

/// The routes the request histogram labels (below the prefix); anything else is `other`.
pub const HTTP_ROUTES: &[&str] = &[
    "/auth",
    "/login",
    "/callback",
    "/session",
    "/refresh",
    "/logout",
    "/logout/clear",
    "/logged-out",
    "/signed-out",
    "/backchannel-logout",
    "/admin/sessions",
    "/admin/sessions/revoke",
    "/federation/revoke",
];

/// An OP call the OP histogram labels, by its label.
#[derive(Debug, Clone, Copy)]
pub struct OpCall(&'static str);

impl OpCall {
    pub const DISCOVERY: Self = Self("discovery");
    pub const JWKS: Self = Self("jwks");
    pub const TOKEN: Self = Self("token");
    pub const REFRESH: Self = Self("refresh");
    pub const REVOCATION: Self = Self("revocation");
    pub const END_SESSION: Self = Self("end_session");
}

/// The process-wide histograms (one gateway per process in production; tests that run
/// several in one process share them). `None` only if the crate refused a constant name.
struct Histograms {
    registry: Registry,
    /// One per [`HTTP_ROUTES`] entry, then `other`, then routes outside the prefix.
    http: Vec<Histogram>,
    op: HistogramVec,
    redis: Histogram,
}

static HISTOGRAMS: LazyLock<Option<Histograms>> = LazyLock::new(|| {
    let opts =
        |name: &str, help: &str| HistogramOpts::new(name, help).buckets(LATENCY_BUCKETS.to_vec());
    let http = HistogramVec::new(
        opts(
            "sso_http_request_duration_seconds",
            "Time to answer a request, by route (below the prefix; `other` for the rest)",
        ),
        &["route"],
    )
    .ok()?;
    let op = HistogramVec::new(
        opts(
            "sso_op_request_duration_seconds",
            "Time of the gateway's calls to the OP, by call",
        ),
        &["call"],
    )
    .ok()?;
    let redis = Histogram::with_opts(opts(
        "sso_redis_command_duration_seconds",
        "Time of one Redis command or pipeline, from the gateway",
    ))
    .ok()?;
    let registry = Registry::new();
    registry.register(Box::new(http.clone())).ok()?;
    registry.register(Box::new(op.clone())).ok()?;
    registry.register(Box::new(redis.clone())).ok()?;
    let by_route = HTTP_ROUTES
        .iter()
        .chain(&["other", "outside_prefix"])
        .map(|r| http.with_label_values(&[*r]))
        .collect();
    Some(Histograms {
        registry,
        http: by_route,
        op,
        redis,
    })
});

/// Record one answered request: `route` is the path below the prefix, `None` outside it.
pub fn observe_http(route: Option<&str>, took: Duration) {
    let Some(h) = HISTOGRAMS.as_ref() else { return };
    let i = match route {
        Some(r) => HTTP_ROUTES
            .iter()
            .position(|x| *x == r)
            .unwrap_or(HTTP_ROUTES.len()),
        None => HTTP_ROUTES.len() + 1,
    };
    if let Some(hist) = h.http.get(i) {
        hist.observe(took.as_secs_f64());
    }
}

/// Times an OP call until dropped.
pub fn op_timer(call: OpCall) -> Option<prometheus::HistogramTimer> {
    HISTOGRAMS
        .as_ref()
        .map(|h| h.op.with_label_values(&[call.0]).start_timer())
}

/// Times a Redis command until dropped.
pub fn redis_timer() -> Option<prometheus::HistogramTimer> {
    HISTOGRAMS.as_ref().map(|h| h.redis.start_timer())
}

/// A metric of a gateway's registry, made from its name and help text (the vectors are
/// labelled by `peer`).
trait Metric: Collector + Clone + Sized + 'static {
    fn make(name: &str, help: &str) -> Result<Self, prometheus::Error>;
}

impl<P: Atomic + 'static> Metric for GenericCounter<P> {
    fn make(name: &str, help: &str) -> Result<Self, prometheus::Error> {
        Self::new(name, help)
    }
}

impl<P: Atomic + 'static> Metric for GenericGauge<P> {
    fn make(name: &str, help: &str) -> Result<Self, prometheus::Error> {
        Self::new(name, help)
    }
}

impl<P: Atomic + 'static> Metric for GenericGaugeVec<P> {
    fn make(name: &str, help: &str) -> Result<Self, prometheus::Error> {
        Self::new(Opts::new(name, help), &["peer"])
    }
}

/// `Metrics`, one field per metric: `field: Type = (name, help)`, each registered in the
/// gateway's own registry.
macro_rules! metrics {
    ($($vis:vis $field:ident: $t:ty = ($name:literal, $help:literal),)*) => {
        /// One gateway's counters, and the gauges its scrape fills in.
        #[derive(Debug)]
        pub struct Metrics {
            registry: Registry,
            $($vis $field: $t,)*
        }

        impl Metrics {
            pub fn new() -> Result<Self, prometheus::Error> {
                let registry = Registry::new();
                $(
                    let $field = <$t>::make($name, $help)?;
                    registry.register(Box::new($field.clone()))?;
                )*
                Ok(Self { registry, $($field,)* })
            }
        }
    };
}

metrics! {
    pub logins: IntCounter = ("sso_logins_total", "Completed logins"),
    pub login_failures: IntCounter = ("sso_login_failures_total", "Refused login callbacks"),
    pub auth_ok: IntCounter = ("sso_auth_ok_total", "Forward-auth checks allowed"),
    pub auth_denied: IntCounter = ("sso_auth_denied_total", "Forward-auth checks denied"),
    pub refreshes: IntCounter = ("sso_refreshes_total", "Token refreshes performed at the OP"),
    pub refresh_failures: IntCounter = ("sso_refresh_failures_total", "Failed refreshes"),
    pub logouts: IntCounter = ("sso_logouts_total", "RP-initiated logouts"),
    pub backchannel_logouts: IntCounter =
        ("sso_backchannel_logouts_total", "Accepted back-channel logouts"),
    pub rate_limited: IntCounter = (
        "sso_rate_limited_total",
        "Requests refused with 429 by the per-address rate limits"
    ),
    revocation_cache_entries: IntGauge =
        ("sso_revocation_cache_entries", "Entries in the in-memory revocation cache"),
    verified_entries: IntGauge =
        ("sso_verified_token_cache_entries", "Access tokens in the verified-token cache"),
    verified_hits: IntCounter = (
        "sso_verified_token_cache_hits",
        "Access-token checks answered from the verified-token cache (since start)"
    ),
    verified_misses: IntCounter = (
        "sso_verified_token_cache_misses",
        "Access-token checks that verified the signature (since start)"
    ),
    heartbeat_age: Gauge = (
        "sso_revocation_heartbeat_age_seconds",
        "Time since the revocation subscription last delivered a heartbeat"
    ),
    revocation_ready: IntGauge =
        ("sso_revocation_cache_ready", "1 when the revocation cache is current"),
    dead_subscriptions: IntCounter = (
        "sso_revocation_dead_subscriptions_total",
        "Revocation subscriptions given up for lack of heartbeats"
    ),
    written_back: IntCounter = (
        "sso_revocation_tombstones_written_back_total",
        "Revocation tombstones written back to a store that had lost them"
    ),
    fanout_depth: IntGaugeVec =
        ("sso_fanout_queue_depth", "Logout tokens waiting for delivery to a peer"),
    fanout_lag: GaugeVec =
        ("sso_fanout_lag_seconds", "Age of the oldest undelivered logout token"),
    fanout_dead: IntGaugeVec = (
        "sso_fanout_dead_letters",
        "Logouts a peer refused for good, waiting for an operator (sso-gateway fanout replay-dead)"
    ),
    fanout_requeued: IntCounter = (
        "sso_fanout_requeued_total",
        "Fan-out entries this replica queued again after the store lost them"
    ),
}

/// A counter that mirrors a count kept elsewhere (never goes down).
fn mirror(c: &GenericCounter<prometheus::core::AtomicU64>, v: u64) {
    c.inc_by(v.saturating_sub(c.get()));
}

impl Gateway {
    /// `GET /metrics`: the Prometheus text exposition of this gateway's metrics and the
    /// process-wide latency histograms.
    pub async fn metrics_text(&self) -> String {
        let m = &self.metrics;
        let v = self.oidc.verifier().verified_cache_stats();
        let rev = self.revocations.cache();
        m.revocation_cache_entries.set(rev.len() as i64);
        m.verified_entries.set(v.entries as i64);
        mirror(&m.verified_hits, v.hits);
        mirror(&m.verified_misses, v.misses);
        // Never a heartbeat yet: report a large age rather than none, so an alert fires.
        m.heartbeat_age
            .set(rev.heartbeat_age().map_or(1e9, |a| a.as_secs_f64()));
        m.revocation_ready.set(i64::from(rev.is_ready()));
        for (counter, count) in [
            (&m.dead_subscriptions, &rev.dead_subscriptions),
            (&m.written_back, &rev.written_back),
            (&m.fanout_requeued, &*self.fanout.requeued),
        ] {
            mirror(counter, count.load(Ordering::Relaxed));
        }
        m.fanout_depth.reset();
        m.fanout_lag.reset();
        m.fanout_dead.reset();
        for (peer, depth, lag, dead) in self.fanout.status().await {
            m.fanout_depth.with_label_values(&[&peer]).set(depth as i64);
            m.fanout_lag.with_label_values(&[&peer]).set(lag as f64);
            m.fanout_dead.with_label_values(&[&peer]).set(dead as i64);
        }
        let mut families = m.registry.gather();
        if let Some(h) = HISTOGRAMS.as_ref() {
            families.extend(h.registry.gather());
        }
        let mut out = Vec::new();
        match TextEncoder::new().encode(&families, &mut out) {
            Ok(()) => String::from_utf8_lossy(&out).into_owned(),
            Err(e) => {
                tracing::warn!(error = %e, "metrics could not be encoded");
                String::new()
            }
        }
    }
}
