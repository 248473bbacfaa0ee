//! Redirect-target validation (`rd` parameter) against an operator allow-list.
//!
//! Open redirects are the classic attack on SSO gateways, so this module is
//! deliberately strict: the raw text is screened *before* parsing (so that the
//! forgiving WHATWG parser in the `url` crate never gets to "repair" a hostile
//! payload), the string is then parsed with `url`, and finally the host/port the
//! parser produced is compared with the authority text extracted from the raw
//! string. Any disagreement between the two views is refused.
//!
//! Allow-list syntax (`[redirect] allowed = [...]`):
//!
//! * `a.com`            – exactly that host, any port;
//! * `*.a.com`          – any subdomain of `a.com` at any depth (not `a.com` itself);
//! * `app.b.com:8443`   – that host on port 8443 only (ports compare with the
//!   scheme default applied, so `a.com:443` matches `https://a.com/`);
//! * `127.0.0.1`, `[::1]` – an exact IP address (IP hosts are refused otherwise).

use url::{Host, Url};

/// Maximum accepted length of a redirect target, in bytes.
pub const MAX_REDIRECT_LEN: usize = 2048;

/// Longest host name we accept (DNS limit, without the trailing dot).
const MAX_HOST_LEN: usize = 253;
/// Longest DNS label.
const MAX_LABEL_LEN: usize = 63;
/// How many rounds of percent-decoding we look through for smuggled characters.
const DECODE_ROUNDS: usize = 4;

/// Why a redirect target was refused.
///
/// The `Display` texts are user-facing sentences. The only attacker-derived
/// text ever included is the host name in [`RedirectError::NotAllowed`], which
/// has been validated to consist of `[a-z0-9._-]` only.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum RedirectError {
    #[error("The redirect URL is empty.")]
    Empty,
    #[error("The redirect URL is too long (the limit is {max} bytes).")]
    TooLong { max: usize },
    #[error("The redirect URL must not start or end with whitespace.")]
    SurroundingWhitespace,
    #[error("The redirect URL contains spaces, control characters or invisible characters.")]
    ControlOrWhitespace,
    #[error("The redirect URL contains a backslash, which is not allowed.")]
    Backslash,
    #[error("The redirect URL contains a percent-encoded backslash (%5C), which is not allowed.")]
    EncodedBackslash,
    #[error(
        "The redirect URL contains a percent-encoded control character (such as a line break, tab or NUL byte)."
    )]
    EncodedControl,
    #[error(
        "The redirect URL must be an absolute http:// or https:// address, not a relative path."
    )]
    Relative,
    #[error(
        "The redirect URL must not start with \"//\" or a backslash; use a full http:// or https:// address."
    )]
    SchemeRelative,
    #[error(
        "The redirect URL must use http:// or https://; other schemes (such as javascript:, data: or file:) are not allowed."
    )]
    DisallowedScheme,
    #[error(
        "The redirect URL must use https:// (this gateway's cookies are Secure; plain http:// needs redirect.allow_http)."
    )]
    HttpNotAllowed,
    #[error("The redirect URL must have \"//\" directly after \"http:\" or \"https:\".")]
    MissingSlashes,
    #[error(
        "The redirect URL must not contain a user name or password (an \"@\" before the host name)."
    )]
    Userinfo,
    #[error("The redirect URL has no host name.")]
    EmptyHost,
    #[error("The redirect URL's host name must not contain percent-encoded characters.")]
    PercentEncodedHost,
    #[error(
        "The redirect URL's host name contains non-ASCII characters; internationalised host names are not accepted."
    )]
    NonAsciiHost,
    #[error(
        "The redirect URL's host name contains an internationalised (\"xn--\") label that is not on the allow-list."
    )]
    PunycodeHost,
    #[error("The redirect URL's host name must not end with a dot.")]
    TrailingDot,
    #[error("The redirect URL's host name is not a valid host name.")]
    InvalidHost,
    #[error("The redirect URL has an invalid port number.")]
    InvalidPort,
    #[error(
        "The redirect URL uses an IP address as its host; only IP addresses listed exactly on the allow-list, written in standard notation, are accepted."
    )]
    IpAddressHost,
    #[error("The redirect URL's host name or port is written in a non-standard form.")]
    HostNormalised,
    #[error("The redirect URL is not a valid URL.")]
    Malformed,
    #[error("Redirecting to {host:?} on port {port} is not allowed.")]
    NotAllowed { host: String, port: u16 },
}

/// An invalid `redirect.allowed` configuration entry.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum PatternError {
    #[error(
        "redirect.allowed contains an empty entry; remove it or write a host name such as \"app.example.com\""
    )]
    Empty,
    #[error(
        "redirect.allowed entry {entry:?}: write only the host name (and an optional :port), without a scheme, e.g. {suggestion:?}"
    )]
    HasScheme { entry: String, suggestion: String },
    #[error(
        "redirect.allowed entry {entry:?}: must not contain a path, query or fragment, write {suggestion:?}"
    )]
    HasPath { entry: String, suggestion: String },
    #[error(
        "redirect.allowed entry {entry:?}: must not contain \"@\" (user name or password); write only the host name"
    )]
    HasUserinfo { entry: String },
    #[error(
        "redirect.allowed entry {entry:?}: non-ASCII host names are not accepted, write the punycode form{}",
        match suggestion { Some(s) => format!(" {s:?}"), None => String::from(" (\"xn--...\")") }
    )]
    NotAscii {
        entry: String,
        suggestion: Option<String>,
    },
    #[error(
        "redirect.allowed entry {entry:?}: the character {ch:?} is not allowed; use only lower-case letters, digits, '-', '_', '.', an optional leading \"*.\" and an optional \":port\""
    )]
    InvalidCharacter { entry: String, ch: char },
    #[error("redirect.allowed entry {entry:?}: must be lower-case, write {suggestion:?}")]
    Uppercase { entry: String, suggestion: String },
    #[error("redirect.allowed entry {entry:?}: must not end with a dot, write {suggestion:?}")]
    TrailingDot { entry: String, suggestion: String },
    #[error(
        "redirect.allowed entry {entry:?}: has an empty label (a leading dot or two dots in a row); write a host name such as \"app.example.com\""
    )]
    EmptyLabel { entry: String },
    #[error(
        "redirect.allowed entry {entry:?}: a wildcard must be a whole leading label, {}",
        match suggestion { Some(s) => format!("write {s:?}"), None => String::from("like \"*.example.com\"") }
    )]
    MisplacedWildcard {
        entry: String,
        suggestion: Option<String>,
    },
    #[error(
        "redirect.allowed entry {entry:?}: a wildcard over a top-level domain would allow far too many hosts; the wildcard must be followed by at least two labels, like \"*.example.com\""
    )]
    WildcardOverTld { entry: String },
    #[error(
        "redirect.allowed entry {entry:?}: {suffix:?} is a public suffix (anyone can register a name under it); write your own domain, like \"*.example.{suffix}\""
    )]
    WildcardOverPublicSuffix { entry: String, suffix: String },
    #[error(
        "redirect.allowed entry {entry:?}: a wildcard cannot be used with an IP address; list each address exactly"
    )]
    WildcardOnIp { entry: String },
    #[error(
        "redirect.allowed entry {entry:?}: invalid port; write a number from 1 to 65535 without leading zeros, like \"app.example.com:8443\""
    )]
    InvalidPort { entry: String },
    #[error(
        "redirect.allowed entry {entry:?}: the IP address is not in standard notation, write it as {canonical:?}"
    )]
    NonCanonicalIp { entry: String, canonical: String },
    #[error("redirect.allowed entry {entry:?}: not a valid host name: {reason}")]
    InvalidHost { entry: String, reason: &'static str },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum HostPattern {
    /// Exactly this (lower-case ASCII) domain, or this IP address.
    Exact(Host),
    /// Any strict subdomain of this domain.
    Subdomains(String),
}

