//! `RANDOM_CUT_FOREST` and `RANDOM_CUT_FOREST_WITH_EXPLANATION`: every row of the cursor comes
//! out with an anomaly score (and, for the second, a per-column explanation of it) from a random
//! cut forest over the row's numeric columns. The readers of numeric columns and of the literal
//! arguments live here too; `HOTSPOTS` uses them.
//!
//! KDA SQL Reference:
//! <https://docs.aws.amazon.com/kinesisanalytics/latest/sqlref/sqlrf-random-cut-forest.html>,
//! <https://docs.aws.amazon.com/kinesisanalytics/latest/sqlref/sqlrf-random-cut-forest-with-explanation.html>;
//! the Developer Guide's "Detecting Data Anomalies and Getting an Explanation" shows the
//! explanation's JSON as the service writes it.

use std::ops::RangeInclusive;
use std::sync::Arc;

use datafusion_common::arrow::array::{
    Array, ArrayRef, AsArray, Float64Array, Float64Builder, RecordBatch, StringBuilder,
};
use datafusion_common::arrow::compute::cast;
use datafusion_common::arrow::datatypes::{DataType, Field, Float64Type, Schema, SchemaRef};
use datafusion_common::{DataFusionError, Result, ScalarValue};
use rcflib::common::divector::DiVector;
use rcflib::rcf::{AugmentedRCF, RCFBuilder, RCFLarge, RCFOptionsBuilder};
use serde::{Deserialize, Serialize};

use super::{Planned, TableFunction};

/// The forest's seed: a fixed one, so the same rows give the same scores run after run (a
/// replay after a restart, a test).
const SEED: u64 = 0x4652_4553_4845_5421;

/// The first byte of a snapshot: the layout of what follows (CBOR of [`State`]).
const SNAPSHOT_FORMAT: u8 = 1;

const NUMBER_OF_TREES: RangeInclusive<i64> = 1..=1000;
const SUB_SAMPLE_SIZE: RangeInclusive<i64> = 10..=1000;
const TIME_DECAY: RangeInclusive<i64> = 1..=2_147_483_647;
const SHINGLE_SIZE: RangeInclusive<i64> = 1..=30;

/// `RANDOM_CUT_FOREST(cursor [, numberOfTrees [, subSampleSize [, timeDecay [, shingleSize]]]])`:
/// the cursor's rows with `ANOMALY_SCORE DOUBLE` added.
pub(super) fn random_cut_forest(
    input: &SchemaRef,
    args: &[ScalarValue],
) -> Result<Planned, String> {
    plan("RANDOM_CUT_FOREST", input, args, false)
}

/// `RANDOM_CUT_FOREST_WITH_EXPLANATION(cursor [, numberOfTrees [, subSampleSize [, timeDecay
/// [, shingleSize [, withDirectionality]]]]])`: the cursor's rows with `ANOMALY_SCORE DOUBLE` and
/// `ANOMALY_EXPLANATION VARCHAR` added.
pub(super) fn random_cut_forest_with_explanation(
    input: &SchemaRef,
    args: &[ScalarValue],
) -> Result<Planned, String> {
    plan("RANDOM_CUT_FOREST_WITH_EXPLANATION", input, args, true)
}

fn plan(
    function: &'static str,
    input: &SchemaRef,
    args: &[ScalarValue],
    explain: bool,
) -> Result<Planned, String> {
    let names: &[&str] = if explain {
        &[
            "numberOfTrees",
            "subSampleSize",
            "timeDecay",
            "shingleSize",
            "withDirectionality",
        ]
    } else {
        &["numberOfTrees", "subSampleSize", "timeDecay", "shingleSize"]
    };
    let args = Args::new(function, args, names)?;
    // Defaults and ranges are the reference's; a call may stop after any argument.
    let number_of_trees = args.integer(0, NUMBER_OF_TREES, Some(100))?;
    let sub_sample_size = args.integer(1, SUB_SAMPLE_SIZE, Some(256))?;
    let time_decay = args.integer(2, TIME_DECAY, Some(100_000))?;
    let shingle_size = args.integer(3, SHINGLE_SIZE, Some(1))?;
    if sub_sample_size >= time_decay {
        return Err(format!(
            "{function}: subSampleSize ({sub_sample_size}) must be less than timeDecay ({time_decay})"
        ));
    }
    let columns = numeric_columns(function, input)?;
    let explanation = if explain {
        let with_directionality = args.boolean(4, false)?;
        let keys = columns
            .iter()
            .map(|&c| json_string(input.field(c).name()))
            .collect();
        Some(Explanation {
            keys,
            with_directionality,
        })
    } else {
        None
    };
    let params = ForestParams {
        number_of_trees: to_usize(number_of_trees),
        sub_sample_size: to_usize(sub_sample_size),
        time_decay: to_usize(time_decay),
        shingle_size: to_usize(shingle_size),
        dimensions: columns.len(),
    };
    let mut added = vec![Field::new("ANOMALY_SCORE", DataType::Float64, true)];
    if explain {
        added.push(Field::new("ANOMALY_EXPLANATION", DataType::Utf8, true));
    }
    let schema = output_schema(function, input, added)?;
    let forest = build_forest(&params).map_err(|e| format!("{function}: {e}"))?;
    Ok(Planned {
        function: Box::new(RandomCutForest {
            function,
            params,
            columns,
            explanation,
            forest,
            schema: schema.clone(),
        }),
        schema,
    })
}

