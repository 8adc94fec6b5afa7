//! Flink SQL application code: `CREATE TABLE ... WITH (...)` (physical, computed and METADATA
//! columns, a WATERMARK), `CREATE VIEW`, `INSERT INTO`, statement sets and `SET`, parsed with
//! sqlparser's tokenizer and parser pieces so every error carries its line and column.
//!
//! Window table functions (`TABLE(TUMBLE(TABLE t, DESCRIPTOR(ts), INTERVAL ...))`) and lookup
//! joins' `FOR SYSTEM_TIME AS OF` are not SQL sqlparser's generic dialect knows; [`super::tvf`]
//! and [`super::lookup`] take them out of the token stream first.

use std::collections::BTreeMap;

use datafusion_sql::sqlparser::ast::{DataType as SqlType, Expr, Ident, ObjectName, Query};
use datafusion_sql::sqlparser::dialect::GenericDialect;
use datafusion_sql::sqlparser::keywords::Keyword;
use datafusion_sql::sqlparser::parser::{Parser, ParserError};
use datafusion_sql::sqlparser::tokenizer::{Location, Token, TokenWithSpan};

use super::lookup::{LookupTable, rewrite_lookup_tables};
use super::tvf::{WindowTvf, rewrite_window_calls};
use crate::parse::{ParseError, each_statement, is_word, tokenize};

/// A column of `CREATE TABLE`.
#[derive(Debug, Clone)]
pub(crate) enum ColumnKind {
    /// Read from the record by the format.
    Physical,
    /// `name AS expr`: computed from the others.
    Computed(Box<Expr>),
    /// `name type METADATA [FROM 'key'] [VIRTUAL]`: from the connector (arrival time, shard,
    /// sequence number).
    Metadata(String),
}

#[derive(Debug, Clone)]
pub(crate) struct ColumnDef {
    pub name: String,
    /// None for a computed column (its type is its expression's).
    pub data_type: Option<FlinkType>,
    pub not_null: bool,
    pub kind: ColumnKind,
}

/// A column type as Flink SQL writes it: SQL types, and `ROW<...>`/`ARRAY<...>`/`MAP<...>`,
/// which sqlparser does not parse.
#[derive(Debug, Clone)]
pub(crate) enum FlinkType {
    Sql(SqlType),
    /// `TIMESTAMP_LTZ(p)`: an instant.
    TimestampLtz,
    Row(Vec<(String, FlinkType)>),
    Array(Box<FlinkType>),
    Map(Box<FlinkType>, Box<FlinkType>),
}

#[derive(Debug, Clone)]
pub(crate) struct CreateTable {
    pub name: String,
    pub columns: Vec<ColumnDef>,
    /// `WATERMARK FOR column AS expr`.
    pub watermark: Option<(String, Expr)>,
    /// `PARTITIONED BY (...)`: a Kinesis sink's partition key columns.
    pub partitioned_by: Vec<String>,
    /// The WITH options, keys as written.
    pub options: BTreeMap<String, String>,
    pub at: Location,
}

#[derive(Debug, Clone)]
pub(crate) enum Statement {
    CreateTable(Box<CreateTable>),
    CreateView {
        name: String,
        columns: Vec<String>,
        query: Box<Query>,
        at: Location,
    },
    Insert {
        table: String,
        columns: Vec<String>,
        query: Box<Query>,
        at: Location,
    },
    /// `SET 'key' = 'value'`.
    Set {
        key: String,
        value: String,
    },
}

/// A parsed Flink SQL script: its statements, the window table functions its queries call (a
/// query reads window `i` as the table named [`super::tvf::window_table`]`(i)`), and the tables
/// its lookup joins read (as [`super::lookup::lookup_table`]`(i)`).
#[derive(Debug, Clone)]
pub(crate) struct Script {
    pub statements: Vec<Statement>,
    pub windows: Vec<WindowTvf>,
    pub lookups: Vec<LookupTable>,
}

/// Flink SQL quotes names with backticks and keeps their case (unquoted ones too).
pub(crate) fn name(ident: &Ident) -> String {
    ident.value.clone()
}

