use actix_web::http::header;
use actix_web::HttpResponse;

use super::Gw;

pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

/// Ready when the store answers, the OP metadata is known, and the revocation cache is
/// current (built, and its subscription delivered a heartbeat within
/// `revocation.heartbeat_timeout_secs`). With `revocation.stale_is_unready = false`, a
/// stale cache leaves the replica ready but `degraded` (its checks read the store).
pub async fn readyz(gw: Gw) -> HttpResponse {
    let store = gw.store.ping().await;
    let op = gw.oidc.metadata().await;
    let rev = &gw.revocations;
    let cache_ok = rev.is_ready();
    let stale = !cache_ok && rev.heartbeat_overdue() && rev.was_built();
    let degraded = stale && !gw.settings.revocation.stale_is_unready;
    let ok = store.is_ok() && op.is_ok() && (cache_ok || degraded);
    let cache = if cache_ok {
        "ok".to_string()
    } else if stale {
        format!(
            "stale: no heartbeat on the revocation channel for more than {} s",
            rev.heartbeat_timeout().map(|t| t.as_secs()).unwrap_or(0)
        )
    } else {
        "building".to_string()
    };
    let body = serde_json::json!({
        "status": match (ok, degraded) {
            (true, false) => "ready",
            (true, true) => "degraded",
            (false, _) => "not_ready",
        },
        "store": store.as_ref().map(|_| "ok".to_string()).unwrap_or_else(|e| e.to_string()),
        "oidc": op.as_ref().map(|_| "ok".to_string()).unwrap_or_else(|e| e.to_string()),
        "revocation_cache": cache,
        "revocation_heartbeat_age_secs": rev.heartbeat_age().map(|a| a.as_secs_f64()),
    });
    if ok {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
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
