//! One HTTP attempt: send the signed request, classify what happened.
//!
//! The result is data ([`AttemptResult`]): a closed [`AttemptOutcome`] code, the status, the
//! latency (until the response head arrived), a short error text for people, the start of the
//! response body (at most `response_excerpt_bytes`, cut at a character boundary), the
//! response headers (bounded, see [`response_headers`]) and the receiver's `Retry-After`.
//! Nothing here decides about retries ([`crate::retry`]) or writes facts ([`crate::process`]).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::Utc;
use hookledger_domain::cause::one_line;
use hookledger_domain::delivery::{AttemptOutcome, AttemptRecord};
use hookledger_domain::webhook::HttpMethod;

use crate::client::{DnsFailure, ForbiddenTarget, check_literal_host};
use crate::retry::{AttemptSummary, parse_retry_after};

/// A request ready to send.
#[derive(Debug, Clone)]
pub struct HttpRequest {
    pub method: HttpMethod,
    pub url: url::Url,
    /// Every header: content type, custom headers, signature headers.
    pub headers: reqwest::header::HeaderMap,
    pub body: Bytes,
    pub timeout: Duration,
}

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptResult {
    pub outcome: AttemptOutcome,
    pub status: Option<u16>,
    pub latency: Duration,
    pub error: Option<String>,
    pub response_body: Option<String>,
    /// The response's headers as [`response_headers`] bounds them; empty without a response.
    pub response_headers: BTreeMap<String, String>,
    pub retry_after: Option<Duration>,
}

/// The most bytes of one response header's value an attempt keeps: a receiver's headers land
/// in a fact, a projection row and a page, so a runaway cookie must not make them large.
pub const MAX_HEADER_VALUE: usize = 1024;

impl AttemptResult {
    /// A result without a request (paused webhook, refused target).
    pub fn not_sent(outcome: AttemptOutcome, error: impl Into<String>) -> Self {
        Self {
            outcome,
            status: None,
            latency: Duration::ZERO,
            error: Some(error.into()),
            response_body: None,
            response_headers: BTreeMap::new(),
            retry_after: None,
        }
    }

    /// What the retry policy needs to know.
    pub fn summary(&self) -> AttemptSummary {
        AttemptSummary {
            outcome: self.outcome,
            status: self.status,
            retry_after: self.retry_after,
        }
    }
}

/// Sends `request` once. Never fails: every failure is an outcome.
pub async fn send(
    client: &reqwest::Client,
    request: HttpRequest,
    allow_private: bool,
    excerpt_bytes: usize,
) -> AttemptResult {
    if let Err(refused) = check_literal_host(&request.url, allow_private) {
        return AttemptResult::not_sent(AttemptOutcome::RefusedTarget, refused.to_string());
    }
    let method = match request.method {
        HttpMethod::Post => reqwest::Method::POST,
        HttpMethod::Put => reqwest::Method::PUT,
        HttpMethod::Patch => reqwest::Method::PATCH,
    };
    // The request is made whole, not through a builder: one header map, moved in.
    let mut http = reqwest::Request::new(method, request.url);
    *http.headers_mut() = request.headers;
    *http.body_mut() = Some(request.body.into());
    *http.timeout_mut() = Some(request.timeout);
    let started = Instant::now();
    let mut response = match client.execute(http).await {
        Ok(response) => response,
        Err(error) => {
            let (outcome, text) = classify(&error);
            let mut result = AttemptResult::not_sent(outcome, text);
            result.latency = started.elapsed();
            return result;
        }
    };
    let latency = started.elapsed();
    let status = response.status().as_u16();
    let retry_after = (response.headers().get(reqwest::header::RETRY_AFTER))
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, Utc::now()));
    let response_headers = response_headers(response.headers());
    let mut head = Vec::new();
    let mut body_error = None;
    while head.len() < excerpt_bytes {
        match response.chunk().await {
            Ok(Some(chunk)) => head.extend_from_slice(&chunk),
            Ok(None) => break,
            Err(e) => {
                body_error = Some(format!("reading the response body: {}", one_line(&e)));
                break;
            }
        }
    }
    let outcome = match status {
        200..=299 => AttemptOutcome::Success,
        410 => AttemptOutcome::Gone,
        _ => AttemptOutcome::HttpError,
    };
    let error = match outcome {
        AttemptOutcome::Success => None,
        _ => Some(format!("HTTP {status}")),
    };
    AttemptResult {
        outcome,
        status: Some(status),
        latency,
        error: error.or(body_error),
        response_body: (!head.is_empty()).then(|| excerpt(&head, excerpt_bytes)),
        response_headers,
        retry_after,
    }
}