pub(crate) fn object_name(name: &ObjectName) -> String {
    name.0
        .iter()
        .filter_map(|p| p.as_ident())
        .next_back()
        .map(|i| i.value.clone())
        .unwrap_or_default()
}

pub(crate) fn parse(code: &str) -> Result<Script, ParseError> {
    let dialect = GenericDialect;
    let (tokens, end) = tokenize(&dialect, code)?;
    // Flink SQL has no shift operator: `>>` only ever closes two nested types (`ROW<a
    // ARRAY<INT>>`), which the tokenizer reads as one token.
    let mut split = Vec::with_capacity(tokens.len());
    for t in tokens {
        match t.token {
            Token::Whitespace(_) => {}
            Token::ShiftRight => {
                split.push(TokenWithSpan::new(Token::Gt, t.span));
                split.push(TokenWithSpan::new(Token::Gt, t.span));
            }
            _ => split.push(t),
        }
    }
    let (tokens, windows) = rewrite_window_calls(split)?;
    let (tokens, lookups) = rewrite_lookup_tables(tokens)?;
    let mut parser = Parser::new(&dialect).with_tokens_with_locations(tokens);
    let mut statements = Vec::new();
    let error = |e: ParserError| ParseError::from_sqlparser(e, end);
    each_statement(&mut parser, |parser| {
        let at = parser.peek_token().span.start;
        if !statement_set_begins(parser).map_err(error)? {
            statements.push(parse_statement(parser).map_err(error)?);
            return Ok(());
        }
        // The statements of a set are INSERTs run together: here every INSERT of a script
        // runs in the one job anyway, so the set only groups them.
        loop {
            while parser.consume_token(&Token::SemiColon) {}
            if parser.parse_keyword(Keyword::END) {
                return Ok(());
            }
            if parser.peek_token_ref().token == Token::EOF {
                return Err(ParseError::at(at, "STATEMENT SET has no END"));
            }
            let inner = parser.peek_token().span.start;
            match parse_statement(parser).map_err(error)? {
                s @ Statement::Insert { .. } => statements.push(s),
                _ => {
                    return Err(ParseError::at(
                        inner,
                        "a STATEMENT SET holds only INSERT statements",
                    ));
                }
            }
        }
    })?;
    Ok(Script {
        statements,
        windows,
        lookups,
    })
}

/// `EXECUTE STATEMENT SET BEGIN` or `BEGIN STATEMENT SET;`.
fn statement_set_begins(parser: &mut Parser) -> Result<bool, ParserError> {
    let word = |p: &Parser, n: usize, text: &str| matches!(&p.peek_nth_token_ref(n).token, Token::Word(w) if is_word(w, text));
    if word(parser, 0, "EXECUTE") && word(parser, 1, "STATEMENT") && word(parser, 2, "SET") {
        for _ in 0..3 {
            parser.next_token();
        }
        parser.expect_keyword(Keyword::BEGIN)?;
        return Ok(true);
    }
    if word(parser, 0, "BEGIN") && word(parser, 1, "STATEMENT") && word(parser, 2, "SET") {
        for _ in 0..3 {
            parser.next_token();
        }
        return Ok(true);
    }
    Ok(false)
}

