//! The `datagen` connector: rows made up at `rows-per-second`, `number-of-rows` in all when
//! bounded, each column random (within `fields.<c>.min`/`max`, strings of
//! `fields.<c>.length`) or a sequence (`fields.<c>.kind = 'sequence'`, `start` to `end`).

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion_common::arrow::array::{
    ArrayRef, BooleanArray, Float32Array, Float64Array, Int8Array, Int16Array, Int32Array,
    Int64Array, RecordBatch, StringArray, TimestampMillisecondArray,
};
use datafusion_common::arrow::datatypes::{DataType, SchemaRef};

use super::connector::FieldGen;

pub(crate) struct Datagen {
    schema: SchemaRef,
    fields: Vec<FieldGen>,
    rows_per_second: u64,
    limit: Option<u64>,
    /// Rows made so far.
    made: u64,
    /// When the first rows were asked for.
    started: Option<i64>,
    state: u64,
}

impl Datagen {
    pub(crate) fn new(
        schema: SchemaRef,
        options: &BTreeMap<String, FieldGen>,
        rows_per_second: u64,
        limit: Option<u64>,
    ) -> Result<Datagen, String> {
        let mut fields = Vec::new();
        for field in schema.fields() {
            let generator = options.get(field.name()).cloned().unwrap_or(FieldGen {
                sequence: None,
                min: None,
                max: None,
                length: 100,
                null_rate: 0.0,
            });
            if generator.sequence.is_some()
                && !matches!(
                    field.data_type(),
                    DataType::Int8
                        | DataType::Int16
                        | DataType::Int32
                        | DataType::Int64
                        | DataType::Utf8
                )
            {
                return Err(format!(
                    "a sequence generator makes numbers or strings, not {}",
                    field.data_type()
                ));
            }
            fields.push(generator);
        }
        // A bounded sequence bounds the rows, as in Flink.
        let sequence_limit = fields
            .iter()
            .filter_map(|f| f.sequence)
            .map(|(s, e)| (e - s + 1).max(0) as u64)
            .min();
        let limit = match (limit, sequence_limit) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        Ok(Datagen {
            schema,
            fields,
            rows_per_second: rows_per_second.max(1),
            limit,
            made: 0,
            started: None,
            state: 0x9E37_79B9_7F4A_7C15,
        })
    }

    /// Whether every row has been made.
    pub(crate) fn done(&self) -> bool {
        self.limit.is_some_and(|l| self.made >= l)
    }

    /// The rows due by `now_ms` (at most `max`), or None when none are.
    pub(crate) fn generate(&mut self, now_ms: i64, max: usize) -> Option<RecordBatch> {
        let started = *self.started.get_or_insert(now_ms);
        let due = ((now_ms - started).max(0) as u64 + 1000) * self.rows_per_second / 1000;
        let due = self.limit.map_or(due, |l| due.min(l));
        let n = due.saturating_sub(self.made).min(max as u64) as usize;
        if n == 0 {
            return None;
        }
        let first = self.made;
        self.made += n as u64;
        let columns: Vec<ArrayRef> = (0..self.fields.len())
            .map(|i| self.column(i, first, n, now_ms))
            .collect();
        RecordBatch::try_new(self.schema.clone(), columns).ok()
    }

