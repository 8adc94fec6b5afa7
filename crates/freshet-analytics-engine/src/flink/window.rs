//! Event-time windows: assigning rows to TUMBLE, HOP and CUMULATE windows (the window table
//! functions' `window_start`, `window_end`, `window_time` columns), and aggregating per window
//! and key until the watermark passes the window's end, when each group is emitted once.
//!
//! A window aggregate finds its windows in a `window_end` column of its input: the window table
//! function's, or an earlier window aggregate's (Flink's "window propagation": `GROUP BY
//! window_start, window_end` over the result of a window aggregate aggregates the same windows
//! again). Rows for a window that has already fired are late: they are counted and dropped.
//!
//! A HOP or CUMULATE aggregate reading its window function directly slices, as Flink's does:
//! each row is aggregated once, into its slice (a slide or step long), and a window's result
//! is the merge of its slices' partial states when the watermark passes its end, instead of
//! each row going into every window it falls in (size / slide of them for a HOP).

use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use datafusion_common::arrow::array::{
    Array, ArrayRef, AsArray, Int64Array, RecordBatch, TimestampMillisecondArray, UInt32Array,
};
use datafusion_common::arrow::compute::take;
use datafusion_common::arrow::datatypes::{
    DataType, Field, Int64Type, Schema, SchemaRef, TimestampMillisecondType,
};
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
        self.place(batch, |t, each| self.windows(t, each))
    }

    /// Which slice each row of `batch` falls in (its bounds in place of a window's).
    fn slice(&self, batch: &RecordBatch) -> Result<Assignment> {
        self.place(batch, |t, each| {
            let end = self.slice_end(t);
            each(end - self.step, end)
        })
    }

    fn place(
        &self,
        batch: &RecordBatch,
        places: impl Fn(i64, &mut dyn FnMut(i64, i64)),
    ) -> Result<Assignment> {
        let time = timestamps(batch.column(self.time))?;
        let mut rows = Vec::with_capacity(batch.num_rows());
        let mut starts = Vec::with_capacity(batch.num_rows());
        let mut ends = Vec::with_capacity(batch.num_rows());
        for (i, t) in time.iter().enumerate() {
            // A row without a time is in no window (Flink drops it too).
            let Some(t) = t else { continue };
            places(t, &mut |start, end| {
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

    /// The start of the window of `unit` ms (counted from the offset) that `t` falls in.
    fn floor(&self, t: i64, unit: i64) -> i64 {
        t - (t - self.offset).rem_euclid(unit)
    }

    fn windows(&self, t: i64, each: &mut dyn FnMut(i64, i64)) {
        match self.kind {
            WindowKind::Tumble => {
                let start = self.floor(t, self.size);
                each(start, start + self.size);
            }
            WindowKind::Hop => {
                let mut start = self.floor(t, self.step);
                while start > t - self.size {
                    each(start, start + self.size);
                    start -= self.step;
                }
            }
            WindowKind::Cumulate => {
                let start = self.floor(t, self.size);
                let mut end = self.floor(t, self.step) + self.step;
                while end <= start + self.size {
                    each(start, end);
                    end += self.step;
                }
            }
            // Session windows are not assigned row by row (see `session.rs`).
            WindowKind::Session => {}
        }
    }

    /// Whether a row falls in more than one window, so that an aggregate keeps it once, in
    /// its slice, rather than once per window.
    fn overlaps(&self) -> bool {
        matches!(self.kind, WindowKind::Hop | WindowKind::Cumulate) && self.size > self.step
    }

    /// The end of the slice (a HOP's slide, a CUMULATE's step) that `t` falls in: every window
    /// holding `t` holds that whole slice, since windows start and end on slice bounds.
    fn slice_end(&self, t: i64) -> i64 {
        self.floor(t, self.step) + self.step
    }

    /// The start of the window that ends at `end`.
    fn window_start(&self, end: i64) -> i64 {
        match self.kind {
            WindowKind::Cumulate => self.floor(end - self.step, self.size),
            _ => end - self.size,
        }
    }

    /// The ends of the windows the slice ending at `end` is part of, in order: each is the
    /// previous one a step later.
    fn windows_of_slice(&self, end: i64) -> impl Iterator<Item = i64> + use<> {
        (end..=self.last_window_of_slice(end)).step_by(self.step.unsigned_abs() as usize)
    }

    /// The end of the last window the slice ending at `end` is part of: once it fired, the
    /// slice is done with and rows for it are late.
    fn last_window_of_slice(&self, end: i64) -> i64 {
        match self.kind {
            WindowKind::Cumulate => self.floor(end - self.step, self.size) + self.size,
            _ => end + self.size - self.step,
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

/// The groups of one window (or of one slice): keys to group numbers, and the aggregates'
/// accumulators.
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

impl Groups {
    fn new(
        aggregates: &[AggregateSpec],
        converter: &RowConverter,
        bounds: [i64; 3],
    ) -> Result<Groups> {
        Ok(Groups {
            count: 0,
            index: HashMap::new(),
            keys: converter.empty_rows(0, 0),
            ints: HashMap::new(),
            int_keys: Vec::new(),
            null_group: None,
            bounds,
            accumulators: aggregates
                .iter()
                .map(AggregateSpec::accumulator)
                .collect::<Result<_>>()?,
        })
    }

    /// The group of each of `rows` rows whose hashed keys are `keys`, opening groups for keys
    /// not seen before.
    fn ids(
        &mut self,
        keys: &[ArrayRef],
        rows: usize,
        converter: &RowConverter,
    ) -> Result<Vec<usize>> {
        if keys.is_empty() {
            // Grouped by the window alone: one group.
            self.count = self.count.max(usize::from(rows > 0));
            return Ok(vec![0; rows]);
        }
        let mut ids = Vec::with_capacity(rows);
        if let [column] = keys
            && let Some(ints) = column.as_primitive_opt::<Int64Type>()
        {
            for v in ints.iter() {
                let next = self.count;
                let id = match v {
                    Some(v) => *self.ints.entry(v).or_insert(next),
                    None => *self.null_group.get_or_insert(next),
                };
                if id == next {
                    self.int_keys.push(v);
                    self.count += 1;
                }
                ids.push(id);
            }
        } else {
            let key_rows = converter.convert_columns(keys)?;
            for row in key_rows.iter() {
                let next = self.count;
                let id = *self.index.entry(row.as_ref().into()).or_insert(next);
                if id == next {
                    self.keys.push(row);
                    self.count += 1;
                }
                ids.push(id);
            }
        }
        Ok(ids)
    }

    /// Adds rows (each aggregate's argument columns) to their groups `ids`.
    fn update(&mut self, args: &[Vec<ArrayRef>], ids: &[usize]) -> Result<()> {
        for (accumulator, values) in self.accumulators.iter_mut().zip(args) {
            accumulator.update_batch(values, ids, None, self.count)?;
        }
        Ok(())
    }

    /// Merges partial states (of a slice) into the groups of their keys.
    fn merge(&mut self, part: &Part, widths: &[usize], converter: &RowConverter) -> Result<()> {
        let ids = self.ids(&part.keys, part.rows, converter)?;
        let mut at = 0;
        for (accumulator, width) in self.accumulators.iter_mut().zip(widths) {
            accumulator.merge_batch(&part.states[at..at + width], &ids, self.count)?;
            at += width;
        }
        Ok(())
    }

    /// The hashed key columns, one row per group.
    fn hashed_columns(&self, converter: &RowConverter) -> Result<Vec<ArrayRef>> {
        if self.int_keys.is_empty() {
            Ok(converter.convert_rows(self.keys.iter())?)
        } else {
            Ok(vec![Arc::new(Int64Array::from(self.int_keys.clone()))])
        }
    }

    /// The groups' keys and partial states, taken out (the accumulators are left empty).
    fn take_part(&mut self, converter: &RowConverter) -> Result<Part> {
        let keys = self.hashed_columns(converter)?;
        let mut states = Vec::new();
        for accumulator in &mut self.accumulators {
            states.extend(accumulator.state(EmitTo::All)?);
        }
        Ok(Part {
            rows: self.count,
            keys,
            states,
        })
    }
}

/// The keys and partial aggregate states (DataFusion's `state()` form, each aggregate's
/// columns in turn) of a slice's groups, as they were when read out.
struct Part {
    rows: usize,
    /// The hashed key columns.
    keys: Vec<ArrayRef>,
    states: Vec<ArrayRef>,
}

/// A slice of a HOP or CUMULATE aggregate: its rows aggregated once, for all the windows it is
/// part of (Flink's slicing window operator). A window's result is the merge of its slices'
/// partial states.
struct Slice {
    /// Rows since the slice's state was last read out.
    live: Groups,
    /// Its state as last read out, for the windows still to fire: reading the live groups'
    /// state empties them, so it is kept here.
    read: Option<Part>,
}

impl Slice {
    fn new(
        aggregates: &[AggregateSpec],
        converter: &RowConverter,
        end: i64,
        step: i64,
    ) -> Result<Slice> {
        Ok(Slice {
            live: Groups::new(aggregates, converter, [end - step, end, end - 1])?,
            read: None,
        })
    }

    /// Its partial state, reading out the live groups first when rows came since the last
    /// time (after one of its windows fired, or a snapshot): the earlier state is merged into
    /// them, so a slice keeps one part however often it is read.
    fn state(
        &mut self,
        aggregates: &[AggregateSpec],
        widths: &[usize],
        converter: &RowConverter,
    ) -> Result<Option<&Part>> {
        if self.live.count > 0 {
            if let Some(earlier) = self.read.take() {
                self.live.merge(&earlier, widths, converter)?;
            }
            self.read = Some(self.live.take_part(converter)?);
            self.live = Groups::new(aggregates, converter, self.live.bounds)?;
        }
        Ok(self.read.as_ref())
    }
}

/// A GROUP BY key of a window aggregate: an expression over its input's rows, or a bound of
/// the window the aggregate assigns itself.
pub(crate) enum Key {
    Expr(Arc<dyn PhysicalExpr>),
    /// window_start, window_end or window_time (0, 1, 2) of the assigned window.
    Bound(usize),
}

/// The name of the first column of a sliced aggregate's snapshot batches: it tells them from
/// the per-window batches, whose first column is a key.
const SLICE_END: &str = "slice_end";

pub(crate) struct WindowAggregate {
    /// The GROUP BY keys, one of them the window's end.
    pub keys: Vec<Key>,
    pub end_key: usize,
    /// The window table function fused in, when the aggregate reads one directly: keys and
    /// arguments are evaluated once per row and repeated per window (not whole rows).
    pub assign: Option<WindowAssign>,
    pub aggregates: Vec<AggregateSpec>,
    /// Each aggregate's number of partial-state columns.
    widths: Vec<usize>,
    /// Keys, then the aggregates' values (the Aggregate's schema).
    pub schema: SchemaRef,
    converter: RowConverter,
    /// Open windows by end (when not sliced).
    windows: BTreeMap<i64, Groups>,
    /// A fused HOP or CUMULATE aggregate whose aggregates merge: rows kept per slice.
    slices: Option<Slices>,
    /// Rows that came after their window fired (sliced: after every window of their slice
    /// fired; a row some of whose windows are open goes into those, as Flink's does).
    pub late: u64,
}

struct Slices {
    /// By slice end.
    open: BTreeMap<i64, Slice>,
    /// The ends of the windows that have rows and have not fired.
    pending: BTreeSet<i64>,
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
        let widths = aggregates
            .iter()
            .map(AggregateSpec::state_width)
            .collect::<Result<Vec<_>>>()
            .map_err(crate::expr::message)?;
        // Slicing merges partial states in time order where the windows took rows in arrival
        // order: the same result only for aggregates that do not depend on that order.
        let sliced = assign.as_ref().is_some_and(WindowAssign::overlaps)
            && aggregates.iter().all(AggregateSpec::merges_in_any_order);
        Ok(WindowAggregate {
            keys,
            end_key,
            assign,
            aggregates,
            widths,
            schema,
            converter,
            windows: BTreeMap::new(),
            slices: sliced.then(|| Slices {
                open: BTreeMap::new(),
                pending: BTreeSet::new(),
            }),
            late: 0,
        })
    }

    pub(crate) fn process(&mut self, batch: &RecordBatch, watermark: i64) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let assignment = match &self.assign {
            Some(a) if self.slices.is_some() => Some(a.slice(batch)?),
            Some(a) => Some(a.assign(batch)?),
            None => None,
        };
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
        // Sliced, the bounds are the rows' slices' (a window's otherwise).
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
            let last = match (&self.slices, &self.assign) {
                (Some(_), Some(assign)) => assign.last_window_of_slice(end),
                _ => end,
            };
            if last - 1 <= watermark {
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
            let window_bounds = [start, end, end - 1];
            let groups = match (&mut self.slices, &self.assign) {
                (Some(slices), Some(assign)) => {
                    // Windows that fired already do not get these rows (they were late
                    // there), the others will.
                    slices.pending.extend(
                        assign
                            .windows_of_slice(end)
                            .filter(|window| window - 1 > watermark),
                    );
                    match slices.open.entry(end) {
                        Entry::Occupied(slice) => &mut slice.into_mut().live,
                        Entry::Vacant(slot) => {
                            let slice =
                                Slice::new(&self.aggregates, &self.converter, end, assign.step)?;
                            &mut slot.insert(slice).live
                        }
                    }
                }
                _ => match self.windows.entry(end) {
                    Entry::Occupied(groups) => groups.into_mut(),
                    Entry::Vacant(slot) => slot.insert(Groups::new(
                        &self.aggregates,
                        &self.converter,
                        window_bounds,
                    )?),
                },
            };
            let ids = groups.ids(&key_columns, n, &self.converter)?;
            groups.update(&arg_columns, &ids)?;
        }
        Ok(())
    }

    /// Emits every window whose end the watermark has passed.
    pub(crate) fn on_watermark(
        &mut self,
        watermark: i64,
        out: &mut Vec<RecordBatch>,
    ) -> Result<()> {
        let mut fired = Vec::new();
        if let (Some(slices), Some(assign)) = (&mut self.slices, &self.assign) {
            while let Some(end) = slices.pending.first().copied() {
                if end - 1 > watermark {
                    break;
                }
                slices.pending.pop_first();
                let start = assign.window_start(end);
                let mut groups =
                    Groups::new(&self.aggregates, &self.converter, [start, end, end - 1])?;
                // The window's slices: those ending after its start, up to its end.
                for slice in slices.open.range_mut(start + 1..=end).map(|(_, s)| s) {
                    if let Some(state) =
                        slice.state(&self.aggregates, &self.widths, &self.converter)?
                    {
                        groups.merge(state, &self.widths, &self.converter)?;
                    }
                }
                fired.push(groups);
            }
            while let Some(slice) = slices.open.first_entry() {
                if assign.last_window_of_slice(*slice.key()) - 1 > watermark {
                    break;
                }
                slice.remove();
            }
        }
        while let Some(entry) = self.windows.first_entry() {
            if *entry.key() - 1 > watermark {
                break;
            }
            fired.push(entry.remove());
        }
        for groups in fired {
            out.push(self.emit(groups)?);
        }
        Ok(())
    }

    /// A window's rows: its keys, then its aggregates' values.
    fn emit(&self, mut groups: Groups) -> Result<RecordBatch> {
        let mut columns = self.key_columns(&groups)?;
        for accumulator in &mut groups.accumulators {
            columns.push(accumulator.evaluate(EmitTo::All)?);
        }
        Ok(RecordBatch::try_new(self.schema.clone(), columns)?)
    }

    /// Every key column of a window's groups, the bounds repeated.
    fn key_columns(&self, groups: &Groups) -> Result<Vec<ArrayRef>> {
        let n = groups.count;
        let mut hashed = groups.hashed_columns(&self.converter)?.into_iter();
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

    /// The open state. Per window: every open window's groups, key columns then each
    /// accumulator's partial state. Sliced: every open slice's groups, its end (a column named
    /// [`SLICE_END`]), the hashed key columns, then the partial states.
    pub(crate) fn snapshot(&mut self) -> Result<Vec<RecordBatch>> {
        let mut batches = Vec::new();
        if let Some(slices) = &mut self.slices {
            for (end, slice) in &mut slices.open {
                if let Some(part) = slice.state(&self.aggregates, &self.widths, &self.converter)? {
                    let mut columns: Vec<ArrayRef> =
                        vec![Arc::new(Int64Array::from_value(*end, part.rows))];
                    columns.extend(part.keys.iter().cloned());
                    columns.extend(part.states.iter().cloned());
                    let batch = state_batch(columns)?;
                    let mut fields = batch.schema().fields().to_vec();
                    fields[0] = Arc::new(Field::new(SLICE_END, DataType::Int64, false));
                    batches.push(RecordBatch::try_new(
                        Arc::new(Schema::new(fields)),
                        batch.columns().to_vec(),
                    )?);
                }
            }
            return Ok(batches);
        }
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

    /// Takes back one batch of [`WindowAggregate::snapshot`]; `watermark` is the operator's
    /// (windows up to it fired before the snapshot).
    pub(crate) fn restore(&mut self, batch: &RecordBatch, watermark: i64) -> Result<()> {
        let sliced_batch = batch
            .schema()
            .fields()
            .first()
            .is_some_and(|f| f.name() == SLICE_END);
        match (&self.slices, sliced_batch) {
            (Some(_), true) => self.restore_slice(batch, watermark),
            (None, false) => self.restore_window(batch),
            // Since no release shipped per-window state for an aggregate that now slices, it
            // is refused rather than converted.
            (Some(_), false) => Err(DataFusionError::Execution(
                "the snapshot holds a HOP or CUMULATE window aggregate's state per window, from before the aggregate kept it per slice: it cannot be restored (start without it, or allow non-restored state)".into(),
            )),
            (None, true) => Err(DataFusionError::Execution(
                "the snapshot holds a window aggregate's state per slice, which this query keeps per window".into(),
            )),
        }
    }

    fn restore_slice(&mut self, batch: &RecordBatch, watermark: i64) -> Result<()> {
        let (Some(slices), Some(assign)) = (&mut self.slices, &self.assign) else {
            return Ok(());
        };
        let hashed = self
            .keys
            .iter()
            .filter(|k| matches!(k, Key::Expr(_)))
            .count();
        if batch.num_columns() != 1 + hashed + self.widths.iter().sum::<usize>() {
            return Err(DataFusionError::Execution(
                "a window snapshot does not fit the query".into(),
            ));
        }
        let Some(end) = batch
            .column(0)
            .as_primitive_opt::<Int64Type>()
            .and_then(|ends| ends.iter().flatten().next())
        else {
            return Ok(());
        };
        let part = Part {
            rows: batch.num_rows(),
            keys: batch.columns()[1..1 + hashed].to_vec(),
            states: batch.columns()[1 + hashed..].to_vec(),
        };
        let slice = match slices.open.entry(end) {
            Entry::Occupied(slice) => slice.into_mut(),
            Entry::Vacant(slot) => slot.insert(Slice::new(
                &self.aggregates,
                &self.converter,
                end,
                assign.step,
            )?),
        };
        slice.live.merge(&part, &self.widths, &self.converter)?;
        slices.pending.extend(
            assign
                .windows_of_slice(end)
                .filter(|window| window - 1 > watermark),
        );
        Ok(())
    }

    fn restore_window(&mut self, batch: &RecordBatch) -> Result<()> {
        let key_count = self.keys.len();
        if batch.num_columns() != key_count + self.widths.iter().sum::<usize>() {
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
        let mut groups = Groups::new(&self.aggregates, &self.converter, bounds)?;
        let part = Part {
            rows: batch.num_rows(),
            keys: hashed,
            states: batch.columns()[key_count..].to_vec(),
        };
        groups.merge(&part, &self.widths, &self.converter)?;
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
        a.windows(t, &mut |s, e| w.push((s, e)));
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
