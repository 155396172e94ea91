//! Validation errors: which field broke which rule.
//!
//! Every aggregate and value type reports invalid input as [`FieldError`]s, a field path plus a
//! typed [`Rule`], never as free text. The API renders them as the `errors: [{field, message}]`
//! of an RFC 9457 problem (`422`), using [`FieldError`]'s `Display` for the message, and tests
//! assert on the typed rule. Validation collects **every** error of a request at once
//! ([`FieldErrors`]), so a client fixes its input in one round trip.

use std::fmt;

use serde::Serialize;

/// One broken rule of one input field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// The camelCase JSON path of the field: `url`, `headers.X-Foo`, `events[2]`.
    pub field: String,
    /// The rule it breaks.
    pub rule: Rule,
}

impl FieldError {
    /// A field error for `field`.
    pub fn new(field: impl Into<String>, rule: Rule) -> Self {
        Self {
            field: field.into(),
            rule,
        }
    }

    /// The human message for the rule, without the field name (the problem's `message`).
    pub fn message(&self) -> String {
        self.rule.to_string()
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.rule)
    }
}

/// The closed set of input rules. Serialized as `{"rule": "too_long", "max": 200}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(
    tag = "rule",
    rename_all = "snake_case",
    rename_all_fields = "camelCase"
)]
pub enum Rule {
    /// The field is missing (or `null` where a value is needed).
    Required,
    /// Fewer than `min` characters or items.
    TooShort { min: usize },
    /// More than `max` characters.
    TooLong { max: usize },
    /// A number outside `min..=max`.
    OutOfRange { min: i64, max: i64 },
    /// More than `max` entries in a list or map.
    TooMany { max: usize },
    /// The text does not have the expected shape; `expected` describes it.
    InvalidFormat { expected: String },
    /// Not an absolute `http(s)` URL; `reason` says what is wrong.
    InvalidUrl { reason: String },
    /// The URL points at a loopback, private, link-local or otherwise internal address.
    PrivateTarget,
    /// The event type or pattern matches nothing in the tenant's event-type catalog.
    UnknownEventType { name: String },
    /// The header is set by hookledger (signature) or by HTTP itself (hop-by-hop).
    ReservedHeader { name: String },
    /// The property would overwrite a member of the delivery body.
    ReservedProperty { name: String },
    /// The serialized JSON is larger than `max_bytes`.
    TooLarge { max_bytes: usize },
    /// The JSON nests deeper than `max_depth` levels.
    TooDeep { max_depth: usize },
    /// Not an email address.
    InvalidEmail,
    /// Not one of the `allowed` values.
    UnknownValue { allowed: Vec<String> },
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rule::Required => f.write_str("is required"),
            Rule::TooShort { min } => write!(f, "is too short (minimum {min})"),
            Rule::TooLong { max } => write!(f, "is too long (maximum {max} characters)"),
            Rule::OutOfRange { min, max } => write!(f, "must be between {min} and {max}"),
            Rule::TooMany { max } => write!(f, "has too many entries (maximum {max})"),
            Rule::InvalidFormat { expected } => write!(f, "must be {expected}"),
            Rule::InvalidUrl { reason } => {
                write!(f, "must be an absolute http(s) URL ({reason})")
            }
            Rule::PrivateTarget => {
                f.write_str("must not point at a loopback, private, link-local or internal address")
            }
            Rule::UnknownEventType { name } => {
                write!(f, "`{name}` matches no event type in the catalog")
            }
            Rule::ReservedHeader { name } => {
                write!(
                    f,
                    "header `{name}` is set by hookledger and cannot be overridden"
                )
            }
            Rule::ReservedProperty { name } => {
                write!(f, "property `{name}` is reserved for the delivery body")
            }
            Rule::TooLarge { max_bytes } => {
                write!(f, "is too large (maximum {max_bytes} bytes of JSON)")
            }
            Rule::TooDeep { max_depth } => {
                write!(f, "is nested too deeply (maximum {max_depth} levels)")
            }
            Rule::InvalidEmail => f.write_str("must be an email address"),
            Rule::UnknownValue { allowed } => write!(f, "must be one of {}", allowed.join(", ")),
        }
    }
}

