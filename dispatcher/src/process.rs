//! One attempt of one delivery, from the job to the facts: the path every trigger takes
//! (routed events, retries, redeliveries, recoveries, tests).
//!
//! 1. [`Inner::send`]: load-checked webhook → body `{id, type, timestamp, data,
//!    ...properties}` → Standard Webhooks signature with every live secret (its key opened
//!    once, [`crate::keys`]) → HTTP ([`crate::attempt`]). A webhook that is paused, disabled or
//!    deleted when the attempt comes due is not sent to: the outcome is `paused`.
//! 2. [`Inner::conclude`]: the retry verdict ([`crate::retry::next`]), then
//!    `delivery.attempted` (with `nextAttemptAt`, or `closes` when it is the last attempt) is
//!    published **and acknowledged**, then what follows: the next job (at once, or held as a
//!    scheduled message), or the circuit breaker. One fact per attempt: the last one ends the
//!    delivery itself, so a delivery that succeeds first time costs one write. Only after all of it
//!    does the worker ack the job, so a crash anywhere repeats the attempt and the facts'
//!    message ids keep each fact once.

use chrono::Utc;
use hookledger_domain::delivery::{
    AttemptOutcome, AttemptRecord, DeliveryClosed, DeliveryEnd, DeliveryFact, DeliveryTrigger,
};
use hookledger_domain::ids::{DeliveryId, TenantId, WebhookId, WebhookKey};
use hookledger_domain::ledger::{CommandMeta, LedgerError};
use hookledger_domain::webhook::{
    CustomHeaders, RetrySettings, Webhook, WebhookCommand, secret_aad,
};
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};

use crate::attempt::{self, AttemptResult, HttpRequest};
use crate::breaker::Trip;
use crate::handle::{Redelivery, due};
use crate::job::{EventBody, Job};
use crate::retry::{self, Verdict};
use crate::signing::{self, SignatureHeaders};
use crate::{DispatchError, Inner};

impl Inner {
    /// The webhook as the ledger has it now (`None` when it never existed).
    pub(crate) async fn load(
        &self,
        tenant: &TenantId,
        id: &WebhookId,
    ) -> Result<Option<Webhook>, LedgerError> {
        let (webhook, version) = self
            .webhooks
            .load(&WebhookKey::new(tenant, id).aggregate_id())
            .await?;
        Ok((version > 0).then_some(webhook))
    }

    /// Makes the HTTP attempt of `job` (or finds it must not be made).
    pub(crate) async fn send(
        &self,
        job: &Job,
        webhook: Option<&Webhook>,
    ) -> Result<AttemptResult, DispatchError> {
        let Some((webhook, spec)) = webhook
            .filter(|w| w.exists())
            .and_then(|w| w.spec().map(|s| (w, s)))
        else {
            return Ok(AttemptResult::not_sent(
                AttemptOutcome::Paused,
                "the webhook was deleted",
            ));
        };
        if !webhook.status().is_active() && job.trigger != DeliveryTrigger::Test {
            let status = webhook.status().as_str();
            return Ok(AttemptResult::not_sent(
                AttemptOutcome::Paused,
                format!("the webhook is {status}"),
            ));
        }
        let aad = secret_aad(&job.tenant, &job.webhook_id);
        let keys = (webhook.signing_secrets_at(Utc::now()).into_iter())
            .map(|sealed| self.keys.key(sealed, &aad))
            .collect::<Result<Vec<_>, _>>()?;
        let body = job.render(&spec.properties);
        let signed = signing::sign(
            job.event.id.as_str(),
            Utc::now().timestamp(),
            &body,
            keys.iter().map(|key| &**key),
        );
        let headers = match request_headers(&spec.headers, signed) {
            Ok(headers) => headers,
            Err(error) => return Ok(AttemptResult::not_sent(AttemptOutcome::Connect, error)),
        };
        let request = HttpRequest {
            method: spec.http_method,
            url: spec.url.url().clone(),
            headers,
            body: body.into(),
            timeout: spec.timeout_seconds.as_duration(),
        };
        let settings = &self.settings;
        let excerpt = settings
            .response_excerpt_bytes
            .min(AttemptRecord::MAX_RESPONSE_BODY);
        Ok(attempt::send(
            &self.client,
            request,
            settings.allow_private_targets,
            excerpt,
        )
        .await)
    }

