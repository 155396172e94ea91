//! Which webhooks an event goes to: pure, no I/O.
//!
//! First the webhook's event patterns (`lead.created`, `lead.*`, `*`; see
//! [`EventPattern::matches`]), then its payload filter: a JSONLogic expression evaluated by
//! datalogic-rs on `{"type": <event type>, "data": <event data>}`; the event matches when the
//! result is truthy. A filter is compiled once, when the router learns the webhook's spec. A
//! filter that does not compile, or that fails on an event, counts as **no match**: it is
//! logged and counted (`hookledger_filter_errors_total`), never a crash, and never a delivery
//! the user did not ask for.

use std::sync::Arc;

use datalogic_rs::bumpalo::Bump;
use datalogic_rs::{Engine, Logic};
use hookledger_domain::ids::WebhookId;
use hookledger_domain::webhook::{EventPattern, Filter, WebhookSpec};
use serde::Serialize;

/// The JSONLogic engine; one per process is enough (it is `Send + Sync`).
pub struct Matcher {
    engine: Engine,
}

impl Default for Matcher {
    fn default() -> Self {
        Self::new()
    }
}

/// A webhook's filter, compiled.
#[derive(Clone)]
enum CompiledFilter {
    None,
    Logic(Arc<Logic>),
    /// The expression does not compile: nothing matches.
    Invalid(String),
}

/// What the router keeps of one webhook to match events against it.
#[derive(Clone)]
pub struct Route {
    pub webhook_id: WebhookId,
    patterns: Vec<EventPattern>,
    filter: CompiledFilter,
}

impl std::fmt::Debug for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Route")
            .field("webhook_id", &self.webhook_id)
            .field("patterns", &self.patterns)
            .finish_non_exhaustive()
    }
}

/// Why a filter did not decide.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("filter of {webhook_id}: {reason}")]
pub struct FilterError {
    pub webhook_id: WebhookId,
    pub reason: String,
}

impl Matcher {
    pub fn new() -> Self {
        Self {
            engine: Engine::new(),
        }
    }

    /// The route of a webhook with `spec`; its filter compiled now.
    pub fn route(&self, webhook_id: WebhookId, spec: &WebhookSpec) -> Route {
        let filter = match &spec.filter {
            None => CompiledFilter::None,
            Some(filter) => match self.compile(filter) {
                Ok(logic) => CompiledFilter::Logic(Arc::new(logic)),
                Err(reason) => {
                    tracing::warn!(webhook_id = %webhook_id, %reason, "the webhook's filter does not compile; it matches no event");
                    CompiledFilter::Invalid(reason)
                }
            },
        };
        Route {
            webhook_id,
            patterns: spec.events.clone(),
            filter,
        }
    }

    fn compile(&self, filter: &Filter) -> Result<Logic, String> {
        self.engine
            .compile(filter.as_json().to_string().as_str())
            .map_err(|e| e.to_string())
    }

    /// True when an event of `event_type` with `data` goes to `route`'s webhook. A filter
    /// error is logged and counted and answers false.
    pub fn matches<D: Serialize + ?Sized>(
        &self,
        route: &Route,
        event_type: &str,
        data: &D,
    ) -> bool {
        if !route.patterns.iter().any(|p| p.matches(event_type)) {
            return false;
        }
        match self.filter_holds(route, event_type, data) {
            Ok(holds) => holds,
            Err(error) => {
                metrics::counter!("hookledger_filter_errors_total").increment(1);
                tracing::warn!(%error, event_type, "payload filter failed; the event does not match");
                false
            }
        }
    }

    /// Evaluates the route's filter on `{type, data}`; `Ok(true)` without a filter. `data` is
    /// any JSON (the router's is the event's data as published, never parsed into a tree:
    /// the filter engine reads the text).
    pub fn filter_holds<D: Serialize + ?Sized>(
        &self,
        route: &Route,
        event_type: &str,
        data: &D,
    ) -> Result<bool, FilterError> {
        let error = |reason: String| FilterError {
            webhook_id: route.webhook_id.clone(),
            reason,
        };
        let logic = match &route.filter {
            CompiledFilter::None => return Ok(true),
            CompiledFilter::Invalid(reason) => return Err(error(reason.clone())),
            CompiledFilter::Logic(logic) => logic,
        };
        let input = serde_json::to_string(&FilterInput { event_type, data })
            .map_err(|e| error(e.to_string()))?;
        let arena = Bump::new();
        let result = self
            .engine
            .evaluate(logic, input.as_str(), &arena)
            .map_err(|e| error(e.to_string()))?;
        Ok(self.engine.truthy(result))
    }
}

/// What a filter reads: `{"type": …, "data": …}`.
#[derive(Serialize)]
struct FilterInput<'a, D: Serialize + ?Sized> {
    #[serde(rename = "type")]
    event_type: &'a str,
    data: &'a D,
}

