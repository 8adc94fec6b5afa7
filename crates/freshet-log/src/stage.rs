//! A shard's staging buffer, laid out so a round can be written with direct I/O (`O_DIRECT`).
//!
//! Why direct I/O: a buffered write copies every byte into freshly allocated page-cache pages. On
//! the virtual machines we measured, first touches of fresh pages are slow (the host backs them
//! lazily), and that copy was 28 % of the server's CPU under a put load — more than decoding the
//! requests. A direct write hands the buffer to the device instead. Readers lose nothing: recent
//! records are served from the shard's record cache, older ones by buffered reads as before.
//!
//! Direct I/O wants the file position, the length and the memory address block-aligned. So the
//! buffer starts at a block-aligned address with the committed bytes of the file's last, partial
//! block (already on disk; rewritten unchanged), then the round's new frames, then zeros up to
//! the next block boundary. The file therefore can end in less than one block of zero padding
//! past the last frame while it is the active segment; the writer cuts it off when the segment is
//! sealed or the log closes, and recovery cuts it off after a crash (it is not a frame).

use bytes::Bytes;

/// The alignment used for direct writes: a page, which covers the logical block size of the
/// devices we run on (512 or 4096 bytes).
pub(crate) const BLOCK: usize = 4096;

/// The least room a fresh staging buffer gets, so that small rounds take the copy path.
const MIN_ROOM: usize = 64 << 10;

/// How many bytes after `ptr` the first block-aligned address lies.
pub(crate) fn lead_to_block(ptr: *const u8) -> usize {
    (BLOCK - ptr as usize % BLOCK) % BLOCK
}

#[derive(Default)]
pub(crate) struct StageBuf {
    buf: Vec<u8>,
    /// Filler bytes before the block-aligned start of the data in memory.
    lead: usize,
    /// Committed bytes of the file's last block, at `buf[lead..lead + tail]`.
    tail: usize,
    /// End of the real data while `buf` carries padding for a write.
    end: Option<usize>,
}

impl StageBuf {
    /// A buffer for a file whose committed length leaves `tail` bytes past its last block boundary.
    pub fn new(tail: &[u8]) -> Self {
        debug_assert!(tail.len() < BLOCK);
        StageBuf {
            buf: tail.to_vec(),
            lead: 0,
            tail: tail.len(),
            end: None,
        }
    }

    /// Where new frames are appended.
    pub fn frames(&mut self) -> &mut Vec<u8> {
        debug_assert!(self.end.is_none(), "frames staged over a prepared write");
        &mut self.buf
    }

    /// Bytes of new frames staged.
    pub fn staged_len(&self) -> usize {
        self.end.unwrap_or(self.buf.len()) - self.lead - self.tail
    }

    /// How far before the committed end of the file the prepared write starts.
    pub fn tail_len(&self) -> usize {
        self.tail
    }

    /// Makes the staged bytes writable at the block boundary before the committed end (`tail_len`
    /// bytes before it): moves them to a block-aligned address if a reallocation moved them, and
    /// with `pad`, adds zeros up to whole blocks. Returns the bytes to write.
    pub fn prepare(&mut self, pad: bool) -> &[u8] {
        let end = self.end.unwrap_or(self.buf.len());
        self.buf.truncate(end);
        // Room for a shift of less than a block and for the padding, so neither reallocates.
        self.buf.reserve(2 * BLOCK);
        let want = lead_to_block(self.buf.as_ptr());
        if want != self.lead {
            let n = end - self.lead;
            if want > self.lead {
                self.buf.resize(end + (want - self.lead), 0);
            }
            self.buf.copy_within(self.lead..self.lead + n, want);
            self.buf.truncate(want + n);
            self.lead = want;
        }
        let end = self.buf.len();
        if pad {
            let padded = self.lead + (end - self.lead).next_multiple_of(BLOCK);
            self.buf.resize(padded, 0);
        }
        self.end = Some(end);
        &self.buf[self.lead..]
    }

    /// The bytes `prepare` returned, for the write itself.
    pub fn prepared(&self) -> &[u8] {
        &self.buf[self.lead..]
    }

