//! The signed cross-domain cookie-clearing chain: a top-level redirect through each peer's
//! `/sso/logout/clear`, so every root domain's cookies die at once without iframes (which
//! fail where third-party cookies are blocked). A link is short-lived, single-use per hop,
//! names only configured peers and the OP, and carries one HMAC-SHA256 tag per hop, each
//! made with the key the starting gateway shares with that hop (`fanout.peer.keys`): hop i
//! checks only its own tag, so no peer can forge a link another peer accepts as coming
//! from the starting gateway.
//!
//! Link format: `<body>.<kid>:<tag>.<kid>:<tag>…`, body = base64url JSON [`Chain`], one
//! `kid:tag` per hop in hop order, tag i = MAC(purpose chain, kid, hop i's origin, body).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use url::Url;

use crate::api::Redirect;
use crate::config::ChainBinding;
use crate::error::{BadInput, Error, Result};
use crate::federation::{origin, FederationKeys, Purpose};
use crate::gateway::Gateway;
use crate::store::SessionRecord;
use crate::util::{now, random_token};

const CHAIN_TTL: i64 = 120;
/// More hops than this is not a chain this gateway would start.
const MAX_HOPS: usize = 16;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Chain {
    pub id: String,
    /// The origin of the gateway that started the chain; a hop checks that the key of its
    /// tag belongs to that peer.
    pub from: String,
    /// Public base URLs of the gateways to visit, in order.
    pub hops: Vec<String>,
    /// Where the last hop goes: the OP's end-session URL.
    pub end: String,
    pub exp: i64,
    /// The session being logged out: a hop ends only a session of the same OP session
    /// (`sid`) or subject (`fanout.chain_binding`), so a link handed to someone else's
    /// browser cannot log them out.
    pub iss: String,
    pub sub: String,
    #[serde(default)]
    pub sid: Option<String>,
}

/// Sign a chain: one tag per hop, with the key shared with that hop. `None` when a hop has
/// no key.
pub fn seal_link(keys: &FederationKeys, c: &Chain) -> Option<String> {
    if c.hops.is_empty() || c.hops.len() > MAX_HOPS {
        return None;
    }
    let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(c).ok()?);
    let mut out = body.clone();
    for h in &c.hops {
        let s = keys.sign(&Url::parse(h).ok()?, Purpose::Chain, &body)?;
        out.push('.');
        out.push_str(&s.kid);
        out.push(':');
        out.push_str(&s.tag);
    }
    Some(out)
}

/// Open link `t` at hop `i` on the gateway whose public URL is `me`: this hop's tag must
/// verify with a configured key, that key's peer must be the chain's `from`, hop i must be
/// `me`, and the link must not have expired. Returns the starting peer and the chain.
pub fn open_link<'a>(
    keys: &'a FederationKeys,
    me: &Url,
    t: &str,
    i: usize,
    now: i64,
) -> Option<(&'a Url, Chain)> {
    let mut parts = t.split('.');
    let body = parts.next()?;
    let tags: Vec<&str> = parts.collect();
    if tags.is_empty() || tags.len() > MAX_HOPS {
        return None;
    }
    let (kid, tag) = tags.get(i)?.split_once(':')?;
    let peer = keys.verify(me, kid, Purpose::Chain, body, tag)?;
    let c: Chain = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(body).ok()?).ok()?;
    if c.exp < now || c.hops.len() != tags.len() || c.from != origin(peer) {
        return None;
    }
    let for_me = c
        .hops
        .get(i)
        .and_then(|h| Url::parse(h).ok())
        .is_some_and(|h| origin(&h) == origin(me));
    for_me.then_some((peer, c))
}

impl Gateway {
    fn open_chain(&self, t: &str, i: usize) -> Result<Chain> {
        let me = &self.settings.server.public_url;
        let (peer, c) = open_link(&self.settings.fanout.federation, me, t, i, now())
            .ok_or(Error::BadRequest(BadInput::ChainLinkInvalid))?;
        tracing::debug!(peer = %origin(peer), "chain link verified");
        Ok(c)
    }

