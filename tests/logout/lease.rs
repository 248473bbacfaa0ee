//! Issue 8 item 8: the per-peer delivery lease is renewed during a long batch, so two
//! replicas never deliver to the same peer at once and a peer never gets an entry twice.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sso_core::store::keys;
use sso_integration_tests::world::World;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::eventually;

/// How long the slow peer takes to answer each delivery (under the 5 s peer timeout).
const PEER_DELAY: Duration = Duration::from_millis(3_600);
/// Entries in the batch: together longer than the 15 s lease.
const ENTRIES: usize = 5;

/// One delivery the peer saw: the subject revoked, when it arrived and when it was answered.
#[derive(Debug, Clone)]
struct Delivery {
    sub: String,
    start: Instant,
    end: Instant,
}

/// A peer gateway that answers every `POST` with 200 after `PEER_DELAY`, recording each.
async fn slow_peer() -> (u16, Arc<Mutex<Vec<Delivery>>>, Arc<AtomicUsize>) {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let in_flight = Arc::new(AtomicUsize::new(0));
    let busy = in_flight.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            let (log, busy) = (log.clone(), busy.clone());
            tokio::spawn(async move {
                loop {
                    // one request: head, then Content-Length bytes of form body
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 8192];
                    let head_end = loop {
                        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            break i + 4;
                        }
                        match s.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    };
                    let start = Instant::now();
                    busy.fetch_add(1, Ordering::SeqCst);
                    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
                    let len: usize = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length:"))
                        .and_then(|v| v.trim().parse().ok())
                        .unwrap_or(0);
                    while buf.len() < head_end + len {
                        match s.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let body = &buf[head_end..head_end + len];
                    let sub = url::form_urlencoded::parse(body)
                        .find(|(k, _)| k == "sub")
                        .map(|(_, v)| v.into_owned())
                        .unwrap_or_default();
                    // the slow peer (a fixture's behaviour, not a wait for a condition)
                    tokio::time::sleep(PEER_DELAY).await;
                    log.lock().unwrap().push(Delivery {
                        sub,
                        start,
                        end: Instant::now(),
                    });
                    busy.fetch_sub(1, Ordering::SeqCst);
                    let resp = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}";
                    if s.write_all(resp.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (port, seen, in_flight)
}

/// Two replicas of A share the queue to one slow peer. Five operator revocations make one
/// batch of ~18 s, longer than the 15 s lease: the replica delivering it must renew the
/// lease after each entry, so the other replica never takes over mid-batch. Without the
/// renewal, the second replica acquires the lapsed lease at 15 s and posts the entry that
/// is still in flight: the peer sees it twice, two deliveries at once.
#[tokio::test]
async fn a_long_batch_keeps_its_lease_so_no_entry_is_delivered_twice() {
    let (peer_port, seen, in_flight) = slow_peer().await;
    let peer = format!("http://127.0.0.1:{peer_port}");
    let w = World::start_split(Default::default(), |o| {
        let mut f = World::fanout_toml(o, true);
        if o.domain == "a" {
            let b = format!("http://auth.b.localhost:{}", o.peer_port.unwrap());
            assert!(f.contains(&b));
            f = f.replace(&b, &peer);
        }
        o.extra.push_str(&f);
    });
    let replica = w.replica_of_a();
    // Hold the lease while queueing, so the whole queue goes out in one batch.
    let redis = redis::Client::open(w.redis.url()).unwrap();
    let mut c = redis.get_multiplexed_async_connection().await.unwrap();
    let lock = keys::fanout_lock(&peer);
    let held: Option<String> = redis::cmd("SET")
        .arg(&lock)
        .arg("test")
        .arg("NX")
        .arg("PX")
        .arg(60_000)
        .query_async(&mut c)
        .await
        .unwrap();
    assert!(held.is_some(), "the test holds the lease first");
    for i in 0..ENTRIES {
        w.a.gw
            .revoke_subject(&format!("subject-{i}"))
            .await
            .unwrap();
    }
    let queued: usize = redis::cmd("XLEN")
        .arg(keys::fanout(&peer))
        .query_async(&mut c)
        .await
        .unwrap();
    assert_eq!(queued, ENTRIES);
    let _: () = redis::cmd("DEL")
        .arg(&lock)
        .query_async(&mut c)
        .await
        .unwrap();
    let t0 = Instant::now();
    // every entry delivered, the queue empty and nothing in flight, however long it takes
    assert!(
        eventually(60, || async {
            let mut c = redis.get_multiplexed_async_connection().await.unwrap();
            let left: usize = redis::cmd("XLEN")
                .arg(keys::fanout(&peer))
                .query_async(&mut c)
                .await
                .unwrap();
            left == 0
                && in_flight.load(Ordering::SeqCst) == 0
                && seen.lock().unwrap().len() >= ENTRIES
        })
        .await,
        "the queue drains: {:?}",
        seen.lock().unwrap()
    );
    let mut d = seen.lock().unwrap().clone();
    d.sort_by_key(|x| x.start);
    let took = d.last().unwrap().end - d[0].start;
    eprintln!(
        "{} deliveries in {} ms (lease 15 s), first after {} ms",
        d.len(),
        took.as_millis(),
        (d[0].start - t0).as_millis()
    );
    assert!(
        took > Duration::from_secs(15),
        "the batch outlived one lease: {took:?}"
    );
    let mut subs: Vec<&str> = d.iter().map(|x| x.sub.as_str()).collect();
    subs.sort();
    subs.dedup();
    assert_eq!(subs.len(), ENTRIES, "every subject once");
    assert_eq!(d.len(), ENTRIES, "no entry delivered twice: {d:?}");
    for pair in d.windows(2) {
        assert!(
            pair[1].start >= pair[0].end,
            "two deliveries to the peer at once: {pair:?}"
        );
    }
    drop(replica);
}
