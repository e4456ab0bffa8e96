//! Text rules shared across modules: lower-case hex, and what people's
//! names and the texts people are shown (messages, titles, memos) may hold,
//! so nobody can pose as someone else with characters that reorder or
//! hide what is on screen.

/// `bytes` as lower-case hex, two characters a byte.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// Explicit bidirectional formatting (embeddings, overrides, isolates):
/// each reorders how the text after it is shown (`U+202E` makes `gpj.exe`
/// read `exe.jpg`). Ordinary right-to-left text needs none of them; the
/// marks (LRM, RLM, ALM) stay allowed.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Characters that show as nothing or shape nothing visible (Unicode's
/// format characters, Cf, and the invisible separators and fillers), so a
/// name holding one looks like a name without it.
fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}'
        | '\u{180B}'..='\u{180F}' | '\u{200B}'..='\u{200F}' | '\u{2028}'..='\u{202E}'
        | '\u{2060}'..='\u{206F}' | '\u{3164}' | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}'
        | '\u{FFA0}' | '\u{FFF0}'..='\u{FFFB}' | '\u{1BCA0}'..='\u{1BCA3}'
        | '\u{1D173}'..='\u{1D17A}' | '\u{E0000}'..='\u{E0FFF}'
        | '\u{0600}'..='\u{0605}' | '\u{06DD}' | '\u{070F}' | '\u{0890}' | '\u{0891}'
        | '\u{08E2}' | '\u{110BD}' | '\u{110CD}' | '\u{13430}'..='\u{1343F}')
}

/// Pictographs that a zero-width joiner or a variation selector may join
/// into one emoji (👩‍💻, ❤️).
fn is_pictograph(c: char) -> bool {
    matches!(c, '\u{2600}'..='\u{27BF}' | '\u{2B00}'..='\u{2BFF}' | '\u{1F000}'..='\u{1FAFF}')
}

/// Text people are shown (a message, a title, a memo): no control
/// characters (but newlines and tabs where `multiline`) and no bidi
/// controls. Says what is wrong.
pub fn check_shown_text(text: &str, multiline: bool) -> Result<(), String> {
    for c in text.chars() {
        if c.is_control() && !(multiline && matches!(c, '\n' | '\t' | '\r')) {
            return Err(format!("contains the control character U+{:04X}", c as u32));
        }
        if is_bidi_control(c) {
            return Err(format!(
                "contains the bidirectional control U+{:04X}, which reorders what is shown",
                c as u32
            ));
        }
    }
    Ok(())
}

/// A name people are known by (display names): 1–64 characters with no
/// leading or trailing space, no control, bidi or invisible characters
/// (a zero-width joiner or variation selector only inside an emoji), and
/// no space but U+0020 and the ideographic space, never two in a row.
/// Says what is wrong.
pub fn check_name(name: &str) -> Result<(), String> {
    let n = name.chars().count();
    if name.trim().is_empty() || n > 64 {
        return Err(format!("must have 1–64 characters, has {n}"));
    }
    if name.trim() != name {
        return Err("must not start or end with a space".into());
    }
    check_shown_text(name, false)?;
    let chars: Vec<char> = name.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        let prev = i.checked_sub(1).map(|j| chars[j]);
        let next = chars.get(i + 1).copied();
        let joins_emoji = match c {
            '\u{200D}' => {
                prev.is_some_and(is_pictograph_or_modifier) && next.is_some_and(is_pictograph)
            }
            '\u{FE0F}' | '\u{FE0E}' => prev.is_some_and(is_pictograph),
            _ => false,
        };
        if is_invisible(c) && !joins_emoji {
            return Err(format!(
                "contains U+{:04X}, which shows as nothing",
                c as u32
            ));
        }
        if c.is_whitespace() {
            if !matches!(c, ' ' | '\u{3000}') {
                return Err(format!(
                    "contains the space U+{:04X}; use an ordinary space",
                    c as u32
                ));
            }
            if next.is_some_and(char::is_whitespace) {
                return Err("must not have two spaces in a row".into());
            }
        }
    }
    Ok(())
}

fn is_pictograph_or_modifier(c: char) -> bool {
    is_pictograph(c) || matches!(c, '\u{FE0F}' | '\u{1F3FB}'..='\u{1F3FF}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_is_lower_case_and_zero_padded() {
        assert_eq!(super::hex(&[0x00, 0x0f, 0xab, 0xff]), "000fabff");
    }

    #[test]
    fn names_refuse_what_reorders_or_hides_and_keep_real_names() {
        for ok in [
            "Ann",
            "Ann Lee",
            "张三",
            "李\u{3000}四",
            "محمد",
            "Zoë",
            "👩\u{200D}💻 Ann",
            "❤\u{FE0F} Ben",
        ] {
            assert_eq!(check_name(ok), Ok(()), "{ok:?}");
        }
        for bad in [
            "ann\u{202E}nna",
            "\u{200B}ann",
            "an\u{200B}n",
            "ann\u{2066}",
            "a\u{00AD}nn",
            "ann\u{FEFF}",
            "an\u{200D}n",
            "ann\u{2028}",
            " ann",
            "ann ",
            "an  n",
            "an\u{00A0}n",
            "an\u{7}n",
            "ann\u{E0041}",
            "",
            "   ",
        ] {
            assert!(check_name(bad).is_err(), "{bad:?} must be refused");
        }
    }

    #[test]
    fn shown_text_refuses_bidi_controls_and_keeps_languages_emoji_and_lines() {
        assert_eq!(
            check_shown_text("hi\nthere\t👨\u{200D}👩\u{200D}👧 שלום \u{200F}", true),
            Ok(())
        );
        assert_eq!(
            check_shown_text("zero\u{200B}width is fine in a message", false),
            Ok(())
        );
        assert!(check_shown_text("pay \u{202E}001", true).is_err());
        assert!(check_shown_text("\u{2067}x\u{2069}", true).is_err());
        assert!(check_shown_text("two\nlines", false).is_err());
        assert!(check_shown_text("nul\u{0}", true).is_err());
    }
}