/// What fixes a forest's shape; a snapshot only fits a function with the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct ForestParams {
    number_of_trees: usize,
    sub_sample_size: usize,
    time_decay: usize,
    shingle_size: usize,
    /// Numeric columns of the cursor.
    dimensions: usize,
}

fn build_forest(params: &ForestParams) -> Result<RCFLarge<u64, u64>, rcflib::errors::RCFError> {
    let mut builder = RCFBuilder::new(params.dimensions, params.shingle_size);
    builder
        .number_of_trees(params.number_of_trees)
        .tree_capacity(params.sub_sample_size)
        // timeDecay counts the records whose weight matters; RCF's lambda is the rate at which a
        // record's weight decays per record, so one over that count.
        .time_decay(1.0 / params.time_decay as f64)
        // The reference: zero "for the first subSampleSize records while the model is trained".
        .output_after(params.sub_sample_size)
        .random_seed(SEED)
        // An application's pumps run on one thread; rayon's pool would only add hand-offs.
        .parallel_enabled(false);
    builder.build_large_simple::<u64>()
}

struct Explanation {
    /// The numeric columns' names as JSON strings, the explanation's keys.
    keys: Vec<String>,
    with_directionality: bool,
}

impl Explanation {
    /// `{"col":{"DIRECTION":..,"STRENGTH":..,"ATTRIBUTION_SCORE":..},..}` with numbers as
    /// four-decimal strings, as the Developer Guide's sample output has them (the reference's
    /// prose speaks of directionality; the service's key is DIRECTION); DIRECTION and STRENGTH
    /// only when asked for. `attribution` is None while the model learns: the reference
    /// has the scores and STRENGTH at 0 and DIRECTION at LOW then.
    fn write(&self, attribution: Option<&DiVector>, score: f64, out: &mut String) {
        let dims = self.keys.len();
        out.push('{');
        for (column, key) in self.keys.iter().enumerate() {
            // A shingle holds `shingleSize` rows of the columns side by side, oldest first; a
            // column's share is its share summed over them, so the shares still add up to the
            // score.
            let (high, low) = attribution.map_or((0.0, 0.0), |a| {
                let high = a.high.iter().skip(column).step_by(dims).sum::<f64>();
                let low = a.low.iter().skip(column).step_by(dims).sum::<f64>();
                (high, low)
            });
            if column > 0 {
                out.push(',');
            }
            out.push_str(key);
            out.push_str(":{");
            if self.with_directionality {
                let direction = if high > low { "HIGH" } else { "LOW" };
                let strength = strength(high, low, score, dims);
                out.push_str(&format!(
                    "\"DIRECTION\":\"{direction}\",\"STRENGTH\":\"{strength:.4}\","
                ));
            }
            out.push_str(&format!("\"ATTRIBUTION_SCORE\":\"{:.4}\"}}", high + low));
        }
        out.push('}');
    }
}

/// The reference defines STRENGTH only as a non-negative confidence in DIRECTION, 0 while the
/// model learns. We take how lopsided the column's attribution is, |ln(high / low)|: 0 when the
/// column's value is as often above the sampled points' boxes as below them, growing as one side
/// takes all of it (the Developer Guide's 7.0982 for a far-off diastolic reading is that order).
/// The smoothing term, a thousandth of an even share of the score, keeps a column whose
/// attribution is entirely on one side finite.
fn strength(high: f64, low: f64, score: f64, dims: usize) -> f64 {
    let smoothing = score / (1000.0 * dims as f64);
    if smoothing > 0.0 {
        ((high + smoothing) / (low + smoothing)).ln().abs()
    } else {
        0.0
    }
}

