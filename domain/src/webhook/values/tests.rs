//! Unit and property tests of the webhook value types, the spec builder and patches.

use proptest::prelude::*;
use serde_json::json;

use super::*;
use crate::validation::FieldError;

fn limits() -> Limits {
    Limits::default()
}

fn input(value: serde_json::Value) -> WebhookSpecInput {
    serde_json::from_value(value).unwrap()
}

fn spec(value: serde_json::Value) -> WebhookSpec {
    WebhookSpec::from_input(input(value), &limits(), false).unwrap()
}

fn minimal() -> WebhookSpec {
    spec(json!({"name": "CRM", "url": "https://example.com/h", "events": ["lead.*"]}))
}

fn patch(value: serde_json::Value) -> Result<WebhookPatch, Vec<FieldError>> {
    WebhookPatch::from_input(serde_json::from_value(value).unwrap(), &limits(), false)
}

#[test]
fn a_minimal_input_gets_every_default() {
    let spec = minimal();
    assert_eq!(spec.http_method, HttpMethod::Post);
    assert_eq!(spec.retry, RetrySettings::default());
    assert_eq!(spec.timeout_seconds.get(), 15);
    assert!(spec.headers.is_empty() && spec.properties.is_empty());
    assert_eq!(
        (spec.description, spec.filter, spec.errors_email),
        (None, None, None)
    );
}

#[test]
fn the_spec_serializes_as_camel_case_with_flattened_retry_settings() {
    let spec = spec(json!({
        "name": " CRM sync ", "url": "https://example.com/h", "events": ["lead.created", "*"],
        "httpMethod": "PUT", "headers": {"X-Token": "t"}, "properties": {"env": "prod"},
        "filter": {"==": [1, 1]}, "retryAttempts": 0, "retryDelaySeconds": 0,
        "retryPolicy": "fixed", "timeoutSeconds": 60, "errorsEmail": "ops@example.com",
        "description": "d"
    }));
    let expected = json!({
        "name": "CRM sync", "description": "d", "url": "https://example.com/h",
        "httpMethod": "PUT", "events": ["lead.created", "*"], "filter": {"==": [1, 1]},
        "headers": {"X-Token": "t"}, "properties": {"env": "prod"}, "retryAttempts": 0,
        "retryDelaySeconds": 0, "retryPolicy": "fixed", "timeoutSeconds": 60,
        "errorsEmail": "ops@example.com"
    });
    assert_eq!(serde_json::to_value(&spec).unwrap(), expected);
    assert_eq!(
        serde_json::from_value::<WebhookSpec>(expected).unwrap(),
        spec
    );
}

#[test]
fn from_input_reports_every_broken_field_at_once() {
    let errors = WebhookSpec::from_input(
        input(json!({
            "url": "http://10.0.0.1/", "events": ["lead.created", "bad type!", ""],
            "httpMethod": "GET", "retryAttempts": 21, "retryDelaySeconds": -1,
            "retryPolicy": "linear", "timeoutSeconds": 0, "errorsEmail": "nope",
            "headers": {"Host": "x"}, "properties": {"type": 1}
        })),
        &limits(),
        false,
    )
    .unwrap_err();
    let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "name",
            "url",
            "events[1]",
            "events[2]",
            "httpMethod",
            "headers.Host",
            "properties.type",
            "retryAttempts",
            "retryDelaySeconds",
            "retryPolicy",
            "timeoutSeconds",
            "errorsEmail",
        ]
    );
    assert_eq!(errors[0].rule, Rule::Required);
    assert_eq!(errors[1].rule, Rule::PrivateTarget);
    assert_eq!(errors[7].rule, Rule::OutOfRange { min: 0, max: 20 });
    assert_eq!(errors[10].rule, Rule::OutOfRange { min: 1, max: 60 });
}

