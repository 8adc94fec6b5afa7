//! Joins of two streams, in the three forms Flink SQL runs on append-only streams:
//!
//! - a **window join** (both sides windowed, `ON l.window_end = r.window_end AND ...`): each
//!   side's rows are kept per window and joined once the watermark passes the window's end;
//!   INNER, LEFT, RIGHT and FULL OUTER;
//! - an **interval join** (`ON l.k = r.k AND l.t BETWEEN r.t - INTERVAL ... AND r.t + ...`):
//!   each row meets the other side's rows as it arrives, and rows leave once no row still to
//!   come could meet them (the watermark has passed the bound);
//! - a **regular join** (equalities only): like an interval join whose rows never leave;
//! - a **lookup join** (`JOIN t FOR SYSTEM_TIME AS OF o.proc_time`, INNER and LEFT): the
//!   table's rows (loaded whole when the run starts) are kept, and each row of the other side
//!   meets those there as it arrives, then is gone: nothing of it is state, and the table is
//!   loaded again at every start rather than snapshotted.
//!
//! Keys are compared as Arrow rows; a row with a NULL key meets nothing (SQL's `=`).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use datafusion_common::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, RecordBatch, UInt32Array,
};
use datafusion_common::arrow::compute::{concat_batches, interleave, take};
use datafusion_common::arrow::datatypes::SchemaRef;
use datafusion_common::arrow::row::{RowConverter, Rows, SortField};
use datafusion_common::{DataFusionError, Result};
use datafusion_physical_expr::PhysicalExpr;

use super::window::timestamps;
use crate::operator::eval;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum JoinKind {
    Inner,
    Left,
    Right,
    Full,
}

/// What both join forms share: the keys of each side, the condition left over, the output.
pub(crate) struct JoinSpec {
    pub keys: [Vec<Arc<dyn PhysicalExpr>>; 2],
    /// Evaluated over a joined row (left's columns, then right's).
    pub filter: Option<Arc<dyn PhysicalExpr>>,
    pub kind: JoinKind,
    pub schema: SchemaRef,
    converter: RowConverter,
}

impl JoinSpec {
    pub(crate) fn new(
        keys: [Vec<Arc<dyn PhysicalExpr>>; 2],
        key_types: Vec<datafusion_common::arrow::datatypes::DataType>,
        filter: Option<Arc<dyn PhysicalExpr>>,
        kind: JoinKind,
        schema: SchemaRef,
    ) -> Result<JoinSpec, String> {
        let converter = RowConverter::new(key_types.into_iter().map(SortField::new).collect())
            .map_err(|e| e.to_string())?;
        Ok(JoinSpec {
            keys,
            filter,
            kind,
            schema,
            converter,
        })
    }

    /// Each row's key, and whether it has one (no NULL in it).
    fn key_rows(&self, side: usize, batch: &RecordBatch) -> Result<(Rows, Vec<bool>)> {
        let columns: Vec<ArrayRef> = self.keys[side]
            .iter()
            .map(|k| eval(k, batch))
            .collect::<Result<_>>()?;
        let valid = (0..batch.num_rows())
            .map(|i| columns.iter().all(|c| c.is_valid(i)))
            .collect();
        Ok((self.converter.convert_columns(&columns)?, valid))
    }

    /// The joined rows of `pairs` (a NULL index: that side's columns NULL).
    fn pairs(
        &self,
        left: &[ArrayRef],
        right: &[ArrayRef],
        pairs: (&UInt32Array, &UInt32Array),
    ) -> Result<RecordBatch> {
        let mut columns = Vec::with_capacity(left.len() + right.len());
        for c in left {
            columns.push(take(c, pairs.0, None)?);
        }
        for c in right {
            columns.push(take(c, pairs.1, None)?);
        }
        Ok(RecordBatch::try_new(self.schema.clone(), columns)?)
    }

