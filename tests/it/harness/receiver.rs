//! `TestReceiver`: a real HTTP server on `127.0.0.1:0` that webhooks deliver to. It records
//! every request as it arrives (method, path, headers, body, arrival instant) and answers each
//! one with the next scripted [`Reply`], or its path's reply, or the default reply once the
//! script is used up; a reply can be delayed (a slow receiver) past the webhook's timeout (a
//! timing-out one). Paths let one receiver (one `host:port`) play several receivers.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// How the receiver answers one request.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub delay: Duration,
    pub body: String,
    pub headers: Vec<(String, String)>,
}

impl Reply {
    /// An immediate answer with `status` and a short body.
    pub fn status(status: u16) -> Self {
        Self {
            status,
            delay: Duration::ZERO,
            body: format!("status {status}"),
            headers: Vec::new(),
        }
    }

    /// The same answer, after `delay`.
    pub fn after(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// The same answer with a header.
    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }
}

/// One request as received.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
    pub at: Instant,
}

impl Received {
    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("a delivery body is JSON")
    }

    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

#[derive(Default)]
struct Inner {
    log: Mutex<Vec<Received>>,
    script: Mutex<VecDeque<Reply>>,
    paths: Mutex<HashMap<String, Reply>>,
    default: Mutex<Option<Reply>>,
}

/// See the module docs. The server stops when the value drops.
pub struct TestReceiver {
    pub addr: SocketAddr,
    inner: Arc<Inner>,
    task: JoinHandle<()>,
}

impl TestReceiver {
    /// A receiver answering 200 to everything.
    pub async fn start() -> Self {
        Self::replying(Reply::status(200)).await
    }

    /// A receiver answering `default` unless scripted otherwise.
    pub async fn replying(default: Reply) -> Self {
        let inner = Arc::new(Inner::default());
        *inner.default.lock().unwrap() = Some(default);
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind receiver");
        let addr = listener.local_addr().expect("receiver address");
        let app = Router::new().fallback(handle).with_state(inner.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { addr, inner, task }
    }

    /// The next requests are answered with `replies`, in order.
    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        self.inner.script.lock().unwrap().extend(replies);
    }

    /// Every later request (once the script is used up) is answered with `reply`.
    pub fn set_default(&self, reply: Reply) {
        *self.inner.default.lock().unwrap() = Some(reply);
    }

    /// Every later request to `path` (once the script is used up) is answered with `reply`.
    pub fn on_path(&self, path: &str, reply: Reply) {
        self.inner
            .paths
            .lock()
            .unwrap()
            .insert(path.to_owned(), reply);
    }

    /// The requests so far to `path`.
    pub fn received_on(&self, path: &str) -> Vec<Received> {
        let log = self.inner.log.lock().unwrap();
        log.iter().filter(|r| r.path == path).cloned().collect()
    }

    /// The URL of `path` on this receiver.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Every request so far, in arrival order.
    pub fn received(&self) -> Vec<Received> {
        self.inner.log.lock().unwrap().clone()
    }

    pub fn count(&self) -> usize {
        self.inner.log.lock().unwrap().len()
    }

    /// Waits until at least `n` requests arrived; returns them.
    #[track_caller]
    pub fn wait_for(&self, n: usize, within: Duration) -> impl Future<Output = Vec<Received>> + '_ {
        super::eventually(within, move || async move {
            let got = self.received();
            if got.len() >= n {
                Ok(got)
            } else {
                Err(format!("{} of {n} requests", got.len()))
            }
        })
    }
}

impl Drop for TestReceiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn handle(State(inner): State<Arc<Inner>>, request: Request) -> Response {
    let at = Instant::now();
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 16 * 1024 * 1024)
        .await
        .unwrap_or_default();
    let path = parts.uri.path().to_owned();
    let for_path = inner.paths.lock().unwrap().get(&path).cloned();
    inner.log.lock().unwrap().push(Received {
        method: parts.method.to_string(),
        path,
        headers: parts.headers,
        body,
        at,
    });
    let reply = {
        let next = inner.script.lock().unwrap().pop_front();
        next.or(for_path)
            .or_else(|| inner.default.lock().unwrap().clone())
            .unwrap_or_else(|| Reply::status(200))
    };
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, reply.body).into_response();
    for (name, value) in reply.headers {
        if let (Ok(name), Ok(value)) = (
            axum::http::HeaderName::try_from(name),
            axum::http::HeaderValue::try_from(value),
        ) {
            response.headers_mut().insert(name, value);
        }
    }
    response
}
