//! One buffer's records committed to one Iceberg table as one snapshot: inserted and updated
//! rows in one Parquet data file; rows that updates and deletes replace, found by the table's
//! unique keys in its live data files, in one position-delete file (a reader applies those,
//! unlike equality deletes, which pyiceberg does not read); new manifests and a manifest list
//! beside the table's metadata; then a commit through the catalog that holds only if the
//! table's main branch is still where this write began (else the whole write starts over).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use arrow_array::{Array, Int64Array, RecordBatch, StringArray};
use arrow_cast::display::{ArrayFormatter, FormatOptions};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use bytes::Bytes;
use freshet_iceberg::iceberg::io::FileIO;
use freshet_iceberg::iceberg::spec::{
    DataContentType, DataFile, DataFileBuilder, DataFileFormat, FormatVersion, ManifestContentType,
    ManifestFile, ManifestList, ManifestListWriter, ManifestWriterBuilder, Operation as SnapshotOp,
    Snapshot, SnapshotReference, SnapshotRetention, Summary, TableMetadata,
};
use freshet_iceberg::iceberg::{NamespaceIdent, TableIdent, TableRequirement, TableUpdate};
use freshet_iceberg::rest::CommitTableRequest;
use freshet_iceberg::{Files, IcebergError, TableCatalog, TableName, files_io};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::Operation;
use super::schema::{arrow_schema, field_id, key_schema};
use crate::convert::Conversion;

/// What a committed write did.
#[derive(Debug, Default, PartialEq)]
pub struct Delivered {
    pub snapshot_id: Option<i64>,
    /// Rows written (inserts and updates that took effect).
    pub rows: u64,
    /// Rows of earlier snapshots that updates and deletes replaced.
    pub deleted: u64,
    /// Records (by index) that could not be written, with their error code and why.
    pub failed: Vec<(usize, &'static str, String)>,
}

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// Worth trying again: the catalog or the storage failed, or another writer committed first.
    #[error("{0}")]
    Transient(String),
    /// No record of the batch can go to this table.
    #[error("{code}: {message}")]
    Permanent { code: &'static str, message: String },
}

fn permanent(code: &'static str, message: impl Into<String>) -> WriteError {
    WriteError::Permanent {
        code,
        message: message.into(),
    }
}

fn transient(e: impl std::fmt::Display) -> WriteError {
    WriteError::Transient(e.to_string())
}

fn catalog_error(e: IcebergError) -> WriteError {
    match e {
        IcebergError::NoSuchTable(m) | IcebergError::NoSuchNamespace(m) => {
            permanent("Iceberg.TableNotFound", m)
        }
        e if e.is_transient() => transient(e),
        e => permanent("Iceberg.CatalogError", e.to_string()),
    }
}

/// Runs CPU-bound work (JSON decoding, Parquet encoding and scanning) off the runtime's
/// threads, as the S3 path compresses, so other streams' puts and deliveries go on meanwhile.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, WriteError> + Send + 'static,
) -> Result<T, WriteError> {
    tokio::task::spawn_blocking(work).await.map_err(transient)?
}

/// The reserved field ids of a position-delete file's columns (Iceberg's spec).
const DELETE_FILE_PATH_ID: i32 = 2_147_483_546;
const DELETE_POS_ID: i32 = 2_147_483_545;

pub struct TableWriter {
    catalog: Arc<dyn TableCatalog>,
    io: FileIO,
    conversion: Conversion,
}

/// What a batch writes, worked out before the table is touched.
struct Prepared {
    /// The data file of the rows written (None when no row is), and how many rows it holds.
    file: Option<(Vec<u8>, u64)>,
    /// The keys whose earlier rows updates and deletes replace.
    replaced: HashSet<String>,
    failed: Vec<(usize, &'static str, String)>,
}

impl TableWriter {
    pub fn new(catalog: Arc<dyn TableCatalog>, files: Arc<dyn Files>) -> TableWriter {
        TableWriter {
            io: files_io(files),
            catalog,
            conversion: Conversion::iceberg(),
        }
    }

