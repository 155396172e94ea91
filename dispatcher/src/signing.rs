//! Standard Webhooks signatures: pure functions, no I/O.
//!
//! A delivery carries three headers (<https://www.standardwebhooks.com/>):
//! - `webhook-id`: the event id, the same on every retry and redelivery, so receivers can
//!   deduplicate;
//! - `webhook-timestamp`: unix seconds when the attempt was signed;
//! - `webhook-signature`: `v1,<base64 HMAC-SHA256 of "<id>.<timestamp>.<body>">`, one entry per
//!   live secret, separated by spaces: while a rotated secret is in its grace period both the
//!   new and the old one sign, so a receiver verifies with either.
//!
//! The key of a `whsec_` secret is its base64-decoded part; a raw (SuperOffice) secret is used
//! as UTF-8 bytes ([`SigningSecret::key_bytes`]).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use hookledger_domain::secrets::SigningSecret;
use sha2::Sha256;

/// Header names, lowercase as HTTP/2 wants them.
pub const WEBHOOK_ID: &str = "webhook-id";
pub const WEBHOOK_TIMESTAMP: &str = "webhook-timestamp";
pub const WEBHOOK_SIGNATURE: &str = "webhook-signature";

/// The three Standard Webhooks headers of one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureHeaders {
    pub id: String,
    pub timestamp: i64,
    /// Space-separated `v1,<base64>` entries, one per secret.
    pub signature: String,
}

impl SignatureHeaders {
    /// Adds the three headers to a request's `headers`, their values moved in.
    pub fn add_to(self, headers: &mut reqwest::header::HeaderMap) {
        use reqwest::header::HeaderValue;
        let value =
            |s: String| HeaderValue::try_from(s).expect("ids, digits and base64 are header-safe");
        headers.insert(WEBHOOK_ID, value(self.id));
        headers.insert(WEBHOOK_TIMESTAMP, HeaderValue::from(self.timestamp));
        headers.insert(WEBHOOK_SIGNATURE, value(self.signature));
    }
}

/// A secret's HMAC-SHA256 key, with the key's pads already hashed: cloning it is all an
/// attempt pays per secret before hashing the message.
#[derive(Clone)]
pub struct SigningKey(Hmac<Sha256>);

impl SigningKey {
    /// The key of `secret` ([`SigningSecret::key_bytes`]).
    pub fn new(secret: &SigningSecret) -> Self {
        Self::from_bytes(&secret.key_bytes())
    }

    /// The key of raw key bytes.
    pub fn from_bytes(key: &[u8]) -> Self {
        Self(Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts keys of any length"))
    }

    /// One `v1,<base64>` signature of `body` for `id` at `timestamp` (in decimal).
    fn sign(&self, id: &str, timestamp: &str, body: &[u8]) -> String {
        let mut mac = self.0.clone();
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(timestamp.as_bytes());
        mac.update(b".");
        mac.update(body);
        format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
    }
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningKey(***)")
    }
}

/// One `v1,<base64>` signature of `body` under `key`.
pub fn signature(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    SigningKey::from_bytes(key).sign(id, &timestamp.to_string(), body)
}

/// Signs `body` for delivery `id` at `timestamp` with every key, in order (current first).
pub fn sign<'a>(
    id: &str,
    timestamp: i64,
    body: &[u8],
    keys: impl IntoIterator<Item = &'a SigningKey>,
) -> SignatureHeaders {
    let stamp = timestamp.to_string();
    let mut signature = String::new();
    for key in keys {
        if !signature.is_empty() {
            signature.push(' ');
        }
        signature.push_str(&key.sign(id, &stamp, body));
    }
    SignatureHeaders {
        id: id.to_owned(),
        timestamp,
        signature,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example of the Standard Webhooks reference libraries.
    const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const TIMESTAMP: i64 = 1_614_265_330;
    const BODY: &str = r#"{"test": 2432232314}"#;
    const EXPECTED: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    fn secret(s: &str) -> SigningKey {
        SigningKey::new(&SigningSecret::parse_any(s).unwrap())
    }

    fn http_headers(h: &SignatureHeaders) -> reqwest::header::HeaderMap {
        let mut map = reqwest::header::HeaderMap::new();
        h.clone().add_to(&mut map);
        map
    }

    #[test]
    fn the_reference_example_signs_to_the_known_answer() {
        let headers = sign(ID, TIMESTAMP, BODY.as_bytes(), &[secret(SECRET)]);
        assert_eq!(headers.signature, EXPECTED);
        assert_eq!(http_headers(&headers)[WEBHOOK_TIMESTAMP], "1614265330");
    }

    #[test]
    fn the_official_library_verifies_a_fresh_signature() {
        let now = chrono::Utc::now().timestamp();
        let body = br#"{"id":"evt_1","type":"lead.created","data":{"a":1}}"#;
        let headers = sign("evt_1", now, body, &[secret(SECRET)]);
        let verifier = standardwebhooks::Webhook::new(SECRET).unwrap();
        verifier.verify(body, &http_headers(&headers)).unwrap();
        assert!(verifier.verify(b"{}", &http_headers(&headers)).is_err());
    }

    #[test]
    fn during_a_rotation_either_secret_verifies() {
        let old = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let new = "whsec_AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
        let now = chrono::Utc::now().timestamp();
        let body = b"{\"x\":true}";
        let headers = sign("evt_2", now, body, &[secret(new), secret(old)]);
        assert_eq!(headers.signature.split(' ').count(), 2);
        for s in [old, new] {
            let verifier = standardwebhooks::Webhook::new(s).unwrap();
            verifier.verify(body, &http_headers(&headers)).unwrap();
        }
        let stranger = "whsec_c2Vjb25kIHNlY3JldCBvZiBhdCBsZWFzdCAyNCBieXRlcw==";
        let verifier = standardwebhooks::Webhook::new(stranger).unwrap();
        assert!(verifier.verify(body, &http_headers(&headers)).is_err());
    }

    #[test]
    fn a_raw_secret_signs_with_its_utf8_bytes() {
        let raw = secret("my-superoffice-secret");
        let headers = sign(ID, TIMESTAMP, BODY.as_bytes(), std::slice::from_ref(&raw));
        let expected = signature(b"my-superoffice-secret", ID, TIMESTAMP, BODY.as_bytes());
        assert_eq!(headers.signature, expected);
        let verifier =
            standardwebhooks::Webhook::from_bytes(b"my-superoffice-secret".to_vec()).unwrap();
        let fresh = sign(ID, chrono::Utc::now().timestamp(), b"{}", &[raw]);
        verifier.verify(b"{}", &http_headers(&fresh)).unwrap();
    }
}
