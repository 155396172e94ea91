//! A nats-server of a test's own, on a free port, for tests that stop and restart the server.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

/// A private nats-server with JetStream and a store directory that survives restarts.
pub struct OwnNatsServer {
    pub port: u16,
    store: PathBuf,
    child: Option<Child>,
}

fn binary() -> String {
    std::env::var("HOOKLEDGER_TEST_NATS_SERVER_BIN").unwrap_or_else(|_| "nats-server".into())
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

impl OwnNatsServer {
    pub async fn start() -> Self {
        let store = std::env::temp_dir().join(format!("hookledger-nats-{}", super::unique_id()));
        let mut server = Self {
            port: free_port(),
            store,
            child: None,
        };
        server.spawn().await;
        server
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    async fn spawn(&mut self) {
        let child = Command::new(binary())
            .args([
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-js",
                "-sd",
            ])
            .arg(&self.store)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start {} (set HOOKLEDGER_TEST_NATS_SERVER_BIN): {e}",
                    binary()
                )
            });
        self.child = Some(child);
        let addr = format!("127.0.0.1:{}", self.port);
        super::eventually(Duration::from_secs(10), || async {
            tokio::net::TcpStream::connect(&addr)
                .await
                .map(drop)
                .map_err(|e| e.to_string())
        })
        .await;
    }

    /// Kills the server (SIGKILL: no clean shutdown) and starts it again on the same port and
    /// store.
    pub async fn restart(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().await.expect("kill nats-server");
        }
        self.spawn().await;
    }
}

impl Drop for OwnNatsServer {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.start_kill();
        }
        let _ = std::fs::remove_dir_all(&self.store);
    }
}