fn parse_statement(parser: &mut Parser) -> Result<Statement, ParserError> {
    let first = parser.peek_token();
    let at = first.span.start;
    if parser.parse_keyword(Keyword::SET) {
        let key = parser.parse_literal_string()?;
        parser.expect_token(&Token::Eq)?;
        let value = parser.parse_literal_string()?;
        return Ok(Statement::Set { key, value });
    }
    if parser.parse_keyword(Keyword::INSERT) {
        if !parser.parse_keyword(Keyword::INTO) {
            return parser.expected(
                "INTO after INSERT (INSERT OVERWRITE needs a batch job)",
                parser.peek_token(),
            );
        }
        let table = object_name(&parser.parse_object_name(false)?);
        let columns = if is_column_list(parser) {
            parser.expect_token(&Token::LParen)?;
            let names = parser.parse_comma_separated(|p| p.parse_identifier())?;
            parser.expect_token(&Token::RParen)?;
            names.iter().map(name).collect()
        } else {
            Vec::new()
        };
        let query = parser.parse_query()?;
        return Ok(Statement::Insert {
            table,
            columns,
            query,
            at,
        });
    }
    parser.expect_keyword(Keyword::CREATE)?;
    let _temporary = parser.parse_keyword(Keyword::TEMPORARY);
    if parser.parse_keyword(Keyword::VIEW) {
        let _ = parser.parse_keywords(&[Keyword::IF, Keyword::NOT, Keyword::EXISTS]);
        let view = object_name(&parser.parse_object_name(false)?);
        let columns = if parser.peek_token_ref().token == Token::LParen {
            parser.expect_token(&Token::LParen)?;
            let names = parser.parse_comma_separated(|p| p.parse_identifier())?;
            parser.expect_token(&Token::RParen)?;
            names.iter().map(name).collect()
        } else {
            Vec::new()
        };
        parser.expect_keyword(Keyword::AS)?;
        let query = parser.parse_query()?;
        return Ok(Statement::CreateView {
            name: view,
            columns,
            query,
            at,
        });
    }
    if parser.parse_keyword(Keyword::TABLE) {
        return create_table(parser, at).map(|t| Statement::CreateTable(Box::new(t)));
    }
    parser.expected(
        "TABLE or VIEW after CREATE (functions, catalogs and databases are not supported)",
        parser.peek_token(),
    )
}

fn create_table(parser: &mut Parser, at: Location) -> Result<CreateTable, ParserError> {
    let _ = parser.parse_keywords(&[Keyword::IF, Keyword::NOT, Keyword::EXISTS]);
    let table = object_name(&parser.parse_object_name(false)?);
    parser.expect_token(&Token::LParen)?;
    let mut columns = Vec::new();
    let mut watermark = None;
    loop {
        if matches!(&parser.peek_token_ref().token, Token::Word(w) if is_word(w, "WATERMARK")) {
            parser.next_token();
            parser.expect_keyword(Keyword::FOR)?;
            let column = name(&parser.parse_identifier()?);
            parser.expect_keyword(Keyword::AS)?;
            watermark = Some((column, parser.parse_expr()?));
        } else if parser.parse_keywords(&[Keyword::PRIMARY, Keyword::KEY]) {
            // A primary key declares upsert semantics for connectors that have them; the
            // connectors here are append-only, where Flink ignores it the same way.
            parser.expect_token(&Token::LParen)?;
            parser.parse_comma_separated(|p| p.parse_identifier())?;
            parser.expect_token(&Token::RParen)?;
            let _ = parser.parse_keywords(&[Keyword::NOT, Keyword::ENFORCED]);
        } else {
            columns.push(column_def(parser)?);
        }
        if !parser.consume_token(&Token::Comma) {
            break;
        }
    }
    parser.expect_token(&Token::RParen)?;
    if parser.parse_keyword(Keyword::COMMENT) {
        parser.parse_literal_string()?;
    }
    let mut partitioned_by = Vec::new();
    if parser.parse_keywords(&[Keyword::PARTITIONED, Keyword::BY]) {
        parser.expect_token(&Token::LParen)?;
        partitioned_by = parser
            .parse_comma_separated(|p| p.parse_identifier())?
            .iter()
            .map(name)
            .collect();
        parser.expect_token(&Token::RParen)?;
    }
    let mut options = BTreeMap::new();
    if parser.parse_keyword(Keyword::WITH) {
        parser.expect_token(&Token::LParen)?;
        if !parser.consume_token(&Token::RParen) {
            loop {
                let key = parser.parse_literal_string()?;
                parser.expect_token(&Token::Eq)?;
                let value = parser.parse_literal_string()?;
                options.insert(key, value);
                if !parser.consume_token(&Token::Comma) {
                    break;
                }
            }
            parser.expect_token(&Token::RParen)?;
        }
    }
    Ok(CreateTable {
        name: table,
        columns,
        watermark,
        partitioned_by,
        options,
        at,
    })
}

