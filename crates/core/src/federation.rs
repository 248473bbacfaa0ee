//! Per-peer federation keys (docs/security.md, "Federation keys"): every peer gateway
//! shares its own keys with this one, each with an id (`kid`). The first key of a peer
//! signs what this gateway sends to it; every listed key (at most
//! [`MAX_KEYS_PER_PEER`], two during a rotation) is accepted from it. A key id names one
//! key of one peer, so the receiver knows who signed a message, and a peer can never sign
//! for another one.
//!
//! Every MAC is HMAC-SHA256 over `<purpose>|<kid>|<recipient origin>|<message>`: the
//! purpose keeps forwarded logouts, admin revocations and chain links apart, the kid binds
//! the key, and the recipient's origin keeps a message for one gateway from being replayed
//! at another (even if an operator reused a key). This type owns every MAC input; nothing
//! else formats them.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;
use url::Url;

/// Keys accepted per peer: the current one and, during a rotation, one more.
pub const MAX_KEYS_PER_PEER: usize = 2;
/// Shortest accepted key, in bytes.
pub const MIN_KEY_BYTES: usize = 32;

/// What a MAC authenticates. Each purpose has its own prefix in the MAC input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// A logout token forwarded by a peer, with the time the peer received it.
    Forward,
    /// An operator's subject revocation forwarded by a peer.
    Admin,
    /// One hop's tag on a cookie-clearing chain link.
    Chain,
}

impl Purpose {
    fn prefix(self) -> &'static str {
        match self {
            Purpose::Forward => "fwd",
            Purpose::Admin => "admin",
            Purpose::Chain => "chain",
        }
    }
}

/// One shared key with its id. `Debug` never shows the key.
#[derive(Clone)]
pub struct FederationKey {
    pub id: String,
    key: Vec<u8>,
}

impl FederationKey {
    pub fn new(id: impl Into<String>, key: Vec<u8>) -> Self {
        Self { id: id.into(), key }
    }

    fn hmac(&self, input: &str) -> Option<Hmac<Sha256>> {
        let mut m = Hmac::<Sha256>::new_from_slice(&self.key).ok()?;
        m.update(input.as_bytes());
        Some(m)
    }

    /// Same key material (config checks that peers never share one).
    pub fn same_secret(&self, other: &FederationKey) -> bool {
        use subtle::ConstantTimeEq;
        self.key.len() == other.key.len() && bool::from(self.key.ct_eq(&other.key))
    }
}

impl std::fmt::Debug for FederationKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FederationKey({:?}, [redacted])", self.id)
    }
}

/// A peer and the keys it shares with this gateway, signing key first.
#[derive(Debug, Clone)]
pub struct PeerKeys {
    pub peer: Url,
    pub keys: Vec<FederationKey>,
}

/// A MAC and the id of the key that made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    pub kid: String,
    pub tag: String,
}

/// Every peer's keys.
#[derive(Debug, Clone, Default)]
pub struct FederationKeys {
    peers: Vec<PeerKeys>,
}

/// A key id may hold these characters only (it sits between separators in messages).
pub fn valid_kid(kid: &str) -> bool {
    !kid.is_empty()
        && kid.len() <= 64
        && kid
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
}

/// The origin a peer URL (or a gateway's public URL) stands for in MAC inputs.
pub fn origin(u: &Url) -> String {
    u.origin().ascii_serialization()
}

fn mac_input(purpose: Purpose, kid: &str, to: &str, msg: &str) -> String {
    format!("{}|{kid}|{to}|{msg}", purpose.prefix())
}

/// The message of a forwarded logout: when the first gateway received the token, and it.
pub fn forward_msg(received_at: i64, token: &str) -> String {
    format!("{received_at}|{token}")
}

/// The message of a forwarded admin revocation.
pub fn admin_msg(iss: &str, sub: &str, at: i64) -> String {
    format!("{iss}|{sub}|{at}")
}

impl FederationKeys {
    pub fn new(peers: Vec<PeerKeys>) -> Self {
        Self { peers }
    }

    /// No peer has a key: nothing is signed or accepted.
    pub fn is_empty(&self) -> bool {
        self.peers.iter().all(|p| p.keys.is_empty())
    }

