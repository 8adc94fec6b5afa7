//! `COUNT_DISTINCT_ITEMS_TUMBLING(cursor, 'column', windowSize)` and
//! `TOP_K_ITEMS_TUMBLING(cursor, 'column', K, windowSize)`: the values of one column counted
//! over tumbling windows of `windowSize` seconds of ROWTIME, emitted when each window ends
//! (stamped with its end) as the number of distinct values, or the K most frequent values with
//! their counts.
//!
//! AWS approximates both past 10,000 distinct values (HyperLogLog, and a heavy-hitters sketch
//! that "may return three of the five most traded"); Freshet counts exactly, which answers
//! within AWS's documented error, at the cost of memory per distinct value in a window of at
//! most an hour.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion_common::arrow::array::{
    Array, ArrayRef, AsArray, Int64Array, RecordBatch, TimestampMillisecondArray, UInt32Array,
};
use datafusion_common::arrow::compute::take;
use datafusion_common::arrow::datatypes::{
    DataType, Field, Int64Type, Schema, SchemaRef, TimestampMillisecondType,
};
use datafusion_common::arrow::row::{RowConverter, Rows, SortField};
use datafusion_common::{DataFusionError, Result, ScalarValue};

use super::{Planned, TableFunction};
use crate::operator::{ipc_batches, ipc_bytes, state_batch};
use crate::pump::ROWTIME;
use crate::types::TIMESTAMP;

/// The longest window AWS allows, in seconds.
const MAX_WINDOW_SECONDS: i64 = 3_600;
/// The largest K AWS allows.
const MAX_K: i64 = 100_000;

/// What a window emits.
#[derive(Clone, Copy)]
enum Emit {
    DistinctCount,
    TopK(usize),
}

struct Window {
    start: i64,
    index: HashMap<Box<[u8]>, usize>,
    items: Rows,
    counts: Vec<i64>,
}

struct Items {
    emit: Emit,
    column: usize,
    width_ms: i64,
    converter: RowConverter,
    schema: SchemaRef,
    open: Option<Window>,
}

/// `COUNT_DISTINCT_ITEMS_TUMBLING(cursor, 'columnName', windowSize)`.
pub(super) fn count_distinct(input: &SchemaRef, args: &[ScalarValue]) -> Result<Planned, String> {
    const NAME: &str = "COUNT_DISTINCT_ITEMS_TUMBLING";
    let [column, window] = args else {
        return Err(format!(
            "{NAME} takes (CURSOR(...), 'columnName', windowSize), not {} argument(s) after the cursor",
            args.len()
        ));
    };
    let column = column_of(NAME, input, column)?;
    let width_ms = window_ms(NAME, window)?;
    let schema = Arc::new(Schema::new(vec![
        Field::new(ROWTIME, TIMESTAMP, false),
        Field::new("NUMBER_OF_DISTINCT_ITEMS", DataType::Int64, true),
    ]));
    Items::planned(Emit::DistinctCount, input, column, width_ms, schema)
}

/// `TOP_K_ITEMS_TUMBLING(cursor, 'columnName', K, windowSize)`.
pub(super) fn top_k(input: &SchemaRef, args: &[ScalarValue]) -> Result<Planned, String> {
    const NAME: &str = "TOP_K_ITEMS_TUMBLING";
    let [column, k, window] = args else {
        return Err(format!(
            "{NAME} takes (CURSOR(...), 'columnName', K, windowSize), not {} argument(s) after the cursor",
            args.len()
        ));
    };
    let column = column_of(NAME, input, column)?;
    let k = integer(k)
        .filter(|k| (1..=MAX_K).contains(k))
        .ok_or_else(|| format!("{NAME}: K must be an integer from 1 to {MAX_K}, not {k}"))?;
    let width_ms = window_ms(NAME, window)?;
    let item = input.field(column);
    let schema = Arc::new(Schema::new(vec![
        Field::new(ROWTIME, TIMESTAMP, false),
        Field::new("ITEM", item.data_type().clone(), true),
        Field::new("ITEM_COUNT", DataType::Int64, true),
    ]));
    Items::planned(Emit::TopK(k as usize), input, column, width_ms, schema)
}

/// An integer argument (of any integer type).
fn integer(value: &ScalarValue) -> Option<i64> {
    if !value.data_type().is_integer() {
        return None;
    }
    match value.cast_to(&DataType::Int64).ok()? {
        ScalarValue::Int64(Some(n)) => Some(n),
        _ => None,
    }
}

/// The cursor column named by a quoted name (KDA's upper-cased names match either spelling).
fn column_of(function: &str, input: &SchemaRef, name: &ScalarValue) -> Result<usize, String> {
    let ScalarValue::Utf8(Some(name)) = name else {
        return Err(format!(
            "{function}: the column name is a quoted string ('COLUMN'), not {name}"
        ));
    };
    let fields = input.fields();
    fields
        .iter()
        .skip(1)
        .position(|f| f.name() == name)
        .or_else(|| {
            fields
                .iter()
                .skip(1)
                .position(|f| f.name().eq_ignore_ascii_case(name))
        })
        .map(|i| i + 1)
        .ok_or_else(|| format!("{function}: the cursor has no column '{name}'"))
}

