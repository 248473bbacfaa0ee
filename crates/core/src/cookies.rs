//! Every cookie the gateway sets is built and cleared here (docs/architecture.md §12), so a cookie is
//! always cleared with the exact `Domain` and `Path` it was set with.
//!
//! `sso_rt` and `sso_login` are sealed with AES-256-GCM through the cookie crate's private
//! jar (the cookie name is bound as associated data). The first configured key seals;
//! every key is tried when opening, so keys can be rotated without logging anyone out.

use cookie::{Cookie, CookieJar, Key, SameSite as CSameSite};
use serde::{de::DeserializeOwned, Deserialize, Serialize};

use crate::config::{CookieSettings, SameSite};
use crate::secret::{AccessToken, SessionId};

pub const ACCESS: &str = "sso_at";
pub const REFRESH: &str = "sso_rt";
pub const LOGIN: &str = "sso_login";
/// Longest name+value of one `sso_at` chunk (browsers allow ~4096 per cookie with attributes).
pub const CHUNK_LIMIT: usize = 3800;
/// Upper bound on chunks read or cleared (a 60 KB token).
pub const MAX_CHUNKS: usize = 16;
pub const LOGIN_TTL_SECS: i64 = 600;

/// What `sso_rt` holds: a handle to the server-side session, never the refresh token.
/// (`Debug` shows the generation only: [`SessionId`] is redacted.)
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct RefreshHandle {
    #[serde(rename = "s")]
    pub session: SessionId,
    /// Generation: bumped on every refresh so an old cookie can be told from the current one.
    #[serde(rename = "g")]
    pub generation: u64,
}

/// One pending login (OAuth 2.0 §10.12 / RFC 9700 §4.7: state bound to this browser).
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct LoginTransaction {
    pub state: String,
    pub verifier: String,
    pub nonce: String,
    pub rd: String,
    pub created_at: i64,
    #[serde(default)]
    pub max_age: Option<i64>,
}

impl std::fmt::Debug for LoginTransaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginTransaction")
            .field("rd", &self.rd)
            .field("created_at", &self.created_at)
            .finish_non_exhaustive()
    }
}

/// The `sso_*` cookies of a request's `Cookie` headers (RFC 6265 §4.2.1: `name=value` pairs
/// separated by `;`), borrowed from the headers.
///
/// Written by hand rather than through actix-web's `HttpRequest::cookie`: that parses and
/// percent-decodes every cookie of the header into owned values, then clones the one asked
/// for, on every forward-auth request (about 5 % of its CPU profile, docs/benchmarks.md).
/// Here only `sso_*` pairs are kept, a malformed pair (another application's) is skipped,
/// and a value is percent-decoded only when it contains `%` (ours never do).
#[derive(Default)]
pub struct RequestCookies<'a> {
    found: Vec<(&'a str, std::borrow::Cow<'a, str>)>,
}

impl<'a> RequestCookies<'a> {
    pub fn parse<I: IntoIterator<Item = &'a str>>(headers: I) -> Self {
        let mut found = Vec::new();
        for header in headers {
            for pair in header.split(';') {
                let Some((name, value)) = pair.split_once('=') else {
                    continue;
                };
                let name = name.trim();
                if !name.starts_with("sso_") {
                    continue;
                }
                let value = value.trim();
                // RFC 6265 §4.1.1: a cookie-value may be wrapped in double quotes
                let value = value
                    .strip_prefix('"')
                    .and_then(|v| v.strip_suffix('"'))
                    .unwrap_or(value);
                let value = if value.contains('%') {
                    match percent_encoding::percent_decode_str(value).decode_utf8() {
                        Ok(v) => std::borrow::Cow::Owned(v.into_owned()),
                        Err(_) => continue,
                    }
                } else {
                    std::borrow::Cow::Borrowed(value)
                };
                found.push((name, value));
            }
        }
        Self { found }
    }

    /// The first cookie of that name (RFC 6265 §5.4 step 2: the most specific path first).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.found
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_ref())
    }
}

/// Join `sso_at`, `sso_at.1`, … from a cookie lookup. Returns the token and how many chunks
/// the browser sent, stray ones after a gap included (so a shorter token clears leftovers).
/// Shared by the gateway and the resource-server extractor.
pub fn join_access(get: impl Fn(&str) -> Option<String>) -> (Option<AccessToken>, usize) {
    let mut joined = String::new();
    let mut present = 0;
    let mut contiguous = true;
    for (i, name) in CHUNK_NAMES.iter().enumerate() {
        match get(name) {
            Some(v) if contiguous && !v.is_empty() => {
                joined.push_str(&v);
                present = i + 1;
            }
            Some(_) => {
                contiguous = false;
                present = i + 1;
            }
            None => contiguous = false,
        }
    }
    (
        (!joined.is_empty()).then(|| AccessToken::new(joined)),
        present,
    )
}

