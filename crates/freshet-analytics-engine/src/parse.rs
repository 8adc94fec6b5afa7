//! The Kinesis Data Analytics SQL dialect (SQLstream's): `CREATE [OR REPLACE] STREAM`,
//! `CREATE [OR REPLACE] PUMP ... AS INSERT INTO ... SELECT STREAM ...`, `STEP(x BY INTERVAL ...)`
//! and `FLOOR(x TO unit)`, parsed with sqlparser so every error carries the line and column the
//! user needs to find it.
//!
//! Three pieces of the dialect are not SQL sqlparser knows, and are taken care of on the token
//! stream (so locations stay those of the user's text): the `STREAM` word after `SELECT` is
//! dropped, `WINDOWED BY STAGGER` becomes a named window, and `STEP(...)` is parsed by the
//! dialect's prefix hook.

use std::any::TypeId;
use std::fmt;

use datafusion_sql::sqlparser::ast::{
    ColumnDef, DateTimeField, Expr, Function, FunctionArg, FunctionArgExpr, FunctionArgumentList,
    FunctionArguments, Ident, ObjectName, Query, WindowSpec,
};
use datafusion_sql::sqlparser::dialect::{Dialect, GenericDialect};
use datafusion_sql::sqlparser::keywords::Keyword;
use datafusion_sql::sqlparser::parser::{Parser, ParserError};
use datafusion_sql::sqlparser::tokenizer::{Location, Token, TokenWithSpan, Tokenizer, Word};

/// Application code that does not parse: where, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("SQL error at line {line}, column {column}: {message}")]
pub struct ParseError {
    /// 1-based line of the offending token.
    pub line: u64,
    /// 1-based column of the offending token.
    pub column: u64,
    pub message: String,
}

impl ParseError {
    pub(crate) fn at(location: Location, message: impl Into<String>) -> ParseError {
        ParseError {
            line: location.line.max(1),
            column: location.column.max(1),
            message: message.into(),
        }
    }

    /// sqlparser puts the location at the end of its message (" at Line: 3, Column: 12");
    /// `fallback` is used when it has none (end of input, tokenizer errors without one).
    pub(crate) fn from_sqlparser(error: ParserError, fallback: Location) -> ParseError {
        let text = match error {
            ParserError::TokenizerError(m) | ParserError::ParserError(m) => m,
            ParserError::RecursionLimitExceeded => "the statement is nested too deeply".to_string(),
        };
        match text.rsplit_once(" at Line: ") {
            Some((message, place)) => {
                let mut parts = place.split(", Column: ");
                let line = parts.next().and_then(|l| l.trim().parse().ok());
                let column = parts.next().and_then(|c| c.trim().parse().ok());
                match (line, column) {
                    (Some(line), Some(column)) => ParseError {
                        line,
                        column,
                        message: message.to_string(),
                    },
                    _ => ParseError::at(fallback, text),
                }
            }
            None => ParseError::at(fallback, text),
        }
    }
}

/// A parsed application: its statements in order.
#[derive(Debug, Clone)]
pub struct Script {
    pub statements: Vec<Statement>,
    /// The windows of streams in a join's FROM (`FROM s OVER (RANGE INTERVAL ...) AS a JOIN
    /// ...`), by the location of the stream's name.
    pub(crate) stream_windows: Vec<(Location, WindowSpec)>,
}

/// One statement of application code.
#[derive(Debug, Clone)]
pub enum Statement {
    /// `CREATE [OR REPLACE] STREAM name (columns)`: an in-application stream.
    CreateStream {
        name: String,
        columns: Vec<ColumnDef>,
        at: Location,
    },
    /// `CREATE [OR REPLACE] PUMP name AS INSERT INTO target [(columns)] query`: a continuous
    /// query feeding an in-application stream.
    CreatePump {
        name: String,
        target: String,
        columns: Vec<String>,
        query: Box<Query>,
        at: Location,
    },
}

/// A name as KDA resolves it: unquoted identifiers are upper-cased, quoted ones kept exactly.
pub fn normalize(ident: &Ident) -> String {
    if ident.quote_style.is_some() {
        ident.value.clone()
    } else {
        ident.value.to_uppercase()
    }
}

/// The last part of a (possibly qualified) object name, normalized.
pub(crate) fn object_name(name: &ObjectName) -> String {
    name.0
        .last()
        .and_then(|part| part.as_ident())
        .map(normalize)
        .unwrap_or_default()
}