    /// Records the attempt and does what follows it; returns the verdict.
    pub(crate) async fn conclude(
        &self,
        job: &Job,
        policy: &RetrySettings,
        result: &AttemptResult,
    ) -> Result<Verdict, LedgerError> {
        let verdict = match job.trigger {
            DeliveryTrigger::Test if result.outcome.is_success() => Verdict::Succeeded,
            DeliveryTrigger::Test => Verdict::GiveUp { disable: false },
            _ => {
                let cap = self.settings.max_retry_delay;
                let jitter = rand::random::<f64>();
                retry::next(policy, job.run_attempt(), &result.summary(), cap, jitter)
            }
        };
        let record = AttemptRecord {
            delivery_id: job.delivery_id.clone(),
            tenant: job.tenant.clone(),
            webhook_id: job.webhook_id.clone(),
            event_id: job.event.id.clone(),
            event_type: job.event.event_type.clone(),
            attempt: job.attempt,
            at: Utc::now(),
            outcome: result.outcome,
            response_status: result.status,
            latency_ms: u64::try_from(result.latency.as_millis()).unwrap_or(u64::MAX),
            error: result.error.clone(),
            response_body: result.response_body.clone(),
            next_attempt_at: match verdict {
                Verdict::Retry(delay) => Some(due(delay)),
                _ => None,
            },
            trigger: job.trigger,
            response_headers: result.response_headers.clone(),
            closes: match verdict {
                Verdict::Retry(_) => None,
                Verdict::Succeeded => Some(DeliveryEnd::Succeeded),
                Verdict::GiveUp { .. } => Some(DeliveryEnd::Failed),
            },
        };
        let labels = [
            ("outcome", result.outcome.as_str()),
            ("trigger", trigger_label(job.trigger)),
        ];
        metrics::counter!("hookledger_delivery_attempts_total", &labels).increment(1);
        metrics::histogram!("hookledger_delivery_attempt_seconds", "outcome" => result.outcome.as_str())
            .record(result.latency.as_secs_f64());
        let fact = DeliveryFact::Attempted(record);
        self.nats.record_fact(&fact, job.event_sequence).await?;
        let DeliveryFact::Attempted(record) = &fact else {
            unreachable!("made as an attempt above")
        };
        self.follow_up(job, record, verdict).await?;
        Ok(verdict)
    }

    /// Continues a job whose attempt was recorded before a crash, without sending again.
    pub(crate) async fn resume(
        &self,
        job: &Job,
        record: &AttemptRecord,
    ) -> Result<(), LedgerError> {
        let verdict = match (record.next_attempt_at, record.closes, record.outcome) {
            (Some(at), _, _) => Verdict::Retry((at - Utc::now()).to_std().unwrap_or_default()),
            (None, Some(DeliveryEnd::Succeeded), _) | (None, None, AttemptOutcome::Success) => {
                Verdict::Succeeded
            }
            (None, _, outcome) => Verdict::GiveUp {
                disable: outcome == AttemptOutcome::Gone,
            },
        };
        tracing::debug!(
            attempt = job.attempt,
            "attempt was recorded before; continuing from its fact"
        );
        self.follow_up(job, record, verdict).await
    }

    /// After the attempt's fact: the next job, or the end of the delivery and the breaker. An
    /// attempt that `closes` its delivery was its closing fact; one recorded before attempts
    /// carried it (resumed after a crash) gets a separate `delivery.succeeded`/`failed`.
    async fn follow_up(
        &self,
        job: &Job,
        record: &AttemptRecord,
        verdict: Verdict,
    ) -> Result<(), LedgerError> {
        let names = self.nats.names();
        let closed = || DeliveryClosed {
            delivery_id: job.delivery_id.clone(),
            tenant: job.tenant.clone(),
            webhook_id: job.webhook_id.clone(),
            event_id: job.event.id.clone(),
            event_type: job.event.event_type.clone(),
            attempts: job.attempt,
            at: Utc::now(),
            reason: None,
        };
        let counts = !matches!(job.trigger, DeliveryTrigger::Test);
        match verdict {
            Verdict::Retry(_) => {
                let next = job.next();
                let message = match record.next_attempt_at {
                    Some(at) if at > Utc::now() => next.scheduled(names, at),
                    _ => next.message(names, next.later_msg_id()),
                };
                self.nats.publish(message).await?;
            }
            Verdict::Succeeded => {
                if record.closes.is_none() {
                    let fact = DeliveryFact::Succeeded(closed());
                    self.nats.record_fact(&fact, job.event_sequence).await?;
                }
                metrics::counter!("hookledger_deliveries_total", "result" => "succeeded")
                    .increment(1);
                if counts {
                    self.breaker.succeeded(&job.tenant, &job.webhook_id).await;
                }
            }
            Verdict::GiveUp { disable } => {
                if record.closes.is_none() {
                    let fact = DeliveryFact::Failed(DeliveryClosed {
                        reason: Some(record.outcome),
                        ..closed()
                    });
                    self.nats.record_fact(&fact, job.event_sequence).await?;
                }
                metrics::counter!("hookledger_deliveries_total", "result" => "failed").increment(1);
                if counts
                    && record.outcome != AttemptOutcome::Paused
                    && let Some(trip) = (self.breaker)
                        .failed(&job.tenant, &job.webhook_id, &job.delivery_id, disable)
                        .await
                {
                    self.trip(&job.tenant, &job.webhook_id, trip).await;
                }
            }
        }
        Ok(())
    }