struct RandomCutForest {
    function: &'static str,
    params: ForestParams,
    /// The cursor's numeric columns, the forest's dimensions in order.
    columns: Vec<usize>,
    explanation: Option<Explanation>,
    forest: RCFLarge<u64, u64>,
    schema: SchemaRef,
}

impl RandomCutForest {
    fn error(&self, e: impl std::fmt::Display) -> DataFusionError {
        DataFusionError::Execution(format!("{}: {e}", self.function))
    }
}

impl TableFunction for RandomCutForest {
    fn process(&mut self, batch: &RecordBatch, out: &mut Vec<RecordBatch>) -> Result<()> {
        let rows = batch.num_rows();
        if rows == 0 {
            return Ok(());
        }
        let values = numeric_values(batch, &self.columns)?;
        let mut scores = Float64Builder::with_capacity(rows);
        let mut explanations = self
            .explanation
            .as_ref()
            .map(|e| StringBuilder::with_capacity(rows, rows * 48 * e.keys.len()));
        let mut point = Vec::with_capacity(self.columns.len());
        let mut text = String::new();
        for row in 0..rows {
            if !read_point(&values, row, &mut point) {
                scores.append_null();
                if let Some(explanations) = &mut explanations {
                    explanations.append_null();
                }
                continue;
            }
            let point: Vec<f32> = point.iter().map(|&v| v as f32).collect();
            // Past f32's range a value is as missing as a NULL: the forest keeps f32 points.
            if point.iter().any(|v| !v.is_finite()) {
                scores.append_null();
                if let Some(explanations) = &mut explanations {
                    explanations.append_null();
                }
                continue;
            }
            let learning = self.forest.entries_seen() < self.params.sub_sample_size as u64;
            // Each row is scored against the rows before it, then learned from (as KDA does).
            let score = match (&self.explanation, &mut explanations) {
                (Some(explanation), Some(explanations)) => {
                    text.clear();
                    let score = if learning {
                        explanation.write(None, 0.0, &mut text);
                        0.0
                    } else {
                        let attribution =
                            self.forest.attribution(&point).map_err(|e| self.error(e))?;
                        // RCF splits the score among the dimensions exactly, so the attribution's
                        // total is the score (the reference: the columns' scores add up to it).
                        let score = attribution.high.iter().sum::<f64>()
                            + attribution.low.iter().sum::<f64>();
                        explanation.write(Some(&attribution), score, &mut text);
                        score
                    };
                    explanations.append_value(&text);
                    score
                }
                _ if learning => 0.0,
                _ => self.forest.score(&point).map_err(|e| self.error(e))?,
            };
            scores.append_value(score);
            self.forest.update(&point, 0).map_err(|e| self.error(e))?;
        }
        let mut columns = batch.columns().to_vec();
        columns.push(Arc::new(scores.finish()) as ArrayRef);
        if let Some(mut explanations) = explanations {
            columns.push(Arc::new(explanations.finish()));
        }
        out.push(RecordBatch::try_new(self.schema.clone(), columns)?);
        Ok(())
    }

    fn snapshot(&mut self) -> Result<Vec<u8>> {
        let mut bytes = vec![SNAPSHOT_FORMAT];
        ciborium::into_writer(
            &StateRef {
                params: &self.params,
                forest: &self.forest,
            },
            &mut bytes,
        )
        .map_err(|e| self.error(format!("snapshot: {e}")))?;
        Ok(bytes)
    }

    fn restore(&mut self, state: &[u8]) -> Result<()> {
        let Some((&SNAPSHOT_FORMAT, body)) = state.split_first() else {
            return Err(self.error("unreadable snapshot: unknown format"));
        };
        let state: State = ciborium::from_reader(body)
            .map_err(|e| self.error(format!("unreadable snapshot: {e}")))?;
        if state.params != self.params {
            return Err(self.error(format!(
                "the snapshot's forest ({:?}) does not fit this one ({:?})",
                state.params, self.params
            )));
        }
        self.forest = state.forest;
        Ok(())
    }
}

/// What a snapshot holds; the forest carries its samples, trees, random state and counters.
#[derive(Serialize)]
struct StateRef<'a> {
    params: &'a ForestParams,
    forest: &'a RCFLarge<u64, u64>,
}

#[derive(Deserialize)]
struct State {
    params: ForestParams,
    forest: RCFLarge<u64, u64>,
}

/// The literal arguments after a table function's cursor, read by position against the
/// reference's ranges; a bad one is a planning error naming the parameter and its range.
pub(super) struct Args<'a> {
    function: &'static str,
    values: &'a [ScalarValue],
    names: &'a [&'a str],
}