/// Parses application code. Empty code is valid (an application with no code yet).
pub fn parse(code: &str) -> Result<Script, ParseError> {
    let dialect = KdaDialect;
    let (tokens, end) = tokenize(&dialect, code)?;
    let (tokens, stream_windows) = rewrite_tokens(tokens)?;
    let mut parser = Parser::new(&dialect).with_tokens_with_locations(tokens);
    let mut statements = Vec::new();
    each_statement(&mut parser, |parser| {
        let statement = parse_statement(parser).map_err(|e| ParseError::from_sqlparser(e, end))?;
        statements.push(statement);
        Ok(())
    })?;
    Ok(Script {
        statements,
        stream_windows,
    })
}

/// The code's tokens with their places, and where the code ends (the place of an error the
/// end of the code causes).
pub(crate) fn tokenize(
    dialect: &dyn Dialect,
    code: &str,
) -> Result<(Vec<TokenWithSpan>, Location), ParseError> {
    let tokens = Tokenizer::new(dialect, code)
        .tokenize_with_location()
        .map_err(|e| ParseError {
            line: e.location.line,
            column: e.location.column,
            message: e.message,
        })?;
    let start = Location { line: 1, column: 1 };
    let end = tokens.last().map(|t| t.span.end).unwrap_or(start);
    Ok((tokens, end))
}

/// Calls `statement` for each statement of the code (empty ones skipped), which must each
/// end with `;` or the end of the code.
pub(crate) fn each_statement(
    parser: &mut Parser,
    mut statement: impl FnMut(&mut Parser) -> Result<(), ParseError>,
) -> Result<(), ParseError> {
    loop {
        while parser.consume_token(&Token::SemiColon) {}
        if parser.peek_token_ref().token == Token::EOF {
            return Ok(());
        }
        statement(parser)?;
        let next = parser.peek_token();
        if next.token != Token::EOF && next.token != Token::SemiColon {
            return Err(ParseError::at(
                next.span.start,
                format!("Expected: ; or end of the code, found: {}", next.token),
            ));
        }
    }
}

fn parse_statement(parser: &mut Parser) -> Result<Statement, ParserError> {
    let create = parser.peek_token();
    parser.expect_keyword(Keyword::CREATE)?;
    let at = create.span.start;
    // OR REPLACE changes nothing here: an application's code is always replaced whole.
    let _replace = parser.parse_keywords(&[Keyword::OR, Keyword::REPLACE]);
    let what = parser.next_token();
    match &what.token {
        Token::Word(w) if is_word(w, "STREAM") => {
            let name = object_name(&parser.parse_object_name(false)?);
            parser.expect_token(&Token::LParen)?;
            let columns = parser.parse_comma_separated(Parser::parse_column_def)?;
            parser.expect_token(&Token::RParen)?;
            description(parser)?;
            Ok(Statement::CreateStream { name, columns, at })
        }
        Token::Word(w) if is_word(w, "PUMP") => {
            let name = object_name(&parser.parse_object_name(false)?);
            description(parser)?;
            parser.expect_keyword(Keyword::AS)?;
            parser.expect_keyword(Keyword::INSERT)?;
            parser.expect_keyword(Keyword::INTO)?;
            let target = object_name(&parser.parse_object_name(false)?);
            let columns = if is_column_list(parser) {
                parser.expect_token(&Token::LParen)?;
                let names = parser.parse_comma_separated(|p| p.parse_identifier())?;
                parser.expect_token(&Token::RParen)?;
                names.iter().map(normalize).collect()
            } else {
                Vec::new()
            };
            let query = parser.parse_query()?;
            Ok(Statement::CreatePump {
                name,
                target,
                columns,
                query,
                at,
            })
        }
        _ => parser.expected("STREAM or PUMP after CREATE", what),
    }
}

/// `DESCRIPTION 'text'`, which documents a stream or pump and changes nothing.
fn description(parser: &mut Parser) -> Result<(), ParserError> {
    if matches!(&parser.peek_token_ref().token, Token::Word(w) if is_word(w, "DESCRIPTION")) {
        parser.next_token();
        parser.parse_literal_string()?;
    }
    Ok(())
}

