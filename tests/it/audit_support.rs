//! Helpers of the `audit_*` tests: a scripted history over several tenants written through the
//! ledger with known actors and command ids, and scratch copies of a ledger (one message
//! altered, removed, or two swapped) in a stream of their own.

use std::collections::HashMap;

use futures::StreamExt;
use hookledger_api::tenancy;
use hookledger_domain::ids::{TenantId, WebhookId, WebhookKey};
use hookledger_domain::ledger::reader::StreamKind;
use hookledger_domain::ledger::{CommandMeta, Ledger, Nats};
use hookledger_domain::secrets::SigningSecret;
use hookledger_domain::tenant::Tenant;
use hookledger_domain::webhook::{Webhook, WebhookCommand, WebhookServices};

use crate::harness::{TestEnv, nats_url};
use crate::ledger::{create, rename};

/// One command that wrote a ledger message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    pub tenant: String,
    pub actor: String,
    pub command_id: String,
    pub webhook: Option<String>,
    pub sequence: u64,
    /// `tenant`, `key`, `create`, `rename`, `pause`, `resume`, `rotate`, `delete`.
    pub kind: &'static str,
}

/// What [`scripted_history`] applied.
pub struct History {
    /// In the order applied (= ledger order: each command is awaited).
    pub applied: Vec<Applied>,
    /// Every webhook ever created, with its tenant.
    pub webhooks: Vec<(String, WebhookId)>,
    /// Each tenant's API key (plaintext).
    pub keys: HashMap<String, String>,
    /// Every plaintext secret that went into the ledger (signing secrets and API keys).
    pub secrets: Vec<String>,
}

/// A reproducible xorshift generator.
pub struct Rng(pub u64);