    /// Writes `records` (each a JSON object and what it does) to `name` as the snapshot
    /// `snapshot_id`. The same id on every attempt makes a retry after a commit whose answer
    /// was lost find its snapshot on the table instead of writing the records twice.
    pub async fn write(
        &self,
        name: &TableName,
        records: &[(Operation, Bytes)],
        unique_keys: &[String],
        snapshot_id: i64,
        now_ms: i64,
    ) -> Result<Delivered, WriteError> {
        let loaded = self.catalog.load_table(name).await.map_err(catalog_error)?;
        let metadata = loaded.metadata;
        if metadata.format_version() != FormatVersion::V2 {
            return Err(permanent(
                "Iceberg.UnsupportedTable",
                format!(
                    "{}.{} is an Iceberg format {} table; Freshet writes format 2 tables.",
                    name.namespace,
                    name.table,
                    metadata.format_version()
                ),
            ));
        }
        if !metadata.default_partition_spec().is_unpartitioned() {
            return Err(permanent(
                "Iceberg.UnsupportedTable",
                format!(
                    "{}.{} is partitioned; Freshet writes unpartitioned tables only.",
                    name.namespace, name.table
                ),
            ));
        }
        let arrow = arrow_schema(metadata.current_schema())
            .map_err(|e| permanent("Iceberg.UnsupportedColumnType", e))?;
        let prepared = {
            let (conversion, arrow) = (self.conversion.clone(), arrow.clone());
            let (records, keys) = (records.to_vec(), unique_keys.to_vec());
            blocking(move || prepare(&conversion, &arrow, &records, &keys)).await?
        };
        let mut delivered = Delivered {
            failed: prepared.failed,
            ..Delivered::default()
        };
        if let Some(done) = metadata.snapshot_by_id(snapshot_id) {
            // An earlier attempt committed: answer what it did.
            let count = |key: &str| {
                done.summary()
                    .additional_properties
                    .get(key)
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0)
            };
            delivered.rows = count("added-records");
            delivered.deleted = count("added-position-deletes");
            delivered.snapshot_id = Some(snapshot_id);
            return Ok(delivered);
        }
        let location = metadata.location().trim_end_matches('/').to_string();
        let mut added = Vec::new();
        if let Some((file, rows)) = prepared.file {
            added.push(
                self.put_file(&location, file, rows, DataContentType::Data, &metadata)
                    .await?,
            );
            delivered.rows = rows;
        }
        let mut deletes = Vec::new();
        if !prepared.replaced.is_empty() {
            let positions = self
                .replaced_positions(&metadata, &arrow, unique_keys, prepared.replaced)
                .await?;
            if !positions.is_empty() {
                delivered.deleted = positions.len() as u64;
                let count = positions.len() as u64;
                let file = blocking(move || position_delete_file(&positions)).await?;
                deletes.push(
                    self.put_file(
                        &location,
                        file,
                        count,
                        DataContentType::PositionDeletes,
                        &metadata,
                    )
                    .await?,
                );
            }
        }
        if added.is_empty() && deletes.is_empty() {
            return Ok(delivered);
        }
        let snapshot = self
            .snapshot(&metadata, &location, snapshot_id, added, deletes, now_ms)
            .await?;
        let parent = metadata.current_snapshot().map(|s| s.snapshot_id());
        let commit = CommitTableRequest {
            identifier: Some(TableIdent::new(
                NamespaceIdent::new(name.namespace.clone()),
                name.table.clone(),
            )),
            requirements: vec![
                TableRequirement::UuidMatch {
                    uuid: metadata.uuid(),
                },
                TableRequirement::RefSnapshotIdMatch {
                    r#ref: "main".into(),
                    snapshot_id: parent,
                },
            ],
            updates: vec![
                TableUpdate::AddSnapshot { snapshot },
                TableUpdate::SetSnapshotRef {
                    ref_name: "main".into(),
                    reference: SnapshotReference::new(
                        snapshot_id,
                        SnapshotRetention::branch(None, None, None),
                    ),
                },
            ],
        };
        self.catalog
            .commit(name, commit)
            .await
            .map_err(catalog_error)?;
        delivered.snapshot_id = Some(snapshot_id);
        Ok(delivered)
    }