fn column_def(parser: &mut Parser) -> Result<ColumnDef, ParserError> {
    let column = name(&parser.parse_identifier()?);
    if parser.parse_keyword(Keyword::AS) {
        let expr = parser.parse_expr()?;
        comment(parser)?;
        return Ok(ColumnDef {
            name: column,
            data_type: None,
            not_null: false,
            kind: ColumnKind::Computed(Box::new(expr)),
        });
    }
    let data_type = flink_type(parser)?;
    let not_null = parser.parse_keywords(&[Keyword::NOT, Keyword::NULL]);
    let mut kind = ColumnKind::Physical;
    if parser.parse_keyword(Keyword::METADATA) {
        let key = if parser.parse_keyword(Keyword::FROM) {
            parser.parse_literal_string()?
        } else {
            column.clone()
        };
        let _virtual = parser.parse_keyword(Keyword::VIRTUAL);
        kind = ColumnKind::Metadata(key);
    }
    comment(parser)?;
    Ok(ColumnDef {
        name: column,
        data_type: Some(data_type),
        not_null,
        kind,
    })
}

fn comment(parser: &mut Parser) -> Result<(), ParserError> {
    if parser.parse_keyword(Keyword::COMMENT) {
        parser.parse_literal_string()?;
    }
    Ok(())
}

/// A type: `ROW<name type, ...>` / `ROW(name type, ...)`, `ARRAY<t>`, `MAP<k, v>`,
/// `TIMESTAMP_LTZ(p)`, `STRING`, `BYTES`, or an SQL type sqlparser knows.
pub(crate) fn flink_type(parser: &mut Parser) -> Result<FlinkType, ParserError> {
    let word = match &parser.peek_token_ref().token {
        Token::Word(w) if w.quote_style.is_none() => w.value.to_uppercase(),
        _ => String::new(),
    };
    let ty = match word.as_str() {
        "ROW" => {
            parser.next_token();
            let close = if parser.consume_token(&Token::Lt) {
                Token::Gt
            } else {
                parser.expect_token(&Token::LParen)?;
                Token::RParen
            };
            let mut fields = Vec::new();
            loop {
                let field = name(&parser.parse_identifier()?);
                let ty = flink_type(parser)?;
                let _ = parser.parse_keywords(&[Keyword::NOT, Keyword::NULL]);
                fields.push((field, ty));
                if !parser.consume_token(&Token::Comma) {
                    break;
                }
            }
            close_angle(parser, &close)?;
            FlinkType::Row(fields)
        }
        "ARRAY" | "MULTISET" => {
            parser.next_token();
            parser.expect_token(&Token::Lt)?;
            let item = flink_type(parser)?;
            let _ = parser.parse_keywords(&[Keyword::NOT, Keyword::NULL]);
            close_angle(parser, &Token::Gt)?;
            FlinkType::Array(Box::new(item))
        }
        "MAP" => {
            parser.next_token();
            parser.expect_token(&Token::Lt)?;
            let key = flink_type(parser)?;
            let _ = parser.parse_keywords(&[Keyword::NOT, Keyword::NULL]);
            parser.expect_token(&Token::Comma)?;
            let value = flink_type(parser)?;
            let _ = parser.parse_keywords(&[Keyword::NOT, Keyword::NULL]);
            close_angle(parser, &Token::Gt)?;
            FlinkType::Map(Box::new(key), Box::new(value))
        }
        "TIMESTAMP_LTZ" => {
            parser.next_token();
            precision(parser)?;
            FlinkType::TimestampLtz
        }
        "STRING" => {
            parser.next_token();
            FlinkType::Sql(SqlType::Text)
        }
        "BYTES" => {
            parser.next_token();
            FlinkType::Sql(SqlType::Varbinary(None))
        }
        _ => {
            let ty = parser.parse_data_type()?;
            // `TIMESTAMP(3) WITH LOCAL TIME ZONE` is TIMESTAMP_LTZ.
            if parser.parse_keywords(&[Keyword::WITH, Keyword::LOCAL, Keyword::TIME, Keyword::ZONE])
            {
                return Ok(FlinkType::TimestampLtz);
            }
            FlinkType::Sql(ty)
        }
    };
    Ok(ty)
}