    fn filtered(&self, batch: RecordBatch) -> Result<(RecordBatch, Option<BooleanArray>)> {
        let Some(filter) = &self.filter else {
            return Ok((batch, None));
        };
        let mask = eval(filter, &batch)?;
        // NULL is not true: the filter drops it, and the outer joins' matching skips it.
        let mask = mask.as_boolean().clone();
        let mask = if mask.null_count() > 0 {
            datafusion_common::arrow::compute::prep_null_mask_filter(&mask)
        } else {
            mask
        };
        let kept = datafusion_common::arrow::compute::filter_record_batch(&batch, &mask)?;
        Ok((kept, Some(mask)))
    }
}

/// Two sides' rows of one window.
#[derive(Default)]
struct WindowRows {
    sides: [Vec<RecordBatch>; 2],
}

pub(crate) struct WindowJoin {
    pub spec: JoinSpec,
    /// Each side's `window_end` column.
    pub ends: [usize; 2],
    pub schemas: [SchemaRef; 2],
    windows: BTreeMap<i64, WindowRows>,
    pub late: u64,
}

impl WindowJoin {
    pub(crate) fn new(spec: JoinSpec, ends: [usize; 2], schemas: [SchemaRef; 2]) -> WindowJoin {
        WindowJoin {
            spec,
            ends,
            schemas,
            windows: BTreeMap::new(),
            late: 0,
        }
    }

    pub(crate) fn process(
        &mut self,
        side: usize,
        batch: &RecordBatch,
        watermark: i64,
    ) -> Result<()> {
        let ends = timestamps(batch.column(self.ends[side]))?;
        let mut by_end: BTreeMap<i64, Vec<u32>> = BTreeMap::new();
        for (i, end) in ends.iter().enumerate() {
            if let Some(end) = end {
                by_end.entry(end).or_default().push(i as u32);
            }
        }
        let whole = by_end.len() == 1 && ends.null_count() == 0;
        for (end, rows) in by_end {
            if end - 1 <= watermark {
                self.late += rows.len() as u64;
                continue;
            }
            let part = if whole {
                batch.clone()
            } else {
                datafusion_common::arrow::compute::take_record_batch(
                    batch,
                    &UInt32Array::from(rows),
                )?
            };
            self.windows.entry(end).or_default().sides[side].push(part);
        }
        Ok(())
    }

    pub(crate) fn on_watermark(
        &mut self,
        watermark: i64,
        out: &mut Vec<RecordBatch>,
    ) -> Result<()> {
        while let Some(entry) = self.windows.first_entry() {
            if *entry.key() - 1 > watermark {
                break;
            }
            let rows = entry.remove();
            let left = concat_batches(&self.schemas[0], &rows.sides[0])?;
            let right = concat_batches(&self.schemas[1], &rows.sides[1])?;
            self.join(&left, &right, out)?;
        }
        Ok(())
    }

    fn join(
        &self,
        left: &RecordBatch,
        right: &RecordBatch,
        out: &mut Vec<RecordBatch>,
    ) -> Result<()> {
        let (left_keys, left_valid) = self.spec.key_rows(0, left)?;
        let (right_keys, right_valid) = self.spec.key_rows(1, right)?;
        let mut build: HashMap<&[u8], Vec<u32>> = HashMap::new();
        for (i, row) in right_keys.iter().enumerate() {
            if right_valid[i] {
                build.entry(row.data()).or_default().push(i as u32);
            }
        }
        let mut l = Vec::new();
        let mut r = Vec::new();
        for (i, row) in left_keys.iter().enumerate() {
            if !left_valid[i] {
                continue;
            }
            if let Some(matches) = build.get(row.data()) {
                for m in matches {
                    l.push(i as u32);
                    r.push(*m);
                }
            }
        }
        let (l, r) = (UInt32Array::from(l), UInt32Array::from(r));
        let (joined, mask) =
            self.spec
                .filtered(self.spec.pairs(left.columns(), right.columns(), (&l, &r))?)?;
        out.push(joined);
        if self.spec.kind == JoinKind::Inner {
            return Ok(());
        }
        let mut left_matched = vec![false; left.num_rows()];
        let mut right_matched = vec![false; right.num_rows()];
        for i in 0..l.len() {
            if mask.as_ref().is_none_or(|m| m.value(i)) {
                left_matched[l.value(i) as usize] = true;
                right_matched[r.value(i) as usize] = true;
            }
        }
        let unmatched = |matched: &[bool]| -> Vec<Option<u32>> {
            matched
                .iter()
                .enumerate()
                .filter(|(_, m)| !**m)
                .map(|(i, _)| Some(i as u32))
                .collect()
        };
        // Rows that met nothing, the other side's columns NULL (the filter does not apply).
        if matches!(self.spec.kind, JoinKind::Left | JoinKind::Full) {
            let rows = unmatched(&left_matched);
            let nulls = UInt32Array::from(vec![None; rows.len()]);
            out.push(self.spec.pairs(
                left.columns(),
                right.columns(),
                (&UInt32Array::from(rows), &nulls),
            )?);
        }
        if matches!(self.spec.kind, JoinKind::Right | JoinKind::Full) {
            let rows = unmatched(&right_matched);
            let nulls = UInt32Array::from(vec![None; rows.len()]);
            out.push(self.spec.pairs(
                left.columns(),
                right.columns(),
                (&nulls, &UInt32Array::from(rows)),
            )?);
        }
        Ok(())
    }

