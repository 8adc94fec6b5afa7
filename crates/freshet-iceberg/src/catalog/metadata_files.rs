//! Table metadata files: `<table location>/metadata/<version>-<uuid>.metadata.json`, the version
//! one more than the previous file's (00000 for a new table), as Iceberg's catalogs name them.
//! A file is written whole, once, and never changed: a commit writes a new one and then points
//! the Glue table at it.

use std::str::FromStr;

use iceberg::MetadataLocation;
use iceberg::io::FileIO;
use iceberg::spec::TableMetadata;

use super::error::IcebergError;

pub(super) async fn read(files: &FileIO, location: &str) -> Result<TableMetadata, IcebergError> {
    TableMetadata::read_from(files, location)
        .await
        .map_err(|e| IcebergError::unreadable(location, e))
}

/// Writes `metadata` as the file after `previous` (the first file when None) and answers its
/// location.
pub(super) async fn write(
    files: &FileIO,
    metadata: &TableMetadata,
    previous: Option<&str>,
) -> Result<String, IcebergError> {
    let location = next_location(metadata, previous)?;
    let text = location.to_string();
    metadata
        .write_to(files, &location)
        .await
        .map_err(|e| IcebergError::unwritable(&text, e))?;
    Ok(text)
}

/// Where the file after `previous` goes. It follows the metadata's own location rather than
/// the previous file's, so a commit that moves the table (SetLocation) writes under the new
/// one; the name's compression suffix follows the table's properties, which `write_to` checks.
fn next_location(
    metadata: &TableMetadata,
    previous: Option<&str>,
) -> Result<MetadataLocation, IcebergError> {
    let version = previous.and_then(file_version).map_or(0, |v| v + 1);
    let name = format!(
        "{}/metadata/{version:05}-{}.metadata.json",
        metadata.location().trim_end_matches('/'),
        uuid::Uuid::new_v4()
    );
    MetadataLocation::from_str(&name)
        .map(|location| location.with_new_metadata(metadata))
        .map_err(|e| IcebergError::BadRequest(format!("table location {name}: {e}")))
}

/// The version number a metadata file's name starts with, if it has one (a table registered
/// from elsewhere may name its files otherwise: its next file is then version 0 again, with
/// a fresh uuid).
fn file_version(location: &str) -> Option<u32> {
    let name = location.rsplit('/').next()?;
    let (version, _) = name.split_once('-')?;
    version.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_read_from_file_names() {
        let uuid = "2cd22b57-5127-4198-92ba-e4e67c79821b";
        assert_eq!(
            file_version(&format!("s3://b/t/metadata/00007-{uuid}.metadata.json")),
            Some(7)
        );
        assert_eq!(file_version("s3://b/t/metadata/v3.metadata.json"), None);
    }
}
