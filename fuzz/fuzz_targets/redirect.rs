//! Redirect validation (`rd`) on arbitrary text: never a panic; what passes is an http(s)
//! URL on an allowed host, and re-checking the normalised URL gives the same answer.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sso_core::redirect::RedirectPolicy;

fuzz_target!(|data: &[u8]| {
    let Ok(rd) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(policy) = RedirectPolicy::new(&["a.com", "*.a.com", "app.b.com:8443", "127.0.0.1:*"])
    else {
        return;
    };
    if let Ok(url) = policy.check(rd) {
        assert!(matches!(url.scheme(), "http" | "https"), "{rd:?}");
        assert!(
            url.username().is_empty() && url.password().is_none(),
            "{rd:?}"
        );
        let host = url.host_str().unwrap_or_default().to_string();
        assert!(
            host == "a.com"
                || host.ends_with(".a.com")
                || host == "app.b.com"
                || host == "127.0.0.1",
            "{rd:?} -> {host}"
        );
        assert!(
            policy.check(url.as_str()).is_ok(),
            "normalised form refused: {url}"
        );
    }
    // allow-list entries on arbitrary text: an error, never a panic
    let _ = RedirectPolicy::new(&[rd]);
});
