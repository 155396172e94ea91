//! Tests of sealing, opening, secret parsing and API key generation.

use super::*;

const AAD: &str = "acme/wh_0190f1d2c3b4a5968778695a4b3c2d1e";

#[test]
fn a_sealed_secret_opens_to_the_same_secret_of_the_same_kind() {
    let keyring = Keyring::for_tests();
    for secret in [
        SigningSecret::generate(&SystemRandom::new()),
        SigningSecret::parse_any("my-superoffice-secret").unwrap(),
    ] {
        let sealed = keyring.seal(&secret, AAD);
        assert_eq!(keyring.open(&sealed, AAD), Ok(secret));
    }
}

#[test]
fn a_sealed_secret_does_not_open_for_another_owner_or_when_tampered() {
    let keyring = Keyring::for_tests();
    let sealed = keyring.seal(&SigningSecret::Raw("s3cret".into()), AAD);
    assert_eq!(
        keyring.open(&sealed, "acme/wh_other"),
        Err(SecretError::OpenFailed)
    );
    let mut bytes = STANDARD.decode(&sealed.ciphertext).unwrap();
    bytes[0] ^= 1;
    let tampered = SealedSecret {
        ciphertext: STANDARD.encode(bytes),
        ..sealed.clone()
    };
    assert_eq!(keyring.open(&tampered, AAD), Err(SecretError::OpenFailed));
    let unknown = SealedSecret {
        kid: "2019".into(),
        ..sealed
    };
    assert_eq!(
        keyring.open(&unknown, AAD),
        Err(SecretError::UnknownKeyId("2019".into()))
    );
}

#[test]
fn secrets_sealed_before_a_key_rotation_still_open() {
    let old = Keyring::for_tests();
    let sealed = old.seal(&SigningSecret::Raw("s3cret".into()), AAD);
    let new_key = MasterKey::new("2025", [9u8; 32]).unwrap();
    let rotated = Keyring::new(new_key, vec![old.current.clone()]);
    assert_eq!(rotated.open(&sealed, AAD).unwrap().expose(), "s3cret");
    assert_eq!(
        rotated.seal(&SigningSecret::Raw("x".into()), AAD).kid,
        "2025"
    );
}

#[test]
fn the_sealed_json_does_not_contain_the_secret_and_debug_redacts() {
    let secret = SigningSecret::generate(&SystemRandom::new());
    let sealed = Keyring::for_tests().seal(&secret, AAD);
    let json = serde_json::to_string(&sealed).unwrap();
    let key_b64 = &secret.expose()["whsec_".len()..];
    assert!(!json.contains(key_b64), "{json}");
    assert!(json.contains(r#""kid":"test""#) && json.contains(r#""ciphertext":"#));
    assert_eq!(format!("{secret:?}"), "SigningSecret(***)");
    assert!(!format!("{sealed:?}").contains(&sealed.ciphertext));
    assert!(!format!("{:?}", Keyring::for_tests()).contains("7, 7"));
}

#[test]
fn whsec_secrets_need_a_24_to_64_byte_base64_key() {
    let generated = SigningSecret::generate(&SystemRandom::new());
    assert!(generated.expose().starts_with("whsec_"));
    assert_eq!(generated.key_bytes().len(), 32);
    let svix_style = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    assert_eq!(
        SigningSecret::parse_whsec(svix_style)
            .unwrap()
            .key_bytes()
            .len(),
        24
    );
    let short = format!("whsec_{}", STANDARD.encode([1u8; 16]));
    assert_eq!(
        SigningSecret::parse_any(&short),
        Err(SecretError::InvalidWhsec)
    );
    assert_eq!(
        SigningSecret::parse_any("whsec_!!"),
        Err(SecretError::InvalidWhsec)
    );
    assert_eq!(
        SigningSecret::parse_whsec("raw"),
        Err(SecretError::InvalidWhsec)
    );
}

#[test]
fn raw_secrets_are_used_as_utf8_bytes() {
    let raw = SigningSecret::parse_any("pässword").unwrap();
    assert_eq!(raw, SigningSecret::Raw("pässword".into()));
    assert_eq!(raw.key_bytes(), "pässword".as_bytes());
    assert_eq!(SigningSecret::parse_any(""), Err(SecretError::InvalidRaw));
    assert_eq!(
        SigningSecret::parse_any(&"x".repeat(257)),
        Err(SecretError::InvalidRaw)
    );
}

#[test]
fn master_keys_must_be_32_bytes_of_base64() {
    let b64 = STANDARD.encode([3u8; 32]);
    assert_eq!(MasterKey::from_base64("k1", &b64).unwrap().kid(), "k1");
    let short = STANDARD.encode([3u8; 31]);
    assert!(MasterKey::from_base64("k1", &short).is_err());
    assert!(MasterKey::from_base64("", &b64).is_err());
    assert!(MasterKey::from_base64("k1", "not base64").is_err());
}

#[test]
fn api_keys_are_hk_and_43_base62_characters_stored_as_a_hash() {
    let key = generate_api_key();
    assert!(looks_like_api_key(&key.plaintext), "{}", key.plaintext);
    assert_eq!(key.plaintext.len(), 46);
    assert_eq!(key.prefix, key.plaintext[..8]);
    assert_eq!(key.hash, hash_api_key(&key.plaintext));
    assert_eq!(key.hash.len(), 64);
    assert_ne!(generate_api_key().plaintext, key.plaintext);
    assert!(!format!("{key:?}").contains(&key.plaintext));
    assert_eq!(
        hash_api_key("abc"),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    assert!(!looks_like_api_key("hk_short"));
    assert!(!looks_like_api_key(&format!("hk_{}", "-".repeat(43))));
}
