//! Webhooks' signing keys, opened once rather than on every attempt.
//!
//! A webhook's secret lives in its events sealed ([`SealedSecret`]: AES-GCM under the operator's
//! master key, bound to `<tenant>/<webhook>`). Opening it (base64, AES-GCM, the `whsec_` decode)
//! and keying HMAC with it cost more than signing a small body, and nothing about the result
//! changes between attempts: the same sealed value under the same binding always opens to the
//! same key, and the keyring does not change while the process runs. So the opened key is kept,
//! looked up by its ciphertext and used only when the master key id, the nonce and the binding
//! match too (a sealed value copied under another webhook still fails to open there).
//!
//! Rotating a secret seals a new value, which opens once; the old one stays until the cache is
//! full ([`Keys::MAX`] entries, then it starts over empty).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use hookledger_domain::secrets::{Keyring, SealedSecret, SecretError};

use crate::signing::SigningKey;

/// Opened signing keys, by sealed value.
pub(crate) struct Keys {
    keyring: Arc<Keyring>,
    opened: Mutex<HashMap<String, Opened>>,
}

struct Opened {
    kid: String,
    nonce: String,
    aad: String,
    key: Arc<SigningKey>,
}

impl Keys {
    /// Keys kept at most: a few MiB, more webhooks than one process delivers to at once.
    pub(crate) const MAX: usize = 50_000;

    pub(crate) fn new(keyring: Arc<Keyring>) -> Self {
        Self {
            keyring,
            opened: Mutex::new(HashMap::new()),
        }
    }

    /// The key of `sealed`, bound to `aad`: from the cache, or opened now.
    pub(crate) fn key(
        &self,
        sealed: &SealedSecret,
        aad: &str,
    ) -> Result<Arc<SigningKey>, SecretError> {
        if let Some(kept) = self
            .opened
            .lock()
            .expect("keys lock")
            .get(&sealed.ciphertext)
            && kept.kid == sealed.kid
            && kept.nonce == sealed.nonce
            && kept.aad == aad
        {
            return Ok(kept.key.clone());
        }
        let key = Arc::new(SigningKey::new(&self.keyring.open(sealed, aad)?));
        let mut opened = self.opened.lock().expect("keys lock");
        if opened.len() >= Self::MAX {
            opened.clear();
        }
        opened.insert(
            sealed.ciphertext.clone(),
            Opened {
                kid: sealed.kid.clone(),
                nonce: sealed.nonce.clone(),
                aad: aad.to_owned(),
                key: key.clone(),
            },
        );
        Ok(key)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.opened.lock().expect("keys lock").len()
    }
}

#[cfg(test)]
mod tests {
    use hookledger_domain::secrets::{MasterKey, SigningSecret};

    use super::*;
    use crate::signing::sign;

    fn keys() -> Keys {
        let master = MasterKey::new("k1", [7; 32]).unwrap();
        Keys::new(Arc::new(Keyring::new(master, vec![])))
    }

    const WHSEC: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    /// `secret` sealed for `aad`, opened once through the cache.
    fn opened(keys: &Keys, secret: &SigningSecret, aad: &str) -> (SealedSecret, Arc<SigningKey>) {
        let sealed = keys.keyring.seal(secret, aad);
        let key = keys.key(&sealed, aad).unwrap();
        (sealed, key)
    }

    #[test]
    fn a_key_opens_once_and_signs_as_its_secret() {
        let keys = keys();
        let secret = SigningSecret::parse_any(WHSEC).unwrap();
        let (sealed, first) = opened(&keys, &secret, "t/wh_1");
        let again = keys.key(&sealed, "t/wh_1").unwrap();
        assert!(
            Arc::ptr_eq(&first, &again),
            "the second use is the kept key"
        );
        assert_eq!(keys.len(), 1);
        let expected = sign("evt", 1, b"{}", [&SigningKey::new(&secret)]);
        assert_eq!(sign("evt", 1, b"{}", [&*again]), expected);
    }

    #[test]
    fn a_kept_key_is_not_handed_out_under_another_binding() {
        let keys = keys();
        let secret = SigningSecret::parse_any(WHSEC).unwrap();
        let (sealed, _) = opened(&keys, &secret, "t/wh_1");
        assert!(
            keys.key(&sealed, "t/wh_2").is_err(),
            "the AEAD binding still decides"
        );
        let mut other_nonce = sealed.clone();
        other_nonce.nonce = keys.keyring.seal(&secret, "t/wh_1").nonce;
        assert!(keys.key(&other_nonce, "t/wh_1").is_err());
    }

    #[test]
    fn a_full_cache_starts_over() {
        let keys = keys();
        let secret = SigningSecret::parse_any("raw-secret").unwrap();
        let (sealed, _) = opened(&keys, &secret, "t/wh_0");
        {
            // Filled up without paying for MAX seals.
            let mut opened = keys.opened.lock().unwrap();
            for i in opened.len()..Keys::MAX {
                let key = Arc::new(SigningKey::from_bytes(b"x"));
                let (kid, nonce, aad) = (String::new(), String::new(), format!("t/f_{i}"));
                opened.insert(
                    format!("filler {i}"),
                    Opened {
                        kid,
                        nonce,
                        aad,
                        key,
                    },
                );
            }
        }
        assert_eq!(keys.len(), Keys::MAX);
        keys.key(&sealed, "t/wh_0").unwrap();
        assert_eq!(keys.len(), Keys::MAX, "a kept key is used, nothing added");
        opened(&keys, &secret, "t/wh_1");
        assert_eq!(keys.len(), 1, "full: emptied, then the new key kept");
    }
}
