//! Columns lined up, with styles that do not count in the widths.

use anstyle::Style;

use super::{DIM, PLAIN, Palette};

/// Where a column's cells sit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Align {
    Left,
    Right,
}

/// A table: a header and rows of (text, style) cells.
#[derive(Debug)]
pub(crate) struct Table {
    columns: Vec<(String, Align)>,
    rows: Vec<Vec<(String, Style)>>,
}

impl Table {
    pub(crate) fn new(columns: &[(&str, Align)]) -> Self {
        Table {
            columns: columns.iter().map(|(h, a)| ((*h).to_owned(), *a)).collect(),
            rows: Vec::new(),
        }
    }

    /// A row of plain cells.
    pub(crate) fn row(&mut self, cells: Vec<String>) {
        self.rows
            .push(cells.into_iter().map(|c| (c, PLAIN)).collect());
    }

    /// A row of styled cells.
    pub(crate) fn styled_row(&mut self, cells: Vec<(String, Style)>) {
        self.rows.push(cells);
    }

    /// The lines: the header (dimmed), then the rows; two spaces between
    /// columns, no trailing spaces.
    pub(crate) fn render(&self, palette: Palette) -> Vec<String> {
        let width = |text: &str| text.chars().count();
        let widths: Vec<usize> = (0..self.columns.len())
            .map(|i| {
                self.rows
                    .iter()
                    .filter_map(|row| row.get(i))
                    .map(|(text, _)| width(text))
                    .chain([width(&self.columns[i].0)])
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let line = |cells: Vec<(&str, Style)>| {
            let last = cells.len().saturating_sub(1);
            let mut out = String::new();
            for (i, (text, style)) in cells.into_iter().enumerate() {
                let pad = widths[i].saturating_sub(width(text));
                let align = self.columns.get(i).map_or(Align::Left, |c| c.1);
                if i > 0 {
                    out.push_str("  ");
                }
                if align == Align::Right {
                    out.push_str(&" ".repeat(pad));
                }
                out.push_str(&palette.paint(style, text));
                if align == Align::Left && i < last {
                    out.push_str(&" ".repeat(pad));
                }
            }
            out.trim_end().to_owned()
        };
        let header = self
            .columns
            .iter()
            .map(|(h, _)| (h.as_str(), DIM))
            .collect();
        std::iter::once(line(header))
            .chain(
                self.rows
                    .iter()
                    .map(|row| line(row.iter().map(|(t, s)| (t.as_str(), *s)).collect())),
            )
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::RED;

    #[test]
    fn columns_line_up_without_counting_colors() {
        let mut table = Table::new(&[
            ("name", Align::Left),
            ("rows", Align::Right),
            ("x", Align::Left),
        ]);
        table.row(vec!["logs".into(), "1,200".into(), "ok".into()]);
        table.styled_row(vec![
            ("spans".into(), RED),
            ("7".into(), PLAIN),
            ("".into(), PLAIN),
        ]);
        assert_eq!(
            table.render(Palette::new(false)),
            ["name    rows  x", "logs   1,200  ok", "spans      7"]
        );
        let colored = table.render(Palette::new(true));
        assert_eq!(colored[2], "\x1b[31mspans\x1b[0m      7");
    }
}
