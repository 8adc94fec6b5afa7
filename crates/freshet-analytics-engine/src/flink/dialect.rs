//! Flink SQL's spellings that DataFusion's planner reads otherwise, rewritten on the parsed
//! query: a select item `person.id` (a ROW field or a qualified column) is named `id` as Flink
//! names it (DataFusion would call a field `person[id]`), and `MOD(a, b)` is `a % b`.

use std::ops::ControlFlow;

use datafusion_sql::sqlparser::ast::{
    BinaryOperator, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, Query, SelectItem,
    SetExpr, VisitMut, VisitorMut,
};

struct Rewriter;

impl VisitorMut for Rewriter {
    type Break = ();

    fn post_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        name_fields(&mut query.body);
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        if let Expr::Function(f) = expr
            && f.name.to_string().eq_ignore_ascii_case("MOD")
            && let FunctionArguments::List(list) = &f.args
            && let [
                FunctionArg::Unnamed(FunctionArgExpr::Expr(a)),
                FunctionArg::Unnamed(FunctionArgExpr::Expr(b)),
            ] = list.args.as_slice()
        {
            *expr = Expr::BinaryOp {
                left: Box::new(Expr::Nested(Box::new(a.clone()))),
                op: BinaryOperator::Modulo,
                right: Box::new(Expr::Nested(Box::new(b.clone()))),
            };
        }
        ControlFlow::Continue(())
    }
}

fn name_fields(body: &mut SetExpr) {
    match body {
        SetExpr::Select(select) => {
            for item in &mut select.projection {
                if let SelectItem::UnnamedExpr(Expr::CompoundIdentifier(parts)) = item
                    && let Some(last) = parts.last().cloned()
                {
                    *item = SelectItem::ExprWithAlias {
                        expr: Expr::CompoundIdentifier(parts.clone()),
                        alias: last,
                    };
                }
            }
        }
        SetExpr::SetOperation { left, right, .. } => {
            name_fields(left);
            name_fields(right);
        }
        _ => {}
    }
}

pub(crate) fn rewrite(query: &mut Query) {
    let _ = query.visit(&mut Rewriter);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flink::script::{Statement, parse};

    #[test]
    fn fields_are_named_and_mod_is_modulo() {
        let mut script = parse(
            "INSERT INTO o SELECT person.id, B.x AS y, MOD(a, 123) FROM t B WHERE MOD(a + 1, 2) = 0",
        )
        .expect("parses");
        let Statement::Insert { query, .. } = &mut script.statements[0] else {
            panic!("an insert");
        };
        rewrite(query);
        assert_eq!(
            query.to_string(),
            "SELECT person.id AS id, B.x AS y, (a) % (123) FROM t AS B WHERE (a + 1) % (2) = 0"
                .replace("t AS B", "t B")
        );
    }
}
