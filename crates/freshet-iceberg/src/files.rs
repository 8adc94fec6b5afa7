//! Table files in S3 buckets. The binary gives the object store (`Files`); Iceberg's manifest
//! writers reach it through a `FileIO` whose storage is this module's `FilesStorage`.

use std::ops::Range;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use futures_util::stream::BoxStream;
use iceberg::io::{
    FileIO, FileIOBuilder, FileMetadata, FileRead, FileWrite, InputFile, OutputFile, Storage,
    StorageConfig, StorageFactory,
};
use iceberg::{Error, ErrorKind};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Whole objects in buckets: where table files live.
pub trait Files: Send + Sync + 'static {
    /// Writes one whole object; done means durable.
    fn put<'a>(
        &'a self,
        bucket: &'a str,
        key: &'a str,
        body: Vec<u8>,
    ) -> BoxFuture<'a, Result<(), String>>;

    /// The bytes of one object; `None` when it does not exist.
    fn get<'a>(
        &'a self,
        bucket: &'a str,
        key: &'a str,
    ) -> BoxFuture<'a, Result<Option<Vec<u8>>, String>>;
}

/// `s3://bucket/key` (or `s3a://`, `s3n://`) as (bucket, key).
pub fn split_location(location: &str) -> Option<(&str, &str)> {
    let rest = ["s3://", "s3a://", "s3n://"]
        .iter()
        .find_map(|scheme| location.strip_prefix(scheme))?;
    let (bucket, key) = rest.split_once('/')?;
    (!bucket.is_empty() && !key.is_empty()).then_some((bucket, key))
}

fn bad_location(path: &str) -> Error {
    Error::new(
        ErrorKind::DataInvalid,
        format!("{path} is not an s3://bucket/key location"),
    )
}

fn io_error(e: String) -> Error {
    Error::new(ErrorKind::Unexpected, e)
}

/// A `FileIO` over `files`, for Iceberg's manifest and manifest-list readers and writers.
pub fn files_io(files: Arc<dyn Files>) -> FileIO {
    FileIOBuilder::new(Arc::new(FilesStorage { files })).build()
}

/// Iceberg's storage (and its factory) over `Files`. Iceberg can serialize storages to send
/// them between processes; this one holds a live object store and stays in this process, so it
/// serializes to nothing and refuses to be deserialized.
#[derive(Clone)]
struct FilesStorage {
    files: Arc<dyn Files>,
}

impl std::fmt::Debug for FilesStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FilesStorage")
    }
}

impl Serialize for FilesStorage {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_unit()
    }
}

impl<'de> Deserialize<'de> for FilesStorage {
    fn deserialize<D: Deserializer<'de>>(_: D) -> Result<Self, D::Error> {
        Err(serde::de::Error::custom(
            "Freshet's table file storage cannot leave its process",
        ))
    }
}

#[typetag::serde]
impl StorageFactory for FilesStorage {
    fn build(&self, _: &StorageConfig) -> iceberg::Result<Arc<dyn Storage>> {
        Ok(Arc::new(self.clone()))
    }
}

impl FilesStorage {
    async fn read_all(&self, path: &str) -> iceberg::Result<Bytes> {
        let (bucket, key) = split_location(path).ok_or_else(|| bad_location(path))?;
        match self.files.get(bucket, key).await.map_err(io_error)? {
            Some(body) => Ok(Bytes::from(body)),
            None => Err(Error::new(
                ErrorKind::Unexpected,
                format!("{path} does not exist"),
            )),
        }
    }
}

#[async_trait::async_trait]
#[typetag::serde]
impl Storage for FilesStorage {
    async fn exists(&self, path: &str) -> iceberg::Result<bool> {
        let (bucket, key) = split_location(path).ok_or_else(|| bad_location(path))?;
        Ok(self
            .files
            .get(bucket, key)
            .await
            .map_err(io_error)?
            .is_some())
    }