/// `INSERT INTO t (a, b) SELECT ...` against `INSERT INTO t (SELECT ...)`.
fn is_column_list(parser: &Parser) -> bool {
    let [open, first, after] = parser.peek_tokens();
    open == Token::LParen
        && matches!(&first, Token::Word(w) if w.keyword != Keyword::SELECT)
        && matches!(after, Token::Comma | Token::RParen)
}

pub(crate) fn is_word(word: &Word, text: &str) -> bool {
    word.quote_style.is_none() && word.value.eq_ignore_ascii_case(text)
}

/// The name `WINDOWED BY STAGGER (...)` is given as a named window (a quoted name no KDA code
/// can reach: KDA names do not start with `$`).
pub(crate) const STAGGER_WINDOW: &str = "$STAGGER";

/// Rewrites the clauses of the dialect sqlparser does not know, keeping every token's
/// location. `SELECT STREAM` marks a streaming query; every query here is one, so the word
/// carries no meaning left to keep. `WINDOWED BY STAGGER (PARTITION BY k RANGE INTERVAL ...)`
/// becomes the named window `WINDOW "$STAGGER" AS (PARTITION BY k RANGE INTERVAL ... PRECEDING)`,
/// which sqlparser parses in the same place (after WHERE) with the same parts. A window after a
/// stream's name in FROM (`s OVER (RANGE ...)`, where an analytic function's OVER follows a
/// parenthesis instead) is taken out and returned with the name's location.
#[allow(clippy::type_complexity)]
fn rewrite_tokens(
    tokens: Vec<TokenWithSpan>,
) -> Result<(Vec<TokenWithSpan>, Vec<(Location, WindowSpec)>), ParseError> {
    let mut windows = Vec::new();
    let mut out: Vec<TokenWithSpan> = Vec::with_capacity(tokens.len());
    let mut after_select = false;
    // The parenthesis depth at which the open stagger window's clause ends.
    let mut stagger_depth: Option<usize> = None;
    let mut depth = 0usize;
    let mut tokens = tokens
        .into_iter()
        .filter(|t| !matches!(t.token, Token::Whitespace(_)))
        .peekable();
    while let Some(token) = tokens.next() {
        match &token.token {
            Token::Word(w) if after_select && is_word(w, "STREAM") => {
                after_select = false;
                continue;
            }
            Token::Word(w)
                if w.keyword == Keyword::OVER
                    && matches!(out.last(), Some(TokenWithSpan { token: Token::Word(name), .. })
                        if name.keyword == Keyword::NoKeyword || name.quote_style.is_some()) =>
            {
                let name = out.last().map_or(token.span.start, |t| t.span.start);
                let mut spec_tokens = Vec::new();
                let mut open = 0usize;
                for next in tokens.by_ref() {
                    match next.token {
                        Token::LParen => open += 1,
                        Token::RParen => open = open.saturating_sub(1),
                        _ => {}
                    }
                    let end = open == 0 && next.token == Token::RParen;
                    spec_tokens.push(next);
                    if end {
                        break;
                    }
                }
                let mut parser = Parser::new(&KdaDialect).with_tokens_with_locations(spec_tokens);
                let spec = parser
                    .expect_token(&Token::LParen)
                    .and_then(|_| parser.parse_window_spec())
                    .map_err(|e| ParseError::from_sqlparser(e, token.span.end))?;
                windows.push((name, spec));
                continue;
            }
            Token::Word(w) if is_word(w, "WINDOWED") => {
                let at = token.span;
                for expected in ["BY", "STAGGER"] {
                    match tokens.next() {
                        Some(TokenWithSpan {
                            token: Token::Word(w),
                            ..
                        }) if is_word(&w, expected) => {}
                        other => {
                            let place = other.map_or(at.end, |t| t.span.start);
                            return Err(ParseError::at(
                                place,
                                format!("Expected: {expected} in WINDOWED BY STAGGER"),
                            ));
                        }
                    }
                }
                let word = |value: &str, quote: Option<char>| TokenWithSpan {
                    token: Token::make_word(value, quote),
                    span: at,
                };
                out.push(word("WINDOW", None));
                out.push(word(STAGGER_WINDOW, Some('"')));
                out.push(word("AS", None));
                stagger_depth = Some(depth);
                after_select = false;
                continue;
            }
            Token::LParen => depth += 1,
            Token::RParen => {
                depth = depth.saturating_sub(1);
                if stagger_depth == Some(depth) {
                    stagger_depth = None;
                    out.push(TokenWithSpan {
                        token: Token::make_word("PRECEDING", None),
                        span: token.span,
                    });
                }
            }
            _ => {}
        }
        after_select = matches!(&token.token, Token::Word(w) if w.keyword == Keyword::SELECT && w.quote_style.is_none());
        out.push(token);
    }
    Ok((out, windows))
}

