//! Opening a cookie-clearing chain link (`body.kid:tag.kid:tag…`) at a hop, with fixed
//! per-peer keys. Never a panic; what opens names a configured kid of the peer the chain
//! says it comes from, is for this hop and not expired; a chain the origin seals from the
//! fuzzed fields opens at each of its hops, and only there.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sso_core::federation::{origin, FederationKey, FederationKeys, PeerKeys};
use sso_core::logout::chain::{open_link, seal_link, Chain};
use url::Url;

const NOW: i64 = 1_700_000_000;
const A: &str = "https://auth.a.com";
const B: &str = "https://auth.b.com";
const C: &str = "https://auth.c.com";

fn url(s: &str) -> Url {
    Url::parse(s).unwrap()
}

fn keys(peers: &[(&str, &str, u8)]) -> FederationKeys {
    FederationKeys::new(
        peers
            .iter()
            .map(|(p, kid, b)| PeerKeys {
                peer: url(p),
                keys: vec![FederationKey::new(*kid, vec![*b; 32])],
            })
            .collect(),
    )
}

fuzz_target!(|data: &[u8]| {
    let Some((&i, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let i = usize::from(i % 4);
    // A shares ab with B and ac with C; B and C share bc.
    let a = keys(&[(B, "ab", 1), (C, "ac", 2)]);
    let hops = [
        (B, keys(&[(A, "ab", 1), (C, "bc", 3)])),
        (C, keys(&[(A, "ac", 2), (B, "bc", 3)])),
    ];
    for (me, k) in &hops {
        let me = url(me);
        if let Some((peer, c)) = open_link(k, &me, text, i, NOW) {
            let tag = text.split('.').nth(i + 1).unwrap();
            let kid = tag.split_once(':').unwrap().0;
            assert!(
                k.kids().any(|x| x == kid),
                "opened under unknown kid {kid:?}"
            );
            assert_eq!(k.peer_of(kid), Some(peer));
            assert_eq!(c.from, origin(peer));
            assert!(c.exp >= NOW);
            assert_eq!(origin(&url(&c.hops[i])), origin(&me));
        }
    }
    // the fuzzed text as a chain body: A seals it through B then C
    if let Ok(mut c) = serde_json::from_str::<Chain>(text) {
        c.from = A.into();
        c.hops = vec![B.into(), C.into()];
        c.exp = c.exp.max(NOW);
        let t = seal_link(&a, &c).unwrap();
        for (j, (me, k)) in hops.iter().enumerate() {
            for at in 0..3 {
                let opened = open_link(k, &url(me), &t, at, NOW);
                if at == j {
                    assert_eq!(opened.map(|(_, c)| c), Some(c.clone()));
                } else {
                    assert!(opened.is_none());
                }
            }
        }
    }
});
