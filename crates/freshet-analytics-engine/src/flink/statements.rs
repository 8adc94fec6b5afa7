//! A Flink SQL script cut into the statements an Apache Flink `TableEnvironment` executes one
//! at a time, for a Flink cluster that runs the application instead of this engine: Flink's
//! `executeSql` takes one statement, and a script's statement-set wrappers are not statements
//! (every INSERT of a script runs in one job anyway, as here).

use std::collections::BTreeMap;

use datafusion_sql::sqlparser::dialect::GenericDialect;
use datafusion_sql::sqlparser::keywords::Keyword;
use datafusion_sql::sqlparser::tokenizer::{Location, Token, TokenWithSpan};

use super::substitute;
use crate::app::CompileError;
use crate::parse::{ParseError, is_word, tokenize};

/// The statements of `code` (with `${group.key}` replaced by the runtime properties), in order,
/// each as its own text without the `;`. `endpoint`, when given, is added as `'aws.endpoint'`
/// to every `kinesis` and `firehose` table that names none, so the cluster's connectors reach
/// this server.
pub fn cluster_statements(
    code: &str,
    properties: &BTreeMap<String, BTreeMap<String, String>>,
    endpoint: Option<&str>,
) -> Result<Vec<String>, CompileError> {
    let code = substitute(code, properties)?;
    let (tokens, _) = tokenize(&GenericDialect, &code)?;
    let offsets = Offsets::new(&code);
    let mut statements = Vec::new();
    for tokens in tokens.split(|t| t.token == Token::SemiColon) {
        let tokens: Vec<&TokenWithSpan> = tokens.iter().filter(|t| !is_blank(&t.token)).collect();
        let tokens = strip_statement_set(&tokens);
        let (Some(first), Some(last)) = (tokens.first(), tokens.last()) else {
            continue;
        };
        let (start, end) = (offsets.at(first.span.start), offsets.at(last.span.end));
        let mut text = code[start..end].to_string();
        if let Some(endpoint) = endpoint
            && let Some(close) = needs_endpoint(tokens)
        {
            let at = offsets.at(close) - start;
            text.insert_str(
                at,
                &format!(", 'aws.endpoint' = '{}'", endpoint.replace('\'', "''")),
            );
        }
        statements.push(text);
    }
    if statements.is_empty() {
        return Err(CompileError::Code(ParseError::at(
            Location { line: 1, column: 1 },
            "the code has no statements",
        )));
    }
    Ok(statements)
}

/// Spaces and comments, which the tokenizer counts as whitespace.
fn is_blank(token: &Token) -> bool {
    matches!(token, Token::Whitespace(_))
}

fn word(token: &TokenWithSpan, text: &str) -> bool {
    matches!(&token.token, Token::Word(w) if is_word(w, text))
}

/// The statement without a statement set's opening (`EXECUTE STATEMENT SET BEGIN`, `BEGIN
/// STATEMENT SET`) or closing (`END`) words.
fn strip_statement_set<'a>(mut tokens: &'a [&'a TokenWithSpan]) -> &'a [&'a TokenWithSpan] {
    let opens = |t: &[&TokenWithSpan], words: &[&str]| {
        t.len() >= words.len() && t.iter().zip(words).all(|(t, w)| word(t, w))
    };
    if opens(tokens, &["EXECUTE", "STATEMENT", "SET", "BEGIN"]) {
        tokens = &tokens[4..];
    } else if opens(tokens, &["BEGIN", "STATEMENT", "SET"]) {
        tokens = &tokens[3..];
    }
    if tokens.len() == 1 && word(tokens[0], "END") {
        return &[];
    }
    tokens
}

/// For `CREATE TABLE ... WITH (...)` of a `kinesis` or `firehose` table without an
/// `'aws.endpoint'`: where its WITH list closes.
fn needs_endpoint(tokens: &[&TokenWithSpan]) -> Option<Location> {
    if !(tokens.len() > 2 && word(tokens[0], "CREATE")) {
        return None;
    }
    let with = tokens
        .iter()
        .rposition(|t| matches!(&t.token, Token::Word(w) if w.keyword == Keyword::WITH))?;
    let options = &tokens[with + 1..];
    if options.first()?.token != Token::LParen || options.last()?.token != Token::RParen {
        return None;
    }
    let strings: Vec<&str> = options
        .iter()
        .filter_map(|t| match &t.token {
            Token::SingleQuotedString(s) => Some(s.as_str()),
            _ => None,
        })
        .collect();
    let connector = strings
        .windows(2)
        .find(|pair| pair[0] == "connector")
        .map(|pair| pair[1])?;
    let remote = matches!(connector, "kinesis" | "firehose");
    (remote && !strings.contains(&"aws.endpoint")).then(|| options[options.len() - 1].span.start)
}

/// Byte offsets of the tokenizer's places (1-based lines, columns in characters).
struct Offsets<'a> {
    code: &'a str,
    lines: Vec<usize>,
}

