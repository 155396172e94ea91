//! Real processes for the scale-out tests: a 3-node nats-server cluster and `hookledger serve`
//! replicas, all on loopback.
//!
//! - [`NatsCluster`]: three nats-servers (client and route ports picked free on 127.0.0.1,
//!   JetStream on each with a store directory of its own, one cluster name per test). A node
//!   can be killed (SIGKILL) and started again on its ports and store. [`NatsCluster::start`]
//!   returns once every node's JetStream answers (the meta group has a leader).
//! - [`Replica`]: `hookledger serve --roles …` (the binary from `HOOKLEDGER_TEST_BIN`, see
//!   `process::binary`) with the test's prefix, database and secrets, its API on a port of its
//!   own; SIGKILL with [`Replica::kill`]. Its log goes to a file beside the test's temp files,
//!   printed when `TEST_LOG` is set.
//!
//! Decisions: flags, not config files (each node is fully described by its command line);
//! server names `n0..n2` (JetStream clustering needs names); the nodes' stores are removed on
//! drop, like [`super::nats_server::OwnNatsServer`]'s.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::{Child, Command};

use super::app::{MASTER_KEY, OPERATOR_TOKEN, TestApp};
use super::{TestEnv, eventually, unique_id};

/// A free loopback port (bound, then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

fn nats_binary() -> String {
    std::env::var("HOOKLEDGER_TEST_NATS_SERVER_BIN").unwrap_or_else(|_| "nats-server".into())
}

struct Node {
    port: u16,
    route_port: u16,
    store: PathBuf,
    child: Option<Child>,
}

/// Three nats-servers in one JetStream cluster.
pub struct NatsCluster {
    name: String,
    nodes: Vec<Node>,
}

impl NatsCluster {
    pub async fn start() -> Self {
        let name = unique_id();
        let nodes = (0..3)
            .map(|i| Node {
                port: free_port(),
                route_port: free_port(),
                store: std::env::temp_dir().join(format!("hookledger-{name}-n{i}")),
                child: None,
            })
            .collect();
        let mut cluster = Self { name, nodes };
        for i in 0..3 {
            cluster.spawn(i);
        }
        for i in 0..3 {
            cluster.wait_for_jetstream(i).await;
        }
        cluster
    }

    /// Every node's client URL, comma-separated (what `nats.url` takes).
    pub fn url(&self) -> String {
        (0..self.nodes.len())
            .map(|i| self.node_url(i))
            .collect::<Vec<_>>()
            .join(",")
    }

    pub fn node_url(&self, i: usize) -> String {
        format!("nats://127.0.0.1:{}", self.nodes[i].port)
    }

    fn spawn(&mut self, i: usize) {
        let routes: Vec<String> = (self.nodes.iter().enumerate())
            .filter(|(j, _)| *j != i)
            .map(|(_, n)| format!("nats://127.0.0.1:{}", n.route_port))
            .collect();
        let node = &self.nodes[i];
        let child = Command::new(nats_binary())
            .args(["-a", "127.0.0.1", "-p", &node.port.to_string()])
            .args(["-n", &format!("n{i}"), "--cluster_name", &self.name])
            .args([
                "--cluster",
                &format!("nats://127.0.0.1:{}", node.route_port),
            ])
            .args(["--routes", &routes.join(",")])
            .args(["-js", "-sd"])
            .arg(&node.store)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start {} (set HOOKLEDGER_TEST_NATS_SERVER_BIN): {e}",
                    nats_binary()
                )
            });
        self.nodes[i].child = Some(child);
    }

    /// Waits until node `i` answers JetStream API calls (the cluster has a meta leader).
    pub async fn wait_for_jetstream(&self, i: usize) {
        let url = self.node_url(i);
        eventually(Duration::from_secs(30), || async {
            let client = async_nats::connect(&url).await.map_err(|e| e.to_string())?;
            let js = async_nats::jetstream::new(client);
            js.query_account()
                .await
                .map(drop)
                .map_err(|e| e.to_string())
        })
        .await;
    }

    /// SIGKILL of node `i` (no clean shutdown); waits until it is gone.
    pub async fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.nodes[i].child.take() {
            child.kill().await.expect("kill nats-server");
        }
    }

    /// Starts node `i` again on its ports and store, and waits for its JetStream.
    pub async fn restart(&mut self, i: usize) {
        self.spawn(i);
        self.wait_for_jetstream(i).await;
    }
}

