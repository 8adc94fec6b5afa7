//! Grouped windows: `GROUP BY keys, STEP(ROWTIME BY w)` (tumbling) and `WINDOWED BY STAGGER
//! (PARTITION BY keys RANGE INTERVAL w)` (stagger). Rows are aggregated per key while their
//! window is open, and each group is emitted once, when its window closes, stamped with the
//! close.
//!
//! Both kinds are one operator because their groups close in the order they open: a tumbling
//! window's groups all close at the window's end, and a stagger window opens for a key when its
//! first row arrives and closes a fixed time later. So groups are numbered in opening order,
//! DataFusion's `GroupsAccumulator`s hold them, and closing is always "emit the first n groups"
//! (`EmitTo::First`), O(1) per row whatever the number of keys.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use datafusion_common::arrow::array::{
    Array, ArrayRef, AsArray, Int64Array, RecordBatch, TimestampMillisecondArray,
};
use datafusion_common::arrow::compute::{filter, filter_record_batch};
use datafusion_common::arrow::datatypes::{Int64Type, SchemaRef, TimestampMillisecondType};
use datafusion_common::arrow::row::{RowConverter, Rows, SortField};
use datafusion_common::{DataFusionError, Result};
use datafusion_expr::{EmitTo, GroupsAccumulator};
use datafusion_physical_expr::PhysicalExpr;

use crate::operator::{AggregateSpec, eval, filtered, state_batch};

/// When a group's window closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Policy {
    /// Windows of this many ms counted from the epoch; a row's group closes at its window's end.
    Tumble(i64),
    /// A key's window opens with its first row and closes this many ms later.
    Stagger(i64),
    /// The key at this index is declared MONOTONIC: all groups close together when a row
    /// brings a new value of it (the old one never comes back).
    Monotonic(usize),
}

impl Policy {
    fn close_for(self, rowtime: i64) -> i64 {
        match self {
            Policy::Tumble(width) => rowtime.div_euclid(width) * width + width,
            Policy::Stagger(range) => rowtime.saturating_add(range),
            Policy::Monotonic(_) => i64::MAX,
        }
    }
}

/// The planned parts of a grouped window.
pub(crate) struct GroupedSpec {
    pub filter: Option<Arc<dyn PhysicalExpr>>,
    pub keys: Vec<Arc<dyn PhysicalExpr>>,
    pub policy: Policy,
    pub aggregates: Vec<AggregateSpec>,
    pub having: Option<Arc<dyn PhysicalExpr>>,
    /// The target's columns (after ROWTIME) over the keys and aggregates.
    pub outputs: Vec<Arc<dyn PhysicalExpr>>,
    /// The keys, then the aggregates' results: what `having` and `outputs` read.
    pub mid_schema: SchemaRef,
    pub schema: SchemaRef,
}

/// The open groups, numbered in opening order from `base`.
struct Groups {
    base: usize,
    /// Each key with an open group, and that group's number.
    index: HashMap<Box<[u8]>, usize>,
    /// The open groups' keys, in order.
    keys: Rows,
    /// The open groups' close times, in order (never decreasing).
    closes: VecDeque<i64>,
    accumulators: Vec<Box<dyn GroupsAccumulator>>,
}

pub(crate) struct Grouped {
    spec: GroupedSpec,
    converter: RowConverter,
    groups: Groups,
    /// For a MONOTONIC key: its own converter, and the value the open groups have.
    monotonic: Option<(RowConverter, Option<Vec<u8>>)>,
}

impl Grouped {
    pub(crate) fn new(spec: GroupedSpec) -> Result<Grouped, String> {
        let sort_fields = spec.mid_schema.fields()[..spec.keys.len()]
            .iter()
            .map(|f| SortField::new(f.data_type().clone()))
            .collect();
        let converter = RowConverter::new(sort_fields).map_err(|e| e.to_string())?;
        let groups = Groups::new(&spec.aggregates, &converter).map_err(crate::expr::message)?;
        let monotonic = match spec.policy {
            Policy::Monotonic(key) => {
                let field = spec.mid_schema.field(key);
                let converter = RowConverter::new(vec![SortField::new(field.data_type().clone())])
                    .map_err(|e| e.to_string())?;
                Some((converter, None))
            }
            _ => None,
        };
        Ok(Grouped {
            spec,
            converter,
            groups,
            monotonic,
        })
    }