    /// Disables the webhook through the ledger (actor `system`) and notifies its owner, once.
    async fn trip(&self, tenant: &TenantId, id: &WebhookId, trip: Trip) {
        let reason = trip.reason();
        let command = WebhookCommand::DisableWebhook {
            reason: reason.clone(),
        };
        let meta = CommandMeta::new("system");
        match self
            .webhooks
            .execute(&WebhookKey::new(tenant, id).aggregate_id(), command, &meta)
            .await
        {
            Ok(committed) if committed.written => {
                tracing::warn!(%tenant, webhook_id = %id, %reason, "webhook disabled by the circuit breaker");
                metrics::counter!("hookledger_webhooks_disabled_total", "reason" => trip.label())
                    .increment(1);
                (self.notifier)
                    .webhook_disabled(tenant, id, &committed.aggregate, &reason)
                    .await;
            }
            Ok(_) => tracing::debug!(%tenant, webhook_id = %id, "webhook was disabled already"),
            Err(error) => {
                let error = DispatchError::Disable(Box::new(error));
                tracing::error!(%tenant, webhook_id = %id, %error, "circuit breaker could not disable the webhook");
            }
        }
    }

    /// Queues the next attempt of a recorded delivery now (redeliver, recover).
    pub(crate) async fn queue_again(
        &self,
        tenant: &TenantId,
        webhook_id: &WebhookId,
        delivery_id: &DeliveryId,
        trigger: DeliveryTrigger,
    ) -> Result<Redelivery, DispatchError> {
        if !self
            .load(tenant, webhook_id)
            .await?
            .is_some_and(|w| w.exists())
        {
            return Err(DispatchError::WebhookNotFound);
        }
        let stored = (self.nats.last_fact(tenant, webhook_id, delivery_id).await?)
            .ok_or(DispatchError::DeliveryNotFound)?;
        let last = stored.fact.attempts();
        let unavailable = || DispatchError::EventUnavailable(delivery_id.clone());
        let sequence = stored.event_sequence.ok_or_else(unavailable)?;
        let event = self
            .nats
            .event_at(sequence)
            .await?
            .ok_or_else(unavailable)?;
        if &event.tenant != tenant {
            return Err(unavailable());
        }
        let data = EventBody::data_of(&event.data).map_err(|_| unavailable())?;
        let job = Job {
            tenant: tenant.clone(),
            webhook_id: webhook_id.clone(),
            delivery_id: delivery_id.clone(),
            event: EventBody {
                id: event.id,
                event_type: event.event_type,
                timestamp: event.occurred_at,
                data,
            },
            event_sequence: Some(sequence),
            ledger_sequence: None,
            attempt: last + 1,
            first_attempt: last + 1,
            trigger,
        };
        self.nats
            .publish(job.message(self.nats.names(), job.later_msg_id()))
            .await?;
        tracing::info!(%tenant, %webhook_id, %delivery_id, attempt = job.attempt, trigger = trigger_label(trigger), "delivery queued again");
        Ok(Redelivery {
            delivery_id: delivery_id.clone(),
            attempt: job.attempt,
        })
    }
}

/// An attempt's headers: the content type, the webhook's own headers, the signature's three.
/// The webhook's names and values were checked as HTTP headers when it was written (tokens,
/// visible ASCII, reserved names refused, each name once), so the error, naming the header, is
/// for a rule HTTP has and that check had not.
fn request_headers(custom: &CustomHeaders, signed: SignatureHeaders) -> Result<HeaderMap, String> {
    let mut headers = HeaderMap::with_capacity(4 + custom.as_map().len());
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    for (name, value) in custom.iter() {
        match (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            (Ok(name), Ok(value)) => {
                headers.insert(name, value);
            }
            _ => return Err(format!("the custom header {name} is not valid HTTP")),
        }
    }
    signed.add_to(&mut headers);
    Ok(headers)
}

/// The trigger's stable code (a bounded metric label).
pub(crate) fn trigger_label(trigger: DeliveryTrigger) -> &'static str {
    match trigger {
        DeliveryTrigger::Event => "event",
        DeliveryTrigger::Redeliver => "redeliver",
        DeliveryTrigger::Recover => "recover",
        DeliveryTrigger::Test => "test",
    }
}
