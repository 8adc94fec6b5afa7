//! Planning one pump's query (`SELECT STREAM ... FROM stream [WHERE] [GROUP BY ... window]`)
//! into an operator whose output rows have the target stream's columns.

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::sync::Arc;

use datafusion_common::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion_common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion_common::{Column, DFSchema, ScalarValue, TableReference};
use datafusion_expr::expr::AggregateFunction;
use datafusion_expr::{Cast, Expr};
use datafusion_physical_expr::PhysicalExpr;
use datafusion_sql::sqlparser::ast::{
    Distinct, Expr as SqlExpr, FunctionArg, FunctionArgExpr, FunctionArguments, GroupByExpr, Ident,
    Join, NamedWindowDefinition, NamedWindowExpr, ObjectName, Query, Select, SelectItem, SetExpr,
    TableAlias, TableFactor, WindowFrameBound, WindowFrameUnits, WindowSpec, WindowType,
    visit_expressions_mut,
};
use datafusion_sql::sqlparser::tokenizer::Location;

use crate::expr::{Functions, arg_fields, coerce, interval_ms, type_of};
use crate::grouped::{Grouped, GroupedSpec, Policy};
use crate::lookup::{Lookup, Table};
use crate::operator::{AggregateSpec, Operator, Project, Stage};
use crate::parse::{STAGGER_WINDOW, normalize, object_name};
use crate::sliding::{Frame, Pick, Sliding, Window};
use crate::stream::StreamDef;
use crate::stream_join::SideWindow;
use crate::types::TIMESTAMP;

/// The name every in-application stream gives its row time.
pub const ROWTIME: &str = "ROWTIME";

/// A pump's query, planned: the stream it reads, and the stages its rows go through (a table
/// function's cursor, the function, then the query around it; or the query alone).
pub(crate) struct PlannedPump {
    /// The streams it reads: one, or a stream join's left and right.
    pub sources: Vec<String>,
    pub stages: Vec<Stage>,
    /// The stream the last stage's rows belong to (the target, or a cursor's derived stream).
    pub output: StreamDef,
}

/// Where a pump writes: the columns of a declared stream (all of them when `columns` is
/// empty), or, for a cursor or a subquery, a stream made of the query's select list (its
/// columns renamed to `names` when the subquery's alias lists them: `AS l(r)`).
#[derive(Clone, Copy)]
pub(crate) enum Target<'a> {
    Stream(&'a StreamDef, &'a [String]),
    Derived(&'a [String]),
}

/// Plans `query` reading one of `streams` into `target`.
pub(crate) fn plan(
    functions: &Functions,
    query: &Query,
    streams: &dyn Fn(&str) -> Option<StreamDef>,
    tables: &[Table],
    windows: &[(Location, WindowSpec)],
    target: Target<'_>,
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
    let (relation, qualifier, join) = from_relation(functions, select)?;
    let mut sources = Vec::new();
    // What the select reads: the source's rows (joined with a reference table, or a joined
    // stream's), and the stages that make them.
    let (mut stages, source_def, schema, lookup) = match relation {
        Relation::Stream { name, at } => {
            let def =
                streams(&name).ok_or_else(|| format!("Object '{name}' not found within schema"))?;
            sources.push(name);
            match join.and_then(|j| joined_stream(j, streams)) {
                Some((join, right, right_qualifier, right_at)) => {
                    sources.push(right.name.clone());
                    let left = side_window(functions, windows, at)?;
                    let right_window = side_window(functions, windows, right_at)?;
                    let (operator, def, schema) = crate::stream_join::plan(
                        functions,
                        join,
                        [
                            (def, qualifier, left),
                            (right, right_qualifier, right_window),
                        ],
                    )?;
                    let stage = Stage {
                        join: None,
                        operator,
                    };
                    (vec![stage], def, schema, None)
                }
                None => {
                    let (schema, lookup) =
                        with_reference(functions, &def, qualifier, join, tables)?;
                    (Vec::new(), def, schema, lookup)
                }
            }
        }
        Relation::Function { name, cursor, args } => {
            let planned = plan(
                functions,
                cursor,
                streams,
                tables,
                windows,
                Target::Derived(&[]),
            )?;
            let made = crate::function::make(&name, &planned.output.schema, &args)?
                .ok_or_else(|| format!("Function '{name}' not found"))?;
            let mut stages = planned.stages;
            stages.push(Stage {
                join: None,
                operator: Operator::Function(made.function),
            });
            sources = planned.sources;
            let def = StreamDef::new(name, made.schema, 1);
            let (schema, lookup) = with_reference(functions, &def, qualifier, join, tables)?;
            (stages, def, schema, lookup)
        }
        Relation::Subquery { query, columns } => {
            let planned = plan(
                functions,
                query,
                streams,
                tables,
                windows,
                Target::Derived(&columns),
            )?;
            sources = planned.sources;
            let (schema, lookup) =
                with_reference(functions, &planned.output, qualifier, join, tables)?;
            (planned.stages, planned.output, schema, lookup)
        }
    };
    let (derived, columns): (StreamDef, &[String]) = match target {
        Target::Stream(def, columns) => (def.clone(), columns),
        Target::Derived(names) => (
            renamed(
                derived_stream(functions, select, &source_def, &schema)?,
                names,
            )?,
            &[],
        ),
    };
    let operator = plan_select(functions, select, &source_def, &schema, &derived, columns)?;
    stages.push(Stage {
        join: lookup,
        operator,
    });
    Ok(PlannedPump {
        sources,
        stages,
        output: derived,
    })
}

