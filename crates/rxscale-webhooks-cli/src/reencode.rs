//! Re-encoding a JSON body the way common tools do, keeping its key order, to recognise a body
//! that was parsed and serialized again after it was signed.

use std::io::{self, Write};

use serde_json::ser::Formatter;

/// How a JSON library lays out what it writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Layout {
    /// `{"a":1,"b":[1,2]}`: `JSON.stringify`, `serde_json::to_string`.
    Compact,
    /// `{"a": 1, "b": [1, 2]}`: Python's `json.dumps` defaults.
    Spaced,
    /// Two-space indent: `JSON.stringify(v, null, 2)`, `serde_json::to_string_pretty`.
    Indent2,
    /// Four-space indent: `json.dumps(v, indent=4)`.
    Indent4,
}

/// A layout, and whether non-ASCII characters are escaped as `\uXXXX` (Python's default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Style {
    pub(crate) layout: Layout,
    pub(crate) ascii: bool,
}

impl Style {
    pub(crate) const ALL: [Style; 8] = [
        Style::of(Layout::Compact, false),
        Style::of(Layout::Spaced, false),
        Style::of(Layout::Indent2, false),
        Style::of(Layout::Indent4, false),
        Style::of(Layout::Compact, true),
        Style::of(Layout::Spaced, true),
        Style::of(Layout::Indent2, true),
        Style::of(Layout::Indent4, true),
    ];

    pub(crate) const fn of(layout: Layout, ascii: bool) -> Self {
        Style { layout, ascii }
    }

    pub(crate) fn describe(self) -> &'static str {
        match (self.layout, self.ascii) {
            (Layout::Compact, false) => "compact, as JSON.stringify writes it",
            (Layout::Spaced, false) => "with \", \" and \": \" separators",
            (Layout::Indent2, false) => "pretty-printed with a 2-space indent",
            (Layout::Indent4, false) => "pretty-printed with a 4-space indent",
            (Layout::Compact, true) => "compact, non-ASCII escaped as \\uXXXX",
            (Layout::Spaced, true) => {
                "with \", \" and \": \" separators and non-ASCII escaped, as Python's json.dumps writes it"
            }
            (Layout::Indent2, true) => {
                "pretty-printed with a 2-space indent, non-ASCII escaped as \\uXXXX"
            }
            (Layout::Indent4, true) => {
                "pretty-printed with a 4-space indent, non-ASCII escaped as \\uXXXX"
            }
        }
    }
}

/// `body` parsed and written again in `style`, keys in their original order; `None` when the
/// body is not one JSON value.
pub(crate) fn reencode(body: &[u8], style: Style) -> Option<Vec<u8>> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let mut out = Vec::with_capacity(body.len() + body.len() / 4);
    let mut serializer =
        serde_json::Serializer::with_formatter(&mut out, StyleFormatter::new(style));
    serde_transcode::transcode(&mut deserializer, &mut serializer).ok()?;
    deserializer.end().ok()?;
    Some(out)
}

/// serde_json's `CompactFormatter` and `PrettyFormatter` in one, plus the two other habits.
struct StyleFormatter {
    indent: Option<&'static [u8]>,
    comma: &'static [u8],
    colon: &'static [u8],
    ascii: bool,
    level: usize,
    has_value: bool,
}

