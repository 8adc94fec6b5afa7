//! Session windows (`SESSION` table function, `GROUP BY SESSION(ts, gap)`): per key, rows
//! closer than the gap to each other form one window, which ends a gap after its last row and
//! is emitted once the watermark passes that end.
//!
//! Rows wait until the watermark has passed their time (no earlier row can still come), then
//! go through their key's session in time order, so sessions only ever grow at their end and
//! never need merging. Each open session holds one accumulator per aggregate.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use datafusion_common::arrow::array::{
    Array, ArrayRef, RecordBatch, TimestampMillisecondArray, UInt32Array,
};
use datafusion_common::arrow::compute::{SortColumn, lexsort_to_indices, take_record_batch};
use datafusion_common::arrow::datatypes::SchemaRef;
use datafusion_common::arrow::row::{RowConverter, SortField};
use datafusion_common::{DataFusionError, Result, ScalarValue};
use datafusion_expr::Accumulator;
use datafusion_physical_expr::PhysicalExpr;

use super::pending::Pending;
use super::window::timestamps;
use crate::operator::{AggregateSpec, eval, state_batch};

/// What an output column of the aggregate holds.
#[derive(Debug, Clone, Copy)]
pub(crate) enum SessionColumn {
    Key(usize),
    Start,
    End,
    Time,
}

struct Session {
    start: i64,
    last: i64,
    accumulators: Vec<Box<dyn Accumulator>>,
}

pub(crate) struct SessionAggregate {
    time: Arc<dyn PhysicalExpr>,
    keys: Vec<Arc<dyn PhysicalExpr>>,
    gap: i64,
    aggregates: Vec<AggregateSpec>,
    /// The group columns of the output, in order; the aggregates follow.
    layout: Vec<SessionColumn>,
    schema: SchemaRef,
    converter: RowConverter,
    /// Rows the watermark has not passed yet: time, keys, then every aggregate's arguments.
    pending: Pending,
    sessions: HashMap<Box<[u8]>, Session>,
    /// Keys by the end their session had when it was last extended (stale entries skipped).
    ends: BTreeMap<i64, Vec<Box<[u8]>>>,
    /// Sessions a later row of their key ended, to emit with the next watermark's.
    finished: Vec<(Box<[u8]>, Session)>,
    pub late: u64,
}

impl SessionAggregate {
    pub(crate) fn new(
        time: Arc<dyn PhysicalExpr>,
        keys: Vec<Arc<dyn PhysicalExpr>>,
        key_types: Vec<datafusion_common::arrow::datatypes::DataType>,
        gap: i64,
        aggregates: Vec<AggregateSpec>,
        layout: Vec<SessionColumn>,
        schema: SchemaRef,
    ) -> Result<SessionAggregate, String> {
        if gap <= 0 {
            return Err("a session window's gap must be positive".into());
        }
        let converter = RowConverter::new(key_types.into_iter().map(SortField::new).collect())
            .map_err(|e| e.to_string())?;
        for aggregate in &aggregates {
            aggregate
                .plain_accumulator()
                .map_err(crate::expr::message)?;
        }
        Ok(SessionAggregate {
            time,
            keys,
            gap,
            aggregates,
            layout,
            schema,
            converter,
            pending: Pending::new(0),
            sessions: HashMap::new(),
            ends: BTreeMap::new(),
            finished: Vec::new(),
            late: 0,
        })
    }

    pub(crate) fn process(&mut self, batch: &RecordBatch, watermark: i64) -> Result<()> {
        let mut columns = vec![eval(&self.time, batch)?];
        for key in &self.keys {
            columns.push(eval(key, batch)?);
        }
        for aggregate in &self.aggregates {
            for arg in aggregate.args() {
                columns.push(eval(arg, batch)?);
            }
        }
        self.late += self.pending.push(&state_batch(columns)?, watermark)?;
        Ok(())
    }

