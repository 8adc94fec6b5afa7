//! Event-time windows: assigning rows to TUMBLE, HOP and CUMULATE windows (the window table
//! functions' `window_start`, `window_end`, `window_time` columns), and aggregating per window
//! and key until the watermark passes the window's end, when each group is emitted once.
//!
//! A window aggregate finds its windows in a `window_end` column of its input: the window table
//! function's, or an earlier window aggregate's (Flink's "window propagation": `GROUP BY
//! window_start, window_end` over the result of a window aggregate aggregates the same windows
//! again). Rows for a window that has already fired are late: they are counted and dropped.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use datafusion_common::arrow::array::{
    Array, ArrayRef, AsArray, Int64Array, RecordBatch, TimestampMillisecondArray, UInt32Array,
};
use datafusion_common::arrow::compute::take;
use datafusion_common::arrow::datatypes::{Int64Type, SchemaRef, TimestampMillisecondType};
use datafusion_common::arrow::row::{RowConverter, Rows, SortField};
use datafusion_common::{DataFusionError, Result};
use datafusion_expr::{EmitTo, GroupsAccumulator};
use datafusion_physical_expr::PhysicalExpr;

use super::tvf::WindowKind;
use crate::operator::{AggregateSpec, eval, state_batch};

/// Where a window table function puts a row: its time column, and the windows' shape (ms).
pub(crate) struct WindowAssign {
    pub time: usize,
    pub kind: WindowKind,
    pub size: i64,
    /// HOP's slide, CUMULATE's step (TUMBLE: the size).
    pub step: i64,
    pub offset: i64,
    pub schema: SchemaRef,
}

impl WindowAssign {
    /// The input's columns, then window_start, window_end and window_time, one row per window
    /// a row falls in (a HOP window of size/slide windows gives each row that many).
    pub(crate) fn process(&self, batch: &RecordBatch) -> Result<RecordBatch> {
        let assignment = self.assign(batch)?;
        let mut columns: Vec<ArrayRef> = batch
            .columns()
            .iter()
            .map(|c| assignment.repeat(c))
            .collect::<Result<_>>()?;
        columns.extend(assignment.bounds());
        Ok(RecordBatch::try_new(self.schema.clone(), columns)?)
    }

    /// Which windows each row of `batch` falls in.
    pub(crate) fn assign(&self, batch: &RecordBatch) -> Result<Assignment> {
        let time = timestamps(batch.column(self.time))?;
        let mut rows = Vec::with_capacity(batch.num_rows());
        let mut starts = Vec::with_capacity(batch.num_rows());
        let mut ends = Vec::with_capacity(batch.num_rows());
        for (i, t) in time.iter().enumerate() {
            // A row without a time is in no window (Flink drops it too).
            let Some(t) = t else { continue };
            self.windows(t, |start, end| {
                rows.push(i as u32);
                starts.push(start);
                ends.push(end);
            });
        }
        let identity = rows.len() == batch.num_rows()
            && rows.iter().enumerate().all(|(i, r)| *r as usize == i);
        Ok(Assignment {
            rows: (!identity).then(|| UInt32Array::from(rows)),
            starts,
            ends,
        })
    }

    fn windows(&self, t: i64, mut each: impl FnMut(i64, i64)) {
        let floor = |t: i64, unit: i64| t - (t - self.offset).rem_euclid(unit);
        match self.kind {
            WindowKind::Tumble => {
                let start = floor(t, self.size);
                each(start, start + self.size);
            }
            WindowKind::Hop => {
                let mut start = floor(t, self.step);
                while start > t - self.size {
                    each(start, start + self.size);
                    start -= self.step;
                }
            }
            WindowKind::Cumulate => {
                let start = floor(t, self.size);
                let mut end = floor(t, self.step) + self.step;
                while end <= start + self.size {
                    each(start, end);
                    end += self.step;
                }
            }
            // Session windows are not assigned row by row (see `session.rs`).
            WindowKind::Session => {}
        }
    }
}

