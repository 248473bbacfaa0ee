//! The signed cross-domain cookie-clearing chain: a top-level redirect through each peer's
//! `/sso/logout/clear`, so every root domain's cookies die at once without iframes (which
//! fail where third-party cookies are blocked). Tokens are HMAC-SHA256 signed with the
//! federation key shared by the peers, short-lived, single-use per hop, and name only
//! configured peers and the OP.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use url::Url;

use crate::config::ChainBinding;
use crate::error::{Error, Result};
use crate::gateway::Gateway;
use crate::login::Redirect;
use crate::store::SessionRecord;
use crate::util::{now, random_token};

const CHAIN_TTL: i64 = 120;

pub fn mac(key: &[u8], msg: &str) -> String {
    let Ok(mut m) = Hmac::<Sha256>::new_from_slice(key) else {
        return String::new();
    };
    m.update(msg.as_bytes());
    URL_SAFE_NO_PAD.encode(m.finalize().into_bytes())
}

pub fn verify_mac(key: &[u8], msg: &str, tag: &str) -> bool {
    let Ok(bytes) = URL_SAFE_NO_PAD.decode(tag) else {
        return false;
    };
    let Ok(mut m) = Hmac::<Sha256>::new_from_slice(key) else {
        return false;
    };
    m.update(msg.as_bytes());
    m.verify_slice(&bytes).is_ok()
}

#[derive(Debug, Serialize, Deserialize)]
struct Chain {
    id: String,
    /// Public base URLs of the gateways to visit, in order.
    hops: Vec<String>,
    /// Where the last hop goes: the OP's end-session URL.
    end: String,
    exp: i64,
    /// The session being logged out: a hop ends only a session of the same OP session
    /// (`sid`) or subject (`fanout.chain_binding`), so a link handed to someone else's
    /// browser cannot log them out.
    iss: String,
    sub: String,
    #[serde(default)]
    sid: Option<String>,
}

impl Gateway {
    fn sign_chain(&self, c: &Chain) -> Option<String> {
        let key = self.settings.fanout.federation_key.as_ref()?;
        let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(c).ok()?);
        let tag = mac(key, &format!("chain|{body}"));
        Some(format!("{body}.{tag}"))
    }

    fn open_chain(&self, t: &str) -> Result<Chain> {
        let bad = || Error::BadRequest("the logout chain link is invalid or expired".into());
        let key = self
            .settings
            .fanout
            .federation_key
            .as_ref()
            .ok_or_else(bad)?;
        let (body, tag) = t.split_once('.').ok_or_else(bad)?;
        if !verify_mac(key, &format!("chain|{body}"), tag) {
            return Err(bad());
        }
        let c: Chain = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(body).map_err(|_| bad())?)
            .map_err(|_| bad())?;
        if c.exp < now() {
            return Err(bad());
        }
        Ok(c)
    }

    fn hop_url(peer: &str, token: &str, i: usize) -> String {
        let enc: String = url::form_urlencoded::byte_serialize(token.as_bytes()).collect();
        format!(
            "{}?t={enc}&i={i}",
            crate::fanout::peer_endpoint(peer, "/logout/clear")
        )
    }

    /// First hop of a chain through every peer ending at `end`, or `None` when no peers
    /// or no federation key are configured.
    pub fn chain_start(&self, end: &str, rec: &SessionRecord) -> Result<Option<String>> {
        let hops: Vec<String> = self
            .settings
            .fanout
            .peers
            .iter()
            .map(|u| u.as_str().trim_end_matches('/').to_string())
            .collect();
        if hops.is_empty() {
            return Ok(None);
        }
        let c = Chain {
            id: random_token(12),
            hops,
            end: end.to_string(),
            exp: now() + CHAIN_TTL,
            iss: rec.iss.clone(),
            sub: rec.sub.clone(),
            sid: rec.sid.clone(),
        };
        let Some(t) = self.sign_chain(&c) else {
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
        p: &crate::forward_auth::Presented,
    ) -> Result<Redirect> {
        let c = self.open_chain(t)?;
        // The hop must name this gateway (its public origin).
        let me = self.settings.server.public_url.origin();
        let for_me = c
            .hops
            .get(i)
            .and_then(|h| Url::parse(h).ok())
            .is_some_and(|h| h.origin() == me);
        if !for_me {
            return Err(Error::BadRequest(
                "this logout chain link is not for this gateway".into(),
            ));
        }
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
                return Err(Error::BadRequest(
                    "this logout link is for another session".into(),
                ));
            }
        }
        // single use per hop, across replicas
        if !self
            .store
            .mark_once(&format!("sso:chain:{{{}:{i}}}", c.id), CHAIN_TTL * 2)
            .await?
        {
            return Err(Error::BadRequest(
                "this logout chain link was already used".into(),
            ));
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
                    return Err(Error::BadRequest(
                        "the logout chain names an unknown gateway".into(),
                    ));
                }
                Self::hop_url(h, t, i + 1)
            }
            None => {
                let end =
                    Url::parse(&c.end).map_err(|_| Error::BadRequest("bad chain end".into()))?;
                let meta = self.oidc.metadata().await?;
                let ok = meta
                    .end_session_endpoint
                    .as_ref()
                    .is_some_and(|e| e.origin() == end.origin() && e.path() == end.path());
                if !ok {
                    return Err(Error::BadRequest(
                        "the logout chain ends at an unknown target".into(),
                    ));
                }
                c.end.clone()
            }
        };
        if let Some(rec) = rec {
            self.end_session(&rec).await?;
        }
        Ok(Redirect {
            location: next,
            cookies: self.cookies.clear_session(p.chunks),
        })
    }
}