impl StyleFormatter {
    fn new(style: Style) -> Self {
        let (indent, comma, colon): (Option<&'static [u8]>, &'static [u8], &'static [u8]) =
            match style.layout {
                Layout::Compact => (None, b",", b":"),
                Layout::Spaced => (None, b", ", b": "),
                Layout::Indent2 => (Some(b"  "), b",", b": "),
                Layout::Indent4 => (Some(b"    "), b",", b": "),
            };
        StyleFormatter {
            indent,
            comma,
            colon,
            ascii: style.ascii,
            level: 0,
            has_value: false,
        }
    }

    fn open<W: ?Sized + Write>(&mut self, writer: &mut W, bracket: &[u8]) -> io::Result<()> {
        self.level += 1;
        self.has_value = false;
        writer.write_all(bracket)
    }

    fn close<W: ?Sized + Write>(&mut self, writer: &mut W, bracket: &[u8]) -> io::Result<()> {
        self.level = self.level.saturating_sub(1);
        if self.has_value {
            self.newline(writer)?;
        }
        writer.write_all(bracket)
    }

    fn item<W: ?Sized + Write>(&mut self, writer: &mut W, first: bool) -> io::Result<()> {
        if !first {
            writer.write_all(self.comma)?;
        }
        self.newline(writer)
    }

    fn newline<W: ?Sized + Write>(&self, writer: &mut W) -> io::Result<()> {
        if let Some(indent) = self.indent {
            writer.write_all(b"\n")?;
            for _ in 0..self.level {
                writer.write_all(indent)?;
            }
        }
        Ok(())
    }
}

impl Formatter for StyleFormatter {
    fn begin_array<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.open(writer, b"[")
    }

    fn end_array<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.close(writer, b"]")
    }

    fn begin_array_value<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.item(writer, first)
    }

    fn end_array_value<W: ?Sized + Write>(&mut self, _writer: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }

    fn begin_object<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.open(writer, b"{")
    }

    fn end_object<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        self.close(writer, b"}")
    }

    fn begin_object_key<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        first: bool,
    ) -> io::Result<()> {
        self.item(writer, first)
    }

    fn begin_object_value<W: ?Sized + Write>(&mut self, writer: &mut W) -> io::Result<()> {
        writer.write_all(self.colon)
    }

    fn end_object_value<W: ?Sized + Write>(&mut self, _writer: &mut W) -> io::Result<()> {
        self.has_value = true;
        Ok(())
    }

    fn write_string_fragment<W: ?Sized + Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        if !self.ascii || fragment.is_ascii() {
            return writer.write_all(fragment.as_bytes());
        }
        let mut units = [0u16; 2];
        for c in fragment.chars() {
            if c.is_ascii() {
                writer.write_all(&[c as u8])?;
            } else {
                for unit in c.encode_utf16(&mut units) {
                    write!(writer, "\\u{unit:04x}")?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &[u8] = r#"{"z":1,"a":{"b":[1,2.5,{}],"c":[]},"n":null,"s":"Grüße 😀"}"#.as_bytes();

    fn encoded(layout: Layout, ascii: bool) -> String {
        String::from_utf8(reencode(BODY, Style::of(layout, ascii)).unwrap()).unwrap()
    }

    #[test]
    fn compact_keeps_key_order_and_bytes() {
        assert_eq!(encoded(Layout::Compact, false).as_bytes(), BODY);
    }

    #[test]
    fn matches_serde_json_pretty() {
        let value: serde_json::Value =
            serde_json::from_slice(br#"{"a":{"b":[1,2.5,{}],"c":[]},"n":null}"#).unwrap();
        let ours = reencode(
            br#"{"a":{"b":[1,2.5,{}],"c":[]},"n":null}"#,
            Style::of(Layout::Indent2, false),
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(ours).unwrap(),
            serde_json::to_string_pretty(&value).unwrap()
        );
    }

    #[test]
    fn python_spacing_and_ascii_escapes() {
        assert_eq!(
            encoded(Layout::Spaced, true),
            r#"{"z": 1, "a": {"b": [1, 2.5, {}], "c": []}, "n": null, "s": "Gr\u00fc\u00dfe \ud83d\ude00"}"#
        );
    }

    #[test]
    fn four_space_indent() {
        let text = encoded(Layout::Indent4, false);
        assert!(
            text.starts_with("{\n    \"z\": 1,\n    \"a\": {\n        \"b\": [\n"),
            "{text}"
        );
    }

    #[test]
    fn not_json_is_none() {
        assert!(reencode(b"not json", Style::ALL[0]).is_none());
        assert!(reencode(b"{} {}", Style::ALL[0]).is_none());
    }
}
