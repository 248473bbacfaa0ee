//! Secret newtypes. Their `Debug` never shows the value; reading it takes an explicit
//! `.secret()` call, so a token cannot reach a log line by accident.

use serde::{Deserialize, Serialize};

macro_rules! secret_type {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn new(value: impl Into<String>) -> Self {
                Self(value.into())
            }
            /// The secret value. Call sites are the places to audit.
            pub fn secret(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, concat!(stringify!($name), "([redacted])"))
            }
        }
    };
}

secret_type!(
    /// The OIDC client secret shared with the OP.
    ClientSecret
);
secret_type!(
    /// A server-side session id (the key of `sso:sess:{id}`).
    SessionId
);
secret_type!(
    /// An OAuth 2.0 access token (a JWT at Keycloak).
    AccessToken
);
secret_type!(
    /// An OAuth 2.0 refresh token. Never leaves the gateway and the store.
    RefreshToken
);
secret_type!(
    /// A raw (compact-serialised) ID token.
    IdToken
);
secret_type!(
    /// A bearer token for the admin API.
    AdminToken
);
secret_type!(
    /// A key written in the configuration (a `cookie.keys` entry, a federation key), as
    /// written: base64 of the key bytes.
    ConfigKey
);

impl SessionId {
    /// 256 bits from the OS CSPRNG, base64url.
    pub fn generate() -> Self {
        Self(crate::util::random_token(32))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let s = ClientSecret::new("hunter2");
        let t = RefreshToken::new("eyJhbGciOi.secret.part");
        let out = format!("{s:?} {t:?} {:?}", SessionId::new("abc"));
        assert!(!out.contains("hunter2"));
        assert!(!out.contains("secret.part"));
        assert!(!out.contains("abc"));
        assert!(out.contains("ClientSecret([redacted])"));
    }
}