    /// The (file, row) positions of the live rows whose keys are in `replaced` and that no
    /// delete file removes yet, in file order.
    async fn replaced_positions(
        &self,
        metadata: &TableMetadata,
        arrow: &SchemaRef,
        unique_keys: &[String],
        replaced: HashSet<String>,
    ) -> Result<Vec<(String, i64)>, WriteError> {
        let Some(current) = metadata.current_snapshot() else {
            return Ok(Vec::new());
        };
        let keys = key_schema(arrow, unique_keys)
            .map_err(|e| permanent("Iceberg.InvalidUniqueKeys", e))?;
        let replaced = Arc::new(replaced);
        let mut positions = Vec::new();
        let mut deleted = HashSet::new();
        for manifest in self.manifests(metadata, current.manifest_list()).await? {
            let content = manifest.content;
            let manifest = manifest.load_manifest(&self.io).await.map_err(transient)?;
            for entry in manifest.entries() {
                let file = entry.data_file();
                if !entry.is_alive() {
                    continue;
                }
                let path = file.file_path().to_string();
                match (content, file.content_type(), file.file_format()) {
                    (ManifestContentType::Data, _, DataFileFormat::Parquet) => {
                        let body = self.read(&path).await?;
                        let (keys, replaced) = (keys.clone(), replaced.clone());
                        let rows = blocking(move || {
                            let keys = file_keys(body, &keys)
                                .map_err(|e| transient(format!("{path}: {e}")))?;
                            Ok(keys
                                .into_iter()
                                .enumerate()
                                .filter(|(_, k)| k.as_ref().is_some_and(|k| replaced.contains(k)))
                                .map(|(row, _)| (path.clone(), row as i64))
                                .collect::<Vec<_>>())
                        })
                        .await?;
                        positions.extend(rows);
                    }
                    (ManifestContentType::Data, _, format) => {
                        return Err(permanent(
                            "Iceberg.UnsupportedTable",
                            format!(
                                "The data file {path} is {format:?}; Freshet finds the rows updates and deletes replace in Parquet files only."
                            ),
                        ));
                    }
                    (
                        ManifestContentType::Deletes,
                        DataContentType::PositionDeletes,
                        DataFileFormat::Parquet,
                    ) => {
                        let body = self.read(&path).await?;
                        let earlier = blocking(move || {
                            deleted_positions(body).map_err(|e| transient(format!("{path}: {e}")))
                        })
                        .await?;
                        deleted.extend(earlier);
                    }
                    // Equality deletes and other formats' position deletes: a row they already
                    // remove is deleted once more, which changes nothing a reader sees.
                    _ => {}
                }
            }
        }
        positions.retain(|p| !deleted.contains(p));
        positions.sort();
        Ok(positions)
    }

    async fn read(&self, location: &str) -> Result<Bytes, WriteError> {
        let input = self.io.new_input(location).map_err(transient)?;
        input.read().await.map_err(transient)
    }

    /// Puts a Parquet file under the table's `data/` and describes it.
    async fn put_file(
        &self,
        location: &str,
        body: Vec<u8>,
        records: u64,
        content: DataContentType,
        metadata: &TableMetadata,
    ) -> Result<DataFile, WriteError> {
        let path = format!("{location}/data/{}.parquet", uuid::Uuid::new_v4());
        let size = body.len() as u64;
        let output = self.io.new_output(&path).map_err(transient)?;
        output.write(Bytes::from(body)).await.map_err(transient)?;
        DataFileBuilder::default()
            .content(content)
            .file_path(path)
            .file_format(DataFileFormat::Parquet)
            .record_count(records)
            .file_size_in_bytes(size)
            .partition_spec_id(metadata.default_partition_spec().spec_id())
            .build()
            .map_err(transient)
    }