    fn hop_url(peer: &str, token: &str, i: usize) -> String {
        let enc: String = url::form_urlencoded::byte_serialize(token.as_bytes()).collect();
        format!(
            "{}?t={enc}&i={i}",
            crate::fanout::peer_endpoint(peer, "/logout/clear")
        )
    }

    /// First hop of a chain through every peer this gateway shares a key with, ending at
    /// `end`, or `None` when there is no such peer.
    pub fn chain_start(&self, end: &str, rec: &SessionRecord) -> Result<Option<String>> {
        let fanout = &self.settings.fanout;
        let hops: Vec<String> = fanout
            .keyed_peers()
            .map(|u| u.as_str().trim_end_matches('/').to_string())
            .collect();
        if hops.is_empty() {
            return Ok(None);
        }
        let c = Chain {
            id: random_token(12),
            from: origin(&self.settings.server.public_url),
            hops,
            end: end.to_string(),
            exp: now() + CHAIN_TTL,
            iss: rec.iss.clone(),
            sub: rec.sub.clone(),
            sid: rec.sid.clone(),
        };
        let Some(t) = seal_link(&fanout.federation, &c) else {
            return Ok(None);
        };
        Ok(Some(Self::hop_url(&c.hops[0], &t, 0)))
    }

    /// `GET /sso/logout/clear?t=&i=`: one hop. Clears this domain's cookies, ends the
    /// session they point to, and goes on to the next hop or the OP.
    #[tracing::instrument(skip_all, name = "chain_hop")]
    pub async fn chain_hop(
        &self,
        t: &str,
        i: usize,
        p: &crate::api::Presented,
    ) -> Result<Redirect> {
        let c = self.open_chain(t, i)?;
        // Bound to the session being logged out: a session this browser holds here that
        // belongs to another OP session (or subject) is not ended, and the link is refused
        // (nothing cleared, the chain stops). No session here, or one already ended: the
        // cookies point to nothing live; clearing them and going on harms no one.
        let rec = self.presented_session(p).await?;
        if let Some(rec) = &rec {
            let same = rec.iss == c.iss
                && match self.settings.fanout.chain_binding {
                    ChainBinding::Sid => c.sid.is_some() && rec.sid == c.sid,
                    ChainBinding::Sub => rec.sub == c.sub,
                };
            if !same {
                return Err(Error::BadRequest(BadInput::ChainLinkOtherSession));
            }
        }
        // single use per hop, across replicas
        if !self
            .store
            .mark_once(&format!("sso:chain:{{{}:{i}}}", c.id), CHAIN_TTL * 2)
            .await?
        {
            return Err(Error::BadRequest(BadInput::ChainLinkUsed));
        }
        let next = match c.hops.get(i + 1) {
            Some(h) => {
                // refuse unknown targets: the next hop must be one of our peers
                let known = self
                    .settings
                    .fanout
                    .peers
                    .iter()
                    .any(|u| u.as_str().trim_end_matches('/') == h);
                if !known {
                    return Err(Error::BadRequest(BadInput::ChainUnknownHop));
                }
                Self::hop_url(h, t, i + 1)
            }
            None => {
                let end =
                    Url::parse(&c.end).map_err(|_| Error::BadRequest(BadInput::ChainUnknownEnd))?;
                let meta = self.oidc.verifier().metadata().await?;
                let ok = meta
                    .end_session_endpoint
                    .as_ref()
                    .is_some_and(|e| e.origin() == end.origin() && e.path() == end.path());
                if !ok {
                    return Err(Error::BadRequest(BadInput::ChainUnknownEnd));
                }
                c.end.clone()
            }
        };
        if let Some(rec) = rec {
            self.sessions.end(&rec).await?;
        }
        Ok(Redirect {
            location: next,
            cookies: self.cookies.clear_session(p.chunks),
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::federation::{FederationKey, PeerKeys};

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

    fn chain(from: &str, hops: &[&str]) -> Chain {
        Chain {
            id: "c1".into(),
            from: from.into(),
            hops: hops.iter().map(|h| h.to_string()).collect(),
            end: "https://op/end".into(),
            exp: 1_000,
            iss: "https://op".into(),
            sub: "alice".into(),
            sid: None,
        }
    }

    const A: &str = "https://auth.a.com";
    const B: &str = "https://auth.b.com";
    const C: &str = "https://auth.c.com";

    #[test]
    fn each_hop_checks_its_own_tag_from_the_origin() {
        // A shares ab with B and ac with C; B and C share bc.
        let a = keys(&[(B, "ab", 1), (C, "ac", 2)]);
        let b = keys(&[(A, "ab", 1), (C, "bc", 3)]);
        let c = keys(&[(A, "ac", 2), (B, "bc", 3)]);
        let ch = chain(A, &[B, C]);
        let t = seal_link(&a, &ch).unwrap();
        assert_eq!(t.split('.').count(), 3, "{t}");
        let (from, got) = open_link(&b, &url(B), &t, 0, 999).unwrap();
        assert_eq!((from, &got), (&url(A), &ch));
        assert_eq!(open_link(&c, &url(C), &t, 1, 999).unwrap().1, ch);
        // the wrong index, the wrong gateway, expired
        assert!(open_link(&b, &url(B), &t, 1, 999).is_none());
        assert!(open_link(&c, &url(C), &t, 0, 999).is_none());
        assert!(open_link(&b, &url(B), &t, 0, 1_001).is_none());
        // a tag dropped or added: the hop count no longer matches
        let dropped = t.rsplit_once('.').unwrap().0;
        assert!(open_link(&b, &url(B), dropped, 0, 999).is_none());
        assert!(open_link(&b, &url(B), &format!("{t}.x:y"), 0, 999).is_none());
    }

    #[test]
    fn a_hop_cannot_forge_a_link_from_the_origin_for_another_hop() {
        let b = keys(&[(A, "ab", 1), (C, "bc", 3)]);
        let c = keys(&[(A, "ac", 2), (B, "bc", 3)]);
        // B signs, with the key it shares with C, a chain claiming to come from A
        let forged = seal_link(&b, &chain(A, &[C])).unwrap();
        assert!(open_link(&c, &url(C), &forged, 0, 999).is_none());
        // B's own chain is accepted as B's
        let own = seal_link(&b, &chain(B, &[C])).unwrap();
        assert_eq!(open_link(&c, &url(C), &own, 0, 999).unwrap().0, &url(B));
        // B edits a real link from A (another subject): C's tag no longer matches
        let a = keys(&[(B, "ab", 1), (C, "ac", 2)]);
        let real = seal_link(&a, &chain(A, &[B, C])).unwrap();
        let mut edited = chain(A, &[B, C]);
        edited.sub = "bob".into();
        let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&edited).unwrap());
        let tags = real.split_once('.').unwrap().1;
        assert!(open_link(&c, &url(C), &format!("{body}.{tags}"), 1, 999).is_none());
    }
}

/// The committed fuzz seed (a two-hop link made with python's `hmac` from the format in
/// docs/architecture.md) opens at each hop: format and code agree.
#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod vectors {
    use super::*;
    use crate::federation::{FederationKey, PeerKeys};

