//! Federation messages from peers: a forwarded back-channel logout and an admin revocation
//! as form bodies (parsed like the gateway's form extractors), and their MAC check with
//! fixed per-peer keys. Never a panic; what verifies names a configured kid of the peer it
//! returns; what a configured peer signs for the parsed fields verifies here and nowhere else.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sso_core::federation::{
    admin_msg, forward_msg, BackchannelForm, FederationKey, FederationKeys, ForwardCheck, PeerKeys,
    Purpose, RevokeForm,
};
use url::Url;

const ISS: &str = "https://op/realms/x";

fn url(s: &str) -> Url {
    Url::parse(s).unwrap()
}

/// B's keys: A (current a-2, old a-1) and C (c-1).
fn b_keys() -> FederationKeys {
    FederationKeys::new(vec![
        PeerKeys {
            peer: url("https://auth.a.com"),
            keys: vec![
                FederationKey::new("a-2", vec![2; 32]),
                FederationKey::new("a-1", vec![1; 32]),
            ],
        },
        PeerKeys {
            peer: url("https://auth.c.com/sso"),
            keys: vec![FederationKey::new("c-1", vec![3; 32])],
        },
    ])
}

/// A's side: the key it shares with B.
fn a_keys() -> FederationKeys {
    FederationKeys::new(vec![PeerKeys {
        peer: url("https://auth.b.com"),
        keys: vec![FederationKey::new("a-2", vec![2; 32])],
    }])
}

fuzz_target!(|data: &[u8]| {
    let keys = b_keys();
    let me = url("https://auth.b.com");
    let elsewhere = url("https://auth.c.com");
    let named = |kid: &str, peer: &Url| {
        assert!(
            keys.kids().any(|k| k == kid),
            "verified under unknown kid {kid:?}"
        );
        assert_eq!(keys.peer_of(kid), Some(peer));
    };
    if let Ok(f) = serde_urlencoded::from_bytes::<BackchannelForm>(data) {
        let token = f.logout_token.as_deref().unwrap_or_default();
        let kid = f.federation_kid.as_deref();
        if let ForwardCheck::Signed { peer, received_at } =
            keys.check_forward(&me, token, f.received_at, kid, f.federation_mac.as_deref())
        {
            named(kid.unwrap_or_default(), peer);
            assert_eq!(Some(received_at), f.received_at);
        }
        if let Some(t) = f.received_at {
            let s = a_keys()
                .sign(&me, Purpose::Forward, &forward_msg(t, token))
                .unwrap();
            let ok = keys.check_forward(&me, token, Some(t), Some(&s.kid), Some(&s.tag));
            assert!(matches!(ok, ForwardCheck::Signed { .. }), "{ok:?}");
            let other = keys.check_forward(&elsewhere, token, Some(t), Some(&s.kid), Some(&s.tag));
            assert_eq!(other, ForwardCheck::Invalid);
        }
    }
    if let Ok(f) = serde_urlencoded::from_bytes::<RevokeForm>(data) {
        if let Some(peer) = keys.check_admin(&me, ISS, &f) {
            named(&f.federation_kid, peer);
        }
        let s = a_keys()
            .sign(&me, Purpose::Admin, &admin_msg(ISS, &f.sub, f.received_at))
            .unwrap();
        let signed = RevokeForm {
            federation_kid: s.kid,
            federation_mac: s.tag,
            ..f
        };
        assert_eq!(
            keys.check_admin(&me, ISS, &signed),
            Some(&url("https://auth.a.com"))
        );
        assert_eq!(keys.check_admin(&elsewhere, ISS, &signed), None);
        assert_eq!(keys.check_admin(&me, "https://other-op", &signed), None);
    }
});
