//! Windowed stream-to-stream joins: `FROM a [OVER (RANGE INTERVAL ... PRECEDING | ROWS n
//! PRECEDING)] JOIN b [OVER (...)] ON a.k = b.k` (or CROSS JOIN).
//!
//! Each side keeps the rows of its window. A row arriving on one side is joined with the rows
//! the other side holds in its window at that row's ROWTIME; a side without OVER holds only its
//! current rows (those at the current ROWTIME), as KDA documents. So a pair is produced once,
//! when its later row arrives, stamped with the later ROWTIME. Rows are kept in the batches they
//! arrived in, each hashed by its join key, and whole batches leave a window together once every
//! row in them is out of it.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use datafusion_common::arrow::array::{
    Array, ArrayRef, AsArray, RecordBatch, TimestampMillisecondArray, UInt32Array, new_null_array,
};
use datafusion_common::arrow::compute::{interleave, take};
use datafusion_common::arrow::datatypes::{Field, SchemaRef, TimestampMillisecondType};
use datafusion_common::arrow::row::{RowConverter, SortField};
use datafusion_common::{DFSchema, DataFusionError, Result, TableReference};
use datafusion_expr::{Cast, Expr};
use datafusion_physical_expr::PhysicalExpr;
use datafusion_sql::sqlparser::ast::{Join, JoinConstraint, JoinOperator};

use crate::expr::{Functions, coerce, message, type_of};
use crate::lookup::{covered, equalities};
use crate::operator::{Operator, eval};
use crate::stream::StreamDef;
use crate::types::TIMESTAMP;

/// Which rows of a side a row arriving on the other side meets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SideWindow {
    /// No OVER: the rows at the arriving row's ROWTIME.
    Current,
    /// Rows whose ROWTIME is at most this many ms before the arriving row's.
    Range(i64),
    /// The side's latest row and this many before it.
    Rows(usize),
}

/// One side as planned: its window, its join keys (over its own rows), and how many of its
/// leading columns are system columns (ROWTIME first).
pub(crate) struct SideSpec {
    pub window: SideWindow,
    pub keys: Vec<Arc<dyn PhysicalExpr>>,
    pub hidden: usize,
    /// The side's rows (its stream's schema).
    pub schema: SchemaRef,
    /// Whether its rows that meet nothing are kept (LEFT, RIGHT or FULL OUTER), with NULLs for
    /// the other side, once they leave its window.
    pub outer: bool,
}

struct Chunk {
    batch: RecordBatch,
    /// The side's sequence number of the chunk's first row (for ROWS windows).
    first_seq: u64,
    newest: i64,
    index: HashMap<Box<[u8]>, Vec<u32>>,
    /// Which rows have met a row of the other side (kept for an outer side only).
    matched: Vec<bool>,
}

struct Side {
    spec: SideSpec,
    chunks: VecDeque<Chunk>,
    next_seq: u64,
}

pub(crate) struct StreamJoin {
    sides: [Side; 2],
    converter: RowConverter,
    /// ROWTIME, the left side's visible columns, the right's, then each side's system columns.
    schema: SchemaRef,
    now: i64,
}

impl StreamJoin {
    pub(crate) fn new(
        left: SideSpec,
        right: SideSpec,
        key_types: Vec<datafusion_common::arrow::datatypes::DataType>,
        schema: SchemaRef,
    ) -> Result<StreamJoin, String> {
        let converter = RowConverter::new(key_types.into_iter().map(SortField::new).collect())
            .map_err(|e| e.to_string())?;
        let side = |spec| Side {
            spec,
            chunks: VecDeque::new(),
            next_seq: 0,
        };
        Ok(StreamJoin {
            sides: [side(left), side(right)],
            converter,
            schema,
            now: i64::MIN,
        })
    }