    /// Each open window's rows: part 0 the left's, part 1 the right's.
    pub(crate) fn snapshot(&self) -> Result<Vec<(usize, RecordBatch)>> {
        let mut parts = Vec::new();
        for rows in self.windows.values() {
            for side in 0..2 {
                if !rows.sides[side].is_empty() {
                    parts.push((
                        side,
                        concat_batches(&self.schemas[side], &rows.sides[side])?,
                    ));
                }
            }
        }
        Ok(parts)
    }

    pub(crate) fn restore(&mut self, side: usize, batch: &RecordBatch) -> Result<()> {
        self.process(side, batch, i64::MIN)
    }
}

/// One side's kept rows, numbered from `base` in arrival order, indexed by key.
struct Side {
    batches: VecDeque<RecordBatch>,
    /// The number of each batch's first row.
    starts: VecDeque<u64>,
    /// Each batch's latest time (for expiry).
    latest: VecDeque<i64>,
    base: u64,
    next: u64,
    index: HashMap<Box<[u8]>, Vec<u64>>,
    /// Ids in `index` whose rows have left (cleaned when they are half of it).
    stale: usize,
}

impl Side {
    fn new() -> Side {
        Side {
            batches: VecDeque::new(),
            starts: VecDeque::new(),
            latest: VecDeque::new(),
            base: 0,
            next: 0,
            index: HashMap::new(),
            stale: 0,
        }
    }

    fn locate(&self, id: u64) -> (usize, usize) {
        let b = self.starts.partition_point(|s| *s <= id) - 1;
        (b, (id - self.starts[b]) as usize)
    }

    fn push(&mut self, batch: RecordBatch, keys: &Rows, valid: &[bool], latest: i64) {
        let start = self.next;
        for (i, row) in keys.iter().enumerate() {
            if valid[i] {
                self.index
                    .entry(row.as_ref().into())
                    .or_default()
                    .push(start + i as u64);
            }
        }
        self.next += batch.num_rows() as u64;
        self.starts.push_back(start);
        self.latest.push_back(latest);
        self.batches.push_back(batch);
    }

    /// Drops whole batches (oldest first) whose rows are all at or before `horizon`.
    fn expire(&mut self, horizon: i64) {
        while self.latest.front().is_some_and(|l| *l <= horizon) {
            self.latest.pop_front();
            self.starts.pop_front();
            if let Some(batch) = self.batches.pop_front() {
                self.stale += batch.num_rows();
            }
            self.base = self.starts.front().copied().unwrap_or(self.next);
        }
        if self.stale * 2 > self.next.saturating_sub(self.base) as usize + self.stale {
            let base = self.base;
            self.index.retain(|_, ids| {
                ids.retain(|id| *id >= base);
                !ids.is_empty()
            });
            self.stale = 0;
        }
    }
}

