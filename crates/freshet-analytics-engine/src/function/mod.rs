//! Table functions over a stream, as a pump reads them:
//! `SELECT STREAM ... FROM TABLE(F(CURSOR(SELECT STREAM ... FROM s), arg, ...))`.
//! The cursor's rows go in (ROWTIME first); the function's rows come out (ROWTIME first), either
//! row for row with columns added (the anomaly scores) or at the end of a window (the tumbling
//! item counts).

mod hotspots;
mod items;
mod rcf;

use datafusion_common::arrow::array::RecordBatch;
use datafusion_common::arrow::datatypes::SchemaRef;
use datafusion_common::{Result, ScalarValue};

/// A table function running over one cursor.
pub(crate) trait TableFunction: Send {
    /// The rows the cursor's `batch` produces now, in [`Planned::schema`].
    fn process(&mut self, batch: &RecordBatch, out: &mut Vec<RecordBatch>) -> Result<()>;

    /// The rows time passing to `now_ms` produces (windows that ended).
    fn advance(&mut self, _now_ms: i64, _out: &mut Vec<RecordBatch>) -> Result<()> {
        Ok(())
    }

    /// The state a restart needs (a model, an open window), leaving the function running.
    fn snapshot(&mut self) -> Result<Vec<u8>>;

    /// Takes back what [`TableFunction::snapshot`] gave.
    fn restore(&mut self, state: &[u8]) -> Result<()>;
}

/// A table function made for one cursor, and the schema of the rows it produces (ROWTIME first).
pub(crate) struct Planned {
    pub function: Box<dyn TableFunction>,
    pub schema: SchemaRef,
}

/// Makes the table function `name` (upper-case) over rows of `input` (ROWTIME first), with the
/// literal arguments that follow the cursor; `Ok(None)` when no table function has that name.
pub(crate) fn make(
    name: &str,
    input: &SchemaRef,
    args: &[ScalarValue],
) -> Result<Option<Planned>, String> {
    Ok(Some(match name {
        "COUNT_DISTINCT_ITEMS_TUMBLING" => items::count_distinct(input, args)?,
        "TOP_K_ITEMS_TUMBLING" => items::top_k(input, args)?,
        "RANDOM_CUT_FOREST" => rcf::random_cut_forest(input, args)?,
        "RANDOM_CUT_FOREST_WITH_EXPLANATION" => {
            rcf::random_cut_forest_with_explanation(input, args)?
        }
        "HOTSPOTS" => hotspots::hotspots(input, args)?,
        _ => return Ok(None),
    }))
}
