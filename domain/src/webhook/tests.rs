//! Given/when/then specifications of the `Webhook` aggregate, one test per rule.

use chrono::{DateTime, Duration, Utc};
use cqrs_es::Aggregate;
use cqrs_es::test::TestFramework;
use serde_json::json;

use super::*;
use crate::ids::{TenantId, WebhookId};

mod secrets;
use crate::secrets::{Keyring, SigningSecret};
use crate::validation::{FieldError, Rule};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const NEW_SECRET: &str = "whsec_dGhpcyBpcyB0aGUgbmV3IHNpZ25pbmcga2V5ISE=";

fn framework() -> TestFramework<Webhook> {
    TestFramework::with(WebhookServices::for_tests())
}

fn tenant() -> TenantId {
    TenantId::parse("acme").unwrap()
}

fn id() -> WebhookId {
    WebhookId::parse("wh_0190f1d2c3b4a5968778695a4b3c2d1e").unwrap()
}

fn catalog() -> EventCatalogSnapshot {
    EventCatalogSnapshot::new(["lead.created", "lead.won", "deal.closed"])
}

fn spec_from(value: serde_json::Value) -> WebhookSpec {
    let input = serde_json::from_value(value).unwrap();
    WebhookSpec::from_input(input, &Limits::default(), false).unwrap()
}

fn spec() -> WebhookSpec {
    spec_from(json!({"name": "CRM", "url": "https://example.com/h", "events": ["lead.*"]}))
}

fn create(spec: WebhookSpec, status: WebhookStatus) -> WebhookCommand {
    WebhookCommand::CreateWebhook {
        tenant: tenant(),
        id: id(),
        spec,
        secret: SigningSecret::parse_whsec(SECRET).unwrap(),
        status,
        catalog: catalog(),
    }
}

fn created() -> WebhookEvent {
    let secret = SigningSecret::parse_whsec(SECRET).unwrap();
    WebhookEvent::Created(WebhookCreated {
        tenant: tenant(),
        id: id(),
        spec: spec(),
        secret: Keyring::for_tests().seal(&secret, &secret_aad(&tenant(), &id())),
        status: WebhookStatus::Active,
    })
}

fn patch(value: serde_json::Value) -> WebhookPatch {
    let input = serde_json::from_value(value).unwrap();
    WebhookPatch::from_input(input, &Limits::default(), false).unwrap()
}

fn update(value: serde_json::Value) -> WebhookCommand {
    WebhookCommand::UpdateWebhook {
        patch: patch(value),
        catalog: catalog(),
    }
}

fn unknown_type(i: usize, name: &str) -> FieldError {
    let name = name.to_owned();
    FieldError::new(format!("events[{i}]"), Rule::UnknownEventType { name })
}

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

#[test]
fn creating_a_webhook_writes_created_with_the_secret_sealed_for_its_owner() {
    let events = framework()
        .given_no_previous_events()
        .when(create(spec(), WebhookStatus::Active))
        .inspect_result()
        .unwrap();
    let [WebhookEvent::Created(created)] = &events[..] else {
        panic!("expected one webhook.created, got {events:?}");
    };
    assert_eq!((&created.tenant, &created.id), (&tenant(), &id()));
    assert_eq!(
        (&created.spec, created.status),
        (&spec(), WebhookStatus::Active)
    );
    let opened =
        Keyring::for_tests().open(&created.secret, "acme/wh_0190f1d2c3b4a5968778695a4b3c2d1e");
    assert_eq!(opened.unwrap().expose(), SECRET);
}

#[test]
fn creating_a_paused_webhook_starts_it_paused() {
    let events = framework()
        .given_no_previous_events()
        .when(create(spec(), WebhookStatus::Paused))
        .inspect_result()
        .unwrap();
    let mut webhook = Webhook::default();
    events.into_iter().for_each(|e| webhook.apply(e));
    assert_eq!(webhook.status(), WebhookStatus::Paused);
    assert!(webhook.exists());
}

#[test]
fn creating_a_disabled_webhook_is_refused() {
    let allowed = vec!["active".to_owned(), "paused".to_owned()];
    framework()
        .given_no_previous_events()
        .when(create(spec(), WebhookStatus::Disabled))
        .then_expect_error(WebhookError::Validation(vec![FieldError::new(
            "status",
            Rule::UnknownValue { allowed },
        )]));
}

