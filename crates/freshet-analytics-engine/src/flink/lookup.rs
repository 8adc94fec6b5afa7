//! Lookup joins' `FOR SYSTEM_TIME AS OF` (`JOIN dim FOR SYSTEM_TIME AS OF o.proc_time AS d ON
//! o.k = d.k`). sqlparser reads the clause only for dialects with table versioning, which the
//! generic dialect the engine parses with is not, and DataFusion's planner would ignore it; so,
//! like the window functions ([`super::tvf`]), it is cut out of the token stream: the table's
//! name becomes a lookup table's ([`lookup_table`]), which the planner resolves to the table's
//! columns and joins as a lookup join (`join.rs`'s `LookupJoin`).

use datafusion_sql::sqlparser::ast::Expr;
use datafusion_sql::sqlparser::dialect::GenericDialect;
use datafusion_sql::sqlparser::keywords::{Keyword, RESERVED_FOR_TABLE_ALIAS};
use datafusion_sql::sqlparser::parser::Parser;
use datafusion_sql::sqlparser::tokenizer::{Token, TokenWithSpan, Word};

use crate::parse::{ParseError, is_word};

/// One `table FOR SYSTEM_TIME AS OF time`.
#[derive(Debug, Clone)]
pub(crate) struct LookupTable {
    /// The table looked up (the last part of its name).
    pub table: String,
    /// The AS OF expression: the probe side's processing-time attribute.
    pub time: Expr,
}

/// The name a query reads lookup table `i` by (quoted, with a character Flink names cannot
/// hold unquoted, so it cannot meet a user's table).
pub(crate) fn lookup_table(i: usize) -> String {
    format!("$lookup{i}")
}

/// The index of a lookup table's name.
pub(crate) fn lookup_index(name: &str) -> Option<usize> {
    name.strip_prefix("$lookup")?.parse().ok()
}

/// Replaces each `name FOR SYSTEM_TIME AS OF expr [[AS] alias]` by `$lookupN AS alias`, the
/// alias being the table's own name when none is given (so `dim.k` still reads the table).
pub(crate) fn rewrite_lookup_tables(
    tokens: Vec<TokenWithSpan>,
) -> Result<(Vec<TokenWithSpan>, Vec<LookupTable>), ParseError> {
    let mut out: Vec<TokenWithSpan> = Vec::with_capacity(tokens.len());
    let mut lookups = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let clause = ["FOR", "SYSTEM_TIME", "AS", "OF"]
            .iter()
            .enumerate()
            .all(|(n, w)| matches!(tokens.get(i + n).map(|t| &t.token), Some(Token::Word(word)) if is_word(word, w)));
        if !clause {
            out.push(tokens[i].clone());
            i += 1;
            continue;
        }
        let at = tokens[i].span.start;
        let name = table_name(&mut out)
            .ok_or_else(|| ParseError::at(at, "FOR SYSTEM_TIME AS OF follows a table's name"))?;
        let mut parser =
            Parser::new(&GenericDialect).with_tokens_with_locations(tokens[i + 4..].to_vec());
        let end = tokens.last().map_or(at, |t| t.span.end);
        let time = parser
            .parse_expr()
            .map_err(|e| ParseError::from_sqlparser(e, end))?;
        let after = i + 4 + parser.index();
        out.push(TokenWithSpan::new(
            Token::Word(Word {
                value: lookup_table(lookups.len()),
                quote_style: Some('`'),
                keyword: Keyword::NoKeyword,
            }),
            name.span,
        ));
        if !has_alias(tokens.get(after)) {
            out.push(TokenWithSpan::new(Token::make_keyword("AS"), name.span));
            out.push(name.clone());
        }
        let Token::Word(word) = &name.token else {
            return Err(ParseError::at(
                at,
                "FOR SYSTEM_TIME AS OF follows a table's name",
            ));
        };
        lookups.push(LookupTable {
            table: word.value.clone(),
            time,
        });
        i = after;
    }
    Ok((out, lookups))
}

/// Takes the (possibly qualified) table name that ends `out`, and returns its last part.
fn table_name(out: &mut Vec<TokenWithSpan>) -> Option<TokenWithSpan> {
    let last = out.pop_if(|t| matches!(t.token, Token::Word(_)))?;
    while out.len() >= 2
        && out[out.len() - 1].token == Token::Period
        && matches!(out[out.len() - 2].token, Token::Word(_))
    {
        out.truncate(out.len() - 2);
    }
    Some(last)
}

/// Whether `next` starts a table alias (`AS x`, or a name that is not the next clause's word).
fn has_alias(next: Option<&TokenWithSpan>) -> bool {
    match next.map(|t| &t.token) {
        Some(Token::Word(w)) if w.quote_style.is_some() => true,
        Some(Token::Word(w)) => {
            w.keyword == Keyword::AS || !RESERVED_FOR_TABLE_ALIAS.contains(&w.keyword)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use crate::flink::script::{Statement, parse};

    fn rewritten(sql: &str) -> (String, Vec<String>) {
        let script = parse(sql).expect("parses");
        let Statement::Insert { query, .. } = &script.statements[0] else {
            panic!("an insert");
        };
        let lookups = script
            .lookups
            .iter()
            .map(|l| format!("{} @ {}", l.table, l.time))
            .collect();
        (query.to_string(), lookups)
    }

    #[test]
    fn the_clause_becomes_a_lookup_table_keeping_or_giving_an_alias() {
        let (query, lookups) = rewritten(
            "INSERT INTO o SELECT * FROM orders AS o
             LEFT JOIN cat.db.rates FOR SYSTEM_TIME AS OF o.proc_time AS r ON o.c = r.c
             JOIN dim FOR SYSTEM_TIME AS OF o.proc_time ON o.k = dim.k
             JOIN `dim` FOR SYSTEM_TIME AS OF PROCTIME() d2 ON o.k = d2.k",
        );
        assert_eq!(
            query,
            "SELECT * FROM orders AS o LEFT JOIN `$lookup0` AS r ON o.c = r.c \
             JOIN `$lookup1` AS dim ON o.k = dim.k JOIN `$lookup2` d2 ON o.k = d2.k"
        );
        assert_eq!(
            lookups,
            [
                "rates @ o.proc_time",
                "dim @ o.proc_time",
                "dim @ PROCTIME()"
            ]
        );
    }

    #[test]
    fn the_clause_needs_a_table_before_it() {
        let error = parse("INSERT INTO o SELECT * FROM (SELECT 1) FOR SYSTEM_TIME AS OF x")
            .expect_err("refused");
        assert!(error.message.contains("table's name"), "{error}");
    }
}
