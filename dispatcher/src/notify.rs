//! Telling a webhook's owner that it was disabled: an email to `errorsEmail` over SMTP
//! (lettre), and a fact on the ledger saying whether it went out.
//!
//! The fact is a `notification.recorded` event of the domain's `NotificationLog` aggregate
//! (`hookledger_domain::notification`): `sent`, `failed` (the SMTP server refused or did not
//! answer; `error` says why) or `not_sent` (no `errorsEmail`, or no SMTP server configured:
//! the notification is logged instead).

use std::time::Duration;

use hookledger_domain::ids::{TenantId, WebhookId, WebhookKey};
use hookledger_domain::ledger::{CommandMeta, Ledger, LedgerError, Nats};
use hookledger_domain::notification::{
    NotificationLog, NotificationRecorded, NotificationStatus, RecordNotification,
};
use hookledger_domain::webhook::Webhook;
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

/// How to reach the SMTP server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    /// Empty: no authentication.
    pub username: String,
    pub password: String,
    /// The sender, e.g. `hookledger <alerts@example.com>`.
    pub from: String,
    pub timeout: Duration,
}

/// Transport security towards the SMTP server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain SMTP (a local relay; tests).
    None,
    /// Upgrade with STARTTLS, refuse to continue without it.
    StartTls,
    /// TLS from the first byte (SMTPS).
    Tls,
}

/// Sends the emails and records them.
pub struct Notifier {
    mailer: Option<(AsyncSmtpTransport<Tokio1Executor>, String)>,
    log: Ledger<NotificationLog>,
}

impl Notifier {
    pub async fn new(nats: &Nats, smtp: Option<&SmtpSettings>) -> Result<Self, LedgerError> {
        let mailer = match smtp.filter(|s| !s.host.is_empty()) {
            None => None,
            Some(s) => match transport(s) {
                Ok(t) => Some((t, s.from.clone())),
                Err(e) => {
                    tracing::error!(error = %e, host = %s.host, "SMTP settings are unusable; notifications are logged only");
                    None
                }
            },
        };
        Ok(Self {
            mailer,
            log: Ledger::open(nats, ()).await?,
        })
    }

    /// Tells the owner of `webhook` (just disabled for `reason`) and records the outcome.
    pub async fn webhook_disabled(
        &self,
        tenant: &TenantId,
        id: &WebhookId,
        webhook: &Webhook,
        reason: &str,
    ) {
        let spec = webhook.spec();
        let to = spec
            .and_then(|s| s.errors_email.as_ref())
            .map(|e| e.to_string());
        let name = spec.map_or("", |s| s.name.as_str());
        let (status, error) = match (&to, &self.mailer) {
            (None, _) => (
                NotificationStatus::NotSent,
                Some("the webhook has no errorsEmail".to_owned()),
            ),
            (Some(_), None) => {
                tracing::warn!(%tenant, webhook_id = %id, %reason, "webhook disabled; no SMTP server configured, so its errorsEmail is not told");
                (
                    NotificationStatus::NotSent,
                    Some("no SMTP server is configured".to_owned()),
                )
            }
            (Some(to), Some((mailer, from))) => {
                match send(mailer, from, to, tenant, id, name, reason).await {
                    Ok(()) => (NotificationStatus::Sent, None),
                    Err(e) => {
                        tracing::warn!(%tenant, webhook_id = %id, error = %e, "the disable notification email failed");
                        (NotificationStatus::Failed, Some(e))
                    }
                }
            }
        };
        metrics::counter!("hookledger_notifications_total", "status" => match status {
            NotificationStatus::Sent => "sent",
            NotificationStatus::Failed => "failed",
            NotificationStatus::NotSent => "not_sent",
        })
        .increment(1);
        let fact = NotificationRecorded {
            webhook_id: id.clone(),
            channel: "email".into(),
            to,
            status,
            reason: reason.to_owned(),
            error,
        };
        let meta = CommandMeta::new("system");
        if let Err(e) = self
            .log
            .execute(
                &WebhookKey::new(tenant, id).aggregate_id(),
                RecordNotification(fact),
                &meta,
            )
            .await
        {
            tracing::error!(%tenant, webhook_id = %id, error = %e, "recording the notification failed");
        }
    }
}

fn transport(s: &SmtpSettings) -> Result<AsyncSmtpTransport<Tokio1Executor>, String> {
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(s.host.as_str());
    let tls = || TlsParameters::new(s.host.clone()).map_err(|e| e.to_string());
    builder = match s.tls {
        SmtpTls::None => builder.tls(Tls::None),
        SmtpTls::StartTls => builder.tls(Tls::Required(tls()?)),
        SmtpTls::Tls => builder.tls(Tls::Wrapper(tls()?)),
    };
    if !s.username.is_empty() {
        builder = builder.credentials(Credentials::new(s.username.clone(), s.password.clone()));
    }
    Ok(builder.port(s.port).timeout(Some(s.timeout)).build())
}

async fn send(
    mailer: &AsyncSmtpTransport<Tokio1Executor>,
    from: &str,
    to: &str,
    tenant: &TenantId,
    id: &WebhookId,
    name: &str,
    reason: &str,
) -> Result<(), String> {
    let body = format!(
        "Your webhook \"{name}\" ({id}) of tenant {tenant} was disabled: {reason}.\n\n\
         No deliveries are sent to it until it is resumed:\n\
         POST /v1/webhooks/{id}/resume\n\n\
         Deliveries that failed can be sent again with POST /v1/webhooks/{id}/recover?since=<time>.\n"
    );
    let message = Message::builder()
        .from(
            from.parse()
                .map_err(|e| format!("dispatcher.smtp.from: {e}"))?,
        )
        .to(to.parse().map_err(|e| format!("errorsEmail: {e}"))?)
        .subject(format!("[hookledger] webhook \"{name}\" was disabled"))
        .header(ContentType::TEXT_PLAIN)
        .body(body)
        .map_err(|e| e.to_string())?;
    mailer
        .send(message)
        .await
        .map(drop)
        .map_err(|e| e.to_string())
}
