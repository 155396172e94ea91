//! Credentials: webhook signing secrets, the master key that seals them, and API keys.
//!
//! The ledger is kept forever, so a leaked log must not leak credentials:
//! - a webhook's [`SigningSecret`] enters an event only as a [`SealedSecret`], encrypted with
//!   ChaCha20-Poly1305 under the operator's [`MasterKey`] (config `secrets.master_key`) and bound
//!   to its owner by the associated data `"<tenant>/<webhookId>"`, so a sealed secret copied onto
//!   another webhook does not open;
//! - an API key enters the ledger only as the hex SHA-256 of the key and a short display prefix.
//!
//! `SigningSecret` deliberately implements neither `Serialize` nor `Deserialize`, and every type
//! holding key material redacts itself in `Debug`, so a secret cannot reach a log by accident.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::validation::{FieldError, Rule};

/// Decodes base64 with or without padding (`whsec_` keys are written both ways in the wild).
const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// What went wrong with a secret or a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// A `whsec_` secret whose rest is not base64 of a 24 to 64 byte key.
    #[error("a whsec_ secret must be `whsec_` followed by base64 of 24 to 64 bytes")]
    InvalidWhsec,
    /// A raw (non-`whsec_`) secret that is empty or longer than 256 characters.
    #[error("a secret must have 1 to 256 characters")]
    InvalidRaw,
    /// A master key that is not base64 of exactly 32 bytes, or has an empty key id.
    #[error("a master key needs a key id and base64 of exactly 32 bytes")]
    InvalidMasterKey,
    /// The sealed secret names a key the keyring does not hold.
    #[error("no master key with id `{0}` in the keyring")]
    UnknownKeyId(String),
    /// The envelope is malformed, was tampered with, or belongs to another owner.
    #[error("the sealed secret does not open with this key and owner")]
    OpenFailed,
}

impl SecretError {
    /// The error as a field error of an input, for secrets given by API callers.
    pub fn to_field_error(&self, field: &str) -> FieldError {
        let rule = match self {
            SecretError::InvalidRaw => Rule::InvalidFormat {
                expected: "a secret of 1 to 256 characters".into(),
            },
            _ => Rule::InvalidFormat {
                expected: "`whsec_` followed by base64 of a 24 to 64 byte key".into(),
            },
        };
        FieldError::new(field, rule)
    }
}

/// The key a webhook's deliveries are signed with (Standard Webhooks HMAC-SHA256).
#[derive(Clone, PartialEq, Eq)]
pub enum SigningSecret {
    /// `whsec_<base64>`: the key is the decoded base64 (24 to 64 bytes). Kept as written.
    Whsec(String),
    /// A caller's own secret that is not `whsec_` (SuperOffice): its UTF-8 bytes are the key.
    Raw(String),
}

impl SigningSecret {
    const WHSEC: &'static str = "whsec_";

    /// Parses a `whsec_` secret.
    pub fn parse_whsec(s: &str) -> Result<Self, SecretError> {
        let b64 = s
            .strip_prefix(Self::WHSEC)
            .ok_or(SecretError::InvalidWhsec)?;
        match LENIENT.decode(b64) {
            Ok(key) if (24..=64).contains(&key.len()) => Ok(Self::Whsec(s.to_owned())),
            _ => Err(SecretError::InvalidWhsec),
        }
    }

    /// Parses a `whsec_` secret when `s` starts with `whsec_`, otherwise a raw secret of 1 to 256
    /// characters.
    pub fn parse_any(s: &str) -> Result<Self, SecretError> {
        if s.starts_with(Self::WHSEC) {
            Self::parse_whsec(s)
        } else if (1..=256).contains(&s.chars().count()) {
            Ok(Self::Raw(s.to_owned()))
        } else {
            Err(SecretError::InvalidRaw)
        }
    }

    /// A new `whsec_` secret of 32 random bytes.
    ///
    /// # Panics
    /// If the operating system's random source fails, which ring treats as unrecoverable.
    pub fn generate(rng: &dyn SecureRandom) -> Self {
        Self::Whsec(format!(
            "{}{}",
            Self::WHSEC,
            STANDARD.encode(random::<32>(rng))
        ))
    }

