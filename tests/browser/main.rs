//! End to end in headless Chromium.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