/// Which ports a pattern allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PortRule {
    /// No port written: the scheme's default port only (443 for https, 80 for http).
    Default,
    /// `host:8443`: exactly that port (`:443` also matches an implicit https port).
    Exact(u16),
    /// `host:*`: any port, an explicit opt-in (development setups).
    Any,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Pattern {
    host: HostPattern,
    port: PortRule,
}

/// Compiled allow-list from config `[redirect] allowed = ["a.com", "*.a.com", "app.b.com:8443"]`.
#[derive(Debug, Clone)]
pub struct RedirectPolicy {
    patterns: Vec<Pattern>,
    /// Plain `http://` targets too (a cookie that is not `Secure`, or `redirect.allow_http`).
    allow_http: bool,
}

impl RedirectPolicy {
    /// Compiles the allow-list. An empty list is valid and allows nothing.
    pub fn new<S: AsRef<str>>(allowed: &[S]) -> Result<Self, PatternError> {
        let patterns = allowed
            .iter()
            .map(|entry| parse_pattern(entry.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            patterns,
            allow_http: true,
        })
    }

    /// Refuse plain `http://` targets unless `allow` (the gateway does this whenever its
    /// cookies are `Secure`: an http page could not use them, and the hop leaks the URL).
    pub fn with_http(mut self, allow: bool) -> Self {
        self.allow_http = allow;
        self
    }

    /// Returns the normalised URL to redirect to, or why it is refused.
    pub fn check(&self, rd: &str) -> Result<Url, RedirectError> {
        screen_raw(rd)?;
        let (raw_host, raw_port) = screen_authority(split_raw(rd)?)?;

        let url = Url::parse(rd).map_err(|_| RedirectError::Malformed)?;
        match url.scheme() {
            "https" => {}
            "http" if self.allow_http => {}
            "http" => return Err(RedirectError::HttpNotAllowed),
            _ => return Err(RedirectError::DisallowedScheme),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(RedirectError::Userinfo);
        }
        if url.cannot_be_a_base() {
            return Err(RedirectError::Malformed);
        }

        let (candidate, port) = reconcile(raw_host, raw_port, &url)?;
        // `Url::port()` is `None` for the scheme's default port, written or not
        if self.matches(&candidate, port, url.port().is_none()) {
            return Ok(url);
        }
        match candidate {
            Host::Ipv4(_) | Host::Ipv6(_) => Err(RedirectError::IpAddressHost),
            Host::Domain(d) if d.split('.').any(is_punycode_label) => {
                Err(RedirectError::PunycodeHost)
            }
            Host::Domain(host) => Err(RedirectError::NotAllowed { host, port }),
        }
    }

    /// `port`: the effective port; `default_port`: it is the scheme's default.
    fn matches(&self, candidate: &Host, port: u16, default_port: bool) -> bool {
        self.patterns.iter().any(|p| {
            let port_ok = match p.port {
                PortRule::Default => default_port,
                PortRule::Exact(want) => port == want,
                PortRule::Any => true,
            };
            port_ok
                && match (&p.host, candidate) {
                    (HostPattern::Exact(h), c) => h == c,
                    (HostPattern::Subdomains(s), Host::Domain(d)) => is_subdomain_of(d, s),
                    _ => false,
                }
        })
    }
}

/// `host` is a strict subdomain of `suffix`, and the labels matched by the
/// wildcard are plain (no `xn--` IDN labels, which could be homographs).
fn is_subdomain_of(host: &str, suffix: &str) -> bool {
    host.strip_suffix(suffix)
        .and_then(|prefix| prefix.strip_suffix('.'))
        .is_some_and(|labels| {
            labels
                .split('.')
                .all(|l| !l.is_empty() && !is_punycode_label(l))
        })
}

fn is_punycode_label(label: &str) -> bool {
    label
        .get(..4)
        .is_some_and(|p| p.eq_ignore_ascii_case("xn--"))
}

/// Characters that are invisible or reorder text; never legitimate in a URL we issue.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{034F}'
            | '\u{061C}'
            | '\u{115F}'
            | '\u{1160}'
            | '\u{17B4}'
            | '\u{17B5}'
            | '\u{180B}'..='\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{206F}'
            | '\u{3164}'
            | '\u{FE00}'..='\u{FE0F}'
            | '\u{FEFF}'
            | '\u{FFA0}'
            | '\u{FFF0}'..='\u{FFFB}'
    )
}

fn is_bad_char(c: char) -> bool {
    c.is_control() || c.is_whitespace() || is_invisible(c)
}

