//! A real headless Chromium, driven over WebDriver (chromedriver + fantoccini), for the
//! console tests.
//!
//! [`Browser::start`] starts a chromedriver on a free port for the test, and through it a
//! Chromium with a fresh profile (`--user-data-dir` in a temporary folder) and the flags that
//! keep it quiet on a closed network (no background networking, component updates, sync or
//! QUIC; without them Chromium stalls). Both stop when the value drops.
//!
//! When Debian's `chromium` / `chromium-driver` are not installed, it returns `None` after a
//! loud message, unless `HOOKLEDGER_TEST_REQUIRE_BROWSER` is set (scripts/test sets it after
//! installing them), in which case it panics: CI never skips the browser tests silently.
//!
//! [`Browser::screenshot`] writes `target/console-screenshots/<name>.png`.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};
use tokio::process::{Child, Command};

use super::eventually;

/// How long a page or element may take to appear.
pub const PAGE: Duration = Duration::from_secs(15);

pub struct Browser {
    pub client: Client,
    driver: Child,
    profile: PathBuf,
}

fn find(candidates: &[&str]) -> Option<PathBuf> {
    candidates.iter().find_map(|name| {
        let path = Path::new(name);
        if path.is_absolute() {
            return path.exists().then(|| path.to_owned());
        }
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(name))
                .find(|p| p.exists())
        })
    })
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Where screenshots go: `<workspace>/target/console-screenshots`.
pub fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("console-screenshots")
}

impl Browser {
    /// A browser for one test, or `None` (after a loud message) when Chromium is absent and
    /// not required.
    pub async fn start() -> Option<Self> {
        let chromium = find(&["chromium", "chromium-browser", "/usr/bin/chromium"]);
        let driver = find(&["chromedriver", "/usr/bin/chromedriver"]);
        let (Some(chromium), Some(driver)) = (chromium, driver) else {
            if std::env::var_os("HOOKLEDGER_TEST_REQUIRE_BROWSER").is_some() {
                panic!(
                    "HOOKLEDGER_TEST_REQUIRE_BROWSER is set but chromium/chromedriver are not \
                     installed (apt-get install -y chromium chromium-driver)"
                );
            }
            eprintln!(
                "\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\
                 !! SKIPPING A BROWSER TEST: chromium and chromedriver are not installed.     !!\n\
                 !! Install them (apt-get install -y chromium chromium-driver) or run          !!\n\
                 !! scripts/test, which does, and sets HOOKLEDGER_TEST_REQUIRE_BROWSER=1.      !!\n\
                 !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n"
            );
            return None;
        };
        let port = free_port();
        let driver = Command::new(&driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver starts");
        let url = format!("http://127.0.0.1:{port}");
        eventually(PAGE, || async {
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .map(drop)
                .map_err(|e| format!("chromedriver on {port}: {e}"))
        })
        .await;
        let profile =
            std::env::temp_dir().join(format!("hookledger-chromium-{}", super::unique_id()));
        std::fs::create_dir_all(&profile).expect("profile folder");
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--window-size=1280,900",
            &format!("--user-data-dir={}", profile.display()),
        ];
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({"binary": chromium.to_string_lossy(), "args": args}),
        );
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(caps)
            .connect(&url)
            .await
            .expect("a Chromium session through chromedriver");
        Some(Self {
            client,
            driver,
            profile,
        })
    }

    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.expect("navigates");
    }

    /// The element matching `css`, waiting for it to appear.
    pub async fn find(&self, css: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(PAGE)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element {css:?} within {PAGE:?}: {e}"))
    }

    /// The text of the element matching `css`.
    pub async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.expect("element text")
    }

    /// Types into the field matching `css` (after clearing it).
    pub async fn fill(&self, css: &str, value: &str) {
        let field = self.find(css).await;
        field.clear().await.expect("clears");
        field.send_keys(value).await.expect("types");
    }

    pub async fn click(&self, css: &str) {
        self.find(css).await.click().await.expect("clicks");
    }

    /// True when something matches `css` now.
    pub async fn has(&self, css: &str) -> bool {
        !self
            .client
            .find_all(Locator::Css(css))
            .await
            .expect("finds")
            .is_empty()
    }

    pub async fn current_path(&self) -> String {
        let url = self.client.current_url().await.expect("current url");
        match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        }
    }

    /// Runs `script` in the page (WebDriver's execute, not subject to the page's CSP).
    pub async fn run(&self, script: &str) -> Value {
        self.client
            .execute(script, vec![])
            .await
            .expect("script runs")
    }

    /// Writes a PNG of the viewport to `target/console-screenshots/<name>.png`.
    pub async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.expect("screenshot");
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).expect("screenshot folder");
        std::fs::write(dir.join(format!("{name}.png")), png).expect("screenshot written");
    }

    /// Ends the WebDriver session (Chromium exits), then chromedriver.
    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill().await;
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.start_kill();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}
