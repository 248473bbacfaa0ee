use actix_web::http::header;
use actix_web::HttpResponse;

use super::Gw;

pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

/// `GET /readyz`: core's [`sso_core::readiness::Readiness`], `503` when not ready.
pub async fn readyz(gw: Gw) -> HttpResponse {
    let r = gw.readiness().await;
    if r.ready {
        HttpResponse::Ok().json(r)
    } else {
        HttpResponse::ServiceUnavailable().json(r)
    }
}

pub async fn metrics(gw: Gw) -> HttpResponse {
    let v = gw.oidc.verified_cache_stats();
    let extra = [
        (
            "sso_revocation_cache_entries",
            "Entries in the in-memory revocation cache",
            gw.revocations.len() as u64,
        ),
        (
            "sso_verified_token_cache_entries",
            "Access tokens in the verified-token cache",
            v.entries,
        ),
        (
            "sso_verified_token_cache_hits",
            "Access-token checks answered from the verified-token cache (since start)",
            v.hits,
        ),
        (
            "sso_verified_token_cache_misses",
            "Access-token checks that verified the signature (since start)",
            v.misses,
        ),
    ];
    let mut body = gw.metrics.render(&extra);
    let rev = &gw.revocations;
    // Never a heartbeat yet: report a large age rather than none, so an alert on it fires.
    let age = rev.heartbeat_age().map(|a| a.as_secs_f64()).unwrap_or(1e9);
    body.push_str(&format!(
        "# HELP sso_revocation_heartbeat_age_seconds Time since the revocation subscription last delivered a heartbeat\n# TYPE sso_revocation_heartbeat_age_seconds gauge\nsso_revocation_heartbeat_age_seconds {age:.3}\n"
    ));
    body.push_str(&format!(
        "# HELP sso_revocation_cache_ready 1 when the revocation cache is current\n# TYPE sso_revocation_cache_ready gauge\nsso_revocation_cache_ready {}\n",
        u8::from(rev.is_ready())
    ));
    for (name, help, v) in [
        (
            "sso_revocation_dead_subscriptions_total",
            "Revocation subscriptions given up for lack of heartbeats",
            &rev.dead_subscriptions,
        ),
        (
            "sso_revocation_tombstones_written_back_total",
            "Revocation tombstones written back to a store that had lost them",
            &rev.written_back,
        ),
    ] {
        body.push_str(&format!(
            "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}\n",
            v.load(std::sync::atomic::Ordering::Relaxed)
        ));
    }
    let fanout = gw.fanout_status().await;
    if !fanout.is_empty() {
        body.push_str("# HELP sso_fanout_queue_depth Logout tokens waiting for delivery to a peer\n# TYPE sso_fanout_queue_depth gauge\n");
        for (peer, depth, _, _) in &fanout {
            body.push_str(&format!(
                "sso_fanout_queue_depth{{peer=\"{peer}\"}} {depth}\n"
            ));
        }
        body.push_str("# HELP sso_fanout_lag_seconds Age of the oldest undelivered logout token\n# TYPE sso_fanout_lag_seconds gauge\n");
        for (peer, _, lag, _) in &fanout {
            body.push_str(&format!(
                "sso_fanout_lag_seconds{{peer=\"{peer}\"}} {lag}\n"
            ));
        }
        body.push_str("# HELP sso_fanout_dead_letters Logouts a peer refused for good, waiting for an operator (sso-gateway fanout replay-dead)\n# TYPE sso_fanout_dead_letters gauge\n");
        for (peer, _, _, dead) in &fanout {
            body.push_str(&format!(
                "sso_fanout_dead_letters{{peer=\"{peer}\"}} {dead}\n"
            ));
        }
    }
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/plain; version=0.0.4"))
        .body(body)
}