/// The headers an attempt keeps of a response: the first
/// [`AttemptRecord::MAX_RESPONSE_HEADERS`] names in the order the response sent them (later
/// ones dropped, so the bound cannot push out the headers a receiver sends first, like
/// `content-type`), each name once with its values joined by `, ` (how HTTP reads a repeated
/// header; `set-cookie` is the exception HTTP knows, kept joined too so the shape stays one
/// string per name), the joined value cut at [`MAX_HEADER_VALUE`] bytes at a character
/// boundary, invalid UTF-8 replaced. Names are lower-case: `http` parses them so.
pub fn response_headers(headers: &reqwest::header::HeaderMap) -> BTreeMap<String, String> {
    let mut kept = BTreeMap::new();
    // `keys()` yields each name once; `HeaderMap` keeps its entries in a vector in insertion
    // order, and hyper inserts them as they arrive, so this is the response's order.
    for name in headers.keys().take(AttemptRecord::MAX_RESPONSE_HEADERS) {
        let mut joined = Vec::new();
        for (i, value) in headers.get_all(name).iter().enumerate() {
            if i > 0 {
                joined.extend_from_slice(b", ");
            }
            joined.extend_from_slice(value.as_bytes());
            if joined.len() > MAX_HEADER_VALUE {
                break;
            }
        }
        kept.insert(name.as_str().to_owned(), excerpt(&joined, MAX_HEADER_VALUE));
    }
    kept
}

