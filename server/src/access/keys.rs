//! Board ids and keys: how they are made, how the read key follows from the write key,
//! and how they are stored.
//!
//! * A private board's **id** ends in 128 random bits, so knowing one board's address says
//!   nothing about another's: `sprint-planning-3q2X…` (a readable slug, then the secret).
//! * Its **write key** is 256 random bits. Its **read key** is derived from the write key
//!   (SHA-256 of a label and the write key), so whoever holds the write key can always show
//!   the read-only share link, while the server stores neither: only the hash of each.
//! * Keys are compared by their hashes. They are long random strings, not passwords, so a
//!   fast hash is enough: nothing can be guessed from a stolen hash.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// Both keys of a board, as shown once to whoever created (or rotated) them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyPair {
    pub read: String,
    pub write: String,
}

impl KeyPair {
    /// A fresh write key and the read key that follows from it.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        Self::from_write(&format!("w_{}", URL_SAFE_NO_PAD.encode(bytes)))
    }

    /// The pair a write key belongs to.
    pub fn from_write(write: &str) -> Self {
        let derived = Sha256::new().chain_update(b"board read key\0").chain_update(write.as_bytes()).finalize();
        KeyPair { read: format!("r_{}", URL_SAFE_NO_PAD.encode(derived)), write: write.to_owned() }
    }
}

/// What the database stores for a key.
pub fn hash(key: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(key.as_bytes()))
}

/// `Sprint planning!` → `sprint-planning-<22 random URL-safe characters>`: readable in a
/// URL, unguessable by its 128-bit suffix.
pub fn board_id(name: &str) -> String {
    let mut slug = String::new();
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
        if slug.len() >= 32 {
            break;
        }
    }
    let slug = slug.trim_end_matches('-');
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    let secret = URL_SAFE_NO_PAD.encode(bytes);
    if slug.is_empty() {
        format!("board-{secret}")
    } else {
        format!("{slug}-{secret}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_read_key_follows_from_the_write_key_and_not_back() {
        let pair = KeyPair::generate();
        assert_eq!(KeyPair::from_write(&pair.write), pair);
        assert_ne!(pair.read, pair.write);
        assert_ne!(KeyPair::generate().write, pair.write);
        assert!(pair.write.starts_with("w_") && pair.read.starts_with("r_"));
        assert_eq!(pair.write.len(), 2 + 43);
    }

    #[test]
    fn board_ids_are_readable_and_carry_128_random_bits() {
        let id = board_id("Sprint planning!");
        let secret = id.strip_prefix("sprint-planning-").expect("the slug first");
        assert_eq!(URL_SAFE_NO_PAD.decode(secret).expect("URL-safe base64").len(), 16);
        assert!(board_id("!!!").starts_with("board-"));
        assert_ne!(board_id("x"), board_id("x"));
    }
}
