//! W3C_LOG_PARSE's formats: the predefined ones by name, and Apache `LogFormat` strings, read
//! as one anchored regular expression with a group per specifier.

use regex::Regex;

/// W3C_LOG_PARSE's predefined formats, by the SQL Reference's names (spaces or underscores), with
/// the Apache format strings its table gives them. `COMBINED` is Apache's own name for NCSA
/// extended ("NCSA extended/combined log format" in the table).
const W3C_FORMATS: [(&str, &str); 6] = [
    ("COMMON", r#"%h %l %u %t "%r" %>s %b"#),
    ("COMMON WITH VHOST", r#"%v %h %l %u %t "%r" %>s %b"#),
    (
        "NCSA EXTENDED",
        r#"%h %l %u %t "%r" %>s %b "%[Referer]i" "%[User-agent]i""#,
    ),
    (
        "COMBINED",
        r#"%h %l %u %t "%r" %>s %b "%[Referer]i" "%[User-agent]i""#,
    ),
    ("REFERER", "%[Referer]i ---> %U"),
    ("AGENT", "%[User-agent]i"),
];

/// Microsoft's IIS log format, which the Reference lists without its fields: 15 comma-separated
/// fields (client IP, user, date, time, service, server name, server IP, time taken, bytes
/// received, bytes sent, status, Windows status, method, target, parameters), each followed by
/// a comma.
const IIS_FIELDS: usize = 15;

/// The letters of the Reference's W3C format specifiers.
const W3C_LETTERS: &str = "aABbCDefhHilmnopPqrstTuUvVXIO";

/// Letters whose values may hold spaces (headers, notes, cookies, the request line, a formatted
/// time): outside quotes they run to the next literal text. The others are single tokens.
const W3C_TEXT_LETTERS: &str = "Cefinoqr";

/// The regular expression a W3C format reads lines with, and its number of columns (one per
/// specifier, as the Reference's COMMON example numbers them).
pub(super) fn w3c(format: &str) -> Result<(Regex, usize), String> {
    let name = format
        .split(|c: char| c == '_' || c.is_whitespace())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
        .to_uppercase();
    if name == "IIS" {
        let field = r"([^,]*)";
        let mut regex = String::from(r"\A");
        for i in 0..IIS_FIELDS {
            regex.push_str(field);
            regex.push_str(if i + 1 < IIS_FIELDS {
                r",\s*"
            } else {
                r",?\s*\z"
            });
        }
        return Regex::new(&regex)
            .map(|r| (r, IIS_FIELDS))
            .map_err(|e| e.to_string());
    }
    let format = match W3C_FORMATS.iter().find(|(n, _)| *n == name) {
        Some((_, specifiers)) => *specifiers,
        None if format.contains('%') => format,
        None => {
            return Err(format!(
                "'{format}' is neither a predefined format (COMMON, COMMON WITH VHOST, NCSA \
                 EXTENDED, COMBINED, REFERER, AGENT, IIS) nor an Apache log format with % \
                 specifiers"
            ));
        }
    };
    let tokens = w3c_tokens(format)?;
    let mut regex = String::from(r"\A");
    let mut columns = 0;
    for (i, token) in tokens.iter().enumerate() {
        match token {
            W3cToken::Literal(text) => regex.push_str(&regex::escape(text)),
            W3cToken::Specifier { letter, param } => {
                columns += 1;
                let before = match i.checked_sub(1).map(|p| &tokens[p]) {
                    Some(W3cToken::Literal(text)) => text.chars().last(),
                    _ => None,
                };
                let after = match tokens.get(i + 1) {
                    Some(W3cToken::Literal(text)) => text.chars().next(),
                    _ => None,
                };
                regex.push_str(if before == Some('"') && after == Some('"') {
                    // Apache escapes a quote inside a quoted value as \".
                    r#"((?:[^"\\]|\\.)*)"#
                } else if *letter == 't' && param.is_none() {
                    // %t is written in brackets; "[%t]" reads the time without them, as the
                    // Reference's note on custom formats says.
                    if before == Some('[') {
                        r"([^\]]*)"
                    } else {
                        r"(\[[^\]]*\])"
                    }
                } else if W3C_TEXT_LETTERS.contains(*letter) || *letter == 't' {
                    "(.*?)"
                } else {
                    r"(\S*)"
                });
            }
        }
    }
    regex.push_str(r"\s*\z");
    let regex = Regex::new(&regex).map_err(|e| format!("the format '{format}': {e}"))?;
    Ok((regex, columns))
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum W3cToken {
    Literal(String),
    Specifier { letter: char, param: Option<String> },
}

/// An Apache `LogFormat` string: `%` [conditions and `<`/`>`] [`{param}` or KDA's `[param]`]
/// letter; `%%` is a percent sign; a backslash makes the next character literal (the
/// Reference's custom format writes `\"%r\"`).
fn w3c_tokens(format: &str) -> Result<Vec<W3cToken>, String> {
    let mut tokens = Vec::new();
    let mut literal = String::new();
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => literal.push(chars.next().unwrap_or('\\')),
            '%' if chars.peek() == Some(&'%') => {
                chars.next();
                literal.push('%');
            }
            '%' => {
                let mut param = None;
                let letter = loop {
                    match chars.next() {
                        // Status conditions (`%400,501{User-agent}i`, `%!200i`) and the
                        // original/final request markers change what Apache writes, not how
                        // a line reads.
                        Some('<' | '>' | '!' | ',' | '0'..='9') => {}
                        Some(open @ ('{' | '[')) => {
                            let close = if open == '{' { '}' } else { ']' };
                            let mut text = String::new();
                            loop {
                                match chars.next() {
                                    Some(c) if c == close => break,
                                    Some(c) => text.push(c),
                                    None => {
                                        return Err(format!(
                                            "the format '{format}' has an unclosed {open}"
                                        ));
                                    }
                                }
                            }
                            param = Some(text);
                        }
                        Some(letter) if W3C_LETTERS.contains(letter) => break letter,
                        Some(other) => {
                            return Err(format!(
                                "the format '{format}' has %{other}, which is not a W3C format \
                                 specifier"
                            ));
                        }
                        None => return Err(format!("the format '{format}' ends inside a %")),
                    }
                };
                if !literal.is_empty() {
                    tokens.push(W3cToken::Literal(std::mem::take(&mut literal)));
                }
                tokens.push(W3cToken::Specifier { letter, param });
            }
            other => literal.push(other),
        }
    }
    if !literal.is_empty() {
        tokens.push(W3cToken::Literal(literal));
    }
    if !tokens
        .iter()
        .any(|t| matches!(t, W3cToken::Specifier { .. }))
    {
        return Err(format!("the format '{format}' has no % specifiers"));
    }
    Ok(tokens)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(regex: &Regex, line: &str) -> Option<Vec<Option<String>>> {
        regex.captures(line).map(|c| {
            c.iter()
                .skip(1)
                .map(|g| g.map(|g| g.as_str().to_string()))
                .collect()
        })
    }

    fn some(values: &[&str]) -> Option<Vec<Option<String>>> {
        Some(values.iter().map(|v| Some(v.to_string())).collect())
    }

    #[test]
    fn w3c_formats_read_apache_lines() {
        let line = r#"192.168.254.30 - John [24/May/2004:22:01:02 -0700] "GET /icons/apache_pb.gif HTTP/1.1" 304 0"#;
        let columns = [
            "192.168.254.30",
            "-",
            "John",
            "[24/May/2004:22:01:02 -0700]",
            "GET /icons/apache_pb.gif HTTP/1.1",
            "304",
            "0",
        ];
        for format in ["COMMON", "common", r#"%h %l %u %t \"%r\" %>s %b"#] {
            let (regex, count) = w3c(format).expect(format);
            assert_eq!(count, 7);
            assert_eq!(split(&regex, line), some(&columns), "{format}");
        }
        // "[%t]" reads the time without its brackets, as the Reference's note says.
        let (regex, _) = w3c(r#"%h %l %u [%t] "%r" %>s %b"#).expect("custom");
        assert_eq!(
            split(&regex, line).and_then(|f| f[3].clone()),
            Some("24/May/2004:22:01:02 -0700".to_string())
        );
        let combined = r#"10.0.0.1 - - [25/Mar/2018:15:25:37 -0700] "GET /a?q=\"x\" HTTP/1.1" 200 125 "-" "Mozilla/5.0 [en] Gecko/20100101 Firefox/52.0""#;
        let (regex, count) = w3c("NCSA_EXTENDED").expect("ncsa");
        assert_eq!(count, 9);
        let fields = split(&regex, combined).expect("parses");
        assert_eq!(fields[4].as_deref(), Some(r#"GET /a?q=\"x\" HTTP/1.1"#));
        assert_eq!(
            fields[8].as_deref(),
            Some("Mozilla/5.0 [en] Gecko/20100101 Firefox/52.0")
        );
        let (regex, _) = w3c("COMMON WITH VHOST").expect("vhost");
        assert_eq!(
            split(&regex, &format!("www.example.com {line}")).and_then(|f| f[0].clone()),
            Some("www.example.com".to_string())
        );
        let (regex, _) = w3c("REFERER").expect("referer");
        assert_eq!(
            split(&regex, "http://a.example/x ---> /index.html"),
            some(&["http://a.example/x", "/index.html"])
        );
        let (regex, count) = w3c("IIS").expect("iis");
        assert_eq!(count, 15);
        let iis = "192.168.114.201, -, 03/20/01, 7:55:20, W3SVC2, SALES1, 172.21.13.45, 4502, 163, 3223, 200, 0, GET, /DeptLogo.gif, -,";
        assert_eq!(
            split(&regex, iis).and_then(|f| f[13].clone()),
            Some("/DeptLogo.gif".to_string())
        );
        let (regex, _) = w3c("COMMON").expect("common");
        assert_eq!(split(&regex, "not a log line"), None);
        assert!(w3c("FANCY").is_err());
        assert!(w3c("%h %Z").is_err());
    }
}
