//! The streaming operators a pump runs, on Arrow batches with ROWTIME in column 0: a projection
//! (filter and select list, row for row), grouped windows (tumbling and stagger), sliding
//! windows, and table functions.

use std::sync::Arc;

use datafusion_common::arrow::array::{Array, ArrayRef, AsArray, RecordBatch};
use datafusion_common::arrow::compute::filter_record_batch;
use datafusion_common::arrow::datatypes::{FieldRef, Schema, SchemaRef};
use datafusion_common::{DFSchema, DataFusionError, Result};
use datafusion_expr::function::AccumulatorArgs;
use datafusion_expr::{AggregateUDF, GroupsAccumulator};
use datafusion_physical_expr::PhysicalExpr;

use crate::grouped::Grouped;
use crate::sliding::Sliding;

/// A pump's operator.
pub(crate) enum Operator {
    Project(Project),
    Grouped(Box<Grouped>),
    Sliding(Sliding),
}

impl Operator {
    /// Rows for the target stream that `batch` (of the source stream) produces now.
    pub(crate) fn process(
        &mut self,
        batch: &RecordBatch,
        out: &mut Vec<RecordBatch>,
    ) -> Result<()> {
        match self {
            Operator::Project(p) => out.push(p.process(batch)?),
            Operator::Grouped(t) => t.process(batch, out)?,
            Operator::Sliding(s) => out.push(s.process(batch)?),
        }
        Ok(())
    }

    /// Rows that time passing produces: windows that ended at or before `now_ms`.
    pub(crate) fn advance(&mut self, now_ms: i64, out: &mut Vec<RecordBatch>) -> Result<()> {
        match self {
            Operator::Project(_) => Ok(()),
            Operator::Grouped(t) => t.advance(now_ms, out),
            Operator::Sliding(s) => s.advance(now_ms),
        }
    }

    /// The operator's state as batches (with the open window's start, for a tumbling window),
    /// leaving it running.
    pub(crate) fn snapshot(&mut self) -> Result<Vec<(i64, RecordBatch)>> {
        match self {
            Operator::Project(_) => Ok(Vec::new()),
            Operator::Grouped(t) => Ok(t.snapshot()?.into_iter().collect()),
            Operator::Sliding(s) => Ok(s.snapshot()?.into_iter().map(|b| (0, b)).collect()),
        }
    }

    /// Takes back one batch of a snapshot.
    pub(crate) fn restore(&mut self, start: i64, batch: &RecordBatch) -> Result<()> {
        match self {
            Operator::Project(_) => Ok(()),
            Operator::Grouped(t) => t.restore(start, batch),
            Operator::Sliding(s) => s.restore(batch),
        }
    }
}

/// Evaluates `expr` over `batch` into one array of its rows.
pub(crate) fn eval(expr: &Arc<dyn PhysicalExpr>, batch: &RecordBatch) -> Result<ArrayRef> {
    expr.evaluate(batch)?.into_array(batch.num_rows())
}

pub(crate) fn filtered(
    filter: &Option<Arc<dyn PhysicalExpr>>,
    batch: &RecordBatch,
) -> Result<RecordBatch> {
    match filter {
        None => Ok(batch.clone()),
        Some(predicate) => {
            let mask = eval(predicate, batch)?;
            Ok(filter_record_batch(batch, mask.as_boolean())?)
        }
    }
}

/// `SELECT STREAM items FROM s WHERE filter`: one output row per passing input row, same ROWTIME.
pub(crate) struct Project {
    filter: Option<Arc<dyn PhysicalExpr>>,
    outputs: Vec<Arc<dyn PhysicalExpr>>,
    schema: SchemaRef,
}

impl Project {
    pub(crate) fn new(
        filter: Option<Arc<dyn PhysicalExpr>>,
        outputs: Vec<Arc<dyn PhysicalExpr>>,
        schema: SchemaRef,
    ) -> Project {
        Project {
            filter,
            outputs,
            schema,
        }
    }

