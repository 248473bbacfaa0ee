//! The HTML pages the gateway shows a person: one template per page kind, rendered with
//! minijinja (HTML auto-escaping on for every `.html` template). Operators replace any of
//! them with a file of the same name in `ui.template_dir`; the rest stay the built-in ones
//! (`crates/core/templates/`). Templates are loaded and compiled once, at configuration
//! time, so a broken template stops the gateway at start, never a request.

use std::collections::BTreeMap;
use std::path::Path;

use minijinja::Environment;
use serde::Serialize;

/// `(file name, source)` of each named file in `crates/core/templates/`.
macro_rules! templates {
    ($($name:literal),+ $(,)?) => {
        &[$(($name, include_str!(concat!("../templates/", $name)))),+]
    };
}

/// The built-in templates, by file name.
pub const BUILTIN: &[(&str, &str)] = templates![
    "base.html",
    "actions.html",
    "error.html",
    "login_failed.html",
    "state_mismatch.html",
    "unavailable.html",
    "signed_out.html",
    "logout_confirm.html",
];

/// Which page; each kind is one template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageKind {
    /// Any refused request without a page of its own (`error.html`).
    Error,
    /// The OP or the ID token refused the sign-in (`login_failed.html`).
    LoginFailed,
    /// The login response does not match a login this browser started (`state_mismatch.html`).
    StateMismatch,
    /// The OP or the session store cannot be reached: 502/503 (`unavailable.html`).
    Unavailable,
    /// The sign-out finished (`signed_out.html`).
    SignedOut,
    /// "Sign out?" with a button that posts the logout (`logout_confirm.html`).
    LogoutConfirm,
}

impl PageKind {
    pub fn template(self) -> &'static str {
        match self {
            Self::Error => "error.html",
            Self::LoginFailed => "login_failed.html",
            Self::StateMismatch => "state_mismatch.html",
            Self::Unavailable => "unavailable.html",
            Self::SignedOut => "signed_out.html",
            Self::LogoutConfirm => "logout_confirm.html",
        }
    }
}

/// A hidden form field of [`PageKind::LogoutConfirm`].
#[derive(Debug, Clone, Serialize)]
pub struct Field {
    pub name: String,
    pub value: String,
}

/// The next steps an error page offers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageLinks {
    /// The login again, with the original `rd`.
    pub try_again: Option<String>,
    /// The application (the original `rd`).
    pub back: Option<String>,
}

impl crate::Gateway {
    /// "Try again" (the login with `rd`) and "back" (`rd`), when `rd` is given and still
    /// allowed by `redirect.allowed`; no links otherwise.
    pub fn login_links(&self, rd: Option<&str>) -> PageLinks {
        let Some(rd) = rd
            .filter(|r| !r.is_empty())
            .and_then(|r| self.settings.redirect.check(r).ok())
        else {
            return PageLinks::default();
        };
        let enc: String = url::form_urlencoded::byte_serialize(rd.as_str().as_bytes()).collect();
        PageLinks {
            try_again: Some(format!("{}?rd={enc}", self.settings.public_route("/login"))),
            back: Some(rd.to_string()),
        }
    }

    /// Only "back" to `rd`, when it is allowed (pages after which a login makes no sense).
    pub fn back_link(&self, rd: Option<&str>) -> PageLinks {
        PageLinks {
            try_again: None,
            back: self.login_links(rd).back,
        }
    }
}

/// What a template sees. Every string is escaped by the template engine.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PageContext {
    /// HTTP status of the answer.
    pub status: u16,
    pub title: String,
    /// What happened, in words a person understands (no upstream details).
    pub message: String,
    /// OAuth-style error code (`login_failed`, `temporarily_unavailable`), or empty.
    pub code: String,
    /// The login with the original `rd`, when that `rd` is still allowed.
    pub try_again: Option<String>,
    /// The application to go back to (the original `rd`), when known and allowed.
    pub back: Option<String>,
    /// Seconds from `Retry-After` (503).
    pub retry_after: Option<u64>,
    /// Where the page goes by itself after `retry_after` seconds (a `<meta refresh>`).
    pub refresh_url: Option<String>,
    /// The logout form's target and fields ([`PageKind::LogoutConfirm`]).
    pub form_action: Option<String>,
    pub fields: Vec<Field>,
    /// [`PageKind::SignedOut`]: whether the OP confirmed the end of its session (`None`:
    /// not known).
    pub op_reached: Option<bool>,
}

/// The compiled templates.
pub struct Pages {
    env: Environment<'static>,
}

impl std::fmt::Debug for Pages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pages").finish_non_exhaustive()
    }
}

impl Pages {
    /// The built-in templates only (compiled once per process).
    pub fn builtin() -> std::sync::Arc<Self> {
        // the built-in templates are tested to compile (`builtin_templates_render`)
        static BUILTIN_PAGES: std::sync::LazyLock<std::sync::Arc<Pages>> =
            std::sync::LazyLock::new(|| {
                std::sync::Arc::new(Pages::from_sources(BTreeMap::new()).unwrap_or_else(|_| {
                    Pages {
                        env: Environment::new(),
                    }
                }))
            });
        BUILTIN_PAGES.clone()
    }

