//! Flink's windows, in both of the forms Flink SQL has them:
//!
//! - window table functions in FROM: `TABLE(TUMBLE(TABLE t, DESCRIPTOR(ts), INTERVAL ...))`,
//!   `HOP`, `CUMULATE` and `SESSION(TABLE t PARTITION BY k, ...)`, positional or named
//!   (`DATA => ..., TIMECOL => ..., SIZE => ...`). They are not SQL sqlparser parses, so they
//!   are cut out of the token stream and replaced by the name of a table the planner resolves
//!   to the window (the input's columns, then `window_start`, `window_end`, `window_time`);
//! - the older group windows: `GROUP BY k, TUMBLE(ts, INTERVAL ...)` (or `HOP(ts, slide,
//!   size)`, `SESSION(ts, gap)`) with `TUMBLE_START(...)`/`_END`/`_ROWTIME` in the select list,
//!   rewritten on the parsed query into the same window table and its columns.

use std::ops::ControlFlow;

use datafusion_sql::sqlparser::ast::{
    Expr, FunctionArg, FunctionArgExpr, FunctionArguments, GroupByExpr, Ident, ObjectName, Query,
    SetExpr, TableFactor, TableWithJoins, visit_expressions_mut,
};
use datafusion_sql::sqlparser::dialect::GenericDialect;
use datafusion_sql::sqlparser::keywords::Keyword;
use datafusion_sql::sqlparser::parser::{Parser, ParserError};
use datafusion_sql::sqlparser::tokenizer::{Location, Token, TokenWithSpan, Word};

use crate::parse::{ParseError, is_word};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WindowKind {
    Tumble,
    Hop,
    Cumulate,
    Session,
}

/// One window table function call.
#[derive(Debug, Clone)]
pub(crate) struct WindowTvf {
    pub kind: WindowKind,
    /// The table or view it windows.
    pub input: String,
    /// SESSION's `PARTITION BY` columns.
    pub partition: Vec<String>,
    /// The time attribute (`DESCRIPTOR(ts)`).
    pub time: String,
    /// TUMBLE's and HOP's SIZE, CUMULATE's max SIZE, SESSION's GAP.
    pub size: Expr,
    /// HOP's SLIDE, CUMULATE's STEP.
    pub step: Option<Expr>,
    pub offset: Option<Expr>,
}

/// The name a query reads window `i` by (a quoted name with a character Flink names cannot
/// hold unquoted, so it cannot meet a user's table).
pub(crate) fn window_table(i: usize) -> String {
    format!("$window{i}")
}

fn window_kind(word: &Word) -> Option<WindowKind> {
    [
        ("TUMBLE", WindowKind::Tumble),
        ("HOP", WindowKind::Hop),
        ("CUMULATE", WindowKind::Cumulate),
        ("SESSION", WindowKind::Session),
    ]
    .into_iter()
    .find(|(name, _)| is_word(word, name))
    .map(|(_, kind)| kind)
}

/// Replaces each `TABLE(<window function>(...))` by a window table's name.
pub(crate) fn rewrite_window_calls(
    tokens: Vec<TokenWithSpan>,
) -> Result<(Vec<TokenWithSpan>, Vec<WindowTvf>), ParseError> {
    let mut out = Vec::with_capacity(tokens.len());
    let mut windows = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let call = match (&tokens[i].token, tokens.get(i + 1), tokens.get(i + 2)) {
            (
                Token::Word(table),
                Some(open),
                Some(TokenWithSpan {
                    token: Token::Word(f),
                    ..
                }),
            ) if table.keyword == Keyword::TABLE && open.token == Token::LParen => window_kind(f),
            _ => None,
        };
        let Some(kind) = call else {
            out.push(tokens[i].clone());
            i += 1;
            continue;
        };
        let at = tokens[i].span.start;
        // The function's parentheses: tokens[i + 3] opens them.
        if tokens.get(i + 3).map(|t| &t.token) != Some(&Token::LParen) {
            return Err(ParseError::at(at, "Expected: ( after the window function"));
        }
        let close = matching(&tokens, i + 3)
            .ok_or_else(|| ParseError::at(at, "the window function's ( is never closed"))?;
        if tokens.get(close + 1).map(|t| &t.token) != Some(&Token::RParen) {
            return Err(ParseError::at(
                tokens.get(close + 1).map_or(at, |t| t.span.start),
                "Expected: ) closing TABLE(",
            ));
        }
        let args = tokens[i + 4..close].to_vec();
        windows.push(window_call(kind, args, at)?);
        let name = Word {
            value: window_table(windows.len() - 1),
            quote_style: Some('`'),
            keyword: Keyword::NoKeyword,
        };
        out.push(TokenWithSpan::new(Token::Word(name), tokens[i].span));
        i = close + 2;
    }
    Ok((out, windows))
}

