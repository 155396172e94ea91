//! Given/when/then specifications of the `Tenant` aggregate, and its event shapes.

use cqrs_es::test::TestFramework;
use cqrs_es::{Aggregate, DomainEvent};
use serde_json::json;

use super::*;
use crate::ids::{ApiKeyId, TenantId};
use crate::secrets::{generate_api_key, hash_api_key};
use crate::validation::{FieldError, Rule};

fn framework() -> TestFramework<Tenant> {
    TestFramework::with(())
}

fn tenant() -> TenantId {
    TenantId::parse("acme").unwrap()
}

fn key_id(n: u8) -> ApiKeyId {
    ApiKeyId::parse(&format!("key_0190f1d2c3b4a5968778695a4b3c2d{n:02x}")).unwrap()
}

fn grant(n: u8) -> ApiKeyGrant {
    ApiKeyGrant {
        id: key_id(n),
        name: Some(format!("key {n}")),
        hash: hash_api_key(&format!("hk_{n}")),
        prefix: "hk_AbCdE".into(),
    }
}

fn created() -> TenantEvent {
    TenantEvent::Created {
        id: tenant(),
        name: Some("Acme".into()),
    }
}

fn issued(n: u8) -> TenantEvent {
    let g = grant(n);
    TenantEvent::ApiKeyIssued {
        key_id: g.id,
        name: g.name,
        key_hash: g.hash,
        key_prefix: g.prefix,
    }
}

fn revoked(n: u8) -> TenantEvent {
    TenantEvent::ApiKeyRevoked { key_id: key_id(n) }
}

fn at(second: u32) -> chrono::DateTime<chrono::Utc> {
    use chrono::TimeZone as _;
    chrono::Utc
        .with_ymd_and_hms(2026, 12, 7, 12, 0, second)
        .unwrap()
}

fn links_revoked(before: chrono::DateTime<chrono::Utc>) -> TenantEvent {
    TenantEvent::ConsoleLinksRevoked { before }
}

fn create() -> TenantCommand {
    TenantCommand::CreateTenant {
        id: tenant(),
        name: Some("Acme".into()),
        first_key: grant(1),
    }
}

#[test]
fn creating_a_tenant_writes_created_and_its_first_key_together() {
    framework()
        .given_no_previous_events()
        .when(create())
        .then_expect_events(vec![created(), issued(1)]);
}

#[test]
fn creating_a_tenant_that_exists_is_a_conflict() {
    framework()
        .given(vec![created(), issued(1)])
        .when(create())
        .then_expect_error(TenantError::AlreadyExists);
}

#[test]
fn creating_a_tenant_with_a_long_name_or_a_plaintext_key_is_refused() {
    let mut first_key = grant(1);
    first_key.hash = generate_api_key().plaintext;
    let expected = "a SHA-256 digest in lowercase hex".to_owned();
    framework()
        .given_no_previous_events()
        .when(TenantCommand::CreateTenant {
            id: tenant(),
            name: Some("n".repeat(201)),
            first_key,
        })
        .then_expect_error(TenantError::Validation(vec![
            FieldError::new("name", Rule::TooLong { max: 200 }),
            FieldError::new("apiKey.hash", Rule::InvalidFormat { expected }),
        ]));
}

#[test]
fn issuing_a_key_writes_api_key_issued() {
    framework()
        .given(vec![created(), issued(1)])
        .when(TenantCommand::IssueApiKey { key: grant(2) })
        .then_expect_events(vec![issued(2)]);
}

#[test]
fn issuing_a_key_with_a_long_name_is_refused() {
    let mut key = grant(2);
    key.name = Some("k".repeat(201));
    framework()
        .given(vec![created()])
        .when(TenantCommand::IssueApiKey { key })
        .then_expect_error(TenantError::Validation(vec![FieldError::new(
            "name",
            Rule::TooLong { max: 200 },
        )]));
}

#[test]
fn issuing_a_key_whose_id_exists_is_a_conflict() {
    framework()
        .given(vec![created(), issued(1)])
        .when(TenantCommand::IssueApiKey { key: grant(1) })
        .then_expect_error(TenantError::KeyAlreadyExists);
}

#[test]
fn every_command_on_a_tenant_never_created_is_not_found() {
    for command in [
        TenantCommand::IssueApiKey { key: grant(2) },
        TenantCommand::RevokeApiKey { key_id: key_id(1) },
    ] {
        framework()
            .given_no_previous_events()
            .when(command)
            .then_expect_error(TenantError::NotFound);
    }
}

#[test]
fn revoking_a_key_writes_api_key_revoked() {
    framework()
        .given(vec![created(), issued(1), issued(2)])
        .when(TenantCommand::RevokeApiKey { key_id: key_id(2) })
        .then_expect_events(vec![revoked(2)]);
}

#[test]
fn revoking_a_revoked_key_writes_nothing() {
    framework()
        .given(vec![created(), issued(1), revoked(1)])
        .when(TenantCommand::RevokeApiKey { key_id: key_id(1) })
        .then_expect_events(vec![]);
}

#[test]
fn revoking_an_unknown_key_is_key_not_found() {
    framework()
        .given(vec![created(), issued(1)])
        .when(TenantCommand::RevokeApiKey { key_id: key_id(9) })
        .then_expect_error(TenantError::KeyNotFound);
}