#[test]
fn creating_a_webhook_that_exists_is_a_conflict_even_after_deletion() {
    framework()
        .given(vec![created()])
        .when(create(spec(), WebhookStatus::Active))
        .then_expect_error(WebhookError::AlreadyExists);
    framework()
        .given(vec![created(), WebhookEvent::Deleted {}])
        .when(create(spec(), WebhookStatus::Active))
        .then_expect_error(WebhookError::AlreadyExists);
}

#[test]
fn creating_with_event_types_outside_the_catalog_names_each_one() {
    let spec = spec_from(json!({
        "name": "n", "url": "https://example.com", "events": ["lead.created", "lead.lost", "contact.*", "*"]
    }));
    framework()
        .given_no_previous_events()
        .when(create(spec, WebhookStatus::Active))
        .then_expect_error(WebhookError::Validation(vec![
            unknown_type(1, "lead.lost"),
            unknown_type(2, "contact.*"),
        ]));
}

#[test]
fn updating_with_a_patch_that_changes_nothing_writes_nothing() {
    framework()
        .given(vec![created()])
        .when(update(json!({"name": "CRM", "events": ["lead.*"]})))
        .then_expect_events(vec![]);
    framework()
        .given(vec![created()])
        .when(update(json!({})))
        .then_expect_events(vec![]);
}

#[test]
fn updating_writes_the_full_new_spec_and_the_changed_fields() {
    let next = spec_from(json!({
        "name": "CRM", "url": "https://example.org/h", "events": ["lead.*"], "timeoutSeconds": 30
    }));
    framework()
        .given(vec![created()])
        .when(update(
            json!({"url": "https://example.org/h", "timeoutSeconds": 30}),
        ))
        .then_expect_events(vec![WebhookEvent::Updated(WebhookUpdated {
            spec: next,
            changed: vec!["url".into(), "timeoutSeconds".into()],
        })]);
}

#[test]
fn updating_events_to_a_type_outside_the_catalog_is_refused() {
    framework()
        .given(vec![created()])
        .when(update(json!({"events": ["deal.closed", "deal.lost"]})))
        .then_expect_error(WebhookError::Validation(vec![unknown_type(1, "deal.lost")]));
}

#[test]
fn replacing_with_an_identical_spec_writes_nothing() {
    framework()
        .given(vec![created()])
        .when(WebhookCommand::ReplaceWebhook {
            spec: spec(),
            catalog: catalog(),
        })
        .then_expect_events(vec![]);
}

#[test]
fn replacing_writes_the_new_spec_and_what_changed() {
    let next = spec_from(json!({
        "name": "Deals", "url": "https://example.com/h", "events": ["deal.closed"],
        "httpMethod": "PUT"
    }));
    framework()
        .given(vec![created()])
        .when(WebhookCommand::ReplaceWebhook {
            spec: next.clone(),
            catalog: catalog(),
        })
        .then_expect_events(vec![WebhookEvent::Updated(WebhookUpdated {
            spec: next,
            changed: vec!["name".into(), "httpMethod".into(), "events".into()],
        })]);
}

#[test]
fn replacing_with_a_type_outside_the_catalog_is_refused() {
    let next = spec_from(json!({"name": "n", "url": "https://example.com", "events": ["x.y"]}));
    framework()
        .given(vec![created()])
        .when(WebhookCommand::ReplaceWebhook {
            spec: next,
            catalog: catalog(),
        })
        .then_expect_error(WebhookError::Validation(vec![unknown_type(0, "x.y")]));
}

fn paused() -> WebhookEvent {
    WebhookEvent::Paused { reason: None }
}

fn disabled() -> WebhookEvent {
    WebhookEvent::Disabled {
        reason: "20 failed deliveries".into(),
    }
}

#[test]
fn pausing_an_active_or_disabled_webhook_writes_paused() {
    let reason = Some("maintenance".to_owned());
    for given in [vec![created()], vec![created(), disabled()]] {
        framework()
            .given(given)
            .when(WebhookCommand::PauseWebhook {
                reason: reason.clone(),
            })
            .then_expect_events(vec![WebhookEvent::Paused {
                reason: reason.clone(),
            }]);
    }
}

