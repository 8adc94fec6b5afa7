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
}
