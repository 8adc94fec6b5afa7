//! Sliding windows: `AGG(x) OVER (PARTITION BY k RANGE INTERVAL 'n' unit PRECEDING)` or
//! `ROWS n PRECEDING`. Every input row produces one output row, whose aggregate covers the rows
//! of its partition in the window that ends with it. Each partition keeps one DataFusion
//! sliding accumulator: a row entering is added, a row leaving is retracted, so a row costs the
//! same whatever the window's length. `LAG(x, n, default)` over the same windows keeps each
//! partition's last n values instead, and `FIRST_VALUE`, `LAST_VALUE` and `NTH_VALUE` read the
//! window's rows.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use datafusion_common::arrow::array::{
    Array, ArrayRef, AsArray, BinaryArray, Int64Array, RecordBatch, UInt32Array,
};
use datafusion_common::arrow::compute::concat;
use datafusion_common::arrow::datatypes::{
    Float64Type, Int64Type, SchemaRef, TimestampMillisecondType, UInt32Type,
};
use datafusion_common::arrow::row::{RowConverter, SortField};
use datafusion_common::{DataFusionError, Result, ScalarValue};
use datafusion_expr::Accumulator;
use datafusion_physical_expr::PhysicalExpr;

use crate::operator::{AggregateSpec, eval, filtered, state_batch};

/// How far back a window reaches from its current row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Frame {
    /// Rows whose ROWTIME is at most this many ms before the current row's.
    Range(i64),
    /// The current row and this many rows before it.
    Rows(usize),
    /// Every row of the partition so far (Flink's `UNBOUNDED PRECEDING`): nothing leaves, so
    /// an aggregate that needs no recomputing keeps no rows.
    Unbounded,
}

struct Partition {
    /// None for LAG, which only looks back at `rows`.
    accumulator: Option<Box<dyn Accumulator>>,
    /// The rows in the window, oldest first: ROWTIME and the aggregate's argument values.
    rows: VecDeque<(i64, Vec<ArrayRef>)>,
}

/// Which row's value a positional window function takes.
#[derive(Debug, Clone)]
pub(crate) enum Pick {
    /// The value `offset` rows back in the partition, or `default` where there is none.
    Lag { offset: usize, default: ScalarValue },
    /// The value of the window's `n`th row (from its oldest, or from the current row back), or
    /// NULL where the window has fewer rows.
    Nth { n: usize, from_last: bool },
    /// The window's values averaged with weights halving every `half_life_ms` back from the
    /// current row, in whole steps (KDA: the newest sub-window weighs twice the one before).
    ExpAvg { half_life_ms: i64 },
}

/// What a window computes for each row.
enum Kind {
    Aggregate(AggregateSpec),
    Positional {
        arg: [Arc<dyn PhysicalExpr>; 1],
        pick: Pick,
    },
}

/// One `AGG(...) OVER (...)` or `LAG(...) OVER (...)` of a select list.
pub(crate) struct Window {
    kind: Kind,
    partition_by: Vec<Arc<dyn PhysicalExpr>>,
    frame: Frame,
    converter: RowConverter,
    partitions: HashMap<Box<[u8]>, Partition>,
    /// The aggregate is evaluated afresh over the window's rows (it cannot retract).
    recompute: bool,
}

impl Window {
    pub(crate) fn new(
        aggregate: AggregateSpec,
        partition_by: Vec<Arc<dyn PhysicalExpr>>,
        partition_types: Vec<datafusion_common::arrow::datatypes::DataType>,
        frame: Frame,
    ) -> Result<Window, String> {
        // An aggregate that cannot take rows back out (DISTINCT ones, MEDIAN, ...) is computed
        // afresh over the window's rows for each row instead: O(rows in the window).
        let recompute = aggregate
            .retracting_accumulator()
            .map_err(crate::expr::message)?
            .is_none();
        if recompute {
            aggregate
                .plain_accumulator()
                .map_err(crate::expr::message)?;
        }
        let mut window = Window::with(
            Kind::Aggregate(aggregate),
            partition_by,
            partition_types,
            frame,
        )?;
        window.recompute = recompute;
        Ok(window)
    }