    /// The manifests of a manifest list.
    async fn manifests(
        &self,
        metadata: &TableMetadata,
        list: &str,
    ) -> Result<Vec<ManifestFile>, WriteError> {
        let body = self.read(list).await?;
        Ok(
            ManifestList::parse_with_version(&body, metadata.format_version())
                .map_err(transient)?
                .consume_entries()
                .into_iter()
                .collect(),
        )
    }

    /// The new snapshot: the current one's manifests plus one for the added data file and one
    /// for the delete file.
    async fn snapshot(
        &self,
        metadata: &TableMetadata,
        location: &str,
        snapshot_id: i64,
        added: Vec<DataFile>,
        deletes: Vec<DataFile>,
        now_ms: i64,
    ) -> Result<Snapshot, WriteError> {
        let parent = metadata.current_snapshot();
        let sequence = metadata.last_sequence_number() + 1;
        let mut manifests = match parent {
            Some(p) => self.manifests(metadata, p.manifest_list()).await?,
            None => Vec::new(),
        };
        let schema = metadata.current_schema().clone();
        let spec = metadata.default_partition_spec().as_ref().clone();
        let mut summary = HashMap::new();
        let records = |files: &[DataFile]| files.iter().map(DataFile::record_count).sum::<u64>();
        let size = |files: &[DataFile]| files.iter().map(DataFile::file_size_in_bytes).sum::<u64>();
        if !added.is_empty() {
            summary.insert("added-data-files".into(), added.len().to_string());
            summary.insert("added-records".into(), records(&added).to_string());
            summary.insert("added-files-size".into(), size(&added).to_string());
        }
        if !deletes.is_empty() {
            summary.insert("added-delete-files".into(), deletes.len().to_string());
            summary.insert(
                "added-position-delete-files".into(),
                deletes.len().to_string(),
            );
            summary.insert(
                "added-position-deletes".into(),
                records(&deletes).to_string(),
            );
        }
        // Iceberg's names: rows added only is an append, rows removed only a delete, both an
        // overwrite (as a row delta names them).
        let operation = match (added.is_empty(), deletes.is_empty()) {
            (false, true) => SnapshotOp::Append,
            (true, false) => SnapshotOp::Delete,
            _ => SnapshotOp::Overwrite,
        };
        for (files, deletes_manifest) in [(added, false), (deletes, true)] {
            if files.is_empty() {
                continue;
            }
            let path = format!(
                "{location}/metadata/{}-m{}.avro",
                uuid::Uuid::new_v4(),
                u8::from(deletes_manifest)
            );
            let output = self.io.new_output(&path).map_err(transient)?;
            let builder =
                ManifestWriterBuilder::new(output, Some(snapshot_id), schema.clone(), spec.clone());
            let mut writer = if deletes_manifest {
                builder.build_v2_deletes()
            } else {
                builder.build_v2_data()
            };
            for file in files {
                writer.add_file(file, sequence).map_err(transient)?;
            }
            manifests.push(writer.write_manifest_file().await.map_err(transient)?);
        }
        let list_path = format!(
            "{location}/metadata/snap-{snapshot_id}-1-{}.avro",
            uuid::Uuid::new_v4()
        );
        let output = self.io.new_output(&list_path).map_err(transient)?;
        let mut list = ManifestListWriter::v2(
            output.writer().await.map_err(transient)?,
            snapshot_id,
            parent.map(|p| p.snapshot_id()),
            sequence,
        );
        list.add_manifests(manifests.into_iter())
            .map_err(transient)?;
        list.close().await.map_err(transient)?;
        Ok(Snapshot::builder()
            .with_snapshot_id(snapshot_id)
            .with_parent_snapshot_id(parent.map(|p| p.snapshot_id()))
            .with_sequence_number(sequence)
            .with_timestamp_ms(now_ms)
            .with_manifest_list(list_path)
            .with_summary(Summary {
                operation,
                additional_properties: summary,
            })
            .with_schema_id(schema.schema_id())
            .build())
    }
}