    /// The HMAC key: the decoded `whsec_` key, or the raw secret's UTF-8 bytes.
    pub fn key_bytes(&self) -> Vec<u8> {
        match self {
            Self::Whsec(s) => LENIENT
                .decode(&s[Self::WHSEC.len()..])
                .expect("a Whsec secret is validated when constructed"),
            Self::Raw(s) => s.as_bytes().to_vec(),
        }
    }

    /// The secret as the user gives and sees it (`whsec_…` or the raw text).
    pub fn expose(&self) -> &str {
        match self {
            Self::Whsec(s) | Self::Raw(s) => s,
        }
    }
}

impl fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SigningSecret(***)")
    }
}

fn random<const N: usize>(rng: &dyn SecureRandom) -> [u8; N] {
    let mut bytes = [0u8; N];
    rng.fill(&mut bytes)
        .expect("the operating system's random source failed");
    bytes
}

/// The operator's 256-bit key that seals signing secrets, named by a key id (`kid`) so keys can
/// be rotated: new secrets are sealed with the current key, old ones still open with theirs.
#[derive(Clone)]
pub struct MasterKey {
    kid: String,
    key: [u8; 32],
}

impl MasterKey {
    /// A key from its id and 32 raw bytes.
    pub fn new(kid: impl Into<String>, key: [u8; 32]) -> Result<Self, SecretError> {
        let kid = kid.into();
        if kid.is_empty() {
            return Err(SecretError::InvalidMasterKey);
        }
        Ok(Self { kid, key })
    }

    /// A key from its id and standard base64 of exactly 32 bytes (as written in config).
    pub fn from_base64(kid: impl Into<String>, b64: &str) -> Result<Self, SecretError> {
        let bytes = LENIENT
            .decode(b64.trim())
            .map_err(|_| SecretError::InvalidMasterKey)?;
        let key: [u8; 32] = bytes
            .try_into()
            .map_err(|_| SecretError::InvalidMasterKey)?;
        Self::new(kid, key)
    }

    /// The key id written into every envelope this key seals.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    fn aead(&self) -> LessSafeKey {
        let key = UnboundKey::new(&CHACHA20_POLY1305, &self.key)
            .expect("a 32-byte key is a valid ChaCha20-Poly1305 key");
        LessSafeKey::new(key)
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MasterKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// A signing secret as it is stored in events: which key sealed it, the nonce and the
/// ciphertext (with the Poly1305 tag), both standard base64.
#[derive(Serialize, Deserialize, Clone, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct SealedSecret {
    /// The id of the master key that sealed it.
    pub kid: String,
    /// The 96-bit nonce, base64.
    pub nonce: String,
    /// The encrypted secret followed by the authentication tag, base64.
    pub ciphertext: String,
}

impl fmt::Debug for SealedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealedSecret")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// The plaintext's first byte tells which kind of secret it was.
const TAG_WHSEC: u8 = b'w';
const TAG_RAW: u8 = b'r';

/// The current master key plus older ones that may still have sealed secrets in the ledger.
#[derive(Clone, Debug)]
pub struct Keyring {
    /// Seals new secrets.
    pub current: MasterKey,
    /// Only open secrets sealed before a key rotation.
    pub others: Vec<MasterKey>,
}

impl Keyring {
    /// A keyring that seals with `current`.
    pub fn new(current: MasterKey, others: Vec<MasterKey>) -> Self {
        Self { current, others }
    }

    /// A fixed, publicly known key (`kid` `"test"`). **For tests only**: anything it seals is
    /// readable by anyone. Compiled always so integration tests in other crates can use it.
    pub fn for_tests() -> Self {
        Self::new(
            MasterKey::new("test", [7u8; 32]).expect("the test key id is not empty"),
            Vec::new(),
        )
    }

