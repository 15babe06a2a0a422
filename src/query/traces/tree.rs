//! One trace as a tree: [`QueryClient::trace`].

use std::collections::HashMap;

use super::filter::SpanQuery;
use super::read::SpanEntry;
use crate::error::Result;
use crate::query::client::{AnswerOrigin, QueryClient};
use crate::query::logs::{LogEntry, LogQuery};
use crate::query::sql::Order;

/// Spans, and logs, that [`QueryClient::trace`] reads at most.
pub(crate) const MAX_TRACE_ROWS: u64 = 10_000;

/// A span of a trace, with the logs emitted inside it and the spans it
/// started.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SpanNode {
    /// The span.
    pub span: SpanEntry,
    /// Logs emitted inside it (not inside a child), oldest first.
    pub logs: Vec<LogEntry>,
    /// The spans it started, by start.
    pub children: Vec<SpanNode>,
    /// Whether the span names a parent that is not in the trace's rows: not
    /// sampled there, not closed or arrived yet, or in a service whose
    /// spans are not stored here. Such a span is one of the trace's roots.
    pub parent_missing: bool,
}

impl Drop for SpanNode {
    /// Takes the tree apart without recursing, so a deep trace cannot
    /// exhaust the stack when dropped.
    fn drop(&mut self) {
        let mut stack = std::mem::take(&mut self.children);
        while let Some(mut node) = stack.pop() {
            stack.append(&mut node.children);
        }
    }
}

/// One trace: its spans as a tree, with their logs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Trace {
    /// The trace's id.
    pub trace_id: String,
    /// The spans without a parent in the trace (the root, and spans whose
    /// parent has no row, marked [`parent_missing`](SpanNode::parent_missing)),
    /// by start.
    pub roots: Vec<SpanNode>,
    /// Logs of the trace whose span has no row (yet), oldest first.
    pub unattached_logs: Vec<LogEntry>,
    /// Whether the trace has more than 10 000 spans or logs, and
    /// only the first ones are here.
    pub truncated: bool,
    /// ClickHouse, or the in-memory fallback.
    pub origin: AnswerOrigin,
}

impl Trace {
    /// Whether nothing of the trace was found.
    pub fn is_empty(&self) -> bool {
        self.roots.is_empty() && self.unattached_logs.is_empty()
    }

    /// Every span, depth first, with its depth (0 for a root).
    pub fn spans(&self) -> Vec<(usize, &SpanEntry)> {
        let mut out = Vec::new();
        let mut stack: Vec<(usize, &SpanNode)> = self.roots.iter().rev().map(|n| (0, n)).collect();
        while let Some((depth, node)) = stack.pop() {
            out.push((depth, &node.span));
            stack.extend(node.children.iter().rev().map(|c| (depth + 1, c)));
        }
        out
    }
}

impl QueryClient {
    /// The spans of trace `trace_id` as a tree, each with the logs emitted
    /// inside it. Unknown ids give an empty trace.
    ///
    /// # Errors
    ///
    /// As [`query_logs`](Self::query_logs).
    pub async fn trace(&self, trace_id: &str) -> Result<Trace> {
        let spans = self
            .query_spans(
                &SpanQuery::new()
                    .trace_id(trace_id)
                    .order(Order::OldestFirst)
                    .limit(MAX_TRACE_ROWS + 1),
            )
            .await?;
        let logs = self
            .query_logs(
                &LogQuery::new()
                    .trace_id(trace_id)
                    .order(Order::OldestFirst)
                    .limit(MAX_TRACE_ROWS + 1),
            )
            .await?;
        let truncated = spans.entries.len() as u64 > MAX_TRACE_ROWS
            || logs.entries.len() as u64 > MAX_TRACE_ROWS;
        let origin = match (&spans.origin, &logs.origin) {
            (AnswerOrigin::ClickHouse, other) | (other, _) => other.clone(),
        };
        let mut spans = spans.entries;
        let mut logs = logs.entries;
        spans.truncate(MAX_TRACE_ROWS as usize);
        logs.truncate(MAX_TRACE_ROWS as usize);
        let (roots, unattached_logs) = build_tree(spans, logs);
        Ok(Trace {
            trace_id: trace_id.to_owned(),
            roots,
            unattached_logs,
            truncated,
            origin,
        })
    }
}