/// Which records' rows are written and which keys' earlier rows go. A record that does not fit
/// the table (or has no unique key) fails alone and changes nothing; within the batch, a later
/// update or delete of a key also replaces the rows the batch gave it before.
fn prepare(
    conversion: &Conversion,
    arrow: &SchemaRef,
    records: &[(Operation, Bytes)],
    unique_keys: &[String],
) -> Result<Prepared, WriteError> {
    let mut failed: Vec<(usize, &'static str, String)> = Vec::new();
    // Every row that could be written, converted once: its failures are the records that do
    // not fit, and without unique keys the file is the one written.
    let candidates: Vec<usize> = (0..records.len())
        .filter(|&i| records[i].0 != Operation::Delete)
        .collect();
    let mut file = None;
    let mut fitting = HashSet::new();
    if !candidates.is_empty() {
        let rows: Vec<&[u8]> = candidates.iter().map(|&i| &records[i].1[..]).collect();
        let (body, bad) = conversion
            .convert(arrow, &rows)
            .map_err(|f| permanent("Iceberg.InvalidRecord", f.message))?;
        let bad: HashMap<usize, String> = bad.into_iter().collect();
        for (n, &i) in candidates.iter().enumerate() {
            match bad.get(&n) {
                Some(why) => failed.push((i, "Iceberg.InvalidRecord", why.clone())),
                None => {
                    fitting.insert(i);
                }
            }
        }
        file = Some(body);
    }
    let mut replaced = HashSet::new();
    let written: Vec<usize> = if unique_keys.is_empty() {
        candidates
            .into_iter()
            .filter(|i| fitting.contains(i))
            .collect()
    } else {
        let keys = key_schema(arrow, unique_keys)
            .map_err(|e| permanent("Iceberg.InvalidUniqueKeys", e))?;
        let mut slots: Vec<Option<usize>> = Vec::with_capacity(records.len());
        let mut latest: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, (op, data)) in records.iter().enumerate() {
            if *op != Operation::Delete && !fitting.contains(&i) {
                continue;
            }
            let key = match record_key(conversion, &keys, data) {
                Ok(key) => key,
                Err(why) => {
                    failed.push((i, "Iceberg.InvalidUniqueKeys", why));
                    continue;
                }
            };
            if *op != Operation::Insert {
                for slot in latest.remove(&key).unwrap_or_default() {
                    slots[slot] = None;
                }
                replaced.insert(key.clone());
            }
            if *op != Operation::Delete {
                latest.entry(key).or_default().push(slots.len());
                slots.push(Some(i));
            }
        }
        slots.into_iter().flatten().collect()
    };
    failed.sort_by_key(|(i, _, _)| *i);
    // The file converted above holds exactly the rows written unless keys removed some.
    let all_fitting = written.len() == fitting.len();
    let file = match (file, written.is_empty()) {
        (_, true) => None,
        (Some(body), false) if all_fitting => Some((body, written.len() as u64)),
        _ => {
            let rows: Vec<&[u8]> = written.iter().map(|&i| &records[i].1[..]).collect();
            let (body, bad) = conversion
                .convert(arrow, &rows)
                .map_err(|f| permanent("Iceberg.InvalidRecord", f.message))?;
            if let Some((_, why)) = bad.first() {
                return Err(transient(format!(
                    "a row that converted once did not convert again: {why}"
                )));
            }
            Some((body, written.len() as u64))
        }
    };
    Ok(Prepared {
        file,
        replaced,
        failed,
    })
}

/// A record's unique key, as the text of its key columns' values.
fn record_key(conversion: &Conversion, keys: &SchemaRef, data: &[u8]) -> Result<String, String> {
    let batch = conversion.decode_records(keys, &[data])?;
    let mut found = row_keys(&batch)?;
    found
        .pop()
        .flatten()
        .ok_or_else(|| "The record has no value for a unique key.".to_string())
}