/// The index of the parenthesis closing the one at `open`.
fn matching(tokens: &[TokenWithSpan], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (i, t) in tokens.iter().enumerate().skip(open) {
        match t.token {
            Token::LParen => depth += 1,
            Token::RParen => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

fn window_call(
    kind: WindowKind,
    args: Vec<TokenWithSpan>,
    at: Location,
) -> Result<WindowTvf, ParseError> {
    let end = args.last().map_or(at, |t| t.span.end);
    let mut parser = Parser::new(&GenericDialect).with_tokens_with_locations(args);
    let mut input = None;
    let mut partition = Vec::new();
    let mut time = None;
    let mut intervals: Vec<(Option<String>, Expr)> = Vec::new();
    let error = |e: ParserError| ParseError::from_sqlparser(e, end);
    loop {
        let named = match parser.peek_tokens_ref::<2>() {
            [
                TokenWithSpan {
                    token: Token::Word(w),
                    ..
                },
                TokenWithSpan {
                    token: Token::RArrow,
                    ..
                },
            ] => Some(w.value.to_uppercase()),
            _ => None,
        };
        if named.is_some() {
            parser.next_token();
            parser.next_token();
        }
        if parser.parse_keyword(Keyword::TABLE) {
            let name = parser.parse_object_name(false).map_err(error)?;
            input = Some(super::script::object_name(&name));
            if parser.parse_keywords(&[Keyword::PARTITION, Keyword::BY]) {
                let columns = if parser.consume_token(&Token::LParen) {
                    let c = parser
                        .parse_comma_separated(|p| p.parse_identifier())
                        .map_err(error)?;
                    parser.expect_token(&Token::RParen).map_err(error)?;
                    c
                } else {
                    vec![parser.parse_identifier().map_err(error)?]
                };
                partition = columns.into_iter().map(|c| c.value).collect();
            }
        } else if matches!(&parser.peek_token_ref().token, Token::Word(w) if is_word(w, "DESCRIPTOR"))
        {
            parser.next_token();
            parser.expect_token(&Token::LParen).map_err(error)?;
            time = Some(parser.parse_identifier().map_err(error)?.value);
            parser.expect_token(&Token::RParen).map_err(error)?;
        } else {
            intervals.push((named, parser.parse_expr().map_err(error)?));
        }
        if !parser.consume_token(&Token::Comma) {
            break;
        }
    }
    if parser.peek_token_ref().token != Token::EOF {
        let next = parser.peek_token();
        return Err(ParseError::at(
            next.span.start,
            format!(
                "Expected: , or ) in the window function, found: {}",
                next.token
            ),
        ));
    }
    let input = input
        .ok_or_else(|| ParseError::at(at, "a window function's first argument is TABLE <name>"))?;
    let time =
        time.ok_or_else(|| ParseError::at(at, "a window function needs DESCRIPTOR(time column)"))?;
    // Positional intervals in Flink's order; named ones by name.
    let positional: &[&str] = match kind {
        WindowKind::Tumble => &["SIZE", "OFFSET"],
        WindowKind::Hop => &["SLIDE", "SIZE", "OFFSET"],
        WindowKind::Cumulate => &["STEP", "SIZE", "OFFSET"],
        WindowKind::Session => &["GAP"],
    };
    let mut by_name: Vec<(String, Expr)> = Vec::new();
    for (i, (named, expr)) in intervals.into_iter().enumerate() {
        let name = match named {
            Some(n) => n,
            None => positional
                .get(i)
                .ok_or_else(|| ParseError::at(at, "too many arguments to the window function"))?
                .to_string(),
        };
        if !positional.contains(&name.as_str()) {
            return Err(ParseError::at(
                at,
                format!("the window function has no parameter {name}"),
            ));
        }
        by_name.push((name, expr));
    }
    let mut take = |n: &str| {
        by_name
            .iter()
            .position(|(k, _)| k == n)
            .map(|i| by_name.remove(i).1)
    };
    let (size, step) = match kind {
        WindowKind::Tumble => (take("SIZE"), None),
        WindowKind::Hop => (take("SIZE"), take("SLIDE")),
        WindowKind::Cumulate => (take("SIZE"), take("STEP")),
        WindowKind::Session => (take("GAP"), None),
    };
    let offset = take("OFFSET");
    let size = size.ok_or_else(|| ParseError::at(at, "the window function has no size"))?;
    if matches!(kind, WindowKind::Hop | WindowKind::Cumulate) && step.is_none() {
        return Err(ParseError::at(
            at,
            "the window function has no slide or step",
        ));
    }
    if !partition.is_empty() && kind != WindowKind::Session {
        return Err(ParseError::at(at, "only SESSION windows take PARTITION BY"));
    }
    Ok(WindowTvf {
        kind,
        input,
        partition,
        time,
        size,
        step,
        offset,
    })
}

/// Rewrites group windows (`GROUP BY ..., TUMBLE(ts, INTERVAL ...)`) in `query` and its
/// subqueries into window tables, appending them to `windows`.
pub(crate) fn rewrite_group_windows(
    query: &mut Query,
    windows: &mut Vec<WindowTvf>,
) -> Result<(), String> {
    rewrite_set(&mut query.body, windows)
}

fn rewrite_set(body: &mut SetExpr, windows: &mut Vec<WindowTvf>) -> Result<(), String> {
    match body {
        SetExpr::Select(select) => {
            for table in &mut select.from {
                rewrite_from(table, windows)?;
            }
            let GroupByExpr::Expressions(keys, _) = &mut select.group_by else {
                return Ok(());
            };
            let Some(position) = keys.iter().position(|k| group_window(k).is_some()) else {
                return Ok(());
            };
            let Some((kind, args)) = group_window(&keys[position]) else {
                return Ok(());
            };
            let args = args.to_vec();
            let [TableWithJoins { relation, joins }] = select.from.as_mut_slice() else {
                return Err("a group window (GROUP BY TUMBLE/HOP/SESSION) reads one table".into());
            };
            if !joins.is_empty() {
                return Err(
                    "a group window (GROUP BY TUMBLE/HOP/SESSION) reads one table, not a join"
                        .into(),
                );
            }
            let TableFactor::Table { name, alias, .. } = relation else {
                return Err(
                    "a group window (GROUP BY TUMBLE/HOP/SESSION) reads a table or view by name"
                        .into(),
                );
            };
            let time = match args.first() {
                Some(Expr::Identifier(i)) => i.value.clone(),
                Some(Expr::CompoundIdentifier(parts)) => {
                    parts.last().map(|p| p.value.clone()).unwrap_or_default()
                }
                _ => return Err("a group window's first argument is the time attribute".into()),
            };
            let (size, step) = match (kind, &args[1..]) {
                (WindowKind::Tumble | WindowKind::Session, [size]) => (size.clone(), None),
                (WindowKind::Hop, [slide, size]) => (size.clone(), Some(slide.clone())),
                _ => return Err(format!("wrong arguments to the group window {kind:?}")),
            };
            let input = super::script::object_name(name);
            if alias.is_none() {
                *alias = Some(datafusion_sql::sqlparser::ast::TableAlias {
                    name: Ident::new(input.clone()),
                    columns: Vec::new(),
                    explicit: true,
                    at: None,
                });
            }
            windows.push(WindowTvf {
                kind,
                input,
                partition: Vec::new(),
                time,
                size,
                step,
                offset: None,
            });
            *name = ObjectName::from(vec![Ident::with_quote(
                '`',
                window_table(windows.len() - 1),
            )]);
            keys.splice(
                position..=position,
                [
                    Expr::Identifier(Ident::new("window_start")),
                    Expr::Identifier(Ident::new("window_end")),
                ],
            );
            let mut failure = None;
            let _ = visit_expressions_mut(select.as_mut(), |expr| {
                if let Expr::Function(f) = expr {
                    let fname = f.name.to_string().to_uppercase();
                    let column = ["_START", "_END", "_ROWTIME"]
                        .iter()
                        .find(|s| {
                            fname.ends_with(*s) && window_prefix(&fname[..fname.len() - s.len()])
                        })
                        .map(|s| match *s {
                            "_START" => "window_start",
                            "_END" => "window_end",
                            _ => "window_time",
                        });
                    if let Some(column) = column {
                        *expr = Expr::Identifier(Ident::new(column));
                    } else if fname.ends_with("_PROCTIME")
                        && window_prefix(&fname[..fname.len() - 9])
                    {
                        failure =
                            Some("processing-time group windows are not supported".to_string());
                        return ControlFlow::Break(());
                    }
                }
                ControlFlow::<()>::Continue(())
            });
            failure.map_or(Ok(()), Err)
        }
        SetExpr::Query(q) => rewrite_set(&mut q.body, windows),
        SetExpr::SetOperation { left, right, .. } => {
            rewrite_set(left, windows)?;
            rewrite_set(right, windows)
        }
        _ => Ok(()),
    }
}

fn rewrite_from(table: &mut TableWithJoins, windows: &mut Vec<WindowTvf>) -> Result<(), String> {
    let mut factors = vec![&mut table.relation];
    factors.extend(table.joins.iter_mut().map(|j| &mut j.relation));
    for factor in factors {
        if let TableFactor::Derived { subquery, .. } = factor {
            rewrite_set(&mut subquery.body, windows)?;
        }
    }
    Ok(())
}

fn window_prefix(name: &str) -> bool {
    matches!(name, "TUMBLE" | "HOP" | "SESSION")
}

/// `TUMBLE(ts, i)`, `HOP(ts, slide, size)`, `SESSION(ts, gap)` in a GROUP BY: its kind and
/// arguments.
fn group_window(expr: &Expr) -> Option<(WindowKind, Vec<Expr>)> {
    let Expr::Function(f) = expr else { return None };
    let kind = match f.name.to_string().to_uppercase().as_str() {
        "TUMBLE" => WindowKind::Tumble,
        "HOP" => WindowKind::Hop,
        "SESSION" => WindowKind::Session,
        _ => return None,
    };
    let FunctionArguments::List(list) = &f.args else {
        return None;
    };
    let args = list
        .args
        .iter()
        .map(|a| match a {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e.clone()),
            _ => None,
        })
        .collect::<Option<Vec<_>>>()?;
    Some((kind, args))
}

#[cfg(test)]
mod tests {
    use super::super::script::{Statement, parse};
    use super::*;

    #[test]
    fn window_functions_become_tables() {
        let script = parse(
            "INSERT INTO out SELECT window_start, COUNT(*) FROM TABLE(
               HOP(TABLE bid, DESCRIPTOR(dateTime), INTERVAL '2' SECOND, INTERVAL '10' SECOND)) AS h
             GROUP BY window_start, window_end;
             INSERT INTO out2 SELECT * FROM TABLE(SESSION(DATA => TABLE bid PARTITION BY bidder,
               TIMECOL => DESCRIPTOR(dateTime), GAP => INTERVAL '10' SECOND))",
        )
        .expect("parses");
        assert_eq!(script.windows.len(), 2);
        let hop = &script.windows[0];
        assert_eq!(
            (hop.kind, hop.input.as_str(), hop.time.as_str()),
            (WindowKind::Hop, "bid", "dateTime")
        );
        assert_eq!(
            hop.step.as_ref().map(|s| s.to_string()),
            Some("INTERVAL '2' SECOND".into())
        );
        assert_eq!(hop.size.to_string(), "INTERVAL '10' SECOND");
        let session = &script.windows[1];
        assert_eq!(
            (session.kind, session.partition.clone()),
            (WindowKind::Session, vec!["bidder".to_string()])
        );
        let Statement::Insert { query, .. } = &script.statements[0] else {
            panic!("not an insert");
        };
        assert!(
            query.to_string().contains("FROM `$window0` AS h"),
            "{query}"
        );
    }

    #[test]
    fn bad_window_calls_are_refused_with_their_place() {
        let error =
            parse("INSERT INTO o SELECT * FROM TABLE(TUMBLE(TABLE t, INTERVAL '1' SECOND))")
                .expect_err("no descriptor");
        assert!(error.message.contains("DESCRIPTOR"), "{error}");
        assert_eq!(error.column, 29);
        let error = parse(
            "INSERT INTO o SELECT * FROM TABLE(HOP(TABLE t, DESCRIPTOR(ts), INTERVAL '1' SECOND))",
        )
        .expect_err("no size");
        assert!(
            error.message.contains("slide") || error.message.contains("size"),
            "{error}"
        );
    }

    #[test]
    fn group_windows_become_window_tables() {
        let mut script = parse(
            "INSERT INTO o SELECT B.bidder, COUNT(*), SESSION_START(B.dateTime, INTERVAL '10' SECOND)
             FROM bid B GROUP BY B.bidder, SESSION(B.dateTime, INTERVAL '10' SECOND)",
        )
        .expect("parses");
        let Statement::Insert { query, .. } = &mut script.statements[0] else {
            panic!("not an insert");
        };
        rewrite_group_windows(query, &mut script.windows).expect("rewrites");
        assert_eq!(script.windows[0].kind, WindowKind::Session);
        assert_eq!(script.windows[0].time, "dateTime");
        let text = query.to_string();
        assert!(text.contains("FROM `$window0` B"), "{text}");
        assert!(
            text.contains("GROUP BY B.bidder, window_start, window_end"),
            "{text}"
        );
        assert!(text.contains("COUNT(*), window_start"), "{text}");
    }
}
