//! Counting a document's lexical tokens before it is parsed, stopping as soon as there are too many.
//!
//! async-graphql's parser (pest) has no token limit, and builds a tree for everything it reads:
//! this scan reads each byte at most once and allocates nothing, so an oversized document costs
//! no more than the limit's worth of reading before it is refused. It only counts; the parser
//! still decides what the document means, and a malformed one is miscounted harmlessly.

/// Whether `document` has more than `max` tokens: names, numbers, strings and punctuators
/// (`...` is one); whitespace, commas and comments are not tokens.
pub(super) fn more_than(document: &str, max: usize) -> bool {
    let bytes = document.as_bytes();
    let mut count = 0;
    let mut at = 0;
    while let Some(&byte) = bytes.get(at) {
        let rest = &bytes[at..];
        let len = match byte {
            b' ' | b'\t' | b'\n' | b'\r' | b',' => {
                at += 1;
                continue;
            }
            b'#' => {
                at += rest
                    .iter()
                    .take_while(|b| !matches!(b, b'\n' | b'\r'))
                    .count();
                continue;
            }
            b'"' if rest.starts_with(br#"""""#) => block_string_len(rest),
            b'"' => string_len(rest),
            b'.' if rest.starts_with(b"...") => 3,
            b'-' | b'0'..=b'9' => 1 + rest[1..].iter().take_while(|b| in_number(**b)).count(),
            b if in_name(b) => 1 + rest[1..].iter().take_while(|b| in_name(**b)).count(),
            _ => 1,
        };
        count += 1;
        if count > max {
            return true;
        }
        at += len;
    }
    false
}

fn in_name(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_'
}

fn in_number(byte: u8) -> bool {
    in_name(byte) || matches!(byte, b'.' | b'+' | b'-')
}

/// The length of the `"..."` string that `rest` opens, up to the end of its line if unclosed.
fn string_len(rest: &[u8]) -> usize {
    let mut at = 1;
    while let Some(&byte) = rest.get(at) {
        match byte {
            b'\\' => at += 2,
            b'"' => return at + 1,
            b'\n' | b'\r' => return at,
            _ => at += 1,
        }
    }
    rest.len()
}

/// The length of the `"""..."""` block string that `rest` opens (`\"""` does not close it).
fn block_string_len(rest: &[u8]) -> usize {
    let mut at = 3;
    while at < rest.len() {
        if rest[at..].starts_with(br#"\""""#) {
            at += 4;
        } else if rest[at..].starts_with(br#"""""#) {
            return at + 3;
        } else {
            at += 1;
        }
    }
    rest.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(document: &str) -> usize {
        (0..).find(|max| !more_than(document, *max)).unwrap()
    }

    #[test]
    fn counts_names_punctuators_numbers_and_strings() {
        assert_eq!(count("{ users(pageSize: -1.5e3) { totalCount } }"), 11);
        assert_eq!(
            count(r#"query($id: ID!) { user(id: "a\"b,c") { ...F } }"#),
            20
        );
    }

    #[test]
    fn skips_whitespace_commas_and_comments() {
        assert_eq!(count("# { a b c }\n{ a, b,,, c }"), 5);
        assert_eq!(count(""), 0);
    }

    #[test]
    fn a_block_string_is_one_token() {
        assert_eq!(count(r#"{ f(a: """x \""" { y } """) }"#), 8);
    }

    #[test]
    fn stops_at_the_limit() {
        let huge = "a ".repeat(1_000_000);
        assert!(more_than(&huge, 1000));
        assert!(!more_than("{ a }", 3));
        assert!(more_than("{ a }", 2));
    }
}
