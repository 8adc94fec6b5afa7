//! From KDA SQL expressions to DataFusion: the dialect's own forms are rewritten to DataFusion's
//! functions, names resolved as KDA resolves them, types coerced, and the result planned into
//! vectorised physical expressions.

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::sync::Arc;

use datafusion_common::arrow::datatypes::{DataType, FieldRef};
use datafusion_common::config::ConfigOptions;
use datafusion_common::tree_node::TreeNode;
use datafusion_common::{DFSchema, DataFusionError, TableReference};
use datafusion_expr::execution_props::ExecutionProps;
use datafusion_expr::planner::{ContextProvider, ExprPlanner};
use datafusion_expr::{AggregateUDF, Expr, HigherOrderUDF, ScalarUDF, TableSource, WindowUDF};
use datafusion_optimizer::analyzer::type_coercion::TypeCoercionRewriter;
use datafusion_physical_expr::{PhysicalExpr, create_physical_expr};
use datafusion_sql::planner::{ParserOptions, PlannerContext, SqlToRel};
use datafusion_sql::sqlparser::ast::{
    CeilFloorKind, Expr as SqlExpr, Value, visit_expressions_mut,
};

use crate::parse::{call, trunc_unit};
use crate::pump::ROWTIME;

/// The functions application code may call: DataFusion's scalar and aggregate libraries and
/// KDA's own (`scalar`), by name and alias, case-insensitively.
pub(crate) struct Functions {
    scalars: HashMap<String, Arc<ScalarUDF>>,
    aggregates: HashMap<String, Arc<AggregateUDF>>,
    /// SQL's special syntax for functions (`SUBSTRING(x FROM 2 FOR 3)`, `POSITION(a IN b)`,
    /// `EXTRACT(HOUR FROM t)`, `OVERLAY(...)`), planned by DataFusion's planners.
    planners: Vec<Arc<dyn ExprPlanner>>,
    options: ConfigOptions,
}

impl Functions {
    /// KDA SQL's functions: DataFusion's, with KDA's own in place of those of the same name.
    pub(crate) fn new() -> Functions {
        Functions::with(crate::scalar::functions())
    }

    /// Flink SQL's: DataFusion's (Flink's built-ins DataFusion spells differently are
    /// rewritten to them by the Flink front end).
    pub(crate) fn flink() -> Functions {
        Functions::with(Vec::new())
    }

    fn with(own: Vec<Arc<ScalarUDF>>) -> Functions {
        let mut scalars = HashMap::new();
        for udf in datafusion_functions::all_default_functions() {
            for alias in udf.aliases() {
                scalars.insert(alias.to_lowercase(), udf.clone());
            }
            scalars.insert(udf.name().to_lowercase(), udf);
        }
        // A dialect's functions replace DataFusion's of the same name (KDA's TO_TIMESTAMP
        // counts ms).
        for udf in own {
            scalars.insert(udf.name().to_lowercase(), udf);
        }
        let mut aggregates = HashMap::new();
        for udaf in datafusion_functions_aggregate::all_default_aggregate_functions() {
            for alias in udaf.aliases() {
                aggregates.insert(alias.to_lowercase(), udaf.clone());
            }
            aggregates.insert(udaf.name().to_lowercase(), udaf);
        }
        let planners: Vec<Arc<dyn ExprPlanner>> = vec![
            Arc::new(datafusion_functions::unicode::planner::UnicodeFunctionPlanner),
            Arc::new(datafusion_functions::datetime::planner::DatetimeFunctionPlanner),
            Arc::new(datafusion_functions::core::planner::CoreFunctionPlanner::default()),
        ];
        Functions {
            scalars,
            aggregates,
            planners,
            options: ConfigOptions::default(),
        }
    }

    /// Plans `sql` against `schema`: the logical expression with its types coerced.
    pub(crate) fn logical(&self, mut sql: SqlExpr, schema: &DFSchema) -> Result<Expr, String> {
        rewrite_dialect(&mut sql);
        let options = ParserOptions {
            // KDA's rule (unquoted names upper-cased) is applied by `rewrite_dialect`.
            enable_ident_normalization: false,
            map_string_types_to_utf8view: false,
            ..ParserOptions::new()
        };
        let planner = SqlToRel::new_with_options(self, options);
        let expr = planner
            .sql_to_expr(sql, schema, &mut PlannerContext::new())
            .map_err(message)?;
        coerce(expr, schema)
    }

    /// A physical expression evaluating `expr` (already planned against `schema`).
    pub(crate) fn physical(
        &self,
        expr: &Expr,
        schema: &DFSchema,
    ) -> Result<Arc<dyn PhysicalExpr>, String> {
        create_physical_expr(expr, schema, &ExecutionProps::new(), &Default::default())
            .map_err(message)
    }
}

/// Coerces the argument types of every operator and function in `expr`, as a query engine's
/// analyzer does before execution.
pub(crate) fn coerce(expr: Expr, schema: &DFSchema) -> Result<Expr, String> {
    expr.rewrite(&mut TypeCoercionRewriter::new(schema))
        .map(|t| t.data)
        .map_err(message)
}

/// The type `expr` has over `schema`.
pub(crate) fn type_of(expr: &Expr, schema: &DFSchema) -> Result<DataType, String> {
    use datafusion_expr::ExprSchemable;
    expr.get_type(schema).map_err(message)
}

