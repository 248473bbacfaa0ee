//! Test harness: real `redis-server` and the real test OP (`tests/op`, oidc-provider) on free
//! loopback ports, gateways in-process on pre-bound listeners, and a small browser-like
//! HTTP client with its own cookie jar. Every process is stopped in `Drop`, panics included.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod browser;
pub mod chrome;
pub mod hostile_op;
pub mod keycloak;
pub mod procs;
pub mod relay;
pub mod spring;
pub mod world;

pub use browser::Browser;
pub use procs::{Op, OpOptions, Redis, RedisCluster, RedisSentinel};
pub use relay::Relay;
pub use world::{GatewayHandle, GatewayOptions};

/// Workspace root (where Cargo.toml lives).
pub fn root() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}
