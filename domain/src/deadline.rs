//! A bounded wait for a dependency to answer: the one retry loop behind connecting to NATS
//! (`ledger::connect`) and to PostgreSQL (the API's start-up), so a missing dependency is a
//! clear error after `wait`, never a hang or a panic.

use std::fmt::Display;
use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

/// `what` at `url` failed every attempt for `wait`; `source` is the last attempt's error.
#[derive(Debug, thiserror::Error)]
#[error("{}: {source}", self.headline())]
pub struct TimedOut<E> {
    /// The dependency, as logs name it: "NATS", "PostgreSQL".
    pub what: &'static str,
    /// Where it was tried, without secrets.
    pub url: String,
    pub wait: Duration,
    #[source]
    pub source: E,
}

impl<E> TimedOut<E> {
    /// The message without the last error's text: "`what` at `url` did not answer within Ns".
    pub fn headline(&self) -> String {
        format!(
            "{} at {} did not answer within {}s",
            self.what,
            self.url,
            self.wait.as_secs()
        )
    }
}

/// Calls `attempt` until it succeeds, for at most `wait`: between attempts it logs a warning
/// ("`what` is not reachable yet; retrying", with `url` and the error) and backs off from
/// 100 ms, doubling to 2 s. When the next pause would pass the deadline, the last error is
/// returned as [`TimedOut`]. `attempt` bounds its own duration (a connect timeout).
pub async fn with_deadline<T, E, F, Fut>(
    what: &'static str,
    url: &str,
    wait: Duration,
    mut attempt: F,
) -> Result<T, TimedOut<E>>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
    E: Display,
{
    let deadline = Instant::now() + wait;
    let mut backoff = Duration::from_millis(100);
    loop {
        match attempt().await {
            Ok(value) => return Ok(value),
            Err(err) if Instant::now() + backoff < deadline => {
                tracing::warn!(%url, error = %err, "{what} is not reachable yet; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(2));
            }
            Err(source) => {
                return Err(TimedOut {
                    what,
                    url: url.to_owned(),
                    wait,
                    source,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    #[tokio::test]
    async fn a_dependency_that_never_answers_times_out_with_its_last_error() {
        let mut attempts = 0;
        let result: Result<(), _> =
            with_deadline("NATS", "nats://127.0.0.1:1", Duration::ZERO, || {
                attempts += 1;
                async { Err(std::io::Error::other("connection refused")) }
            })
            .await;
        let error = result.expect_err("no attempt succeeds");
        assert_eq!(attempts, 1, "no time for a second attempt");
        assert_eq!(
            error.to_string(),
            "NATS at nats://127.0.0.1:1 did not answer within 0s: connection refused"
        );
        assert_eq!(error.source().unwrap().to_string(), "connection refused");
    }

    #[tokio::test]
    async fn a_dependency_that_answers_late_is_retried_until_it_does() {
        let mut attempts = 0;
        let answer = with_deadline(
            "PostgreSQL",
            "postgres://x",
            Duration::from_secs(30),
            || {
                attempts += 1;
                let result = if attempts < 2 {
                    Err(std::io::Error::other("not yet"))
                } else {
                    Ok(attempts)
                };
                async move { result }
            },
        )
        .await
        .expect("the second attempt succeeds");
        assert_eq!(answer, 2);
    }
}