    async fn metadata(&self, path: &str) -> iceberg::Result<FileMetadata> {
        let body = self.read_all(path).await?;
        Ok(FileMetadata {
            size: body.len() as u64,
        })
    }

    async fn read(&self, path: &str) -> iceberg::Result<Bytes> {
        self.read_all(path).await
    }

    async fn reader(&self, path: &str) -> iceberg::Result<Box<dyn FileRead>> {
        Ok(Box::new(WholeFile(self.read_all(path).await?)))
    }

    async fn write(&self, path: &str, bs: Bytes) -> iceberg::Result<()> {
        let (bucket, key) = split_location(path).ok_or_else(|| bad_location(path))?;
        self.files
            .put(bucket, key, bs.to_vec())
            .await
            .map_err(io_error)
    }

    async fn writer(&self, path: &str) -> iceberg::Result<Box<dyn FileWrite>> {
        split_location(path).ok_or_else(|| bad_location(path))?;
        Ok(Box::new(BufferedWrite {
            storage: self.clone(),
            path: path.to_string(),
            body: Vec::new(),
            closed: false,
        }))
    }

    // Freshet never deletes table files: expiring snapshots and removing orphan files are the
    // table owner's maintenance, as with Firehose.
    async fn delete(&self, path: &str) -> iceberg::Result<()> {
        Err(not_deleting(path))
    }

    async fn delete_prefix(&self, path: &str) -> iceberg::Result<()> {
        Err(not_deleting(path))
    }

    async fn delete_stream(&self, _: BoxStream<'static, String>) -> iceberg::Result<()> {
        Err(not_deleting("files"))
    }

    fn new_input(&self, path: &str) -> iceberg::Result<InputFile> {
        Ok(InputFile::new(Arc::new(self.clone()), path.to_string()))
    }

    fn new_output(&self, path: &str) -> iceberg::Result<OutputFile> {
        Ok(OutputFile::new(Arc::new(self.clone()), path.to_string()))
    }
}

fn not_deleting(what: &str) -> Error {
    Error::new(
        ErrorKind::FeatureUnsupported,
        format!("Freshet does not delete table files ({what})"),
    )
}

/// A file read once, whole: manifests and manifest lists are small.
struct WholeFile(Bytes);

#[async_trait::async_trait]
impl FileRead for WholeFile {
    async fn read(&self, range: Range<u64>) -> iceberg::Result<Bytes> {
        let (start, end) = (range.start as usize, range.end as usize);
        if start > end || end > self.0.len() {
            return Err(Error::new(
                ErrorKind::DataInvalid,
                format!(
                    "range {start}..{end} is outside a {}-byte file",
                    self.0.len()
                ),
            ));
        }
        Ok(self.0.slice(start..end))
    }
}

/// Writes collect the whole file and put it as one object at close: an object store has no
/// appends, and a table file must appear whole or not at all.
struct BufferedWrite {
    storage: FilesStorage,
    path: String,
    body: Vec<u8>,
    closed: bool,
}

#[async_trait::async_trait]
impl FileWrite for BufferedWrite {
    async fn write(&mut self, bs: Bytes) -> iceberg::Result<()> {
        self.body.extend_from_slice(&bs);
        Ok(())
    }

    async fn close(&mut self) -> iceberg::Result<()> {
        if self.closed {
            return Err(Error::new(
                ErrorKind::Unexpected,
                format!("{} is already closed", self.path),
            ));
        }
        self.closed = true;
        let body = Bytes::from(std::mem::take(&mut self.body));
        self.storage.write(&self.path, body).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_split_into_bucket_and_key() {
        assert_eq!(
            split_location("s3://bkt/wh/db/t/metadata/1.json"),
            Some(("bkt", "wh/db/t/metadata/1.json"))
        );
        assert_eq!(split_location("s3a://b/k"), Some(("b", "k")));
        assert_eq!(split_location("s3://bkt"), None);
        assert_eq!(split_location("s3://bkt/"), None);
        assert_eq!(split_location("file:///tmp/x"), None);
    }
}
