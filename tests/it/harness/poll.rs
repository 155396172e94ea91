//! Polling against a deadline: the only way tests wait. A timeout panics with the last
//! observation, so a failure says what was seen, not just that it took too long.

use std::fmt::Debug;
use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

/// Calls `probe` until it returns `Ok`, at most until `within` has passed; then panics with
/// the last `Err` observation.
#[track_caller]
pub fn eventually<T, O, F, Fut>(within: Duration, mut probe: F) -> impl Future<Output = T>
where
    O: Debug,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, O>>,
{
    let caller = std::panic::Location::caller();
    async move {
        let deadline = Instant::now() + within;
        let mut pause = Duration::from_millis(5);
        loop {
            match probe().await {
                Ok(value) => return value,
                Err(last) if Instant::now() >= deadline => {
                    panic!("not true within {within:?} (at {caller}); last observation: {last:?}")
                }
                Err(_) => {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_millis(100));
                }
            }
        }
    }
}
