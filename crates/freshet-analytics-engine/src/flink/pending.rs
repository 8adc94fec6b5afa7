//! Rows waiting for the watermark: operators that must see rows in time order (sessions, OVER
//! windows) keep each row until the watermark has passed its time, when no earlier row can
//! still come. Rows already behind the watermark when they arrive are late.

use datafusion_common::Result;
use datafusion_common::arrow::array::{BooleanArray, RecordBatch};
use datafusion_common::arrow::compute::{concat_batches, filter_record_batch, not};

use super::window::timestamps;

pub(crate) struct Pending {
    /// The column holding each row's time.
    time: usize,
    batches: Vec<RecordBatch>,
    /// The earliest time among the rows (i64::MAX without rows): nothing is ready before the
    /// watermark reaches it, so most watermarks cost nothing.
    earliest: i64,
}

impl Pending {
    pub(crate) fn new(time: usize) -> Pending {
        Pending {
            time,
            batches: Vec::new(),
            earliest: i64::MAX,
        }
    }

    /// Keeps the rows of `batch` the watermark has not passed; answers how many were late.
    pub(crate) fn push(&mut self, batch: &RecordBatch, watermark: i64) -> Result<u64> {
        let times = timestamps(batch.column(self.time))?;
        let on_time: BooleanArray = times
            .iter()
            .map(|t| Some(t.is_some_and(|t| t > watermark)))
            .collect();
        let late = (batch.num_rows() - on_time.true_count()) as u64;
        let kept = filter_record_batch(batch, &on_time)?;
        if kept.num_rows() > 0 {
            let times = timestamps(kept.column(self.time))?;
            if let Some(min) = datafusion_common::arrow::compute::min(times) {
                self.earliest = self.earliest.min(min);
            }
            self.batches.push(kept);
        }
        Ok(late)
    }

    /// The rows at or before the watermark (in no order), taken out.
    pub(crate) fn take_ready(&mut self, watermark: i64) -> Result<Option<RecordBatch>> {
        if self.batches.is_empty() || self.earliest > watermark {
            return Ok(None);
        }
        let all = concat_batches(&self.batches[0].schema(), &self.batches)?;
        self.batches.clear();
        self.earliest = i64::MAX;
        let times = timestamps(all.column(self.time))?;
        let ready: BooleanArray = times
            .iter()
            .map(|t| Some(t.is_some_and(|t| t <= watermark)))
            .collect();
        if ready.true_count() < all.num_rows() {
            let rest = filter_record_batch(&all, &not(&ready)?)?;
            if let Some(min) =
                datafusion_common::arrow::compute::min(timestamps(rest.column(self.time))?)
            {
                self.earliest = min;
            }
            self.batches.push(rest);
        }
        Ok((ready.true_count() > 0)
            .then(|| filter_record_batch(&all, &ready))
            .transpose()?)
    }

    /// The waiting rows as one batch (kept, for a snapshot).
    pub(crate) fn snapshot(&mut self) -> Result<Option<RecordBatch>> {
        if self.batches.is_empty() {
            return Ok(None);
        }
        let all = concat_batches(&self.batches[0].schema(), &self.batches)?;
        self.batches = vec![all.clone()];
        Ok(Some(all))
    }

    pub(crate) fn restore(&mut self, batch: &RecordBatch) -> Result<()> {
        self.push(batch, i64::MIN).map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::TIMESTAMP;
    use datafusion_common::arrow::array::TimestampMillisecondArray;
    use datafusion_common::arrow::datatypes::{Field, Schema};
    use std::sync::Arc;

    #[test]
    fn rows_wait_for_the_watermark_and_late_ones_are_counted() {
        let batch = |t: Vec<i64>| {
            RecordBatch::try_new(
                Arc::new(Schema::new(vec![Field::new("t", TIMESTAMP, true)])),
                vec![Arc::new(TimestampMillisecondArray::from(t))],
            )
            .expect("batch")
        };
        let mut pending = Pending::new(0);
        assert_eq!(pending.push(&batch(vec![5, 1, 9]), 2).expect("push"), 1);
        assert!(pending.take_ready(4).expect("take").is_none());
        let ready = pending.take_ready(5).expect("take").expect("rows");
        assert_eq!(ready.num_rows(), 1);
        let ready = pending.take_ready(100).expect("take").expect("rows");
        assert_eq!(timestamps(ready.column(0)).expect("times").value(0), 9);
        assert!(pending.take_ready(200).expect("take").is_none());
    }
}
