//! The progress counter of long audit runs: an indicatif bar on stderr (events, rate, elapsed),
//! which indicatif draws only when stderr is a terminal, so scripts and pipes stay quiet.
//!
//! Decision: the position is the stream sequence reached, out of the head sequence taken at
//! the start, so the bar moves evenly even when a filter skips most of the stream.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A progress bar up to `total` (a head sequence), or hidden.
pub fn bar(total: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} {msg} {per_sec} ETA {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_message(what.to_owned());
    bar
}

/// A bar that never draws (library callers and tests).
pub fn hidden() -> ProgressBar {
    ProgressBar::hidden()
}
