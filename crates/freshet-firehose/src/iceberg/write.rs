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

/// The reserved field ids of a position-delete file's columns (Iceberg's spec).
const DELETE_FILE_PATH_ID: i32 = 2_147_483_546;
const DELETE_POS_ID: i32 = 2_147_483_545;

pub struct TableWriter {
    catalog: Arc<dyn TableCatalog>,
    files: Arc<dyn Files>,
    io: FileIO,
    conversion: Conversion,
}

/// The rows a batch leaves to write and the keys whose earlier rows it replaces.
struct Plan {
    /// Indexes of the records whose rows are written.
    rows: Vec<usize>,
    replaced: HashSet<String>,
    failed: Vec<(usize, &'static str, String)>,
}

impl TableWriter {
    pub fn new(catalog: Arc<dyn TableCatalog>, files: Arc<dyn Files>) -> TableWriter {
        TableWriter {
            io: files_io(files.clone()),
            catalog,
            files,
            conversion: Conversion::iceberg(),
        }
    }

    /// Writes `records` (each a JSON object and what it does) to `name` as one snapshot.
    pub async fn write(
        &self,
        name: &TableName,
        records: &[(Operation, &[u8])],
        unique_keys: &[String],
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
        let plan = plan(&self.conversion, &arrow, records, unique_keys)?;
        let mut delivered = Delivered {
            failed: plan.failed,
            ..Delivered::default()
        };
        let location = metadata.location().trim_end_matches('/').to_string();
        let mut added = Vec::new();
        if !plan.rows.is_empty() {
            let rows: Vec<&[u8]> = plan.rows.iter().map(|&i| records[i].1).collect();
            let (file, failed) = self
                .conversion
                .convert(&arrow, &rows)
                .map_err(|f| permanent("Iceberg.InvalidRecord", f.message))?;
            for (i, why) in &failed {
                delivered
                    .failed
                    .push((plan.rows[*i], "Iceberg.InvalidRecord", why.clone()));
            }
            let written = (rows.len() - failed.len()) as u64;
            if written > 0 {
                added.push(
                    self.put_file(
                        &location,
                        "data",
                        file,
                        written,
                        DataContentType::Data,
                        &metadata,
                    )
                    .await?,
                );
                delivered.rows = written;
            }
        }
        let mut deletes = Vec::new();
        if !plan.replaced.is_empty() {
            let positions = self
                .replaced_positions(&metadata, &arrow, unique_keys, &plan.replaced)
                .await?;
            if !positions.is_empty() {
                delivered.deleted = positions.len() as u64;
                let file = self.position_delete_file(&positions)?;
                deletes.push(
                    self.put_file(
                        &location,
                        "data",
                        file,
                        positions.len() as u64,
                        DataContentType::PositionDeletes,
                        &metadata,
                    )
                    .await?,
                );
            }
        }
        if added.is_empty() && deletes.is_empty() {
            delivered.failed.sort_by_key(|(i, _, _)| *i);
            return Ok(delivered);
        }
        let snapshot = self
            .snapshot(&metadata, &location, added, deletes, now_ms)
            .await?;
        let snapshot_id = snapshot.snapshot_id();
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
        delivered.failed.sort_by_key(|(i, _, _)| *i);
        Ok(delivered)
    }

    /// The (file, row) positions of the live rows whose keys are in `replaced`, in file order.
    async fn replaced_positions(
        &self,
        metadata: &TableMetadata,
        arrow: &SchemaRef,
        unique_keys: &[String],
        replaced: &HashSet<String>,
    ) -> Result<Vec<(String, i64)>, WriteError> {
        let Some(current) = metadata.current_snapshot() else {
            return Ok(Vec::new());
        };
        let keys = key_schema(arrow, unique_keys)
            .map_err(|e| permanent("Iceberg.InvalidUniqueKeys", e))?;
        let mut positions = Vec::new();
        for manifest in self.manifests(metadata, current.manifest_list()).await? {
            if manifest.content != ManifestContentType::Data {
                continue;
            }
            let manifest = manifest.load_manifest(&self.io).await.map_err(transient)?;
            for entry in manifest.entries() {
                if !entry.is_alive() || entry.data_file().file_format() != DataFileFormat::Parquet {
                    continue;
                }
                let path = entry.data_file().file_path();
                let body = self.read(path).await?;
                for (row, key) in file_keys(body, &keys)
                    .map_err(|e| transient(format!("{path}: {e}")))?
                    .into_iter()
                    .enumerate()
                {
                    if key.is_some_and(|k| replaced.contains(&k)) {
                        positions.push((path.to_string(), row as i64));
                    }
                }
            }
        }
        positions.sort();
        Ok(positions)
    }

    fn position_delete_file(&self, positions: &[(String, i64)]) -> Result<Vec<u8>, WriteError> {
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
        .map_err(|e| transient(e.to_string()))?;
        self.conversion
            .write(&schema, &batch)
            .map_err(|f| transient(f.message))
    }

