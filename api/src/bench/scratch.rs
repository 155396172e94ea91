//! A throw-away share of the services, for the benchmarks and the integration-test harness
//! (`tests/it/harness`): a unique id that names a NATS prefix (its streams deleted
//! afterwards with `Nats::delete_streams`) and a PostgreSQL database created beside the one
//! an admin URL names (dropped afterwards).

use std::time::Duration;

use anyhow::Context as _;
use hookledger_domain::ledger::{self, Names, Nats, StreamSettings};
use sqlx::{Connection as _, PgConnection};

use crate::Config;

/// `<tag>` followed by 48 bits of time and 48 random bits in hex: unique per run, a valid NATS
/// token and database name, at most 32 characters for a tag of up to 8.
pub fn unique_id(tag: &str) -> String {
    let hex = uuid::Uuid::now_v7().simple().to_string();
    format!("{tag}{}{}", &hex[..12], &hex[20..])
}

/// A fresh prefix `<tag>…` on the configured NATS with its streams created (delete them with
/// [`Nats::delete_streams`] afterwards); answers the connection and the prefix.
pub async fn streams(config: &Config, tag: &str) -> anyhow::Result<(Nats, String)> {
    let prefix = unique_id(tag);
    let names = Names::new(&prefix, &format!("{prefix}-events"))?;
    let wait = Duration::from_secs(config.nats.connect_timeout_seconds);
    let nats = ledger::connect(&config.nats.url, names, wait).await?;
    let settings = StreamSettings {
        replicas: config.nats.replicas,
        ..Default::default()
    };
    ledger::ensure_streams(&nats, &settings).await?;
    Ok((nats, prefix))
}

/// Runs `body` on a throw-away share (a prefix `<tag>…` with its streams, a database of the
/// same name) and removes both afterwards, whatever `body` answered; prints where it runs.
pub async fn with_share<T, F, Fut>(config: &Config, tag: &str, body: F) -> anyhow::Result<T>
where
    F: FnOnce(Nats, String, String) -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<T>>,
{
    let (nats, prefix) = streams(config, tag).await?;
    let database = prefix.replace('-', "_");
    let admin = config.postgres.url.clone();
    let result = match create_database(&admin, &database).await {
        Ok(url) => {
            println!(
                "nats-server {} at {}, prefix {prefix}; PostgreSQL database {database}",
                nats.server_version(),
                config.nats.url
            );
            let result = body(nats.clone(), prefix.clone(), url).await;
            if let Err(e) = drop_database(&admin, &database).await {
                eprintln!("could not drop the database {database}: {e:#}");
            }
            result
        }
        Err(e) => Err(e),
    };
    if let Err(e) = nats.delete_streams().await {
        eprintln!("could not delete the streams of {prefix}: {e}");
    }
    result
}

/// The URL of database `name` on the server `admin` points at.
pub fn database_url(admin: &str, name: &str) -> anyhow::Result<String> {
    let mut url = url::Url::parse(admin).context("the PostgreSQL URL is not a URL")?;
    url.set_path(&format!("/{name}"));
    Ok(url.to_string())
}

/// Creates database `name` through `admin`; answers its URL.
pub async fn create_database(admin: &str, name: &str) -> anyhow::Result<String> {
    let mut conn = PgConnection::connect(admin)
        .await
        .with_context(|| format!("connecting to PostgreSQL at {admin} to create a database"))?;
    sqlx::query(&format!("CREATE DATABASE \"{name}\""))
        .execute(&mut conn)
        .await
        .with_context(|| format!("CREATE DATABASE {name}"))?;
    conn.close().await.ok();
    database_url(admin, name)
}

/// Drops database `name` (ending its sessions); nothing when it does not exist.
pub async fn drop_database(admin: &str, name: &str) -> anyhow::Result<()> {
    let mut conn = PgConnection::connect(admin).await?;
    sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .execute(&mut conn)
        .await?;
    conn.close().await.ok();
    Ok(())
}
