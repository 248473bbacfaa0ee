//! A browser-like client: no automatic redirects, its own cookie jar that follows the
//! cookie rules tests care about (Domain/host-only, Path, Max-Age, deletion), and name
//! resolution of `*.localhost` to loopback (glibc does not do that here).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use reqwest::header::{HeaderMap, COOKIE, LOCATION, SET_COOKIE};
use reqwest::{Method, StatusCode};
use url::Url;

#[derive(Debug, Clone)]
pub struct StoredCookie {
    pub name: String,
    pub value: String,
    pub domain: String,
    pub host_only: bool,
    pub path: String,
    pub raw: String,
}

#[derive(Clone, Default)]
pub struct Jar(Arc<Mutex<Vec<StoredCookie>>>);

impl Jar {
    fn domain_match(host: &str, c: &StoredCookie) -> bool {
        if c.host_only {
            host == c.domain
        } else {
            host == c.domain || host.ends_with(&format!(".{}", c.domain))
        }
    }

    pub fn store(&self, url: &Url, set_cookie: &str) {
        let Ok(c) = cookie::Cookie::parse(set_cookie.to_string()) else {
            return;
        };
        let host = url.host_str().unwrap_or("").to_string();
        let (domain, host_only) = match c.domain() {
            Some(d) => {
                let d = d.trim_start_matches('.').to_ascii_lowercase();
                if !(host == d || host.ends_with(&format!(".{d}"))) {
                    return; // a browser ignores a Domain that does not cover the host
                }
                (d, false)
            }
            None => (host.clone(), true),
        };
        let path = c.path().unwrap_or("/").to_string();
        let expired = c.max_age().is_some_and(|m| m.is_zero() || m.is_negative())
            || c.expires_datetime()
                .is_some_and(|e| e < cookie::time::OffsetDateTime::now_utc());
        let mut jar = self.0.lock().unwrap();
        jar.retain(|o| {
            !(o.name == c.name()
                && o.domain == domain
                && o.path == path
                && o.host_only == host_only)
        });
        if !expired {
            jar.push(StoredCookie {
                name: c.name().to_string(),
                value: c.value().to_string(),
                domain,
                host_only,
                path,
                raw: set_cookie.to_string(),
            });
        }
    }

    pub fn header_for(&self, url: &Url) -> Option<String> {
        let host = url.host_str().unwrap_or("");
        let path = url.path();
        let jar = self.0.lock().unwrap();
        let v: Vec<String> = jar
            .iter()
            .filter(|c| Self::domain_match(host, c) && path.starts_with(&c.path))
            .map(|c| format!("{}={}", c.name, c.value))
            .collect();
        (!v.is_empty()).then(|| v.join("; "))
    }

    /// Cookies a request to `url` would carry.
    pub fn cookies_for(&self, url: &str) -> HashMap<String, String> {
        let url = Url::parse(url).unwrap();
        let host = url.host_str().unwrap_or("");
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|c| Self::domain_match(host, c) && url.path().starts_with(&c.path))
            .map(|c| (c.name.clone(), c.value.clone()))
            .collect()
    }

    pub fn all(&self) -> Vec<StoredCookie> {
        self.0.lock().unwrap().clone()
    }

    pub fn set_value(&self, name: &str, domain: &str, value: &str) {
        for c in self.0.lock().unwrap().iter_mut() {
            if c.name == name && c.domain == domain {
                c.value = value.to_string();
            }
        }
    }

    pub fn remove(&self, name: &str) {
        self.0.lock().unwrap().retain(|c| c.name != name);
    }
}

#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
    pub url: Url,
}

impl Resp {
    pub fn location(&self) -> Option<Url> {
        self.headers
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(|l| self.url.join(l).unwrap())
    }
    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all(SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .collect()
    }
    pub fn set_cookie(&self, name: &str) -> Option<String> {
        self.set_cookies()
            .into_iter()
            .find(|c| c.starts_with(&format!("{name}=")))
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|_| panic!("not JSON: {}", self.body))
    }
}

#[derive(Clone)]
pub struct Browser {
    pub jar: Jar,
    http: reqwest::Client,
}

impl Default for Browser {
    fn default() -> Self {
        Self::new()
    }
}

/// Hosts the tests use; all resolve to loopback.
const HOSTS: &[&str] = &[
    "auth.a.localhost",
    "app1.a.localhost",
    "a.localhost",
    "auth.b.localhost",
    "app.b.localhost",
    "b.localhost",
    // benchmark peers (Apache + mod_auth_openidc, oauth2-proxy)
    "apache.localhost",
    "proxy.localhost",
    "proxyr.localhost",
];