impl<'a> Args<'a> {
    pub(super) fn new(
        function: &'static str,
        values: &'a [ScalarValue],
        names: &'a [&'a str],
    ) -> Result<Self, String> {
        if values.len() > names.len() {
            return Err(format!(
                "{function} takes at most {} arguments after the cursor ({}), not {}",
                names.len(),
                names.join(", "),
                values.len()
            ));
        }
        Ok(Args {
            function,
            values,
            names,
        })
    }

    fn name(&self, position: usize) -> &str {
        self.names.get(position).copied().unwrap_or("?")
    }

    /// The integer at `position`, inside `range`; `default` where the call ends before it (None:
    /// the argument is required).
    pub(super) fn integer(
        &self,
        position: usize,
        range: RangeInclusive<i64>,
        default: Option<i64>,
    ) -> Result<i64, String> {
        let expected = || {
            format!(
                "{}: {} must be an integer from {} to {}",
                self.function,
                self.name(position),
                range.start(),
                range.end()
            )
        };
        let Some(value) = self.values.get(position) else {
            return default.ok_or_else(expected);
        };
        match number(value) {
            Some(v)
                if v.fract() == 0.0 && v >= *range.start() as f64 && v <= *range.end() as f64 =>
            {
                Ok(v as i64)
            }
            _ => Err(format!("{}, not {value}", expected())),
        }
    }

    /// The number at `position`, greater than zero; `default` as for [`Args::integer`].
    pub(super) fn positive(&self, position: usize, default: Option<f64>) -> Result<f64, String> {
        let expected = || {
            format!(
                "{}: {} must be a number greater than 0",
                self.function,
                self.name(position)
            )
        };
        let Some(value) = self.values.get(position) else {
            return default.ok_or_else(expected);
        };
        match number(value) {
            Some(v) if v > 0.0 && v.is_finite() => Ok(v),
            _ => Err(format!("{}, not {value}", expected())),
        }
    }

    /// The BOOLEAN at `position`, or `default` where the call ends before it.
    pub(super) fn boolean(&self, position: usize, default: bool) -> Result<bool, String> {
        match self.values.get(position) {
            None => Ok(default),
            Some(ScalarValue::Boolean(Some(b))) => Ok(*b),
            Some(value) => Err(format!(
                "{}: {} must be TRUE or FALSE, not {value}",
                self.function,
                self.name(position)
            )),
        }
    }
}

/// A numeric literal's value: integers come as Int64, decimals like 0.013 as Float64 or
/// Decimal128, depending on how the planner typed them.
fn number(value: &ScalarValue) -> Option<f64> {
    Some(match value {
        ScalarValue::Int8(Some(v)) => f64::from(*v),
        ScalarValue::Int16(Some(v)) => f64::from(*v),
        ScalarValue::Int32(Some(v)) => f64::from(*v),
        ScalarValue::Int64(Some(v)) => *v as f64,
        ScalarValue::UInt8(Some(v)) => f64::from(*v),
        ScalarValue::UInt16(Some(v)) => f64::from(*v),
        ScalarValue::UInt32(Some(v)) => f64::from(*v),
        ScalarValue::UInt64(Some(v)) => *v as f64,
        ScalarValue::Float32(Some(v)) => f64::from(*v),
        ScalarValue::Float64(Some(v)) => *v,
        ScalarValue::Decimal128(Some(v), _, scale) => *v as f64 / 10f64.powi(i32::from(*scale)),
        _ => return None,
    })
}

/// The columns these functions read: KDA's numeric types as the engine maps them (TINYINT,
/// SMALLINT, INTEGER, BIGINT, REAL, FLOAT/DOUBLE). The reference lists DECIMAL as unsupported
/// ("use DOUBLE instead"), so a DECIMAL column passes through unread, as a VARCHAR one does.
/// ROWTIME (column 0) is the row's time, not a measurement.
pub(super) fn numeric_columns(function: &str, input: &Schema) -> Result<Vec<usize>, String> {
    let columns: Vec<usize> = input
        .fields()
        .iter()
        .enumerate()
        .skip(1)
        .filter(|(_, f)| {
            matches!(
                f.data_type(),
                DataType::Int8
                    | DataType::Int16
                    | DataType::Int32
                    | DataType::Int64
                    | DataType::Float32
                    | DataType::Float64
            )
        })
        .map(|(i, _)| i)
        .collect();
    if columns.is_empty() {
        return Err(format!(
            "{function} needs a numeric column (DOUBLE, INTEGER, FLOAT, TINYINT, SMALLINT, REAL \
             or BIGINT) in its cursor"
        ));
    }
    Ok(columns)
}

