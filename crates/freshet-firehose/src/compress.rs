//! The `CompressionFormat`s of S3 delivery, applied to a whole buffer at once (the buffer is
//! bounded by `SizeInMBs`, measured before compression as AWS does).

use std::io::Write;

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Compression {
    #[default]
    #[serde(rename = "UNCOMPRESSED")]
    Uncompressed,
    #[serde(rename = "GZIP")]
    Gzip,
    #[serde(rename = "ZIP")]
    Zip,
    /// The Snappy framing format.
    Snappy,
    /// Hadoop's BlockCompressorStream framing around raw Snappy blocks (what Hadoop's
    /// SnappyCodec and so Hive, Spark and Athena read).
    #[serde(rename = "HADOOP_SNAPPY")]
    HadoopSnappy,
}

/// Hadoop's SnappyCodec default buffer: the uncompressed size of one block.
const HADOOP_BLOCK: usize = 256 * 1024;

impl Compression {
    /// The object-name extension AWS uses when `FileExtension` is not set.
    pub fn extension(self) -> &'static str {
        match self {
            Compression::Uncompressed => "",
            Compression::Gzip => ".gz",
            Compression::Zip => ".zip",
            Compression::Snappy => ".snappy",
            Compression::HadoopSnappy => ".hsnappy",
        }
    }

    /// Compresses one object's content; `entry` names the file inside a ZIP archive.
    pub fn apply(self, data: &[u8], entry: &str) -> std::io::Result<Vec<u8>> {
        match self {
            Compression::Uncompressed => Ok(data.to_vec()),
            Compression::Gzip => {
                let mut out =
                    flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
                out.write_all(data)?;
                out.finish()
            }
            Compression::Zip => {
                let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
                let options = zip::write::SimpleFileOptions::default()
                    .compression_method(zip::CompressionMethod::Deflated)
                    .large_file(data.len() >= u32::MAX as usize);
                zip.start_file(entry, options)
                    .map_err(std::io::Error::other)?;
                zip.write_all(data)?;
                Ok(zip.finish().map_err(std::io::Error::other)?.into_inner())
            }
            Compression::Snappy => {
                let mut out = snap::write::FrameEncoder::new(Vec::new());
                out.write_all(data)?;
                out.into_inner().map_err(|e| e.into_error())
            }
            Compression::HadoopSnappy => {
                let mut out = Vec::with_capacity(data.len() / 2 + 64);
                let mut encoder = snap::raw::Encoder::new();
                for block in data.chunks(HADOOP_BLOCK) {
                    let compressed = encoder.compress_vec(block).map_err(std::io::Error::other)?;
                    out.extend_from_slice(&(block.len() as u32).to_be_bytes());
                    out.extend_from_slice(&(compressed.len() as u32).to_be_bytes());
                    out.extend_from_slice(&compressed);
                }
                Ok(out)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    fn sample() -> Vec<u8> {
        (0..600_000u32)
            .flat_map(|i| format!("{{\"n\":{i}}}\n").into_bytes())
            .take(700_000)
            .collect()
    }

    #[test]
    fn gzip_round_trips() {
        let data = sample();
        let z = Compression::Gzip.apply(&data, "x").unwrap();
        assert!(z.len() < data.len() / 3);
        let mut back = Vec::new();
        flate2::read::GzDecoder::new(&z[..])
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, data);
    }

    #[test]
    fn zip_holds_one_entry_with_the_content() {
        let data = sample();
        let z = Compression::Zip.apply(&data, "obj").unwrap();
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(z)).unwrap();
        assert_eq!(archive.len(), 1);
        let mut entry = archive.by_index(0).unwrap();
        assert_eq!(entry.name().unwrap(), "obj");
        let mut back = Vec::new();
        entry.read_to_end(&mut back).unwrap();
        assert_eq!(back, data);
    }

    #[test]
    fn snappy_framing_round_trips() {
        let data = sample();
        let z = Compression::Snappy.apply(&data, "x").unwrap();
        assert_eq!(&z[..10], b"\xff\x06\x00\x00sNaPpY");
        let mut back = Vec::new();
        snap::read::FrameDecoder::new(&z[..])
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, data);
    }

    #[test]
    fn hadoop_snappy_is_length_prefixed_raw_blocks() {
        let data = sample();
        let z = Compression::HadoopSnappy.apply(&data, "x").unwrap();
        let mut back = Vec::new();
        let mut rest = &z[..];
        let mut blocks = 0;
        while !rest.is_empty() {
            let raw_len = u32::from_be_bytes(rest[..4].try_into().unwrap()) as usize;
            let len = u32::from_be_bytes(rest[4..8].try_into().unwrap()) as usize;
            let block = snap::raw::Decoder::new()
                .decompress_vec(&rest[8..8 + len])
                .unwrap();
            assert_eq!(block.len(), raw_len);
            assert!(raw_len <= HADOOP_BLOCK);
            back.extend_from_slice(&block);
            rest = &rest[8 + len..];
            blocks += 1;
        }
        assert_eq!(blocks, data.len().div_ceil(HADOOP_BLOCK));
        assert_eq!(back, data);
    }

    #[test]
    fn uncompressed_is_the_content_and_extensions_follow_aws() {
        assert_eq!(
            Compression::Uncompressed.apply(b"abc", "x").unwrap(),
            b"abc"
        );
        assert_eq!(Compression::Gzip.extension(), ".gz");
        assert_eq!(Compression::Uncompressed.extension(), "");
    }
}