impl Drop for NatsCluster {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            if let Some(child) = node.child.as_mut() {
                let _ = child.start_kill();
            }
            let _ = std::fs::remove_dir_all(&node.store);
        }
    }
}

/// One `hookledger serve` process.
pub struct Replica {
    /// Its API port (listening only with the `api` role).
    pub port: u16,
    log: PathBuf,
    child: Option<Child>,
}

impl Replica {
    /// `hookledger serve --roles <roles>` on `env`'s prefix and database, against `nats_url`
    /// with streams of `replicas` copies, plus `vars` (`HOOKLEDGER_…` overrides). Returns once
    /// `/readyz` answers 200 when `roles` has `api`, at once otherwise.
    pub async fn start(
        env: &TestEnv,
        nats_url: &str,
        replicas: usize,
        roles: &str,
        vars: &[(&str, &str)],
    ) -> Self {
        let port = free_port();
        let log = std::env::temp_dir().join(format!("hookledger-{}-{port}.log", env.id));
        let file = std::fs::File::create(&log).expect("replica log");
        let mut command = Command::new(crate::process::binary());
        command
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOOKLEDGER_NATS__URL", nats_url)
            .env("HOOKLEDGER_NATS__PREFIX", &env.id)
            .env(
                "HOOKLEDGER_NATS__EVENTS_SUBJECT",
                format!("{}-events", env.id),
            )
            .env("HOOKLEDGER_NATS__REPLICAS", replicas.to_string())
            .env("HOOKLEDGER_POSTGRES__URL", &env.database_url)
            .env("HOOKLEDGER_POSTGRES__MAX_CONNECTIONS", "4")
            .env("HOOKLEDGER_SECRETS__MASTER_KEY", MASTER_KEY)
            .env("HOOKLEDGER_HTTP__OPERATOR_TOKEN", OPERATOR_TOKEN)
            .env("HOOKLEDGER_HTTP__LISTEN", format!("127.0.0.1:{port}"))
            .env("HOOKLEDGER_DISPATCHER__ALLOW_PRIVATE_TARGETS", "true")
            .env("HOOKLEDGER_LOG__FILTER", "hookledger=info,warn");
        for (k, v) in vars {
            command.env(k, v);
        }
        command
            .args(["serve", "--roles", roles])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(file)
            .kill_on_drop(true);
        let child = command.spawn().expect("hookledger starts");
        let replica = Self {
            port,
            log,
            child: Some(child),
        };
        if roles.split(',').any(|r| r.trim() == "api") {
            replica.ready().await;
        }
        replica
    }

    /// As [`Replica::start`] on an in-process app's environment and the shared nats-server.
    pub async fn start_on(app: &TestApp, roles: &str, vars: &[(&str, &str)]) -> Self {
        Self::start(&app.env, &super::nats_url(), 1, roles, vars).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Waits until `/readyz` answers 200.
    pub async fn ready(&self) {
        let http = reqwest::Client::new();
        let url = self.url("/readyz");
        eventually(Duration::from_secs(60), || async {
            let status = (http.get(&url).send().await)
                .map_err(|e| e.to_string())?
                .status();
            if status == 200 {
                Ok(())
            } else {
                Err(format!("readyz {status}"))
            }
        })
        .await;
    }

    /// SIGKILL; waits until the process is gone.
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().await.expect("SIGKILL");
        }
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.start_kill();
        }
        if std::env::var_os("TEST_LOG").is_some()
            && let Ok(text) = std::fs::read_to_string(&self.log)
        {
            eprintln!("--- {} ---\n{text}", self.log.display());
        }
        let _ = std::fs::remove_file(&self.log);
    }
}