/// The source's columns under `qualifier`, joined with a reference table when `join` names one.
fn with_reference(
    functions: &Functions,
    source: &StreamDef,
    qualifier: String,
    join: Option<&Join>,
    tables: &[Table],
) -> Result<(DFSchema, Option<Lookup>), String> {
    let schema =
        DFSchema::try_from_qualified_schema(TableReference::bare(qualifier), &source.schema)
            .map_err(crate::expr::message)?;
    match join {
        Some(join) => {
            let (lookup, joined) = crate::lookup::plan(functions, join, &schema, tables)?;
            Ok((joined, Some(lookup)))
        }
        None => Ok((schema, None)),
    }
}

/// The select of one pump's query over its source (after any join), as one operator.
fn plan_select(
    functions: &Functions,
    select: &Select,
    source_def: &StreamDef,
    schema: &DFSchema,
    target: &StreamDef,
    columns: &[String],
) -> Result<Operator, String> {
    let stagger = stagger_window(select);
    let (projected, windows) = extract_windows(select)?;
    if !windows.is_empty() {
        if stagger.is_some() {
            return Err(
                "a query cannot have both windowed aggregates (OVER) and WINDOWED BY STAGGER"
                    .into(),
            );
        }
        if !group_by(select).is_empty() || select.having.is_some() {
            return Err("a query cannot have both windowed aggregates (OVER) and GROUP BY".into());
        }
        let targets = target_columns(target, columns)?;
        let operator = sliding(
            functions, select, &projected, windows, source_def, schema, target, &targets,
        )?;
        return Ok(Operator::Sliding(operator));
    }
    let items = projection(functions, &projected, source_def, schema)?;
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
        Some(sql) => Some(functions.logical(sql.clone(), schema)?),
        None => None,
    };
    let aggregated = !group_by(select).is_empty() || items.iter().any(has_aggregate);
    let operator = if let Some(keys) = distinct_keys(select)? {
        if aggregated || stagger.is_some() {
            return Err(
                "SELECT STREAM DISTINCT cannot be combined with GROUP BY, aggregates or windows"
                    .into(),
            );
        }
        Operator::Grouped(Box::new(grouped(
            functions, select, schema, items, filter, target, &targets, &keys, None,
        )?))
    } else if let Some(spec) = stagger {
        if !group_by(select).is_empty() {
            return Err("a query cannot have both WINDOWED BY STAGGER and GROUP BY".into());
        }
        let Frame::Range(range) = frame(functions, spec)? else {
            return Err("a stagger window's size is RANGE INTERVAL '...' unit".into());
        };
        Operator::Grouped(Box::new(grouped(
            functions,
            select,
            schema,
            items,
            filter,
            target,
            &targets,
            &spec.partition_by,
            Some(Policy::Stagger(range)),
        )?))
    } else if aggregated {
        Operator::Grouped(Box::new(grouped(
            functions,
            select,
            schema,
            items,
            filter,
            target,
            &targets,
            group_by(select),
            None,
        )?))
    } else {
        if select.having.is_some() {
            return Err("HAVING needs a GROUP BY".into());
        }
        let filter = filter.map(|f| functions.physical(&f, schema)).transpose()?;
        let outputs = outputs(functions, items, &targets, target, schema)?;
        Operator::Project(Project::new(filter, outputs, target.schema.clone()))
    };
    Ok(operator)
}

