//! An Iceberg table as the Glue table that holds it, as AWS Glue and Iceberg's Glue catalog keep
//! it: an `EXTERNAL_TABLE` whose `table_type` parameter is `ICEBERG`, whose `metadata_location`
//! names the current metadata file (and `previous_metadata_location` the one before), whose
//! StorageDescriptor has the table's location and its current schema's columns.

use freshet_glue::model::{Parameters, StorageDescriptor, Table, TableInput};
use iceberg::spec::TableMetadata;

use super::columns::glue_columns;

const TABLE_TYPE: &str = "table_type";
const ICEBERG: &str = "ICEBERG";
const METADATA_LOCATION: &str = "metadata_location";
const PREVIOUS_METADATA_LOCATION: &str = "previous_metadata_location";
const EXTERNAL_TABLE: &str = "EXTERNAL_TABLE";

/// The current metadata file of a Glue table, when it holds an Iceberg table. Iceberg's own
/// catalogs compare the table type without case.
pub(super) fn metadata_location(table: &Table) -> Option<&str> {
    let parameters = table.parameters.as_ref()?;
    let iceberg = parameters
        .get(TABLE_TYPE)
        .is_some_and(|t| t.eq_ignore_ascii_case(ICEBERG));
    iceberg
        .then(|| parameters.get(METADATA_LOCATION))
        .flatten()
        .map(String::as_str)
}

/// The Glue table for `metadata`, kept at `metadata_location`. An update starts from the
/// `current` Glue table and changes only what Iceberg owns, so what Glue clients set beside it
/// (a description, other parameters, SerDe settings) stays.
pub(super) fn table_input(
    name: &str,
    current: Option<&Table>,
    metadata: &TableMetadata,
    metadata_location: &str,
) -> TableInput {
    let mut parameters = current
        .and_then(|t| t.parameters.clone())
        .unwrap_or_default();
    let previous = current
        .and_then(self::metadata_location)
        .map(str::to_string);
    set_locations(&mut parameters, metadata_location, previous);
    let mut storage = current
        .and_then(|t| t.storage_descriptor.clone())
        .unwrap_or_else(empty_storage_descriptor);
    storage.location = Some(metadata.location().to_string());
    storage.columns = Some(glue_columns(metadata.current_schema()));
    TableInput {
        name: name.to_string(),
        description: current.and_then(|t| t.description.clone()),
        owner: current.and_then(|t| t.owner.clone()),
        last_access_time: current.and_then(|t| t.last_access_time),
        last_analyzed_time: current.and_then(|t| t.last_analyzed_time),
        retention: current.map(|t| t.retention),
        storage_descriptor: Some(storage),
        partition_keys: current.map(|t| t.partition_keys.clone()),
        view_original_text: None,
        view_expanded_text: None,
        table_type: Some(EXTERNAL_TABLE.to_string()),
        parameters: Some(parameters),
        rest: current.map(|t| t.rest.clone()).unwrap_or_default(),
    }
}

fn set_locations(parameters: &mut Parameters, location: &str, previous: Option<String>) {
    parameters.insert(TABLE_TYPE.into(), ICEBERG.into());
    parameters.insert(METADATA_LOCATION.into(), location.to_string());
    match previous {
        Some(previous) => parameters.insert(PREVIOUS_METADATA_LOCATION.into(), previous),
        None => parameters.remove(PREVIOUS_METADATA_LOCATION),
    };
}

fn empty_storage_descriptor() -> StorageDescriptor {
    StorageDescriptor {
        columns: None,
        location: None,
        input_format: None,
        output_format: None,
        compressed: None,
        number_of_buckets: None,
        serde_info: None,
        parameters: None,
        rest: Default::default(),
    }
}
