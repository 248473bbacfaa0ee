//! Where a request comes from, as the browser says it (`Origin`, `Sec-Fetch-Site`): the one
//! place the cross-site (CSRF) checks and the CORS origin list are decided.

use crate::gateway::Gateway;

/// The provenance headers of a request.
#[derive(Debug, Default, Clone)]
pub struct Provenance {
    /// `Origin`.
    pub origin: Option<String>,
    /// `Sec-Fetch-Site` (Fetch Metadata).
    pub fetch_site: Option<String>,
}

impl Provenance {
    /// The browser says the request comes from another site.
    pub fn cross_site(&self) -> bool {
        self.fetch_site.as_deref() == Some("cross-site")
    }
}

impl Gateway {
    /// `origin` is in `cors.allowed_origins` (exact match).
    pub fn cors_origin_allowed(&self, origin: &str) -> bool {
        self.settings
            .cors_allowed_origins
            .iter()
            .any(|o| o == origin)
    }

    /// A POST that uses the cookies (refresh, logout) is accepted from a configured CORS
    /// origin or the gateway's own origin; without `Origin`, unless the browser says it is
    /// cross-site.
    pub fn cookie_post_allowed(&self, p: &Provenance) -> bool {
        match p.origin.as_deref() {
            None => !p.cross_site(),
            Some(o) => {
                self.cors_origin_allowed(o)
                    || crate::federation::origin(&self.settings.server.public_url) == o
            }
        }
    }

    /// Logging out also refuses a cross-site request from an allowed CORS origin: only the
    /// gateway's own pages and same-site apps can end the session.
    pub fn logout_post_allowed(&self, p: &Provenance) -> bool {
        self.cookie_post_allowed(p) && !p.cross_site()
    }
}
