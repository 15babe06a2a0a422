//! Rendering: colors that turn off when piped, text made safe for a
//! terminal, numbers for people, sparklines, bars and tables. Every
//! function returns the text, so the tests read what a person would see.

mod spark;
mod table;
mod units;

use anstyle::{AnsiColor, Style};

pub(crate) use spark::{bar, sparkline, timeline};
pub(crate) use table::{Align, Table};
pub(crate) use units::{
    bytes, count, duration, number, percent, rate, rfc3339_nanos, short_time, time,
};

/// Colors on a terminal, plain text otherwise.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Palette {
    on: bool,
}

pub(crate) const DIM: Style = Style::new().dimmed();
pub(crate) const BOLD: Style = Style::new().bold();
pub(crate) const RED: Style = AnsiColor::Red.on_default();
pub(crate) const YELLOW: Style = AnsiColor::Yellow.on_default();
pub(crate) const GREEN: Style = AnsiColor::Green.on_default();
pub(crate) const CYAN: Style = AnsiColor::Cyan.on_default();
pub(crate) const PLAIN: Style = Style::new();

impl Palette {
    pub(crate) fn new(on: bool) -> Self {
        Palette { on }
    }

    /// `text` in `style`, or as it is without colors.
    pub(crate) fn paint(&self, style: Style, text: &str) -> String {
        match self.on && style != PLAIN {
            true => format!("{}{text}{}", style.render(), style.render_reset()),
            false => text.to_owned(),
        }
    }

    /// A level, five wide, in its color.
    pub(crate) fn level(&self, level: &str) -> String {
        self.paint(level_style(level), &format!("{level:>5}"))
    }
}

/// The style of a level (`ERROR` red, `WARN` yellow, ...).
pub(crate) fn level_style(level: &str) -> Style {
    match level {
        "FATAL" => RED.bold(),
        "ERROR" => RED,
        "WARN" => YELLOW,
        "INFO" => GREEN,
        "DEBUG" => CYAN,
        _ => DIM,
    }
}

/// `text` on one line, safe for a terminal: control characters (escape
/// sequences, newlines, tabs, C1 controls) are written as escapes.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if (0x80..0xa0).contains(&(c as u32)) => {
                out.push_str(&format!("\\u{{{:x}}}", c as u32));
            }
            c => out.push(c),
        }
    }
    out
}

/// `key=value` pairs on one line: values with spaces, quotes, `=` or
/// nothing in them quoted; everything escaped.
pub(crate) fn pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    pairs
        .into_iter()
        .map(|(key, value)| format!("{}={}", escape(key), quoted(value)))
        .collect::<Vec<_>>()
        .join(" ")
}

fn quoted(value: &str) -> String {
    let plain = !value.is_empty()
        && !value
            .chars()
            .any(|c| c.is_whitespace() || c == '"' || c == '=' || c == '\\' || c.is_control());
    match plain {
        true => escape(value),
        false => format!("\"{}\"", escape(value).replace('"', "\\\"")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colors_only_when_on() {
        let on = Palette::new(true);
        let off = Palette::new(false);
        assert_eq!(off.level("WARN"), " WARN");
        assert_eq!(on.level("WARN"), "\x1b[33m WARN\x1b[0m");
        assert_eq!(on.paint(PLAIN, "x"), "x");
        assert_eq!(off.paint(RED, "x"), "x");
    }

    #[test]
    fn nothing_reaches_the_terminal_raw() {
        assert_eq!(escape("red \x1b[31mtext\x07"), "red \\x1b[31mtext\\x07");
        assert_eq!(escape("two\nlines\tand\r"), "two\\nlines\\tand\\r");
        assert_eq!(escape("c1 \u{9b}2J ok é 日本"), "c1 \\u{9b}2J ok é 日本");
        assert_eq!(
            pairs([
                ("user", "ada"),
                ("msg", "a b"),
                ("q", "say \"hi\""),
                ("e", "")
            ]),
            "user=ada msg=\"a b\" q=\"say \\\"hi\\\"\" e=\"\""
        );
        assert_eq!(pairs([("k\x1b", "v\nw")]), "k\\x1b=\"v\\nw\"");
    }
}
