//! Staying signed in: forward-auth, refresh, CORS, big tokens, resource servers, nginx.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
