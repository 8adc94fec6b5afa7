//! Stream-to-reference-table joins: `FROM stream [LEFT] JOIN "RefTable" AS r ON stream.k = r.k`.
//! A reference table is small and fixed for a run (reloaded when the application is updated),
//! so it is hashed once by its join keys and each stream row looks its matches up: a row with
//! none is dropped (inner join) or kept with NULLs (LEFT JOIN). The joined rows keep ROWTIME
//! first, so every operator runs on them unchanged.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion_common::arrow::array::{Array, ArrayRef, RecordBatch, UInt32Array};
use datafusion_common::arrow::compute::take;
use datafusion_common::arrow::datatypes::{Field, SchemaRef};
use datafusion_common::arrow::row::{RowConverter, SortField};
use datafusion_common::{DFSchema, Result, TableReference};
use datafusion_expr::{BinaryExpr, Cast, Expr, Operator as BinaryOp};
use datafusion_physical_expr::PhysicalExpr;
use datafusion_sql::sqlparser::ast::{Join, JoinConstraint, JoinOperator, TableFactor};

use crate::expr::{Functions, message, type_of};
use crate::operator::eval;
use crate::parse::{normalize, object_name};

/// A reference table's rows, as loaded for a run.
#[derive(Debug, Clone)]
pub(crate) struct Table {
    pub name: String,
    pub rows: RecordBatch,
}

pub(crate) struct Lookup {
    left: bool,
    stream_keys: Vec<Arc<dyn PhysicalExpr>>,
    converter: RowConverter,
    index: HashMap<Box<[u8]>, Vec<u32>>,
    table: RecordBatch,
    schema: SchemaRef,
}

impl Lookup {
    /// The stream rows of `batch` joined with their matching reference rows.
    pub(crate) fn join(&self, batch: &RecordBatch) -> Result<RecordBatch> {
        let keys: Vec<ArrayRef> = self
            .stream_keys
            .iter()
            .map(|k| eval(k, batch))
            .collect::<Result<_>>()?;
        let rows = self.converter.convert_columns(&keys)?;
        let mut left = Vec::with_capacity(batch.num_rows());
        let mut right: Vec<Option<u32>> = Vec::with_capacity(batch.num_rows());
        for (i, row) in rows.iter().enumerate() {
            // NULL equals nothing, not even NULL.
            let has_null = keys.iter().any(|k| k.is_null(i));
            match self.index.get(row.as_ref()).filter(|_| !has_null) {
                Some(matches) => {
                    for &m in matches {
                        left.push(i as u32);
                        right.push(Some(m));
                    }
                }
                None if self.left => {
                    left.push(i as u32);
                    right.push(None);
                }
                None => {}
            }
        }
        let left = UInt32Array::from(left);
        let right = UInt32Array::from(right);
        let mut columns = Vec::with_capacity(self.schema.fields().len());
        for column in batch.columns() {
            columns.push(take(column, &left, None)?);
        }
        for column in self.table.columns() {
            columns.push(take(column, &right, None)?);
        }
        Ok(RecordBatch::try_new(self.schema.clone(), columns)?)
    }
}

