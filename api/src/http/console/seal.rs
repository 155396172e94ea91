//! Signed tokens: `base64url(json) "." base64url(HMAC-SHA256(key, json))`.
//!
//! Sessions, CSRF tokens and console links all use it, each with its own key derived from the
//! configured master key (`secrets.master_key`) and a purpose label, so a token minted for one
//! purpose never verifies for another, and rotating the master key signs everyone out. The
//! payload is readable (base64), never secret: it holds ids and an expiry, no credential.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::Sha256;

use crate::Config;

/// A key for one purpose (`session`, `csrf`, `link`).
#[derive(Clone)]
pub(crate) struct SealKey([u8; 32]);

impl SealKey {
    /// HMAC-SHA256(master key, "hookledger/console/<purpose>/v1").
    pub(crate) fn derive(config: &Config, purpose: &str) -> Self {
        let mut mac = Hmac::<Sha256>::new_from_slice(config.secrets.master_key.as_bytes())
            .expect("HMAC accepts keys of any length");
        mac.update(format!("hookledger/console/{purpose}/v1").as_bytes());
        Self(mac.finalize().into_bytes().into())
    }

    fn mac(&self) -> Hmac<Sha256> {
        Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC accepts keys of any length")
    }

    /// The raw MAC of `data`, base64url.
    pub(crate) fn tag(&self, data: &[u8]) -> String {
        let mut mac = self.mac();
        mac.update(data);
        URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
    }

    /// True when `tag` is the MAC of `data` (constant-time comparison).
    pub(crate) fn check(&self, data: &[u8], tag: &str) -> bool {
        let Ok(raw) = URL_SAFE_NO_PAD.decode(tag) else {
            return false;
        };
        let mut mac = self.mac();
        mac.update(data);
        mac.verify_slice(&raw).is_ok()
    }

    pub(crate) fn seal<T: Serialize>(&self, value: &T) -> String {
        let json = serde_json::to_vec(value).expect("token payloads serialize");
        let body = URL_SAFE_NO_PAD.encode(&json);
        let tag = self.tag(body.as_bytes());
        format!("{body}.{tag}")
    }

    /// The payload of a token this key signed; `None` for anything else.
    pub(crate) fn open<T: DeserializeOwned>(&self, token: &str) -> Option<T> {
        let (body, tag) = token.trim().split_once('.')?;
        if !self.check(body.as_bytes(), tag) {
            return None;
        }
        let json = URL_SAFE_NO_PAD.decode(body).ok()?;
        serde_json::from_slice(&json).ok()
    }
}

/// 128 random bits, base64url (session and link ids).
pub(crate) fn random_id() -> String {
    use ring::rand::SecureRandom as _;
    let mut bytes = [0u8; 16];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .expect("the system random source works");
    URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(purpose: &str) -> SealKey {
        let mut mac = Hmac::<Sha256>::new_from_slice(b"test master key").unwrap();
        mac.update(purpose.as_bytes());
        SealKey(mac.finalize().into_bytes().into())
    }

    #[test]
    fn a_sealed_value_opens_with_its_key_only() {
        let token = key("a").seal(&("acme", 42));
        assert_eq!(
            key("a").open::<(String, i32)>(&token),
            Some(("acme".into(), 42))
        );
        assert_eq!(key("b").open::<(String, i32)>(&token), None);
    }

    #[test]
    fn a_changed_payload_does_not_open() {
        let token = key("a").seal(&("acme", 42));
        let (_, tag) = token.split_once('.').unwrap();
        let forged = format!("{}.{tag}", URL_SAFE_NO_PAD.encode(br#"["other",42]"#));
        assert_eq!(key("a").open::<(String, i32)>(&forged), None);
    }
}
