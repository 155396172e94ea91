//! The read side against real NATS and PostgreSQL: views, history, the archive; plus the
//! helpers the other `projections_*` files share (they are submodules of this one).

#[path = "projections_batches.rs"]
mod batches;
#[path = "projections_cli.rs"]
mod cli;
#[path = "projections_deliveries.rs"]
mod deliveries;
#[path = "projections_rebuild.rs"]
mod rebuild;
#[path = "projections_rebuild_deliveries.rs"]
mod rebuild_deliveries;
#[path = "projections_statistics.rs"]
mod statistics;
#[path = "projections_timeline.rs"]
mod timeline;

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use hookledger_domain::catalog::{CatalogCommand, EventCatalog};
use hookledger_domain::ids::{TenantId, WebhookId, WebhookKey};
use hookledger_domain::ledger::reader::StreamKind;
use hookledger_domain::ledger::{CommandMeta, Ledger};
use hookledger_domain::secrets::{SigningSecret, generate_api_key, hash_api_key};
use hookledger_domain::tenant::{ApiKeyGrant, Tenant, TenantCommand};
use hookledger_domain::webhook::{
    EventCatalogSnapshot, EventPattern, EventTypeName, TargetUrl, Webhook, WebhookCommand,
    WebhookName, WebhookPatch, WebhookServices, WebhookSpec, WebhookStatus,
};
use hookledger_projections::webhooks::{ListFilter, WebhookRow};
use hookledger_projections::{Projections, View, archive, event_types, history, tenants, webhooks};
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::harness::TestEnv;

pub const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
pub const WAIT: Duration = Duration::from_secs(20);
pub const CATALOG: [&str; 3] = ["lead.created", "lead.won", "deal.closed"];

/// The three ledgers a test writes to.
pub struct Ledgers {
    pub webhooks: Ledger<Webhook>,
    pub tenants: Ledger<Tenant>,
    pub catalogs: Ledger<EventCatalog>,
}

impl Ledgers {
    pub async fn open(env: &TestEnv) -> Self {
        let services = WebhookServices {
            keyring: env.keyring.clone(),
        };
        Self {
            webhooks: Ledger::open(&env.nats, services).await.unwrap(),
            tenants: Ledger::open(&env.nats, ()).await.unwrap(),
            catalogs: Ledger::open(&env.nats, ()).await.unwrap(),
        }
    }

    /// Creates `tenant` with a first key (returned as its plaintext) and the test catalog.
    pub async fn tenant(&self, tenant: &str) -> String {
        let key = generate_api_key();
        let create = TenantCommand::CreateTenant {
            id: TenantId::parse(tenant).unwrap(),
            name: Some(format!("Tenant {tenant}")),
            first_key: ApiKeyGrant::for_key(&key, Some("first".into())),
        };
        self.tenants
            .execute(tenant, create, &CommandMeta::new("operator"))
            .await
            .unwrap();
        for name in CATALOG {
            let add = CatalogCommand::AddEventType {
                name: EventTypeName::parse(name).unwrap(),
                description: Some(format!("about {name}")),
                schema: (name == "lead.created").then(|| json!({"type": "object"})),
            };
            self.catalogs
                .execute(tenant, add, &CommandMeta::new("operator"))
                .await
                .unwrap();
        }
        key.plaintext
    }

    /// Runs a webhook command, returning the version it left the webhook at.
    pub async fn run(&self, tenant: &str, id: &WebhookId, command: WebhookCommand) -> u64 {
        let aggregate = WebhookKey::new(&TenantId::parse(tenant).unwrap(), id).aggregate_id();
        let meta = CommandMeta::new("key_0190f1d2c3b4a5968778695a4b3c2d1e");
        self.webhooks
            .execute(&aggregate, command, &meta)
            .await
            .unwrap()
            .version
    }

    /// Creates a webhook named `name` on `events`; returns its id.
    pub async fn webhook(&self, tenant: &str, name: &str, events: &[&str]) -> WebhookId {
        let id = WebhookId::new();
        self.run(tenant, &id, create(tenant, &id, name, events))
            .await;
        id
    }
}

