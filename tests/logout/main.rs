//! Logging out: RP-initiated, back-channel, every replica, every root domain.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