/// Checks on the whole raw string, before any parsing.
fn screen_raw(rd: &str) -> Result<(), RedirectError> {
    if rd.is_empty() {
        return Err(RedirectError::Empty);
    }
    if rd.len() > MAX_REDIRECT_LEN {
        return Err(RedirectError::TooLong {
            max: MAX_REDIRECT_LEN,
        });
    }
    if rd.starts_with(is_bad_char) || rd.ends_with(is_bad_char) {
        return Err(RedirectError::SurroundingWhitespace);
    }
    if ["//", "/\\", "\\/", "\\\\"]
        .iter()
        .any(|p| rd.starts_with(p))
    {
        return Err(RedirectError::SchemeRelative);
    }
    if rd.contains('\\') {
        return Err(RedirectError::Backslash);
    }
    if rd.chars().any(is_bad_char) {
        return Err(RedirectError::ControlOrWhitespace);
    }
    // Look through several layers of percent-encoding for smuggled
    // backslashes and control characters (`%5c`, `%0a`, `%250d`, ...).
    let mut current = rd.as_bytes().to_vec();
    for _ in 0..DECODE_ROUNDS {
        let decoded: Vec<u8> = percent_encoding::percent_decode(&current).collect();
        // nothing (more) to decode: also the case without any '%'
        if decoded == current {
            break;
        }
        if decoded.contains(&b'\\') {
            return Err(RedirectError::EncodedBackslash);
        }
        if decoded.iter().any(|&b| b < 0x20 || b == 0x7f) {
            return Err(RedirectError::EncodedControl);
        }
        current = decoded;
    }
    Ok(())
}

/// Requires `scheme://authority...` with scheme http or https, and extracts the
/// authority text exactly as a WHATWG parser would delimit it (backslashes have
/// already been refused).
fn split_raw(rd: &str) -> Result<&str, RedirectError> {
    let Some((scheme, rest)) = rd.split_once(':') else {
        return Err(RedirectError::Relative);
    };
    // A '/', '?' or '#' before the first ':' (a relative reference) is no scheme character.
    let mut chars = scheme.chars();
    let valid_scheme = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !valid_scheme {
        return Err(RedirectError::Relative);
    }
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return Err(RedirectError::DisallowedScheme);
    }
    let Some(after) = rest.strip_prefix("//") else {
        return Err(RedirectError::MissingSlashes);
    };
    Ok(after.split(['/', '?', '#']).next().unwrap_or_default())
}

/// A port number written in standard form: digits only, no leading zero (so never 0), at
/// most 65535.
fn parse_port(s: &str) -> Option<u16> {
    let canonical = s.bytes().all(|b| b.is_ascii_digit()) && !s.starts_with('0');
    canonical.then(|| s.parse().ok()).flatten()
}

/// Splits `host[:port]` or `[ipv6][:port]` at the port's colon; `Err` says what is wrong
/// with the brackets.
fn split_port(s: &str) -> Result<(&str, Option<&str>), &'static str> {
    if !s.starts_with('[') {
        return Ok(s.split_once(':').map_or((s, None), |(h, p)| (h, Some(p))));
    }
    let close = s
        .find(']')
        .ok_or("an IPv6 address must be enclosed in [ ]")?;
    // `]` is one byte: `close + 1` is a character boundary.
    let (host, rest) = s.split_at(close + 1);
    if rest.is_empty() {
        return Ok((host, None));
    }
    let port = rest
        .strip_prefix(':')
        .ok_or("only \":port\" may follow \"]\"")?;
    Ok((host, Some(port)))
}

/// Syntactic check of a (case-insensitive) domain name: `[A-Za-z0-9_-]` labels,
/// none empty, DNS length limits.
fn domain_syntax_ok(host: &str) -> bool {
    host.len() <= MAX_HOST_LEN
        && host.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= MAX_LABEL_LEN
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// Checks on the raw authority text; returns the raw host and port.
fn screen_authority(authority: &str) -> Result<(&str, Option<u16>), RedirectError> {
    if authority.is_empty() {
        return Err(RedirectError::EmptyHost);
    }
    if authority.contains('@') {
        return Err(RedirectError::Userinfo);
    }
    if !authority.is_ascii() {
        return Err(RedirectError::NonAsciiHost);
    }
    if authority.contains('%') {
        return Err(RedirectError::PercentEncodedHost);
    }
    let (host, port_text) = split_port(authority).map_err(|_| RedirectError::InvalidHost)?;
    if host.is_empty() {
        return Err(RedirectError::EmptyHost);
    }
    let port = port_text
        .map(|p| parse_port(p).ok_or(RedirectError::InvalidPort))
        .transpose()?;
    // `split_port` returns a `[` host with its `]`
    if let Some(inner) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        if inner.is_empty()
            || !inner
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
        {
            return Err(RedirectError::InvalidHost);
        }
    } else if host.ends_with('.') {
        return Err(RedirectError::TrailingDot);
    } else if !domain_syntax_ok(host) {
        return Err(RedirectError::InvalidHost);
    }
    Ok((host, port))
}

/// Compares the host and port the `url` crate produced with the raw authority
/// text. Any normalisation (IDNA mapping, percent-decoding, IPv4 shorthand,
/// default/leading-zero ports, ...) means the two views disagree: refuse.
fn reconcile(
    raw_host: &str,
    raw_port: Option<u16>,
    url: &Url,
) -> Result<(Host, u16), RedirectError> {
    let effective = url
        .port_or_known_default()
        .ok_or(RedirectError::InvalidPort)?;
    match raw_port {
        Some(p) if p != effective => return Err(RedirectError::HostNormalised),
        None if url.port().is_some() => return Err(RedirectError::HostNormalised),
        _ => {}
    }
    let raw_lower = raw_host.to_ascii_lowercase();
    let candidate = match url.host() {
        None => return Err(RedirectError::EmptyHost),
        Some(Host::Domain(d)) if d != raw_lower => return Err(RedirectError::HostNormalised),
        Some(Host::Domain(_)) => Host::Domain(raw_lower),
        Some(_) if url.host_str() != Some(raw_lower.as_str()) => {
            return Err(RedirectError::IpAddressHost)
        }
        Some(ip) => ip.to_owned(),
    };
    Ok((candidate, effective))
}