fn precision(parser: &mut Parser) -> Result<(), ParserError> {
    if parser.consume_token(&Token::LParen) {
        parser.parse_literal_uint()?;
        parser.expect_token(&Token::RParen)?;
    }
    Ok(())
}

fn close_angle(parser: &mut Parser, close: &Token) -> Result<(), ParserError> {
    parser.expect_token(close).map(|_| ())
}

/// `INSERT INTO t (a, b) SELECT ...` against `INSERT INTO t (SELECT ...)`.
fn is_column_list(parser: &Parser) -> bool {
    let [open, first, after] = parser.peek_tokens();
    open == Token::LParen
        && matches!(&first, Token::Word(w) if w.keyword != Keyword::SELECT)
        && matches!(after, Token::Comma | Token::RParen)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_table_with_computed_metadata_and_watermark() {
        let script = parse(
            "CREATE TABLE bids (
               auction BIGINT,
               price DOUBLE NOT NULL,
               person ROW<id BIGINT, name STRING>,
               ts TIMESTAMP(3),
               arrival TIMESTAMP_LTZ(3) METADATA FROM 'timestamp' VIRTUAL,
               doubled AS price * 2,
               WATERMARK FOR ts AS ts - INTERVAL '4' SECOND
             ) PARTITIONED BY (auction) WITH ('connector' = 'kinesis', 'stream' = 'in');
             INSERT INTO out SELECT * FROM bids;",
        )
        .expect("parses");
        let Statement::CreateTable(table) = &script.statements[0] else {
            panic!("not a table: {:?}", script.statements[0]);
        };
        assert_eq!(table.name, "bids");
        let names: Vec<_> = table.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            ["auction", "price", "person", "ts", "arrival", "doubled"]
        );
        assert!(table.columns[1].not_null);
        assert!(matches!(table.columns[2].data_type, Some(FlinkType::Row(ref f)) if f.len() == 2));
        assert!(matches!(&table.columns[4].kind, ColumnKind::Metadata(k) if k == "timestamp"));
        assert!(matches!(table.columns[5].kind, ColumnKind::Computed(_)));
        assert_eq!(table.watermark.as_ref().map(|w| w.0.as_str()), Some("ts"));
        assert_eq!(table.partitioned_by, ["auction"]);
        assert_eq!(table.options["connector"], "kinesis");
        assert!(matches!(&script.statements[1], Statement::Insert { table, .. } if table == "out"));
    }

    #[test]
    fn statement_sets_and_set_statements() {
        let script = parse(
            "SET 'pipeline.name' = 'x';
             EXECUTE STATEMENT SET BEGIN
               INSERT INTO a SELECT 1;
               INSERT INTO b SELECT 2;
             END;
             BEGIN STATEMENT SET; INSERT INTO c SELECT 3; END;",
        )
        .expect("parses");
        let inserts: Vec<_> = script
            .statements
            .iter()
            .filter_map(|s| match s {
                Statement::Insert { table, .. } => Some(table.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(inserts, ["a", "b", "c"]);
        assert!(
            matches!(&script.statements[0], Statement::Set { key, value } if key == "pipeline.name" && value == "x")
        );
    }

    #[test]
    fn errors_carry_their_place() {
        let error = parse("CREATE TABLE t (a BIGINT) WITH ('connector' 'x')").expect_err("bad");
        assert_eq!((error.line, error.column), (1, 45));
        let error = parse("CREATE FUNCTION f AS 'x'").expect_err("bad");
        assert!(error.message.contains("TABLE or VIEW"), "{error}");
        let error = parse("BEGIN STATEMENT SET; CREATE VIEW v AS SELECT 1; END;").expect_err("bad");
        assert!(error.message.contains("only INSERT"), "{error}");
    }
}
