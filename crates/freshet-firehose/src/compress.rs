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
/// GZIP buffers of at least two of these are deflated in pieces of this size on several cores.
const GZIP_PIECE: usize = 1 << 20;
/// DEFLATE's window: what a piece may refer back to in the piece before it.
const WINDOW: usize = 32 * 1024;

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
            Compression::Gzip => gzip(data),
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

/// One gzip member, as AWS writes and every gzip reader takes. A large buffer is cut into
/// pieces deflated at once on the available cores, pigz's way: each piece starts from the 32 KiB
/// before it as its dictionary and ends on a sync flush (byte-aligned, not final), the last one
/// ends the stream, so the pieces back to back are one DEFLATE stream; the CRC-32 and length
/// are the whole buffer's.
fn gzip(data: &[u8]) -> std::io::Result<Vec<u8>> {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    if cores < 2 || data.len() < 2 * GZIP_PIECE {
        let mut out = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        out.write_all(data)?;
        return out.finish();
    }
    let pieces = data.len().div_ceil(GZIP_PIECE);
    let workers = cores.min(pieces);
    let mut deflated: Vec<Option<std::io::Result<Vec<u8>>>> = (0..pieces).map(|_| None).collect();
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|w| {
                scope.spawn(move || {
                    (w..pieces)
                        .step_by(workers)
                        .map(|i| (i, deflate_piece(data, i, i + 1 == pieces)))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for handle in handles {
            let done = handle.join().unwrap_or_else(|_| {
                vec![(0, Err(std::io::Error::other("a deflate thread panicked")))]
            });
            for (i, piece) in done {
                deflated[i] = Some(piece);
            }
        }
    });
    // The header flate2's GzEncoder writes: no name, no time, OS unknown.
    let mut out = Vec::with_capacity(data.len() / 2 + 64);
    out.extend_from_slice(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);
    for piece in deflated {
        out.extend_from_slice(
            &piece.unwrap_or_else(|| Err(std::io::Error::other("a piece is missing")))?,
        );
    }
    out.extend_from_slice(&crc32fast::hash(data).to_le_bytes());
    out.extend_from_slice(&(data.len() as u32).to_le_bytes());
    Ok(out)
}

/// Piece `i` of `data` as raw DEFLATE, primed with the window before it.
fn deflate_piece(data: &[u8], i: usize, last: bool) -> std::io::Result<Vec<u8>> {
    use flate2::{Compress, FlushCompress, Status};
    let start = i * GZIP_PIECE;
    let input = &data[start..(start + GZIP_PIECE).min(data.len())];
    let mut deflate = Compress::new(flate2::Compression::default(), false);
    if start > 0 {
        deflate
            .set_dictionary(&data[start - WINDOW.min(start)..start])
            .map_err(std::io::Error::other)?;
    }
    let flush = if last {
        FlushCompress::Finish
    } else {
        FlushCompress::Sync
    };
    // Stored blocks bound DEFLATE's growth: 5 bytes per 64 KiB, plus the flush's own bytes.
    let mut out = Vec::with_capacity(input.len() + input.len() / 1024 + 64);
    loop {
        let read = deflate.total_in() as usize;
        let status = deflate
            .compress_vec(&input[read..], &mut out, flush)
            .map_err(std::io::Error::other)?;
        let done = match status {
            Status::StreamEnd => true,
            // A sync flush is complete once all input is in and it did not run out of room.
            _ => !last && deflate.total_in() as usize == input.len() && out.len() < out.capacity(),
        };
        if done {
            return Ok(out);
        }
        out.reserve(out.capacity().max(64 * 1024));
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
    fn a_large_gzip_buffer_deflated_in_parallel_is_one_member() {
        // 5.5 pieces of varied text, so pieces refer back across their boundaries.
        let data: Vec<u8> = (0..u32::MAX)
            .flat_map(|i| {
                format!(
                    "{{\"n\":{i},\"sq\":{}}}\n",
                    u64::from(i) * u64::from(i) % 9973
                )
                .into_bytes()
            })
            .take(GZIP_PIECE * 11 / 2)
            .collect();
        let z = Compression::Gzip.apply(&data, "x").unwrap();
        // A single-member decoder reads all of it, and nothing follows the member.
        let mut decoder = flate2::read::GzDecoder::new(&z[..]);
        let mut back = Vec::new();
        decoder.read_to_end(&mut back).unwrap();
        assert_eq!(back.len(), data.len());
        assert!(back == data);
        let mut rest = Vec::new();
        decoder.into_inner().read_to_end(&mut rest).unwrap();
        assert!(rest.is_empty(), "{} bytes after the member", rest.len());
        // The dictionaries keep the ratio within 1% of one thread's.
        let mut one = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        one.write_all(&data).unwrap();
        let one = one.finish().unwrap();
        assert!(
            z.len() as f64 <= one.len() as f64 * 1.01,
            "{} vs {}",
            z.len(),
            one.len()
        );
        // Exact multiples of the piece size end on the last piece too.
        let even = &data[..GZIP_PIECE * 2];
        let mut back = Vec::new();
        flate2::read::GzDecoder::new(&Compression::Gzip.apply(even, "x").unwrap()[..])
            .read_to_end(&mut back)
            .unwrap();
        assert!(back == even);
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