    /// Seals `secret` for its owner `aad` (`"<tenant>/<webhookId>"`) with a random nonce.
    ///
    /// # Panics
    /// If the operating system's random source fails.
    pub fn seal(&self, secret: &SigningSecret, aad: &str) -> SealedSecret {
        let nonce = random::<NONCE_LEN>(&SystemRandom::new());
        let tag = match secret {
            SigningSecret::Whsec(_) => TAG_WHSEC,
            SigningSecret::Raw(_) => TAG_RAW,
        };
        let mut in_out = Vec::with_capacity(1 + secret.expose().len() + 16);
        in_out.push(tag);
        in_out.extend_from_slice(secret.expose().as_bytes());
        self.current
            .aead()
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad.as_bytes()),
                &mut in_out,
            )
            .expect("a secret of at most a few hundred bytes fits ChaCha20-Poly1305");
        SealedSecret {
            kid: self.current.kid.clone(),
            nonce: STANDARD.encode(nonce),
            ciphertext: STANDARD.encode(in_out),
        }
    }

    /// Opens a sealed secret with the key it names, for the owner `aad` it was sealed for.
    pub fn open(&self, sealed: &SealedSecret, aad: &str) -> Result<SigningSecret, SecretError> {
        let key = std::iter::once(&self.current)
            .chain(&self.others)
            .find(|k| k.kid == sealed.kid)
            .ok_or_else(|| SecretError::UnknownKeyId(sealed.kid.clone()))?;
        let nonce = STANDARD
            .decode(&sealed.nonce)
            .ok()
            .and_then(|n| Nonce::try_assume_unique_for_key(&n).ok())
            .ok_or(SecretError::OpenFailed)?;
        let mut in_out = STANDARD
            .decode(&sealed.ciphertext)
            .map_err(|_| SecretError::OpenFailed)?;
        let plain = key
            .aead()
            .open_in_place(nonce, Aad::from(aad.as_bytes()), &mut in_out)
            .map_err(|_| SecretError::OpenFailed)?;
        let (tag, text) = plain.split_first().ok_or(SecretError::OpenFailed)?;
        let text = std::str::from_utf8(text).map_err(|_| SecretError::OpenFailed)?;
        match *tag {
            TAG_WHSEC => Ok(SigningSecret::Whsec(text.to_owned())),
            TAG_RAW => Ok(SigningSecret::Raw(text.to_owned())),
            _ => Err(SecretError::OpenFailed),
        }
    }
}

/// A freshly generated API key. `plaintext` is shown to the operator once and then dropped;
/// only `hash` and `prefix` are stored.
#[derive(Clone)]
pub struct NewApiKey {
    /// `hk_` followed by 43 base62 characters.
    pub plaintext: String,
    /// Lowercase hex SHA-256 of `plaintext`: what authentication looks up.
    pub hash: String,
    /// The first 8 characters of `plaintext`, to tell keys apart in listings.
    pub prefix: String,
}

impl fmt::Debug for NewApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewApiKey")
            .field("prefix", &self.prefix)
            .field("hash", &self.hash)
            .finish_non_exhaustive()
    }
}

const API_KEY_PREFIX: &str = "hk_";
const API_KEY_CHARS: usize = 43;
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A new API key: `hk_` + 43 base62 characters (43 · log2 62 ≈ 256 bits).
///
/// Each character comes from one random byte below 248 (= 4 · 62), reduced modulo 62; bytes
/// of 248 and above are thrown away, so every character is exactly uniform.
///
/// # Panics
/// If the operating system's random source fails.
pub fn generate_api_key() -> NewApiKey {
    let rng = SystemRandom::new();
    let mut plaintext = String::with_capacity(API_KEY_PREFIX.len() + API_KEY_CHARS);
    plaintext.push_str(API_KEY_PREFIX);
    let mut count = 0;
    while count < API_KEY_CHARS {
        for byte in random::<64>(&rng) {
            if byte < 248 && count < API_KEY_CHARS {
                plaintext.push(char::from(BASE62[usize::from(byte % 62)]));
                count += 1;
            }
        }
    }
    let hash = hash_api_key(&plaintext);
    let prefix = plaintext[..8].to_owned();
    NewApiKey {
        plaintext,
        hash,
        prefix,
    }
}

/// The stored form of an API key: lowercase hex SHA-256. A 256-bit random key needs no salt or
/// slow hash; the hash only keeps the plaintext out of the ledger and the database.
pub fn hash_api_key(plaintext: &str) -> String {
    hex::encode(Sha256::digest(plaintext.as_bytes()))
}

/// True for `hk_` followed by exactly 43 ASCII letters and digits (a cheap check before lookup).
pub fn looks_like_api_key(s: &str) -> bool {
    s.strip_prefix(API_KEY_PREFIX).is_some_and(|rest| {
        rest.len() == API_KEY_CHARS && rest.bytes().all(|b| b.is_ascii_alphanumeric())
    })
}

#[cfg(test)]
mod tests;