    /// Whether the prepared write reaches past the data (zero padding).
    pub fn padded(&self) -> bool {
        self.end.is_some_and(|end| end < self.buf.len())
    }

    /// The prepared write is durable as far as the policy asks: the data's last partial block
    /// becomes the new tail and the staged frames leave the buffer. With `keep` they are handed
    /// back, for the record cache to serve as slices. A round that fills a quarter of the buffer
    /// or more hands over the buffer itself (no copy), and the next round gets a fresh one with
    /// room for twice this round; a smaller round is copied out. So cached records never pin more
    /// than four times their size, and rounds of steady size are never copied.
    pub fn committed(&mut self, keep: bool) -> Option<Bytes> {
        let end = self.end.take().unwrap_or(self.buf.len());
        let frames = self.lead + self.tail..end;
        let tail = (end - self.lead) % BLOCK;
        let mut kept = None;
        if keep && 4 * frames.len() >= self.buf.capacity() {
            // Aligned from the start, with room for the alignment and for `prepare`'s padding, so
            // nothing moves unless the next round outgrows twice this one.
            let room = (2 * (end - self.lead)).max(MIN_ROOM) + 3 * BLOCK;
            let mut next = Vec::with_capacity(room);
            let lead = lead_to_block(next.as_ptr());
            next.resize(lead, 0);
            next.extend_from_slice(&self.buf[end - tail..end]);
            let mut old = std::mem::replace(&mut self.buf, next);
            old.truncate(end);
            kept = Some(Bytes::from(old).slice(frames));
            self.lead = lead;
        } else {
            if keep {
                kept = Some(Bytes::copy_from_slice(&self.buf[frames]));
            }
            self.buf.copy_within(end - tail..end, self.lead);
            self.buf.truncate(self.lead + tail);
        }
        self.tail = tail;
        kept
    }

    /// Drops the staged frames (and any padding), keeping the committed tail.
    pub fn discard(&mut self) {
        self.end = None;
        self.buf.truncate(self.lead + self.tail);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Whatever the sizes of the rounds, each prepared write starts at an aligned address,
        /// is whole blocks when padded, and holds the committed tail followed by the new frames —
        /// i.e. writing it at the block boundary reproduces the file.
        #[test]
        fn prepared_writes_rebuild_the_file(
            rounds in proptest::collection::vec((1usize..20_000, any::<bool>(), any::<bool>(), any::<bool>()), 1..12),
            start in 0usize..10_000,
        ) {
            let mut file: Vec<u8> = (0..start).map(|i| (i % 251) as u8).collect();
            let block_start = start - start % BLOCK;
            let mut stage = StageBuf::new(&file[block_start..]);
            for (i, (len, pad, fail, keep)) in rounds.into_iter().enumerate() {
                let frames: Vec<u8> = (0..len).map(|k| (k * 7 + i) as u8).collect();
                stage.frames().extend_from_slice(&frames);
                prop_assert_eq!(stage.staged_len(), len);
                let pos = file.len() - stage.tail_len();
                prop_assert_eq!(pos % BLOCK, 0);
                let bytes = stage.prepare(pad).to_vec();
                prop_assert_eq!(stage.prepared().as_ptr() as usize % BLOCK, 0);
                prop_assert_eq!(stage.staged_len(), len);
                if pad {
                    prop_assert_eq!(bytes.len() % BLOCK, 0);
                }
                prop_assert_eq!(stage.padded(), bytes.len() > stage.tail_len() + len);
                let data_len = stage.tail_len() + len;
                prop_assert_eq!(&bytes[..stage.tail_len()], &file[pos..]);
                prop_assert_eq!(&bytes[stage.tail_len()..data_len], &frames[..]);
                prop_assert!(bytes[data_len..].iter().all(|&b| b == 0));
                if fail {
                    stage.discard();
                    prop_assert_eq!(stage.staged_len(), 0);
                } else {
                    file.extend_from_slice(&frames);
                    let kept = stage.committed(keep);
                    prop_assert_eq!(kept.as_deref(), keep.then_some(&frames[..]));
                    prop_assert_eq!(stage.tail_len(), file.len() % BLOCK);
                }
            }
        }
    }
}
