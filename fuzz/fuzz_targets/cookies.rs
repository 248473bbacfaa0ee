//! `sso_at` chunk joining, the bearer header reader and sealed-cookie opening (`sso_rt`,
//! `sso_login`, generic sealed values) on arbitrary bytes: never a panic, and nothing
//! opens that was not sealed with the key.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sso_core::config::CookieSettings;
use sso_core::cookies::{bearer, join_access, CookieCodec};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // chunks: split the input on NUL into sso_at, sso_at.1, ...
    let parts: Vec<&str> = text.split('\0').collect();
    let (token, present) = join_access(|name| {
        let i = if name == "sso_at" {
            0
        } else {
            name.strip_prefix("sso_at.")?.parse::<usize>().ok()?
        };
        parts.get(i).map(|s| s.to_string())
    });
    assert!(present <= sso_core::cookies::MAX_CHUNKS);
    if let Some(t) = token {
        assert!(!t.secret().is_empty());
    }
    let _ = bearer(Some(text));
    let codec = CookieCodec::new(
        &CookieSettings {
            domain: "a.com".into(),
            secure: true,
            same_site: sso_core::config::SameSite::Lax,
            keys: vec![cookie_key()],
        },
        "/sso",
    );
    assert!(codec.read_refresh(text).is_none(), "forged sso_rt opened");
    assert!(codec.read_login(text).is_empty(), "forged sso_login opened");
    assert!(codec.open::<serde_json::Value>("x", text).is_none());
});

fn cookie_key() -> cookie::Key {
    cookie::Key::from(&[7u8; 64])
}