#[test]
fn a_revoked_key_no_longer_authenticates_in_the_folded_state() {
    let mut tenant = Tenant::default();
    for event in [created(), issued(1), issued(2), revoked(1)] {
        tenant.apply(event);
    }
    assert_eq!(tenant.id().map(TenantId::as_str), Some("acme"));
    assert_eq!(tenant.name(), Some("Acme"));
    assert_eq!(tenant.keys().len(), 2);
    assert_eq!(tenant.active_key_by_hash(&grant(1).hash), None);
    assert_eq!(tenant.active_key_by_hash(&grant(2).hash), Some(&key_id(2)));
    assert_eq!(Tenant::TYPE, "tenant");
}

#[test]
fn a_grant_for_a_generated_key_carries_only_its_hash_and_prefix() {
    let key = generate_api_key();
    let grant = ApiKeyGrant::for_key(&key, None);
    assert_eq!(
        (grant.hash.as_str(), grant.prefix.as_str()),
        (key.hash.as_str(), &key.plaintext[..8])
    );
    assert!(!grant.id.as_str().is_empty());
}

#[test]
fn revoking_console_links_moves_the_instant_forward_only() {
    let revoke = |second| TenantCommand::RevokeConsoleLinks { before: at(second) };
    framework()
        .given(vec![created(), issued(1)])
        .when(revoke(5))
        .then_expect_events(vec![links_revoked(at(5))]);
    framework()
        .given(vec![created(), issued(1), links_revoked(at(5))])
        .when(revoke(9))
        .then_expect_events(vec![links_revoked(at(9))]);
    // Up to an instant already covered: nothing new to record.
    framework()
        .given(vec![created(), issued(1), links_revoked(at(5))])
        .when(revoke(5))
        .then_expect_events(vec![]);
    framework()
        .given(vec![created(), issued(1), links_revoked(at(5))])
        .when(revoke(3))
        .then_expect_events(vec![]);
    framework()
        .given_no_previous_events()
        .when(revoke(5))
        .then_expect_error(TenantError::NotFound);
    let mut state = Tenant::default();
    for event in [created(), links_revoked(at(9)), links_revoked(at(5))] {
        state.apply(event);
    }
    assert_eq!(state.console_links_revoked_before(), Some(at(9)));
}

fn minted(link: &str) -> TenantEvent {
    TenantEvent::ConsoleLinkMinted {
        link_id: link.into(),
        read_only: true,
        expires_at: at(30),
    }
}

#[test]
fn a_console_link_is_minted_once_and_revoked_once() {
    let mint = |link: &str| TenantCommand::MintConsoleLink {
        link_id: link.into(),
        read_only: true,
        expires_at: at(30),
    };
    let revoke = |link: &str| TenantCommand::RevokeConsoleLink {
        link_id: link.into(),
    };
    framework()
        .given(vec![created(), issued(1)])
        .when(mint("Ab3_x-9"))
        .then_expect_events(vec![minted("Ab3_x-9")]);
    framework()
        .given_no_previous_events()
        .when(mint("l1"))
        .then_expect_error(TenantError::NotFound);
    let refused = TenantError::Validation(vec![FieldError::new(
        "linkId",
        Rule::InvalidFormat {
            expected: "a new link id of 1-64 letters, digits, _ or -".into(),
        },
    )]);
    for bad in [String::new(), "has space".into(), "x".repeat(65)] {
        framework()
            .given(vec![created()])
            .when(mint(&bad))
            .then_expect_error(refused.clone());
    }
    framework()
        .given(vec![created(), minted("l1")])
        .when(mint("l1"))
        .then_expect_error(refused);
    framework()
        .given(vec![created(), minted("l1")])
        .when(revoke("l1"))
        .then_expect_events(vec![TenantEvent::ConsoleLinkRevoked {
            link_id: "l1".into(),
        }]);
    framework()
        .given(vec![
            created(),
            minted("l1"),
            TenantEvent::ConsoleLinkRevoked {
                link_id: "l1".into(),
            },
        ])
        .when(revoke("l1"))
        .then_expect_events(vec![]);
    framework()
        .given(vec![created(), minted("l1")])
        .when(revoke("l2"))
        .then_expect_error(TenantError::LinkNotFound);
}

#[test]
fn tenant_event_shapes() {
    let hash = hash_api_key("hk_1");
    let cases = [
        (
            created(),
            json!({"type": "tenant.created", "data": {"id": "acme", "name": "Acme"}}),
        ),
        (
            issued(1),
            json!({"type": "tenant.api_key_issued", "data": {
                "keyId": "key_0190f1d2c3b4a5968778695a4b3c2d01", "name": "key 1",
                "keyHash": hash, "keyPrefix": "hk_AbCdE"
            }}),
        ),
        (
            revoked(1),
            json!({"type": "tenant.api_key_revoked", "data": {
                "keyId": "key_0190f1d2c3b4a5968778695a4b3c2d01"
            }}),
        ),
        (
            minted("l1"),
            json!({"type": "tenant.console_link_minted", "data": {
                "linkId": "l1", "readOnly": true, "expiresAt": "2026-12-07T12:00:30Z"
            }}),
        ),
        (
            TenantEvent::ConsoleLinkRevoked {
                link_id: "l1".into(),
            },
            json!({"type": "tenant.console_link_revoked", "data": {"linkId": "l1"}}),
        ),
        (
            links_revoked(at(1)),
            json!({"type": "tenant.console_links_revoked", "data": {
                "before": "2026-12-07T12:00:01Z"
            }}),
        ),
    ];
    for (event, expected) in cases {
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json, expected);
        assert_eq!(json["type"], event.event_type());
        assert_eq!(event.event_version(), "1");
        assert_eq!(serde_json::from_value::<TenantEvent>(json).unwrap(), event);
    }
}
