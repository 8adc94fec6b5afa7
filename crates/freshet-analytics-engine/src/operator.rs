//! The streaming operators a pump runs: a projection (filter and select list, row for row) and a
//! tumbling aggregate over ROWTIME windows, both on Arrow batches with ROWTIME in column 0.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion_common::arrow::array::{
    Array, ArrayRef, AsArray, RecordBatch, TimestampMillisecondArray,
};
use datafusion_common::arrow::compute::filter_record_batch;
use datafusion_common::arrow::datatypes::{FieldRef, Schema, SchemaRef, TimestampMillisecondType};
use datafusion_common::arrow::row::{RowConverter, Rows, SortField};
use datafusion_common::{DFSchema, DataFusionError, Result};
use datafusion_expr::function::AccumulatorArgs;
use datafusion_expr::{AggregateUDF, EmitTo, GroupsAccumulator};
use datafusion_physical_expr::PhysicalExpr;

use crate::sliding::Sliding;

/// A pump's operator.
pub(crate) enum Operator {
    Project(Project),
    Tumble(Box<Tumble>),
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
            Operator::Tumble(t) => t.process(batch, out)?,
            Operator::Sliding(s) => out.push(s.process(batch)?),
        }
        Ok(())
    }

    /// Rows that time passing produces: windows that ended at or before `now_ms`.
    pub(crate) fn advance(&mut self, now_ms: i64, out: &mut Vec<RecordBatch>) -> Result<()> {
        match self {
            Operator::Project(_) => Ok(()),
            Operator::Tumble(t) => t.advance(now_ms, out),
            Operator::Sliding(s) => s.advance(now_ms),
        }
    }

    /// The operator's state as batches (with the open window's start, for a tumbling window),
    /// leaving it running.
    pub(crate) fn snapshot(&mut self) -> Result<Vec<(i64, RecordBatch)>> {
        match self {
            Operator::Project(_) => Ok(Vec::new()),
            Operator::Tumble(t) => Ok(t.snapshot()?.into_iter().collect()),
            Operator::Sliding(s) => Ok(s.snapshot()?.into_iter().map(|b| (0, b)).collect()),
        }
    }

    /// Takes back one batch of a snapshot.
    pub(crate) fn restore(&mut self, start: i64, batch: &RecordBatch) -> Result<()> {
        match self {
            Operator::Project(_) => Ok(()),
            Operator::Tumble(t) => t.restore(start, batch),
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

    fn accumulator(&self) -> Result<Box<dyn GroupsAccumulator>> {
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

/// The groups of the open window: keys as rows, each key's group index, one accumulator per
/// aggregate.
struct Window {
    start: i64,
    index: HashMap<Box<[u8]>, usize>,
    keys: Rows,
    accumulators: Vec<Box<dyn GroupsAccumulator>>,
}

/// `SELECT STREAM ... GROUP BY keys, STEP(ROWTIME BY w)`: rows are aggregated per key while their
/// window is open and each group is emitted once when the window ends, stamped with the end.
///
/// ROWTIME never decreases within a stream, so exactly one window is open at a time: a row past
/// its end, or the clock passing it, closes it.
pub(crate) struct Tumble {
    filter: Option<Arc<dyn PhysicalExpr>>,
    keys: Vec<Arc<dyn PhysicalExpr>>,
    width_ms: i64,
    aggregates: Vec<AggregateSpec>,
    having: Option<Arc<dyn PhysicalExpr>>,
    outputs: Vec<Arc<dyn PhysicalExpr>>,
    mid_schema: SchemaRef,
    schema: SchemaRef,
    converter: RowConverter,
    open: Option<Window>,
}

impl Tumble {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        filter: Option<Arc<dyn PhysicalExpr>>,
        keys: Vec<Arc<dyn PhysicalExpr>>,
        width_ms: i64,
        aggregates: Vec<AggregateSpec>,
        having: Option<Arc<dyn PhysicalExpr>>,
        outputs: Vec<Arc<dyn PhysicalExpr>>,
        mid_schema: SchemaRef,
        schema: SchemaRef,
    ) -> Result<Tumble, String> {
        let sort_fields = mid_schema.fields()[..keys.len()]
            .iter()
            .map(|f| SortField::new(f.data_type().clone()))
            .collect();
        let converter = RowConverter::new(sort_fields).map_err(|e| e.to_string())?;
        Ok(Tumble {
            filter,
            keys,
            width_ms,
            aggregates,
            having,
            outputs,
            mid_schema,
            schema,
            converter,
            open: None,
        })
    }

    fn process(&mut self, batch: &RecordBatch, out: &mut Vec<RecordBatch>) -> Result<()> {
        let batch = filtered(&self.filter, batch)?;
        let rowtime: &TimestampMillisecondArray =
            batch.column(0).as_primitive::<TimestampMillisecondType>();
        let mut start = 0;
        while start < batch.num_rows() {
            let window = rowtime.value(start).div_euclid(self.width_ms) * self.width_ms;
            let end_ms = window + self.width_ms;
            if self.open.as_ref().is_some_and(|w| w.start < window) {
                self.close(out)?;
            }
            let mut end = start + 1;
            while end < batch.num_rows() && rowtime.value(end) < end_ms {
                end += 1;
            }
            // A row older than the open window (ROWTIME set by an upstream window end) joins
            // the open window rather than reopening a closed one.
            let window = self.open.as_ref().map_or(window, |w| w.start.max(window));
            self.accumulate(window, &batch.slice(start, end - start))?;
            start = end;
        }
        Ok(())
    }

    fn advance(&mut self, now_ms: i64, out: &mut Vec<RecordBatch>) -> Result<()> {
        if self
            .open
            .as_ref()
            .is_some_and(|w| w.start + self.width_ms <= now_ms)
        {
            self.close(out)?;
        }
        Ok(())
    }

    fn window(&mut self, start: i64) -> Result<&mut Window> {
        if self.open.is_none() {
            let accumulators = self
                .aggregates
                .iter()
                .map(AggregateSpec::accumulator)
                .collect::<Result<_>>()?;
            self.open = Some(Window {
                start,
                index: HashMap::new(),
                keys: self.converter.empty_rows(0, 0),
                accumulators,
            });
        }
        Ok(self.open.as_mut().expect("opened above"))
    }

    fn accumulate(&mut self, start: i64, batch: &RecordBatch) -> Result<()> {
        let keys: Vec<ArrayRef> = self
            .keys
            .iter()
            .map(|k| eval(k, batch))
            .collect::<Result<_>>()?;
        let rows = self.converter.convert_columns(&keys)?;
        let args: Vec<Vec<ArrayRef>> = self
            .aggregates
            .iter()
            .map(|a| {
                a.args
                    .iter()
                    .map(|e| eval(e, batch))
                    .collect::<Result<Vec<_>>>()
            })
            .collect::<Result<_>>()?;
        let window = self.window(start)?;
        let mut groups = Vec::with_capacity(batch.num_rows());
        for row in rows.iter() {
            let group = match window.index.get(row.as_ref()) {
                Some(&g) => g,
                None => {
                    let g = window.index.len();
                    window.index.insert(row.as_ref().into(), g);
                    window.keys.push(row);
                    g
                }
            };
            groups.push(group);
        }
        let total = window.index.len();
        for (accumulator, values) in window.accumulators.iter_mut().zip(&args) {
            accumulator.update_batch(values, &groups, None, total)?;
        }
        Ok(())
    }

    fn close(&mut self, out: &mut Vec<RecordBatch>) -> Result<()> {
        let Some(mut window) = self.open.take() else {
            return Ok(());
        };
        if window.index.is_empty() {
            return Ok(());
        }
        let mut columns = self.converter.convert_rows(window.keys.iter())?;
        for accumulator in &mut window.accumulators {
            columns.push(accumulator.evaluate(EmitTo::All)?);
        }
        let mid = filtered(
            &self.having,
            &RecordBatch::try_new(self.mid_schema.clone(), columns)?,
        )?;
        let rowtime =
            TimestampMillisecondArray::from_value(window.start + self.width_ms, mid.num_rows());
        let mut columns: Vec<ArrayRef> = vec![Arc::new(rowtime)];
        for output in &self.outputs {
            columns.push(eval(output, &mid)?);
        }
        out.push(RecordBatch::try_new(self.schema.clone(), columns)?);
        Ok(())
    }

    /// The open window's groups as one batch: each key's columns, then each accumulator's state
    /// columns (DataFusion's partial-aggregate form), with the window's start; the accumulators
    /// are rebuilt from that state so the window stays open.
    pub(crate) fn snapshot(&mut self) -> Result<Option<(i64, RecordBatch)>> {
        let Some(window) = self.open.as_mut() else {
            return Ok(None);
        };
        let mut columns = self.converter.convert_rows(window.keys.iter())?;
        let key_count = columns.len();
        let mut states = Vec::new();
        for accumulator in &mut window.accumulators {
            let state = accumulator.state(EmitTo::All)?;
            states.push(state.len());
            columns.extend(state);
        }
        let start = window.start;
        let batch = state_batch(columns)?;
        self.open = None;
        self.restore_state(start, &batch, key_count, &states)?;
        Ok(Some((start, batch)))
    }

    /// Reopens the window a snapshot holds.
    pub(crate) fn restore(&mut self, start: i64, batch: &RecordBatch) -> Result<()> {
        let mut widths = Vec::new();
        for spec in &self.aggregates {
            widths.push(
                spec.func
                    .state_fields(datafusion_expr::function::StateFieldsArgs {
                        name: spec.func.name(),
                        input_fields: &spec.fields,
                        return_field: spec.return_field.clone(),
                        ordering_fields: &[],
                        is_distinct: spec.distinct,
                    })?
                    .len(),
            );
        }
        self.open = None;
        self.restore_state(start, batch, self.keys.len(), &widths)
    }

    fn restore_state(
        &mut self,
        start: i64,
        batch: &RecordBatch,
        key_count: usize,
        states: &[usize],
    ) -> Result<()> {
        let rows = self
            .converter
            .convert_columns(&batch.columns()[..key_count])?;
        let window = self.window(start)?;
        for row in rows.iter() {
            window.index.insert(row.as_ref().into(), window.index.len());
            window.keys.push(row);
        }
        let groups: Vec<usize> = (0..batch.num_rows()).collect();
        let mut at = key_count;
        for (accumulator, width) in window.accumulators.iter_mut().zip(states) {
            accumulator.merge_batch(&batch.columns()[at..at + width], &groups, batch.num_rows())?;
            at += width;
        }
        Ok(())
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