fn parse_pattern(entry: &str) -> Result<Pattern, PatternError> {
    let owned = || entry.to_owned();
    // What comes before a path, query or fragment: the host to suggest.
    let head = |s: &str| match s.split(['/', '?', '#']).next().unwrap_or_default() {
        "" => String::from("app.example.com"),
        h => h.to_ascii_lowercase(),
    };
    if entry.is_empty() {
        return Err(PatternError::Empty);
    }
    if let Some((_, rest)) = entry.split_once("://") {
        return Err(PatternError::HasScheme {
            entry: owned(),
            suggestion: head(rest),
        });
    }
    if !entry.is_ascii() {
        return Err(PatternError::NotAscii {
            entry: owned(),
            suggestion: punycode_suggestion(entry),
        });
    }
    if entry.contains(['/', '?', '#']) {
        return Err(PatternError::HasPath {
            entry: owned(),
            suggestion: head(entry),
        });
    }
    if entry.contains('@') {
        return Err(PatternError::HasUserinfo { entry: owned() });
    }
    if let Some(ch) = entry.chars().find(|&c| {
        !(c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '*' | ':' | '[' | ']'))
    }) {
        return Err(PatternError::InvalidCharacter { entry: owned(), ch });
    }
    if entry.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(PatternError::Uppercase {
            entry: owned(),
            suggestion: entry.to_ascii_lowercase(),
        });
    }

    // Split off the port.
    let invalid = |reason| PatternError::InvalidHost {
        entry: owned(),
        reason,
    };
    if !entry.starts_with('[') && entry.contains(['[', ']']) {
        return Err(invalid(
            "square brackets are only allowed around an IPv6 address, like \"[::1]\"",
        ));
    }
    if !entry.starts_with('[') && entry.matches(':').count() > 1 {
        return Err(invalid(
            "an IPv6 address must be enclosed in brackets, like \"[::1]\" or \"[::1]:8443\"",
        ));
    }
    let (host, port_text) = split_port(entry).map_err(invalid)?;
    let port = match port_text {
        None => PortRule::Default,
        Some("*") => PortRule::Any,
        Some(p) => PortRule::Exact(
            parse_port(p).ok_or_else(|| PatternError::InvalidPort { entry: owned() })?,
        ),
    };
    // As written: a port that parsed is in standard form.
    let port_suffix = port_text.map(|p| format!(":{p}")).unwrap_or_default();
    if host.is_empty() {
        return Err(invalid("the host name is missing"));
    }
    // An IP address is accepted only as written in standard notation.
    let exact_ip = |ip: Host, written: &str| match ip.to_string() {
        canonical if canonical == written => Ok(Pattern {
            host: HostPattern::Exact(ip),
            port,
        }),
        canonical => Err(PatternError::NonCanonicalIp {
            entry: owned(),
            canonical,
        }),
    };

    // IPv6 literal.
    if host.starts_with('[') {
        return match Host::parse(host) {
            Ok(ip @ Host::Ipv6(_)) => exact_ip(ip, host),
            _ => Err(invalid("not a valid IPv6 address")),
        };
    }

    if host == "*" || host == "*." {
        return Err(PatternError::WildcardOverTld { entry: owned() });
    }
    if host.ends_with('.') {
        return Err(PatternError::TrailingDot {
            entry: owned(),
            suggestion: format!("{}{port_suffix}", host.trim_end_matches('.')),
        });
    }
    let name = host.strip_prefix("*.").unwrap_or(host);
    let wildcard = name.len() < host.len();
    if name.contains('*') {
        let suggestion = host
            .strip_prefix('*')
            .filter(|rest| {
                !wildcard && !rest.is_empty() && !rest.contains('*') && !rest.starts_with('.')
            })
            .map(|rest| format!("*.{rest}{port_suffix}"));
        return Err(PatternError::MisplacedWildcard {
            entry: owned(),
            suggestion,
        });
    }
    if name.split('.').any(str::is_empty) {
        return Err(PatternError::EmptyLabel { entry: owned() });
    }
    if name.len() > MAX_HOST_LEN {
        return Err(invalid("a host name may be at most 253 characters long"));
    }
    for label in name.split('.') {
        if label.len() > MAX_LABEL_LEN {
            return Err(invalid("each label may be at most 63 characters long"));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(invalid("a label may not start or end with '-'"));
        }
    }
    if wildcard && !name.contains('.') {
        return Err(PatternError::WildcardOverTld { entry: owned() });
    }
    // A wildcard over a public suffix (`*.co.uk`, `*.github.io`) covers hosts of strangers:
    // refused with the Public Suffix List (the `psl` crate, ICANN and private sections).
    if wildcard && psl::suffix_str(name) == Some(name) {
        return Err(PatternError::WildcardOverPublicSuffix {
            entry: owned(),
            suffix: name.to_string(),
        });
    }
    match Host::parse(name) {
        Ok(Host::Domain(d)) if d == name => Ok(Pattern {
            host: if wildcard {
                HostPattern::Subdomains(d)
            } else {
                HostPattern::Exact(Host::Domain(d))
            },
            port,
        }),
        Ok(Host::Domain(_)) => Err(invalid(
            "browsers would rewrite this name (invalid punycode?); write the exact ASCII form",
        )),
        Ok(Host::Ipv4(_) | Host::Ipv6(_)) if wildcard => {
            Err(PatternError::WildcardOnIp { entry: owned() })
        }
        Ok(ip @ Host::Ipv4(_)) => exact_ip(ip, name),
        Ok(Host::Ipv6(_)) => Err(invalid("an IPv6 address must be enclosed in brackets")),
        Err(_) => Err(invalid(
            "browsers would not accept it (a host name ending in a number is read as an IP address)",
        )),
    }
}