fn position_delete_file(positions: &[(String, i64)]) -> Result<Vec<u8>, WriteError> {
    let field = |name: &str, t: DataType, id: i32| {
        Field::new(name, t, false).with_metadata(HashMap::from([(
            "PARQUET:field_id".to_string(),
            id.to_string(),
        )]))
    };
    let schema = Arc::new(Schema::new(vec![
        field("file_path", DataType::Utf8, DELETE_FILE_PATH_ID),
        field("pos", DataType::Int64, DELETE_POS_ID),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from_iter_values(
                positions.iter().map(|(p, _)| p.as_str()),
            )),
            Arc::new(Int64Array::from_iter_values(
                positions.iter().map(|(_, r)| *r),
            )),
        ],
    )
    .map_err(transient)?;
    Conversion::iceberg()
        .write(&schema, &batch)
        .map_err(|f| transient(f.message))
}

/// The (file, row) positions a position-delete file removes.
fn deleted_positions(body: Bytes) -> Result<Vec<(String, i64)>, String> {
    let reader = ParquetRecordBatchReaderBuilder::try_new(body)
        .and_then(|b| b.build())
        .map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|e| e.to_string())?;
        let column = |name: &str| {
            batch
                .column_by_name(name)
                .ok_or_else(|| format!("a position-delete file without {name}"))
        };
        let paths =
            arrow_cast::cast(column("file_path")?, &DataType::Utf8).map_err(|e| e.to_string())?;
        let rows = arrow_cast::cast(column("pos")?, &DataType::Int64).map_err(|e| e.to_string())?;
        let (Some(paths), Some(rows)) = (
            paths.as_any().downcast_ref::<StringArray>(),
            rows.as_any().downcast_ref::<Int64Array>(),
        ) else {
            return Err("unexpected position-delete column types".into());
        };
        out.extend((0..batch.num_rows()).map(|i| (paths.value(i).to_string(), rows.value(i))));
    }
    Ok(out)
}