/// What a pump's FROM names.
enum Relation<'q> {
    /// A stream, and where its name is (its window in a stream join is found by it).
    Stream { name: String, at: Location },
    /// `(SELECT STREAM ...) AS alias [(columns)]`: a query whose rows the outer query reads.
    Subquery {
        query: &'q Query,
        columns: Vec<String>,
    },
    /// `TABLE(name(CURSOR(query), args...))`, the arguments after the cursor evaluated.
    Function {
        name: String,
        cursor: &'q Query,
        args: Vec<ScalarValue>,
    },
}

/// `FROM stream [AS alias]` or `FROM TABLE(F(CURSOR(...), ...)) [AS alias]`: what is read, the
/// name its columns are qualified with, and the reference table joined, if any.
fn from_relation<'q>(
    functions: &Functions,
    select: &'q Select,
) -> Result<(Relation<'q>, String, Option<&'q Join>), String> {
    let [from] = select.from.as_slice() else {
        return Err("a pump reads one stream (joined with at most one reference table)".into());
    };
    let join = match from.joins.as_slice() {
        [] => None,
        [join] => Some(join),
        _ => return Err("a pump joins at most one reference table".into()),
    };
    let qualifier = |alias: &Option<TableAlias>, name: &str| {
        alias
            .as_ref()
            .map(|a| normalize(&a.name))
            .unwrap_or_else(|| name.to_string())
    };
    match &from.relation {
        TableFactor::Table {
            name,
            alias,
            args: None,
            ..
        } => {
            let stream = object_name(name);
            let qualifier = qualifier(alias, &stream);
            let at = name_location(name);
            Ok((Relation::Stream { name: stream, at }, qualifier, join))
        }
        TableFactor::Derived {
            subquery, alias, ..
        } => {
            let Some(alias) = alias else {
                return Err("a subquery in FROM needs a name: (SELECT STREAM ...) AS name".into());
            };
            let qualifier = normalize(&alias.name);
            let columns = alias.columns.iter().map(|c| normalize(&c.name)).collect();
            Ok((
                Relation::Subquery {
                    query: subquery,
                    columns,
                },
                qualifier,
                join,
            ))
        }
        TableFactor::TableFunction { expr, alias } => {
            let SqlExpr::Function(call) = expr else {
                return Err(format!("TABLE(...) takes a function call, not: {expr}"));
            };
            let name = object_name(&call.name);
            let FunctionArguments::List(list) = &call.args else {
                return Err(format!("{name} takes a CURSOR(SELECT STREAM ...) first"));
            };
            let mut args = list.args.iter();
            let cursor = match args.next() {
                Some(FunctionArg::Unnamed(FunctionArgExpr::Expr(SqlExpr::Function(c))))
                    if object_name(&c.name) == "CURSOR" =>
                {
                    match &c.args {
                        FunctionArguments::Subquery(query) => query.as_ref(),
                        _ => return Err("CURSOR takes a SELECT STREAM query".into()),
                    }
                }
                _ => return Err(format!("{name} takes a CURSOR(SELECT STREAM ...) first")),
            };
            let args = args
                .map(|arg| match arg {
                    FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => {
                        constant(functions, e.clone())
                    }
                    other => Err(format!("{name}: unsupported argument {other}")),
                })
                .collect::<Result<Vec<_>, _>>()?;
            let qualifier = qualifier(alias, &name);
            Ok((Relation::Function { name, cursor, args }, qualifier, join))
        }
        other => Err(format!("a pump must read a stream, not: {other}")),
    }
}