/// The numeric `columns` of `batch` as DOUBLE, in order.
pub(super) fn numeric_values(batch: &RecordBatch, columns: &[usize]) -> Result<Vec<Float64Array>> {
    columns
        .iter()
        .map(|&c| {
            let column = batch.columns().get(c).ok_or_else(|| {
                DataFusionError::Internal(format!("the cursor's batch has no column {c}"))
            })?;
            Ok(cast(column, &DataType::Float64)?
                .as_primitive::<Float64Type>()
                .clone())
        })
        .collect()
}

/// Row `row` of `values` into `point`; false where one of them is NULL or not finite. Such a row
/// is neither scored nor learned from: the reference gives no meaning to a missing measurement,
/// and one bad value would pull every later score.
pub(super) fn read_point(values: &[Float64Array], row: usize, point: &mut Vec<f64>) -> bool {
    point.clear();
    for column in values {
        if column.is_null(row) || !column.value(row).is_finite() {
            return false;
        }
        point.push(column.value(row));
    }
    true
}

/// ROWTIME, the cursor's columns, then `added`; a cursor that already has one of the added
/// names is refused, since the output would hold two columns of that name.
pub(super) fn output_schema(
    function: &str,
    input: &Schema,
    added: Vec<Field>,
) -> Result<SchemaRef, String> {
    if let Some(field) = added
        .iter()
        .find(|a| input.fields().iter().any(|f| f.name() == a.name()))
    {
        return Err(format!(
            "{function}: the cursor already has a column named {}",
            field.name()
        ));
    }
    let fields: Vec<Arc<Field>> = input
        .fields()
        .iter()
        .cloned()
        .chain(added.into_iter().map(Arc::new))
        .collect();
    Ok(Arc::new(Schema::new(fields)))
}

/// A column name as a JSON string literal.
fn json_string(name: &str) -> String {
    serde_json::Value::from(name).to_string()
}

/// The ranges above keep every argument far below usize::MAX.
fn to_usize(v: i64) -> usize {
    usize::try_from(v).unwrap_or(usize::MAX)
}

#[cfg(test)]
pub(super) mod tests {
    use datafusion_common::arrow::array::{Int32Array, StringArray, TimestampMillisecondArray};
    use datafusion_common::arrow::datatypes::TimeUnit;

    use super::super::make;
    use super::*;

    /// SplitMix64: reproducible test data without a dependency.
    pub(in crate::function) struct Rng(u64);

    impl Rng {
        pub(in crate::function) fn new(seed: u64) -> Self {
            Rng(seed)
        }

        /// Uniform in [0, 1).
        pub(in crate::function) fn uniform(&mut self) -> f64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            (z >> 11) as f64 / (1u64 << 53) as f64
        }

        /// Standard normal (Box-Muller).
        pub(in crate::function) fn normal(&mut self) -> f64 {
            let u = 1.0 - self.uniform();
            let v = self.uniform();
            (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
        }
    }

