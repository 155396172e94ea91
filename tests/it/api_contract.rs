//! The contract's rules on bodies, for every JSON body of every route: a member of the wrong
//! JSON type (or `null` where it is not nullable) is 400 naming the member; a well-typed value
//! that breaks a rule is 422; enum values are spelled exactly as documented.

use hookledger_api::Roles;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::api_support::{fields, problem, tenant_with_catalog, webhook, webhook_body};
use crate::harness::TestApp;
use crate::harness::app::OPERATOR_TOKEN;

/// The JSON type a member takes.
#[derive(Clone, Copy)]
enum Kind {
    Str,
    Int,
    Bool,
    Strings,
    Object,
    /// An object of strings (`headers`).
    StrMap,
    /// Any JSON value but `null` (`data`).
    Any,
}

/// Values of every JSON type but `kind`'s, `null` included unless `nullable`; each with the
/// field the problem must name.
fn wrong(field: &str, kind: Kind, nullable: bool) -> Vec<(Value, String)> {
    let all = [
        json!("x"),
        json!(5),
        json!(1.5),
        json!(true),
        json!(["x"]),
        json!({"a": "b"}),
    ];
    let fits = |v: &Value| match kind {
        Kind::Str => v.is_string(),
        Kind::Int => v.is_i64(),
        Kind::Bool => v.is_boolean(),
        Kind::Strings => v.as_array().is_some_and(|a| a.iter().all(Value::is_string)),
        Kind::Object => v.is_object(),
        Kind::StrMap => v
            .as_object()
            .is_some_and(|o| o.values().all(Value::is_string)),
        Kind::Any => true,
    };
    let mut values: Vec<(Value, String)> = (all.into_iter())
        .filter(|v| !fits(v))
        .map(|v| (v, field.to_owned()))
        .collect();
    if !nullable {
        values.push((Value::Null, field.to_owned()));
    }
    match kind {
        Kind::Strings => values.push((json!([1]), format!("{field}[0]"))),
        Kind::StrMap => values.push((json!({"X-A": 1}), format!("{field}.X-A"))),
        _ => {}
    }
    values
}