/// Rows to windows: each row's index in its input, once per window it falls in, with that
/// window's bounds.
pub(crate) struct Assignment {
    /// None: every row once, in order.
    rows: Option<UInt32Array>,
    starts: Vec<i64>,
    ends: Vec<i64>,
}

impl Assignment {
    /// An input column, one value per (row, window).
    pub(crate) fn repeat(&self, column: &ArrayRef) -> Result<ArrayRef> {
        match &self.rows {
            None => Ok(column.clone()),
            Some(rows) => Ok(take(column, rows, None)?),
        }
    }

    /// window_start, window_end and window_time.
    pub(crate) fn bounds(&self) -> [ArrayRef; 3] {
        let times: Vec<i64> = self.ends.iter().map(|e| e - 1).collect();
        [
            Arc::new(TimestampMillisecondArray::from(self.starts.clone())),
            Arc::new(TimestampMillisecondArray::from(self.ends.clone())),
            Arc::new(TimestampMillisecondArray::from(times)),
        ]
    }
}

/// A TIMESTAMP column's values in ms.
pub(crate) fn timestamps(column: &ArrayRef) -> Result<&TimestampMillisecondArray> {
    column
        .as_primitive_opt::<TimestampMillisecondType>()
        .ok_or_else(|| {
            DataFusionError::Execution(format!(
                "a time attribute is {}, not TIMESTAMP(3)",
                column.data_type()
            ))
        })
}

/// The groups of one window: keys to group numbers, and the aggregates' accumulators.
struct Groups {
    /// How many groups there are (numbered in order of arrival).
    count: usize,
    index: HashMap<Box<[u8]>, usize>,
    /// The groups' keys other than the window's bounds.
    keys: Rows,
    /// When the only key hashed is one BIGINT (an id, as most window keys are): the groups by
    /// its value, without Arrow rows.
    ints: HashMap<i64, usize>,
    int_keys: Vec<Option<i64>>,
    null_group: Option<usize>,
    /// The window's start, end and time: the same for all its groups, so not hashed.
    bounds: [i64; 3],
    accumulators: Vec<Box<dyn GroupsAccumulator>>,
}

/// A GROUP BY key of a window aggregate: an expression over its input's rows, or a bound of
/// the window the aggregate assigns itself.
pub(crate) enum Key {
    Expr(Arc<dyn PhysicalExpr>),
    /// window_start, window_end or window_time (0, 1, 2) of the assigned window.
    Bound(usize),
}

pub(crate) struct WindowAggregate {
    /// The GROUP BY keys, one of them the window's end.
    pub keys: Vec<Key>,
    pub end_key: usize,
    /// The window table function fused in, when the aggregate reads one directly: keys and
    /// arguments are evaluated once per row and repeated per window (not whole rows).
    pub assign: Option<WindowAssign>,
    pub aggregates: Vec<AggregateSpec>,
    /// Keys, then the aggregates' values (the Aggregate's schema).
    pub schema: SchemaRef,
    converter: RowConverter,
    windows: BTreeMap<i64, Groups>,
    /// Rows that came after their window fired.
    pub late: u64,
}

impl WindowAggregate {
    pub(crate) fn new(
        keys: Vec<Key>,
        end_key: usize,
        assign: Option<WindowAssign>,
        aggregates: Vec<AggregateSpec>,
        schema: SchemaRef,
    ) -> Result<WindowAggregate, String> {
        let fields = schema.fields()[..keys.len()]
            .iter()
            .zip(&keys)
            .filter(|(_, k)| matches!(k, Key::Expr(_)))
            .map(|(f, _)| SortField::new(f.data_type().clone()))
            .collect();
        let converter = RowConverter::new(fields).map_err(|e| e.to_string())?;
        for aggregate in &aggregates {
            aggregate.check_grouped()?;
        }
        Ok(WindowAggregate {
            keys,
            end_key,
            assign,
            aggregates,
            schema,
            converter,
            windows: BTreeMap::new(),
            late: 0,
        })
    }