/// The generic dialect, plus `STEP(expr BY interval)`, which becomes `date_bin(interval, expr)`
/// (the same bins: intervals counted from the epoch), and `CURSOR(query)`.
#[derive(Debug)]
struct KdaDialect;

impl Dialect for KdaDialect {
    fn dialect(&self) -> TypeId {
        TypeId::of::<GenericDialect>()
    }

    fn is_identifier_start(&self, ch: char) -> bool {
        GenericDialect.is_identifier_start(ch)
    }

    fn is_identifier_part(&self, ch: char) -> bool {
        GenericDialect.is_identifier_part(ch)
    }

    fn is_delimited_identifier_start(&self, ch: char) -> bool {
        ch == '"'
    }

    fn parse_prefix(&self, parser: &mut Parser) -> Option<Result<Expr, ParserError>> {
        let [word, open] = parser.peek_tokens();
        match word {
            Token::Word(w) if is_word(&w, "STEP") && open == Token::LParen => {
                Some(parse_step(parser))
            }
            Token::Word(w) if is_word(&w, "CURSOR") && open == Token::LParen => {
                Some(parse_cursor(parser))
            }
            _ => None,
        }
    }
}

/// `CURSOR(SELECT STREAM ...)`, a table function's input: a call of CURSOR on a subquery.
fn parse_cursor(parser: &mut Parser) -> Result<Expr, ParserError> {
    let name = parser.next_token();
    parser.expect_token(&Token::LParen)?;
    let query = parser.parse_query()?;
    parser.expect_token(&Token::RParen)?;
    Ok(Expr::Function(Function {
        name: ObjectName::from(vec![Ident::with_span(name.span, "CURSOR")]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::Subquery(query),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: Vec::new(),
    }))
}

fn parse_step(parser: &mut Parser) -> Result<Expr, ParserError> {
    parser.next_token();
    parser.expect_token(&Token::LParen)?;
    let value = parser.parse_expr()?;
    parser.expect_keyword(Keyword::BY)?;
    let width = parser.parse_expr()?;
    parser.expect_token(&Token::RParen)?;
    Ok(call("date_bin", vec![width, value]))
}

/// A plain function call expression.
pub(crate) fn call(name: &str, args: Vec<Expr>) -> Expr {
    Expr::Function(Function {
        name: ObjectName::from(vec![Ident::new(name)]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::List(FunctionArgumentList {
            duplicate_treatment: None,
            args: args
                .into_iter()
                .map(|a| FunctionArg::Unnamed(FunctionArgExpr::Expr(a)))
                .collect(),
            clauses: Vec::new(),
        }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: Vec::new(),
    })
}

/// The unit `FLOOR(x TO unit)` truncates to, as `date_trunc` names it.
pub(crate) fn trunc_unit(field: &DateTimeField) -> Option<&'static str> {
    Some(match field {
        DateTimeField::Year | DateTimeField::Years => "year",
        DateTimeField::Quarter => "quarter",
        DateTimeField::Month | DateTimeField::Months => "month",
        DateTimeField::Week(_) | DateTimeField::Weeks => "week",
        DateTimeField::Day | DateTimeField::Days => "day",
        DateTimeField::Hour | DateTimeField::Hours => "hour",
        DateTimeField::Minute | DateTimeField::Minutes => "minute",
        DateTimeField::Second | DateTimeField::Seconds => "second",
        _ => return None,
    })
}

impl fmt::Display for Script {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} statement(s)", self.statements.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TICKER: &str = r#"
CREATE OR REPLACE STREAM "DESTINATION_SQL_STREAM" (ticker_symbol VARCHAR(4), change REAL, price REAL)
  DESCRIPTION 'the filtered tickers';
-- a comment
CREATE OR REPLACE PUMP "STREAM_PUMP" AS INSERT INTO "DESTINATION_SQL_STREAM"
  SELECT STREAM ticker_symbol, change, price
  FROM   "SOURCE_SQL_STREAM_001"
  WHERE  sector SIMILAR TO '%TECH%';
"#;

    #[test]
    fn parses_the_getting_started_application() {
        let script = parse(TICKER).expect("parses");
        assert_eq!(script.statements.len(), 2);
        match &script.statements[0] {
            Statement::CreateStream { name, columns, at } => {
                assert_eq!(name, "DESTINATION_SQL_STREAM");
                assert_eq!(columns.len(), 3);
                assert_eq!((at.line, at.column), (2, 1));
                assert_eq!(columns[0].name.value, "ticker_symbol");
            }
            other => panic!("not a stream: {other:?}"),
        }
        match &script.statements[1] {
            Statement::CreatePump {
                name,
                target,
                columns,
                query,
                ..
            } => {
                assert_eq!(name, "STREAM_PUMP");
                assert_eq!(target, "DESTINATION_SQL_STREAM");
                assert!(columns.is_empty());
                let text = query.to_string();
                assert!(text.starts_with("SELECT ticker_symbol"), "{text}");
            }
            other => panic!("not a pump: {other:?}"),
        }
    }

    #[test]
    fn unquoted_names_are_upper_cased_and_quoted_ones_kept() {
        let script = parse(r#"CREATE STREAM dest (a INT); CREATE PUMP "p" AS INSERT INTO dest (a) SELECT STREAM a FROM s;"#)
            .expect("parses");
        let Statement::CreatePump {
            name,
            target,
            columns,
            ..
        } = &script.statements[1]
        else {
            panic!("not a pump")
        };
        assert_eq!((name.as_str(), target.as_str()), ("p", "DEST"));
        assert_eq!(columns, &["A"]);
    }

    #[test]
    fn step_becomes_date_bin() {
        let script = parse(
            "CREATE PUMP p AS INSERT INTO d SELECT STREAM k, COUNT(*) FROM s \
             GROUP BY k, STEP(s.ROWTIME BY INTERVAL '60' SECOND);",
        )
        .expect("parses");
        let Statement::CreatePump { query, .. } = &script.statements[0] else {
            panic!("not a pump")
        };
        assert!(
            query
                .to_string()
                .contains("date_bin(INTERVAL '60' SECOND, s.ROWTIME)"),
            "{query}"
        );
    }

    #[test]
    fn errors_carry_line_and_column() {
        let error = parse("CREATE STREAM d (a INT);\nCREATE PUMP p AS INSERT INTO d\n  SELECT STREAM a FROM s WHER a > 1;")
            .expect_err("bad SQL");
        assert_eq!((error.line, error.column), (3, 31), "{error}");
        let error = parse("CREATE TABLE t (a INT);").expect_err("not KDA");
        assert_eq!((error.line, error.column), (1, 8), "{error}");
        assert!(error.message.contains("STREAM or PUMP"), "{error}");
        let error = parse("CREATE STREAM d (a INT").expect_err("unterminated");
        assert_eq!(error.line, 1, "{error}");
    }

    #[test]
    fn stagger_windows_become_a_named_window() {
        let script = parse(
            "CREATE PUMP p AS INSERT INTO d SELECT STREAM k, COUNT(*) FROM s\n WINDOWED BY STAGGER (PARTITION BY FLOOR(t TO MINUTE), k RANGE INTERVAL '1' MINUTE);",
        )
        .expect("parses");
        let Statement::CreatePump { query, .. } = &script.statements[0] else {
            panic!("not a pump")
        };
        assert!(
            query.to_string().contains(
                "WINDOW \"$STAGGER\" AS (PARTITION BY FLOOR(t TO MINUTE), k RANGE INTERVAL '1' MINUTE PRECEDING)"
            ),
            "{query}"
        );
        let error = parse("CREATE PUMP p AS INSERT INTO d SELECT STREAM k FROM s\n WINDOWED BY k;")
            .expect_err("not STAGGER");
        assert_eq!((error.line, error.column), (2, 14), "{error}");
        assert!(error.message.contains("STAGGER"), "{error}");
    }

    #[test]
    fn empty_code_is_valid() {
        assert!(parse("").expect("empty").statements.is_empty());
        assert!(
            parse("  -- nothing\n;")
                .expect("comment")
                .statements
                .is_empty()
        );
    }
}
