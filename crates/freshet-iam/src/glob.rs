//! IAM's wildcards: `*` matches any run of characters (none included), `?` any one character.
//! Actions match without regard to case; ARNs and condition strings with it.

/// One element of a pattern. A policy's own `*` and `?` are wildcards; the same characters
/// from a policy variable (`${*}`, or a value substituted in) are not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Token {
    Char(char),
    Star,
    Question,
}

/// The tokens of a pattern as a policy writes it.
pub fn tokens(pattern: &str) -> Vec<Token> {
    pattern
        .chars()
        .map(|c| match c {
            '*' => Token::Star,
            '?' => Token::Question,
            c => Token::Char(c),
        })
        .collect()
}

/// Whether `text` matches `pattern`.
pub fn matches(pattern: &str, text: &str, ignore_case: bool) -> bool {
    matches_tokens(&tokens(pattern), text, ignore_case)
}

/// Whether `text` matches the pattern `p`. Linear in both lengths times the number of `*`
/// restarts (the classic backtracking-to-last-star scan), so a hostile pattern cannot blow up.
pub fn matches_tokens(p: &[Token], text: &str, ignore_case: bool) -> bool {
    let t: Vec<char> = text.chars().collect();
    let same = |a: char, b: char| {
        if ignore_case {
            a.eq_ignore_ascii_case(&b) || a.to_lowercase().eq(b.to_lowercase())
        } else {
            a == b
        }
    };
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some(Token::Question) => {
                pi += 1;
                ti += 1;
            }
            Some(Token::Char(c)) if same(*c, t[ti]) => {
                pi += 1;
                ti += 1;
            }
            Some(Token::Star) => {
                star = Some((pi, ti));
                pi += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == Token::Star)
}

/// ARN matching as `ArnLike` does it: each of the six colon-separated parts on its own (the
/// last part keeps any further colons), so a wildcard never spans a part.
pub fn arn_matches(pattern: &[Token], arn: &str) -> bool {
    let pattern: Vec<&[Token]> = pattern.splitn(6, |t| *t == Token::Char(':')).collect();
    let arn: Vec<&str> = arn.splitn(6, ':').collect();
    pattern.len() == 6
        && arn.len() == 6
        && pattern
            .iter()
            .zip(&arn)
            .all(|(p, a)| matches_tokens(p, a, false))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(matches("*", "", false));
        assert!(matches("kinesis:Get*", "kinesis:GetRecords", false));
        assert!(matches("kinesis:get*", "kinesis:GetRecords", true));
        assert!(!matches("kinesis:get*", "kinesis:GetRecords", false));
        assert!(matches("kinesis:*Stream", "kinesis:CreateStream", false));
        assert!(!matches("kinesis:*Stream", "kinesis:CreateStreams", false));
        assert!(matches("a?c", "abc", false));
        assert!(!matches("a?c", "ac", false));
        assert!(matches("*a*b*c*", "xxaxxbxxcxx", false));
        assert!(!matches("*a*b*c*", "xxaxxcxxbxx", false));
        assert!(matches(
            "arn:aws:kinesis:*:111:stream/*",
            "arn:aws:kinesis:us-east-1:111:stream/s",
            false
        ));
    }

    #[test]
    fn arn_parts_do_not_share_wildcards() {
        assert!(arn_matches(
            &tokens("arn:aws:iam::*:role/x"),
            "arn:aws:iam::111:role/x"
        ));
        assert!(!arn_matches(
            &tokens("arn:aws:iam::*"),
            "arn:aws:iam::111:role/x"
        ));
        assert!(arn_matches(
            &tokens("arn:aws:kinesis:*:*:stream/a:b"),
            "arn:aws:kinesis:r:1:stream/a:b"
        ));
    }

    #[test]
    fn a_pathological_pattern_finishes() {
        let text = "a".repeat(2000);
        assert!(!matches(&("*a".repeat(100) + "b"), &text, false));
    }
}