/// Best-effort punycode rendering of a non-ASCII entry, for the error message.
fn punycode_suggestion(entry: &str) -> Option<String> {
    let (prefix, rest) = entry.split_at(if entry.starts_with("*.") { 2 } else { 0 });
    // `name` and `:port` (or "")
    let (name, port) = match rest.rsplit_once(':') {
        Some((n, p)) if p.bytes().all(|b| b.is_ascii_digit()) => rest.split_at(n.len()),
        _ => (rest, ""),
    };
    match Host::parse(name).ok()? {
        Host::Domain(d) if d.is_ascii() && !d.is_empty() => Some(format!("{prefix}{d}{port}")),
        _ => None,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn policy() -> RedirectPolicy {
        RedirectPolicy::new(&[
            "a.com",
            "*.a.com",
            "app.b.com:8443",
            "*.a.localhost",
            "xn--bcher-kva.de",
            "*.xn--bcher-kva.de",
        ])
        .unwrap()
    }

    #[track_caller]
    fn rejects(payloads: &[&str], want: RedirectError) {
        let p = policy();
        for rd in payloads {
            assert_eq!(p.check(rd), Err(want.clone()), "payload {rd:?}");
        }
    }

    #[track_caller]
    fn accepts(rd: &str) -> Url {
        match policy().check(rd) {
            Ok(u) => u,
            Err(e) => panic!("expected {rd:?} to be accepted, got {e:?}"),
        }
    }

    fn not_allowed(host: &str, port: u16) -> RedirectError {
        RedirectError::NotAllowed {
            host: host.to_owned(),
            port,
        }
    }

    // ----- accepted -----

    #[test]
    fn accepts_exact_host() {
        let u = accepts("https://a.com/");
        assert_eq!(u.as_str(), "https://a.com/");
        assert_eq!(accepts("https://a.com").as_str(), "https://a.com/");
    }

    #[test]
    fn accepts_subdomain_with_query_and_fragment() {
        let u = accepts("https://app1.a.com/x?y=1#frag");
        assert_eq!(u.as_str(), "https://app1.a.com/x?y=1#frag");
        assert_eq!(u.fragment(), Some("frag"));
    }

    #[test]
    fn ports_only_as_listed() {
        // no port written: the scheme's default port only
        rejects(
            &["http://deep.sub.a.com:8080/p"],
            not_allowed("deep.sub.a.com", 8080),
        );
        rejects(&["https://a.com:8443/"], not_allowed("a.com", 8443));
        let u = accepts("https://deep.sub.a.com:443/p");
        assert_eq!(u.port(), None, "the default port, written");
        // `:*` opts in to any port
        let p = RedirectPolicy::new(&["*.a.com:*"]).unwrap();
        let u = p.check("http://deep.sub.a.com:8080/p").unwrap();
        assert_eq!(u.host_str(), Some("deep.sub.a.com"));
        assert_eq!(u.port(), Some(8080));
    }

    #[test]
    fn https_only_unless_http_is_allowed() {
        let p = RedirectPolicy::new(&["a.com"]).unwrap().with_http(false);
        assert!(p.check("https://a.com/").is_ok());
        assert_eq!(p.check("http://a.com/"), Err(RedirectError::HttpNotAllowed));
        let p = p.with_http(true);
        assert!(p.check("http://a.com/").is_ok());
    }

    #[test]
    fn wildcards_over_public_suffixes_are_refused() {
        for entry in ["*.co.uk", "*.github.io", "*.com.au", "*.herokuapp.com"] {
            assert!(
                matches!(
                    RedirectPolicy::new(&[entry]),
                    Err(PatternError::WildcardOverPublicSuffix { .. })
                ),
                "{entry}"
            );
        }
        for entry in [
            "*.example.co.uk",
            "*.me.github.io",
            "*.a.localhost",
            "co.uk",
        ] {
            assert!(RedirectPolicy::new(&[entry]).is_ok(), "{entry}");
        }
    }

    #[test]
    fn port_pinning() {
        let u = accepts("https://app.b.com:8443/x");
        assert_eq!(u.port(), Some(8443));
        accepts("http://app.b.com:8443/");
        rejects(&["https://app.b.com/"], not_allowed("app.b.com", 443));
        rejects(&["http://app.b.com/"], not_allowed("app.b.com", 80));
        rejects(&["https://app.b.com:8444/"], not_allowed("app.b.com", 8444));
        // A pinned default port matches the implicit one.
        let p = RedirectPolicy::new(&["c.com:443"]).unwrap();
        assert!(p.check("https://c.com/").is_ok());
        assert!(p.check("https://c.com:443/").is_ok());
        assert!(p.check("http://c.com/").is_err());
    }

    #[test]
    fn accepts_localhost_wildcard() {
        let u = RedirectPolicy::new(&["*.a.localhost:8090"])
            .unwrap()
            .check("http://app1.a.localhost:8090/")
            .unwrap();
        assert_eq!(u.as_str(), "http://app1.a.localhost:8090/");
    }

    #[test]
    fn accepts_and_normalises_case() {
        assert_eq!(
            accepts("HTTPS://APP1.A.COM/Path").as_str(),
            "https://app1.a.com/Path"
        );
    }

    #[test]
    fn accepts_payloads_that_stay_on_allowed_host() {
        // These look scary but the browser ends up on a.com.
        assert_eq!(accepts("https://a.com#@evil.com").host_str(), Some("a.com"));
        assert_eq!(
            accepts("https://a.com/?@evil.com").host_str(),
            Some("a.com")
        );
        assert_eq!(
            accepts("https://a.com/%2f%2fevil.com").host_str(),
            Some("a.com")
        );
        assert_eq!(accepts("https://a.com//evil.com").host_str(), Some("a.com"));
        assert_eq!(
            accepts("https://a.com/login?rd=https%3A%2F%2Fevil.com%2F").host_str(),
            Some("a.com")
        );
        assert_eq!(
            accepts("https://a.com/?q=a%20b+c").host_str(),
            Some("a.com")
        );
        assert_eq!(accepts("https://a_b.a.com/").host_str(), Some("a_b.a.com"));
        // Non-ASCII outside the authority is percent-encoded by the parser.
        assert_eq!(
            accepts("https://a.com/café").as_str(),
            "https://a.com/caf%C3%A9"
        );
    }

    #[test]
    fn default_port_normalised() {
        assert_eq!(accepts("https://a.com:443/").as_str(), "https://a.com/");
        assert_eq!(accepts("http://a.com:80/").as_str(), "http://a.com/");
    }

    #[test]
    fn punycode_listed_exactly_is_accepted() {
        accepts("https://xn--bcher-kva.de/");
        accepts("https://shop.xn--bcher-kva.de/");
    }

    #[test]
    fn ip_listed_exactly_is_accepted() {
        let p = RedirectPolicy::new(&["127.0.0.1", "127.0.0.1:9000", "[::1]:8080"]).unwrap();
        assert!(p.check("http://127.0.0.1/").is_ok());
        assert!(p.check("http://127.0.0.1:9000/").is_ok());
        assert!(p.check("http://[::1]:8080/").is_ok());
        assert_eq!(p.check("http://[::1]/"), Err(RedirectError::IpAddressHost));
        // Non-canonical spellings of a listed IP are still refused.
        for rd in [
            "http://127.1/",
            "http://2130706433/",
            "http://0x7f.0.0.1/",
            "http://0177.0.0.1/",
            "http://127.0.0.01/",
            "http://[0:0:0:0:0:0:0:1]:8080/",
        ] {
            assert_eq!(p.check(rd), Err(RedirectError::IpAddressHost), "{rd}");
        }
    }

    #[test]
    fn empty_policy_allows_nothing() {
        let p = RedirectPolicy::new::<&str>(&[]).unwrap();
        assert_eq!(p.check("https://a.com/"), Err(not_allowed("a.com", 443)));
    }

    // ----- rejected -----

    #[test]
    fn rejects_empty() {
        rejects(&[""], RedirectError::Empty);
    }

    #[test]
    fn rejects_too_long() {
        let long = format!("https://a.com/{}", "x".repeat(MAX_REDIRECT_LEN));
        rejects(&[&long], RedirectError::TooLong { max: 2048 });
        let exact = format!("https://a.com/{}", "x".repeat(MAX_REDIRECT_LEN - 14));
        assert_eq!(exact.len(), MAX_REDIRECT_LEN);
        accepts(&exact);
    }

    #[test]
    fn rejects_surrounding_whitespace() {
        rejects(
            &[
                " https://a.com/",
                "https://a.com/ ",
                "\thttps://a.com/",
                "https://a.com/\n",
                "\r\nhttps://a.com/",
                "\0https://a.com/",
                "\u{a0}https://a.com/",
                "\u{feff}https://a.com/",
                "\u{3000}https://a.com/",
            ],
            RedirectError::SurroundingWhitespace,
        );
    }

    #[test]
    fn rejects_control_and_whitespace() {
        rejects(
            &[
                "java\tscript:alert(1)",
                "https://a.c\tom/",
                "https://a.com\n.evil.com/",
                "https://evil.com\r/a.com",
                "https://a.com\0.evil.com/",
                "https://a.com/a b",
                "https://a.com/\x7fx",
                "https://a.com/\u{85}x",
                "https://a.com/\u{2028}x",
                "https://a.com\u{200b}.evil.com/",
                "https://a.com/\u{202e}moc.live",
                "ht\ntps://evil.com",
            ],
            RedirectError::ControlOrWhitespace,
        );
    }

    #[test]
    fn rejects_backslash() {
        rejects(
            &[
                "https://a.com\\@evil.com",
                "https:\\\\evil.com",
                "https:/\\/\\evil.com",
                "https://evil.com\\.a.com",
                "https://evil.com\\@a.com",
                "https://a.com/\\evil.com",
                "http:\\evil.com",
                "https://a.com/path?x=\\",
            ],
            RedirectError::Backslash,
        );
    }

    #[test]
    fn rejects_encoded_backslash() {
        rejects(
            &[
                "https://a.com/%5cevil.com",
                "https://a.com/%5C%5Cevil.com",
                "https://a.com/%255cevil.com",
                "https://a.com/%25255c",
                "https:%5c%5cevil.com",
            ],
            RedirectError::EncodedBackslash,
        );
    }

    #[test]
    fn rejects_encoded_control() {
        rejects(
            &[
                "https://a.com/%09",
                "https://a.com/%0a",
                "https://a.com/%0D%0ALocation:%20https://evil.com",
                "https://a.com/%00",
                "https://a.com%00.evil.com/",
                "https://a.com/%7f",
                "https://a.com/%250a",
                "javascript:%0aalert(1)",
                "https://a.com/?x=%0d%0aSet-Cookie:%20a=b",
            ],
            RedirectError::EncodedControl,
        );
    }

    #[test]
    fn rejects_relative() {
        rejects(
            &[
                "/",
                "/foo",
                "foo",
                "a.com",
                "evil.com/x",
                "./x",
                "../x",
                "?x=https://a.com",
                "#https://a.com",
                ":",
                "://evil.com",
                "/https://a.com",
                "/%2f%2fevil.com",
                "1https://evil.com",
                "ht%74ps://evil.com",
                "evil.com/a.com:443",
            ],
            RedirectError::Relative,
        );
    }

    #[test]
    fn rejects_scheme_relative() {
        rejects(
            &[
                "//evil.com",
                "///evil.com",
                "////evil.com",
                "/\\evil.com",
                "\\\\evil.com",
                "\\/evil.com",
                "//a.com",
                "//a.com@evil.com",
            ],
            RedirectError::SchemeRelative,
        );
    }

    #[test]
    fn rejects_other_schemes() {
        rejects(
            &[
                "javascript:alert(1)",
                "JaVaScRiPt:alert(document.domain)",
                "javascript://a.com/?x=1",
                "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==",
                "data:text/html,<script>alert(1)</script>",
                "vbscript:msgbox(1)",
                "file:///etc/passwd",
                "file://a.com/etc/passwd",
                "ftp://a.com/",
                "ws://a.com/",
                "wss://a.com/",
                "blob:https://a.com/uuid",
                "httpss://a.com/",
                "http+unix://a.com/",
                "a.com:443",
                "localhost:8080/x",
                "mailto:a@a.com",
            ],
            RedirectError::DisallowedScheme,
        );
    }

    #[test]
    fn rejects_missing_slashes() {
        rejects(
            &[
                "https:evil.com",
                "https:/evil.com",
                "http:a.com",
                "https:a.com/",
                "https:/a.com/",
                "https:?x",
                "https:",
            ],
            RedirectError::MissingSlashes,
        );
    }

    #[test]
    fn rejects_userinfo() {
        rejects(
            &[
                "https://a.com@evil.com",
                "https://user:pw@a.com/",
                "https://@a.com/",
                "https://:@a.com/",
                "https://a.com:443@evil.com/",
                "https://a.com&@evil.com/",
                "https://evil.com@a.com/",
                "https://a.com@a.com/",
            ],
            RedirectError::Userinfo,
        );
    }

    #[test]
    fn rejects_empty_host() {
        rejects(
            &[
                "https://",
                "https:///evil.com",
                "http:///a.com/",
                "http://:80/",
                "https://?x",
                "https://#x",
                "https://:443",
            ],
            RedirectError::EmptyHost,
        );
    }

    #[test]
    fn rejects_percent_encoded_host() {
        rejects(
            &[
                "https://%61.com/",
                "https://a.com%2eevil.com/",
                "https://a.com%2Eevil.com/",
                "https://a.com%40evil.com/",
                "https://a.com%2fevil.com/",
                "https://evil.com%23.a.com/",
                "https://a.com%E3%80%82evil.com/",
                "https://a.com:%34%34%33/",
            ],
            RedirectError::PercentEncodedHost,
        );
    }

    #[test]
    fn rejects_non_ascii_host() {
        rejects(
            &[
                "https://\u{430}.com/",           // Cyrillic а
                "https://a.com\u{ff0e}evil.com/", // fullwidth full stop
                "https://a.com\u{3002}evil.com/", // ideographic full stop
                "https://a\u{ff0e}com/",
                "https://\u{ff41}.com/",          // fullwidth a
                "https://evil.c\u{2100}.a.com/",  // ℀ -> a/c
                "https://a.com\u{ff0f}evil.com/", // fullwidth solidus
                "https://b\u{fc}cher.de/",        // listed in punycode only
                "https://app1.\u{430}.com/",
            ],
            RedirectError::NonAsciiHost,
        );
    }

    #[test]
    fn rejects_unlisted_punycode() {
        rejects(
            &[
                "https://xn--80ak6aa92e.com/",
                "https://xn--80ak6aa92e.a.com/",
                "https://x.xn--80ak6aa92e.a.com/",
                "https://xn--bcher-kva.a.com/",
                "https://XN--80AK6AA92E.a.com/",
            ],
            RedirectError::PunycodeHost,
        );
    }

    #[test]
    fn rejects_trailing_dot() {
        rejects(
            &[
                "https://a.com./",
                "https://app1.a.com.:443/",
                "https://a.com..",
                "https://a.com.?x",
            ],
            RedirectError::TrailingDot,
        );
    }

    #[test]
    fn rejects_invalid_host() {
        rejects(
            &[
                "https://a..com/",
                "https://.a.com/",
                "https://a.com,evil.com/",
                "https://a.com;evil.com/",
                "https://*.a.com/",
                "https://a.com!x/",
                "https://a.com$.evil.com/",
                "https://[evil.com]/",
                "https://[::1/",
                "https://[::1]x/",
                "https://a.com]/",
                "https://evil.com[a.com]/",
                "https://<script>/",
                "https://a.com\"onmouseover=/",
            ],
            RedirectError::InvalidHost,
        );
        let long_label = format!("https://{}.a.com/", "x".repeat(64));
        rejects(&[&long_label], RedirectError::InvalidHost);
    }

    #[test]
    fn rejects_invalid_port() {
        rejects(
            &[
                "https://a.com:/",
                "https://a.com:0/",
                "https://a.com:65536/",
                "https://a.com:99999999999/",
                "https://a.com:08443/",
                "https://a.com:80:80/",
                "https://a.com:-1/",
                "https://a.com:+443/",
                "https://a.com:8a/",
                "https://a.com:443evil.com/",
                "https://[::1]:/",
            ],
            RedirectError::InvalidPort,
        );
    }

    #[test]
    fn rejects_ip_literals() {
        rejects(
            &[
                "http://127.0.0.1/",
                "http://127.0.0.1:8080/",
                "http://[::1]/",
                "http://[::ffff:127.0.0.1]/",
                "http://[::ffff:7f00:1]/",
                "http://2130706433/",
                "http://0x7f.0.0.1/",
                "http://0x7f000001/",
                "http://127.1/",
                "http://0177.0.0.1/",
                "http://1.1.1.1/",
                "http://169.254.169.254/latest/meta-data/",
                "http://0/",
                "http://[0:0:0:0:0:0:0:1]/",
            ],
            RedirectError::IpAddressHost,
        );
    }

    #[test]
    fn rejects_unlisted_hosts() {
        let cases: &[(&str, &str, u16)] = &[
            ("https://a.com.evil.com/", "a.com.evil.com", 443),
            ("https://evila.com/", "evila.com", 443),
            ("https://a.com-evil.com/", "a.com-evil.com", 443),
            ("https://evil.com#@a.com", "evil.com", 443),
            ("https://evil.com?@a.com", "evil.com", 443),
            ("https://evil.com/a.com", "evil.com", 443),
            ("https://evil.com/?rd=https://a.com/", "evil.com", 443),
            ("https://evil.com#https://a.com/", "evil.com", 443),
            ("http://evil.com:443/", "evil.com", 443),
            ("https://a.co/", "a.co", 443),
            ("https://com/", "com", 443),
            ("https://localhost/", "localhost", 443),
            ("http://a.localhost/", "a.localhost", 80),
            ("https://b.com/", "b.com", 443),
            ("https://evil.b.com:8443/", "evil.b.com", 8443),
            ("https://a.com.a.com.evil.com/", "a.com.a.com.evil.com", 443),
            ("https://a-com/", "a-com", 443),
        ];
        let p = policy();
        for (rd, host, port) in cases {
            assert_eq!(p.check(rd), Err(not_allowed(host, *port)), "payload {rd:?}");
        }
    }

    #[test]
    fn rejects_malformed() {
        // Ends in a number -> parsed as IPv4 by WHATWG, which fails.
        rejects(
            &["https://a.com.1/", "https://evil.0x1/"],
            RedirectError::Malformed,
        );
    }

    #[test]
    fn reconcile_refuses_normalisation() {
        let url = Url::parse("https://a.com.evil.com/").unwrap();
        for raw in [
            "a.com%2eevil.com",
            "a.com\u{ff0e}evil.com",
            "a.com.evil.com.",
        ] {
            assert_eq!(
                reconcile(raw, None, &url),
                Err(RedirectError::HostNormalised),
                "{raw}"
            );
        }
        assert_eq!(
            reconcile("A.COM.EVIL.COM", None, &url),
            Ok((Host::Domain("a.com.evil.com".into()), 443))
        );
        let with_port = Url::parse("https://a.com:8443/").unwrap();
        assert_eq!(
            reconcile("a.com", None, &with_port),
            Err(RedirectError::HostNormalised)
        );
        assert_eq!(
            reconcile("a.com", Some(8444), &with_port),
            Err(RedirectError::HostNormalised)
        );
        let ip = Url::parse("http://127.1/").unwrap();
        assert_eq!(
            reconcile("127.1", None, &ip),
            Err(RedirectError::IpAddressHost)
        );
    }

    #[test]
    fn error_messages_do_not_echo_markup() {
        let p = policy();
        for rd in [
            "https://<script>alert(1)</script>/",
            "javascript:alert('<b>')",
            "https://a.com\"><img src=x>",
            "\"><svg onload=alert(1)>",
        ] {
            let msg = p.check(rd).unwrap_err().to_string();
            assert!(!msg.contains('<') && !msg.contains('>'), "{rd:?} -> {msg}");
        }
        let msg = p.check("https://evil.com/").unwrap_err().to_string();
        assert_eq!(
            msg,
            "Redirecting to \"evil.com\" on port 443 is not allowed."
        );
    }

    // ----- patterns -----

    #[track_caller]
    fn pattern_err(entry: &str) -> PatternError {
        match RedirectPolicy::new(&[entry]) {
            Ok(p) => panic!("pattern {entry:?} accepted: {p:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn pattern_valid_forms() {
        let p = RedirectPolicy::new(&[
            "a.com",
            "*.a.com",
            "app.b.com:8443",
            "*.a.localhost",
            "localhost",
            "127.0.0.1",
            "[::1]",
            "[::1]:8443",
            "10.0.0.1:8080",
            "xn--bcher-kva.de",
            "my_host.internal",
        ])
        .unwrap();
        assert_eq!(p.patterns.len(), 11);
        assert_eq!(
            p.patterns[1],
            Pattern {
                host: HostPattern::Subdomains("a.com".into()),
                port: PortRule::Default
            }
        );
        assert_eq!(p.patterns[2].port, PortRule::Exact(8443));
    }

    #[test]
    fn pattern_empty() {
        assert_eq!(pattern_err(""), PatternError::Empty);
    }

    #[test]
    fn pattern_scheme() {
        let e = pattern_err("https://a.com/x");
        assert_eq!(
            e,
            PatternError::HasScheme {
                entry: "https://a.com/x".into(),
                suggestion: "a.com".into()
            }
        );
        assert!(e.to_string().contains("\"a.com\""));
    }

    #[test]
    fn pattern_path() {
        for entry in ["a.com/", "a.com/x", "a.com?x", "a.com#x"] {
            assert_eq!(
                pattern_err(entry),
                PatternError::HasPath {
                    entry: entry.into(),
                    suggestion: "a.com".into()
                }
            );
        }
    }

    #[test]
    fn pattern_userinfo() {
        assert_eq!(
            pattern_err("user@a.com"),
            PatternError::HasUserinfo {
                entry: "user@a.com".into()
            }
        );
    }

    #[test]
    fn pattern_not_ascii() {
        let e = pattern_err("*.bücher.de");
        assert_eq!(
            e,
            PatternError::NotAscii {
                entry: "*.bücher.de".into(),
                suggestion: Some("*.xn--bcher-kva.de".into())
            }
        );
        assert!(e.to_string().contains("punycode"));
        assert!(matches!(
            pattern_err("\u{430}.com"),
            PatternError::NotAscii { .. }
        ));
    }

    #[test]
    fn pattern_invalid_character() {
        for (entry, ch) in [
            (" a.com", ' '),
            ("a.com ", ' '),
            ("a\tcom", '\t'),
            ("a\\com", '\\'),
            ("a.com;b.com", ';'),
            ("a,b.com", ','),
            ("%61.com", '%'),
        ] {
            assert_eq!(
                pattern_err(entry),
                PatternError::InvalidCharacter {
                    entry: entry.into(),
                    ch
                }
            );
        }
    }

    #[test]
    fn pattern_uppercase() {
        assert_eq!(
            pattern_err("App.A.com"),
            PatternError::Uppercase {
                entry: "App.A.com".into(),
                suggestion: "app.a.com".into()
            }
        );
    }

    #[test]
    fn pattern_trailing_dot() {
        assert_eq!(
            pattern_err("a.com."),
            PatternError::TrailingDot {
                entry: "a.com.".into(),
                suggestion: "a.com".into()
            }
        );
        assert_eq!(
            pattern_err("a.com.:8443"),
            PatternError::TrailingDot {
                entry: "a.com.:8443".into(),
                suggestion: "a.com:8443".into()
            }
        );
    }

    #[test]
    fn pattern_empty_label() {
        for entry in [".a.com", "a..com", "*..a.com"] {
            assert_eq!(
                pattern_err(entry),
                PatternError::EmptyLabel {
                    entry: entry.into()
                }
            );
        }
    }

    #[test]
    fn pattern_misplaced_wildcard() {
        let e = pattern_err("*a.com");
        assert_eq!(
            e,
            PatternError::MisplacedWildcard {
                entry: "*a.com".into(),
                suggestion: Some("*.a.com".into())
            }
        );
        assert_eq!(
            e.to_string(),
            "redirect.allowed entry \"*a.com\": a wildcard must be a whole leading label, write \"*.a.com\""
        );
        for entry in [
            "a.*.com",
            "a*.com",
            "*.*.a.com",
            "**.a.com",
            "a.com*",
            "*-x.a.com",
        ] {
            assert!(
                matches!(pattern_err(entry), PatternError::MisplacedWildcard { .. }),
                "{entry}"
            );
        }
    }

    #[test]
    fn pattern_wildcard_over_tld() {
        for entry in ["*.com", "*.localhost", "*", "*.", "*.com:443"] {
            assert_eq!(
                pattern_err(entry),
                PatternError::WildcardOverTld {
                    entry: entry.into()
                },
                "{entry}"
            );
        }
    }

    #[test]
    fn pattern_wildcard_on_ip() {
        for entry in ["*.0.0.1", "*.1.2.3.4", "*.0x7f.1"] {
            assert_eq!(
                pattern_err(entry),
                PatternError::WildcardOnIp {
                    entry: entry.into()
                },
                "{entry}"
            );
        }
    }

    #[test]
    fn pattern_invalid_port() {
        for entry in [
            "a.com:",
            "a.com:0",
            "a.com:65536",
            "a.com:08443",
            "a.com:http",
            "https:a.com",
            "[::1]:",
        ] {
            assert_eq!(
                pattern_err(entry),
                PatternError::InvalidPort {
                    entry: entry.into()
                },
                "{entry}"
            );
        }
    }

    #[test]
    fn pattern_non_canonical_ip() {
        assert_eq!(
            pattern_err("127.1"),
            PatternError::NonCanonicalIp {
                entry: "127.1".into(),
                canonical: "127.0.0.1".into()
            }
        );
        assert_eq!(
            pattern_err("[0:0::1]:8443"),
            PatternError::NonCanonicalIp {
                entry: "[0:0::1]:8443".into(),
                canonical: "[::1]".into()
            }
        );
        assert!(matches!(
            pattern_err("0x7f.0.0.1"),
            PatternError::NonCanonicalIp { .. }
        ));
    }

    #[test]
    fn pattern_invalid_host() {
        for entry in [
            "::1",
            "[::1",
            "[::1]x",
            "a[b].com",
            "[evil.com]",
            ":8443",
            "-a.com",
            "a-.com",
            "a.com.1",
            "a.b.c.d.1",
        ] {
            assert!(
                matches!(pattern_err(entry), PatternError::InvalidHost { .. }),
                "{entry}: {:?}",
                pattern_err(entry)
            );
        }
        let long = format!("{}.com", "x".repeat(64));
        assert!(matches!(
            pattern_err(&long),
            PatternError::InvalidHost { .. }
        ));
    }

    #[test]
    fn first_bad_entry_is_reported() {
        let e = RedirectPolicy::new(&["a.com", "*.com", "b.com/"]).unwrap_err();
        assert_eq!(
            e,
            PatternError::WildcardOverTld {
                entry: "*.com".into()
            }
        );
    }
}