#[cfg(test)]
mod tests {
    use super::*;
    use hookledger_domain::webhook::values::Limits;
    use hookledger_domain::webhook::{TargetUrl, WebhookName};
    use proptest::prelude::*;
    use serde_json::{Value, json};

    fn route(matcher: &Matcher, patterns: &[&str], filter: Option<Value>) -> Route {
        let mut spec = WebhookSpec::new(
            WebhookName::parse("t", &Limits::default()).unwrap(),
            TargetUrl::parse("https://example.com", false).unwrap(),
            patterns
                .iter()
                .map(|p| EventPattern::parse(p).unwrap())
                .collect(),
        );
        spec.filter = filter.map(|f| Filter::parse(f, &Limits::default()).unwrap());
        matcher.route(WebhookId::new(), &spec)
    }

    #[test]
    fn patterns_match_exact_types_wildcards_and_star() {
        let m = Matcher::new();
        let r = route(&m, &["lead.created", "deal.*"], None);
        assert!(m.matches(&r, "lead.created", &json!({})));
        assert!(m.matches(&r, "deal.won", &json!({})));
        assert!(m.matches(&r, "deal.won.v2", &json!({})));
        assert!(!m.matches(&r, "deal", &json!({})));
        assert!(!m.matches(&r, "lead.updated", &json!({})));
        assert!(m.matches(&route(&m, &["*"], None), "anything.at.all", &json!(null)));
    }

    #[test]
    fn a_filter_sees_type_and_data() {
        let m = Matcher::new();
        let filter = json!({"and": [
            {"==": [{"var": "type"}, "lead.created"]},
            {">": [{"var": "data.amount"}, 100]}
        ]});
        let r = route(&m, &["lead.*"], Some(filter));
        assert!(m.matches(&r, "lead.created", &json!({"amount": 101})));
        assert!(!m.matches(&r, "lead.created", &json!({"amount": 100})));
        assert!(!m.matches(&r, "lead.updated", &json!({"amount": 500})));
        // The router's data: the event's text as published.
        let raw = |text: &str| serde_json::value::RawValue::from_string(text.into()).unwrap();
        assert!(m.matches(&r, "lead.created", &*raw(r#"{"zeta": 0, "amount": 101}"#)));
        assert!(!m.matches(&r, "lead.created", &*raw(r#"{ "amount" : 100 }"#)));
    }

    #[test]
    fn a_filter_that_errors_or_does_not_compile_matches_nothing() {
        let m = Matcher::new();
        let unknown_operator = route(&m, &["*"], Some(json!({"no_such_operator": [1]})));
        assert!(!m.matches(&unknown_operator, "a", &json!({})));
        assert!(m.filter_holds(&unknown_operator, "a", &json!({})).is_err());
        let throws = route(&m, &["*"], Some(json!({"throw": "boom"})));
        assert!(!m.matches(&throws, "a", &json!({})));
    }

    fn event_type() -> impl Strategy<Value = String> {
        proptest::collection::vec("[A-Za-z0-9_-]{1,8}", 1..4).prop_map(|s| s.join("."))
    }

    proptest! {
        #[test]
        fn a_type_matches_itself_star_and_every_wildcard_over_its_prefixes(t in event_type()) {
            let m = Matcher::new();
            let empty = json!({});
            prop_assert!(m.matches(&route(&m, &[t.as_str()], None), &t, &empty));
            prop_assert!(m.matches(&route(&m, &["*"], None), &t, &empty));
            let segments: Vec<&str> = t.split('.').collect();
            for cut in 1..segments.len() {
                let pattern = format!("{}.*", segments[..cut].join("."));
                prop_assert!(m.matches(&route(&m, &[pattern.as_str()], None), &t, &empty));
            }
            let own = format!("{t}.*");
            prop_assert!(!m.matches(&route(&m, &[own.as_str()], None), &t, &empty));
        }

        #[test]
        fn an_equality_filter_holds_exactly_when_the_values_are_equal(n in -50i64..50, k in -50i64..50) {
            let m = Matcher::new();
            let r = route(&m, &["*"], Some(json!({"==": [{"var": "data.n"}, k]})));
            prop_assert_eq!(m.matches(&r, "x", &json!({"n": n})), n == k);
        }

        #[test]
        fn arbitrary_filters_and_data_never_panic(
            op in prop::sample::select(vec!["==", "!=", "<", ">", "in", "and", "or", "!", "var", "+", "/", "cat", "substr", "missing"]),
            arg in prop::sample::select(vec![json!(1), json!("s"), json!(null), json!([1, 2]), json!({"var": "data.x"}), json!({"var": "data"})]),
            x in prop::sample::select(vec![json!(0), json!("a"), json!(null), json!([true]), json!({"y": 1})]),
        ) {
            let m = Matcher::new();
            let r = route(&m, &["*"], Some(json!({op: [arg.clone(), arg]})));
            let _ = m.matches(&r, "t", &json!({"x": x}));
        }
    }
}