    fn next(&mut self) -> u64 {
        // xorshift64*: fast, and good enough for made-up rows.
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        self.state.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn column(&mut self, i: usize, first: u64, n: usize, now_ms: i64) -> ArrayRef {
        let generator = self.fields[i].clone();
        let data_type = self.schema.field(i).data_type().clone();
        let mut nulls = Vec::with_capacity(n);
        for _ in 0..n {
            nulls.push(generator.null_rate > 0.0 && self.unit() < generator.null_rate);
        }
        let ints = |this: &mut Datagen, lo: f64, hi: f64| -> Vec<Option<i64>> {
            (0..n)
                .map(|k| {
                    if nulls[k] {
                        return None;
                    }
                    Some(match generator.sequence {
                        Some((start, _)) => start + (first + k as u64) as i64,
                        None => {
                            let lo = generator.min.unwrap_or(lo);
                            let hi = generator.max.unwrap_or(hi);
                            (lo + this.unit() * (hi - lo + 1.0)).floor().min(hi) as i64
                        }
                    })
                })
                .collect()
        };
        match data_type {
            DataType::Int8 => Arc::new(Int8Array::from_iter(
                ints(self, i8::MIN as f64, i8::MAX as f64)
                    .into_iter()
                    .map(|v| v.map(|v| v as i8)),
            )),
            DataType::Int16 => Arc::new(Int16Array::from_iter(
                ints(self, i16::MIN as f64, i16::MAX as f64)
                    .into_iter()
                    .map(|v| v.map(|v| v as i16)),
            )),
            DataType::Int32 => Arc::new(Int32Array::from_iter(
                ints(self, i32::MIN as f64, i32::MAX as f64)
                    .into_iter()
                    .map(|v| v.map(|v| v as i32)),
            )),
            DataType::Int64 => Arc::new(Int64Array::from(ints(self, -9.0e15, 9.0e15))),
            DataType::Float32 | DataType::Float64 => {
                let lo = generator.min.unwrap_or(f64::from(f32::MIN));
                let hi = generator.max.unwrap_or(f64::from(f32::MAX));
                let values: Vec<Option<f64>> = (0..n)
                    .map(|k| (!nulls[k]).then(|| lo + self.unit() * (hi - lo)))
                    .collect();
                if data_type == DataType::Float32 {
                    Arc::new(Float32Array::from_iter(
                        values.into_iter().map(|v| v.map(|v| v as f32)),
                    ))
                } else {
                    Arc::new(Float64Array::from(values))
                }
            }
            DataType::Boolean => Arc::new(BooleanArray::from_iter(
                (0..n).map(|k| (!nulls[k]).then(|| self.next() & 1 == 1)),
            )),
            DataType::Timestamp(..) => Arc::new(
                TimestampMillisecondArray::from_iter((0..n).map(|k| (!nulls[k]).then_some(now_ms)))
                    .with_data_type(data_type.clone()),
            ),
            DataType::Utf8 if generator.sequence.is_some() => Arc::new(StringArray::from_iter(
                ints(self, 0.0, 0.0)
                    .into_iter()
                    .map(|v| v.map(|v| v.to_string())),
            )),
            DataType::Utf8 => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                let values: Vec<Option<String>> = (0..n)
                    .map(|k| {
                        (!nulls[k]).then(|| {
                            (0..generator.length)
                                .map(|_| HEX[(self.next() & 15) as usize] as char)
                                .collect()
                        })
                    })
                    .collect();
                Arc::new(StringArray::from(values))
            }
            other => datafusion_common::arrow::array::new_null_array(&other, n),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion_common::arrow::array::AsArray;
    use datafusion_common::arrow::datatypes::{Field, Int64Type, Schema};

    #[test]
    fn rows_come_at_their_rate_and_stop_at_the_bound() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("v", DataType::Int32, true),
        ]));
        let mut options = BTreeMap::new();
        options.insert(
            "id".to_string(),
            FieldGen {
                sequence: Some((10, 1_000)),
                min: None,
                max: None,
                length: 1,
                null_rate: 0.0,
            },
        );
        options.insert(
            "v".to_string(),
            FieldGen {
                sequence: None,
                min: Some(1.0),
                max: Some(3.0),
                length: 1,
                null_rate: 0.0,
            },
        );
        let mut generator = Datagen::new(schema, &options, 100, Some(250)).expect("valid");
        let first = generator.generate(0, 10_000).expect("rows");
        assert_eq!(first.num_rows(), 100);
        let ids = first.column(0).as_primitive::<Int64Type>();
        assert_eq!((ids.value(0), ids.value(99)), (10, 109));
        let v = first
            .column(1)
            .as_primitive::<datafusion_common::arrow::datatypes::Int32Type>();
        assert!(v.values().iter().all(|v| (1..=3).contains(v)));
        assert!(
            generator
                .generate(500, 10_000)
                .is_some_and(|b| b.num_rows() == 50)
        );
        assert!(
            generator
                .generate(5_000, 10_000)
                .is_some_and(|b| b.num_rows() == 100)
        );
        assert!(generator.done());
        assert!(generator.generate(9_000, 10_000).is_none());
    }
}