/// The spans (oldest first) as trees, the logs (oldest first) on their
/// spans; returns the roots and the logs of no span. Iterative, so a deep
/// trace cannot exhaust the stack; a span in a cycle of parents (bad data)
/// becomes a root.
fn build_tree(spans: Vec<SpanEntry>, logs: Vec<LogEntry>) -> (Vec<SpanNode>, Vec<LogEntry>) {
    let index: HashMap<&str, usize> = spans
        .iter()
        .enumerate()
        .map(|(i, s)| (s.span_id.as_str(), i))
        .collect();
    let parent: Vec<Option<usize>> = spans
        .iter()
        .enumerate()
        .map(|(i, s)| {
            index
                .get(s.parent_span_id.as_str())
                .copied()
                .filter(|&p| p != i)
        })
        .collect();
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); spans.len()];
    let mut roots: Vec<usize> = Vec::new();
    for (i, p) in parent.iter().enumerate() {
        match p {
            Some(p) => children[*p].push(i),
            None => roots.push(i),
        }
    }
    let mut span_logs: Vec<Vec<LogEntry>> = vec![Vec::new(); spans.len()];
    let mut unattached = Vec::new();
    for log in logs {
        match index.get(log.span_id.as_str()) {
            Some(&i) => span_logs[i].push(log),
            None => unattached.push(log),
        }
    }
    // Spans reachable from no root are in a cycle: each cycle gets a root.
    let mut reached = vec![false; spans.len()];
    let mut order = Vec::with_capacity(spans.len());
    let visit = |start: usize, reached: &mut Vec<bool>, order: &mut Vec<usize>| {
        let mut stack = vec![start];
        while let Some(i) = stack.pop() {
            if !std::mem::replace(&mut reached[i], true) {
                order.push(i);
                stack.extend(children[i].iter().copied());
            }
        }
    };
    for &root in &roots {
        visit(root, &mut reached, &mut order);
    }
    for i in 0..spans.len() {
        if !reached[i] {
            roots.push(i);
            visit(i, &mut reached, &mut order);
        }
    }
    // Build the nodes children first (reverse of the visit order).
    let mut nodes: Vec<Option<SpanNode>> = spans
        .into_iter()
        .zip(span_logs)
        .map(|(span, logs)| {
            Some(SpanNode {
                span,
                logs,
                children: Vec::new(),
                parent_missing: false,
            })
        })
        .collect();
    let is_root: Vec<bool> = {
        let mut is_root = vec![false; nodes.len()];
        roots.iter().for_each(|&r| is_root[r] = true);
        is_root
    };
    for &i in order.iter().rev() {
        if let (Some(p), false) = (parent[i], is_root[i])
            && let Some(node) = nodes[i].take()
            && let Some(parent) = nodes[p].as_mut()
        {
            parent.children.push(node);
        }
    }
    let by_start = |a: &SpanNode, b: &SpanNode| {
        (a.span.timestamp_ns, &a.span.span_id).cmp(&(b.span.timestamp_ns, &b.span.span_id))
    };
    let mut stack: Vec<&mut SpanNode> = nodes.iter_mut().flatten().collect();
    while let Some(node) = stack.pop() {
        node.children.sort_by(by_start);
        stack.extend(node.children.iter_mut());
    }
    let mut roots: Vec<SpanNode> = roots.into_iter().filter_map(|r| nodes[r].take()).collect();
    for root in &mut roots {
        root.parent_missing = !root.span.parent_span_id.is_empty();
    }
    roots.sort_by(by_start);
    (roots, unattached)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(id: &str, parent: &str, start: i64) -> SpanEntry {
        SpanEntry {
            timestamp_ns: start,
            trace_id: "t".into(),
            span_id: id.into(),
            parent_span_id: parent.into(),
            name: id.into(),
            service: "s".into(),
            source: "x".into(),
            duration_ns: 1,
            status: "Unset".into(),
            status_message: String::new(),
            attributes: vec![],
            kind: "Internal".into(),
            trace_state: String::new(),
        }
    }

    fn log(span_id: &str, message: &str) -> LogEntry {
        LogEntry {
            timestamp_ns: 0,
            level: "INFO".into(),
            source: "x".into(),
            message: message.into(),
            service: "s".into(),
            trace_id: "t".into(),
            span_id: span_id.into(),
            attributes: vec![],
        }
    }

    #[test]
    fn spans_become_a_tree_with_their_logs() {
        let spans = vec![
            span("root", "", 1),
            span("b", "root", 3),
            span("a", "root", 2),
            span("a1", "a", 4),
            span("orphan", "closed-later", 5),
        ];
        let logs = vec![
            log("a1", "deep"),
            log("root", "top"),
            log("open", "nowhere"),
        ];
        let (roots, unattached) = build_tree(spans, logs);
        let names: Vec<&str> = roots.iter().map(|r| r.span.name.as_str()).collect();
        assert_eq!(names, ["root", "orphan"]);
        let missing: Vec<bool> = roots.iter().map(|r| r.parent_missing).collect();
        assert_eq!(missing, [false, true], "the orphan is kept and marked");
        let root = &roots[0];
        assert_eq!(root.logs[0].message, "top");
        let children: Vec<&str> = root.children.iter().map(|c| c.span.name.as_str()).collect();
        assert_eq!(children, ["a", "b"], "by start");
        assert_eq!(root.children[0].children[0].logs[0].message, "deep");
        assert_eq!(unattached[0].message, "nowhere");
        let trace = Trace {
            roots,
            ..Trace::default()
        };
        let depths: Vec<(usize, &str)> = trace
            .spans()
            .into_iter()
            .map(|(d, s)| (d, s.name.as_str()))
            .collect();
        assert_eq!(
            depths,
            [(0, "root"), (1, "a"), (2, "a1"), (1, "b"), (0, "orphan")]
        );
    }

    #[test]
    fn a_cycle_of_parents_and_a_deep_chain_do_not_break_it() {
        let (roots, _) = build_tree(vec![span("x", "y", 1), span("y", "x", 2)], vec![]);
        assert_eq!(roots.len(), 1);
        assert_eq!(roots[0].children.len(), 1);
        let chain: Vec<SpanEntry> = (0..100_000)
            .map(|i| {
                let parent = if i == 0 {
                    String::new()
                } else {
                    format!("s{}", i - 1)
                };
                span(&format!("s{i}"), &parent, i)
            })
            .collect();
        let (roots, _) = build_tree(chain, vec![]);
        assert_eq!(roots.len(), 1);
        let trace = Trace {
            roots,
            ..Trace::default()
        };
        assert_eq!(trace.spans().len(), 100_000);
        // On a small stack, as a tokio worker's: dropping must not recurse.
        std::thread::Builder::new()
            .stack_size(64 << 10)
            .spawn(move || drop(trace))
            .unwrap()
            .join()
            .unwrap();
    }
}