/// RFC 6750 §2.1: the token of an `Authorization: Bearer <token>` header. The scheme is
/// matched case-insensitively (RFC 7235 §2.1); every bearer check goes through here.
pub fn bearer_token(authorization: Option<&str>) -> Option<&str> {
    let (scheme, tok) = authorization?.split_once(' ')?;
    let tok = tok.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !tok.is_empty()).then_some(tok)
}

/// [`bearer_token`] as an access token.
pub fn bearer(authorization: Option<&str>) -> Option<AccessToken> {
    bearer_token(authorization).map(AccessToken::new)
}

/// Builds, reads and clears the gateway's cookies.
#[derive(Clone)]
pub struct CookieCodec {
    domain: String,
    secure: bool,
    same_site: CSameSite,
    keys: Vec<Key>,
    login_path: String,
}

impl std::fmt::Debug for CookieCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CookieCodec")
            .field("domain", &self.domain)
            .field("secure", &self.secure)
            .finish_non_exhaustive()
    }
}

/// `sso_at`, `sso_at.1`, … `sso_at.15`: the names `join_access` looks up, built once rather
/// than on every request.
static CHUNK_NAMES: std::sync::LazyLock<Vec<String>> =
    std::sync::LazyLock::new(|| (0..MAX_CHUNKS).map(chunk_name).collect());

fn chunk_name(i: usize) -> String {
    if i == 0 {
        ACCESS.to_string()
    } else {
        format!("{ACCESS}.{i}")
    }
}

impl CookieCodec {
    pub fn new(s: &CookieSettings, prefix: &str) -> Self {
        Self {
            domain: s.domain.clone(),
            secure: s.secure,
            same_site: match s.same_site {
                SameSite::Lax => CSameSite::Lax,
                SameSite::Strict => CSameSite::Strict,
                SameSite::None => CSameSite::None,
            },
            keys: s.keys.clone(),
            login_path: prefix.to_string(),
        }
    }