impl<'a> Offsets<'a> {
    fn new(code: &'a str) -> Offsets<'a> {
        let mut lines = vec![0];
        lines.extend(code.match_indices('\n').map(|(i, _)| i + 1));
        Offsets { code, lines }
    }

    fn at(&self, place: Location) -> usize {
        let line = (place.line as usize)
            .saturating_sub(1)
            .min(self.lines.len() - 1);
        let start = self.lines[line];
        self.code[start..]
            .char_indices()
            .nth((place.column as usize).saturating_sub(1))
            .map_or(self.code.len(), |(i, _)| start + i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(code: &str, endpoint: Option<&str>) -> Vec<String> {
        let props = BTreeMap::from([(
            "app".to_string(),
            BTreeMap::from([("rate".to_string(), "5".to_string())]),
        )]);
        cluster_statements(code, &props, endpoint).expect("statements")
    }

    #[test]
    fn statements_are_cut_at_semicolons_outside_strings_and_comments() {
        let code = "-- a comment; not a cut\nCREATE TABLE g (id INT) WITH ('connector' = 'datagen', 'rows-per-second' = '${app.rate}', 'x' = 'a;b');\n\n/* ; */ INSERT INTO s SELECT id FROM g;;";
        assert_eq!(
            split(code, None),
            vec![
                "CREATE TABLE g (id INT) WITH ('connector' = 'datagen', 'rows-per-second' = '5', 'x' = 'a;b')",
                "INSERT INTO s SELECT id FROM g",
            ]
        );
    }

    #[test]
    fn statement_sets_become_their_inserts() {
        for code in [
            "EXECUTE STATEMENT SET BEGIN INSERT INTO a SELECT 1; INSERT INTO b SELECT 2; END;",
            "BEGIN STATEMENT SET; INSERT INTO a SELECT 1; INSERT INTO b SELECT 2; END;",
        ] {
            assert_eq!(
                split(code, None),
                vec!["INSERT INTO a SELECT 1", "INSERT INTO b SELECT 2"]
            );
        }
    }

    #[test]
    fn kinesis_tables_get_the_endpoint_unless_they_name_one() {
        let code = "CREATE TABLE k (v STRING) WITH ('connector' = 'kinesis', 'stream.arn' = 'arn:x');\nCREATE TABLE e (v STRING) WITH ('connector' = 'kinesis', 'aws.endpoint' = 'http://other');\nCREATE TABLE g (v STRING) WITH ('connector' = 'datagen')";
        let out = split(code, Some("http://127.0.0.1:4566"));
        assert_eq!(
            out[0],
            "CREATE TABLE k (v STRING) WITH ('connector' = 'kinesis', 'stream.arn' = 'arn:x', 'aws.endpoint' = 'http://127.0.0.1:4566')"
        );
        assert!(out[1].ends_with("'aws.endpoint' = 'http://other')"));
        assert_eq!(
            out[2],
            "CREATE TABLE g (v STRING) WITH ('connector' = 'datagen')"
        );
    }

    #[test]
    fn multibyte_text_keeps_its_place() {
        let code = "INSERT INTO s SELECT 'é€' AS v FROM g; INSERT INTO t SELECT 1";
        assert_eq!(
            split(code, None),
            vec![
                "INSERT INTO s SELECT 'é€' AS v FROM g",
                "INSERT INTO t SELECT 1"
            ]
        );
    }

    #[test]
    fn empty_code_and_unknown_properties_are_refused() {
        let none = BTreeMap::new();
        assert!(cluster_statements(" ; -- nothing", &none, None).is_err());
        assert!(cluster_statements("SELECT ${a.b}", &none, None).is_err());
    }
}
