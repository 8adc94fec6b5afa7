//! The compression stage of S3 delivery alone: one 8 MiB buffer (a full `SizeInMBs` 8 buffer)
//! of the records `scripts/firehose-bench.py` puts — 1 KiB of hex text each, which compresses
//! to about half, like logs — through every `CompressionFormat`, in MB/s of input per core.
//!
//! `cargo bench -p freshet-firehose --bench compress`

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use freshet_firehose::compress::Compression;
use rand::{Rng, SeedableRng};

const BUFFER_BYTES: usize = 8 << 20;

fn buffer() -> Vec<u8> {
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let hex = b"0123456789abcdef";
    let mut data = Vec::with_capacity(BUFFER_BYTES);
    while data.len() < BUFFER_BYTES {
        for _ in 0..512 {
            let b: u8 = rng.r#gen();
            data.push(hex[usize::from(b >> 4)]);
            data.push(hex[usize::from(b & 15)]);
        }
    }
    data
}

fn compress(c: &mut Criterion) {
    let data = buffer();
    let mut group = c.benchmark_group("compress_8MiB");
    group.throughput(Throughput::Bytes(data.len() as u64));
    for format in [
        Compression::Gzip,
        Compression::Zip,
        Compression::Snappy,
        Compression::HadoopSnappy,
    ] {
        let ratio = format
            .apply(&data, "bench")
            .map_or(0.0, |out| out.len() as f64 / data.len() as f64);
        group.bench_function(format!("{format:?} (ratio {ratio:.3})"), |b| {
            b.iter(|| format.apply(black_box(&data), "bench"))
        });
    }
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = benches;
    config = config();
    targets = compress
}
criterion_main!(benches);
