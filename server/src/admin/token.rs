//! `ADMIN_TOKEN`, kept as its SHA-256 digest: a presented token is compared digest to
//! digest, so the time a comparison takes says nothing about the token. The digest also
//! keys the console's sign-in cookies (`session`), so every replica that shares the token
//! accepts a cookie any of them issued, and changing the token signs everyone out.

use hmac::KeyInit;
use sha2::{Digest, Sha256};

/// The digest of `ADMIN_TOKEN`, kept instead of the token.
#[derive(Clone)]
pub struct Token([u8; 32]);

impl Token {
    pub fn new(token: &str) -> Token {
        Token(Sha256::digest(token.as_bytes()).into())
    }

    pub fn opens(&self, presented: &str) -> bool {
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        digest == self.0
    }

    /// An HMAC-SHA256 of `message` keyed by the token's digest.
    pub fn mac(&self) -> hmac::Hmac<Sha256> {
        hmac::Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key")
    }
}
