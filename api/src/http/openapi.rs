//! The OpenAPI 3.1 document of the HTTP API, generated from the code (utoipa).
//!
//! Each handler carries a `#[utoipa::path]` with its success answers; [`ApiDoc`] adds the
//! title, tags and security schemes; [`finish`] adds what every operation shares, by rule, so
//! no route can forget one: the error answers (problem+json, with examples), the
//! `Idempotency-Key` header of POSTs, `Retry-After` on 429 and 503.
//!
//! The document is served at `GET /openapi.json` and committed as `api/openapi.json`; the test
//! `api_openapi_snapshot` fails when they differ. To update the snapshot after changing a
//! route: `UPDATE_OPENAPI=1 cargo nextest run -p hookledger-tests -E 'test(/^api_openapi/)'`.

use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{Operation, Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{OpenApi as Document, Ref, RefOr, Required};
use utoipa::{Modify, OpenApi};

use crate::http::error::{FieldProblem, Problem};

/// The committed snapshot, relative to the workspace root.
pub const SNAPSHOT_PATH: &str = "api/openapi.json";

/// The document as served (pretty JSON).
#[derive(Debug, Clone)]
pub struct OpenApiJson(pub String);

#[derive(OpenApi)]
#[openapi(
    info(
        title = "hookledger",
        version = "1",
        description = "Webhooks as an event-sourced ledger on NATS JetStream. Every change is a \
            ledger event; reads come from PostgreSQL views that follow the ledger. Errors are \
            RFC 9457 problem documents (`application/problem+json`).",
        license(name = "Apache-2.0", identifier = "Apache-2.0")
    ),
    modifiers(&Security),
    components(schemas(Problem, FieldProblem)),
    tags(
        (name = "webhooks", description = "Webhook subscriptions (native dialect)"),
        (name = "deliveries", description = "Deliveries, attempts, statistics and manual re-sends"),
        (name = "event-types", description = "The tenant's event-type catalog"),
        (name = "audit", description = "The ledger replayed"),
        (name = "admin", description = "Tenants and API keys, for the operator"),
        (name = "operations", description = "Health, readiness, metrics and this document"),
    )
)]
pub struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, doc: &mut Document) {
        let components = doc.components.get_or_insert_with(Default::default);
        let key = ApiKeyValue::with_description(
            "x-api-key",
            "A tenant API key: `hk_` + 43 base62 characters",
        );
        components.add_security_scheme("apiKey", SecurityScheme::ApiKey(ApiKey::Header(key)));
        let bearer = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .description(Some("The tenant API key as `Authorization: Bearer hk_…`"))
            .build();
        components.add_security_scheme("bearerAuth", SecurityScheme::Http(bearer));
        let operator = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .description(Some("The operator token (`http.operator_token`)"))
            .build();
        components.add_security_scheme("operatorToken", SecurityScheme::Http(operator));
    }
}

/// The shared error answers: (component name, status, description, example detail).
const ERRORS: [(&str, &str, &str, &str); 12] = [
    (
        "BadRequest",
        "400",
        "Not JSON, a field of the wrong JSON type, or a malformed header or parameter",
        "the body is not valid JSON: expected value at line 1 column 1",
    ),
    (
        "Unauthorized",
        "401",
        "No key, or an unknown or revoked one",
        "missing or invalid credentials",
    ),
    (
        "NotFound",
        "404",
        "No such resource for this tenant (another tenant's resource is 404 too)",
        "webhook not found",
    ),
    (
        "Conflict",
        "409",
        "Conflicts with existing state, a concurrent change, or a request with the same Idempotency-Key still running",
        "the resource was changed concurrently; retry",
    ),
    (
        "PreconditionFailed",
        "412",
        "If-Match names a version that is not the current one",
        "If-Match names version 41, the current version is 42",
    ),
    (
        "PayloadTooLarge",
        "413",
        "The body is larger than http.max_body_bytes",
        "the request body is larger than 1048576 bytes",
    ),
    (
        "UnsupportedMediaType",
        "415",
        "The body is not sent as application/json",
        "the body must be JSON, sent with content-type: application/json",
    ),
    (
        "Unprocessable",
        "422",
        "Well-formed input that breaks a rule (named in errors), or an Idempotency-Key reused with another request",
        "the request breaks 1 rule(s)",
    ),
    (
        "TooManyRequests",
        "429",
        "The API key used up its rate (http.rate_limit_per_second); see Retry-After",
        "too many requests for this API key; retry in 1 s",
    ),
    (
        "NotImplemented",
        "501",
        "Not built yet",
        "this route is not implemented yet",
    ),
    (
        "Unavailable",
        "503",
        "NATS or PostgreSQL is down or too slow; nothing was written, retry",
        "a dependency (NATS or PostgreSQL) is unavailable; retry later",
    ),
    (
        "MethodNotAllowed",
        "405",
        "The path exists, the method does not",
        "this method is not allowed on this path",
    ),
];

