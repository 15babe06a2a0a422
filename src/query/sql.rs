//! SQL from fixed fragments with bound parameters, and the filters the
//! in-memory fallback applies to rows read back from batches.

use std::time::SystemTime;

use crate::record::unix_ns;

/// Whether `timestamp_ns` lies in `[since, until)`: the time range of the
/// queries, decided on a row read back from memory.
pub(super) fn in_range(
    timestamp_ns: i64,
    since: Option<SystemTime>,
    until: Option<SystemTime>,
) -> bool {
    since.is_none_or(|since| timestamp_ns >= unix_ns(since))
        && until.is_none_or(|until| timestamp_ns < unix_ns(until))
}

/// The newest `limit` rows, newest first (`ORDER BY time DESC LIMIT n` on
/// rows read back from memory).
pub(super) fn newest_first<T, U: From<T>>(
    mut rows: Vec<T>,
    timestamp_ns: fn(&T) -> i64,
    limit: u64,
) -> Vec<U> {
    rows.sort_by_key(|row| std::cmp::Reverse(timestamp_ns(row)));
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    rows.into_iter().take(limit).map(U::from).collect()
}

/// A bound parameter's value.
#[derive(Debug)]
pub(super) enum Param {
    Str(String),
    Int(i64),
    UInt(u64),
}

/// SQL assembled from fixed fragments, with its parameters beside it.
#[derive(Debug)]
pub(super) struct Sql {
    pub(super) text: String,
    pub(super) params: Vec<(&'static str, Param)>,
}

impl Sql {
    pub(super) fn new(text: &str) -> Self {
        Sql {
            text: text.to_owned(),
            params: Vec::new(),
        }
    }

    /// Appends a fragment that mentions `{name:Type}`, and binds `name`.
    pub(super) fn push(&mut self, fragment: &'static str, name: &'static str, value: Param) {
        self.text.push_str(fragment);
        self.params.push((name, value));
    }

    /// Binds `name`, which a fragment pushed before mentions.
    pub(super) fn bind(&mut self, name: &'static str, value: Param) {
        self.params.push((name, value));
    }

    /// Appends `AND time >= since AND time < until` for the bounds given
    /// (`time` is a fixed expression of nanosecond precision or coarser),
    /// binding `since` and `until`.
    pub(super) fn push_time_range(
        &mut self,
        time: &'static str,
        since: Option<SystemTime>,
        until: Option<SystemTime>,
    ) {
        if let Some(since) = since {
            self.push_text(" AND ");
            self.push_text(time);
            let fragment = " >= fromUnixTimestamp64Nano({since:Int64})";
            self.push(fragment, "since", Param::Int(unix_ns(since)));
        }
        if let Some(until) = until {
            self.push_text(" AND ");
            self.push_text(time);
            let fragment = " < fromUnixTimestamp64Nano({until:Int64})";
            self.push(fragment, "until", Param::Int(unix_ns(until)));
        }
    }

    pub(super) fn push_text(&mut self, fragment: &'static str) {
        self.text.push_str(fragment);
    }

    pub(super) fn build(self, client: &clickhouse::Client) -> clickhouse::query::Query {
        self.params.into_iter().fold(
            client.query(&self.text),
            |query, (name, value)| match value {
                Param::Str(v) => query.param(name, v),
                Param::Int(v) => query.param(name, v),
                Param::UInt(v) => query.param(name, v),
            },
        )
    }
}