/// Each row's key: the text of its columns' values joined, `None` where one is null.
fn row_keys(batch: &RecordBatch) -> Result<Vec<Option<String>>, String> {
    let options = FormatOptions::default();
    let formatters = batch
        .columns()
        .iter()
        .map(|c| ArrayFormatter::try_new(c.as_ref(), &options).map_err(|e| e.to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((0..batch.num_rows())
        .map(|row| {
            if batch.columns().iter().any(|c| c.is_null(row)) {
                return None;
            }
            let parts: Vec<String> = formatters
                .iter()
                .map(|f| f.value(row).to_string())
                .collect();
            Some(parts.join("\u{1}"))
        })
        .collect())
}

/// The keys of every row of a Parquet data file, its key columns found by field id (by name
/// in a file without ids). A file written before a key column existed has no keys: none of its
/// rows can be replaced by key.
fn file_keys(body: Bytes, keys: &SchemaRef) -> Result<Vec<Option<String>>, String> {
    let builder = ParquetRecordBatchReaderBuilder::try_new(body).map_err(|e| e.to_string())?;
    let file_schema = builder.schema().clone();
    let mut roots = Vec::with_capacity(keys.fields().len());
    for key in keys.fields() {
        let found = file_schema
            .fields()
            .iter()
            .position(|f| match (field_id(f), field_id(key)) {
                (Some(a), Some(b)) => a == b,
                _ => f.name() == key.name(),
            });
        match found {
            Some(root) => roots.push(root),
            None => {
                let rows = builder.metadata().file_metadata().num_rows();
                return Ok(vec![None; usize::try_from(rows).unwrap_or(0)]);
            }
        }
    }
    let mask = ProjectionMask::roots(builder.parquet_schema(), roots.iter().copied());
    let reader = builder
        .with_projection(mask)
        .build()
        .map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|e| e.to_string())?;
        // The projection keeps the file's column order: put the columns in the keys' order.
        let mut order: Vec<usize> = (0..roots.len()).collect();
        order.sort_by_key(|&i| roots[i]);
        let mut columns = vec![None; roots.len()];
        for (position, &key_index) in order.iter().enumerate() {
            columns[key_index] = Some(batch.column(position).clone());
        }
        let columns: Vec<_> = columns.into_iter().flatten().collect();
        let fields: Vec<Field> = columns
            .iter()
            .zip(keys.fields())
            .map(|(c, f)| Field::new(f.name(), c.data_type().clone(), true))
            .collect();
        let ordered = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
            .map_err(|e| e.to_string())?;
        out.extend(row_keys(&ordered)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use arrow_schema::DataType;

    use super::*;

    #[test]
    fn position_delete_files_read_back() {
        let positions = vec![
            ("s3://b/t/data/a.parquet".to_string(), 3),
            ("s3://b/t/data/a.parquet".to_string(), 9),
        ];
        let file = position_delete_file(&positions).unwrap();
        assert_eq!(deleted_positions(Bytes::from(file)).unwrap(), positions);
    }

    #[test]
    fn the_last_operation_on_a_key_in_a_batch_wins() {
        let arrow: SchemaRef = Arc::new(Schema::new(vec![
            // Nullable, so that a record without an id fits and fails only for its key.
            Field::new("id", DataType::Int64, true),
            Field::new("name", DataType::Utf8, true),
        ]));
        let record = |op, json: &'static str| (op, Bytes::from_static(json.as_bytes()));
        let records = vec![
            record(Operation::Insert, r#"{"id": 1, "name": "a"}"#),
            record(Operation::Insert, r#"{"id": 2, "name": "b"}"#),
            record(Operation::Update, r#"{"id": 1, "name": "a2"}"#),
            record(Operation::Delete, r#"{"id": 2}"#),
            record(Operation::Update, r#"{"id": 3, "name": "c"}"#),
            record(Operation::Insert, r#"{"name": "no key"}"#),
            record(Operation::Update, r#"{"id": 1, "name": "a3"}"#),
            // An update that does not fit the table replaces nothing.
            record(
                Operation::Update,
                r#"{"id": 3, "name": {"not": "a string"}}"#,
            ),
        ];
        let conversion = Conversion::iceberg();
        let prepared = prepare(&conversion, &arrow, &records, &["id".to_string()]).unwrap();
        // The file's rows, each as its (id, name) text.
        let (body, rows) = prepared.file.clone().unwrap();
        assert_eq!(rows, 2);
        assert_eq!(
            file_keys(Bytes::from(body), &arrow).unwrap(),
            vec![Some("3\u{1}c".into()), Some("1\u{1}a3".into())]
        );
        let mut replaced: Vec<_> = prepared.replaced.into_iter().collect();
        replaced.sort();
        assert_eq!(replaced, vec!["1", "2", "3"]);
        let failed: Vec<_> = prepared
            .failed
            .iter()
            .map(|(i, code, _)| (*i, *code))
            .collect();
        assert_eq!(
            failed,
            vec![
                (5, "Iceberg.InvalidUniqueKeys"),
                (7, "Iceberg.InvalidRecord")
            ]
        );
        // Without unique keys every record that fits is written.
        let all = prepare(&conversion, &arrow, &records, &[]).unwrap();
        assert_eq!(all.file.unwrap().1, 6);
        assert_eq!(all.failed.len(), 1);
    }

    #[test]
    fn keys_read_from_a_file_match_keys_read_from_records() {
        let arrow: SchemaRef = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("region", DataType::Utf8, true),
        ]));
        let conversion = Conversion::iceberg();
        let records: Vec<&[u8]> = vec![
            br#"{"id": 7, "region": "eu"}"#,
            br#"{"id": 8, "region": null}"#,
        ];
        let (file, failed) = conversion.convert(&arrow, &records).unwrap();
        assert!(failed.is_empty());
        let keys = file_keys(Bytes::from(file.clone()), &arrow).unwrap();
        let from_record = record_key(&conversion, &arrow, records[0]).unwrap();
        assert_eq!(keys, vec![Some(from_record), None]);
        // A file without a key column has no keys.
        let other: SchemaRef = Arc::new(Schema::new(vec![Field::new("sku", DataType::Utf8, true)]));
        assert_eq!(
            file_keys(Bytes::from(file), &other).unwrap(),
            vec![None, None]
        );
    }
}