    /// `LAG(arg, offset, default)` (a partition keeps its last `offset` values; the window's
    /// frame does not matter), or `FIRST_VALUE`/`LAST_VALUE`/`NTH_VALUE` over `frame`.
    pub(crate) fn positional(
        arg: Arc<dyn PhysicalExpr>,
        pick: Pick,
        partition_by: Vec<Arc<dyn PhysicalExpr>>,
        partition_types: Vec<datafusion_common::arrow::datatypes::DataType>,
        frame: Result<Frame, String>,
    ) -> Result<Window, String> {
        let frame = match &pick {
            Pick::Lag { offset, .. } => Frame::Rows(offset.saturating_sub(1)),
            Pick::Nth { .. } | Pick::ExpAvg { .. } => frame?,
        };
        let kind = Kind::Positional { arg: [arg], pick };
        Window::with(kind, partition_by, partition_types, frame)
    }

    fn with(
        kind: Kind,
        partition_by: Vec<Arc<dyn PhysicalExpr>>,
        partition_types: Vec<datafusion_common::arrow::datatypes::DataType>,
        frame: Frame,
    ) -> Result<Window, String> {
        let converter =
            RowConverter::new(partition_types.into_iter().map(SortField::new).collect())
                .map_err(|e| e.to_string())?;
        Ok(Window {
            kind,
            partition_by,
            frame,
            converter,
            partitions: HashMap::new(),
            recompute: false,
        })
    }

    fn args(&self) -> &[Arc<dyn PhysicalExpr>] {
        match &self.kind {
            Kind::Aggregate(spec) => spec.args(),
            Kind::Positional { arg, .. } => arg,
        }
    }

    fn key_rows(&self, batch: &RecordBatch) -> Result<Vec<Box<[u8]>>> {
        if self.partition_by.is_empty() {
            return Ok(vec![Box::default(); batch.num_rows()]);
        }
        let keys: Vec<ArrayRef> = self
            .partition_by
            .iter()
            .map(|k| eval(k, batch))
            .collect::<Result<_>>()?;
        let rows = self.converter.convert_columns(&keys)?;
        Ok(rows.iter().map(|r| r.as_ref().into()).collect())
    }

    /// Adds a row to its partition and retracts the rows its window no longer reaches.
    fn add(&mut self, key: &[u8], rowtime: i64, values: Vec<ArrayRef>) -> Result<&mut Partition> {
        if !self.partitions.contains_key(key) {
            let accumulator = match &self.kind {
                Kind::Aggregate(spec) if !self.recompute => spec.retracting_accumulator()?,
                _ => None,
            };
            self.partitions.insert(
                key.into(),
                Partition {
                    accumulator,
                    rows: VecDeque::new(),
                },
            );
        }
        let frame = self.frame;
        let partition = self
            .partitions
            .get_mut(key)
            .ok_or_else(|| DataFusionError::Internal("partition".into()))?;
        if let Some(accumulator) = &mut partition.accumulator {
            accumulator.update_batch(&values)?;
            if frame == Frame::Unbounded {
                return Ok(partition);
            }
        }
        partition.rows.push_back((rowtime, values));
        evict(partition, frame, rowtime)?;
        Ok(partition)
    }

