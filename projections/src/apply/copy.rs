//! Rows for `COPY … FROM STDIN` in PostgreSQL's text format, which a rebuild streams into its
//! shadow tables (the fastest way in: no statement per row or batch to parse and plan).
//!
//! Columns are separated by tabs, rows end with a newline, `\N` is NULL, and a backslash, tab,
//! newline or carriage return inside a value is escaped with a backslash.

use chrono::{DateTime, SecondsFormat, Utc};
use sqlx::{Connection, PgConnection, PgPool};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::ProjectionError;

/// Batches a writer may hold before the sender waits (memory stays bounded).
const WRITER_QUEUE: usize = 2;

/// Runs the `COPY`s into one table on a connection of its own, in a task of its own: a rebuild
/// folds the next batch while PostgreSQL stores the previous one. Its session does not wait
/// for WAL flushes (`synchronous_commit = off`): the rows are only read after the rebuild's
/// swap, whose own commit is synchronous and flushes everything before it.
pub(crate) struct CopyWriter {
    sender: Option<mpsc::Sender<CopyText>>,
    task: JoinHandle<Result<u64, ProjectionError>>,
}

impl CopyWriter {
    /// A writer of `COPY <table> (<columns>) FROM STDIN`.
    pub(crate) async fn open(
        pool: &PgPool,
        table: String,
        columns: &'static str,
    ) -> Result<Self, ProjectionError> {
        let mut conn = PgConnection::connect_with(&pool.connect_options()).await?;
        sqlx::query("SET synchronous_commit = off")
            .execute(&mut conn)
            .await?;
        let (sender, mut receiver) = mpsc::channel::<CopyText>(WRITER_QUEUE);
        let task = tokio::spawn(async move {
            let mut rows = 0;
            while let Some(batch) = receiver.recv().await {
                rows += batch.send(&mut conn, &table, columns).await?;
            }
            conn.close().await.ok();
            Ok(rows)
        });
        Ok(Self {
            sender: Some(sender),
            task,
        })
    }

    /// Queues `rows` (copied in order, after those queued before).
    pub(crate) async fn send(&mut self, rows: CopyText) -> Result<(), ProjectionError> {
        let sender = self
            .sender
            .as_ref()
            .expect("the writer is open until finish");
        if sender.send(rows).await.is_err() {
            // The task ended early: it failed; its error says why.
            self.sender = None;
            return Err(join(&mut self.task).await.err().unwrap_or_else(|| {
                ProjectionError::corrupt_because("the rebuild's COPY writer stopped")
            }));
        }
        Ok(())
    }

    /// Waits for every queued `COPY`; returns the number of rows written.
    pub(crate) async fn finish(mut self) -> Result<u64, ProjectionError> {
        self.sender = None;
        join(&mut self.task).await
    }
}

impl Drop for CopyWriter {
    fn drop(&mut self) {
        // A rebuild that failed part-way: stop writing (its shadow tables are dropped by the
        // next rebuild).
        self.task.abort();
    }
}

async fn join(task: &mut JoinHandle<Result<u64, ProjectionError>>) -> Result<u64, ProjectionError> {
    match task.await {
        Ok(result) => result,
        Err(e) => Err(ProjectionError::corrupt(
            "the rebuild's COPY writer failed",
            e,
        )),
    }
}

/// A buffer of rows in `COPY` text format.
#[derive(Debug, Default)]
pub(crate) struct CopyText {
    buf: Vec<u8>,
    /// True at the start of a row (no separator before the next column).
    row_start: bool,
    rows: usize,
}

impl CopyText {
    pub(crate) fn new() -> Self {
        Self {
            buf: Vec::with_capacity(1 << 20),
            row_start: true,
            rows: 0,
        }
    }

    fn separate(&mut self) {
        if !self.row_start {
            self.buf.push(b'\t');
        }
        self.row_start = false;
    }