    async fn read(&self, location: &str) -> Result<Bytes, WriteError> {
        let (bucket, key) = freshet_iceberg::split_location(location).ok_or_else(|| {
            permanent(
                "Iceberg.InvalidLocation",
                format!("{location} is not in S3"),
            )
        })?;
        match self.files.get(bucket, key).await.map_err(transient)? {
            Some(body) => Ok(Bytes::from(body)),
            None => Err(transient(format!("{location} does not exist"))),
        }
    }

    /// Puts a Parquet file under the table's `dir` and describes it.
    async fn put_file(
        &self,
        location: &str,
        dir: &str,
        body: Vec<u8>,
        records: u64,
        content: DataContentType,
        metadata: &TableMetadata,
    ) -> Result<DataFile, WriteError> {
        let path = format!("{location}/{dir}/{}.parquet", uuid::Uuid::new_v4());
        let size = body.len() as u64;
        let (bucket, key) = freshet_iceberg::split_location(&path)
            .ok_or_else(|| permanent("Iceberg.InvalidLocation", format!("{path} is not in S3")))?;
        self.files.put(bucket, key, body).await.map_err(transient)?;
        DataFileBuilder::default()
            .content(content)
            .file_path(path)
            .file_format(DataFileFormat::Parquet)
            .record_count(records)
            .file_size_in_bytes(size)
            .partition_spec_id(metadata.default_partition_spec().spec_id())
            .build()
            .map_err(|e| transient(e.to_string()))
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
        added: Vec<DataFile>,
        deletes: Vec<DataFile>,
        now_ms: i64,
    ) -> Result<Snapshot, WriteError> {
        let snapshot_id = loop {
            let id = (rand::random::<u64>() >> 1) as i64;
            if id != 0 && metadata.snapshot_by_id(id).is_none() {
                break id;
            }
        };
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
        let operation = if deletes.is_empty() {
            SnapshotOp::Append
        } else {
            SnapshotOp::Overwrite
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

/// Which records' rows are written and which keys' earlier rows go: within the batch, a
/// later update or delete of a key also replaces the rows the batch gave it before.
fn plan(
    conversion: &Conversion,
    arrow: &SchemaRef,
    records: &[(Operation, &[u8])],
    unique_keys: &[String],
) -> Result<Plan, WriteError> {
    let mut plan = Plan {
        rows: Vec::with_capacity(records.len()),
        replaced: HashSet::new(),
        failed: Vec::new(),
    };
    if unique_keys.is_empty() {
        plan.rows = (0..records.len()).collect();
        return Ok(plan);
    }
    let keys =
        key_schema(arrow, unique_keys).map_err(|e| permanent("Iceberg.InvalidUniqueKeys", e))?;
    let mut written: Vec<Option<usize>> = Vec::with_capacity(records.len());
    let mut latest: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, (op, data)) in records.iter().enumerate() {
        let key = match record_key(conversion, &keys, data) {
            Ok(key) => key,
            Err(why) => {
                plan.failed.push((i, "Iceberg.InvalidUniqueKeys", why));
                continue;
            }
        };
        if *op != Operation::Insert {
            for slot in latest.remove(&key).unwrap_or_default() {
                written[slot] = None;
            }
            plan.replaced.insert(key.clone());
        }
        if *op != Operation::Delete {
            latest.entry(key).or_default().push(written.len());
            written.push(Some(i));
        }
    }
    plan.rows = written.into_iter().flatten().collect();
    Ok(plan)
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
/// in a file without ids).
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
            })
            .ok_or_else(|| format!("the file has no column {}", key.name()))?;
        roots.push(found);
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
    fn the_last_operation_on_a_key_in_a_batch_wins() {
        let arrow: SchemaRef = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("name", DataType::Utf8, true),
        ]));
        let records: Vec<(Operation, &[u8])> = vec![
            (Operation::Insert, br#"{"id": 1, "name": "a"}"#),
            (Operation::Insert, br#"{"id": 2, "name": "b"}"#),
            (Operation::Update, br#"{"id": 1, "name": "a2"}"#),
            (Operation::Delete, br#"{"id": 2}"#),
            (Operation::Update, br#"{"id": 3, "name": "c"}"#),
            (Operation::Insert, br#"{"name": "no key"}"#),
            (Operation::Update, br#"{"id": 1, "name": "a3"}"#),
        ];
        let plan = plan(
            &Conversion::iceberg(),
            &arrow,
            &records,
            &["id".to_string()],
        )
        .unwrap();
        assert_eq!(plan.rows, vec![4, 6]);
        let mut replaced: Vec<_> = plan.replaced.into_iter().collect();
        replaced.sort();
        assert_eq!(replaced, vec!["1", "2", "3"]);
        assert_eq!(plan.failed.len(), 1);
        assert_eq!(plan.failed[0].0, 5);
        // Without unique keys every record is written.
        let all = super::plan(&Conversion::iceberg(), &arrow, &records, &[]).unwrap();
        assert_eq!(all.rows, (0..records.len()).collect::<Vec<_>>());
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
        let keys = file_keys(Bytes::from(file), &arrow).unwrap();
        let from_record = record_key(&conversion, &arrow, records[0]).unwrap();
        assert_eq!(keys, vec![Some(from_record), None]);
    }
}
