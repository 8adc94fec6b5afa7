//! `AGG(x) OVER (PARTITION BY k ORDER BY t RANGE BETWEEN INTERVAL ... PRECEDING AND CURRENT
//! ROW)` (or `ROWS n PRECEDING`, or `UNBOUNDED PRECEDING`) in event time: rows wait until the
//! watermark passes their time, then go through the KDA engine's sliding windows in time order,
//! one output row per input row. In a RANGE window, rows of the same time (peers) see each
//! other: each gets the value its last peer gets, as Flink gives it.

use std::collections::HashMap;

use datafusion_common::Result;
use datafusion_common::arrow::array::{ArrayRef, RecordBatch, UInt32Array};
use datafusion_common::arrow::compute::{
    SortColumn, cast, lexsort_to_indices, take, take_record_batch,
};
use datafusion_common::arrow::datatypes::SchemaRef;
use datafusion_common::arrow::row::{RowConverter, SortField};
use datafusion_physical_expr::PhysicalExpr;
use std::sync::Arc;

use super::pending::Pending;
use super::window::timestamps;
use crate::operator::eval;
use crate::sliding::Sliding;
use crate::types::TIMESTAMP;

/// A RANGE window's PARTITION BY expressions and their row converter: rows with the same
/// partition and time are peers.
type Peers = (Vec<Arc<dyn PhysicalExpr>>, RowConverter);

pub(crate) struct Over {
    /// The ORDER BY time attribute, a column of the input.
    pub time: usize,
    sliding: Sliding,
    /// Per window whose frame is RANGE: its PARTITION BY expressions (over the time-led
    /// batch), whose peers share a value.
    range_partitions: Vec<Option<Peers>>,
    /// The input's columns led by the time as a non-null TIMESTAMP (what `sliding` reads).
    led: SchemaRef,
    /// The Window node's schema (the input's columns, then one per window).
    pub schema: SchemaRef,
    pending: Pending,
    pub late: u64,
}

impl Over {
    pub(crate) fn new(
        time: usize,
        sliding: Sliding,
        range_partitions: Vec<Option<Vec<Arc<dyn PhysicalExpr>>>>,
        led: SchemaRef,
        schema: SchemaRef,
    ) -> Result<Over, String> {
        let range_partitions = range_partitions
            .into_iter()
            .map(|p| {
                p.map(|exprs| {
                    let fields = exprs
                        .iter()
                        .map(|e| e.data_type(&led).map(SortField::new))
                        .collect::<Result<Vec<_>>>()
                        .map_err(|e| e.to_string())?;
                    let converter = RowConverter::new(fields).map_err(|e| e.to_string())?;
                    Ok::<_, String>((exprs, converter))
                })
                .transpose()
            })
            .collect::<Result<_, _>>()?;
        Ok(Over {
            time,
            sliding,
            range_partitions,
            led,
            schema,
            pending: Pending::new(time),
            late: 0,
        })
    }

    pub(crate) fn process(&mut self, batch: &RecordBatch, watermark: i64) -> Result<()> {
        self.late += self.pending.push(batch, watermark)?;
        Ok(())
    }

    pub(crate) fn on_watermark(
        &mut self,
        watermark: i64,
        out: &mut Vec<RecordBatch>,
    ) -> Result<()> {
        if let Some(rows) = self.pending.take_ready(watermark)? {
            let order: UInt32Array = lexsort_to_indices(
                &[SortColumn {
                    values: rows.column(self.time).clone(),
                    options: None,
                }],
                None,
            )?;
            let rows = take_record_batch(&rows, &order)?;
            out.push(self.run(&rows)?);
        }
        self.sliding.advance(watermark)
    }

    /// Rows in time order through the windows.
    fn run(&mut self, rows: &RecordBatch) -> Result<RecordBatch> {
        let time = cast(rows.column(self.time), &TIMESTAMP)?;
        let mut columns: Vec<ArrayRef> = vec![time];
        columns.extend(rows.columns().iter().cloned());
        let led = RecordBatch::try_new(self.led.clone(), columns)?;
        let computed = self.sliding.process(&led)?;
        let inputs = rows.num_columns();
        let mut out: Vec<ArrayRef> = computed.columns()[1..].to_vec();
        // RANGE: each row takes the value of the last row with its partition and time.
        for (w, partition) in self.range_partitions.iter_mut().enumerate() {
            let Some((exprs, converter)) = partition else {
                continue;
            };
            let keys: Vec<ArrayRef> = exprs.iter().map(|e| eval(e, &led)).collect::<Result<_>>()?;
            let keys = converter.convert_columns(&keys)?;
            let times = timestamps(led.column(0))?;
            let mut last: HashMap<(&[u8], i64), u32> = HashMap::new();
            for i in 0..led.num_rows() {
                last.insert((keys.row(i).data(), times.value(i)), i as u32);
            }
            let indices: UInt32Array = (0..led.num_rows())
                .map(|i| last.get(&(keys.row(i).data(), times.value(i))).copied())
                .collect();
            let column = &mut out[inputs + w];
            *column = take(column, &indices, None)?;
        }
        Ok(RecordBatch::try_new(self.schema.clone(), out)?)
    }

    /// Part 0: the pending rows; part 1 and on: the windows' rows (the sliding snapshot).
    pub(crate) fn snapshot(&mut self) -> Result<Vec<(usize, RecordBatch)>> {
        let mut parts: Vec<(usize, RecordBatch)> = self
            .pending
            .snapshot()?
            .into_iter()
            .map(|b| (0, b))
            .collect();
        parts.extend(self.sliding.snapshot()?.into_iter().map(|b| (1, b)));
        Ok(parts)
    }

    pub(crate) fn restore(&mut self, part: usize, batch: &RecordBatch) -> Result<()> {
        if part == 0 {
            self.pending.restore(batch)
        } else {
            self.sliding.restore(batch)
        }
    }
}