#[test]
fn pausing_a_paused_webhook_writes_nothing() {
    framework()
        .given(vec![created(), paused()])
        .when(WebhookCommand::PauseWebhook { reason: None })
        .then_expect_events(vec![]);
}

#[test]
fn resuming_a_paused_or_disabled_webhook_writes_resumed_from_that_status() {
    framework()
        .given(vec![created(), paused()])
        .when(WebhookCommand::ResumeWebhook)
        .then_expect_events(vec![WebhookEvent::Resumed {
            from: WebhookStatus::Paused,
        }]);
    framework()
        .given(vec![created(), disabled()])
        .when(WebhookCommand::ResumeWebhook)
        .then_expect_events(vec![WebhookEvent::Resumed {
            from: WebhookStatus::Disabled,
        }]);
}

#[test]
fn resuming_an_active_webhook_writes_nothing() {
    framework()
        .given(vec![
            created(),
            paused(),
            WebhookEvent::Resumed {
                from: WebhookStatus::Paused,
            },
        ])
        .when(WebhookCommand::ResumeWebhook)
        .then_expect_events(vec![]);
}

#[test]
fn disabling_an_active_or_paused_webhook_writes_disabled() {
    for given in [vec![created()], vec![created(), paused()]] {
        framework()
            .given(given)
            .when(WebhookCommand::DisableWebhook {
                reason: "20 failed deliveries".into(),
            })
            .then_expect_events(vec![disabled()]);
    }
}

#[test]
fn disabling_a_disabled_webhook_writes_nothing() {
    framework()
        .given(vec![created(), disabled()])
        .when(WebhookCommand::DisableWebhook {
            reason: "410 Gone".into(),
        })
        .then_expect_events(vec![]);
}

#[test]
fn deleting_a_webhook_writes_deleted() {
    framework()
        .given(vec![created(), paused()])
        .when(WebhookCommand::DeleteWebhook)
        .then_expect_events(vec![WebhookEvent::Deleted {}]);
}

fn every_change_command() -> Vec<WebhookCommand> {
    vec![
        update(json!({"name": "x"})),
        WebhookCommand::ReplaceWebhook {
            spec: spec(),
            catalog: catalog(),
        },
        WebhookCommand::PauseWebhook { reason: None },
        WebhookCommand::ResumeWebhook,
        WebhookCommand::DisableWebhook { reason: "r".into() },
        WebhookCommand::DeleteWebhook,
        WebhookCommand::RotateSecret {
            secret: SigningSecret::parse_whsec(NEW_SECRET).unwrap(),
            now: at("2025-01-01T00:00:00Z"),
            grace: Duration::hours(24),
        },
    ]
}

#[test]
fn every_command_on_a_deleted_webhook_is_not_found() {
    for command in every_change_command() {
        framework()
            .given(vec![created(), WebhookEvent::Deleted {}])
            .when(command)
            .then_expect_error(WebhookError::NotFound);
    }
}

#[test]
fn every_command_on_a_webhook_never_created_is_not_found() {
    for command in every_change_command() {
        framework()
            .given_no_previous_events()
            .when(command)
            .then_expect_error(WebhookError::NotFound);
    }
}

#[test]
fn the_folded_state_exposes_what_the_dispatcher_and_api_read() {
    let mut webhook = Webhook::default();
    assert!(!webhook.exists() && webhook.spec().is_none());
    for event in [created(), disabled()] {
        webhook.apply(event);
    }
    assert_eq!(
        (webhook.tenant(), webhook.id()),
        (Some(&tenant()), Some(&id()))
    );
    assert_eq!(webhook.spec(), Some(&spec()));
    assert_eq!(webhook.status(), WebhookStatus::Disabled);
    assert!(webhook.secret().is_some() && webhook.previous_secret().is_none());
    webhook.apply(WebhookEvent::Deleted {});
    assert!(webhook.is_deleted() && !webhook.exists());
    assert_eq!(Webhook::TYPE, "webhook");
}