    /// The signing key id for a peer, if it has keys.
    pub fn signing_kid(&self, peer: &Url) -> Option<&str> {
        self.signing_key(peer).map(|k| k.id.as_str())
    }

    fn signing_key(&self, peer: &Url) -> Option<&FederationKey> {
        let o = origin(peer);
        self.peers
            .iter()
            .find(|p| origin(&p.peer) == o)
            .and_then(|p| p.keys.first())
    }

    /// MAC a message for `peer` with its current (first) key.
    pub fn sign(&self, peer: &Url, purpose: Purpose, msg: &str) -> Option<Signed> {
        let k = self.signing_key(peer)?;
        let m = k.hmac(&mac_input(purpose, &k.id, &origin(peer), msg))?;
        Some(Signed {
            kid: k.id.clone(),
            tag: URL_SAFE_NO_PAD.encode(m.finalize().into_bytes()),
        })
    }

    /// Check a MAC that names key `kid`, sent to this gateway (`me`, its public URL).
    /// Returns the peer that holds the key (the sender), or `None`: unknown kid, wrong
    /// purpose, recipient or message, or a malformed tag. Constant-time comparison.
    pub fn verify(
        &self,
        me: &Url,
        kid: &str,
        purpose: Purpose,
        msg: &str,
        tag: &str,
    ) -> Option<&Url> {
        if !valid_kid(kid) {
            return None;
        }
        let (peer, key) = self
            .peers
            .iter()
            .find_map(|p| p.keys.iter().find(|k| k.id == kid).map(|k| (&p.peer, k)))?;
        let bytes = URL_SAFE_NO_PAD.decode(tag).ok()?;
        let m = key.hmac(&mac_input(purpose, kid, &origin(me), msg))?;
        m.verify_slice(&bytes).ok()?;
        Some(peer)
    }

    /// The peer that holds key `kid`.
    pub fn peer_of(&self, kid: &str) -> Option<&Url> {
        self.peers
            .iter()
            .find(|p| p.keys.iter().any(|k| k.id == kid))
            .map(|p| &p.peer)
    }

    /// Every configured key id (fuzz targets and tests check against these).
    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.peers
            .iter()
            .flat_map(|p| p.keys.iter().map(|k| k.id.as_str()))
    }

    /// The federation fields of a forwarded logout (a pure function: the fuzz target
    /// `federation` drives it).
    pub fn check_forward(
        &self,
        me: &Url,
        token: &str,
        received_at: Option<i64>,
        kid: Option<&str>,
        mac: Option<&str>,
    ) -> ForwardCheck<'_> {
        match (received_at, kid, mac) {
            (_, None, None) => ForwardCheck::Unsigned,
            (Some(t), Some(kid), Some(mac)) => self
                .verify(me, kid, Purpose::Forward, &forward_msg(t, token), mac)
                .map_or(ForwardCheck::Invalid, |peer| ForwardCheck::Signed {
                    peer,
                    received_at: t,
                }),
            _ => ForwardCheck::Invalid,
        }
    }

    /// A forwarded admin revocation's MAC: the sending peer, or `None`.
    pub fn check_admin(&self, me: &Url, iss: &str, f: &RevokeForm) -> Option<&Url> {
        self.verify(
            me,
            &f.federation_kid,
            Purpose::Admin,
            &admin_msg(iss, &f.sub, f.received_at),
            &f.federation_mac,
        )
    }
}

/// `POST /sso/federation/revoke` form.
#[derive(Debug, Deserialize)]
pub struct RevokeForm {
    pub sub: String,
    pub received_at: i64,
    pub federation_kid: String,
    pub federation_mac: String,
}

/// `POST /sso/backchannel-logout` form (from the OP: `logout_token` only).
#[derive(Debug, Default, Deserialize)]
pub struct BackchannelForm {
    pub logout_token: Option<String>,
    pub forwarded: Option<String>,
    pub received_at: Option<i64>,
    pub federation_kid: Option<String>,
    pub federation_mac: Option<String>,
}