#[test]
fn an_empty_events_list_and_a_blank_name_are_refused() {
    let errors = WebhookSpec::from_input(
        input(json!({"name": "  ", "url": "https://example.com", "events": []})),
        &limits(),
        false,
    )
    .unwrap_err();
    assert_eq!(
        errors,
        vec![
            FieldError::new("name", Rule::TooShort { min: 1 }),
            FieldError::new("events", Rule::TooShort { min: 1 }),
        ]
    );
}

#[test]
fn private_targets_pass_when_the_operator_allows_them() {
    let raw = json!({"name": "n", "url": "http://127.0.0.1:9/", "events": ["*"]});
    assert!(WebhookSpec::from_input(input(raw.clone()), &limits(), false).is_err());
    assert!(WebhookSpec::from_input(input(raw), &limits(), true).is_ok());
}

#[test]
fn a_patch_tells_absent_from_null() {
    let current = spec(json!({
        "name": "n", "url": "https://example.com", "events": ["*"], "description": "d",
        "headers": {"X-A": "1"}, "retryAttempts": 9
    }));
    let p = patch(json!({"description": null, "headers": null, "retryAttempts": null})).unwrap();
    let (next, changed) = current.apply_patch(&p);
    assert_eq!(changed, ["description", "headers", "retryAttempts"]);
    assert_eq!(next.description, None);
    assert!(next.headers.is_empty());
    assert_eq!(next.retry.attempts, 3);
    assert_eq!(next.name, current.name);
    assert!(patch(json!({})).unwrap().is_empty());
}

#[test]
fn a_patch_that_repeats_current_values_changes_nothing() {
    let current = minimal();
    let p = patch(json!({"name": "CRM", "events": ["lead.*"], "httpMethod": "POST"})).unwrap();
    assert!(!p.is_empty());
    let (next, changed) = current.apply_patch(&p);
    assert!(changed.is_empty());
    assert_eq!(next, current);
}

#[test]
fn a_patch_cannot_null_required_fields_and_reports_every_error() {
    let errors =
        patch(json!({"name": null, "url": "ftp://x", "events": null, "timeoutSeconds": 99}))
            .unwrap_err();
    let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(fields, ["name", "url", "events", "timeoutSeconds"]);
    assert_eq!(errors[0].rule, Rule::Required);
}

#[test]
fn changed_fields_name_every_difference_in_spec_order() {
    let a = minimal();
    let mut b = a.clone();
    b.retry.policy = RetryPolicyKind::Fixed;
    b.url = TargetUrl::parse("https://example.org", false).unwrap();
    assert_eq!(a.changed_fields(&b), ["url", "retryPolicy"]);
    assert!(a.changed_fields(&a).is_empty());
}

#[test]
fn event_patterns_are_types_wildcard_tails_or_star() {
    for ok in [
        "lead",
        "lead.created",
        "lead.*",
        "*",
        "a-b_c.D9.*",
        "CALL_LOGGED",
    ] {
        assert!(EventPattern::parse(ok).is_ok(), "{ok}");
    }
    for bad in [
        "", ".", "lead.", ".lead", "lead..x", "lead.*.x", "le*", "*.lead", "a b", "**",
    ] {
        assert!(EventPattern::parse(bad).is_err(), "{bad}");
    }
    assert!(EventTypeName::parse("lead.*").is_err());
    let long = "a".repeat(129);
    assert_eq!(EventTypeName::parse(&long), Err(Rule::TooLong { max: 128 }));
}

#[test]
fn a_wildcard_matches_one_or_more_further_segments_only() {
    let p = EventPattern::parse("lead.*").unwrap();
    assert!(p.matches("lead.created") && p.matches("lead.created.v2"));
    assert!(!p.matches("lead") && !p.matches("leads.x") && !p.matches("contact.created"));
    assert!(EventPattern::parse("*").unwrap().matches("anything.at.all"));
    let exact = EventPattern::parse("lead.created").unwrap();
    assert!(exact.matches("lead.created") && !exact.matches("lead.created.v2"));
}