    pub(crate) fn process(
        &mut self,
        batch: &RecordBatch,
        out: &mut Vec<RecordBatch>,
    ) -> Result<()> {
        let batch = filtered(&self.spec.filter, batch)?;
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let rowtime: &TimestampMillisecondArray =
            batch.column(0).as_primitive::<TimestampMillisecondType>();
        let keys: Vec<ArrayRef> = self
            .spec
            .keys
            .iter()
            .map(|k| eval(k, &batch))
            .collect::<Result<_>>()?;
        let rows = self.converter.convert_columns(&keys)?;
        let args: Vec<Vec<ArrayRef>> = self
            .spec
            .aggregates
            .iter()
            .map(|a| {
                a.args()
                    .iter()
                    .map(|e| eval(e, &batch))
                    .collect::<Result<Vec<_>>>()
            })
            .collect::<Result<_>>()?;
        let monotonic_rows = match (&self.monotonic, self.spec.policy) {
            (Some((converter, _)), Policy::Monotonic(key)) => {
                Some(converter.convert_columns(std::slice::from_ref(&keys[key]))?)
            }
            _ => None,
        };
        // Rows are taken in runs that close nothing: a row at or past the oldest open group's
        // close first closes it (and every group closing by then), and a row moving a
        // MONOTONIC key on closes every group; either way it opens a new one.
        let mut start = 0;
        let mut group_of_row = Vec::with_capacity(batch.num_rows());
        for (i, row) in rows.iter().enumerate() {
            let t = rowtime.value(i);
            let moved = match (&monotonic_rows, &mut self.monotonic) {
                (Some(values), Some((_, current))) => {
                    let value = values.row(i);
                    let moved = current.as_deref().is_some_and(|c| c != value.as_ref());
                    if current.as_deref() != Some(value.as_ref()) {
                        *current = Some(value.as_ref().to_vec());
                    }
                    moved
                }
                _ => false,
            };
            if moved || self.groups.closes.front().is_some_and(|c| *c <= t) {
                self.groups.update(&args, start, &group_of_row)?;
                group_of_row.clear();
                start = i;
                if moved {
                    self.emit_first(self.groups.closes.len(), Some(t), out)?;
                } else {
                    self.emit(t, out)?;
                }
            }
            group_of_row.push(self.groups.group(row, self.spec.policy.close_for(t)));
        }
        self.groups.update(&args, start, &group_of_row)
    }

    pub(crate) fn advance(&mut self, now_ms: i64, out: &mut Vec<RecordBatch>) -> Result<()> {
        self.emit(now_ms, out)
    }

    /// Emits every group whose window closes at or before `now_ms`.
    fn emit(&mut self, now_ms: i64, out: &mut Vec<RecordBatch>) -> Result<()> {
        let n = self.groups.closes.partition_point(|c| *c <= now_ms);
        self.emit_first(n, None, out)
    }

    /// Emits the first `n` groups, stamped with their close times or with `at`.
    fn emit_first(&mut self, n: usize, at: Option<i64>, out: &mut Vec<RecordBatch>) -> Result<()> {
        if n == 0 {
            return Ok(());
        }
        let (mut closes, mut columns) = self.groups.take_first(n, &self.converter)?;
        if let Some(at) = at {
            closes = TimestampMillisecondArray::from_value(at, n);
        }
        for accumulator in &mut self.groups.accumulators {
            columns.push(accumulator.evaluate(EmitTo::First(n))?);
        }
        let mid = RecordBatch::try_new(self.spec.mid_schema.clone(), columns)?;
        let (mid, rowtime) = match &self.spec.having {
            Some(having) => {
                let mask = eval(having, &mid)?;
                let mask = mask.as_boolean();
                (filter_record_batch(&mid, mask)?, filter(&closes, mask)?)
            }
            None => (mid, Arc::new(closes) as ArrayRef),
        };
        let mut columns: Vec<ArrayRef> = vec![rowtime];
        for output in &self.spec.outputs {
            columns.push(eval(output, &mid)?);
        }
        out.push(RecordBatch::try_new(self.spec.schema.clone(), columns)?);
        Ok(())
    }

    /// The open groups as one batch: close times, key columns, then each accumulator's state
    /// columns (DataFusion's partial-aggregate form). The accumulators are rebuilt from that
    /// state so the groups stay open.
    pub(crate) fn snapshot(&mut self) -> Result<Option<(i64, RecordBatch)>> {
        if self.groups.closes.is_empty() {
            return Ok(None);
        }
        let mut columns: Vec<ArrayRef> = vec![Arc::new(Int64Array::from_iter_values(
            self.groups.closes.iter().copied(),
        ))];
        columns.extend(self.converter.convert_rows(self.groups.keys.iter())?);
        for accumulator in &mut self.groups.accumulators {
            columns.extend(accumulator.state(EmitTo::All)?);
        }
        let batch = state_batch(columns)?;
        self.groups = Groups::new(&self.spec.aggregates, &self.converter)?;
        self.restore(0, &batch)?;
        Ok(Some((0, batch)))
    }