/// What a forwarded logout's federation fields prove.
#[derive(Debug, PartialEq, Eq)]
pub enum ForwardCheck<'a> {
    /// No federation fields: the token is judged at the receiver's clock.
    Unsigned,
    /// The MAC verifies: `peer` vouches that it received the token at `received_at`.
    Signed { peer: &'a Url, received_at: i64 },
    /// Federation fields that do not verify (forged, unknown kid, partial): refused.
    Invalid,
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    /// A's view: peer B with keys ab-new (signing) and ab-old, peer C with ac-1.
    fn a_keys() -> FederationKeys {
        FederationKeys::new(vec![
            PeerKeys {
                peer: url("https://auth.b.com"),
                keys: vec![
                    FederationKey::new("ab-new", vec![1; 32]),
                    FederationKey::new("ab-old", vec![2; 32]),
                ],
            },
            PeerKeys {
                peer: url("https://auth.c.com/sso"),
                keys: vec![FederationKey::new("ac-1", vec![3; 32])],
            },
        ])
    }

    /// B's view of A after the rotation finished: only ab-new.
    fn b_keys(keys: Vec<FederationKey>) -> FederationKeys {
        FederationKeys::new(vec![PeerKeys {
            peer: url("https://auth.a.com"),
            keys,
        }])
    }

    #[test]
    fn signs_with_the_first_key_and_the_receiver_names_the_sender() {
        let a = a_keys();
        let s = a
            .sign(&url("https://auth.b.com/"), Purpose::Admin, "m")
            .unwrap();
        assert_eq!(s.kid, "ab-new");
        let b = b_keys(vec![FederationKey::new("ab-new", vec![1; 32])]);
        let me = url("https://auth.b.com");
        assert_eq!(
            b.verify(&me, &s.kid, Purpose::Admin, "m", &s.tag),
            Some(&url("https://auth.a.com"))
        );
        // another purpose, message, recipient or kid: refused
        assert!(b
            .verify(&me, &s.kid, Purpose::Forward, "m", &s.tag)
            .is_none());
        assert!(b
            .verify(&me, &s.kid, Purpose::Admin, "m2", &s.tag)
            .is_none());
        assert!(b
            .verify(
                &url("https://auth.c.com"),
                &s.kid,
                Purpose::Admin,
                "m",
                &s.tag
            )
            .is_none());
        assert!(b
            .verify(&me, "ab-old", Purpose::Admin, "m", &s.tag)
            .is_none());
        assert!(b.verify(&me, "nope", Purpose::Admin, "m", &s.tag).is_none());
        assert!(b.verify(&me, &s.kid, Purpose::Admin, "m", "!!").is_none());
        // no key for an unknown peer
        assert!(a
            .sign(&url("https://auth.d.com"), Purpose::Admin, "m")
            .is_none());
    }

    #[test]
    fn both_keys_accepted_during_a_rotation_and_the_old_one_refused_after() {
        let old = FederationKey::new("ab-old", vec![2; 32]);
        let new = FederationKey::new("ab-new", vec![1; 32]);
        let me = url("https://auth.a.com");
        // B still signs with the old key, then with the new one
        let b_old = FederationKeys::new(vec![PeerKeys {
            peer: url("https://auth.a.com"),
            keys: vec![old.clone()],
        }]);
        let s_old = b_old.sign(&me, Purpose::Chain, "x").unwrap();
        let b_new = b_keys(vec![new.clone(), old.clone()]);
        let s_new = b_new.sign(&me, Purpose::Chain, "x").unwrap();
        assert_eq!(s_new.kid, "ab-new");
        // A lists both (receiving side mirrors: peer b)
        let during = FederationKeys::new(vec![PeerKeys {
            peer: url("https://auth.b.com"),
            keys: vec![new.clone(), old],
        }]);
        let after = FederationKeys::new(vec![PeerKeys {
            peer: url("https://auth.b.com"),
            keys: vec![new],
        }]);
        for s in [&s_old, &s_new] {
            assert!(during
                .verify(&me, &s.kid, Purpose::Chain, "x", &s.tag)
                .is_some());
        }
        assert!(after
            .verify(&me, &s_new.kid, Purpose::Chain, "x", &s_new.tag)
            .is_some());
        assert!(after
            .verify(&me, &s_old.kid, Purpose::Chain, "x", &s_old.tag)
            .is_none());
    }

    #[test]
    fn a_peer_cannot_sign_as_another() {
        // C holds ac-1 only; a tag it makes under A-B's kid does not verify at A
        let c = FederationKeys::new(vec![PeerKeys {
            peer: url("https://auth.a.com"),
            keys: vec![FederationKey::new("ab-new", vec![3; 32])],
        }]);
        let forged = c
            .sign(&url("https://auth.a.com"), Purpose::Admin, "m")
            .unwrap();
        let a = a_keys();
        // A receives at its own origin
        let me = url("https://auth.a.com");
        assert!(a
            .verify(&me, "ab-new", Purpose::Admin, "m", &forged.tag)
            .is_none());
        // C's own kid names C, never B
        let own = FederationKeys::new(vec![PeerKeys {
            peer: url("https://auth.a.com"),
            keys: vec![FederationKey::new("ac-1", vec![3; 32])],
        }])
        .sign(&me, Purpose::Admin, "m")
        .unwrap();
        assert_eq!(
            a.verify(&me, "ac-1", Purpose::Admin, "m", &own.tag),
            Some(&url("https://auth.c.com/sso"))
        );
    }

    #[test]
    fn forward_fields_all_or_nothing() {
        let a = a_keys();
        let me = url("https://auth.a.com");
        assert_eq!(
            a.check_forward(&me, "tok", Some(1), None, None),
            ForwardCheck::Unsigned
        );
        assert_eq!(
            a.check_forward(&me, "tok", Some(1), Some("ab-new"), None),
            ForwardCheck::Invalid
        );
        assert_eq!(
            a.check_forward(&me, "tok", None, None, Some("x")),
            ForwardCheck::Invalid
        );
        assert_eq!(
            a.check_forward(&me, "tok", Some(1), Some("zz"), Some("AAAA")),
            ForwardCheck::Invalid
        );
    }

    #[test]
    fn debug_is_redacted() {
        let k = FederationKey::new("id-1", b"super-secret-key-material-000000".to_vec());
        let out = format!("{:?}", a_keys()) + &format!("{k:?}");
        assert!(!out.contains("super-secret"));
        assert!(out.contains("id-1"));
        assert!(!out.contains("[1, 1"), "{out}");
    }

    #[test]
    fn kid_charset() {
        assert!(valid_kid("ab-2026_12"));
        for bad in ["", "a.b", "a:b", "a|b", "a b", &"x".repeat(65)] {
            assert!(!valid_kid(bad), "{bad:?}");
        }
    }
}