    /// Rows arriving on side `from` (0 left, 1 right): their pairs with the other side's window.
    pub(crate) fn process(
        &mut self,
        from: usize,
        batch: &RecordBatch,
        out: &mut Vec<RecordBatch>,
    ) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let keys = self.keys(from, batch)?;
        let rowtime = batch.column(0).as_primitive::<TimestampMillisecondType>();
        let other = &self.sides[1 - from];
        let oldest_seq = match other.spec.window {
            SideWindow::Rows(n) => other.next_seq.saturating_sub(n as u64 + 1),
            _ => 0,
        };
        let mut mine = Vec::new();
        let mut theirs: Vec<(usize, usize)> = Vec::new();
        let mut times = Vec::new();
        for (i, key) in keys.iter().enumerate() {
            let Some(key) = key else { continue };
            let t = rowtime.value(i);
            for (c, chunk) in other.chunks.iter().enumerate() {
                let reachable = match other.spec.window {
                    SideWindow::Current => chunk.newest >= t,
                    SideWindow::Range(w) => chunk.newest >= t.saturating_sub(w),
                    SideWindow::Rows(_) => {
                        chunk.first_seq + chunk.batch.num_rows() as u64 > oldest_seq
                    }
                };
                let Some(rows) = reachable.then(|| chunk.index.get(key.as_slice())).flatten()
                else {
                    continue;
                };
                let times_there = chunk
                    .batch
                    .column(0)
                    .as_primitive::<TimestampMillisecondType>();
                for &r in rows {
                    let there = times_there.value(r as usize);
                    let inside = match other.spec.window {
                        SideWindow::Current => there >= t,
                        SideWindow::Range(w) => there >= t.saturating_sub(w),
                        SideWindow::Rows(_) => chunk.first_seq + u64::from(r) >= oldest_seq,
                    };
                    if inside {
                        mine.push(i as u32);
                        theirs.push((c, r as usize));
                        times.push(t.max(there));
                    }
                }
            }
        }
        if !mine.is_empty() {
            out.push(self.joined(from, batch, &mine, &theirs, times)?);
        }
        let mut matched = Vec::new();
        if self.sides[from].spec.outer {
            matched = vec![false; batch.num_rows()];
            for &i in &mine {
                matched[i as usize] = true;
            }
        }
        if self.sides[1 - from].spec.outer {
            let other = &mut self.sides[1 - from];
            for &(c, r) in &theirs {
                other.chunks[c].matched[r] = true;
            }
        }
        self.hold(from, batch, keys, matched)?;
        let newest = (0..rowtime.len()).map(|i| rowtime.value(i)).max();
        self.advance(newest.unwrap_or(self.now), out)
    }

    /// Lets rows leave the windows they are no longer in; an outer side's rows that met
    /// nothing come out then, with NULLs for the other side, stamped with the time they left.
    pub(crate) fn advance(&mut self, now_ms: i64, out: &mut Vec<RecordBatch>) -> Result<()> {
        self.now = self.now.max(now_ms);
        for s in 0..2 {
            let mut leaving = Vec::new();
            let side = &mut self.sides[s];
            while let Some(front) = side.chunks.front() {
                let gone = match side.spec.window {
                    SideWindow::Current => front.newest < self.now,
                    SideWindow::Range(w) => front.newest < self.now.saturating_sub(w),
                    SideWindow::Rows(n) => {
                        front.first_seq + front.batch.num_rows() as u64
                            <= side.next_seq.saturating_sub(n as u64 + 1)
                    }
                };
                if !gone {
                    break;
                }
                if let Some(chunk) = side.chunks.pop_front()
                    && side.spec.outer
                {
                    leaving.push(chunk);
                }
            }
            for chunk in leaving {
                let unmatched: Vec<u32> = (0..chunk.batch.num_rows() as u32)
                    .filter(|&r| !chunk.matched[r as usize])
                    .collect();
                if !unmatched.is_empty() {
                    out.push(self.unmatched(s, &chunk.batch, &unmatched)?);
                }
            }
        }
        Ok(())
    }

    /// Rows of side `side` with NULLs for the other side's columns.
    fn unmatched(&self, side: usize, batch: &RecordBatch, rows: &[u32]) -> Result<RecordBatch> {
        let picked = UInt32Array::from(rows.to_vec());
        let mine: Vec<ArrayRef> = batch
            .columns()
            .iter()
            .map(|c| take(c.as_ref(), &picked, None))
            .collect::<std::result::Result<_, _>>()?;
        let theirs: Vec<ArrayRef> = self.sides[1 - side]
            .spec
            .schema
            .fields()
            .iter()
            .map(|f| new_null_array(f.data_type(), rows.len()))
            .collect();
        let (left, right) = if side == 0 {
            (mine, theirs)
        } else {
            (theirs, mine)
        };
        self.assemble(vec![self.now; rows.len()], left, right)
    }

    /// Each row's join key in the row format, None where a key is NULL (NULL equals nothing).
    fn keys(&self, side: usize, batch: &RecordBatch) -> Result<Vec<Option<Vec<u8>>>> {
        let columns: Vec<ArrayRef> = self.sides[side]
            .spec
            .keys
            .iter()
            .map(|k| eval(k, batch))
            .collect::<Result<_>>()?;
        if columns.is_empty() {
            // CROSS JOIN: every row has the same (empty) key.
            return Ok(vec![Some(Vec::new()); batch.num_rows()]);
        }
        let rows = self.converter.convert_columns(&columns)?;
        Ok(rows
            .iter()
            .enumerate()
            .map(|(i, row)| (!columns.iter().any(|c| c.is_null(i))).then(|| row.as_ref().to_vec()))
            .collect())
    }

    fn hold(
        &mut self,
        side: usize,
        batch: &RecordBatch,
        keys: Vec<Option<Vec<u8>>>,
        matched: Vec<bool>,
    ) -> Result<()> {
        let rowtime = batch.column(0).as_primitive::<TimestampMillisecondType>();
        let mut index: HashMap<Box<[u8]>, Vec<u32>> = HashMap::new();
        for (i, key) in keys.into_iter().enumerate() {
            if let Some(key) = key {
                index
                    .entry(key.into_boxed_slice())
                    .or_default()
                    .push(i as u32);
            }
        }
        let newest = (0..rowtime.len())
            .map(|i| rowtime.value(i))
            .max()
            .unwrap_or(i64::MIN);
        let side = &mut self.sides[side];
        side.chunks.push_back(Chunk {
            batch: batch.clone(),
            first_seq: side.next_seq,
            newest,
            index,
            matched,
        });
        side.next_seq += batch.num_rows() as u64;
        Ok(())
    }

    /// The pairs as rows of the joined schema.
    fn joined(
        &self,
        from: usize,
        batch: &RecordBatch,
        mine: &[u32],
        theirs: &[(usize, usize)],
        times: Vec<i64>,
    ) -> Result<RecordBatch> {
        let mine = UInt32Array::from(mine.to_vec());
        let mine_columns: Vec<ArrayRef> = batch
            .columns()
            .iter()
            .map(|c| take(c.as_ref(), &mine, None))
            .collect::<std::result::Result<_, _>>()?;
        let other = &self.sides[1 - from];
        let width = other.chunks.front().map_or(0, |c| c.batch.num_columns());
        let mut their_columns = Vec::with_capacity(width);
        for column in 0..width {
            let arrays: Vec<&dyn Array> = other
                .chunks
                .iter()
                .map(|c| c.batch.column(column).as_ref())
                .collect();
            their_columns.push(interleave(&arrays, theirs)?);
        }
        let (left, right) = if from == 0 {
            (mine_columns, their_columns)
        } else {
            (their_columns, mine_columns)
        };
        self.assemble(times, left, right)
    }

    /// A joined batch: its times, the sides' visible columns, then their system columns.
    fn assemble(
        &self,
        times: Vec<i64>,
        left: Vec<ArrayRef>,
        right: Vec<ArrayRef>,
    ) -> Result<RecordBatch> {
        let (left_hidden, right_hidden) = (self.sides[0].spec.hidden, self.sides[1].spec.hidden);
        let mut columns: Vec<ArrayRef> = vec![Arc::new(TimestampMillisecondArray::from(times))];
        columns.extend(left[left_hidden..].iter().cloned());
        columns.extend(right[right_hidden..].iter().cloned());
        columns.extend(left[..left_hidden].iter().cloned());
        columns.extend(right[..right_hidden].iter().cloned());
        RecordBatch::try_new(self.schema.clone(), columns).map_err(DataFusionError::from)
    }

    /// Each side's held rows, one batch per chunk, the side in the start slot.
    pub(crate) fn snapshot(&self) -> Vec<(i64, RecordBatch)> {
        let mut state = Vec::new();
        for (i, side) in self.sides.iter().enumerate() {
            for chunk in &side.chunks {
                state.push((i as i64, chunk.batch.clone()));
            }
        }
        state
    }

    pub(crate) fn restore(&mut self, side: i64, batch: &RecordBatch) -> Result<()> {
        let side = match side {
            0 | 1 => side as usize,
            other => {
                return Err(DataFusionError::Execution(format!(
                    "a stream join's snapshot names side {other}"
                )));
            }
        };
        if batch.schema().fields() != self.sides[side].spec.schema.fields() {
            return Err(DataFusionError::Execution(
                "a stream join's snapshot does not fit the side's rows".into(),
            ));
        }
        let keys = self.keys(side, batch)?;
        // Whether a restored row had met one is not kept: an outer side's restored rows count
        // as unmatched, so they may come out once more with NULLs (at least once).
        let matched = if self.sides[side].spec.outer {
            vec![false; batch.num_rows()]
        } else {
            Vec::new()
        };
        self.hold(side, batch, keys, matched)
    }
}