fn window_ms(function: &str, seconds: &ScalarValue) -> Result<i64, String> {
    integer(seconds)
        .filter(|s| (1..=MAX_WINDOW_SECONDS).contains(s))
        .map(|s| s * 1_000)
        .ok_or_else(|| {
            format!(
                "{function}: windowSize is a number of seconds from 1 to {MAX_WINDOW_SECONDS}, not {seconds}"
            )
        })
}

impl Items {
    fn planned(
        emit: Emit,
        input: &SchemaRef,
        column: usize,
        width_ms: i64,
        schema: SchemaRef,
    ) -> Result<Planned, String> {
        let converter = RowConverter::new(vec![SortField::new(
            input.field(column).data_type().clone(),
        )])
        .map_err(|e| e.to_string())?;
        Ok(Planned {
            function: Box::new(Items {
                emit,
                column,
                width_ms,
                converter,
                schema: schema.clone(),
                open: None,
            }),
            schema,
        })
    }

    fn window(&mut self, start: i64) -> &mut Window {
        let converter = &self.converter;
        self.open.get_or_insert_with(|| Window {
            start,
            index: HashMap::new(),
            items: converter.empty_rows(0, 0),
            counts: Vec::new(),
        })
    }

    fn close(&mut self, out: &mut Vec<RecordBatch>) -> Result<()> {
        let Some(window) = self.open.take() else {
            return Ok(());
        };
        let end = window.start + self.width_ms;
        let columns: Vec<ArrayRef> = match self.emit {
            Emit::DistinctCount => vec![
                Arc::new(TimestampMillisecondArray::from(vec![end])),
                Arc::new(Int64Array::from(vec![window.counts.len() as i64])),
            ],
            Emit::TopK(k) => {
                // Most frequent first; equal counts in the order the values first came.
                let mut order: Vec<u32> = (0..window.counts.len() as u32).collect();
                order.sort_by_key(|&i| std::cmp::Reverse(window.counts[i as usize]));
                order.truncate(k);
                let items = self.converter.convert_rows(window.items.iter())?;
                let picked = UInt32Array::from(order.clone());
                vec![
                    Arc::new(TimestampMillisecondArray::from_value(end, order.len())),
                    take(items[0].as_ref(), &picked, None)?,
                    Arc::new(Int64Array::from_iter_values(
                        order.iter().map(|&i| window.counts[i as usize]),
                    )),
                ]
            }
        };
        out.push(RecordBatch::try_new(self.schema.clone(), columns)?);
        Ok(())
    }
}

impl TableFunction for Items {
    fn process(&mut self, batch: &RecordBatch, out: &mut Vec<RecordBatch>) -> Result<()> {
        let rowtime = batch.column(0).as_primitive::<TimestampMillisecondType>();
        let values = batch.column(self.column);
        let rows = self
            .converter
            .convert_columns(std::slice::from_ref(values))?;
        for (i, row) in rows.iter().enumerate() {
            let start = rowtime.value(i).div_euclid(self.width_ms) * self.width_ms;
            if self.open.as_ref().is_some_and(|w| w.start < start) {
                self.close(out)?;
            }
            if values.is_null(i) {
                continue;
            }
            // A row older than the open window (an upstream window's end) joins it.
            let start = self.open.as_ref().map_or(start, |w| w.start.max(start));
            let window = self.window(start);
            match window.index.get(row.as_ref()) {
                Some(&at) => window.counts[at] += 1,
                None => {
                    window
                        .index
                        .insert(row.as_ref().into(), window.counts.len());
                    window.items.push(row);
                    window.counts.push(1);
                }
            }
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

    /// The open window as one batch (its start, each value, its count); nothing when no
    /// window is open.
    fn snapshot(&mut self) -> Result<Vec<u8>> {
        let Some(window) = &self.open else {
            return Ok(Vec::new());
        };
        let items = self.converter.convert_rows(window.items.iter())?;
        let batch = state_batch(vec![
            Arc::new(Int64Array::from_value(window.start, window.counts.len())),
            items[0].clone(),
            Arc::new(Int64Array::from(window.counts.clone())),
        ])?;
        ipc_bytes(&batch)
    }

    fn restore(&mut self, state: &[u8]) -> Result<()> {
        self.open = None;
        if state.is_empty() {
            return Ok(());
        }
        for batch in ipc_batches(state)? {
            let [start, items, counts] = batch.columns() else {
                return Err(DataFusionError::Execution(
                    "an item window's snapshot has other columns than (start, item, count)".into(),
                ));
            };
            let (Some(start), Some(counts)) = (
                start.as_primitive_opt::<Int64Type>(),
                counts.as_primitive_opt::<Int64Type>(),
            ) else {
                return Err(DataFusionError::Execution(
                    "an item window's snapshot has a start or counts that are not BIGINT".into(),
                ));
            };
            let rows = self
                .converter
                .convert_columns(std::slice::from_ref(items))?;
            for (i, row) in rows.iter().enumerate() {
                let window = self.window(start.value(i));
                window
                    .index
                    .insert(row.as_ref().into(), window.counts.len());
                window.items.push(row);
                window.counts.push(counts.value(i));
            }
        }
        Ok(())
    }
}