/// The committed fuzz seeds were made by an independent HMAC implementation (python's `hmac`)
/// from the MAC inputs documented in docs/architecture.md ("Federation messages"): they must
/// verify here, so the format and the code cannot drift apart.
#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod vectors {
    use super::*;

    fn b_keys() -> FederationKeys {
        let url = |s: &str| Url::parse(s).unwrap();
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

    #[test]
    fn fuzz_seeds_verify() {
        let me = Url::parse("https://auth.b.com").unwrap();
        let keys = b_keys();
        let fwd: BackchannelForm = serde_urlencoded::from_bytes(include_bytes!(
            "../../../fuzz/corpus/federation/forward-signed"
        ))
        .unwrap();
        let got = keys.check_forward(
            &me,
            fwd.logout_token.as_deref().unwrap(),
            fwd.received_at,
            fwd.federation_kid.as_deref(),
            fwd.federation_mac.as_deref(),
        );
        assert!(
            matches!(got, ForwardCheck::Signed { peer, .. } if peer.as_str() == "https://auth.a.com/"),
            "{got:?}"
        );
        let admin: RevokeForm = serde_urlencoded::from_bytes(include_bytes!(
            "../../../fuzz/corpus/federation/admin-signed"
        ))
        .unwrap();
        let peer = keys
            .check_admin(&me, "https://op/realms/x", &admin)
            .unwrap();
        assert_eq!(peer.as_str(), "https://auth.c.com/sso");
        let unknown: RevokeForm = serde_urlencoded::from_bytes(include_bytes!(
            "../../../fuzz/corpus/federation/admin-unknown-kid"
        ))
        .unwrap();
        assert!(keys
            .check_admin(&me, "https://op/realms/x", &unknown)
            .is_none());
    }
}
