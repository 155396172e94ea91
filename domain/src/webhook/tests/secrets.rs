//! Given/when/then specifications of secret rotation, and the rule that no webhook event
//! carries a signing secret in clear.

use chrono::Duration;
use cqrs_es::{Aggregate, DomainEvent};

use super::*;

#[test]
fn rotating_the_secret_seals_the_new_one_and_keeps_the_old_until_now_plus_grace() {
    let now = at("2025-01-01T00:00:00Z");
    let events = framework()
        .given(vec![created()])
        .when(WebhookCommand::RotateSecret {
            secret: SigningSecret::parse_whsec(NEW_SECRET).unwrap(),
            now,
            grace: Duration::hours(24),
        })
        .inspect_result()
        .unwrap();
    let [
        WebhookEvent::SecretRotated {
            secret,
            previous_secret_expires_at,
        },
    ] = &events[..]
    else {
        panic!("expected one webhook.secret_rotated, got {events:?}");
    };
    assert_eq!(*previous_secret_expires_at, at("2025-01-02T00:00:00Z"));
    let aad = secret_aad(&tenant(), &id());
    assert_eq!(
        Keyring::for_tests().open(secret, &aad).unwrap().expose(),
        NEW_SECRET
    );

    let mut webhook = Webhook::default();
    [created()]
        .into_iter()
        .chain(events)
        .for_each(|e| webhook.apply(e));
    let (previous, expires) = webhook.previous_secret().unwrap();
    assert_eq!(
        Keyring::for_tests().open(previous, &aad).unwrap().expose(),
        SECRET
    );
    assert_eq!(expires, at("2025-01-02T00:00:00Z"));
    assert_eq!(
        webhook.signing_secrets_at(now + Duration::hours(1)).len(),
        2
    );
    assert_eq!(
        webhook.signing_secrets_at(now + Duration::hours(24)).len(),
        1
    );
}

#[test]
fn a_negative_grace_retires_the_previous_secret_at_once() {
    let now = at("2025-01-01T00:00:00Z");
    let events = framework()
        .given(vec![created()])
        .when(WebhookCommand::RotateSecret {
            secret: SigningSecret::Raw("raw-secret".into()),
            now,
            grace: Duration::hours(-1),
        })
        .inspect_result()
        .unwrap();
    let [
        WebhookEvent::SecretRotated {
            previous_secret_expires_at,
            ..
        },
    ] = &events[..]
    else {
        panic!("expected one webhook.secret_rotated, got {events:?}");
    };
    assert_eq!(*previous_secret_expires_at, now);
}

#[test]
fn no_event_json_contains_a_plaintext_secret() {
    let rotate = WebhookCommand::RotateSecret {
        secret: SigningSecret::parse_whsec(NEW_SECRET).unwrap(),
        now: at("2025-01-01T00:00:00Z"),
        grace: Duration::hours(1),
    };
    let mut events = framework()
        .given_no_previous_events()
        .when(create(spec(), WebhookStatus::Active))
        .inspect_result()
        .unwrap();
    events.extend(
        framework()
            .given(events.clone())
            .when(rotate)
            .inspect_result()
            .unwrap(),
    );
    assert_eq!(events.len(), 2);
    for event in &events {
        let json = serde_json::to_string(event).unwrap();
        for plain in [SECRET, NEW_SECRET] {
            assert!(
                !json.contains(&plain["whsec_".len()..]),
                "{}: {json}",
                event.event_type()
            );
        }
    }
}