    pub(crate) fn on_watermark(
        &mut self,
        watermark: i64,
        out: &mut Vec<RecordBatch>,
    ) -> Result<()> {
        self.take_final_rows(watermark)?;
        let mut closed = Vec::new();
        while let Some(entry) = self.ends.first_entry() {
            if *entry.key() - 1 > watermark {
                break;
            }
            let end = *entry.key();
            for key in entry.remove() {
                if self
                    .sessions
                    .get(&key)
                    .is_some_and(|s| s.last + self.gap == end)
                    && let Some(session) = self.sessions.remove(&key)
                {
                    closed.push((key, session));
                }
            }
        }
        self.emit(closed, out)
    }

    /// Runs every pending row at or before the watermark through its key's session.
    fn take_final_rows(&mut self, watermark: i64) -> Result<()> {
        let Some(rows) = self.pending.take_ready(watermark)? else {
            return Ok(());
        };
        // By key, then time.
        let key_count = self.keys.len();
        let mut sort: Vec<SortColumn> = rows.columns()[1..=key_count]
            .iter()
            .map(|c| SortColumn {
                values: c.clone(),
                options: None,
            })
            .collect();
        sort.push(SortColumn {
            values: rows.column(0).clone(),
            options: None,
        });
        let order: UInt32Array = lexsort_to_indices(&sort, None)?;
        let rows = take_record_batch(&rows, &order)?;
        let times = timestamps(rows.column(0))?.clone();
        let keys = self
            .converter
            .convert_columns(&rows.columns()[1..=key_count])?;
        let mut start = 0;
        while start < rows.num_rows() {
            let key = keys.row(start);
            let mut end = start;
            while end < rows.num_rows() && keys.row(end) == key {
                end += 1;
            }
            self.run_key(key.as_ref(), &rows, &times, start, end)?;
            start = end;
        }
        Ok(())
    }

    /// Rows `from..to` of `rows` (one key, in time order) through that key's sessions.
    fn run_key(
        &mut self,
        key: &[u8],
        rows: &RecordBatch,
        times: &TimestampMillisecondArray,
        from: usize,
        to: usize,
    ) -> Result<()> {
        let mut i = from;
        while i < to {
            let t = times.value(i);
            if self
                .sessions
                .get(key)
                .is_none_or(|s| t >= s.last + self.gap)
            {
                // Past the gap: the key's session (if any) is over and this row opens one.
                if let Some(old) = self.sessions.remove(key) {
                    self.finished.push((key.into(), old));
                }
                let accumulators = self
                    .aggregates
                    .iter()
                    .map(AggregateSpec::plain_accumulator)
                    .collect::<Result<_>>()?;
                self.sessions.insert(
                    key.into(),
                    Session {
                        start: t,
                        last: t,
                        accumulators,
                    },
                );
            }
            let mut j = i + 1;
            let mut last = t;
            while j < to && times.value(j) < last + self.gap {
                last = times.value(j);
                j += 1;
            }
            let session = self.sessions.get_mut(key).ok_or_else(|| {
                DataFusionError::Internal("a session vanished while it was extended".into())
            })?;
            session.last = last;
            let mut at = 1 + self.keys.len();
            for (accumulator, aggregate) in session.accumulators.iter_mut().zip(&self.aggregates) {
                let width = aggregate.args().len();
                let values: Vec<ArrayRef> = rows.columns()[at..at + width]
                    .iter()
                    .map(|c| c.slice(i, j - i))
                    .collect();
                accumulator.update_batch(&values)?;
                at += width;
            }
            self.ends
                .entry(last + self.gap)
                .or_default()
                .push(key.into());
            i = j;
        }
        Ok(())
    }