#[test]
fn email_addresses_get_a_pragmatic_check() {
    for ok in [
        "a@b.co",
        "first.last+tag@sub.example.com",
        " ops@example.com ",
    ] {
        assert!(EmailAddress::parse(ok).is_ok(), "{ok}");
    }
    for bad in [
        "", "a", "a@b", "@b.co", "a@@b.co", "a b@c.co", "a@b..co", "a@-b.co", "a@.b.co",
    ] {
        assert_eq!(EmailAddress::parse(bad), Err(Rule::InvalidEmail), "{bad}");
    }
    let long_local = format!("{}@example.com", "a".repeat(65));
    assert_eq!(EmailAddress::parse(&long_local), Err(Rule::InvalidEmail));
    let long = format!("a@{}.com", "b".repeat(260));
    assert_eq!(EmailAddress::parse(&long), Err(Rule::TooLong { max: 254 }));
}

#[test]
fn enums_parse_their_exact_spelling_and_list_allowed_values_otherwise() {
    assert_eq!(HttpMethod::parse("PATCH"), Ok(HttpMethod::Patch));
    assert_eq!(RetryPolicyKind::parse("fixed"), Ok(RetryPolicyKind::Fixed));
    let allowed = vec!["POST".to_owned(), "PUT".to_owned(), "PATCH".to_owned()];
    for other in ["GET", "post", "Patch"] {
        let rule = Rule::UnknownValue {
            allowed: allowed.clone(),
        };
        assert_eq!(HttpMethod::parse(other), Err(rule), "{other}");
    }
    let allowed = vec!["exponential".to_owned(), "fixed".to_owned()];
    assert_eq!(
        RetryPolicyKind::parse("Fixed"),
        Err(Rule::UnknownValue { allowed })
    );
    assert_eq!(
        serde_json::to_value(HttpMethod::Patch).unwrap(),
        json!("PATCH")
    );
    assert_eq!(
        serde_json::to_value(RetryPolicyKind::Exponential).unwrap(),
        json!("exponential")
    );
}

#[test]
fn names_and_descriptions_respect_the_limits() {
    let l = limits();
    assert_eq!(
        WebhookName::parse(&"n".repeat(200), &l)
            .unwrap()
            .as_str()
            .len(),
        200
    );
    assert_eq!(
        WebhookName::parse(&"n".repeat(201), &l),
        Err(Rule::TooLong { max: 200 })
    );
    assert!(Description::parse("", &l).is_ok());
    assert_eq!(
        Description::parse(&"d".repeat(2001), &l),
        Err(Rule::TooLong { max: 2000 })
    );
}

fn event_type() -> impl Strategy<Value = String> {
    "[A-Za-z0-9_-]{1,8}(\\.[A-Za-z0-9_-]{1,8}){0,3}"
}

proptest! {
    #[test]
    fn every_well_formed_type_parses_and_matches_itself_and_star(t in event_type()) {
        let name = EventTypeName::parse(&t).unwrap();
        prop_assert!(EventPattern::from(name).matches(&t));
        prop_assert!(EventPattern::parse("*").unwrap().matches(&t));
    }

    #[test]
    fn a_wildcard_matches_exactly_the_types_below_its_stem(stem in event_type(), rest in event_type()) {
        let pattern = EventPattern::parse(&format!("{stem}.*")).unwrap();
        let below = format!("{stem}.{rest}");
        let sibling = format!("{stem}x.{rest}");
        prop_assert!(pattern.matches(&below));
        prop_assert!(!pattern.matches(&stem));
        prop_assert!(!pattern.matches(&sibling));
    }

    #[test]
    fn out_of_range_numbers_are_422_not_parse_failures(n in any::<i64>()) {
        let result = WebhookSpec::from_input(
            WebhookSpecInput {
                name: Some("n".into()),
                url: Some("https://example.com".into()),
                events: Some(vec!["*".into()]),
                timeout_seconds: Some(n),
                ..WebhookSpecInput::default()
            },
            &Limits::default(),
            false,
        );
        prop_assert_eq!(result.is_ok(), (1..=60).contains(&n));
    }
}
