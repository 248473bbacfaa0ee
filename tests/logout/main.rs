//! Logging out: RP-initiated, back-channel, every replica, every root domain.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod admin;
mod backchannel;
mod chaos;
mod fanout;
mod faults;
mod federation;
mod lease;
mod replicas;
mod rp;

pub use sso_integration_tests::world::{
    eventually, forward_auth as auth, forward_auth_with_cookies as auth_with_cookies, session_keys,
};