    #[test]
    fn fuzz_seed_opens_at_each_hop() {
        let seed = include_bytes!("../../../../fuzz/corpus/chain/link-hop0");
        let t = std::str::from_utf8(&seed[1..]).unwrap();
        let url = |s: &str| Url::parse(s).unwrap();
        let keys = |peers: &[(&str, &str, u8)]| {
            FederationKeys::new(
                peers
                    .iter()
                    .map(|(p, kid, b)| PeerKeys {
                        peer: url(p),
                        keys: vec![FederationKey::new(*kid, vec![*b; 32])],
                    })
                    .collect(),
            )
        };
        let b = keys(&[
            ("https://auth.a.com", "ab", 1),
            ("https://auth.c.com", "bc", 3),
        ]);
        let c = keys(&[
            ("https://auth.a.com", "ac", 2),
            ("https://auth.b.com", "bc", 3),
        ]);
        let now = 1_700_000_000;
        let (from, chain) = open_link(&b, &url("https://auth.b.com"), t, 0, now).unwrap();
        assert_eq!(from.as_str(), "https://auth.a.com/");
        assert_eq!(chain.sub, "alice");
        assert!(open_link(&c, &url("https://auth.c.com"), t, 1, now).is_some());
        assert!(open_link(&c, &url("https://auth.c.com"), t, 0, now).is_none());
    }
}