/// An interval or regular inner join.
pub(crate) struct StreamJoin {
    pub spec: JoinSpec,
    /// Each side's time attribute and how long its rows can still meet the other's: a left row
    /// leaves once `t - lower <= watermark`, a right row once `t + upper <= watermark` (for
    /// `lower <= l.t - r.t <= upper`). None: a regular join, rows never leave.
    pub bounds: Option<([usize; 2], i64, i64)>,
    pub schemas: [SchemaRef; 2],
    sides: [Side; 2],
}

impl StreamJoin {
    pub(crate) fn new(
        spec: JoinSpec,
        bounds: Option<([usize; 2], i64, i64)>,
        schemas: [SchemaRef; 2],
    ) -> StreamJoin {
        StreamJoin {
            spec,
            bounds,
            schemas,
            sides: [Side::new(), Side::new()],
        }
    }

    pub(crate) fn process(
        &mut self,
        side: usize,
        batch: &RecordBatch,
        out: &mut Vec<RecordBatch>,
    ) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let (keys, valid) = self.spec.key_rows(side, batch)?;
        let other = &self.sides[1 - side];
        if let Some((joined, _)) = meet(&self.spec, side, batch, (&keys, &valid), other)? {
            out.push(self.spec.filtered(joined)?.0);
        }
        let latest = self.latest(side, batch)?;
        self.sides[side].push(batch.clone(), &keys, &valid, latest);
        Ok(())
    }

    /// The latest time of a side's batch, by which it expires (never, in a regular join).
    fn latest(&self, side: usize, batch: &RecordBatch) -> Result<i64> {
        Ok(match self.bounds {
            Some((times, _, _)) => timestamps(batch.column(times[side]))?
                .iter()
                .flatten()
                .max()
                .unwrap_or(i64::MIN),
            None => i64::MAX,
        })
    }

    pub(crate) fn on_watermark(&mut self, watermark: i64) {
        if let Some((_, lower, upper)) = self.bounds {
            self.sides[0].expire(watermark.saturating_add(lower));
            self.sides[1].expire(watermark.saturating_sub(upper));
        }
    }

    /// Each side's kept rows (part = side).
    pub(crate) fn snapshot(&self) -> Result<Vec<(usize, RecordBatch)>> {
        let mut parts = Vec::new();
        for side in 0..2 {
            let batches: Vec<RecordBatch> = self.sides[side].batches.iter().cloned().collect();
            if !batches.is_empty() {
                parts.push((side, concat_batches(&self.schemas[side], &batches)?));
            }
        }
        Ok(parts)
    }

    pub(crate) fn restore(&mut self, side: usize, batch: &RecordBatch) -> Result<()> {
        if side > 1 {
            return Err(DataFusionError::Execution("a join has two sides".into()));
        }
        let (keys, valid) = self.spec.key_rows(side, batch)?;
        let latest = self.latest(side, batch)?;
        self.sides[side].push(batch.clone(), &keys, &valid, latest);
        Ok(())
    }
}

/// `batch`'s rows (of `side`, with their keys) joined with the rows `other` keeps under the
/// same keys, the left side's columns first; and which of `batch`'s rows each joined row is.
/// None when no row meets one.
fn meet(
    spec: &JoinSpec,
    side: usize,
    batch: &RecordBatch,
    (keys, valid): (&Rows, &[bool]),
    other: &Side,
) -> Result<Option<(RecordBatch, UInt32Array)>> {
    let mut mine = Vec::new();
    let mut theirs: Vec<(usize, usize)> = Vec::new();
    for (i, row) in keys.iter().enumerate() {
        if !valid[i] {
            continue;
        }
        if let Some(ids) = other.index.get(row.as_ref()) {
            for id in ids.iter().filter(|id| **id >= other.base) {
                mine.push(i as u32);
                theirs.push(other.locate(*id));
            }
        }
    }
    if mine.is_empty() {
        return Ok(None);
    }
    let mine = UInt32Array::from(mine);
    let own: Vec<ArrayRef> = batch
        .columns()
        .iter()
        .map(|c| take(c, &mine, None))
        .collect::<std::result::Result<_, _>>()?;
    let width = spec.schema.fields().len() - batch.num_columns();
    let other_columns = (0..width)
        .map(|c| {
            let arrays: Vec<&dyn Array> =
                other.batches.iter().map(|b| b.column(c).as_ref()).collect();
            interleave(&arrays, &theirs)
        })
        .collect::<std::result::Result<Vec<_>, _>>()?;
    let columns = if side == 0 {
        own.into_iter().chain(other_columns).collect()
    } else {
        other_columns.into_iter().chain(own).collect()
    };
    Ok(Some((
        RecordBatch::try_new(spec.schema.clone(), columns)?,
        mine,
    )))
}

