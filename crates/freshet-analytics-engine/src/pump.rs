//! Planning one pump's query (`SELECT STREAM ... FROM stream [WHERE] [GROUP BY ... window]`)
//! into an operator whose output rows have the target stream's columns.

use std::sync::Arc;

use datafusion_common::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion_common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion_common::{Column, DFSchema, ScalarValue, TableReference};
use datafusion_expr::expr::AggregateFunction;
use datafusion_expr::{Cast, Expr};
use datafusion_physical_expr::PhysicalExpr;
use datafusion_sql::sqlparser::ast::{
    Expr as SqlExpr, GroupByExpr, Query, Select, SelectItem, SetExpr, TableFactor,
};

use crate::expr::{Functions, arg_fields, coerce, type_of};
use crate::operator::{AggregateSpec, Operator, Project, Tumble};
use crate::parse::{normalize, object_name};
use crate::stream::StreamDef;
use crate::types::TIMESTAMP;

/// The name every in-application stream gives its row time.
pub const ROWTIME: &str = "ROWTIME";

/// A pump's query, planned.
pub(crate) struct PlannedPump {
    pub source: String,
    pub operator: Operator,
}

/// Plans `query` reading one of `streams` into `target`'s `columns` (all of them when empty).
pub(crate) fn plan(
    functions: &Functions,
    query: &Query,
    streams: &dyn Fn(&str) -> Option<StreamDef>,
    target: &StreamDef,
    columns: &[String],
) -> Result<PlannedPump, String> {
    let select = match query.body.as_ref() {
        SetExpr::Select(select) => select,
        other => {
            return Err(format!(
                "only SELECT STREAM queries can feed a pump, not: {other}"
            ));
        }
    };
    if query.order_by.is_some() || query.limit_clause.is_some() {
        return Err("ORDER BY and LIMIT are not supported in a pump's query yet".into());
    }
    let (source, qualifier) = from_stream(select)?;
    let source_def =
        streams(&source).ok_or_else(|| format!("Object '{source}' not found within schema"))?;
    let schema =
        DFSchema::try_from_qualified_schema(TableReference::bare(qualifier), &source_def.schema)
            .map_err(crate::expr::message)?;

    let items = projection(functions, select, &source_def, &schema)?;
    let targets = target_columns(target, columns)?;
    if items.len() != targets.len() {
        return Err(format!(
            "the query has {} column(s) and the target stream {} takes {}",
            items.len(),
            target.name,
            targets.len()
        ));
    }
    let filter = match &select.selection {
        Some(sql) => Some(functions.logical(sql.clone(), &schema)?),
        None => None,
    };
    let aggregated = !group_by(select).is_empty() || items.iter().any(has_aggregate);
    let operator = if aggregated {
        Operator::Tumble(tumble(
            functions, select, &schema, items, filter, target, &targets,
        )?)
    } else {
        if select.having.is_some() {
            return Err("HAVING needs a GROUP BY".into());
        }
        let filter = filter
            .map(|f| functions.physical(&f, &schema))
            .transpose()?;
        let outputs = outputs(functions, items, &targets, target, &schema)?;
        Operator::Project(Project::new(filter, outputs, target.schema.clone()))
    };
    Ok(PlannedPump { source, operator })
}

/// `FROM stream [AS alias]`: the stream, and the name its columns are qualified with.
fn from_stream(select: &Select) -> Result<(String, String), String> {
    let [from] = select.from.as_slice() else {
        return Err("a pump reads exactly one stream (joins are not supported yet)".into());
    };
    if !from.joins.is_empty() {
        return Err("joins are not supported by Freshet yet".into());
    }
    match &from.relation {
        TableFactor::Table {
            name,
            alias,
            args: None,
            ..
        } => {
            let stream = object_name(name);
            let qualifier = alias
                .as_ref()
                .map(|a| normalize(&a.name))
                .unwrap_or_else(|| stream.clone());
            Ok((stream, qualifier))
        }
        other => Err(format!("a pump must read a stream, not: {other}")),
    }
}

fn group_by(select: &Select) -> &[SqlExpr] {
    match &select.group_by {
        GroupByExpr::Expressions(exprs, _) => exprs,
        GroupByExpr::All(_) => &[],
    }
}

