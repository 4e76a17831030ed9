//! Short-lived TURN credentials, so that `GET /api/ice-servers` hands out no standing
//! password. A TURN server relays a browser's media (here, the cursor mesh's data channels)
//! when peer to peer fails, at its operator's cost: a static username and password in the
//! page would let anyone who opened it relay anything through that server for ever.
//!
//! The convention is the "TURN REST API" (draft-uberti-behave-turn-rest, coturn's
//! `use-auth-secret`): this server and the TURN server share `TURN_SECRET`; a credential is
//! the username `<expiry as Unix seconds>:<random>` and the password
//! `base64(HMAC-SHA1(secret, username))`, which the TURN server checks, and refuses once the
//! expiry has passed (`TURN_TTL`, an hour by default).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{KeyInit, Mac};
use rand::RngCore;
use serde_json::{json, Value};

/// A TURN server this server makes credentials for.
#[derive(Clone, Debug)]
pub struct Turn {
    /// Its `turn:`/`turns:` URLs.
    pub urls: Vec<String>,
    secret: String,
    /// How long a credential works, in seconds.
    ttl: u64,
}

impl Turn {
    pub fn new(urls: Vec<String>, secret: String, ttl: u64) -> Turn {
        Turn { urls, secret, ttl: ttl.max(60) }
    }

    /// The `RTCIceServer` for a browser now (`now`: Unix seconds): the URLs, a username
    /// that says when it expires, and the password the TURN server will check.
    pub fn credentials(&self, now: u64) -> Value {
        let mut random = [0u8; 9];
        rand::rng().fill_bytes(&mut random);
        let username =
            format!("{}:{}", now + self.ttl, base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random));
        json!({ "urls": self.urls, "username": username, "credential": password(&self.secret, &username) })
    }
}

/// `base64(HMAC-SHA1(secret, username))`: what the TURN server computes to check it.
pub fn password(secret: &str, username: &str) -> String {
    let mut mac = hmac::Hmac::<sha1::Sha1>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(username.as_bytes());
    STANDARD.encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 2202's first HMAC-SHA1 test case: the same digest a TURN server computes.
    #[test]
    fn the_password_is_hmac_sha1_as_turn_servers_check_it() {
        // key = 0x0b x 20, data = "Hi There" -> b617318655057264e28bc0b6fb378c8ef146be00
        let secret = String::from_utf8(vec![0x0b; 20]).unwrap();
        let digest = STANDARD.decode(password(&secret, "Hi There")).unwrap();
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "b617318655057264e28bc0b6fb378c8ef146be00");
    }

    #[test]
    fn a_credential_expires_and_checks_out() {
        let turn = Turn::new(vec!["turn:turn.example.org:3478".into()], "s3cret".into(), 3600);
        let server = turn.credentials(1_000_000);
        let username = server["username"].as_str().unwrap();
        let (expiry, _) = username.split_once(':').unwrap();
        assert_eq!(expiry, "1003600");
        assert_eq!(server["credential"].as_str().unwrap(), password("s3cret", username));
        assert_ne!(turn.credentials(1_000_000)["username"], server["username"], "a new one each time");
    }
}
