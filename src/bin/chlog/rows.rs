//! Counting the rows of an export as its chunks go by, without keeping them.

use tracing_clickhouse::query::ExportFormat;

/// Counts the rows of a JSON lines or CSV export chunk by chunk (a chunk
/// may end anywhere, inside a row or a quoted field). Parquet keeps its
/// count in the file's footer, which [`crate::parquet`] reads once the file is written.
#[derive(Clone, Debug)]
pub(crate) struct RowCounter {
    format: ExportFormat,
    newlines: u64,
    in_quotes: bool,
    /// Whether the last byte seen ended a line (or nothing was seen).
    at_line_start: bool,
}

impl RowCounter {
    /// A counter for `format`.
    pub(crate) fn new(format: ExportFormat) -> Self {
        RowCounter {
            format,
            newlines: 0,
            in_quotes: false,
            at_line_start: true,
        }
    }

    /// Counts the rows ended in `chunk`.
    pub(crate) fn feed(&mut self, chunk: &[u8]) {
        match self.format {
            // JSON escapes newlines inside strings: one line, one row.
            ExportFormat::JsonLines => {
                self.newlines += chunk.iter().filter(|&&b| b == b'\n').count() as u64;
            }
            // A quoted field may hold newlines; a doubled quote inside one
            // toggles twice, which leaves it quoted.
            ExportFormat::Csv => {
                for &byte in chunk {
                    match byte {
                        b'"' => self.in_quotes = !self.in_quotes,
                        b'\n' if !self.in_quotes => self.newlines += 1,
                        _ => {}
                    }
                }
            }
            // Parquet: counted from its footer.
            _ => {}
        }
        if let Some(&last) = chunk.last() {
            self.at_line_start = last == b'\n' && !self.in_quotes;
        }
    }

    /// The rows so far (the header line of CSV aside; a last line without
    /// its newline counted too); `None` for Parquet, whose footer says.
    pub(crate) fn rows(&self) -> Option<u64> {
        let lines = self.newlines + u64::from(!self.at_line_start);
        match self.format {
            ExportFormat::JsonLines => Some(lines),
            ExportFormat::Csv => Some(lines.saturating_sub(1)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(format: ExportFormat, text: &str, chunk: usize) -> Option<u64> {
        let mut counter = RowCounter::new(format);
        for piece in text.as_bytes().chunks(chunk) {
            counter.feed(piece);
        }
        counter.rows()
    }

    #[test]
    fn csv_newlines_inside_quotes_are_not_rows_wherever_the_chunks_end() {
        let csv = "\"Body\",\"n\"\n\"a \"\"quoted\"\"\nline\",1\n\"b\",2\n\"\",3\n";
        for chunk in 1..=csv.len() {
            assert_eq!(
                count(ExportFormat::Csv, csv, chunk),
                Some(3),
                "chunks of {chunk}"
            );
        }
        assert_eq!(
            count(ExportFormat::Csv, "\"Body\"\n", 4),
            Some(0),
            "the header only"
        );
        assert_eq!(count(ExportFormat::Csv, "", 4), Some(0));
        assert_eq!(
            count(ExportFormat::Csv, "h\nx", 4),
            Some(1),
            "no final newline"
        );
    }

    #[test]
    fn json_lines_are_rows() {
        let json = "{\"Body\":\"a\\nb\"}\n{\"Body\":\"\\\"\"}\n";
        for chunk in 1..=json.len() {
            assert_eq!(count(ExportFormat::JsonLines, json, chunk), Some(2));
        }
        assert_eq!(count(ExportFormat::JsonLines, "", 1), Some(0));
        assert_eq!(count(ExportFormat::Parquet, "PAR1\n\n", 1), None);
    }
}
