//! Config parsing and validation on arbitrary TOML text: a list of problems, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = sso_core::config::Settings::from_toml(text);
    }
});