    /// Output rows for sessions that are over.
    fn emit(
        &mut self,
        mut closed: Vec<(Box<[u8]>, Session)>,
        out: &mut Vec<RecordBatch>,
    ) -> Result<()> {
        closed.append(&mut self.finished);
        if closed.is_empty() {
            return Ok(());
        }
        let parser = self.converter.parser();
        let keys = self
            .converter
            .convert_rows(closed.iter().map(|(k, _)| parser.parse(k)))?;
        let mut values: Vec<Vec<ScalarValue>> =
            vec![Vec::with_capacity(closed.len()); self.aggregates.len()];
        for (_, session) in &mut closed {
            for (v, accumulator) in values.iter_mut().zip(&mut session.accumulators) {
                v.push(accumulator.evaluate()?);
            }
        }
        let bound = |f: &dyn Fn(&Session) -> i64| -> ArrayRef {
            Arc::new(TimestampMillisecondArray::from_iter_values(
                closed.iter().map(|(_, s)| f(s)),
            ))
        };
        let mut columns: Vec<ArrayRef> = Vec::new();
        for column in &self.layout {
            columns.push(match column {
                SessionColumn::Key(k) => keys[*k].clone(),
                SessionColumn::Start => bound(&|s| s.start),
                SessionColumn::End => bound(&|s| s.last + self.gap),
                SessionColumn::Time => bound(&|s| s.last + self.gap - 1),
            });
        }
        for (v, field) in values
            .into_iter()
            .zip(&self.schema.fields()[self.layout.len()..])
        {
            columns.push(if v.is_empty() {
                datafusion_common::arrow::array::new_empty_array(field.data_type())
            } else {
                ScalarValue::iter_to_array(v)?
            });
        }
        out.push(RecordBatch::try_new(self.schema.clone(), columns)?);
        Ok(())
    }

    /// Part 0: the pending rows; part 1: the open sessions (key columns, start, last, every
    /// accumulator's state).
    pub(crate) fn snapshot(&mut self) -> Result<Vec<(usize, RecordBatch)>> {
        let mut parts: Vec<(usize, RecordBatch)> = self
            .pending
            .snapshot()?
            .into_iter()
            .map(|b| (0, b))
            .collect();
        if self.sessions.is_empty() {
            return Ok(parts);
        }
        let parser = self.converter.parser();
        let mut columns = self
            .converter
            .convert_rows(self.sessions.keys().map(|k| parser.parse(k)))?;
        columns.push(Arc::new(
            datafusion_common::arrow::array::Int64Array::from_iter_values(
                self.sessions.values().map(|s| s.start),
            ),
        ));
        columns.push(Arc::new(
            datafusion_common::arrow::array::Int64Array::from_iter_values(
                self.sessions.values().map(|s| s.last),
            ),
        ));
        for a in 0..self.aggregates.len() {
            let mut states: Vec<Vec<ScalarValue>> = Vec::new();
            for session in self.sessions.values_mut() {
                let state = session.accumulators[a].state()?;
                if states.is_empty() {
                    states = vec![Vec::new(); state.len()];
                }
                for (s, v) in states.iter_mut().zip(state) {
                    s.push(v);
                }
            }
            for s in states {
                columns.push(ScalarValue::iter_to_array(s)?);
            }
        }
        parts.push((1, state_batch(columns)?));
        Ok(parts)
    }

    pub(crate) fn restore(&mut self, part: usize, batch: &RecordBatch) -> Result<()> {
        if part == 0 {
            return self.pending.restore(batch);
        }
        let key_count = self.keys.len();
        let keys = self
            .converter
            .convert_columns(&batch.columns()[..key_count])?;
        let number = |c: usize, i: usize| -> Result<i64> {
            use datafusion_common::arrow::array::AsArray;
            batch
                .column(c)
                .as_primitive_opt::<datafusion_common::arrow::datatypes::Int64Type>()
                .map(|a| a.value(i))
                .ok_or_else(|| {
                    DataFusionError::Execution("a session snapshot does not fit the query".into())
                })
        };
        for i in 0..batch.num_rows() {
            let mut accumulators: Vec<Box<dyn Accumulator>> = self
                .aggregates
                .iter()
                .map(AggregateSpec::plain_accumulator)
                .collect::<Result<_>>()?;
            let mut at = key_count + 2;
            for accumulator in &mut accumulators {
                let width = accumulator.state()?.len();
                let state: Vec<ArrayRef> = batch.columns()[at..at + width]
                    .iter()
                    .map(|c| c.slice(i, 1))
                    .collect();
                accumulator.merge_batch(&state)?;
                at += width;
            }
            let last = number(key_count + 1, i)?;
            let key: Box<[u8]> = keys.row(i).as_ref().into();
            self.ends
                .entry(last + self.gap)
                .or_default()
                .push(key.clone());
            self.sessions.insert(
                key,
                Session {
                    start: number(key_count, i)?,
                    last,
                    accumulators,
                },
            );
        }
        Ok(())
    }
}
