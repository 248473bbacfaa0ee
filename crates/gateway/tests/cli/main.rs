//! The binary's command line: `check-config` and refusing to start on bad config.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

const KEY: &str =
    "dGVzdC1rZXktdGVzdC1rZXktdGVzdC1rZXktdGVzdC1rZXktdGVzdC1rZXktdGVzdC1rZXktdGVzdC1rZXktdGVzdA==";

fn write(name: &str, text: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("sso-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn good() -> String {
    format!(
        r#"[server]
public_url = "https://auth.a.com"
[oidc]
issuer = "https://kc.example.com/realms/demo"
client_id = "gw-a"
client_secret = "topsecret-value"
[cookie]
domain = "a.com"
keys = ["{KEY}"]
[redirect]
allowed = ["a.com", "*.a.com"]
[store]
kind = "memory"
"#
    )
}

fn gateway() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sso-gateway"));
    for (k, _) in std::env::vars() {
        if k.starts_with("SSO__") {
            c.env_remove(k);
        }
    }
    c
}

#[test]
fn check_config_accepts_a_good_file() {
    let p = write("good.toml", &good());
    let out = gateway()
        .args(["check-config", "--config"])
        .arg(&p)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("configuration OK"));
    assert!(!stdout.contains("topsecret-value"));
}

#[test]
fn check_config_lists_every_problem_and_exits_non_zero() {
    let bad = good()
        .replace("domain = \"a.com\"", "domain = \"a.com\"\nsecuer = true")
        .replace("*.a.com", "*a.com");
    let p = write("typo.toml", &bad);
    let out = gateway()
        .args(["check-config", "--config"])
        .arg(&p)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("secuer"), "unknown key named: {err}");

    let p = write(
        "bad.toml",
        &good()
            .replace("*.a.com", "*a.com")
            .replace("client_id = \"gw-a\"\n", ""),
    );
    let out = gateway()
        .args(["check-config", "--config"])
        .arg(&p)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("oidc.client_id is missing"), "{err}");
    assert!(err.contains("*.a.com"), "suggests the fix: {err}");
}

#[test]
fn env_overrides_and_secret_files() {
    let secret = write("secret", "from-a-file\n");
    let text = good().replace(
        "client_secret = \"topsecret-value\"",
        &format!("client_secret_file = {secret:?}"),
    );
    let p = write("env.toml", &text);
    let out = gateway()
        .args(["check-config", "--config"])
        .arg(&p)
        .env("SSO__OIDC__CLIENT_ID", "gw-from-env")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("gw-from-env"));
    let out = gateway()
        .args(["check-config", "--config"])
        .arg(&p)
        .env("SSO__OIDC__CLIENTID", "typo")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("clientid"));
}

#[test]
fn missing_config_file_is_a_clear_error() {
    let out = gateway()
        .args(["check-config", "--config", "/nonexistent/x.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not exist"));
}

#[test]
fn sessions_list_and_revoke_from_the_command_line() {
    let p = write("mem.toml", &good());
    let out = gateway()
        .args(["sessions", "list", "--sub", "alice", "--config"])
        .arg(&p)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["sessions"], serde_json::json!([]));
    let out = gateway()
        .args(["sessions", "revoke", "--sub", "alice", "--config"])
        .arg(&p)
        .output()
        .unwrap();
    assert!(out.status.success());
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["ended"], 0);
}
