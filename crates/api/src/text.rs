//! The one rule for text people read back: names, emails, descriptions. Control characters (NUL,
//! CR, LF, escape sequences) forge log lines and headers, and PostgreSQL rejects NUL with an error;
//! Unicode format characters (general category Cf: zero-width spaces and joiners, U+00AD soft
//! hyphen, U+200E/U+200F marks, the U+202A-U+202E and U+2066-U+2069 bidirectional overrides and
//! isolates, U+FEFF) are invisible, so two names that look the same can differ, and a bidi override
//! makes `admin\u{202e}txt.exe` read as something else. Cf membership comes from
//! `unicode-properties` (already in the tree through sqlx's SASL code) rather than a hand-kept
//! table, so it follows the Unicode version that crate tracks.
//!
//! Errors name the field and the rule, never the value.

use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

use crate::problem::FieldError;

/// Why a single-line field refuses text, in the words an error shows.
pub const ONE_LINE_RULE: &str = "must not contain control characters, line breaks or invisible formatting characters \
     (zero-width, bidirectional or other Unicode format characters)";

/// The same for free text, where line breaks and tabs are welcome.
pub const MULTI_LINE_RULE: &str = "must not contain control characters other than line breaks and tabs, nor invisible \
     formatting characters (zero-width, bidirectional or other Unicode format characters)";

fn invisible(c: char) -> bool {
    c.general_category() == GeneralCategory::Format
}

fn line_break(c: char) -> bool {
    matches!(c, '\u{2028}' | '\u{2029}' | '\u{85}')
}

/// True when `text` fits on one line and shows every character it holds.
pub fn is_one_line(text: &str) -> bool {
    !text
        .chars()
        .any(|c| c.is_control() || invisible(c) || line_break(c))
}

/// True when `text` holds nothing hidden; `\n`, `\r\n` and tabs are allowed.
pub fn is_plain_text(text: &str) -> bool {
    !text
        .chars()
        .any(|c| (c.is_control() && !matches!(c, '\n' | '\r' | '\t')) || invisible(c))
}

/// Pushes the one-line rule for `field` unless `text` obeys it; returns whether it did.
pub fn one_line(field: &str, text: &str, errors: &mut Vec<FieldError>) -> bool {
    let ok = is_one_line(text);
    if !ok {
        errors.push(FieldError::new(field, ONE_LINE_RULE));
    }
    ok
}

/// Pushes the free-text rule for `field` unless `text` obeys it; returns whether it did.
pub fn plain_text(field: &str, text: &str, errors: &mut Vec<FieldError>) -> bool {
    let ok = is_plain_text(text);
    if !ok {
        errors.push(FieldError::new(field, MULTI_LINE_RULE));
    }
    ok
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every character the issue names, and their neighbours in the same family.
    const HIDDEN: &[char] = &[
        '\u{0}',
        '\u{7}',
        '\u{1b}',
        '\u{7f}',
        '\u{9b}',
        '\u{ad}',
        '\u{61c}',
        '\u{180e}',
        '\u{200b}',
        '\u{200c}',
        '\u{200d}',
        '\u{200e}',
        '\u{200f}',
        '\u{202a}',
        '\u{202b}',
        '\u{202c}',
        '\u{202d}',
        '\u{202e}',
        '\u{2060}',
        '\u{2066}',
        '\u{2067}',
        '\u{2068}',
        '\u{2069}',
        '\u{feff}',
        '\u{fff9}',
        '\u{e0001}',
        '\u{e0041}',
    ];

    #[test]
    fn hidden_characters_are_refused_everywhere() {
        for c in HIDDEN {
            let text = format!("a{c}b");
            assert!(!is_one_line(&text), "{:04x}", u32::from(*c));
            assert!(!is_plain_text(&text), "{:04x}", u32::from(*c));
        }
    }

    #[test]
    fn line_breaks_only_in_free_text() {
        for text in ["a\nb", "a\r\nb", "a\rb", "a\tb"] {
            assert!(!is_one_line(text), "{text:?}");
            assert!(is_plain_text(text), "{text:?}");
        }
        for text in ["a\u{2028}b", "a\u{85}b"] {
            assert!(!is_one_line(text), "{text:?}");
        }
    }

    #[test]
    fn visible_text_in_any_script_passes() {
        for text in [
            "Ünïcødé",
            "日本語の名前",
            "עברית",
            "العربية",
            "emoji 🔐",
            "a b",
        ] {
            assert!(is_one_line(text), "{text}");
            assert!(is_plain_text(text), "{text}");
        }
    }

    #[test]
    fn errors_name_the_field_not_the_value() {
        let mut errors = Vec::new();
        assert!(!one_line("name", "evil\u{202e}gpj.exe", &mut errors));
        assert_eq!(errors.len(), 1);
        let shown = format!("{errors:?}");
        assert!(shown.contains("name") && !shown.contains("evil"), "{shown}");
    }
}
