//! IAM's wildcards: `*` matches any run of characters (none included), `?` any one character.
//! Actions match without regard to case; ARNs and condition strings with it.

/// Whether `text` matches `pattern`. Linear in both lengths times the number of `*` restarts
/// (the classic backtracking-to-last-star scan), so a hostile pattern cannot blow up.
pub fn matches(pattern: &str, text: &str, ignore_case: bool) -> bool {
    let p: Vec<char> = pattern.chars().collect();
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
        if pi < p.len() && (p[pi] == '?' || (p[pi] != '*' && same(p[pi], t[ti]))) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// ARN matching as `ArnLike` does it: each of the six colon-separated parts on its own (the
/// last part keeps any further colons), so a wildcard never spans a part.
pub fn arn_matches(pattern: &str, arn: &str) -> bool {
    let pattern: Vec<&str> = pattern.splitn(6, ':').collect();
    let arn: Vec<&str> = arn.splitn(6, ':').collect();
    pattern.len() == 6
        && arn.len() == 6
        && pattern.iter().zip(&arn).all(|(p, a)| matches(p, a, false))
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
            "arn:aws:iam::*:role/x",
            "arn:aws:iam::111:role/x"
        ));
        assert!(!arn_matches("arn:aws:iam::*", "arn:aws:iam::111:role/x"));
        assert!(arn_matches(
            "arn:aws:kinesis:*:*:stream/a:b",
            "arn:aws:kinesis:r:1:stream/a:b"
        ));
    }

    #[test]
    fn a_pathological_pattern_finishes() {
        let text = "a".repeat(2000);
        assert!(!matches(&("*a".repeat(100) + "b"), &text, false));
    }
}
