//! A PostgreSQL of a test's own (`initdb` + `pg_ctl` into a temp directory, on a free loopback
//! port), for tests that stop and start the database: the shared one on 5432 serves every other
//! test and is never stopped.
//!
//! Decisions: the server binaries come from `HOOKLEDGER_TEST_PG_BIN` or the newest
//! `/usr/lib/postgresql/*/bin`; trust authentication on 127.0.0.1 only; `fsync=off` (a test's
//! data need not survive a power cut). `initdb` refuses to run as root, so as root every
//! command runs as the `postgres` user (`runuser`), who owns the directory.

use std::path::PathBuf;
use std::time::Duration;

use tokio::process::Command;

use super::cluster::free_port;
use super::{eventually, unique_id};

/// A private PostgreSQL, stopped and removed on drop.
pub struct OwnPostgres {
    pub port: u16,
    dir: PathBuf,
    bin: PathBuf,
    as_postgres: bool,
}

fn bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("HOOKLEDGER_TEST_PG_BIN") {
        return dir.into();
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL server binaries under /usr/lib/postgresql (or HOOKLEDGER_TEST_PG_BIN)")
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    found.sort();
    found
        .pop()
        .expect("an initdb under /usr/lib/postgresql/*/bin")
        .1
}

fn is_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0")
}

impl OwnPostgres {
    /// `initdb` and start; returns once the server accepts connections.
    pub async fn start() -> Self {
        let server = Self {
            port: free_port(),
            dir: std::env::temp_dir().join(format!("hookledger-pg-{}", unique_id())),
            bin: bin_dir(),
            as_postgres: is_root(),
        };
        let dir = server.dir.to_str().expect("a UTF-8 temp dir").to_owned();
        server
            .run(
                "initdb",
                &["-D", &dir, "-U", "postgres", "-A", "trust", "--no-sync"],
            )
            .await;
        server.start_again().await;
        server
    }

    /// The maintenance database's URL (creating databases is allowed).
    pub fn admin_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    async fn run(&self, tool: &str, args: &[&str]) {
        let program = self.bin.join(tool);
        let mut command = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&program);
            c
        } else {
            Command::new(&program)
        };
        let output = command
            .args(args)
            .current_dir(std::env::temp_dir())
            .output()
            .await
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", program.display()));
        assert!(
            output.status.success(),
            "{tool} {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// Starts the (stopped) server; returns once it accepts connections.
    pub async fn start_again(&self) {
        let dir = self.dir.to_str().expect("a UTF-8 temp dir");
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {dir} -c fsync=off -c max_connections=200",
            self.port
        );
        let log = format!("{dir}/server.log");
        self.run(
            "pg_ctl",
            &["-D", dir, "-l", &log, "-o", &options, "-w", "start"],
        )
        .await;
        let url = self.admin_url();
        eventually(Duration::from_secs(30), || async {
            use sqlx::Connection;
            sqlx::PgConnection::connect(&url)
                .await
                .map(drop)
                .map_err(|e| e.to_string())
        })
        .await;
    }

    /// Stops the server (`fast`: sessions are ended, nothing is waited for).
    pub async fn stop(&self) {
        let dir = self.dir.to_str().expect("a UTF-8 temp dir");
        self.run("pg_ctl", &["-D", dir, "-m", "fast", "-w", "stop"])
            .await;
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        let pg_ctl = self.bin.join("pg_ctl");
        let mut command = if self.as_postgres {
            let mut c = std::process::Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&pg_ctl);
            c
        } else {
            std::process::Command::new(&pg_ctl)
        };
        let _ = command
            .arg("-D")
            .arg(&self.dir)
            .args(["-m", "immediate", "-w", "stop"])
            .current_dir(std::env::temp_dir())
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
