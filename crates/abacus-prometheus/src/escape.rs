//! Escaping of label values and help text.
//!
//! The text format 0.0.4 defines exactly three escapes in label values (`\\`, `\"`, `\n`)
//! and two in help text (`\\`, `\n`); OpenMetrics uses the three in both
//! (<https://github.com/OpenObservability/OpenMetrics/blob/main/specification/OpenMetrics.md#escaping>).
//! Every other character, tabs and non-ASCII included, is written as it is. Escaping is a
//! function of the raw string alone: a backslash is doubled wherever it stands.

/// Appends `value` as the inside of a quoted label value: `\` becomes `\\`, `"` becomes
/// `\"` and a line feed becomes `\n`.
pub(crate) fn write_label_value(out: &mut Vec<u8>, value: &str) {
    let bytes = value.as_bytes();
    // Most label values need no escaping; finding that out with one vectorised scan keeps
    // the common case a single copy.
    let Some(first) = memchr::memchr3(b'\\', b'"', b'\n', bytes) else {
        out.extend_from_slice(bytes);
        return;
    };
    write_escaped(out, bytes, first, |b| match b {
        b'\\' => Some(b"\\\\"),
        b'"' => Some(b"\\\""),
        b'\n' => Some(b"\\n"),
        _ => None,
    });
}

/// Appends help text: `\` becomes `\\` and a line feed becomes `\n`. Quotes are left alone,
/// as the format requires.
pub(crate) fn write_help(out: &mut Vec<u8>, help: &str) {
    let bytes = help.as_bytes();
    let Some(first) = memchr::memchr2(b'\\', b'\n', bytes) else {
        out.extend_from_slice(bytes);
        return;
    };
    write_escaped(out, bytes, first, |b| match b {
        b'\\' => Some(b"\\\\"),
        b'\n' => Some(b"\\n"),
        _ => None,
    });
}

/// Appends help text for OpenMetrics, where help is an escaped string like a label value:
/// `\`, `"` and a line feed are escaped.
pub(crate) fn write_help_openmetrics(out: &mut Vec<u8>, help: &str) {
    write_label_value(out, help);
}

/// The slow path: copies `bytes`, replacing each byte `escape` maps, from the first such
/// byte at `first` on. The escaped bytes are all ASCII, so no UTF-8 sequence is split.
fn write_escaped(
    out: &mut Vec<u8>,
    bytes: &[u8],
    first: usize,
    escape: impl Fn(u8) -> Option<&'static [u8; 2]>,
) {
    out.extend_from_slice(&bytes[..first]);
    let mut copied = first;
    for (index, &byte) in bytes.iter().enumerate().skip(first) {
        if let Some(replacement) = escape(byte) {
            out.extend_from_slice(&bytes[copied..index]);
            out.extend_from_slice(replacement);
            copied = index + 1;
        }
    }
    out.extend_from_slice(&bytes[copied..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn label(value: &str) -> String {
        let mut out = Vec::new();
        write_label_value(&mut out, value);
        String::from_utf8(out).expect("escaping keeps UTF-8")
    }

    fn help(text: &str) -> String {
        let mut out = Vec::new();
        write_help(&mut out, text);
        String::from_utf8(out).expect("escaping keeps UTF-8")
    }

    #[test]
    fn label_value_without_specials_is_copied() {
        assert_eq!(label("plain value"), "plain value");
        assert_eq!(label(""), "");
        assert_eq!(label("ünï ✓"), "ünï ✓");
        assert_eq!(label("tab\there"), "tab\there");
    }

    #[test]
    fn label_value_escapes_backslash_quote_and_newline() {
        assert_eq!(label(r"C:\tmp"), r"C:\\tmp");
        assert_eq!(label(r#"say "hi""#), r#"say \"hi\""#);
        assert_eq!(label("a\nb"), r"a\nb");
        assert_eq!(label("end\\"), r"end\\");
        assert_eq!(label(r"\\lead"), r"\\\\lead");
        assert_eq!(label(r#"\""#), r#"\\\""#);
        assert_eq!(label("\n"), r"\n");
        assert_eq!(label("ü\"✓\n"), "ü\\\"✓\\n");
    }

    #[test]
    fn openmetrics_help_escapes_quotes_too() {
        let mut out = Vec::new();
        write_help_openmetrics(&mut out, "say \"hi\" to C:\\tmp\n");
        assert_eq!(out, br#"say \"hi\" to C:\\tmp\n"#);
    }

    #[test]
    fn help_escapes_backslash_and_newline_but_not_quotes() {
        assert_eq!(help(r#"say "hi""#), r#"say "hi""#);
        assert_eq!(help(r"C:\tmp"), r"C:\\tmp");
        assert_eq!(help("two\nlines"), r"two\nlines");
        assert_eq!(help("tab\tand ünï ✓"), "tab\tand ünï ✓");
        assert_eq!(help("trailing\\"), "trailing\\\\");
    }
}