/// Where a (possibly qualified) name's last part is in the code.
fn name_location(name: &ObjectName) -> Location {
    name.0
        .last()
        .and_then(|part| part.as_ident())
        .map_or(Location { line: 0, column: 0 }, |ident| ident.span.start)
}

/// A join whose right side is an in-application stream (not a reference table): the join, the
/// stream, its qualifier and where its name is.
fn joined_stream<'j>(
    join: &'j Join,
    streams: &dyn Fn(&str) -> Option<StreamDef>,
) -> Option<(&'j Join, StreamDef, String, Location)> {
    let TableFactor::Table {
        name,
        alias,
        args: None,
        ..
    } = &join.relation
    else {
        return None;
    };
    let stream = streams(&object_name(name))?;
    let qualifier = alias
        .as_ref()
        .map(|a| normalize(&a.name))
        .unwrap_or_else(|| stream.name.clone());
    Some((join, stream, qualifier, name_location(name)))
}

/// The window written after a joined stream's name, if any.
fn side_window(
    functions: &Functions,
    windows: &[(Location, WindowSpec)],
    at: Location,
) -> Result<SideWindow, String> {
    let Some((_, spec)) = windows.iter().find(|(place, _)| *place == at) else {
        return Ok(SideWindow::Current);
    };
    if !spec.partition_by.is_empty() {
        return Err("a stream's window in a join cannot be partitioned (PARTITION BY)".into());
    }
    Ok(match frame(functions, spec)? {
        Frame::Range(ms) => SideWindow::Range(ms),
        Frame::Rows(n) => SideWindow::Rows(n),
        Frame::Unbounded => return Err("a stream's window in a join must be bounded".into()),
    })
}

/// A table function's argument: a literal, or an expression of literals (`-1`, `1.5 * 2`).
pub(crate) fn constant(functions: &Functions, sql: SqlExpr) -> Result<ScalarValue, String> {
    let text = sql.to_string();
    match coerce(
        functions.logical(sql, &DFSchema::empty())?,
        &DFSchema::empty(),
    )? {
        Expr::Literal(value, _) => Ok(value),
        Expr::Negative(inner) => match inner.as_ref() {
            Expr::Literal(value, _) => value.arithmetic_negate().map_err(crate::expr::message),
            _ => Err(format!("the argument {text} is not a constant")),
        },
        _ => Err(format!("the argument {text} is not a constant")),
    }
}

/// `def` with its columns (after ROWTIME) named `names`, when there are names.
fn renamed(def: StreamDef, names: &[String]) -> Result<StreamDef, String> {
    if names.is_empty() {
        return Ok(def);
    }
    let fields = def.schema.fields();
    if names.len() != fields.len() - 1 {
        return Err(format!(
            "the subquery has {} column(s) and its alias names {}",
            fields.len() - 1,
            names.len()
        ));
    }
    let columns = fields
        .iter()
        .skip(1)
        .zip(names)
        .map(|(field, name)| (name.clone(), field.data_type().clone()));
    Ok(StreamDef::new(def.name, stream_schema(columns), def.hidden))
}

/// The stream a cursor's query makes: ROWTIME, then each select item named by its alias or
/// column name (`EXPR$n` otherwise, as SQLstream names them) with the type it evaluates to.
fn derived_stream(
    functions: &Functions,
    select: &Select,
    source: &StreamDef,
    schema: &DFSchema,
) -> Result<StreamDef, String> {
    if stagger_window(select).is_some() || !extract_windows(select)?.1.is_empty() {
        return Err(
            "a CURSOR's query or a subquery cannot use windows (OVER or STAGGER) yet".into(),
        );
    }
    let mut columns = Vec::new();
    for (i, item) in select.projection.iter().enumerate() {
        match item {
            SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..) => {
                for (_, field) in wildcard(schema, source) {
                    columns.push((field.name().clone(), field.data_type().clone()));
                }
            }
            SelectItem::UnnamedExpr(sql) | SelectItem::ExprWithAlias { expr: sql, .. } => {
                let name = match item {
                    SelectItem::ExprWithAlias { alias, .. } => normalize(alias),
                    _ => match sql {
                        SqlExpr::Identifier(ident) => normalize(ident),
                        SqlExpr::CompoundIdentifier(parts) => {
                            parts.last().map(normalize).unwrap_or_default()
                        }
                        _ => format!("EXPR${i}"),
                    },
                };
                let expr = functions.logical(sql.clone(), schema)?;
                columns.push((name, type_of(&expr, schema)?));
            }
            other => return Err(format!("unsupported select item: {other}")),
        }
    }
    Ok(StreamDef::new("CURSOR".into(), stream_schema(columns), 1))
}