/// The outcome of a request that got no response, and what to tell people about it.
fn classify(error: &reqwest::Error) -> (AttemptOutcome, String) {
    let text = one_line(error);
    if error.is_timeout() {
        return (AttemptOutcome::Timeout, text);
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = source {
        if e.downcast_ref::<ForbiddenTarget>().is_some() {
            return (AttemptOutcome::RefusedTarget, text);
        }
        if e.downcast_ref::<DnsFailure>().is_some() {
            return (AttemptOutcome::Dns, text);
        }
        source = e.source();
    }
    (AttemptOutcome::Connect, text)
}

/// The first `max` bytes of `body` as text, cut at a character boundary, invalid UTF-8
/// replaced.
pub fn excerpt(body: &[u8], max: usize) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(max + 4)]);
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_excerpt_is_bounded_and_cut_at_a_character_boundary() {
        assert_eq!(excerpt(b"hello", 3), "hel");
        assert_eq!(excerpt("ééé".as_bytes(), 3), "é");
        assert_eq!(excerpt(&[0xff, b'a'], 10), "\u{fffd}a");
    }

    #[test]
    fn response_headers_keep_the_first_names_join_repeats_and_cut_long_values() {
        use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
        let mut headers = HeaderMap::new();
        headers.append("set-cookie", HeaderValue::from_static("a=1"));
        headers.append("x-first", HeaderValue::from_static("one"));
        headers.append("set-cookie", HeaderValue::from_static("b=2"));
        headers.append("x-bytes", HeaderValue::from_bytes(b"caf\xe9").unwrap());
        let long = format!("{}é", "v".repeat(MAX_HEADER_VALUE - 1));
        headers.append("x-long", HeaderValue::from_str(&long).unwrap());
        for i in 0..AttemptRecord::MAX_RESPONSE_HEADERS {
            let name = HeaderName::try_from(format!("x-more-{i:02}")).unwrap();
            headers.append(name, HeaderValue::from_static("m"));
        }

        let kept = response_headers(&headers);
        assert_eq!(kept.len(), AttemptRecord::MAX_RESPONSE_HEADERS);
        assert_eq!(kept["set-cookie"], "a=1, b=2");
        assert_eq!(kept["x-first"], "one");
        assert_eq!(kept["x-bytes"], "caf\u{fffd}");
        assert_eq!(
            kept["x-long"],
            "v".repeat(MAX_HEADER_VALUE - 1),
            "cut before the é"
        );
        let last = AttemptRecord::MAX_RESPONSE_HEADERS - 4;
        assert!(kept.contains_key(&format!("x-more-{:02}", last - 1)));
        assert!(
            !kept.contains_key(&format!("x-more-{last:02}")),
            "names past the bound are dropped, the first ones kept"
        );
    }

    #[tokio::test]
    async fn an_answer_keeps_its_headers_with_lower_case_names() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let _serve = tokio::spawn(async move {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut buf = vec![0; 4096];
            let _ = socket.read(&mut buf).await;
            let answer = b"HTTP/1.1 503 Service Unavailable\r\nX-Receiver: One\r\n\
                Set-Cookie: a=1\r\nSet-Cookie: b=2\r\nContent-Length: 4\r\n\r\nbusy";
            socket.write_all(answer).await.unwrap();
        });
        let request = HttpRequest {
            method: HttpMethod::Post,
            url: url::Url::parse(&format!("http://{addr}/hook")).unwrap(),
            headers: Default::default(),
            body: Bytes::from_static(b"{}"),
            timeout: Duration::from_secs(5),
        };
        let client = crate::client::build(true).unwrap();
        let result = send(&client, request, true, 100).await;
        assert_eq!(result.status, Some(503), "{result:?}");
        assert_eq!(result.response_headers["x-receiver"], "One");
        assert_eq!(result.response_headers["set-cookie"], "a=1, b=2");
        assert_eq!(result.response_headers["content-length"], "4");
    }

    #[tokio::test]
    async fn a_refused_literal_target_is_not_sent() {
        let client = crate::client::build(false).unwrap();
        let request = HttpRequest {
            method: HttpMethod::Post,
            url: url::Url::parse("http://127.0.0.1:9/hook").unwrap(),
            headers: Default::default(),
            body: Bytes::new(),
            timeout: Duration::from_secs(1),
        };
        let result = send(&client, request.clone(), false, 100).await;
        assert_eq!(result.outcome, AttemptOutcome::RefusedTarget);
        let named = HttpRequest {
            url: url::Url::parse("http://localhost:9/hook").unwrap(),
            ..request.clone()
        };
        assert_eq!(
            send(&client, named, false, 100).await.outcome,
            AttemptOutcome::RefusedTarget
        );
        let allowed = send(&crate::client::build(true).unwrap(), request, true, 100).await;
        assert_eq!(allowed.outcome, AttemptOutcome::Connect, "{allowed:?}");
    }

    #[tokio::test]
    async fn a_silent_server_is_a_timeout() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let _hold = tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                held.push(socket);
            }
        });
        let request = HttpRequest {
            method: HttpMethod::Post,
            url: url::Url::parse(&format!("http://{addr}/hook")).unwrap(),
            headers: [(
                reqwest::header::CONTENT_TYPE,
                reqwest::header::HeaderValue::from_static("application/json"),
            )]
            .into_iter()
            .collect(),
            body: Bytes::from_static(b"{}"),
            timeout: Duration::from_millis(200),
        };
        let result = send(&crate::client::build(true).unwrap(), request, true, 100).await;
        assert_eq!(result.outcome, AttemptOutcome::Timeout, "{result:?}");
        assert!(
            result.response_headers.is_empty(),
            "no response, no headers"
        );
    }
}
