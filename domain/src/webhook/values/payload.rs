//! What a webhook adds to each delivery, and what it delivers at all: custom headers, custom
//! body properties, and the payload filter.
//!
//! Each is user-supplied data that ends up in an HTTP request hookledger sends or in a
//! per-event evaluation, so each is bounded ([`Limits`]) and kept from overriding what the
//! Standard Webhooks format and HTTP itself own: the signature headers, hop-by-hop headers, and
//! the body members `id`, `type`, `timestamp` and `data`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::Limits;
use crate::validation::{FieldError, FieldErrors, Rule};

/// Header names a webhook may not set (compared case-insensitively): the Standard Webhooks
/// headers hookledger signs with, and headers HTTP or the client manage per connection.
pub const RESERVED_HEADERS: &[&str] = &[
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "host",
    "content-length",
    "content-type",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "upgrade",
];

/// Body members of a delivery that properties may not overwrite.
pub const RESERVED_PROPERTIES: &[&str] = &["id", "type", "timestamp", "data"];

/// Custom headers sent with every delivery, by name. Names are RFC 9110 tokens; values are
/// visible ASCII, space and tab (no CR or LF, so no header injection).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CustomHeaders(BTreeMap<String, String>);

/// RFC 9110 `tchar`.
fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

impl CustomHeaders {
    /// Checks every header, reporting errors as `headers` or `headers.<Name>`.
    pub fn parse(
        headers: BTreeMap<String, String>,
        limits: &Limits,
    ) -> Result<Self, Vec<FieldError>> {
        let mut errors = FieldErrors::new();
        if headers.len() > limits.max_headers {
            errors.push(
                "headers",
                Rule::TooMany {
                    max: limits.max_headers,
                },
            );
        }
        let mut seen = std::collections::BTreeSet::new();
        for (name, value) in &headers {
            let field = format!("headers.{name}");
            let lower = name.to_ascii_lowercase();
            if name.is_empty() {
                errors.push(field, Rule::TooShort { min: 1 });
            } else if name.len() > limits.max_header_name {
                let max = limits.max_header_name;
                errors.push(field, Rule::TooLong { max });
            } else if !name.bytes().all(is_token_char) {
                let expected = "a header name (letters, digits and !#$%&'*+-.^_`|~)".into();
                errors.push(field, Rule::InvalidFormat { expected });
            } else if RESERVED_HEADERS.contains(&lower.as_str()) {
                errors.push(field, Rule::ReservedHeader { name: name.clone() });
            } else if !seen.insert(lower) {
                let expected = "a header name used once (names ignore case)".into();
                errors.push(field, Rule::InvalidFormat { expected });
            } else if value.chars().count() > limits.max_header_value {
                let max = limits.max_header_value;
                errors.push(field, Rule::TooLong { max });
            } else if !value
                .bytes()
                .all(|b| b == b'\t' || (b' '..=b'~').contains(&b))
            {
                let expected = "a header value of visible ASCII, spaces and tabs".into();
                errors.push(field, Rule::InvalidFormat { expected });
            }
        }
        errors.into_result(Self(headers))
    }

    /// The headers by name.
    pub fn as_map(&self) -> &BTreeMap<String, String> {
        &self.0
    }

    /// Each `(name, value)`.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// True when there are no custom headers.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Custom JSON members merged into the body of every delivery.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Properties(Map<String, Value>);

impl Properties {
    /// Checks that `value` is an object without reserved keys and within the size limit,
    /// reporting errors as `properties` or `properties.<key>`.
    pub fn parse(value: Value, limits: &Limits) -> Result<Self, Vec<FieldError>> {
        let Value::Object(map) = value else {
            let expected = "a JSON object".into();
            return Err(vec![FieldError::new(
                "properties",
                Rule::InvalidFormat { expected },
            )]);
        };
        let mut errors = FieldErrors::new();
        for key in map.keys() {
            if RESERVED_PROPERTIES.contains(&key.as_str()) {
                let rule = Rule::ReservedProperty { name: key.clone() };
                errors.push(format!("properties.{key}"), rule);
            }
        }
        if json_len(&map) > limits.max_properties_bytes {
            let max_bytes = limits.max_properties_bytes;
            errors.push("properties", Rule::TooLarge { max_bytes });
        }
        errors.into_result(Self(map))
    }

    /// The members to merge.
    pub fn as_map(&self) -> &Map<String, Value> {
        &self.0
    }

    /// True when there are no properties.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A payload filter: a JSONLogic expression kept as JSON. hookledger only bounds it here; the
/// dispatcher compiles and evaluates it on `{type, data}` for each event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Filter(Value);

impl Filter {
    /// Checks the serialized size and nesting depth of `value`.
    pub fn parse(value: Value, limits: &Limits) -> Result<Self, Rule> {
        if json_len(&value) > limits.max_filter_bytes {
            return Err(Rule::TooLarge {
                max_bytes: limits.max_filter_bytes,
            });
        }
        if depth(&value) > limits.max_filter_depth {
            return Err(Rule::TooDeep {
                max_depth: limits.max_filter_depth,
            });
        }
        Ok(Self(value))
    }