/// Plans `join` of the stream (`schema`) with one of `tables`; returns the lookup and the schema
/// of the joined rows (the stream's columns, then the table's, each under its qualifier).
pub(crate) fn plan(
    functions: &Functions,
    join: &Join,
    schema: &DFSchema,
    tables: &[Table],
) -> Result<(Lookup, DFSchema), String> {
    let (left, constraint) = match &join.join_operator {
        JoinOperator::Join(c) | JoinOperator::Inner(c) => (false, c),
        JoinOperator::Left(c) | JoinOperator::LeftOuter(c) => (true, c),
        other => {
            return Err(format!(
                "only [INNER] JOIN and LEFT [OUTER] JOIN with a reference table are supported, not {other:?}"
            ));
        }
    };
    let TableFactor::Table {
        name,
        alias,
        args: None,
        ..
    } = &join.relation
    else {
        return Err(format!(
            "a stream joins a reference table, not: {}",
            join.relation
        ));
    };
    let table_name = object_name(name);
    let table = tables.iter().find(|t| t.name == table_name).ok_or_else(|| {
        format!("Object '{table_name}' not found within schema (a stream joins only reference tables for now)")
    })?;
    let qualifier = alias
        .as_ref()
        .map(|a| normalize(&a.name))
        .unwrap_or_else(|| table_name.clone());
    let table_schema =
        DFSchema::try_from_qualified_schema(TableReference::bare(qualifier), &table.rows.schema())
            .map_err(message)?;
    let JoinConstraint::On(on) = constraint else {
        return Err("a join with a reference table needs ON stream.column = table.column".into());
    };
    let mut joined = schema.clone();
    joined.merge(&table_schema);
    let condition = functions.logical(on.clone(), &joined)?;
    let mut stream_keys = Vec::new();
    let mut table_keys = Vec::new();
    for (a, b) in equalities(&condition)? {
        let (s, t) = if covered(&a, schema) && covered(&b, &table_schema) {
            (a, b)
        } else if covered(&b, schema) && covered(&a, &table_schema) {
            (b, a)
        } else {
            return Err(
                "each ON condition compares a stream column with a reference table column".into(),
            );
        };
        // Both sides are compared as the stream side's type.
        let data_type = type_of(&s, schema)?;
        let t = Expr::Cast(Cast::new(Box::new(t), data_type));
        stream_keys.push(functions.physical(&s, schema)?);
        table_keys
            .push(functions.physical(&crate::expr::coerce(t, &table_schema)?, &table_schema)?);
    }
    let key_types: Vec<_> = stream_keys
        .iter()
        .map(|k| k.data_type(schema.as_arrow()))
        .collect::<Result<_>>()
        .map_err(message)?;
    let converter = RowConverter::new(key_types.into_iter().map(SortField::new).collect())
        .map_err(|e| e.to_string())?;
    let keys: Vec<ArrayRef> = table_keys
        .iter()
        .map(|k| eval(k, &table.rows))
        .collect::<Result<_>>()
        .map_err(message)?;
    let rows = converter
        .convert_columns(&keys)
        .map_err(|e| e.to_string())?;
    let mut index: HashMap<Box<[u8]>, Vec<u32>> = HashMap::new();
    for (i, row) in rows.iter().enumerate() {
        if !keys.iter().any(|k| k.is_null(i)) {
            index.entry(row.as_ref().into()).or_default().push(i as u32);
        }
    }
    // Reference columns can be NULL in the joined rows (a LEFT JOIN without a match).
    let fields: Vec<(Option<TableReference>, Arc<Field>)> = joined
        .iter()
        .map(|(q, f)| (q.cloned(), Arc::new(f.as_ref().clone().with_nullable(true))))
        .collect();
    let joined = DFSchema::new_with_metadata(fields, HashMap::new()).map_err(message)?;
    let lookup = Lookup {
        left,
        stream_keys,
        converter,
        index,
        table: table.rows.clone(),
        schema: Arc::new(joined.as_arrow().clone()),
    };
    Ok((lookup, joined))
}

/// `a = b AND c = d ...` as its pairs.
pub(crate) fn equalities(condition: &Expr) -> Result<Vec<(Expr, Expr)>, String> {
    match condition {
        Expr::BinaryExpr(BinaryExpr {
            left,
            op: BinaryOp::And,
            right,
        }) => {
            let mut pairs = equalities(left)?;
            pairs.extend(equalities(right)?);
            Ok(pairs)
        }
        Expr::BinaryExpr(BinaryExpr {
            left,
            op: BinaryOp::Eq,
            right,
        }) => Ok(vec![(strip_cast(left), strip_cast(right))]),
        other => Err(format!(
            "only equalities joined by AND are supported in a join's ON, not: {other}"
        )),
    }
}

/// Coercion may have wrapped a side in a cast; the key is compared as the stream side's type.
fn strip_cast(expr: &Expr) -> Expr {
    match expr {
        Expr::Cast(c) => c.expr.as_ref().clone(),
        other => other.clone(),
    }
}

/// Whether every column `expr` reads is in `schema`.
pub(crate) fn covered(expr: &Expr, schema: &DFSchema) -> bool {
    let columns = expr.column_refs();
    !columns.is_empty() && columns.iter().all(|c| schema.has_column(c))
}