    /// Reopens the groups a snapshot holds. A tumbling window's snapshot from before stagger
    /// windows existed has no close column: its groups close at `start`'s window end.
    pub(crate) fn restore(&mut self, start: i64, batch: &RecordBatch) -> Result<()> {
        let widths = self
            .spec
            .aggregates
            .iter()
            .map(AggregateSpec::state_width)
            .collect::<Result<Vec<_>>>()?;
        let key_count = self.spec.keys.len();
        let state_columns = key_count + widths.iter().sum::<usize>();
        let (closes, at) = if batch.num_columns() == state_columns + 1 {
            let closes = batch
                .column(0)
                .as_primitive_opt::<Int64Type>()
                .ok_or_else(|| {
                    DataFusionError::Execution(
                        "a window snapshot's close times are not BIGINT".into(),
                    )
                })?;
            (closes.values().to_vec(), 1)
        } else if batch.num_columns() == state_columns {
            (vec![self.spec.policy.close_for(start); batch.num_rows()], 0)
        } else {
            return Err(DataFusionError::Execution(format!(
                "a window snapshot has {} columns where {state_columns} were expected",
                batch.num_columns()
            )));
        };
        let key_columns = &batch.columns()[at..at + key_count];
        let rows = self.converter.convert_columns(key_columns)?;
        if let (Some((converter, current)), Policy::Monotonic(key)) =
            (&mut self.monotonic, self.spec.policy)
            && batch.num_rows() > 0
        {
            let values = converter.convert_columns(std::slice::from_ref(&key_columns[key]))?;
            *current = Some(values.row(batch.num_rows() - 1).as_ref().to_vec());
        }
        let offset = self.groups.closes.len();
        let mut groups = Vec::with_capacity(batch.num_rows());
        for (row, close) in rows.iter().zip(closes) {
            groups.push(self.groups.group(row, close));
        }
        debug_assert!(groups.iter().enumerate().all(|(i, g)| *g == offset + i));
        let total = self.groups.closes.len();
        let mut at = at + key_count;
        for (accumulator, width) in self.groups.accumulators.iter_mut().zip(widths) {
            accumulator.merge_batch(&batch.columns()[at..at + width], &groups, total)?;
            at += width;
        }
        Ok(())
    }
}

impl Groups {
    fn new(aggregates: &[AggregateSpec], converter: &RowConverter) -> Result<Groups> {
        Ok(Groups {
            base: 0,
            index: HashMap::new(),
            keys: converter.empty_rows(0, 0),
            closes: VecDeque::new(),
            accumulators: aggregates
                .iter()
                .map(AggregateSpec::accumulator)
                .collect::<Result<_>>()?,
        })
    }

    /// The open group of `key` (its index among the open groups), opening one that closes at
    /// `close` if it has none. Closes never go back: a row older than the newest group joins
    /// a window no earlier than that group's.
    fn group(&mut self, key: datafusion_common::arrow::row::Row<'_>, close: i64) -> usize {
        if let Some(&id) = self.index.get(key.as_ref()) {
            return id - self.base;
        }
        let close = self.closes.back().map_or(close, |last| close.max(*last));
        let id = self.base + self.closes.len();
        self.index.insert(key.as_ref().into(), id);
        self.keys.push(key);
        self.closes.push_back(close);
        id - self.base
    }

    /// Adds the rows from `start` on (whose groups `group_of_row` holds) to the accumulators.
    fn update(
        &mut self,
        args: &[Vec<ArrayRef>],
        start: usize,
        group_of_row: &[usize],
    ) -> Result<()> {
        if group_of_row.is_empty() {
            return Ok(());
        }
        let total = self.closes.len();
        for (accumulator, values) in self.accumulators.iter_mut().zip(args) {
            let values: Vec<ArrayRef> = values
                .iter()
                .map(|v| v.slice(start, group_of_row.len()))
                .collect();
            accumulator.update_batch(&values, group_of_row, None, total)?;
        }
        Ok(())
    }

    /// Takes the first `n` groups out of the index: their close times and key columns (the
    /// caller takes their accumulators' values).
    fn take_first(
        &mut self,
        n: usize,
        converter: &RowConverter,
    ) -> Result<(TimestampMillisecondArray, Vec<ArrayRef>)> {
        let closes = TimestampMillisecondArray::from_iter_values(self.closes.drain(..n));
        let key_columns = converter.convert_rows(self.keys.iter().take(n))?;
        for row in self.keys.iter().take(n) {
            self.index.remove(row.as_ref());
        }
        let mut rest = converter.empty_rows(self.closes.len(), 0);
        for row in self.keys.iter().skip(n) {
            rest.push(row);
        }
        self.keys = rest;
        self.base += n;
        Ok((closes, key_columns))
    }
}
