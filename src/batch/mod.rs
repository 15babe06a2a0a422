//! Sealed batches: what the flusher hands to delivery, the spool keeps, and
//! queries read back while ClickHouse is away.

mod body;

use std::sync::Arc;

use parking_lot::Mutex;

pub(crate) use body::{Body, BodyBuilder};
#[cfg(test)]
pub(crate) use body::{noise, noise_body};

use crate::config::Config;
use crate::record::Record;

/// A table the pipeline writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Table {
    Logs,
    Spans,
    Events,
    /// Written by metric snapshots, not by queued records.
    Metrics,
}

impl Table {
    pub(crate) const ALL: [Table; 4] = [Table::Logs, Table::Spans, Table::Events, Table::Metrics];

    pub(crate) fn of(record: &Record) -> Table {
        match record {
            Record::Log(_) => Table::Logs,
            Record::Span(_) => Table::Spans,
            Record::Event(_) => Table::Events,
        }
    }

    /// The table with [`code`](Self::code) `code`, as stored in the spool.
    pub(crate) fn from_code(code: u8) -> Option<Table> {
        Table::ALL.get(usize::from(code)).copied()
    }

    /// A stable one-byte name, for the spool.
    pub(crate) fn code(self) -> u8 {
        self as u8
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Table::Logs => "logs",
            Table::Spans => "spans",
            Table::Events => "events",
            Table::Metrics => "metrics",
        }
    }
}

/// One sealed batch: encoded rows of one table, the values its rows share,
/// and the token that makes a re-send of it harmless.
#[derive(Clone, Debug)]
pub(crate) struct Batch {
    pub(crate) table: Table,
    pub(crate) rows: u64,
    pub(crate) body: Body,
    pub(crate) constants: Arc<BatchConstants>,
    /// `insert_deduplication_token`: the same for every attempt of this batch.
    pub(crate) token: String,
}

impl Batch {
    /// The batch in two parts at its last chunk boundary whose first part's
    /// body is at most `max_len` plain bytes, or `None` without such a
    /// boundary. Only for a batch never sent: the parts get tokens of their
    /// own (this token with `.1` and `.2`), so a server that stored the
    /// whole would store them again.
    pub(crate) fn split(&self, max_len: usize) -> Option<(Batch, Batch)> {
        let ((first, first_rows), (rest, rest_rows)) = self.body.split(max_len)?;
        let part = |rows, body, token_end| Batch {
            table: self.table,
            rows,
            body,
            constants: Arc::clone(&self.constants),
            token: format!("{}.{token_end}", self.token),
        };
        Some((part(first_rows, first, 1), part(rest_rows, rest, 2)))
    }
}

/// The values every row of a process shares (`ServiceName`,
/// `ResourceAttributes`), as the query parameters of [`Table::insert_sql`].
/// They travel with each batch, so a batch sent later (a retry) still
/// carries the identity of the process that captured it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct BatchConstants {
    /// `(param_name, value)` pairs, values in ClickHouse's parameter text format.
    /// Owned, because batches replayed from the spool bring their own.
    pub(crate) params: Vec<(String, String)>,
}

impl BatchConstants {
    pub(crate) fn new(config: &Config) -> Self {
        let resource = resource_attributes(config);
        BatchConstants {
            params: vec![
                (
                    "param_service".to_owned(),
                    escape_param(&config.service_name),
                ),
                (
                    "param_resource_keys".to_owned(),
                    array_param(resource.iter().map(|(k, _)| *k)),
                ),
                (
                    "param_resource_values".to_owned(),
                    array_param(resource.iter().map(|(_, v)| v.as_str())),
                ),
            ],
        }
    }
}

impl BatchConstants {
    /// The service name the rows of the batch get (for reading them back
    /// from memory).
    pub(crate) fn service(&self) -> String {
        self.params
            .iter()
            .find(|(name, _)| name == "param_service")
            .map(|(_, value)| unescape_param(value))
            .unwrap_or_default()
    }
}

/// The inverse of [`escape_param`].
fn unescape_param(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some(escaped) => out.push(escaped),
            None => {}
        }
    }
    out
}