/// One route's body: where it goes, with which credential, a valid body, and its members.
struct Route {
    method: Method,
    path: String,
    operator: bool,
    base: Value,
    members: Vec<(&'static str, Kind, bool)>,
}

fn webhook_members(create: bool) -> Vec<(&'static str, Kind, bool)> {
    use Kind::*;
    // (member, kind, nullable): in a patch, null resets members with a default.
    let patch = !create;
    vec![
        ("name", Str, false),
        ("description", Str, true),
        ("url", Str, false),
        ("httpMethod", Str, patch),
        ("events", Strings, false),
        ("filter", Object, true),
        ("headers", StrMap, patch),
        ("properties", Object, patch),
        ("retryAttempts", Int, patch),
        ("retryDelaySeconds", Int, patch),
        ("retryPolicy", Str, patch),
        ("timeoutSeconds", Int, patch),
        ("errorsEmail", Str, true),
        ("isActive", Bool, false),
        ("status", Str, false),
    ]
}

#[tokio::test]
async fn a_member_of_the_wrong_json_type_is_400_naming_it_on_every_route() {
    // Some 200 requests with one key: above the default rate limit.
    let app = TestApp::spawn_with(Roles::ALL, |c| c.http.rate_limit_per_second = 0.0).await;
    let key = tenant_with_catalog(&app, "acme").await;
    let id = webhook(&app, &key, "typed").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut create = webhook_members(true);
    create.push(("secret", Kind::Str, false));
    let routes = [
        Route {
            method: Method::POST,
            path: "/v1/webhooks".into(),
            operator: false,
            base: webhook_body("typed"),
            members: create,
        },
        Route {
            method: Method::PUT,
            path: format!("/v1/webhooks/{id}"),
            operator: false,
            base: webhook_body("typed"),
            members: webhook_members(true),
        },
        Route {
            method: Method::PATCH,
            path: format!("/v1/webhooks/{id}"),
            operator: false,
            base: json!({}),
            members: webhook_members(false),
        },
        Route {
            method: Method::POST,
            path: "/v1/event-types".into(),
            operator: false,
            base: json!({"name": "typed.event"}),
            members: vec![
                ("name", Kind::Str, false),
                ("description", Kind::Str, false),
                ("schema", Kind::Object, true),
            ],
        },
        Route {
            method: Method::POST,
            path: "/v1/events".into(),
            operator: false,
            base: json!({"type": "lead.created", "data": {}}),
            members: vec![
                ("type", Kind::Str, false),
                ("data", Kind::Any, false),
                ("id", Kind::Str, false),
                ("occurredAt", Kind::Str, false),
            ],
        },
        Route {
            method: Method::POST,
            path: "/v1/admin/tenants".into(),
            operator: true,
            base: json!({"id": "typed"}),
            members: vec![("id", Kind::Str, false), ("name", Kind::Str, false)],
        },
        Route {
            method: Method::POST,
            path: "/v1/admin/tenants/acme/keys".into(),
            operator: true,
            base: json!({}),
            members: vec![("name", Kind::Str, false)],
        },
    ];
    let mut cases = 0;
    for route in &routes {
        for &(member, kind, nullable) in &route.members {
            for (value, field) in wrong(member, kind, nullable) {
                let mut body = route.base.clone();
                body[member] = value.clone();
                let request = app.http.request(route.method.clone(), app.url(&route.path));
                let request = if route.operator {
                    request.bearer_auth(OPERATOR_TOKEN)
                } else {
                    request.header("x-api-key", &key)
                };
                let response = request.json(&body).send().await.unwrap();
                let what = format!("{} {} {member}: {value}", route.method, route.path);
                let status = response.status();
                assert_eq!(status, StatusCode::BAD_REQUEST, "{what}");
                let problem = problem(response, StatusCode::BAD_REQUEST).await;
                assert_eq!(fields(&problem), [field], "{what}: {problem}");
                cases += 1;
            }
        }
    }
    assert!(cases > 150, "{cases} cases");
}

#[tokio::test]
async fn well_typed_values_that_break_a_rule_stay_422() {
    let app = TestApp::spawn().await;
    let key = tenant_with_catalog(&app, "acme").await;
    let mut body = webhook_body("ruled");
    body["retryAttempts"] = json!(99);
    body["properties"] = json!({"data": 1});
    let response = (app.http.post(app.url("/v1/webhooks")))
        .header("x-api-key", &key)
        .json(&body)
        .send()
        .await
        .unwrap();
    let problem = problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    let mut named = fields(&problem);
    named.sort();
    assert_eq!(named, ["properties.data", "retryAttempts"], "{problem}");
}

#[tokio::test]
async fn enum_values_are_spelled_exactly_as_documented() {
    let app = TestApp::spawn().await;
    let key = tenant_with_catalog(&app, "acme").await;
    let send = |method: Method, path: String, body: Value| {
        let request = app.http.request(method, app.url(&path));
        request.header("x-api-key", &key).json(&body).send()
    };
    for (member, value, allowed) in [
        ("httpMethod", "post", "POST, PUT, PATCH"),
        ("httpMethod", "Put", "POST, PUT, PATCH"),
        ("retryPolicy", "Fixed", "exponential, fixed"),
        ("retryPolicy", "EXPONENTIAL", "exponential, fixed"),
    ] {
        let mut body = webhook_body("enums");
        body[member] = json!(value);
        let response = send(Method::POST, "/v1/webhooks".into(), body)
            .await
            .unwrap();
        let problem = problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(fields(&problem), [member], "{problem}");
        let message = problem["errors"][0]["message"].as_str().unwrap();
        assert!(message.contains(allowed), "{member} {value}: {message}");
    }
    let mut body = webhook_body("enums");
    body["httpMethod"] = json!("PUT");
    body["retryPolicy"] = json!("fixed");
    let created = send(Method::POST, "/v1/webhooks".into(), body)
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let created: Value = created.json().await.unwrap();
    assert_eq!(
        (&created["httpMethod"], &created["retryPolicy"]),
        (&json!("PUT"), &json!("fixed"))
    );
    let id = created["id"].as_str().unwrap();
    let patch = json!({"httpMethod": "patch"});
    let response = send(Method::PATCH, format!("/v1/webhooks/{id}"), patch)
        .await
        .unwrap();
    let problem = problem(response, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(fields(&problem), ["httpMethod"], "{problem}");
}