    fn values(&mut self, batch: &RecordBatch) -> Result<ArrayRef> {
        let keys = self.key_rows(batch)?;
        let args: Vec<ArrayRef> = self
            .args()
            .iter()
            .map(|a| eval(a, batch))
            .collect::<Result<_>>()?;
        let rowtime = batch.column(0).as_primitive::<TimestampMillisecondType>();
        let mut out = Vec::with_capacity(batch.num_rows());
        for (i, key) in keys.iter().enumerate() {
            let values = args.iter().map(|a| a.slice(i, 1)).collect();
            if let Kind::Positional {
                pick: Pick::Lag { offset, default },
                ..
            } = &self.kind
            {
                // The value `offset` rows back, read before this row joins the partition.
                let back = self
                    .partitions
                    .get(key)
                    .filter(|p| p.rows.len() >= *offset)
                    .map(|p| p.rows[p.rows.len() - offset].1[0].clone());
                out.push(match back {
                    Some(value) => ScalarValue::try_from_array(&value, 0)?,
                    None => default.clone(),
                });
                self.add(key, rowtime.value(i), values)?;
                continue;
            }
            let pick = match &self.kind {
                Kind::Positional {
                    pick: Pick::Nth { n, from_last },
                    ..
                } => Some((*n, *from_last)),
                _ => None,
            };
            let half_life = match &self.kind {
                Kind::Positional {
                    pick: Pick::ExpAvg { half_life_ms },
                    ..
                } => Some(*half_life_ms),
                _ => None,
            };
            let fresh = match &self.kind {
                Kind::Aggregate(spec) if self.recompute => Some(spec.plain_accumulator()?),
                _ => None,
            };
            let now = rowtime.value(i);
            let partition = self.add(key, now, values)?;
            if let Some(mut accumulator) = fresh {
                for (_, row) in &partition.rows {
                    accumulator.update_batch(row)?;
                }
                out.push(accumulator.evaluate()?);
                continue;
            }
            if let Some(half_life) = half_life {
                out.push(ScalarValue::Float64(exp_avg(partition, now, half_life)));
                continue;
            }
            if let Some((n, from_last)) = pick {
                let len = partition.rows.len();
                let at = if from_last {
                    len.checked_sub(n)
                } else {
                    (n <= len).then(|| n - 1)
                };
                out.push(match at {
                    Some(at) => ScalarValue::try_from_array(&partition.rows[at].1[0], 0)?,
                    None => ScalarValue::try_from(args[0].data_type())?,
                });
                continue;
            }
            match &mut partition.accumulator {
                Some(accumulator) => out.push(accumulator.evaluate()?),
                None => {
                    return Err(DataFusionError::Internal(
                        "an aggregate window without accumulator".into(),
                    ));
                }
            }
        }
        ScalarValue::iter_to_array(out)
    }

    /// Drops what time alone has pushed out of RANGE windows, and partitions left empty.
    fn expire(&mut self, now_ms: i64) -> Result<()> {
        if let Frame::Range(_) = self.frame {
            for partition in self.partitions.values_mut() {
                evict(partition, self.frame, now_ms)?;
            }
            self.partitions.retain(|_, p| !p.rows.is_empty());
        }
        Ok(())
    }
}

/// EXP_AVG over the partition's window at `now`: O(rows in the window).
fn exp_avg(partition: &Partition, now: i64, half_life_ms: i64) -> Option<f64> {
    let (mut sum, mut weights) = (0.0, 0.0);
    for (rowtime, values) in &partition.rows {
        let values = values[0].as_primitive_opt::<Float64Type>()?;
        if values.is_null(0) {
            continue;
        }
        let steps = (now - rowtime).max(0) / half_life_ms;
        let weight = 0.5f64.powi(steps.min(i64::from(i32::MAX)) as i32);
        sum += weight * values.value(0);
        weights += weight;
    }
    (weights > 0.0).then(|| sum / weights)
}

fn evict(partition: &mut Partition, frame: Frame, now_ms: i64) -> Result<()> {
    loop {
        let leaving = match (frame, partition.rows.front()) {
            (Frame::Range(width), Some((t, _))) => *t < now_ms - width,
            (Frame::Rows(n), Some(_)) => partition.rows.len() > n + 1,
            (Frame::Unbounded, _) | (_, None) => false,
        };
        if !leaving {
            return Ok(());
        }
        if let Some((_, values)) = partition.rows.pop_front()
            && let Some(accumulator) = &mut partition.accumulator
        {
            accumulator.retract_batch(&values)?;
        }
    }
}