/// The select list planned against the source: `*` is the source's columns without ROWTIME.
fn projection(
    functions: &Functions,
    select: &Select,
    source: &StreamDef,
    schema: &DFSchema,
) -> Result<Vec<Expr>, String> {
    let mut items = Vec::new();
    for item in &select.projection {
        match item {
            SelectItem::UnnamedExpr(sql) | SelectItem::ExprWithAlias { expr: sql, .. } => {
                items.push(functions.logical(sql.clone(), schema)?);
            }
            SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..) => {
                for (qualifier, field) in schema.iter().skip(source.hidden) {
                    items.push(Expr::Column(Column::new(qualifier.cloned(), field.name())));
                }
            }
            other => return Err(format!("unsupported select item: {other}")),
        }
    }
    if items.is_empty() {
        return Err(format!("the query selects no columns from {}", source.name));
    }
    Ok(items)
}

/// The target stream's columns a pump writes, in order, with their index in the stream.
fn target_columns(target: &StreamDef, columns: &[String]) -> Result<Vec<usize>, String> {
    let declared: Vec<&str> = target
        .schema
        .fields()
        .iter()
        .skip(1)
        .map(|f| f.name().as_str())
        .collect();
    if columns.is_empty() {
        return Ok((0..declared.len()).collect());
    }
    columns
        .iter()
        .map(|c| {
            declared
                .iter()
                .position(|d| d == c)
                .ok_or_else(|| format!("Column '{c}' not found in stream {}", target.name))
        })
        .collect()
}

fn has_aggregate(expr: &Expr) -> bool {
    expr.exists(|e| Ok(matches!(e, Expr::AggregateFunction(_))))
        .unwrap_or(false)
}

/// One physical expression per target column (after ROWTIME): the matching select item cast to
/// the column's type, or NULL where the pump does not write the column.
fn outputs(
    functions: &Functions,
    items: Vec<Expr>,
    targets: &[usize],
    target: &StreamDef,
    schema: &DFSchema,
) -> Result<Vec<Arc<dyn PhysicalExpr>>, String> {
    let fields = target.schema.fields();
    let mut by_column: Vec<Option<Expr>> = vec![None; fields.len() - 1];
    for (item, &column) in items.into_iter().zip(targets) {
        by_column[column] = Some(item);
    }
    by_column
        .into_iter()
        .enumerate()
        .map(|(i, item)| {
            let data_type = fields[i + 1].data_type().clone();
            let expr = match item {
                Some(e) => coerce(Expr::Cast(Cast::new(Box::new(e), data_type)), schema)?,
                None => Expr::Literal(
                    ScalarValue::try_from(&data_type).map_err(crate::expr::message)?,
                    None,
                ),
            };
            functions.physical(&expr, schema)
        })
        .collect()
}