    /// The expression.
    pub fn as_json(&self) -> &Value {
        &self.0
    }
}

fn json_len(value: &impl Serialize) -> usize {
    serde_json::to_vec(value).map_or(usize::MAX, |bytes| bytes.len())
}

/// Nesting levels of arrays and objects: a scalar is 0, `{}` is 1, `{"a": [1]}` is 2.
/// Iterative, so a hostile document cannot exhaust the stack.
fn depth(value: &Value) -> usize {
    let mut max = 0;
    let mut stack = vec![(value, 0)];
    while let Some((value, level)) = stack.pop() {
        let children: Box<dyn Iterator<Item = &Value>> = match value {
            Value::Array(items) => Box::new(items.iter()),
            Value::Object(map) => Box::new(map.values()),
            _ => continue,
        };
        max = max.max(level + 1);
        stack.extend(children.map(|child| (child, level + 1)));
    }
    max
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn headers(pairs: &[(&str, &str)]) -> Result<CustomHeaders, Vec<FieldError>> {
        let map = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        CustomHeaders::parse(map, &Limits::default())
    }

    fn rules(result: Result<CustomHeaders, Vec<FieldError>>) -> Vec<Rule> {
        result.unwrap_err().into_iter().map(|e| e.rule).collect()
    }

    #[test]
    fn ordinary_headers_are_kept() {
        let parsed = headers(&[("X-Api-Token", "abc 123\tx"), ("Authorization", "Bearer t")]);
        assert_eq!(parsed.unwrap().iter().count(), 2);
    }

    #[test]
    fn signature_and_hop_by_hop_headers_are_reserved_in_any_case() {
        for name in [
            "webhook-signature",
            "Webhook-Id",
            "HOST",
            "Content-Type",
            "TE",
            "Upgrade",
        ] {
            let errors = headers(&[(name, "x")]).unwrap_err();
            let expected = Rule::ReservedHeader { name: name.into() };
            assert_eq!(
                errors,
                vec![FieldError::new(format!("headers.{name}"), expected)]
            );
        }
    }

    #[test]
    fn header_injection_and_bad_names_are_refused() {
        assert!(matches!(
            rules(headers(&[("X-A", "a\r\nX-Evil: 1")]))[..],
            [Rule::InvalidFormat { .. }]
        ));
        assert!(matches!(
            rules(headers(&[("X A", "a")]))[..],
            [Rule::InvalidFormat { .. }]
        ));
        assert!(matches!(
            rules(headers(&[("X-Ü", "a")]))[..],
            [Rule::InvalidFormat { .. }]
        ));
        assert_eq!(
            rules(headers(&[("", "a")])),
            vec![Rule::TooShort { min: 1 }]
        );
        let long_value = "v".repeat(1025);
        assert_eq!(
            rules(headers(&[("X-A", &long_value)])),
            vec![Rule::TooLong { max: 1024 }]
        );
        let dup = headers(&[("X-A", "1"), ("x-a", "2")]).unwrap_err();
        assert_eq!(dup.len(), 1);
    }

    #[test]
    fn too_many_headers_are_refused() {
        let map: BTreeMap<_, _> = (0..21)
            .map(|i| (format!("X-{i}"), "v".to_owned()))
            .collect();
        let errors = CustomHeaders::parse(map, &Limits::default()).unwrap_err();
        assert_eq!(
            errors,
            vec![FieldError::new("headers", Rule::TooMany { max: 20 })]
        );
    }

    #[test]
    fn properties_must_be_an_object_without_reserved_keys() {
        let limits = Limits::default();
        let ok = Properties::parse(json!({"source": "crm", "n": [1, 2]}), &limits).unwrap();
        assert_eq!(ok.as_map().len(), 2);
        // Sorted: the order of a JSON object's keys depends on serde_json's `preserve_order`.
        let mut errors =
            Properties::parse(json!({"id": 1, "data": 2, "x": 3}), &limits).unwrap_err();
        errors.sort_by(|a, b| a.field.cmp(&b.field));
        let reserved = |name: &str| Rule::ReservedProperty { name: name.into() };
        assert_eq!(
            errors,
            vec![
                FieldError::new("properties.data", reserved("data")),
                FieldError::new("properties.id", reserved("id")),
            ]
        );
        assert!(matches!(
            Properties::parse(json!([1]), &limits).unwrap_err()[0].rule,
            Rule::InvalidFormat { .. }
        ));
        let big = json!({"blob": "x".repeat(16 * 1024)});
        let errors = Properties::parse(big, &limits).unwrap_err();
        assert_eq!(errors[0].rule, Rule::TooLarge { max_bytes: 16384 });
    }

    #[test]
    fn filters_are_bounded_in_size_and_depth() {
        let limits = Limits::default();
        let rule = json!({"==": [{"var": "data.status"}, "won"]});
        assert_eq!(
            Filter::parse(rule.clone(), &limits).unwrap().as_json(),
            &rule
        );
        let mut deep = json!(true);
        for _ in 0..17 {
            deep = json!([deep]);
        }
        assert_eq!(
            Filter::parse(deep, &limits),
            Err(Rule::TooDeep { max_depth: 16 })
        );
        let big = json!({"in": ["x", vec!["y"; 3000]]});
        assert_eq!(
            Filter::parse(big, &limits),
            Err(Rule::TooLarge { max_bytes: 8192 })
        );
    }

    proptest! {
        #[test]
        fn token_names_with_visible_values_are_accepted(
            name in "X-[A-Za-z0-9!#$%&'*+.^_`|~-]{1,40}",
            value in "[ -~\t]{0,100}",
        ) {
            prop_assert!(headers(&[(&name, &value)]).is_ok());
        }

        #[test]
        fn values_with_line_breaks_are_refused(before in "[ -~]{0,20}", after in "[ -~]{0,20}") {
            let value = format!("{before}\n{after}");
            prop_assert!(headers(&[("X-A", &value)]).is_err());
        }

        #[test]
        fn depth_counts_nesting(levels in 0usize..40) {
            let mut value = json!(1);
            for _ in 0..levels {
                value = json!({"a": value});
            }
            prop_assert_eq!(depth(&value), levels);
        }
    }
}
