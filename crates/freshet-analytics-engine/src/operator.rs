//! The streaming operators a pump runs, on Arrow batches with ROWTIME in column 0: a projection
//! (filter and select list, row for row), grouped windows (tumbling and stagger), sliding
//! windows, and table functions.

use std::sync::Arc;

use datafusion_common::arrow::array::{Array, ArrayRef, AsArray, BinaryArray, RecordBatch};
use datafusion_common::arrow::compute::filter_record_batch;
use datafusion_common::arrow::datatypes::{FieldRef, Schema, SchemaRef};
use datafusion_common::arrow::ipc::reader::StreamReader;
use datafusion_common::arrow::ipc::writer::StreamWriter;
use datafusion_common::{DFSchema, DataFusionError, Result};
use datafusion_expr::function::AccumulatorArgs;
use datafusion_expr::{AggregateUDF, GroupsAccumulator};
use datafusion_physical_expr::{GroupsAccumulatorAdapter, PhysicalExpr};

use crate::function::TableFunction;
use crate::grouped::Grouped;
use crate::lookup::Lookup;
use crate::sliding::Sliding;
use crate::stream_join::StreamJoin;

/// A pump's operator.
pub(crate) enum Operator {
    Project(Project),
    Grouped(Box<Grouped>),
    Sliding(Sliding),
    Function(Box<dyn TableFunction>),
    /// Stage 0 of a pump reading two streams: [`Operator::process`] takes the left's rows.
    StreamJoin(Box<StreamJoin>),
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
            Operator::Function(f) => f.process(batch, out)?,
            Operator::StreamJoin(j) => j.process(0, batch, out)?,
        }
        Ok(())
    }

    /// Rows that time passing produces: windows that ended at or before `now_ms`.
    pub(crate) fn advance(&mut self, now_ms: i64, out: &mut Vec<RecordBatch>) -> Result<()> {
        match self {
            Operator::Project(_) => Ok(()),
            Operator::Grouped(t) => t.advance(now_ms, out),
            Operator::Sliding(s) => s.advance(now_ms),
            Operator::Function(f) => f.advance(now_ms, out),
            Operator::StreamJoin(j) => j.advance(now_ms, out),
        }
    }

    /// The operator's state as batches (with the open window's start, for a tumbling window),
    /// leaving it running.
    pub(crate) fn snapshot(&mut self) -> Result<Vec<(i64, RecordBatch)>> {
        match self {
            Operator::Project(_) => Ok(Vec::new()),
            Operator::Grouped(t) => Ok(t.snapshot()?.into_iter().collect()),
            Operator::Sliding(s) => Ok(s.snapshot()?.into_iter().map(|b| (0, b)).collect()),
            Operator::Function(f) => {
                let state = f.snapshot()?;
                let column: ArrayRef = Arc::new(BinaryArray::from_vec(vec![state.as_slice()]));
                Ok(vec![(0, state_batch(vec![column])?)])
            }
            Operator::StreamJoin(j) => Ok(j.snapshot()),
        }
    }

    /// Takes back one batch of a snapshot.
    pub(crate) fn restore(&mut self, start: i64, batch: &RecordBatch) -> Result<()> {
        match self {
            Operator::Project(_) => Ok(()),
            Operator::Grouped(t) => t.restore(start, batch),
            Operator::Sliding(s) => s.restore(batch),
            Operator::Function(f) => {
                let state = batch
                    .columns()
                    .first()
                    .and_then(|c| c.as_binary_opt::<i32>())
                    .filter(|c| c.len() == 1)
                    .ok_or_else(|| {
                        DataFusionError::Execution(
                            "a table function's snapshot is not one BINARY value".into(),
                        )
                    })?;
                f.restore(state.value(0))
            }
            Operator::StreamJoin(j) => j.restore(start, batch),
        }
    }
}

/// One step of a pump: its rows joined with a reference table (if any), then an operator.
pub(crate) struct Stage {
    pub join: Option<Lookup>,
    pub operator: Operator,
}

/// A pump's stages in order: what one stage produces is the next one's input.
pub(crate) struct Stages(pub Vec<Stage>);

impl Stages {
    /// Runs `batch`, read from the pump's source `side` (1: a stream join's right), through
    /// every stage.
    pub(crate) fn process(
        &mut self,
        side: usize,
        batch: &RecordBatch,
        out: &mut Vec<RecordBatch>,
    ) -> Result<()> {
        if side == 0 {
            return self.feed(0, vec![batch.clone()], out);
        }
        let Some(Stage {
            operator: Operator::StreamJoin(join),
            ..
        }) = self.0.first_mut()
        else {
            return Err(DataFusionError::Internal(format!(
                "rows from source {side} of a pump that reads one stream"
            )));
        };
        let mut joined = Vec::new();
        join.process(side, batch, &mut joined)?;
        self.feed(1, joined, out)
    }

