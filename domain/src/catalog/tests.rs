//! Given/when/then specifications of the `EventCatalog` aggregate, and its event shape.

use cqrs_es::test::TestFramework;
use cqrs_es::{Aggregate, DomainEvent};
use serde_json::json;

use super::*;
use crate::validation::{FieldError, Rule};
use crate::webhook::{EventPattern, EventTypeName};

fn framework() -> TestFramework<EventCatalog> {
    TestFramework::with(())
}

fn name(s: &str) -> EventTypeName {
    EventTypeName::parse(s).unwrap()
}

fn added(s: &str) -> CatalogEvent {
    CatalogEvent::EventTypeAdded {
        name: name(s),
        description: None,
        schema: None,
    }
}

#[test]
fn adding_an_event_type_writes_event_type_added() {
    let schema = json!({"type": "object", "required": ["leadId"]});
    framework()
        .given(vec![added("lead.won")])
        .when(CatalogCommand::AddEventType {
            name: name("lead.created"),
            description: Some("A lead was created".into()),
            schema: Some(schema.clone()),
        })
        .then_expect_events(vec![CatalogEvent::EventTypeAdded {
            name: name("lead.created"),
            description: Some("A lead was created".into()),
            schema: Some(schema),
        }]);
}

#[test]
fn adding_a_type_the_catalog_has_is_a_conflict() {
    framework()
        .given(vec![added("lead.created")])
        .when(CatalogCommand::AddEventType {
            name: name("lead.created"),
            description: None,
            schema: None,
        })
        .then_expect_error(CatalogError::AlreadyExists {
            name: name("lead.created"),
        });
}

#[test]
fn adding_a_type_with_a_long_description_or_a_non_schema_is_refused() {
    let expected = "a JSON Schema (an object or a boolean)".to_owned();
    framework()
        .given_no_previous_events()
        .when(CatalogCommand::AddEventType {
            name: name("lead.created"),
            description: Some("d".repeat(2001)),
            schema: Some(json!("string")),
        })
        .then_expect_error(CatalogError::Validation(vec![
            FieldError::new("description", Rule::TooLong { max: 2000 }),
            FieldError::new("schema", Rule::InvalidFormat { expected }),
        ]));
}

#[test]
fn ensuring_event_types_adds_only_the_missing_ones_once() {
    framework()
        .given(vec![added("CALL_LOGGED")])
        .when(CatalogCommand::EnsureEventTypes {
            names: vec![
                name("CALL_LOGGED"),
                name("EMAIL_SENT"),
                name("EMAIL_SENT"),
                name("x"),
            ],
        })
        .then_expect_events(vec![added("EMAIL_SENT"), added("x")]);
}

#[test]
fn ensuring_known_event_types_writes_nothing() {
    framework()
        .given(vec![added("a"), added("b")])
        .when(CatalogCommand::EnsureEventTypes {
            names: vec![name("b"), name("a")],
        })
        .then_expect_events(vec![]);
}

#[test]
fn the_snapshot_lets_webhooks_subscribe_to_catalog_types() {
    let mut catalog = EventCatalog::default();
    for event in [added("lead.created"), added("deal.closed")] {
        catalog.apply(event);
    }
    let snapshot = catalog.snapshot();
    assert!(snapshot.allows(&EventPattern::parse("lead.*").unwrap()));
    assert!(!snapshot.allows(&EventPattern::parse("lead.won").unwrap()));
    assert!(catalog.contains("deal.closed") && !catalog.contains("deal"));
    assert_eq!(catalog.types().len(), 2);
    assert_eq!(EventCatalog::TYPE, "catalog");
}

#[test]
fn catalog_event_shape() {
    let event = CatalogEvent::EventTypeAdded {
        name: name("lead.created"),
        description: Some("d".into()),
        schema: Some(json!(true)),
    };
    let expected = json!({"type": "catalog.event_type_added", "data": {
        "name": "lead.created", "description": "d", "schema": true
    }});
    let json = serde_json::to_value(&event).unwrap();
    assert_eq!(json, expected);
    assert_eq!(json["type"], event.event_type());
    assert_eq!(event.event_version(), "1");
    assert_eq!(serde_json::from_value::<CatalogEvent>(json).unwrap(), event);
}