/// `SELECT STREAM ..., AGG(x) OVER w, ... FROM s [WHERE ...] WINDOW w AS (...)`.
pub(crate) struct Sliding {
    filter: Option<Arc<dyn PhysicalExpr>>,
    windows: Vec<Window>,
    /// Over the source's columns followed by one column per window.
    outputs: Vec<Arc<dyn PhysicalExpr>>,
    extended: SchemaRef,
    schema: SchemaRef,
}

impl Sliding {
    pub(crate) fn new(
        filter: Option<Arc<dyn PhysicalExpr>>,
        windows: Vec<Window>,
        outputs: Vec<Arc<dyn PhysicalExpr>>,
        extended: SchemaRef,
        schema: SchemaRef,
    ) -> Sliding {
        Sliding {
            filter,
            windows,
            outputs,
            extended,
            schema,
        }
    }

    pub(crate) fn process(&mut self, batch: &RecordBatch) -> Result<RecordBatch> {
        let batch = filtered(&self.filter, batch)?;
        let mut columns = batch.columns().to_vec();
        for window in &mut self.windows {
            columns.push(window.values(&batch)?);
        }
        let extended = RecordBatch::try_new(self.extended.clone(), columns)?;
        let mut out = vec![batch.column(0).clone()];
        for output in &self.outputs {
            out.push(eval(output, &extended)?);
        }
        Ok(RecordBatch::try_new(self.schema.clone(), out)?)
    }

    pub(crate) fn advance(&mut self, now_ms: i64) -> Result<()> {
        for window in &mut self.windows {
            window.expire(now_ms)?;
        }
        Ok(())
    }

    /// Every row still in a window, per window and partition, in order: the window's index,
    /// the partition key, ROWTIME, then the argument values (one batch per window, since their
    /// arguments differ).
    pub(crate) fn snapshot(&self) -> Result<Vec<RecordBatch>> {
        let mut out = Vec::new();
        for (w, window) in self.windows.iter().enumerate() {
            let mut keys: Vec<&[u8]> = Vec::new();
            let mut times = Vec::new();
            let mut values: Vec<Vec<&dyn Array>> = vec![Vec::new(); window.args().len()];
            for (key, partition) in &window.partitions {
                for (rowtime, row) in &partition.rows {
                    keys.push(key);
                    times.push(*rowtime);
                    for (column, value) in values.iter_mut().zip(row) {
                        column.push(value.as_ref());
                    }
                }
            }
            if keys.is_empty() {
                continue;
            }
            let mut columns: Vec<ArrayRef> = vec![
                Arc::new(UInt32Array::from_value(w as u32, keys.len())),
                Arc::new(BinaryArray::from_vec(keys)),
                Arc::new(Int64Array::from(times)),
            ];
            for column in values {
                columns.push(concat(&column)?);
            }
            out.push(state_batch(columns)?);
        }
        Ok(out)
    }

    /// Refills the windows from a snapshot's batch.
    pub(crate) fn restore(&mut self, batch: &RecordBatch) -> Result<()> {
        let window = batch.column(0).as_primitive::<UInt32Type>();
        let keys = batch.column(1).as_binary::<i32>();
        let times = batch.column(2).as_primitive::<Int64Type>();
        for i in 0..batch.num_rows() {
            let w = window.value(i) as usize;
            let Some(target) = self.windows.get_mut(w) else {
                continue;
            };
            if batch.num_columns() != 3 + target.args().len() {
                return Err(DataFusionError::Internal(
                    "the snapshot does not fit this window".into(),
                ));
            }
            let values = batch.columns()[3..].iter().map(|c| c.slice(i, 1)).collect();
            target.add(keys.value(i), times.value(i), values)?;
        }
        Ok(())
    }
}