pub fn catalog() -> EventCatalogSnapshot {
    EventCatalogSnapshot::new(CATALOG)
}

pub fn spec(name: &str, events: &[&str]) -> WebhookSpec {
    WebhookSpec::new(
        WebhookName::parse(name, &Default::default()).unwrap(),
        TargetUrl::parse("https://receiver.example.com/hooks", false).unwrap(),
        events
            .iter()
            .map(|e| EventPattern::parse(e).unwrap())
            .collect(),
    )
}

pub fn create(tenant: &str, id: &WebhookId, name: &str, events: &[&str]) -> WebhookCommand {
    WebhookCommand::CreateWebhook {
        tenant: TenantId::parse(tenant).unwrap(),
        id: id.clone(),
        spec: spec(name, events),
        secret: SigningSecret::parse_whsec(SECRET).unwrap(),
        status: WebhookStatus::Active,
        catalog: catalog(),
    }
}

pub fn rename(name: &str) -> WebhookCommand {
    let name = WebhookName::parse(name, &Default::default()).unwrap();
    WebhookCommand::UpdateWebhook {
        patch: WebhookPatch {
            name: Some(name),
            ..Default::default()
        },
        catalog: catalog(),
    }
}

pub fn rotate() -> WebhookCommand {
    WebhookCommand::RotateSecret {
        secret: SigningSecret::parse_whsec(SECRET).unwrap(),
        now: Utc::now(),
        grace: chrono::Duration::hours(1),
    }
}

/// Starts the projectors of `env`; cancel the token to stop them.
pub fn start(env: &TestEnv) -> (Projections, CancellationToken, TaskTracker) {
    let (shutdown, tracker) = (CancellationToken::new(), TaskTracker::new());
    let projections = hookledger_projections::spawn(
        env.nats.clone(),
        env.pool.clone(),
        shutdown.clone(),
        &tracker,
    );
    (projections, shutdown, tracker)
}

/// Waits until `view` has applied everything its stream holds now.
pub async fn caught_up(env: &TestEnv, projections: &Projections, view: View) {
    let kind = if view == View::Ledger {
        StreamKind::Ledger
    } else {
        StreamKind::Deliveries
    };
    let head = env.nats.head(kind).await.unwrap();
    projections.wait_for(view, head, WAIT).await.unwrap();
}

/// Every row of `tables`, as JSON, in a stable order.
pub async fn snapshot(pool: &PgPool, tables: &[&str]) -> BTreeMap<String, Vec<Value>> {
    let mut out = BTreeMap::new();
    for table in tables {
        let rows: Vec<(Value,)> = sqlx::query_as(&format!(
            "SELECT to_jsonb(t) FROM {table} t ORDER BY to_jsonb(t)::text"
        ))
        .fetch_all(pool)
        .await
        .unwrap();
        out.insert(
            (*table).to_owned(),
            rows.into_iter().map(|(v,)| v).collect(),
        );
    }
    out
}

/// The webhook aggregate in the JSON form of the view's row fields it determines.
pub fn aggregate_view(webhook: &Webhook, version: u64) -> Value {
    let mut spec = serde_json::to_value(webhook.spec().unwrap()).unwrap();
    spec["status"] = json!(webhook.status().as_str());
    spec["version"] = json!(version);
    spec
}

/// The same fields of a view row.
pub fn row_view(row: &WebhookRow) -> Value {
    json!({
        "name": row.name, "description": row.description, "url": row.url, "httpMethod": row.http_method,
        "events": row.events, "filter": row.filter, "headers": row.headers, "properties": row.properties,
        "retryAttempts": row.retry_attempts, "retryDelaySeconds": row.retry_delay_seconds,
        "retryPolicy": row.retry_policy, "timeoutSeconds": row.timeout_seconds, "errorsEmail": row.errors_email,
        "status": row.status, "version": row.version,
    })
}