    pub(crate) fn process(&mut self, batch: &RecordBatch, watermark: i64) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let assignment = self.assign.as_ref().map(|a| a.assign(batch)).transpose()?;
        let repeat = |column: ArrayRef| match &assignment {
            Some(a) => a.repeat(&column),
            None => Ok(column),
        };
        let bounds = assignment.as_ref().map(Assignment::bounds);
        let keys: Vec<ArrayRef> = self
            .keys
            .iter()
            .map(|k| match (k, &bounds) {
                (Key::Expr(e), _) => repeat(eval(e, batch)?),
                (Key::Bound(b), Some(bounds)) => Ok(bounds[*b].clone()),
                (Key::Bound(_), None) => Err(DataFusionError::Internal(
                    "a window bound key without a window function".into(),
                )),
            })
            .collect::<Result<_>>()?;
        let args: Vec<Vec<ArrayRef>> = self
            .aggregates
            .iter()
            .map(|a| a.args().iter().map(|e| repeat(eval(e, batch)?)).collect())
            .collect::<Result<_>>()?;
        let rows = keys.first().map_or(batch.num_rows(), |k| k.len());
        let ends = timestamps(&keys[self.end_key])?;
        // Rows by window (most batches fall in one).
        let mut by_end: BTreeMap<i64, Vec<u32>> = BTreeMap::new();
        let first = ends.iter().flatten().next();
        let single = ends.null_count() == 0 && ends.values().iter().all(|e| Some(*e) == first);
        if !single {
            for (i, end) in ends.iter().enumerate() {
                if let Some(end) = end {
                    by_end.entry(end).or_default().push(i as u32);
                }
            }
        }
        let windows: Vec<(i64, Option<UInt32Array>)> = match first {
            Some(end) if single => vec![(end, None)],
            _ if rows == 0 => Vec::new(),
            _ => by_end
                .into_iter()
                .map(|(end, rows)| (end, Some(UInt32Array::from(rows))))
                .collect(),
        };
        for (end, picked) in windows {
            let n = picked.as_ref().map_or(rows, |r| r.len());
            if end - 1 <= watermark {
                self.late += n as u64;
                continue;
            }
            let pick = |c: &ArrayRef| -> Result<ArrayRef> {
                match &picked {
                    None => Ok(c.clone()),
                    Some(rows) => Ok(take(c, rows, None)?),
                }
            };
            let key_columns: Vec<ArrayRef> = keys
                .iter()
                .zip(&self.keys)
                .filter(|(_, k)| matches!(k, Key::Expr(_)))
                .map(|(c, _)| pick(c))
                .collect::<Result<_>>()?;
            let arg_columns: Vec<Vec<ArrayRef>> = args
                .iter()
                .map(|a| a.iter().map(pick).collect::<Result<Vec<_>>>())
                .collect::<Result<_>>()?;
            let first_row = picked.as_ref().map_or(0, |r| r.value(0) as usize);
            let start = bounds.as_ref().map_or(end, |b| {
                timestamps(&b[0]).map_or(end, |s| s.value(first_row))
            });
            let groups = match self.windows.get_mut(&end) {
                Some(groups) => groups,
                None => {
                    let groups = self.new_groups([start, end, end - 1])?;
                    self.windows.entry(end).or_insert(groups)
                }
            };
            let group_of_row = if key_columns.is_empty() {
                // Grouped by the window alone: one group.
                groups.count = 1;
                vec![0; n]
            } else if let [column] = key_columns.as_slice()
                && let Some(ints) = column.as_primitive_opt::<Int64Type>()
            {
                let mut group_of_row = Vec::with_capacity(n);
                for v in ints.iter() {
                    let next = groups.count;
                    let id = match v {
                        Some(v) => *groups.ints.entry(v).or_insert(next),
                        None => *groups.null_group.get_or_insert(next),
                    };
                    if id == next {
                        groups.int_keys.push(v);
                        groups.count += 1;
                    }
                    group_of_row.push(id);
                }
                group_of_row
            } else {
                let key_rows = self.converter.convert_columns(&key_columns)?;
                let mut group_of_row = Vec::with_capacity(n);
                for row in key_rows.iter() {
                    let next = groups.count;
                    let id = *groups.index.entry(row.as_ref().into()).or_insert(next);
                    if id == next {
                        groups.keys.push(row);
                        groups.count += 1;
                    }
                    group_of_row.push(id);
                }
                group_of_row
            };
            let total = groups.count;
            for (accumulator, values) in groups.accumulators.iter_mut().zip(&arg_columns) {
                accumulator.update_batch(values, &group_of_row, None, total)?;
            }
        }
        Ok(())
    }

    fn new_groups(&self, bounds: [i64; 3]) -> Result<Groups> {
        Ok(Groups {
            count: 0,
            index: HashMap::new(),
            keys: self.converter.empty_rows(0, 0),
            ints: HashMap::new(),
            int_keys: Vec::new(),
            null_group: None,
            bounds,
            accumulators: self
                .aggregates
                .iter()
                .map(AggregateSpec::accumulator)
                .collect::<Result<_>>()?,
        })
    }

    /// Emits every window whose end the watermark has passed.
    pub(crate) fn on_watermark(
        &mut self,
        watermark: i64,
        out: &mut Vec<RecordBatch>,
    ) -> Result<()> {
        while let Some(entry) = self.windows.first_entry() {
            if *entry.key() - 1 > watermark {
                break;
            }
            let mut groups = entry.remove();
            let mut columns = self.key_columns(&groups)?;
            for accumulator in &mut groups.accumulators {
                columns.push(accumulator.evaluate(EmitTo::All)?);
            }
            out.push(RecordBatch::try_new(self.schema.clone(), columns)?);
        }
        Ok(())
    }

    /// Every key column of a window's groups, the bounds repeated.
    fn key_columns(&self, groups: &Groups) -> Result<Vec<ArrayRef>> {
        let n = groups.count;
        let mut hashed = if groups.int_keys.is_empty() {
            self.converter.convert_rows(groups.keys.iter())?.into_iter()
        } else {
            let ints: ArrayRef = Arc::new(Int64Array::from(groups.int_keys.clone()));
            vec![ints].into_iter()
        };
        self.keys
            .iter()
            .map(|k| match k {
                Key::Expr(_) => hashed
                    .next()
                    .ok_or_else(|| DataFusionError::Internal("a window's key columns".into())),
                Key::Bound(b) => Ok(Arc::new(TimestampMillisecondArray::from_value(
                    groups.bounds[*b],
                    n,
                )) as ArrayRef),
            })
            .collect()
    }

    /// Every open window's groups: key columns, then each accumulator's partial state.
    pub(crate) fn snapshot(&mut self) -> Result<Vec<RecordBatch>> {
        let mut batches = Vec::new();
        let ends: Vec<i64> = self.windows.keys().copied().collect();
        for end in ends {
            let Some(groups) = self.windows.get(&end) else {
                continue;
            };
            let mut columns = self.key_columns(groups)?;
            let Some(groups) = self.windows.get_mut(&end) else {
                continue;
            };
            let mut rebuilt = Vec::new();
            for accumulator in &mut groups.accumulators {
                let state = accumulator.state(EmitTo::All)?;
                rebuilt.push(state.clone());
                columns.extend(state);
            }
            // `state` took the groups out: merge them back so the window stays open.
            let ids: Vec<usize> = (0..groups.count).collect();
            for (accumulator, state) in groups.accumulators.iter_mut().zip(rebuilt) {
                accumulator.merge_batch(&state, &ids, ids.len())?;
            }
            batches.push(state_batch(columns)?);
        }
        Ok(batches)
    }

    pub(crate) fn restore(&mut self, batch: &RecordBatch) -> Result<()> {
        let key_count = self.keys.len();
        let widths = self
            .aggregates
            .iter()
            .map(AggregateSpec::state_width)
            .collect::<Result<Vec<_>>>()?;
        if batch.num_columns() != key_count + widths.iter().sum::<usize>() {
            return Err(DataFusionError::Execution(
                "a window snapshot does not fit the query".into(),
            ));
        }
        let keys = &batch.columns()[..key_count];
        let ends = timestamps(&keys[self.end_key])?;
        let Some(end) = ends.iter().flatten().next() else {
            return Ok(());
        };
        let mut bounds = [end, end, end - 1];
        let mut hashed = Vec::new();
        for (column, key) in keys.iter().zip(&self.keys) {
            match key {
                Key::Expr(_) => hashed.push(column.clone()),
                Key::Bound(b) => bounds[*b] = timestamps(column)?.value(0),
            }
        }
        let mut groups = self.new_groups(bounds)?;
        groups.count = batch.num_rows();
        if let [column] = hashed.as_slice()
            && let Some(ints) = column.as_primitive_opt::<Int64Type>()
        {
            for (i, v) in ints.iter().enumerate() {
                match v {
                    Some(v) => groups.ints.insert(v, i),
                    None => groups.null_group.replace(i),
                };
                groups.int_keys.push(v);
            }
        } else if !hashed.is_empty() {
            let rows = self.converter.convert_columns(&hashed)?;
            for (i, row) in rows.iter().enumerate() {
                groups.index.insert(row.as_ref().into(), i);
                groups.keys.push(row);
            }
        }
        let ids: Vec<usize> = (0..batch.num_rows()).collect();
        let mut at = key_count;
        for (accumulator, width) in groups.accumulators.iter_mut().zip(widths) {
            accumulator.merge_batch(&batch.columns()[at..at + width], &ids, ids.len())?;
            at += width;
        }
        self.windows.insert(end, groups);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::TIMESTAMP;
    use datafusion_common::arrow::datatypes::{DataType, Field, Schema};

    fn assign(kind: WindowKind, size: i64, step: i64) -> WindowAssign {
        WindowAssign {
            time: 0,
            kind,
            size,
            step,
            offset: 0,
            schema: Arc::new(Schema::new(vec![
                Field::new("ts", TIMESTAMP, true),
                Field::new("window_start", TIMESTAMP, false),
                Field::new("window_end", TIMESTAMP, false),
                Field::new("window_time", TIMESTAMP, false),
            ])),
        }
    }

    fn windows_of(a: &WindowAssign, t: i64) -> Vec<(i64, i64)> {
        let mut w = Vec::new();
        a.windows(t, |s, e| w.push((s, e)));
        w.sort();
        w
    }

    #[test]
    fn rows_fall_in_the_windows_flink_gives_them() {
        assert_eq!(
            windows_of(&assign(WindowKind::Tumble, 10, 10), 15),
            [(10, 20)]
        );
        assert_eq!(
            windows_of(&assign(WindowKind::Tumble, 10, 10), -1),
            [(-10, 0)]
        );
        assert_eq!(
            windows_of(&assign(WindowKind::Hop, 10, 5), 12),
            [(5, 15), (10, 20)]
        );
        assert_eq!(
            windows_of(&assign(WindowKind::Cumulate, 10, 2), 13),
            [(10, 14), (10, 16), (10, 18), (10, 20)]
        );
        let mut offset = assign(WindowKind::Tumble, 10, 10);
        offset.offset = 3;
        assert_eq!(windows_of(&offset, 12), [(3, 13)]);
    }

    #[test]
    fn assigned_rows_carry_their_windows() {
        let a = assign(WindowKind::Hop, 10, 5);
        let batch = RecordBatch::try_new(
            Arc::new(Schema::new(vec![Field::new("ts", TIMESTAMP, true)])),
            vec![Arc::new(TimestampMillisecondArray::from(vec![
                Some(12),
                None,
                Some(20),
            ]))],
        )
        .expect("batch");
        let out = a.process(&batch).expect("assigns");
        assert_eq!(out.num_rows(), 4);
        let ends = timestamps(out.column(2)).expect("ends");
        assert_eq!(ends.values().to_vec(), vec![20, 15, 30, 25]);
        let times = timestamps(out.column(3)).expect("times");
        assert_eq!(times.value(0), 19);
        assert_eq!(
            out.schema().field(1).data_type(),
            &DataType::Timestamp(
                datafusion_common::arrow::datatypes::TimeUnit::Millisecond,
                None
            )
        );
    }
}