/// A day-time interval in ms (None for one counting months, whose length varies).
pub(crate) fn interval_ms(
    interval: &datafusion_common::arrow::datatypes::IntervalMonthDayNano,
) -> Option<i64> {
    (interval.months == 0)
        .then(|| i64::from(interval.days) * 86_400_000 + interval.nanoseconds / 1_000_000)
}

/// DataFusion's messages, without the "Error during planning: " prefixes its error kinds add.
pub(crate) fn message(error: DataFusionError) -> String {
    let error = error.find_root();
    let text = error.to_string();
    for prefix in [
        "Error during planning: ",
        "Schema error: ",
        "This feature is not implemented: ",
        "Execution error: ",
    ] {
        if let Some(rest) = text.strip_prefix(prefix) {
            return rest.to_string();
        }
    }
    text
}

/// Unquoted identifiers upper-cased (quoted ones kept), `CURRENT_ROW_TIMESTAMP` as the row's
/// ROWTIME, and `FLOOR(x TO unit)` as `date_trunc('unit', x)`.
fn rewrite_dialect(sql: &mut SqlExpr) {
    let _ = visit_expressions_mut(sql, |e| {
        match e {
            SqlExpr::Identifier(ident) if ident.quote_style.is_none() => {
                ident.value = ident.value.to_uppercase();
                // The time the row is processed: its ROWTIME, which the engine stamps with the
                // processing clock when the row enters.
                if ident.value == "CURRENT_ROW_TIMESTAMP" {
                    ident.value = ROWTIME.to_string();
                }
            }
            SqlExpr::CompoundIdentifier(parts) => {
                for ident in parts.iter_mut().filter(|i| i.quote_style.is_none()) {
                    ident.value = ident.value.to_uppercase();
                }
            }
            SqlExpr::Floor {
                expr,
                field: CeilFloorKind::DateTimeField(field),
            } => {
                if let Some(unit) = trunc_unit(field) {
                    let value = std::mem::replace(expr.as_mut(), SqlExpr::value(Value::Null));
                    *e = call(
                        "date_trunc",
                        vec![
                            SqlExpr::value(Value::SingleQuotedString(unit.into())),
                            value,
                        ],
                    );
                }
            }
            SqlExpr::SimilarTo {
                pattern,
                escape_char: None,
                ..
            } => {
                if let SqlExpr::Value(v) = pattern.as_mut()
                    && let Value::SingleQuotedString(p) = &mut v.value
                {
                    *p = similar_to_regex(p);
                }
            }
            _ => {}
        }
        ControlFlow::<()>::Continue(())
    });
}

/// SQL's SIMILAR TO pattern as the regular expression DataFusion matches it with: the whole
/// value must match, `%` and `_` are SQL's wildcards, and `.`, `^`, `$` are literal.
fn similar_to_regex(pattern: &str) -> String {
    let mut regex = String::with_capacity(pattern.len() + 8);
    regex.push_str("^(?:");
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '%' => regex.push_str(".*"),
            '_' => regex.push('.'),
            '.' | '^' | '$' => {
                regex.push('\\');
                regex.push(c);
            }
            '\\' => {
                regex.push('\\');
                if let Some(next) = chars.next() {
                    regex.push(next);
                }
            }
            other => regex.push(other),
        }
    }
    regex.push_str(")$");
    regex
}

impl ContextProvider for Functions {
    fn get_expr_planners(&self) -> &[Arc<dyn ExprPlanner>] {
        &self.planners
    }

    fn get_table_source(
        &self,
        name: TableReference,
    ) -> datafusion_common::Result<Arc<dyn TableSource>> {
        Err(DataFusionError::Plan(format!(
            "subqueries over {name} are not supported"
        )))
    }

    fn get_function_meta(&self, name: &str) -> Option<Arc<ScalarUDF>> {
        self.scalars.get(&name.to_lowercase()).cloned()
    }

    fn get_higher_order_meta(&self, _name: &str) -> Option<Arc<HigherOrderUDF>> {
        None
    }

    fn get_aggregate_meta(&self, name: &str) -> Option<Arc<AggregateUDF>> {
        self.aggregates.get(&name.to_lowercase()).cloned()
    }

    fn get_window_meta(&self, _name: &str) -> Option<Arc<WindowUDF>> {
        None
    }

    fn get_variable_type(&self, _variable_names: &[String]) -> Option<DataType> {
        None
    }

    fn options(&self) -> &ConfigOptions {
        &self.options
    }

    fn udf_names(&self) -> Vec<String> {
        self.scalars.keys().cloned().collect()
    }

    fn higher_order_function_names(&self) -> Vec<String> {
        Vec::new()
    }

    fn udaf_names(&self) -> Vec<String> {
        self.aggregates.keys().cloned().collect()
    }

    fn udwf_names(&self) -> Vec<String> {
        Vec::new()
    }
}

/// The field an aggregate's argument has, for DataFusion's accumulator factories.
pub(crate) fn arg_fields(args: &[Expr], schema: &DFSchema) -> Result<Vec<FieldRef>, String> {
    use datafusion_expr::ExprSchemable;
    args.iter()
        .map(|a| a.to_field(schema).map(|(_, f)| f).map_err(message))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::similar_to_regex;

    #[test]
    fn similar_to_patterns_become_anchored_regexes() {
        assert_eq!(similar_to_regex("%TECH%"), "^(?:.*TECH.*)$");
        assert_eq!(similar_to_regex("a_b.c|d"), "^(?:a.b\\.c|d)$");
    }
}