/// A GROUP BY over a window of ROWTIME: group keys, the window width, the aggregates, and the
/// select list rewritten over (keys, aggregates).
fn tumble(
    functions: &Functions,
    select: &Select,
    schema: &DFSchema,
    items: Vec<Expr>,
    filter: Option<Expr>,
    target: &StreamDef,
    targets: &[usize],
) -> Result<Tumble, String> {
    let keys: Vec<Expr> = group_by(select)
        .iter()
        .map(|g| functions.logical(g.clone(), schema))
        .collect::<Result<_, _>>()?;
    let width_ms = keys.iter().filter_map(window_width).min().ok_or_else(|| {
        "a GROUP BY on a stream needs a window on ROWTIME: STEP(s.ROWTIME BY INTERVAL 'n' unit) or FLOOR(s.ROWTIME TO unit)"
            .to_string()
    })?;
    let mut aggregates: Vec<AggregateFunction> = Vec::new();
    let mut rewrite = |e: Expr| -> Result<Expr, String> {
        e.transform_down(|node| {
            if let Some(i) = keys.iter().position(|k| *k == node) {
                return Ok(Transformed::new(
                    Expr::Column(Column::from_name(format!("__key_{i}"))),
                    true,
                    TreeNodeRecursion::Jump,
                ));
            }
            if let Expr::AggregateFunction(agg) = &node {
                let mut agg = agg.clone();
                // COUNT(*) counts rows: a constant argument, as DataFusion's analyzer expands it.
                for arg in &mut agg.params.args {
                    #[allow(deprecated)]
                    if matches!(arg, Expr::Wildcard { .. }) {
                        *arg = Expr::Literal(ScalarValue::Int64(Some(1)), None);
                    }
                }
                let agg = &agg;
                let j = match aggregates.iter().position(|a| a == agg) {
                    Some(j) => j,
                    None => {
                        aggregates.push(agg.clone());
                        aggregates.len() - 1
                    }
                };
                return Ok(Transformed::new(
                    Expr::Column(Column::from_name(format!("__agg_{j}"))),
                    true,
                    TreeNodeRecursion::Jump,
                ));
            }
            Ok(Transformed::no(node))
        })
        .map(|t| t.data)
        .map_err(crate::expr::message)
    };
    let items: Vec<Expr> = items
        .into_iter()
        .map(&mut rewrite)
        .collect::<Result<_, _>>()?;
    let having = match &select.having {
        Some(sql) => Some(rewrite(functions.logical(sql.clone(), schema)?)?),
        None => None,
    };
    for expr in items.iter().chain(having.iter()) {
        if let Some(column) = expr
            .column_refs()
            .into_iter()
            .find(|c| !c.name.starts_with("__"))
        {
            return Err(format!("Expression '{}' is not being grouped", column.name));
        }
    }

    let mut mid_fields = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        mid_fields.push(Field::new(
            format!("__key_{i}"),
            type_of(key, schema)?,
            true,
        ));
    }
    let mut specs = Vec::new();
    for (j, agg) in aggregates.iter().enumerate() {
        if agg.params.filter.is_some() || !agg.params.order_by.is_empty() {
            return Err(format!(
                "{}: FILTER and ORDER BY in aggregates are not supported yet",
                agg.func.name()
            ));
        }
        let fields = arg_fields(&agg.params.args, schema)?;
        let return_field = agg
            .func
            .return_field(&fields)
            .map_err(crate::expr::message)?;
        mid_fields.push(Field::new(
            format!("__agg_{j}"),
            return_field.data_type().clone(),
            true,
        ));
        let args = agg
            .params
            .args
            .iter()
            .map(|a| functions.physical(a, schema))
            .collect::<Result<_, _>>()?;
        specs.push(AggregateSpec::new(
            agg.func.clone(),
            args,
            fields,
            return_field,
            agg.params.distinct,
            schema,
        )?);
    }
    let mid_schema = DFSchema::try_from(Schema::new(mid_fields)).map_err(crate::expr::message)?;
    let key_exprs = keys
        .iter()
        .map(|k| functions.physical(k, schema))
        .collect::<Result<_, _>>()?;
    let having = having
        .map(|h| functions.physical(&coerce(h, &mid_schema)?, &mid_schema))
        .transpose()?;
    let filter = filter.map(|f| functions.physical(&f, schema)).transpose()?;
    let outputs = outputs(functions, items, targets, target, &mid_schema)?;
    Tumble::new(
        filter,
        key_exprs,
        width_ms,
        specs,
        having,
        outputs,
        SchemaRef::new(mid_schema.as_arrow().clone()),
        target.schema.clone(),
    )
}

/// The width of a window over ROWTIME that a group key is: `date_bin(interval, ROWTIME)` (STEP)
/// or `date_trunc(unit, ROWTIME)` (FLOOR ... TO) for units of fixed length.
fn window_width(key: &Expr) -> Option<i64> {
    let Expr::ScalarFunction(f) = key else {
        return None;
    };
    let on_rowtime = |e: &Expr| {
        matches!(e, Expr::Column(c) if c.name == ROWTIME)
            || matches!(e, Expr::Cast(c) if matches!(c.expr.as_ref(), Expr::Column(col) if col.name == ROWTIME))
    };
    match (f.func.name(), f.args.as_slice()) {
        (
            "date_bin",
            [
                Expr::Literal(ScalarValue::IntervalMonthDayNano(Some(i)), _),
                t,
                ..,
            ],
        ) if on_rowtime(t) => (i.months == 0)
            .then(|| i64::from(i.days) * 86_400_000 + i.nanoseconds / 1_000_000)
            .filter(|w| *w > 0),
        ("date_trunc", [Expr::Literal(ScalarValue::Utf8(Some(unit)), _), t]) if on_rowtime(t) => {
            Some(match unit.as_str() {
                "second" => 1_000,
                "minute" => 60_000,
                "hour" => 3_600_000,
                "day" => 86_400_000,
                _ => return None,
            })
        }
        _ => None,
    }
}

/// The schema of an in-application stream: ROWTIME, then its declared columns.
pub(crate) fn stream_schema(columns: impl IntoIterator<Item = (String, DataType)>) -> SchemaRef {
    let mut fields = vec![Field::new(ROWTIME, TIMESTAMP, false)];
    fields.extend(
        columns
            .into_iter()
            .map(|(name, data_type)| Field::new(name, data_type, true)),
    );
    Arc::new(Schema::new(fields))
}