const JOINED_ROWTIME: &str = "$ROWTIME";

/// Plans `join` of two streams, each with its qualifier and window: the join operator, the
/// stream of joined rows, and their schema (ROWTIME, then each side's columns under its
/// qualifier, the sides' system columns last so `*` does not take them). The joined rows'
/// time is the later of the pair's.
pub(crate) fn plan(
    functions: &Functions,
    join: &Join,
    sides: [(StreamDef, String, SideWindow); 2],
) -> Result<(Operator, StreamDef, DFSchema), String> {
    let (constraint, outer) = match &join.join_operator {
        JoinOperator::Join(c) | JoinOperator::Inner(c) => (Some(c), [false, false]),
        JoinOperator::Left(c) | JoinOperator::LeftOuter(c) => (Some(c), [true, false]),
        JoinOperator::Right(c) | JoinOperator::RightOuter(c) => (Some(c), [false, true]),
        JoinOperator::FullOuter(c) => (Some(c), [true, true]),
        JoinOperator::CrossJoin(JoinConstraint::None) => (None, [false, false]),
        _ => {
            return Err(
                "two streams join with [INNER], LEFT, RIGHT or FULL [OUTER] JOIN ... ON, or CROSS JOIN"
                    .into(),
            );
        }
    };
    let schemas = sides
        .iter()
        .map(|(def, qualifier, _)| {
            DFSchema::try_from_qualified_schema(
                TableReference::bare(qualifier.clone()),
                &def.schema,
            )
            .map_err(message)
        })
        .collect::<Result<Vec<_>, _>>()?;
    // The joined row's time leads under a name no code can write: an unqualified ROWTIME beside
    // the sides' qualified ones would be ambiguous, so code names `o.ROWTIME` or `t.ROWTIME`.
    let mut fields = vec![(None, Arc::new(Field::new(JOINED_ROWTIME, TIMESTAMP, false)))];
    for visible in [true, false] {
        for ((def, ..), schema) in sides.iter().zip(&schemas) {
            for (i, (qualifier, field)) in schema.iter().enumerate() {
                if (i >= def.hidden) == visible {
                    // An outer join's rows can have NULLs for either side, ROWTIME included.
                    let field = Arc::new(field.as_ref().clone().with_nullable(true));
                    fields.push((qualifier.cloned(), field));
                }
            }
        }
    }
    let joined = DFSchema::new_with_metadata(fields, HashMap::new()).map_err(message)?;
    let mut def = StreamDef::new("JOIN".into(), Arc::new(joined.as_arrow().clone()), 1);
    def.trailing = sides[0].0.hidden + sides[1].0.hidden;

    let (mut left_keys, mut right_keys, mut key_types) = (Vec::new(), Vec::new(), Vec::new());
    match constraint {
        None => {}
        Some(JoinConstraint::On(on)) => {
            let mut both = schemas[0].clone();
            both.merge(&schemas[1]);
            let condition = functions.logical(on.clone(), &both)?;
            for (a, b) in equalities(&condition)? {
                let (l, r) = if covered(&a, &schemas[0]) && covered(&b, &schemas[1]) {
                    (a, b)
                } else if covered(&b, &schemas[0]) && covered(&a, &schemas[1]) {
                    (b, a)
                } else {
                    return Err(
                        "each ON condition of a stream join compares a column of one stream with a column of the other"
                            .into(),
                    );
                };
                // Both sides are compared as the left side's type.
                let data_type = type_of(&l, &schemas[0])?;
                let r = Expr::Cast(Cast::new(Box::new(r), data_type.clone()));
                left_keys.push(functions.physical(&l, &schemas[0])?);
                right_keys.push(functions.physical(&coerce(r, &schemas[1])?, &schemas[1])?);
                key_types.push(data_type);
            }
        }
        Some(_) => {
            return Err(
                "a join of two streams needs ON left.column = right.column (or CROSS JOIN)".into(),
            );
        }
    }
    let [(left, _, left_window), (right, _, right_window)] = sides;
    let operator = StreamJoin::new(
        SideSpec {
            window: left_window,
            keys: left_keys,
            hidden: left.hidden,
            schema: left.schema,
            outer: outer[0],
        },
        SideSpec {
            window: right_window,
            keys: right_keys,
            hidden: right.hidden,
            schema: right.schema,
            outer: outer[1],
        },
        key_types,
        def.schema.clone(),
    )?;
    Ok((Operator::StreamJoin(Box::new(operator)), def, joined))
}
