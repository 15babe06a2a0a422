//! Standard output, buffered, for a command to print to.

use std::io::{BufWriter, Stdout, Write};

use crate::fail::Outcome;

/// Buffered stdout; [`Out::flush`] after each batch a person waits for.
pub(crate) struct Out(BufWriter<Stdout>);

impl Out {
    pub(crate) fn new() -> Self {
        Out(BufWriter::new(std::io::stdout()))
    }

    /// Prints `line` and a newline.
    pub(crate) fn line(&mut self, line: &str) -> std::io::Result<()> {
        self.0.write_all(line.as_bytes())?;
        self.0.write_all(b"\n")
    }

    /// Prints each of `lines`, then flushes: a command's whole answer.
    pub(crate) fn all(&mut self, lines: Vec<String>) -> std::io::Result<()> {
        for line in lines {
            self.line(&line)?;
        }
        self.flush()
    }

    pub(crate) fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// Prints a command's list answer: with `json`, each item as a JSON
/// object on a line of its own, else `table`'s lines; `none` on stderr
/// when there is nothing (stdout stays empty).
pub(crate) fn list<T>(
    items: &[T],
    json: bool,
    as_json: fn(&T) -> serde_json::Value,
    table: impl FnOnce(&[T]) -> Vec<String>,
    none: &str,
) -> Outcome {
    let lines = match json {
        true => items.iter().map(|item| as_json(item).to_string()).collect(),
        false => table(items),
    };
    Out::new().all(lines)?;
    if items.is_empty() {
        eprintln!("chlog: {none}");
    }
    Ok(std::process::ExitCode::SUCCESS)
}