/// Collects the errors of one input so all of them are reported together.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldErrors(pub Vec<FieldError>);

impl FieldErrors {
    /// No errors yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that `field` breaks `rule`.
    pub fn push(&mut self, field: impl Into<String>, rule: Rule) {
        self.0.push(FieldError::new(field, rule));
    }

    /// Records several errors.
    pub fn extend(&mut self, errors: impl IntoIterator<Item = FieldError>) {
        self.0.extend(errors);
    }

    /// Keeps the value of a successful check, or records its error under `field`.
    pub fn check<T>(&mut self, field: impl Into<String>, result: Result<T, Rule>) -> Option<T> {
        result.map_err(|rule| self.push(field, rule)).ok()
    }

    /// Keeps the value of a check that reports its own field paths, or records its errors.
    pub fn check_all<T>(&mut self, result: Result<T, Vec<FieldError>>) -> Option<T> {
        result.map_err(|errors| self.extend(errors)).ok()
    }

    /// True when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok(value)` when nothing was recorded, otherwise every recorded error.
    pub fn into_result<T>(self, value: T) -> Result<T, Vec<FieldError>> {
        if self.0.is_empty() {
            Ok(value)
        } else {
            Err(self.0)
        }
    }
}

/// Joins field errors into one line, for error `Display`s.
pub fn describe(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_field_error_serializes_with_its_rule_tag_and_camel_case_parameters() {
        let err = FieldError::new("properties", Rule::TooLarge { max_bytes: 16384 });
        assert_eq!(
            serde_json::to_value(&err).unwrap(),
            json!({"field": "properties", "rule": {"rule": "too_large", "maxBytes": 16384}})
        );
        let err = FieldError::new("url", Rule::PrivateTarget);
        assert_eq!(
            serde_json::to_value(&err).unwrap(),
            json!({"field": "url", "rule": {"rule": "private_target"}})
        );
    }

    #[test]
    fn a_field_error_displays_its_field_and_a_human_message() {
        let err = FieldError::new(
            "url",
            Rule::InvalidUrl {
                reason: "relative URL without a base".into(),
            },
        );
        assert_eq!(
            err.to_string(),
            "url: must be an absolute http(s) URL (relative URL without a base)"
        );
        let err = FieldError::new("retryAttempts", Rule::OutOfRange { min: 0, max: 20 });
        assert_eq!(err.message(), "must be between 0 and 20");
        let allowed = vec!["POST".to_owned(), "PUT".to_owned()];
        let err = FieldError::new("httpMethod", Rule::UnknownValue { allowed });
        assert_eq!(err.to_string(), "httpMethod: must be one of POST, PUT");
    }

    #[test]
    fn field_errors_collect_every_failure_before_answering() {
        let mut errors = FieldErrors::new();
        assert_eq!(errors.check("a", Ok::<_, Rule>(1)), Some(1));
        assert_eq!(errors.check::<u8>("b", Err(Rule::Required)), None);
        errors.push("c", Rule::InvalidEmail);
        assert!(!errors.is_empty());
        let result = errors.into_result(());
        assert_eq!(
            result,
            Err(vec![
                FieldError::new("b", Rule::Required),
                FieldError::new("c", Rule::InvalidEmail),
            ])
        );
        assert_eq!(FieldErrors::new().into_result(7), Ok(7));
    }

    #[test]
    fn describe_joins_errors_in_order() {
        let errors = [
            FieldError::new("name", Rule::Required),
            FieldError::new("events[0]", Rule::TooLong { max: 128 }),
        ];
        assert_eq!(
            describe(&errors),
            "name: is required; events[0]: is too long (maximum 128 characters)"
        );
    }
}
