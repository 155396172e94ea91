//! How an error variant keeps the error beneath it (issue 17, "errors keep their causes").
//!
//! A variant that wraps a failure of a library keeps that failure as its `source()` instead
//! of flattening it into a `String`, so a caller can walk the chain (or downcast it). Its
//! `Display` still ends with the cause's text, `what: cause`, because logs print `%error`
//! (Display only) and must keep saying why; printers that walk the chain (the CLI's
//! one-line report) skip a cause whose text the message already holds.

use std::error::Error;
use std::fmt;

/// The error beneath a variant, boxed: `Send + Sync + 'static`, like every error of ours.
pub type BoxError = Box<dyn Error + Send + Sync + 'static>;

/// Displays `what: cause`, or `what` alone when there is no underlying error (a message we
/// compose, such as "the router's consumer stopped").
#[derive(Clone, Copy)]
pub struct Cause<'a>(pub &'a str, pub Option<&'a BoxError>);

impl fmt::Display for Cause<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.1 {
            Some(cause) => write!(f, "{}: {cause}", self.0),
            None => f.write_str(self.0),
        }
    }
}

/// One line for an error and its chain: its own text, then each source whose text that line
/// does not hold yet (so a variant that ends with its cause's text does not print it twice).
/// The CLI's `error: …` line and the error text of a delivery attempt use it.
pub fn one_line(error: &(dyn Error + 'static)) -> String {
    let mut line = error.to_string();
    let mut next = error.source();
    while let Some(cause) = next {
        let text = cause.to_string();
        if !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        next = cause.source();
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("{}", Cause(what, source.as_ref()))]
    struct Outer {
        what: String,
        source: Option<BoxError>,
    }

    #[test]
    fn a_cause_is_displayed_after_what_and_kept_as_the_source() {
        let io = std::io::Error::other("connection refused");
        let outer = Outer {
            what: "NATS".into(),
            source: Some(Box::new(io)),
        };
        assert_eq!(outer.to_string(), "NATS: connection refused");
        assert_eq!(
            outer.source().map(|s| s.to_string()).as_deref(),
            Some("connection refused")
        );
        assert_eq!(one_line(&outer), "NATS: connection refused");
    }

    #[test]
    fn without_a_cause_only_what_is_displayed() {
        let outer = Outer {
            what: "the tail ended".into(),
            source: None,
        };
        assert_eq!(outer.to_string(), "the tail ended");
        assert!(outer.source().is_none());
    }
}
