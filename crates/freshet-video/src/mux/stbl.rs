//! The sample table (`stbl`) of a track: sample descriptions, then where and when each sample
//! is. Fragmented init segments write the tables empty (samples live in `moof`s); clips write
//! them in full.

use super::boxes::BoxWriter;
use super::sample_entry::write_stsd;
use super::timing::Sample;
use super::track::MuxTrack;

#[derive(Default)]
pub(super) struct SampleTables {
    pub timing: Vec<Sample>,
    pub sizes: Vec<u32>,
    /// 1-based numbers of the sync samples; `None` when every sample is one (no `stss`).
    pub sync: Option<Vec<u32>>,
    /// Each chunk's file offset and sample count, in sample order.
    pub chunks: Vec<(u64, u32)>,
    /// 64-bit chunk offsets (`co64`), for files past 4 GiB.
    pub co64: bool,
}

/// Consecutive equal values as (count, value) pairs: how `stts`, `ctts` and `stsc` store them.
fn runs<T: PartialEq + Copy>(values: impl IntoIterator<Item = T>) -> Vec<(u32, T)> {
    let mut out: Vec<(u32, T)> = Vec::new();
    for v in values {
        match out.last_mut() {
            Some((n, last)) if *last == v => *n += 1,
            _ => out.push((1, v)),
        }
    }
    out
}

pub(super) fn write_stbl(w: &mut BoxWriter, t: &MuxTrack, tables: &SampleTables) {
    w.boxed(b"stbl", |w| {
        write_stsd(w, t);
        let stts = runs(tables.timing.iter().map(|s| s.duration));
        w.full_box(b"stts", 0, 0, |w| {
            w.u32(stts.len() as u32);
            stts.iter().for_each(|&(n, d)| {
                w.u32(n);
                w.u32(d);
            });
        });
        if tables.timing.iter().any(|s| s.cts != 0) {
            let ctts = runs(tables.timing.iter().map(|s| s.cts));
            // Version 1 makes the offsets signed.
            let version = u8::from(ctts.iter().any(|&(_, c)| c < 0));
            w.full_box(b"ctts", version, 0, |w| {
                w.u32(ctts.len() as u32);
                ctts.iter().for_each(|&(n, c)| {
                    w.u32(n);
                    w.i32(c);
                });
            });
        }
        if let Some(sync) = &tables.sync {
            w.full_box(b"stss", 0, 0, |w| {
                w.u32(sync.len() as u32);
                sync.iter().for_each(|&n| w.u32(n));
            });
        }
        let stsc = runs(tables.chunks.iter().map(|&(_, n)| n));
        w.full_box(b"stsc", 0, 0, |w| {
            w.u32(stsc.len() as u32);
            let mut first_chunk = 1;
            for &(chunks, per_chunk) in &stsc {
                w.u32(first_chunk);
                w.u32(per_chunk);
                w.u32(1); // sample description index
                first_chunk += chunks;
            }
        });
        w.full_box(b"stsz", 0, 0, |w| {
            w.u32(0); // sizes vary: one per sample
            w.u32(tables.sizes.len() as u32);
            tables.sizes.iter().for_each(|&s| w.u32(s));
        });
        let offsets = tables.chunks.iter().map(|&(o, _)| o);
        if tables.co64 {
            w.full_box(b"co64", 0, 0, |w| {
                w.u32(tables.chunks.len() as u32);
                offsets.for_each(|o| w.u64(o));
            });
        } else {
            w.full_box(b"stco", 0, 0, |w| {
                w.u32(tables.chunks.len() as u32);
                // The caller sets `co64` whenever an offset does not fit.
                offsets.for_each(|o| w.u32(o as u32));
            });
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_group_equal_neighbours() {
        assert_eq!(runs([40, 40, 40, 20, 40]), [(3, 40), (1, 20), (1, 40)]);
        assert!(runs(Vec::<u32>::new()).is_empty());
    }
}