    fn domain_cookie(&self, name: String, value: String, max_age: i64) -> Cookie<'static> {
        Cookie::build(name, value)
            .domain(self.domain.clone())
            .path("/")
            .http_only(true)
            .secure(self.secure)
            .same_site(self.same_site)
            .max_age(cookie::time::Duration::seconds(max_age.max(0)))
            .finish()
    }

    fn removal(&self, mut c: Cookie<'static>) -> Cookie<'static> {
        c.set_value("");
        c.set_max_age(cookie::time::Duration::ZERO);
        c.set_expires(cookie::time::OffsetDateTime::UNIX_EPOCH);
        c
    }

    // ------------------------------------------------------------ sso_at

    /// `sso_at` split into chunks when name+value passes [`CHUNK_LIMIT`]; chunks the browser
    /// held beyond the new count (`previous_chunks`) are cleared.
    pub fn access_cookies(
        &self,
        token: &AccessToken,
        max_age: i64,
        previous_chunks: usize,
    ) -> Vec<Cookie<'static>> {
        let value = token.secret();
        let room = CHUNK_LIMIT - ACCESS.len() - 3;
        let mut out = Vec::new();
        let mut start = 0;
        let mut i = 0;
        while start < value.len() || i == 0 {
            let end = (start + room).min(value.len());
            out.push(self.domain_cookie(chunk_name(i), value[start..end].to_string(), max_age));
            start = end;
            i += 1;
        }
        for j in i..previous_chunks.min(MAX_CHUNKS) {
            out.push(self.clear_domain_cookie(&chunk_name(j)));
        }
        out
    }

    // ------------------------------------------------------------ sso_rt

    pub fn refresh_cookie(
        &self,
        handle: &RefreshHandle,
        max_age: i64,
    ) -> crate::error::Result<Cookie<'static>> {
        let sealed = self.seal(REFRESH, handle)?;
        Ok(self.domain_cookie(REFRESH.to_string(), sealed, max_age))
    }

    pub fn read_refresh(&self, value: &str) -> Option<RefreshHandle> {
        self.open(REFRESH, value)
    }

    // ------------------------------------------------------------ sso_login

    /// The login cookie: host-only (no Domain), path = the gateway prefix, 10 minutes.
    /// It holds a few pending logins so two tabs can log in at once.
    pub fn login_cookie(&self, txs: &[LoginTransaction]) -> crate::error::Result<Cookie<'static>> {
        let sealed = self.seal(LOGIN, &txs)?;
        Ok(self.host_cookie(LOGIN, sealed, LOGIN_TTL_SECS))
    }

    pub fn read_login(&self, value: &str) -> Vec<LoginTransaction> {
        self.open(LOGIN, value).unwrap_or_default()
    }

    pub fn clear_login(&self) -> Cookie<'static> {
        self.clear_host_cookie(LOGIN)
    }

    // ------------------------------------------------------------ clearing

    fn clear_domain_cookie(&self, name: &str) -> Cookie<'static> {
        self.removal(self.domain_cookie(name.to_string(), String::new(), 0))
    }

    /// Clear `sso_at` (all `chunks` the browser holds, at least one) and `sso_rt`.
    pub fn clear_session(&self, chunks: usize) -> Vec<Cookie<'static>> {
        // sso_rt first, as in a session's cookies (see `session_cookies`).
        let mut out = vec![self.clear_domain_cookie(REFRESH)];
        out.extend(
            (0..chunks.clamp(1, MAX_CHUNKS)).map(|i| self.clear_domain_cookie(&chunk_name(i))),
        );
        out
    }

    // ------------------------------------------------------------ sealing

    /// Generic seal/open for other sealed values (e.g. logout state cookies). A value that
    /// cannot be sealed is an error: an empty cookie would be sent as if it were the state.
    pub fn seal<T: Serialize>(&self, name: &str, value: &T) -> crate::error::Result<String> {
        let key = self
            .keys
            .first()
            .ok_or(crate::Error::Internal("no cookie key to seal with"))?;
        let json = serde_json::to_string(value)
            .map_err(|_| crate::Error::Internal("a cookie value could not be serialised"))?;
        let mut jar = CookieJar::new();
        jar.private_mut(key)
            .add(Cookie::new(name.to_string(), json));
        jar.get(name)
            .map(|c| c.value().to_string())
            .ok_or(crate::Error::Internal("a cookie value could not be sealed"))
    }

    pub fn open<T: DeserializeOwned>(&self, name: &str, sealed: &str) -> Option<T> {
        for key in &self.keys {
            let mut jar = CookieJar::new();
            jar.add_original(Cookie::new(name.to_string(), sealed.to_string()));
            if let Some(c) = jar.private(key).get(name) {
                return serde_json::from_str(c.value()).ok();
            }
        }
        None
    }

    /// A host-only cookie (no Domain) on the gateway prefix: `sso_login` and the logout state.
    pub fn host_cookie(&self, name: &str, value: String, max_age: i64) -> Cookie<'static> {
        Cookie::build(name.to_string(), value)
            .path(self.login_path.clone())
            .http_only(true)
            .secure(self.secure)
            .same_site(CSameSite::Lax)
            .max_age(cookie::time::Duration::seconds(max_age))
            .finish()
    }

    pub fn clear_host_cookie(&self, name: &str) -> Cookie<'static> {
        self.removal(self.host_cookie(name, String::new(), 0))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn request_cookies_keep_ours_and_skip_what_is_malformed() {
        let jar = RequestCookies::parse([
            "tracking; sso_at=abc; x=%ff; sso_rt=\"q\"; sso_at.1=d%2Be",
            "sso_at=second; sso_login=%ff%fe",
        ]);
        assert_eq!(jar.get("sso_at"), Some("abc"), "the first of a name wins");
        assert_eq!(jar.get("sso_rt"), Some("q"), "quotes stripped");
        assert_eq!(
            jar.get("sso_at.1"),
            Some("d+e"),
            "percent-decoded when needed"
        );
        assert_eq!(
            jar.get("sso_login"),
            None,
            "not UTF-8 once decoded: skipped"
        );
        assert_eq!(jar.get("x"), None, "only sso_* cookies are kept");
        let (tok, chunks) = join_access(|n| jar.get(n).map(str::to_string));
        assert_eq!(tok.unwrap().secret(), "abcd+e");
        assert_eq!(chunks, 2);
    }
    use std::collections::HashMap;

    fn codec_with(keys: Vec<Key>) -> CookieCodec {
        CookieCodec::new(
            &CookieSettings {
                domain: "a.com".into(),
                secure: true,
                same_site: SameSite::Lax,
                keys,
            },
            "/sso",
        )
    }

    #[test]
    fn big_token_is_chunked_and_joined() {
        let c = codec_with(vec![Key::generate()]);
        let token = AccessToken::new("x".repeat(9000));
        let cookies = c.access_cookies(&token, 300, 5);
        let set: Vec<_> = cookies.iter().filter(|c| !c.value().is_empty()).collect();
        assert_eq!(set.len(), 3);
        assert!(set
            .iter()
            .all(|c| c.name().len() + c.value().len() <= CHUNK_LIMIT));
        // two leftovers (chunks 3 and 4) are cleared with the same Domain/Path
        let cleared: Vec<_> = cookies.iter().filter(|c| c.value().is_empty()).collect();
        assert_eq!(
            cleared.iter().map(|c| c.name()).collect::<Vec<_>>(),
            vec!["sso_at.3", "sso_at.4"]
        );
        assert!(cleared
            .iter()
            .all(|c| c.domain() == Some("a.com") && c.path() == Some("/")));
        let map: HashMap<String, String> = set
            .iter()
            .map(|c| (c.name().to_string(), c.value().to_string()))
            .collect();
        let (joined, n) = join_access(|n| map.get(n).cloned());
        assert_eq!(joined.unwrap().secret(), token.secret());
        assert_eq!(n, 3);
    }

    #[test]
    fn sealed_cookies_survive_key_rotation_and_reject_tampering() {
        let old = Key::generate();
        let c_old = codec_with(vec![old.clone()]);
        let h = RefreshHandle {
            session: SessionId::new("sess-1"),
            generation: 3,
        };
        let cookie = c_old.refresh_cookie(&h, 100).unwrap();
        assert!(!cookie.value().contains("sess-1"));
        let c_new = codec_with(vec![Key::generate(), old]);
        assert_eq!(c_new.read_refresh(cookie.value()), Some(h));
        let mut tampered = cookie.value().to_string();
        tampered.replace_range(10..11, if &tampered[10..11] == "A" { "B" } else { "A" });
        assert_eq!(c_new.read_refresh(&tampered), None);
        // sealed for another cookie name does not open as sso_rt
        let login = c_old.login_cookie(&[]).unwrap();
        assert_eq!(c_new.read_refresh(login.value()), None);
        assert_eq!(
            codec_with(vec![Key::generate()]).read_refresh(cookie.value()),
            None
        );
    }

    #[test]
    fn a_cookie_that_cannot_be_sealed_is_an_error() {
        let none = codec_with(vec![]);
        let h = RefreshHandle {
            session: SessionId::new("sess-1"),
            generation: 0,
        };
        assert!(matches!(
            none.refresh_cookie(&h, 100),
            Err(crate::Error::Internal(_))
        ));
        assert!(matches!(
            none.login_cookie(&[]),
            Err(crate::Error::Internal(_))
        ));
    }

    #[test]
    fn bearer_header_and_chunk_gaps() {
        assert_eq!(
            bearer(Some("Bearer abc")).map(|t| t.secret().to_string()),
            Some("abc".into())
        );
        assert_eq!(
            bearer(Some("bearer  abc ")).map(|t| t.secret().to_string()),
            Some("abc".into())
        );
        assert!(bearer(Some("Basic abc")).is_none());
        assert!(bearer(Some("Bearer ")).is_none());
        assert!(bearer(None).is_none());
        // a gap stops the token; a stray chunk after it still counts (to be cleared)
        let (t, n) = join_access(|n| match n {
            "sso_at" => Some("a".into()),
            "sso_at.1" => Some("b".into()),
            "sso_at.4" => Some("stray".into()),
            _ => None,
        });
        assert_eq!(t.unwrap().secret(), "ab");
        assert_eq!(n, 5);
    }

    #[test]
    fn attributes() {
        let c = codec_with(vec![Key::generate()]);
        let at = &c.access_cookies(&AccessToken::new("abc"), 60, 0)[0];
        let s = at.to_string();
        for part in [
            "sso_at=abc",
            "HttpOnly",
            "Secure",
            "SameSite=Lax",
            "Path=/",
            "Domain=a.com",
            "Max-Age=60",
        ] {
            assert!(s.contains(part), "{s}");
        }
        let login = c.login_cookie(&[]).unwrap().to_string();
        assert!(!login.contains("Domain"), "{login}");
        assert!(login.contains("Path=/sso"));
        for cl in c.clear_session(2) {
            assert_eq!(cl.domain(), Some("a.com"));
            assert_eq!(cl.path(), Some("/"));
            assert_eq!(cl.max_age(), Some(cookie::time::Duration::ZERO));
        }
    }
}