/// A lookup join: the table's rows (right) kept and indexed by key, the stream's rows (left)
/// looked up as they come.
pub(crate) struct LookupJoin {
    pub spec: JoinSpec,
    pub schemas: [SchemaRef; 2],
    table: Side,
}

impl LookupJoin {
    pub(crate) fn new(spec: JoinSpec, schemas: [SchemaRef; 2]) -> LookupJoin {
        LookupJoin {
            spec,
            schemas,
            table: Side::new(),
        }
    }

    /// The table's rows (side 1) are kept; the stream's (side 0) meet them, in their order,
    /// each as many times as it matches, or once with NULLs for the table's columns when it
    /// matches none in a LEFT join.
    pub(crate) fn process(
        &mut self,
        side: usize,
        batch: &RecordBatch,
        out: &mut Vec<RecordBatch>,
    ) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let (keys, valid) = self.spec.key_rows(side, batch)?;
        if side == 1 {
            // Never expires: the table stays whole for the run.
            self.table.push(batch.clone(), &keys, &valid, i64::MAX);
            return Ok(());
        }
        let met = meet(&self.spec, 0, batch, (&keys, &valid), &self.table)?;
        let (joined, rows) = match met {
            Some((joined, rows)) => {
                let (joined, mask) = self.spec.filtered(joined)?;
                let rows = match mask {
                    Some(mask) => datafusion_common::arrow::compute::filter(&rows, &mask)?
                        .as_primitive::<datafusion_common::arrow::datatypes::UInt32Type>()
                        .clone(),
                    None => rows,
                };
                (joined, rows)
            }
            None => (
                RecordBatch::new_empty(self.spec.schema.clone()),
                UInt32Array::from(Vec::<u32>::new()),
            ),
        };
        if self.spec.kind != JoinKind::Left {
            out.push(joined);
            return Ok(());
        }
        // In the stream's order: each row's matches (ascending in `rows`), or its NULL row.
        let nulls = self.unmatched(batch, &rows)?;
        let mut order = Vec::with_capacity(joined.num_rows() + nulls.num_rows());
        let mut next_null = 0;
        let mut matched = rows.values().iter().enumerate().peekable();
        for row in 0..batch.num_rows() as u32 {
            let mut any = false;
            while let Some((j, _)) = matched.next_if(|(_, r)| **r == row) {
                order.push((0, j));
                any = true;
            }
            if !any {
                order.push((1, next_null));
                next_null += 1;
            }
        }
        out.push(datafusion_common::arrow::compute::interleave_record_batch(
            &[&joined, &nulls],
            &order,
        )?);
        Ok(())
    }

    /// The stream's rows that met no row of the table, with NULLs for its columns.
    fn unmatched(&self, batch: &RecordBatch, rows: &UInt32Array) -> Result<RecordBatch> {
        let mut met = vec![false; batch.num_rows()];
        for row in rows.values() {
            met[*row as usize] = true;
        }
        let lonely = UInt32Array::from_iter_values(
            met.iter()
                .enumerate()
                .filter(|(_, m)| !**m)
                .map(|(i, _)| i as u32),
        );
        let mut columns: Vec<ArrayRef> = batch
            .columns()
            .iter()
            .map(|c| take(c, &lonely, None))
            .collect::<std::result::Result<_, _>>()?;
        columns.extend(
            self.schemas[1].fields().iter().map(|f| {
                datafusion_common::arrow::array::new_null_array(f.data_type(), lonely.len())
            }),
        );
        Ok(RecordBatch::try_new(self.spec.schema.clone(), columns)?)
    }
}