/// The columns `*` stands for.
fn wildcard<'a>(
    schema: &'a DFSchema,
    source: &StreamDef,
) -> impl Iterator<Item = (Option<&'a TableReference>, &'a Arc<Field>)> {
    let visible = source.visible(schema.fields().len());
    schema
        .iter()
        .enumerate()
        .filter(move |(i, _)| visible.contains(i))
        .map(|(_, column)| column)
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
    projected: &[SelectItem],
    source: &StreamDef,
    schema: &DFSchema,
) -> Result<Vec<Expr>, String> {
    let mut items = Vec::new();
    for item in projected {
        match item {
            SelectItem::UnnamedExpr(sql) | SelectItem::ExprWithAlias { expr: sql, .. } => {
                items.push(functions.logical(sql.clone(), schema)?);
            }
            SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..) => {
                for (qualifier, field) in wildcard(schema, source) {
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

/// `SELECT STREAM DISTINCT a, b, ...`: its items as the keys of a GROUP BY (one of them a
/// window, as every streaming GROUP BY needs).
fn distinct_keys(select: &Select) -> Result<Option<Vec<SqlExpr>>, String> {
    match &select.distinct {
        None | Some(Distinct::All) => Ok(None),
        Some(Distinct::On(_)) => Err("DISTINCT ON is not supported on streams".into()),
        Some(Distinct::Distinct) => select
            .projection
            .iter()
            .map(|item| match item {
                SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => {
                    Ok(e.clone())
                }
                _ => Err("SELECT STREAM DISTINCT names its columns (not *)".to_string()),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
    }
}

/// The stagger window of `WINDOWED BY STAGGER (...)`, which the parser turned into a named
/// window.
fn stagger_window(select: &Select) -> Option<&WindowSpec> {
    select
        .named_window
        .iter()
        .find_map(|NamedWindowDefinition(name, expr)| match expr {
            NamedWindowExpr::WindowSpec(spec) if name.value == STAGGER_WINDOW => Some(spec),
            _ => None,
        })
}

/// Grouped windows: GROUP BY keys and a window of ROWTIME (tumbling, `policy` None: the width is
/// found among the keys), or a stagger window's PARTITION BY keys. Plans the aggregates and
/// the select list rewritten over (keys, aggregates).
#[allow(clippy::too_many_arguments)]
fn grouped(
    functions: &Functions,
    select: &Select,
    schema: &DFSchema,
    items: Vec<Expr>,
    filter: Option<Expr>,
    target: &StreamDef,
    targets: &[usize],
    key_sql: &[SqlExpr],
    policy: Option<Policy>,
) -> Result<Grouped, String> {
    let keys: Vec<Expr> = key_sql
        .iter()
        .map(|g| functions.logical(g.clone(), schema))
        .collect::<Result<_, _>>()?;
    // A key declared MONOTONIC, or else a STEP / FLOOR of a timestamp other than ROWTIME
    // (a window on an event time carried through a subquery), closes its groups when it moves.
    let declared = |k: &Expr| {
        k.exists(|e| {
            Ok(matches!(e, Expr::ScalarFunction(f) if f.func.name() == crate::scalar::MONOTONIC))
        })
        .unwrap_or(false)
    };
    let bucket = |k: &Expr| matches!(k, Expr::ScalarFunction(f) if matches!(f.func.name(), "date_bin" | "date_trunc"));
    let monotonic = keys
        .iter()
        .position(declared)
        .or_else(|| keys.iter().position(bucket));
    let policy = match (policy, keys.iter().filter_map(window_width).min(), monotonic) {
        (Some(policy), ..) => policy,
        (None, Some(width), _) => Policy::Tumble(width),
        (None, None, Some(key)) => Policy::Monotonic(key),
        (None, None, None) => return Err(
            "a GROUP BY on a stream needs a window on ROWTIME (STEP(s.ROWTIME BY INTERVAL 'n' unit) or FLOOR(s.ROWTIME TO unit)) or a MONOTONIC(...) key"
                .into(),
        ),
    };
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
                let agg = &count_star(agg.clone());
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
        let (spec, data_type) = aggregate(functions, agg, schema)?;
        spec.check_grouped()?;
        mid_fields.push(Field::new(format!("__agg_{j}"), data_type, true));
        specs.push(spec);
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
    Grouped::new(GroupedSpec {
        filter,
        keys: key_exprs,
        policy,
        aggregates: specs,
        having,
        outputs,
        mid_schema: SchemaRef::new(mid_schema.as_arrow().clone()),
        schema: target.schema.clone(),
    })
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
        ) if on_rowtime(t) => interval_ms(i).filter(|w| *w > 0),
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

/// COUNT(*) counts rows: a constant argument, as DataFusion's analyzer expands it.
pub(crate) fn count_star(mut agg: AggregateFunction) -> AggregateFunction {
    for arg in &mut agg.params.args {
        #[allow(deprecated)]
        if matches!(arg, Expr::Wildcard { .. }) {
            *arg = Expr::Literal(ScalarValue::Int64(Some(1)), None);
        }
    }
    agg
}

/// What running one aggregate call takes, and the type of its result.
pub(crate) fn aggregate(
    functions: &Functions,
    agg: &AggregateFunction,
    schema: &DFSchema,
) -> Result<(AggregateSpec, DataType), String> {
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
    let data_type = return_field.data_type().clone();
    let args = agg
        .params
        .args
        .iter()
        .map(|a| functions.physical(a, schema))
        .collect::<Result<_, _>>()?;
    let spec = AggregateSpec::new(
        agg.func.clone(),
        args,
        fields,
        return_field,
        agg.params.distinct,
        schema,
    )?;
    Ok((spec, data_type))
}

/// An aggregate call with OVER, taken out of the select list.
struct WindowCall {
    call: SqlExpr,
    spec: WindowSpec,
}

/// The select list with each `AGG(...) OVER w` replaced by a reference to `__win_<n>`, and the
/// calls (named windows of the WINDOW clause resolved).
fn extract_windows(select: &Select) -> Result<(Vec<SelectItem>, Vec<WindowCall>), String> {
    let named: HashMap<String, WindowSpec> = select
        .named_window
        .iter()
        .filter_map(|NamedWindowDefinition(name, expr)| match expr {
            NamedWindowExpr::WindowSpec(spec) => Some((normalize(name), spec.clone())),
            NamedWindowExpr::NamedWindow(_) => None,
        })
        .collect();
    let mut calls = Vec::new();
    let mut error = None;
    let mut items = select.projection.clone();
    for item in &mut items {
        let _ = visit_expressions_mut(item, |e| {
            if let SqlExpr::Function(f) = e
                && let Some(over) = f.over.take()
            {
                let spec = match over {
                    WindowType::WindowSpec(spec) => spec,
                    WindowType::NamedWindow(name) => match named.get(&normalize(&name)) {
                        Some(spec) => spec.clone(),
                        None => {
                            error = Some(format!("Window '{}' not found", normalize(&name)));
                            return ControlFlow::Break(());
                        }
                    },
                };
                calls.push(WindowCall {
                    call: SqlExpr::Function(f.clone()),
                    spec,
                });
                *e = SqlExpr::Identifier(Ident::with_quote(
                    '"',
                    format!("__win_{}", calls.len() - 1),
                ));
            }
            ControlFlow::Continue(())
        });
    }
    match error {
        Some(e) => Err(e),
        None => Ok((items, calls)),
    }
}

/// A window's frame: `RANGE INTERVAL ... PRECEDING` or `ROWS n PRECEDING`, ending at the
/// current row (the only windows a stream allows).
fn frame(functions: &Functions, spec: &WindowSpec) -> Result<Frame, String> {
    const NEEDED: &str =
        "a sliding window needs RANGE INTERVAL '...' unit PRECEDING or ROWS n PRECEDING";
    if spec
        .order_by
        .iter()
        .any(|o| !matches!(&o.expr, SqlExpr::Identifier(i) if normalize(i) == ROWTIME))
    {
        return Err("a sliding window is ordered by ROWTIME only".into());
    }
    let frame = spec.window_frame.as_ref().ok_or(NEEDED)?;
    if !matches!(frame.end_bound, None | Some(WindowFrameBound::CurrentRow)) {
        return Err("a sliding window ends at the CURRENT ROW".into());
    }
    let WindowFrameBound::Preceding(Some(bound)) = &frame.start_bound else {
        return Err(format!(
            "{NEEDED} (UNBOUNDED windows never end on a stream)"
        ));
    };
    let bound = functions.logical(bound.as_ref().clone(), &DFSchema::empty())?;
    match (&frame.units, bound) {
        (WindowFrameUnits::Range, Expr::Literal(ScalarValue::IntervalMonthDayNano(Some(i)), _))
            if i.months == 0 =>
        {
            Ok(Frame::Range(interval_ms(&i).unwrap_or(0)))
        }
        (WindowFrameUnits::Rows, Expr::Literal(value, _)) => match value {
            ScalarValue::Int64(Some(n)) if n >= 0 => Ok(Frame::Rows(n as usize)),
            ScalarValue::UInt64(Some(n)) => Ok(Frame::Rows(n as usize)),
            _ => Err(NEEDED.into()),
        },
        _ => Err(NEEDED.into()),
    }
}

/// A select list with sliding-window aggregates: each window computed per row, then the items
/// evaluated over the source's columns and the windows' values.
#[allow(clippy::too_many_arguments)]
fn sliding(
    functions: &Functions,
    select: &Select,
    projected: &[SelectItem],
    calls: Vec<WindowCall>,
    source: &StreamDef,
    schema: &DFSchema,
    target: &StreamDef,
    targets: &[usize],
) -> Result<Sliding, String> {
    let mut windows = Vec::new();
    let mut fields: Vec<(Option<TableReference>, Arc<Field>)> = schema
        .iter()
        .map(|(q, f)| (q.cloned(), f.clone()))
        .collect();
    for (k, call) in calls.into_iter().enumerate() {
        let mut partition_by = Vec::new();
        let mut partition_types = Vec::new();
        for sql in &call.spec.partition_by {
            let expr = functions.logical(sql.clone(), schema)?;
            partition_types.push(type_of(&expr, schema)?);
            partition_by.push(functions.physical(&expr, schema)?);
        }
        if let Some((arg, pick, data_type)) = positional(functions, &call.call, schema)? {
            windows.push(Window::positional(
                arg,
                pick,
                partition_by,
                partition_types,
                frame(functions, &call.spec),
            )?);
            fields.push((
                None,
                Arc::new(Field::new(format!("__win_{k}"), data_type, true)),
            ));
            continue;
        }
        let Expr::AggregateFunction(agg) = functions.logical(call.call, schema)? else {
            return Err("only aggregate functions (COUNT, SUM, AVG, MIN, MAX, ...) can be used with OVER for now".into());
        };
        let (spec, data_type) = aggregate(functions, &count_star(agg), schema)?;
        windows.push(Window::new(
            spec,
            partition_by,
            partition_types,
            frame(functions, &call.spec)?,
        )?);
        fields.push((
            None,
            Arc::new(Field::new(format!("__win_{k}"), data_type, true)),
        ));
    }
    let extended =
        DFSchema::new_with_metadata(fields, HashMap::new()).map_err(crate::expr::message)?;
    let items = projection(functions, projected, source, &extended)?;
    if items.len() != targets.len() {
        return Err(format!(
            "the query has {} column(s) and the target stream {} takes {}",
            items.len(),
            target.name,
            targets.len()
        ));
    }
    let filter = match &select.selection {
        Some(sql) => Some(functions.physical(&functions.logical(sql.clone(), schema)?, schema)?),
        None => None,
    };
    let outputs = outputs(functions, items, targets, target, &extended)?;
    Ok(Sliding::new(
        filter,
        windows,
        outputs,
        Arc::new(extended.as_arrow().clone()),
        target.schema.clone(),
    ))
}

/// A window function that reads the window's rows rather than aggregating: `LAG(x [, offset
/// [, default]])`, `FIRST_VALUE(x)`, `LAST_VALUE(x)`, `NTH_VALUE(x, n)`, `EXP_AVG(x,
/// half-life)`. Its argument planned over
/// the source, what it picks, and the result's type; None for other calls.
#[allow(clippy::type_complexity)]
fn positional(
    functions: &Functions,
    call: &SqlExpr,
    schema: &DFSchema,
) -> Result<Option<(Arc<dyn PhysicalExpr>, Pick, DataType)>, String> {
    let SqlExpr::Function(f) = call else {
        return Ok(None);
    };
    let name = object_name(&f.name);
    if !matches!(
        name.as_str(),
        "LAG" | "FIRST_VALUE" | "LAST_VALUE" | "NTH_VALUE" | "EXP_AVG"
    ) {
        return Ok(None);
    }
    let args: Vec<&SqlExpr> = match &f.args {
        FunctionArguments::List(list) => list
            .args
            .iter()
            .map(|a| match a {
                FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Ok(e),
                other => Err(format!("{name} does not take the argument {other}")),
            })
            .collect::<Result<_, _>>()?,
        _ => Vec::new(),
    };
    let Some(value) = args.first() else {
        return Err(format!("{name} takes the expression to pick a value of"));
    };
    let mut value = functions.logical((*value).clone(), schema)?;
    if name == "EXP_AVG" {
        value = coerce(
            Expr::Cast(Cast::new(Box::new(value), DataType::Float64)),
            schema,
        )?;
    }
    let data_type = type_of(&value, schema)?;
    let position = |at: usize, what: &str| -> Result<Option<usize>, String> {
        match args.get(at) {
            Some(e) => match constant(functions, (*e).clone())? {
                ScalarValue::Int64(Some(n)) if n >= 1 => Ok(Some(n as usize)),
                other => Err(format!(
                    "{name}'s {what} must be a positive integer, not {other}"
                )),
            },
            None => Ok(None),
        }
    };
    let pick = match name.as_str() {
        "LAG" => Pick::Lag {
            offset: position(1, "offset")?.unwrap_or(1),
            default: match args.get(2) {
                Some(e) => constant(functions, (*e).clone())?
                    .cast_to(&data_type)
                    .map_err(crate::expr::message)?,
                None => ScalarValue::try_from(&data_type).map_err(crate::expr::message)?,
            },
        },
        "FIRST_VALUE" => Pick::Nth {
            n: 1,
            from_last: false,
        },
        "LAST_VALUE" => Pick::Nth {
            n: 1,
            from_last: true,
        },
        "EXP_AVG" => {
            let half_life = match args.get(1).map(|e| constant(functions, (*e).clone())) {
                Some(Ok(ScalarValue::IntervalMonthDayNano(Some(i)))) => {
                    interval_ms(&i).unwrap_or(0)
                }
                _ => 0,
            };
            if half_life <= 0 {
                return Err(
                    "EXP_AVG takes the half-life as a time interval: EXP_AVG(x, INTERVAL '10' SECOND)"
                        .into(),
                );
            }
            Pick::ExpAvg {
                half_life_ms: half_life,
            }
        }
        _ => Pick::Nth {
            n: position(1, "position")?.ok_or_else(|| {
                "NTH_VALUE takes the position of the row: NTH_VALUE(x, n)".to_string()
            })?,
            from_last: false,
        },
    };
    Ok(Some((functions.physical(&value, schema)?, pick, data_type)))
}