impl Browser {
    pub fn new() -> Self {
        let mut b = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(30));
        for h in HOSTS {
            b = b.resolve(h, "127.0.0.1:0".parse().unwrap());
        }
        Self {
            jar: Jar::default(),
            http: b.build().unwrap(),
        }
    }

    pub async fn request(
        &self,
        method: Method,
        url: &str,
        form: Option<&[(&str, &str)]>,
        headers: &[(&str, &str)],
    ) -> Resp {
        let url = Url::parse(url).unwrap();
        let mut rb = self.http.request(method, url.clone());
        if let Some(c) = self.jar.header_for(&url) {
            rb = rb.header(COOKIE, c);
        }
        if !headers
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case("accept"))
        {
            rb = rb.header("Accept", "text/html,application/xhtml+xml");
        }
        for (k, v) in headers {
            rb = rb.header(*k, *v);
        }
        if let Some(f) = form {
            rb = rb.form(f);
        }
        let r = rb
            .send()
            .await
            .unwrap_or_else(|e| panic!("request to {url} failed: {e}"));
        let status = r.status();
        let headers = r.headers().clone();
        for v in headers.get_all(SET_COOKIE) {
            self.jar.store(&url, v.to_str().unwrap());
        }
        let body = r.text().await.unwrap_or_default();
        Resp {
            status,
            headers,
            body,
            url,
        }
    }

    pub async fn get(&self, url: &str) -> Resp {
        self.request(Method::GET, url, None, &[]).await
    }

    pub async fn get_with(&self, url: &str, headers: &[(&str, &str)]) -> Resp {
        self.request(Method::GET, url, None, headers).await
    }

    pub async fn post_form(
        &self,
        url: &str,
        form: &[(&str, &str)],
        headers: &[(&str, &str)],
    ) -> Resp {
        self.request(Method::POST, url, Some(form), headers).await
    }

    /// Follow redirects (like a browser) until a non-redirect or until `stop` matches the
    /// next URL. Returns every hop.
    pub async fn follow(&self, url: &str, stop: impl Fn(&Url) -> bool) -> Vec<Resp> {
        let mut hops = Vec::new();
        let mut next = url.to_string();
        for _ in 0..20 {
            let r = self.get(&next).await;
            let loc = if r.status.is_redirection() {
                r.location()
            } else {
                None
            };
            hops.push(r);
            match loc {
                Some(l) if !stop(&l) => next = l.to_string(),
                _ => return hops,
            }
        }
        panic!("too many redirects from {url}");
    }

    /// Submit the OP's login form found in `page` and follow redirects until `stop`.
    pub async fn submit_login(
        &self,
        page: &Resp,
        user: &str,
        password: &str,
        stop: impl Fn(&Url) -> bool,
    ) -> Vec<Resp> {
        let action = form_action(&page.body, "login")
            .unwrap_or_else(|| panic!("no login form in: {}", page.body));
        let action = page.url.join(&action).unwrap();
        let r = self
            .post_form(
                action.as_str(),
                &[("username", user), ("password", password)],
                &[],
            )
            .await;
        let mut hops = vec![];
        let loc = r.location();
        hops.push(r);
        if let Some(l) = loc {
            if !stop(&l) {
                hops.extend(self.follow(l.as_str(), stop).await);
            }
        }
        hops
    }
}

/// `action` of `<form id="{id}" …>` (or the first form when none has that id).
pub fn form_action(html: &str, id: &str) -> Option<String> {
    let start = html
        .find(&format!("id=\"{id}\""))
        .and_then(|i| html[..i].rfind("<form"))
        .or_else(|| html.find("<form"))?;
    let tag_end = start + html[start..].find('>')?;
    let tag = &html[start..tag_end];
    let a = tag.find("action=\"")? + 8;
    let e = tag[a..].find('"')?;
    Some(tag[a..a + e].replace("&amp;", "&"))
}

/// Hidden inputs of a form, for auto-submitting pages.
pub fn hidden_inputs(html: &str) -> Vec<(String, String)> {
    let mut out = vec![];
    for part in html.split("<input").skip(1) {
        let tag = &part[..part.find('>').unwrap_or(part.len())];
        let attr = |n: &str| {
            let k = format!("{n}=\"");
            tag.find(&k).map(|i| {
                let s = &tag[i + k.len()..];
                s[..s.find('"').unwrap_or(s.len())].to_string()
            })
        };
        if let (Some(name), Some(value)) = (attr("name"), attr("value")) {
            out.push((name, value));
        }
    }
    out
}