    /// The built-in templates, each replaced by the file of the same name in `dir` when
    /// there is one. Errors name the file and the problem.
    pub fn load(dir: &Path) -> Result<Self, String> {
        if !dir.is_dir() {
            return Err(format!(
                "ui.template_dir {}: not a readable directory",
                dir.display()
            ));
        }
        let mut own = BTreeMap::new();
        for (name, _) in BUILTIN {
            let p = dir.join(name);
            if p.exists() {
                let text = std::fs::read_to_string(&p)
                    .map_err(|e| format!("ui.template_dir: cannot read {}: {e}", p.display()))?;
                own.insert((*name).to_string(), text);
            }
        }
        Self::from_sources(own)
    }

    /// Built-ins overridden by `own` (file name → template source).
    pub fn from_sources(own: BTreeMap<String, String>) -> Result<Self, String> {
        let mut env = Environment::new();
        // auto-escaping: minijinja's default callback escapes HTML in every `.html` template
        // (all of them: only the names in BUILTIN are ever added)
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Lenient);
        for (name, builtin) in BUILTIN {
            let src = own
                .get(*name)
                .cloned()
                .unwrap_or_else(|| (*builtin).to_string());
            env.add_template_owned((*name).to_string(), src)
                .map_err(|e| format!("template {name}: {e}"))?;
        }
        let pages = Self { env };
        // render each page once with sample values: errors surface now, not on a request
        for kind in [
            PageKind::Error,
            PageKind::LoginFailed,
            PageKind::StateMismatch,
            PageKind::Unavailable,
            PageKind::SignedOut,
            PageKind::LogoutConfirm,
        ] {
            pages.try_render(kind, &PageContext::sample())?;
        }
        Ok(pages)
    }

    fn try_render(&self, kind: PageKind, ctx: &PageContext) -> Result<String, String> {
        self.env
            .get_template(kind.template())
            .and_then(|t| t.render(ctx))
            .map_err(|e| format!("template {}: {e}", kind.template()))
    }

    /// The page; if the template fails anyway, a minimal escaped page (never a panic).
    pub fn render(&self, kind: PageKind, ctx: &PageContext) -> String {
        self.try_render(kind, ctx).unwrap_or_else(|e| {
            tracing::error!(error = %e, "page template failed; serving the plain page");
            let esc = crate::util::html_escape;
            format!(
                "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title></head>\
<body><h1 id=\"title\">{t}</h1><p id=\"message\">{m}</p></body></html>",
                t = esc(&ctx.title),
                m = esc(&ctx.message)
            )
        })
    }
}

impl PageContext {
    fn sample() -> Self {
        Self {
            status: 503,
            title: "Title".into(),
            message: "Message".into(),
            code: "code".into(),
            try_again: Some("https://auth.example/sso/login?rd=x".into()),
            back: Some("https://app.example/".into()),
            retry_after: Some(5),
            refresh_url: Some("https://auth.example/sso/login?rd=x".into()),
            form_action: Some("/sso/logout".into()),
            fields: vec![Field {
                name: "rd".into(),
                value: "https://app.example/".into(),
            }],
            op_reached: Some(false),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn builtin_templates_render() {
        Pages::from_sources(BTreeMap::new()).unwrap();
    }

    #[test]
    fn every_value_is_escaped() {
        let pages = Pages::builtin();
        let evil = "\"><script>alert(1)</script><a x='";
        let ctx = PageContext {
            status: 400,
            title: evil.into(),
            message: evil.into(),
            code: evil.into(),
            try_again: Some(format!("https://a.example/{evil}")),
            back: Some(format!("https://a.example/{evil}")),
            retry_after: Some(5),
            refresh_url: Some(format!("https://a.example/{evil}")),
            form_action: Some(evil.into()),
            fields: vec![Field {
                name: evil.into(),
                value: evil.into(),
            }],
            op_reached: Some(false),
        };
        for kind in [
            PageKind::Error,
            PageKind::LoginFailed,
            PageKind::StateMismatch,
            PageKind::Unavailable,
            PageKind::SignedOut,
            PageKind::LogoutConfirm,
        ] {
            let html = pages.render(kind, &ctx);
            assert!(!html.contains("<script>"), "{kind:?}: {html}");
            assert!(!html.contains("\"><"), "{kind:?}: {html}");
            assert!(!html.contains("x='"), "{kind:?}: {html}");
            assert!(html.contains("&lt;script&gt;"), "{kind:?}: {html}");
        }
    }

    #[test]
    fn operator_templates_replace_builtins_and_bad_ones_are_refused() {
        let mut own = BTreeMap::new();
        own.insert(
            "error.html".to_string(),
            "<p class=\"mine\">{{ message }}</p>".to_string(),
        );
        let pages = Pages::from_sources(own).unwrap();
        let ctx = PageContext {
            message: "<b>".into(),
            ..Default::default()
        };
        assert_eq!(
            pages.render(PageKind::Error, &ctx),
            "<p class=\"mine\">&lt;b&gt;</p>"
        );
        // the others are still the built-in ones
        assert!(pages
            .render(PageKind::SignedOut, &ctx)
            .contains("<!doctype html>"));
        let mut bad = BTreeMap::new();
        bad.insert("error.html".to_string(), "{% if %}".to_string());
        let e = Pages::from_sources(bad).unwrap_err();
        assert!(e.contains("error.html"), "{e}");
    }

    #[test]
    fn no_remote_assets_in_builtins() {
        for (name, src) in BUILTIN {
            for bad in ["http://", "https://", "//", "<script", "<link", "@import"] {
                let found = src
                    .match_indices(bad)
                    .any(|(i, _)| !(bad == "//" && src[..i].ends_with(':')));
                assert!(!found, "{name} contains {bad}");
            }
        }
    }
}