    /// Lets time pass in each stage in turn, so what an earlier stage emits now reaches the
    /// later ones before they close their own windows.
    pub(crate) fn advance(&mut self, now_ms: i64, out: &mut Vec<RecordBatch>) -> Result<()> {
        for i in 0..self.0.len() {
            let mut emitted = Vec::new();
            self.0[i].operator.advance(now_ms, &mut emitted)?;
            self.feed(i + 1, emitted, out)?;
        }
        Ok(())
    }

    fn feed(
        &mut self,
        from: usize,
        batches: Vec<RecordBatch>,
        out: &mut Vec<RecordBatch>,
    ) -> Result<()> {
        let mut batches = batches;
        for stage in &mut self.0[from..] {
            let mut next = Vec::new();
            for batch in batches.iter().filter(|b| b.num_rows() > 0) {
                match &stage.join {
                    Some(lookup) => stage.operator.process(&lookup.join(batch)?, &mut next)?,
                    None => stage.operator.process(batch, &mut next)?,
                }
            }
            batches = next;
        }
        out.extend(batches);
        Ok(())
    }

    /// Every stage's state: (stage, window start, batch).
    pub(crate) fn snapshot(&mut self) -> Result<Vec<(usize, i64, RecordBatch)>> {
        let mut states = Vec::new();
        for (i, stage) in self.0.iter_mut().enumerate() {
            for (start, batch) in stage.operator.snapshot()? {
                states.push((i, start, batch));
            }
        }
        Ok(states)
    }

    pub(crate) fn restore(&mut self, stage: usize, start: i64, batch: &RecordBatch) -> Result<()> {
        let stage = self.0.get_mut(stage).ok_or_else(|| {
            DataFusionError::Execution(format!(
                "the snapshot names stage {stage}, which the pump does not have"
            ))
        })?;
        stage.operator.restore(start, batch)
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
#[derive(Clone)]
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

    /// Fails at planning, not at the first row, for an aggregate a grouped window cannot run (a
    /// sliding window checks for retraction instead).
    pub(crate) fn check_grouped(&self) -> Result<(), String> {
        self.accumulator().map(|_| ()).map_err(crate::expr::message)
    }

    /// Whether merging the partial states of two sets of rows gives the aggregate of their
    /// union whatever order the rows came in: not for the aggregates that keep the first, last
    /// or n-th row or the rows' order, whose merge takes rows in the order of the states.
    pub(crate) fn merges_in_any_order(&self) -> bool {
        !matches!(
            self.func.name(),
            "first_value" | "last_value" | "nth_value" | "array_agg" | "string_agg"
        )
    }

    pub(crate) fn args(&self) -> &[Arc<dyn PhysicalExpr>] {
        &self.args
    }

    /// An accumulator that can also take rows back out, for sliding windows; None for one that
    /// cannot (DISTINCT ones, MEDIAN, ...), which a sliding window recomputes instead.
    pub(crate) fn retracting_accumulator(
        &self,
    ) -> Result<Option<Box<dyn datafusion_expr::Accumulator>>> {
        if self.distinct {
            return Ok(None);
        }
        let accumulator = self
            .func
            .create_sliding_accumulator(self.accumulator_args())?;
        Ok(accumulator.supports_retract_batch().then_some(accumulator))
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

    /// The aggregate's state for every group of a window: DataFusion's vectorised grouped form
    /// where it has one, otherwise (DISTINCT aggregates, MEDIAN, ...) one plain accumulator per
    /// group behind DataFusion's adapter.
    pub(crate) fn accumulator(&self) -> Result<Box<dyn GroupsAccumulator>> {
        let args = self.accumulator_args();
        if !self.distinct && self.func.groups_accumulator_supported(args.clone()) {
            return self.func.create_groups_accumulator(args);
        }
        // Fails here, at planning, for an aggregate that has no plain form either.
        self.plain_accumulator()?;
        let spec = self.clone();
        Ok(Box::new(GroupsAccumulatorAdapter::new(move || {
            spec.plain_accumulator()
        })))
    }

    /// One accumulator for one set of rows (DISTINCT honoured).
    pub(crate) fn plain_accumulator(&self) -> Result<Box<dyn datafusion_expr::Accumulator>> {
        self.func.accumulator(self.accumulator_args())
    }
}

/// A batch as Arrow IPC stream bytes: how snapshots hold state.
pub(crate) fn ipc_bytes(batch: &RecordBatch) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    let mut writer = StreamWriter::try_new(&mut bytes, &batch.schema())?;
    writer.write(batch)?;
    writer.finish()?;
    drop(writer);
    Ok(bytes)
}

/// The batches of Arrow IPC stream bytes.
pub(crate) fn ipc_batches(bytes: &[u8]) -> Result<Vec<RecordBatch>> {
    Ok(StreamReader::try_new(std::io::Cursor::new(bytes), None)?
        .collect::<std::result::Result<Vec<_>, _>>()?)
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
