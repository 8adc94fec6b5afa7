//! In-application streams: a name and the schema of its rows (ROWTIME first).

use datafusion_common::arrow::datatypes::SchemaRef;

#[derive(Debug, Clone)]
pub(crate) struct StreamDef {
    pub name: String,
    /// ROWTIME, the system columns, then the declared columns.
    pub schema: SchemaRef,
    /// How many leading columns are the system's (left out of `SELECT *`): ROWTIME, and in an
    /// input's stream APPROXIMATE_ARRIVAL_TIME.
    pub hidden: usize,
    /// How many trailing columns are system columns too (a stream join's sides' ROWTIMEs).
    pub trailing: usize,
}

impl StreamDef {
    pub(crate) fn new(name: String, schema: SchemaRef, hidden: usize) -> StreamDef {
        StreamDef {
            name,
            schema,
            hidden,
            trailing: 0,
        }
    }

    /// The columns `SELECT *` reads, by index into a schema that starts with this stream's
    /// columns (and may go on with a reference table's).
    pub(crate) fn visible(&self, width: usize) -> std::ops::Range<usize> {
        self.hidden..width.saturating_sub(self.trailing).max(self.hidden)
    }
}