fn problem_response(status: &str, description: &str, detail: &str, slug: &str) -> Response {
    let code: u16 = status.parse().unwrap_or(500);
    let mut example = serde_json::json!({
        "type": format!("https://hookledger.dev/problems/{slug}"),
        "title": description.split([',', ';', '(']).next().unwrap_or(description).trim(),
        "status": code,
        "detail": detail,
    });
    if code == 422 || code == 400 {
        example["errors"] =
            serde_json::json!([{"field": "url", "message": "must be an absolute http(s) URL"}]);
    }
    let content = ContentBuilder::new()
        .schema(Some(Ref::from_schema_name("Problem")))
        .example(Some(example))
        .build();
    let mut response = ResponseBuilder::new()
        .description(description)
        .content("application/problem+json", content);
    if code == 429 || code == 503 {
        let seconds = HeaderBuilder::new()
            .schema(
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .minimum(Some(1)),
            )
            .description(Some("Seconds to wait before retrying"))
            .build();
        response = response.header("Retry-After", seconds);
    }
    response.build()
}

fn slug(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('-');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

fn idempotency_key() -> Parameter {
    ParameterBuilder::new()
        .name("Idempotency-Key")
        .parameter_in(ParameterIn::Header)
        .required(Required::False)
        .description(Some(
            "Makes the POST safe to retry: the same key with the same request gets the same \
             answer (replayed with `Idempotent-Replayed: true`) for 24 hours; with another \
             request, 422. 1-255 visible ASCII characters.",
        ))
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(1))
                .max_length(Some(255))
                .pattern(Some("^[!-~]+$")),
        ))
        .build()
}

fn has_param(op: &Operation, place: ParameterIn, name: Option<&str>) -> bool {
    op.parameters
        .iter()
        .flatten()
        .any(|p| p.parameter_in == place && name.is_none_or(|n| p.name.eq_ignore_ascii_case(n)))
}

fn add(op: &mut Operation, status: &str) {
    let name = ERRORS
        .iter()
        .find(|e| e.1 == status)
        .map_or("Unavailable", |e| e.0);
    op.responses
        .responses
        .entry(status.to_owned())
        .or_insert_with(|| RefOr::Ref(Ref::from_response_name(name)));
}

/// Adds the shared error answers and headers to every operation (see the module docs).
pub fn finish(mut doc: Document) -> Document {
    let components = doc.components.get_or_insert_with(Default::default);
    for (name, status, description, detail) in ERRORS {
        let response = problem_response(status, description, detail, &slug(name));
        components
            .responses
            .insert(name.to_owned(), RefOr::T(response));
    }
    for (path, item) in doc.paths.paths.iter_mut() {
        let unprotected =
            ["/healthz", "/readyz", "/metrics", "/openapi.json"].contains(&path.as_str());
        let admin = path.starts_with("/v1/admin");
        let ops = [
            (&mut item.get, false),
            (&mut item.put, false),
            (&mut item.patch, false),
            (&mut item.delete, false),
            (&mut item.post, true),
        ];
        for (op, post) in ops {
            let Some(op) = op.as_mut() else { continue };
            let secured = op.security.is_some();
            let body = op.request_body.is_some();
            let query = has_param(op, ParameterIn::Query, None);
            let path_params = has_param(op, ParameterIn::Path, None);
            let if_match = has_param(op, ParameterIn::Header, Some("If-Match"));
            if post && secured {
                op.parameters
                    .get_or_insert_with(Vec::new)
                    .push(idempotency_key());
                for status in ["400", "409", "413", "422"] {
                    add(op, status);
                }
            }
            if body || query || path_params || if_match {
                add(op, "400");
            }
            if secured {
                add(op, "401");
                if !admin {
                    add(op, "429");
                }
            }
            if path_params {
                add(op, "404");
            }
            if body {
                for status in ["413", "415", "422"] {
                    add(op, status);
                }
            }
            if query {
                add(op, "422");
            }
            if if_match {
                add(op, "409");
                add(op, "412");
            }
            if !unprotected {
                add(op, "503");
            }
        }
    }
    doc
}

/// The whole document, as `GET /openapi.json` serves it.
pub fn document() -> Document {
    crate::http::routes::openapi()
}

/// The document as pretty JSON with a final newline (the snapshot's form).
pub fn pretty_json(doc: &Document) -> String {
    let mut text = doc
        .to_pretty_json()
        .unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    text.push('\n');
    text
}
