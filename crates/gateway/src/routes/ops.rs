use actix_web::http::header;
use actix_web::HttpResponse;

use super::Gw;

pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

/// Ready when the store answers and the OP metadata is known.
pub async fn readyz(gw: Gw) -> HttpResponse {
    let store = gw.store.ping().await;
    let op = gw.oidc.metadata().await;
    let ok = store.is_ok() && op.is_ok();
    let body = serde_json::json!({
        "status": if ok { "ready" } else { "not_ready" },
        "store": store.as_ref().map(|_| "ok".to_string()).unwrap_or_else(|e| e.to_string()),
        "oidc": op.as_ref().map(|_| "ok".to_string()).unwrap_or_else(|e| e.to_string()),
        "revocation_cache": if gw.revocations.is_ready() { "ok" } else { "building" },
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
    let fanout = gw.fanout_status().await;
    if !fanout.is_empty() {
        body.push_str("# HELP sso_fanout_queue_depth Logout tokens waiting for delivery to a peer\n# TYPE sso_fanout_queue_depth gauge\n");
        for (peer, depth, _) in &fanout {
            body.push_str(&format!(
                "sso_fanout_queue_depth{{peer=\"{peer}\"}} {depth}\n"
            ));
        }
        body.push_str("# HELP sso_fanout_lag_seconds Age of the oldest undelivered logout token\n# TYPE sso_fanout_lag_seconds gauge\n");
        for (peer, _, lag) in &fanout {
            body.push_str(&format!(
                "sso_fanout_lag_seconds{{peer=\"{peer}\"}} {lag}\n"
            ));
        }
    }
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/plain; version=0.0.4"))
        .body(body)
}