#[tokio::test]
async fn a_written_webhook_is_in_every_view_once_wait_for_returns() {
    let env = TestEnv::new().await;
    let (projections, shutdown, tracker) = start(&env);
    let ledgers = Ledgers::open(&env).await;
    let key = ledgers.tenant("acme").await;
    ledgers.tenant("globex").await;
    let lead = ledgers.webhook("acme", "leads", &["lead.*"]).await;
    let deals = ledgers.webhook("acme", "deals", &["deal.closed"]).await;
    let other = ledgers.webhook("globex", "theirs", &["*"]).await;
    ledgers
        .run(
            "acme",
            &deals,
            WebhookCommand::PauseWebhook { reason: None },
        )
        .await;
    let version = ledgers.run("acme", &lead, rename("leads v2")).await;

    projections
        .wait_for(View::Ledger, version, WAIT)
        .await
        .unwrap();

    let row = webhooks::get(&env.pool, "acme", lead.as_str())
        .await
        .unwrap()
        .expect("the webhook");
    assert_eq!(
        (row.name.as_str(), row.status.as_str(), row.version),
        ("leads v2", "active", version as i64)
    );
    assert_eq!(row.events, ["lead.*"]);
    assert!(row.updated_at >= row.created_at);
    assert!(
        webhooks::get(&env.pool, "acme", other.as_str())
            .await
            .unwrap()
            .is_none(),
        "another tenant's webhook"
    );

    let all = webhooks::list(
        &env.pool,
        "acme",
        &ListFilter {
            limit: 1,
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!((all.total, all.data.len(), all.has_more), (2, 1, true));
    let matching = |event: &str, is_active: Option<bool>| {
        let filter = ListFilter {
            event: Some(event.into()),
            is_active,
            ..Default::default()
        };
        let pool = env.pool.clone();
        async move {
            webhooks::list(&pool, "acme", &filter)
                .await
                .unwrap()
                .data
                .into_iter()
                .map(|w| w.name)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(matching("lead.created", None).await, ["leads v2"]);
    assert_eq!(matching("lead.created.v2", None).await, ["leads v2"]);
    assert_eq!(matching("deal.closed", None).await, ["deals"]);
    assert!(matching("deal.closed", Some(true)).await.is_empty());

    let tenant = tenants::get(&env.pool, "acme").await.unwrap().unwrap();
    assert_eq!(tenant.name, "Tenant acme");
    assert_eq!(tenants::list(&env.pool, 1, 20).await.unwrap().total, 2);
    let api_key = tenants::find_api_key(&env.pool, &hash_api_key(&key))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (api_key.tenant.as_str(), api_key.revoked_at),
        ("acme", None)
    );
    let names = event_types::names(&env.pool, "acme").await.unwrap();
    assert_eq!(
        names.into_iter().collect::<Vec<_>>(),
        ["deal.closed", "lead.created", "lead.won"]
    );

    ledgers.run("acme", &lead, rotate()).await;
    let deleted = ledgers
        .run("acme", &lead, WebhookCommand::DeleteWebhook)
        .await;
    projections
        .wait_for(View::Ledger, deleted, WAIT)
        .await
        .unwrap();
    assert!(
        webhooks::get(&env.pool, "acme", lead.as_str())
            .await
            .unwrap()
            .is_none()
    );
    let items = history::list(&env.pool, "acme", lead.as_str(), 1, 100)
        .await
        .unwrap();
    let types: Vec<&str> = items.data.iter().map(|h| h.event_type.as_str()).collect();
    assert_eq!(
        types,
        [
            "webhook.created",
            "webhook.updated",
            "webhook.secret_rotated",
            "webhook.deleted"
        ]
    );
    assert_eq!(items.data[0].change["secret"], "[redacted]");
    assert_eq!(items.data[2].change["secret"], "[redacted]");
    assert!(
        !items
            .data
            .iter()
            .any(|h| h.change.to_string().contains("ciphertext"))
    );

    shutdown.cancel();
    tracker.close();
    tracker.wait().await;
}

#[tokio::test]
async fn history_as_of_random_instants_equals_the_fold_of_the_webhooks_ledger_subject() {
    let env = TestEnv::new().await;
    let (projections, shutdown, tracker) = start(&env);
    let ledgers = Ledgers::open(&env).await;
    ledgers.tenant("acme").await;
    let id = ledgers.webhook("acme", "first", &["lead.*"]).await;
    let commands = [
        rename("second"),
        WebhookCommand::PauseWebhook {
            reason: Some("maintenance".into()),
        },
        rotate(),
        WebhookCommand::ResumeWebhook,
        WebhookCommand::DisableWebhook {
            reason: "too many failures".into(),
        },
        rename("third"),
        WebhookCommand::ResumeWebhook,
        WebhookCommand::DeleteWebhook,
    ];
    for command in commands {
        ledgers.run("acme", &id, command).await;
    }
    caught_up(&env, &projections, View::Ledger).await;

    let aggregate = format!("acme.{id}");
    let entries = ledgers.webhooks.store().history(&aggregate).await.unwrap();
    let (first, last) = (entries[0].time, entries[entries.len() - 1].time);
    let span = (last - first).num_microseconds().unwrap().max(1);
    let mut instants: Vec<DateTime<Utc>> = entries
        .iter()
        .flat_map(|e| [e.time, e.time - chrono::Duration::microseconds(1)])
        .collect();
    instants.push(first - chrono::Duration::seconds(1));
    instants.push(last + chrono::Duration::seconds(1));
    let mut seed = Utc::now().timestamp_subsec_nanos() as u64 | 1;
    for _ in 0..200 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        instants.push(first + chrono::Duration::microseconds((seed % span as u64) as i64));
    }
    for at in instants {
        let at = at.trunc_subsecs(6);
        let from_sql = history::as_of(&env.pool, "acme", id.as_str(), at)
            .await
            .unwrap();
        let folded = ledgers
            .webhooks
            .store()
            .load_as_of(&aggregate, at)
            .await
            .unwrap();
        let folded = folded
            .filter(|(w, _)| w.exists())
            .map(|(w, v)| aggregate_view(&w, v));
        assert_eq!(from_sql.as_ref().map(row_view), folded, "as of {at}");
    }

    shutdown.cancel();
    tracker.close();
    tracker.wait().await;
}

#[tokio::test]
async fn an_aggregate_loaded_from_events_archive_equals_the_one_loaded_from_jetstream() {
    let env = TestEnv::new().await;
    let (projections, shutdown, tracker) = start(&env);
    let ledgers = Ledgers::open(&env).await;
    ledgers.tenant("acme").await;
    let id = ledgers.webhook("acme", "first", &["lead.*"]).await;
    for command in [
        rename("second"),
        rotate(),
        WebhookCommand::PauseWebhook { reason: None },
        rename("third"),
    ] {
        ledgers.run("acme", &id, command).await;
    }
    let gone = ledgers.webhook("acme", "gone", &["*"]).await;
    ledgers
        .run("acme", &gone, WebhookCommand::DeleteWebhook)
        .await;
    caught_up(&env, &projections, View::Ledger).await;

    for aggregate in [format!("acme.{id}"), format!("acme.{gone}")] {
        let from_sql: Webhook = archive::load(&env.pool, &aggregate).await.unwrap();
        let (from_nats, _) = ledgers.webhooks.load(&aggregate).await.unwrap();
        assert_eq!(from_sql, from_nats, "{aggregate}");
    }
    let tenant: Tenant = archive::load(&env.pool, "acme").await.unwrap();
    assert_eq!(tenant, ledgers.tenants.load("acme").await.unwrap().0);
    let catalog: EventCatalog = archive::load(&env.pool, "acme").await.unwrap();
    assert_eq!(catalog, ledgers.catalogs.load("acme").await.unwrap().0);

    shutdown.cancel();
    tracker.close();
    tracker.wait().await;
}