/// A parameter value as ClickHouse reads it: `\`, `'`, `` ` ``, tab and
/// newline are escaped with a backslash.
fn escape_param(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' | '\'' | '`' => {
                out.push('\\');
                out.push(c);
            }
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            _ => out.push(c),
        }
    }
    out
}

/// An `Array(String)` parameter: `['a','b']`, each element quoted and escaped.
fn array_param<'a>(values: impl Iterator<Item = &'a str>) -> String {
    let quoted: Vec<String> = values.map(|v| format!("'{}'", escape_param(v))).collect();
    format!("[{}]", quoted.join(","))
}

/// Resource attributes (OpenTelemetry semantic conventions), set once per process.
pub(crate) fn resource_attributes(config: &Config) -> Vec<(&'static str, String)> {
    let mut attributes = vec![("service.name", config.service_name.clone())];
    if let Some(version) = &config.service_version {
        attributes.push(("service.version", version.clone()));
    }
    attributes.extend([
        (
            "host.name",
            gethostname::gethostname().to_string_lossy().into_owned(),
        ),
        ("process.pid", std::process::id().to_string()),
        ("telemetry.sdk.name", env!("CARGO_PKG_NAME").to_owned()),
        (
            "telemetry.sdk.version",
            env!("CARGO_PKG_VERSION").to_owned(),
        ),
        ("telemetry.sdk.language", "rust".to_owned()),
    ]);
    attributes
}

/// The batches waiting in memory for ClickHouse, as delivery last published
/// them, for queries to read while ClickHouse cannot answer (the seed's
/// in-memory fallback). Delivery owns the batches and publishes the list
/// after every change (the bodies are shared, not copied), so a query never
/// waits for the flusher and the flusher never waits for a query.
#[derive(Debug, Default)]
pub(crate) struct UnsentBatches {
    batches: Mutex<Arc<[Batch]>>,
}

impl UnsentBatches {
    /// Replaces the published batches.
    pub(crate) fn publish<'a>(&self, batches: impl Iterator<Item = &'a Batch>) {
        let batches: Arc<[Batch]> = batches.cloned().collect();
        *self.batches.lock() = batches;
    }

    /// The batches of `table`, oldest first, as last published.
    pub(crate) fn of(&self, table: Table) -> Vec<Batch> {
        let batches = Arc::clone(&self.batches.lock());
        batches
            .iter()
            .filter(|b| b.table == table)
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_splits_into_parts_with_tokens_of_their_own() {
        let mut body = BodyBuilder::default();
        for _ in 0..200 {
            body.plain().extend_from_slice(&[7; 1_000]);
            body.added(1);
        }
        let batch = Batch {
            table: Table::Logs,
            rows: 200,
            body: body.finish(),
            constants: Arc::new(BatchConstants { params: vec![] }),
            token: "tc-1".into(),
        };
        let (first, rest) = batch.split(140_000).unwrap();
        assert_eq!(
            (first.rows, first.body.len(), &*first.token),
            (132, 132_000, "tc-1.1")
        );
        assert_eq!(
            (rest.rows, rest.body.len(), &*rest.token),
            (68, 68_000, "tc-1.2")
        );
        let (_, last) = rest.split(66_000).unwrap();
        assert_eq!((last.rows, &*last.token), (2, "tc-1.2.2"));
        assert!(batch.split(60_000).is_none());
    }

    #[test]
    fn parameters_unescape_to_what_was_escaped() {
        for text in [
            "plain",
            "a\\b",
            "it's",
            "`x`",
            "tab\there",
            "two\nlines",
            "trailing\\",
        ] {
            assert_eq!(unescape_param(&escape_param(text)), text);
        }
    }

    #[test]
    fn parameters_are_escaped() {
        assert_eq!(escape_param("plain"), "plain");
        assert_eq!(escape_param("it's a\\b\tc\nd`"), "it\\'s a\\\\b\\tc\\nd\\`");
        let array = array_param(["a", "it's"].into_iter());
        assert_eq!(array, "['a','it\\'s']");
        assert_eq!(array_param(std::iter::empty()), "[]");
    }
}