    /// A cursor of ROWTIME, "x" DOUBLE, "y" INTEGER and "note" VARCHAR (which the functions
    /// must carry through unread).
    pub(in crate::function) fn cursor() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new(
                "ROWTIME",
                DataType::Timestamp(TimeUnit::Millisecond, None),
                false,
            ),
            Field::new("x", DataType::Float64, true),
            Field::new("y", DataType::Int32, true),
            Field::new("note", DataType::Utf8, true),
        ]))
    }

    /// Rows of the cursor, ROWTIME counting from `first`; None is a NULL x.
    pub(in crate::function) fn rows(points: &[(Option<f64>, i32)], first: i64) -> RecordBatch {
        let n = points.len() as i64;
        RecordBatch::try_new(
            cursor(),
            vec![
                Arc::new(TimestampMillisecondArray::from_iter_values(
                    first..first + n,
                )),
                Arc::new(points.iter().map(|p| p.0).collect::<Float64Array>()),
                Arc::new(points.iter().map(|p| p.1).collect::<Int32Array>()),
                Arc::new(StringArray::from_iter_values(
                    (first..first + n).map(|i| format!("row {i}")),
                )),
            ],
        )
        .expect("a batch of the cursor's schema")
    }

    /// x ~ N(0, 1), y ~ round(N(50, 5)).
    fn normal_rows(rng: &mut Rng, n: usize) -> Vec<(Option<f64>, i32)> {
        (0..n)
            .map(|_| {
                (
                    Some(rng.normal()),
                    (50.0 + 5.0 * rng.normal()).round() as i32,
                )
            })
            .collect()
    }

    fn run(function: &mut Box<dyn TableFunction>, batch: &RecordBatch) -> RecordBatch {
        let mut out = Vec::new();
        function.process(batch, &mut out).expect("processed");
        assert_eq!(out.len(), 1);
        out.remove(0)
    }

    fn scores(batch: &RecordBatch) -> Vec<Option<f64>> {
        let column = batch
            .column_by_name("ANOMALY_SCORE")
            .expect("ANOMALY_SCORE")
            .as_primitive::<Float64Type>();
        column.iter().collect()
    }

    fn explanations(batch: &RecordBatch) -> Vec<Option<String>> {
        batch
            .column_by_name("ANOMALY_EXPLANATION")
            .expect("ANOMALY_EXPLANATION")
            .as_string::<i32>()
            .iter()
            .map(|s| s.map(str::to_owned))
            .collect()
    }

    fn plan(name: &str, args: &[ScalarValue]) -> Result<Planned, String> {
        make(name, &cursor(), args).map(|p| p.expect("a known table function"))
    }

    fn int(v: i64) -> ScalarValue {
        ScalarValue::Int64(Some(v))
    }

    #[test]
    fn an_outlier_scores_far_above_normal_rows_after_zeros_while_learning() {
        let planned = plan("RANDOM_CUT_FOREST", &[]).expect("defaults");
        let names: Vec<_> = planned
            .schema
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        assert_eq!(names, ["ROWTIME", "x", "y", "note", "ANOMALY_SCORE"]);
        let mut function = planned.function;
        let mut rng = Rng::new(7);
        let mut all = Vec::new();
        for chunk in 0..20 {
            let batch = rows(&normal_rows(&mut rng, 100), chunk * 100);
            let out = run(&mut function, &batch);
            // The cursor's columns come through untouched.
            for c in 0..4 {
                assert_eq!(out.column(c), batch.column(c));
            }
            all.extend(scores(&out));
        }
        let all: Vec<f64> = all.into_iter().map(|s| s.expect("a score")).collect();
        // The default subSampleSize is 256: that many zeros while the forest fills.
        assert!(all[..256].iter().all(|&s| s == 0.0));
        assert!(all[256..].iter().all(|&s| s > 0.0));
        let recent = &all[1500..];
        let mean = recent.iter().sum::<f64>() / recent.len() as f64;
        let max = recent.iter().copied().fold(0.0, f64::max);

        let outlier = run(&mut function, &rows(&[(Some(6.0), 20)], 5000));
        let outlier = scores(&outlier)[0].expect("a score");
        assert!(
            outlier > 2.5 * mean && outlier > max,
            "outlier {outlier}, normal mean {mean}, normal max {max}"
        );
    }

    fn explanation(text: &str) -> serde_json::Map<String, serde_json::Value> {
        match serde_json::from_str(text) {
            Ok(serde_json::Value::Object(map)) => map,
            other => panic!("not a JSON object: {text} ({other:?})"),
        }
    }

    fn field<'a>(
        map: &'a serde_json::Map<String, serde_json::Value>,
        column: &str,
        name: &str,
    ) -> &'a str {
        map[column][name]
            .as_str()
            .unwrap_or_else(|| panic!("{column}.{name} in {map:?}"))
    }

    fn number_field(
        map: &serde_json::Map<String, serde_json::Value>,
        column: &str,
        name: &str,
    ) -> f64 {
        field(map, column, name)
            .parse()
            .expect("a number in a string")
    }

    #[test]
    fn the_explanation_names_the_numeric_columns_and_the_direction_of_an_anomaly() {
        let planned = plan(
            "RANDOM_CUT_FOREST_WITH_EXPLANATION",
            &[
                int(100),
                int(256),
                int(100_000),
                int(1),
                ScalarValue::Boolean(Some(true)),
            ],
        )
        .expect("valid arguments");
        let names: Vec<_> = planned
            .schema
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        assert_eq!(
            names,
            [
                "ROWTIME",
                "x",
                "y",
                "note",
                "ANOMALY_SCORE",
                "ANOMALY_EXPLANATION"
            ]
        );
        let mut function = planned.function;
        let mut rng = Rng::new(11);
        let out = run(&mut function, &rows(&normal_rows(&mut rng, 2000), 0));
        let texts = explanations(&out);

        // While the forest learns: zeros, and DIRECTION LOW (the reference's default then).
        let first = explanation(texts[0].as_deref().expect("an explanation"));
        assert_eq!(first.keys().collect::<Vec<_>>(), ["x", "y"]);
        for column in ["x", "y"] {
            assert_eq!(field(&first, column, "DIRECTION"), "LOW");
            assert_eq!(field(&first, column, "STRENGTH"), "0.0000");
            assert_eq!(field(&first, column, "ATTRIBUTION_SCORE"), "0.0000");
        }

        // x far above its range, then y far below its own.
        let out = run(
            &mut function,
            &rows(&[(Some(9.0), 50), (Some(0.0), 5)], 2000),
        );
        let texts = explanations(&out);
        let scores = scores(&out);
        for (row, (column, other, direction)) in [("x", "y", "HIGH"), ("y", "x", "LOW")]
            .into_iter()
            .enumerate()
        {
            let text = texts[row].as_deref().expect("an explanation");
            let map = explanation(text);
            assert_eq!(map.keys().collect::<Vec<_>>(), ["x", "y"], "{text}");
            assert_eq!(field(&map, column, "DIRECTION"), direction, "{text}");
            let own = number_field(&map, column, "ATTRIBUTION_SCORE");
            let rest = number_field(&map, other, "ATTRIBUTION_SCORE");
            assert!(own > 3.0 * rest, "{text}");
            assert!(number_field(&map, column, "STRENGTH") > 2.0, "{text}");
            // The columns' attributions add up to the score (up to the four-decimal rounding).
            let score = scores[row].expect("a score");
            assert!((own + rest - score).abs() < 1e-3, "{text} vs {score}");
        }
    }

    #[test]
    fn without_directionality_the_explanation_has_attribution_scores_only() {
        let mut function = plan("RANDOM_CUT_FOREST_WITH_EXPLANATION", &[int(20), int(32)])
            .expect("valid arguments")
            .function;
        let mut rng = Rng::new(3);
        let out = run(&mut function, &rows(&normal_rows(&mut rng, 100), 0));
        let last = explanation(explanations(&out)[99].as_deref().expect("an explanation"));
        for column in ["x", "y"] {
            let fields = last[column].as_object().expect("an object");
            assert_eq!(fields.keys().collect::<Vec<_>>(), ["ATTRIBUTION_SCORE"]);
        }
    }

    #[test]
    fn a_row_with_a_null_measurement_gets_no_score_and_is_not_learned() {
        let mut function = plan("RANDOM_CUT_FOREST_WITH_EXPLANATION", &[int(10), int(10)])
            .expect("valid arguments")
            .function;
        let mut rng = Rng::new(5);
        let mut points = normal_rows(&mut rng, 40);
        points[20].0 = None;
        let out = run(&mut function, &rows(&points, 0));
        assert_eq!(scores(&out)[20], None);
        assert_eq!(explanations(&out)[20], None);
        // 10 learned rows end the learning phase: row 10 is the first scored, the NULL row
        // taking no part.
        assert_eq!(scores(&out)[9], Some(0.0));
        assert!(scores(&out)[10].is_some_and(|s| s > 0.0));
    }

    #[test]
    fn bad_arguments_are_refused_with_the_documented_range() {
        let cases: &[(&str, Vec<ScalarValue>, &str)] = &[
            (
                "RANDOM_CUT_FOREST",
                vec![int(0)],
                "numberOfTrees must be an integer from 1 to 1000, not 0",
            ),
            (
                "RANDOM_CUT_FOREST",
                vec![int(1001)],
                "numberOfTrees must be an integer from 1 to 1000",
            ),
            (
                "RANDOM_CUT_FOREST",
                vec![ScalarValue::Float64(Some(1.5))],
                "numberOfTrees must be an integer",
            ),
            (
                "RANDOM_CUT_FOREST",
                vec![ScalarValue::Utf8(Some("100".into()))],
                "numberOfTrees must be an integer",
            ),
            (
                "RANDOM_CUT_FOREST",
                vec![int(100), int(9)],
                "subSampleSize must be an integer from 10 to 1000, not 9",
            ),
            (
                "RANDOM_CUT_FOREST",
                vec![int(100), int(1001)],
                "subSampleSize must be an integer from 10 to 1000",
            ),
            (
                "RANDOM_CUT_FOREST",
                vec![int(100), int(256), int(0)],
                "timeDecay must be an integer from 1 to 2147483647, not 0",
            ),
            (
                "RANDOM_CUT_FOREST",
                vec![int(100), int(256), int(2_147_483_648)],
                "timeDecay must be an integer from 1 to 2147483647",
            ),
            (
                "RANDOM_CUT_FOREST",
                vec![int(100), int(256), int(256)],
                "subSampleSize (256) must be less than timeDecay (256)",
            ),
            (
                "RANDOM_CUT_FOREST",
                vec![int(100), int(256), int(100_000), int(0)],
                "shingleSize must be an integer from 1 to 30, not 0",
            ),
            (
                "RANDOM_CUT_FOREST",
                vec![int(100), int(256), int(100_000), int(31)],
                "shingleSize must be an integer from 1 to 30",
            ),
            (
                "RANDOM_CUT_FOREST",
                vec![
                    int(100),
                    int(256),
                    int(100_000),
                    int(1),
                    ScalarValue::Boolean(Some(true)),
                ],
                "RANDOM_CUT_FOREST takes at most 4 arguments",
            ),
            (
                "RANDOM_CUT_FOREST_WITH_EXPLANATION",
                vec![int(100), int(256), int(100_000), int(1), int(1)],
                "withDirectionality must be TRUE or FALSE",
            ),
            (
                "RANDOM_CUT_FOREST_WITH_EXPLANATION",
                vec![int(0)],
                "RANDOM_CUT_FOREST_WITH_EXPLANATION: numberOfTrees must be",
            ),
        ];
        for (name, args, expected) in cases {
            let error = plan(name, args)
                .err()
                .unwrap_or_else(|| panic!("{name}{args:?} accepted"));
            assert!(error.contains(expected), "{name}{args:?}: {error}");
        }
    }

    #[test]
    fn numeric_literals_of_any_type_are_read() {
        // 20 trees as a DECIMAL literal, 32 samples as a DOUBLE one.
        let planned = plan(
            "RANDOM_CUT_FOREST",
            &[
                ScalarValue::Decimal128(Some(200), 3, 1),
                ScalarValue::Float64(Some(32.0)),
            ],
        );
        assert!(planned.is_ok());
    }

    #[test]
    fn a_cursor_without_numbers_or_with_a_clashing_column_is_refused() {
        let text_only = Arc::new(Schema::new(vec![
            Field::new(
                "ROWTIME",
                DataType::Timestamp(TimeUnit::Millisecond, None),
                false,
            ),
            Field::new("note", DataType::Utf8, true),
            Field::new("price", DataType::Decimal128(10, 2), true),
        ]));
        let error = make("RANDOM_CUT_FOREST", &text_only, &[])
            .err()
            .expect("refused");
        assert!(error.contains("needs a numeric column"), "{error}");

        let scored = Arc::new(Schema::new(vec![
            Field::new(
                "ROWTIME",
                DataType::Timestamp(TimeUnit::Millisecond, None),
                false,
            ),
            Field::new("x", DataType::Float64, true),
            Field::new("ANOMALY_SCORE", DataType::Float64, true),
        ]));
        let error = make("RANDOM_CUT_FOREST", &scored, &[])
            .err()
            .expect("refused");
        assert!(
            error.contains("already has a column named ANOMALY_SCORE"),
            "{error}"
        );
    }

    #[test]
    fn a_restored_forest_scores_as_the_one_that_never_stopped() {
        let args = [
            int(50),
            int(64),
            int(1000),
            int(3),
            ScalarValue::Boolean(Some(true)),
        ];
        let mut running = plan("RANDOM_CUT_FOREST_WITH_EXPLANATION", &args)
            .expect("valid")
            .function;
        let mut rng = Rng::new(13);
        run(&mut running, &rows(&normal_rows(&mut rng, 1000), 0));
        let state = running.snapshot().expect("snapshot");

        let mut restored = plan("RANDOM_CUT_FOREST_WITH_EXPLANATION", &args)
            .expect("valid")
            .function;
        restored.restore(&state).expect("restored");
        let mut rest = normal_rows(&mut rng, 500);
        rest[250] = (Some(8.0), 90);
        let rest = rows(&rest, 1000);
        let expected = run(&mut running, &rest);
        let actual = run(&mut restored, &rest);
        assert_eq!(scores(&expected), scores(&actual));
        assert_eq!(explanations(&expected), explanations(&actual));
        assert!(scores(&actual)[250].is_some_and(|s| s > 1.0));

        // A forest of another shape, or bytes that are no snapshot, are refused.
        let mut other = plan("RANDOM_CUT_FOREST_WITH_EXPLANATION", &[int(51)])
            .expect("valid")
            .function;
        assert!(other.restore(&state).is_err());
        assert!(restored.restore(b"not a snapshot").is_err());
    }
}
