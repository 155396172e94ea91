//! The whole hookledger process, in-process, on `127.0.0.1:0`.

use std::net::SocketAddr;
use std::ops::Deref;

use hookledger_api::{Application, Config, Roles};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::TestEnv;

pub const OPERATOR_TOKEN: &str = "test-operator-token-0123456789";
/// base64 of 32 bytes: the tests' master key.
pub const MASTER_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

pub struct TestApp {
    pub env: TestEnv,
    pub addr: SocketAddr,
    pub http: reqwest::Client,
    shutdown: CancellationToken,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

impl Deref for TestApp {
    type Target = TestEnv;
    fn deref(&self) -> &TestEnv {
        &self.env
    }
}

/// The configuration a test app runs with: the test's prefix, database and fixed secrets.
pub fn test_config(env: &TestEnv) -> Config {
    let vars = vec![
        ("HOOKLEDGER_NATS__URL".to_owned(), super::nats_url()),
        ("HOOKLEDGER_NATS__PREFIX".to_owned(), env.id.clone()),
        (
            "HOOKLEDGER_NATS__EVENTS_SUBJECT".to_owned(),
            format!("{}-events", env.id),
        ),
        (
            "HOOKLEDGER_POSTGRES__URL".to_owned(),
            env.database_url.clone(),
        ),
        (
            "HOOKLEDGER_POSTGRES__MAX_CONNECTIONS".to_owned(),
            "8".to_owned(),
        ),
        (
            "HOOKLEDGER_HTTP__OPERATOR_TOKEN".to_owned(),
            OPERATOR_TOKEN.to_owned(),
        ),
        (
            "HOOKLEDGER_SECRETS__MASTER_KEY".to_owned(),
            MASTER_KEY.to_owned(),
        ),
        (
            "HOOKLEDGER_DISPATCHER__ALLOW_PRIVATE_TARGETS".to_owned(),
            "true".to_owned(),
        ),
    ];
    Config::load_from(None, &vars).expect("test config")
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(Roles::ALL, |_| {}).await
    }

    /// As [`TestApp::spawn`], running only `roles`, with the test configuration adjusted by
    /// `configure`.
    pub async fn spawn_with(roles: Roles, configure: impl FnOnce(&mut Config)) -> Self {
        Self::spawn_on(TestEnv::new().await, roles, configure).await
    }

    /// As [`TestApp::spawn_with`], on a given environment (a test's own nats-server, say:
    /// `configure` then sets `nats.url`).
    pub async fn spawn_on(env: TestEnv, roles: Roles, configure: impl FnOnce(&mut Config)) -> Self {
        let mut config = test_config(&env);
        configure(&mut config);
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let shutdown = CancellationToken::new();
        let app = Application::build(config, Some(listener), roles, shutdown.clone())
            .await
            .expect("app builds");
        let addr = app.local_addr().expect("listening");
        let task = tokio::spawn(app.run());
        Self {
            env,
            addr,
            http: reqwest::Client::new(),
            shutdown,
            task: Some(task),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Stops the app and waits until it drained.
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(task) = self.task.take() {
            task.await.expect("app task").expect("app exits cleanly");
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}