impl Rng {
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// A fresh `whsec_` secret (44 hex characters read as base64: 33 key bytes).
fn whsec() -> String {
    let a = uuid::Uuid::new_v4().simple().to_string();
    let b = uuid::Uuid::new_v4().simple().to_string();
    format!("whsec_{a}{}", &b[..12])
}

pub const TENANTS: [&str; 3] = ["acme", "globex", "initech"];

/// Writes a history over [`TENANTS`]: each tenant created and given a second key by the
/// operator, three webhooks each, then `commands` mixed webhook commands (renames by the
/// tenant's key, pauses and resumes by `system`, secret rotations, a delete and re-create)
/// interleaved across tenants.
pub async fn scripted_history(env: &TestEnv, commands: usize) -> History {
    let tenants: Ledger<Tenant> = Ledger::open(&env.nats, ()).await.unwrap();
    let webhooks: Ledger<Webhook> = Ledger::open(
        &env.nats,
        WebhookServices {
            keyring: env.keyring.clone(),
        },
    )
    .await
    .unwrap();
    let mut history = History {
        applied: Vec::new(),
        webhooks: Vec::new(),
        keys: HashMap::new(),
        secrets: Vec::new(),
    };
    let mut n = 0;
    let mut next_id = || {
        n += 1;
        format!("cmd-{n:04}")
    };
    let mut actors = HashMap::new();
    for tenant in TENANTS {
        let id = TenantId::parse(tenant).unwrap();
        let command_id = next_id();
        let meta = CommandMeta::new("operator").with_command_id(&command_id);
        let created = tenancy::create_tenant(&tenants, id.clone(), None, &meta)
            .await
            .unwrap();
        history.secrets.push(created.api_key.key.clone());
        history.applied.push(Applied {
            tenant: tenant.into(),
            actor: "operator".into(),
            command_id,
            webhook: None,
            sequence: created.version,
            kind: "tenant",
        });
        let command_id = next_id();
        let meta = CommandMeta::new("operator").with_command_id(&command_id);
        let (key, sequence) = tenancy::issue_key(&tenants, &id, Some("audit".into()), &meta)
            .await
            .unwrap();
        history.secrets.push(key.key.clone());
        history.keys.insert(tenant.into(), key.key.clone());
        actors.insert(tenant, key.id.to_string());
        history.applied.push(Applied {
            tenant: tenant.into(),
            actor: "operator".into(),
            command_id,
            webhook: None,
            sequence,
            kind: "key",
        });
    }
    let mut live: Vec<(&str, WebhookId)> = Vec::new();
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    let mut issued = 0;
    while issued < commands + 3 * TENANTS.len() {
        let creating = live.len() < 3 * TENANTS.len();
        let (tenant, id, command, actor, kind) = if creating {
            let tenant = TENANTS[live.len() % TENANTS.len()];
            let id = WebhookId::new();
            let secret = whsec();
            history.secrets.push(secret.clone());
            live.push((tenant, id.clone()));
            history.webhooks.push((tenant.into(), id.clone()));
            let command = create(tenant, &id, &secret);
            (tenant, id, command, actors[tenant].clone(), "create")
        } else {
            let i = rng.below(live.len() as u64) as usize;
            let (tenant, id) = live[i].clone();
            let key_actor = actors[tenant].clone();
            match rng.below(10) {
                0..=3 => {
                    let command = rename(&format!("renamed {issued}"));
                    (tenant, id, command, key_actor, "rename")
                }
                4..=5 => {
                    let reason = Some(format!("pause {issued}"));
                    let command = WebhookCommand::PauseWebhook { reason };
                    (tenant, id, command, "system".into(), "pause")
                }
                6..=7 => {
                    let command = WebhookCommand::ResumeWebhook;
                    (tenant, id, command, "operator".into(), "resume")
                }
                8 => {
                    let secret = whsec();
                    history.secrets.push(secret.clone());
                    let command = WebhookCommand::RotateSecret {
                        secret: SigningSecret::parse_whsec(&secret).unwrap(),
                        now: chrono::Utc::now(),
                        grace: chrono::Duration::hours(1),
                    };
                    (tenant, id, command, key_actor, "rotate")
                }
                _ => {
                    // Deleted; a new webhook of the tenant takes its place.
                    let fresh = WebhookId::new();
                    live[i] = (tenant, fresh.clone());
                    let secret = whsec();
                    history.secrets.push(secret.clone());
                    history.webhooks.push((tenant.into(), fresh.clone()));
                    let command_id = next_id();
                    let meta = CommandMeta::new(&key_actor).with_command_id(&command_id);
                    let aggregate = WebhookKey::new(&TenantId::parse(tenant).unwrap(), &id);
                    let done = webhooks
                        .execute(
                            &aggregate.aggregate_id(),
                            WebhookCommand::DeleteWebhook,
                            &meta,
                        )
                        .await
                        .unwrap();
                    history.applied.push(Applied {
                        tenant: tenant.into(),
                        actor: key_actor.clone(),
                        command_id,
                        webhook: Some(id.to_string()),
                        sequence: done.version,
                        kind: "delete",
                    });
                    issued += 1;
                    let command = create(tenant, &fresh, &secret);
                    (tenant, fresh.clone(), command, key_actor, "create")
                }
            }
        };
        let command_id = next_id();
        let meta = CommandMeta::new(&actor).with_command_id(&command_id);
        let aggregate = WebhookKey::new(&TenantId::parse(tenant).unwrap(), &id);
        let done = webhooks
            .execute(&aggregate.aggregate_id(), command, &meta)
            .await
            .unwrap();
        issued += 1;
        if done.written {
            history.applied.push(Applied {
                tenant: tenant.into(),
                actor,
                command_id,
                webhook: Some(id.to_string()),
                sequence: done.version,
                kind,
            });
        }
    }
    history
}

/// Every message of `nats`'s ledger: `(subject, payload)`, in order.
pub async fn ledger_messages(nats: &Nats) -> Vec<(String, Vec<u8>)> {
    let read = nats
        .bounded_read(StreamKind::Ledger, vec![nats.names().ledger_all()], None)
        .await
        .unwrap();
    read.map(|m| {
        let m = m.unwrap();
        (m.subject, m.payload.to_vec())
    })
    .collect()
    .await
}

/// Publishes `messages` (subjects of `from`'s prefix) into `to`'s ledger stream, in order,
/// under `to`'s prefix: a copy of a ledger (sequences from 1 on a fresh stream).
pub async fn copy_ledger(from: &Nats, to: &Nats, messages: &[(String, Vec<u8>)]) {
    let js = async_nats::jetstream::new(async_nats::connect(nats_url()).await.unwrap());
    let old = format!("{}.", from.names().prefix());
    let new = format!("{}.", to.names().prefix());
    let mut acks = Vec::with_capacity(messages.len());
    for (subject, payload) in messages {
        let subject = subject.replacen(&old, &new, 1);
        acks.push(js.publish(subject, payload.clone().into()).await.unwrap());
    }
    for ack in acks {
        ack.await.unwrap();
    }
}