    fn process(&self, batch: &RecordBatch) -> Result<RecordBatch> {
        let batch = filtered(&self.filter, batch)?;
        let mut columns = Vec::with_capacity(self.outputs.len() + 1);
        columns.push(batch.column(0).clone());
        for output in &self.outputs {
            columns.push(eval(output, &batch)?);
        }
        Ok(RecordBatch::try_new(self.schema.clone(), columns)?)
    }
}

/// One aggregate call of a GROUP BY: what DataFusion needs to make its accumulator per window.
pub(crate) struct AggregateSpec {
    func: Arc<AggregateUDF>,
    args: Vec<Arc<dyn PhysicalExpr>>,
    fields: Vec<FieldRef>,
    return_field: FieldRef,
    distinct: bool,
    schema: Arc<Schema>,
}

impl AggregateSpec {
    pub(crate) fn new(
        func: Arc<AggregateUDF>,
        args: Vec<Arc<dyn PhysicalExpr>>,
        fields: Vec<FieldRef>,
        return_field: FieldRef,
        distinct: bool,
        schema: &DFSchema,
    ) -> Result<AggregateSpec, String> {
        let spec = AggregateSpec {
            func,
            args,
            fields,
            return_field,
            distinct,
            schema: Arc::new(schema.as_arrow().clone()),
        };
        Ok(spec)
    }

    /// Fails at planning, not at the first row, for an aggregate with no grouped form (what a
    /// tumbling window needs; a sliding window checks for retraction instead).
    pub(crate) fn check_grouped(&self) -> Result<(), String> {
        self.accumulator().map(|_| ()).map_err(crate::expr::message)
    }

    pub(crate) fn args(&self) -> &[Arc<dyn PhysicalExpr>] {
        &self.args
    }

    /// An accumulator that can also take rows back out, for sliding windows.
    pub(crate) fn sliding_accumulator(&self) -> Result<Box<dyn datafusion_expr::Accumulator>> {
        if self.distinct {
            return Err(DataFusionError::NotImplemented(format!(
                "{}(DISTINCT ...) over a sliding window is not supported yet",
                self.func.name().to_uppercase()
            )));
        }
        let accumulator = self
            .func
            .create_sliding_accumulator(self.accumulator_args())?;
        if !accumulator.supports_retract_batch() {
            return Err(DataFusionError::NotImplemented(format!(
                "{} over a sliding window is not supported yet",
                self.func.name().to_uppercase()
            )));
        }
        Ok(accumulator)
    }

    fn accumulator_args(&self) -> AccumulatorArgs<'_> {
        AccumulatorArgs {
            return_field: self.return_field.clone(),
            schema: &self.schema,
            ignore_nulls: false,
            order_bys: &[],
            is_reversed: false,
            name: self.func.name(),
            is_distinct: self.distinct,
            exprs: &self.args,
            expr_fields: &self.fields,
        }
    }

    /// How many state columns the grouped accumulator's partial form has.
    pub(crate) fn state_width(&self) -> Result<usize> {
        Ok(self
            .func
            .state_fields(datafusion_expr::function::StateFieldsArgs {
                name: self.func.name(),
                input_fields: &self.fields,
                return_field: self.return_field.clone(),
                ordering_fields: &[],
                is_distinct: self.distinct,
            })?
            .len())
    }

    pub(crate) fn accumulator(&self) -> Result<Box<dyn GroupsAccumulator>> {
        let args = self.accumulator_args();
        if self.distinct || !self.func.groups_accumulator_supported(args.clone()) {
            return Err(DataFusionError::NotImplemented(format!(
                "{}{} in a windowed GROUP BY is not supported yet",
                self.func.name().to_uppercase(),
                if self.distinct { "(DISTINCT ...)" } else { "" }
            )));
        }
        self.func.create_groups_accumulator(args)
    }
}

/// A batch of arbitrary columns (named by position) for a snapshot.
pub(crate) fn state_batch(columns: Vec<ArrayRef>) -> Result<RecordBatch> {
    let fields: Vec<_> = columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            datafusion_common::arrow::datatypes::Field::new(
                format!("c{i}"),
                c.data_type().clone(),
                true,
            )
        })
        .collect();
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new(fields)),
        columns,
    )?)
}