    fn escaped(&mut self, s: &str) {
        let bytes = s.as_bytes();
        let mut start = 0;
        for (i, &b) in bytes.iter().enumerate() {
            let escape: &[u8] = match b {
                b'\\' => b"\\\\",
                b'\t' => b"\\t",
                b'\n' => b"\\n",
                b'\r' => b"\\r",
                _ => continue,
            };
            self.buf.extend_from_slice(&bytes[start..i]);
            self.buf.extend_from_slice(escape);
            start = i + 1;
        }
        self.buf.extend_from_slice(&bytes[start..]);
    }

    /// A text (or JSON) value.
    pub(crate) fn text(&mut self, s: &str) {
        self.separate();
        self.escaped(s);
    }

    pub(crate) fn opt_text(&mut self, s: Option<&str>) {
        match s {
            Some(s) => self.text(s),
            None => self.null(),
        }
    }

    pub(crate) fn null(&mut self) {
        self.separate();
        self.buf.extend_from_slice(b"\\N");
    }

    pub(crate) fn int(&mut self, n: i64) {
        self.separate();
        self.buf.extend_from_slice(n.to_string().as_bytes());
    }

    /// A `timestamptz`, to the microsecond (stream times are stored rounded to it).
    pub(crate) fn time(&mut self, t: DateTime<Utc>) {
        self.separate();
        self.buf
            .extend_from_slice(t.to_rfc3339_opts(SecondsFormat::Micros, true).as_bytes());
    }

    pub(crate) fn opt_time(&mut self, t: Option<DateTime<Utc>>) {
        match t {
            Some(t) => self.time(t),
            None => self.null(),
        }
    }

    /// A `text[]`: an array literal with every element quoted (`{"a","b\"c"}`).
    pub(crate) fn text_array(&mut self, items: &[String]) {
        let mut literal =
            String::with_capacity(2 + items.iter().map(|i| i.len() + 3).sum::<usize>());
        literal.push('{');
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                literal.push(',');
            }
            literal.push('"');
            for c in item.chars() {
                if matches!(c, '"' | '\\') {
                    literal.push('\\');
                }
                literal.push(c);
            }
            literal.push('"');
        }
        literal.push('}');
        self.text(&literal);
    }

    pub(crate) fn end_row(&mut self) {
        self.buf.push(b'\n');
        self.row_start = true;
        self.rows += 1;
    }

    /// Sends the rows with `COPY <table> (<columns>) FROM STDIN` on `conn`.
    pub(crate) async fn send(
        self,
        conn: &mut PgConnection,
        table: &str,
        columns: &str,
    ) -> Result<u64, ProjectionError> {
        if self.rows == 0 {
            return Ok(0);
        }
        let mut copy = conn
            .copy_in_raw(&format!("COPY {table} ({columns}) FROM STDIN"))
            .await?;
        copy.send(self.buf).await?;
        Ok(copy.finish().await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped_and_separated_as_copy_text_expects() {
        let mut out = CopyText::new();
        out.text("a\tb\\c\nd");
        out.null();
        out.int(-7);
        out.text_array(&["x".into(), "y\"z\\".into()]);
        out.end_row();
        out.text("{\"k\":\"v\\\"\"}");
        out.end_row();
        assert_eq!(out.rows, 2);
        assert_eq!(
            String::from_utf8(out.buf).unwrap(),
            "a\\tb\\\\c\\nd\t\\N\t-7\t{\"x\",\"y\\\\\"z\\\\\\\\\"}\n{\"k\":\"v\\\\\"\"}\n"
        );
    }

    #[test]
    fn times_keep_their_microseconds() {
        let mut out = CopyText::new();
        let t = DateTime::parse_from_rfc3339("2025-01-01T00:00:00.123457Z")
            .unwrap()
            .to_utc();
        out.time(t);
        out.end_row();
        assert_eq!(
            String::from_utf8(out.buf).unwrap(),
            "2025-01-01T00:00:00.123457Z\n"
        );
    }
}
