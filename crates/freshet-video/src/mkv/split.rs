//! The incremental reader of a PutMedia body: bytes arrive in arbitrary pieces; out come the
//! fragments (one per Cluster) as soon as each is whole. Clusters of unknown size, as live
//! producers send them, end where the next top-level element (or the end of the body) starts.
//! Memory is bounded by one fragment: a cluster is kept until it is handed on, nothing older.

use std::sync::Arc;

use bytes::{Buf, Bytes, BytesMut};

use super::cluster::Cluster;
use super::ebml::{UNKNOWN_SIZE, read_header, uint};
use super::header::Header;
use super::{MkvError, id};

/// PutMedia's largest fragment (ErrorId 4001).
pub const MAX_FRAGMENT_BYTES: usize = 50 * 1024 * 1024;
/// PutMedia's longest fragment (ErrorId 4002).
const MAX_FRAGMENT_NS: i64 = 10_000_000_000;
/// Header elements (EBML header, Info, Tracks) larger than this are not media descriptions.
const MAX_HEADER_ELEMENT_BYTES: u64 = 1 << 20;

/// What a piece of input completed.
#[derive(Debug)]
pub enum Event {
    /// A fragment's Cluster began; its Timecode is known (PutMedia's BUFFERING).
    FragmentStart { timecode: u64 },
    /// A fragment is whole (PutMedia's RECEIVED).
    Fragment(Fragment),
}

#[derive(Clone, Debug)]
pub struct Fragment {
    pub header: Arc<Header>,
    /// The Cluster's payload (its children as received).
    pub cluster: Bytes,
    pub parsed: Cluster,
}

enum State {
    /// Before a Segment: expecting an EBML header.
    Top,
    Segment,
    Cluster {
        body: BytesMut,
        /// Bytes of a known-size cluster not yet read; None for an unknown size.
        remaining: Option<u64>,
        /// Whether its Timecode (and so FragmentStart) has been seen.
        started: bool,
    },
}

pub struct Splitter {
    buf: BytesMut,
    state: State,
    /// Bytes of an ignored element still to drop.
    skip: u64,
    ebml: Option<Bytes>,
    info: Option<Bytes>,
    header: Option<Arc<Header>>,
    last_timecode_ns: Option<i64>,
}

impl Default for Splitter {
    fn default() -> Self {
        Splitter {
            buf: BytesMut::new(),
            state: State::Top,
            skip: 0,
            ebml: None,
            info: None,
            header: None,
            last_timecode_ns: None,
        }
    }
}

/// Elements that sit directly under a Segment (or start a new document): any of them ends a
/// Cluster of unknown size.
fn ends_cluster(element: u32) -> bool {
    matches!(
        element,
        id::EBML
            | id::SEGMENT
            | id::SEEK_HEAD
            | id::INFO
            | id::TRACKS
            | id::CLUSTER
            | id::CUES
            | id::TAGS
            | id::CHAPTERS
            | id::ATTACHMENTS
    )
}

impl Splitter {
    /// Feeds the next bytes of the body; appends what they completed to `events`, in order,
    /// including what completed before an error in the same bytes. After an error the splitter
    /// must not be fed again (PutMedia ends the request).
    pub fn push(&mut self, data: &[u8], events: &mut Vec<Event>) -> Result<(), MkvError> {
        self.buf.extend_from_slice(data);
        loop {
            if self.skip > 0 {
                let n = self.skip.min(self.buf.len() as u64);
                self.buf.advance(n as usize);
                self.skip -= n;
                if self.skip > 0 {
                    break;
                }
            }
            if let State::Cluster {
                remaining: Some(0), ..
            } = self.state
            {
                events.push(Event::Fragment(self.end_cluster()?));
                continue;
            }
            let Some((element, size, header_len)) = read_header(&self.buf)? else {
                break;
            };
            if !self.step(element, size, header_len, events)? {
                break;
            }
        }
        Ok(())
    }

    /// The body ended: a Cluster of unknown size in progress is complete; anything else cut
    /// short is invalid.
    pub fn finish(&mut self) -> Result<Option<Fragment>, MkvError> {
        if !self.buf.is_empty() || self.skip > 0 {
            return Err(MkvError::Invalid("the body ends inside an element"));
        }
        match self.state {
            State::Cluster {
                remaining: None, ..
            } => self.end_cluster().map(Some),
            State::Cluster { .. } => Err(MkvError::Invalid("the body ends inside a Cluster")),
            _ => Ok(None),
        }
    }

    /// Handles the element whose header starts the buffer; false when more input is needed.
    fn step(
        &mut self,
        element: u32,
        size: u64,
        header_len: usize,
        events: &mut Vec<Event>,
    ) -> Result<bool, MkvError> {
        match &mut self.state {
            State::Top => match element {
                id::EBML => {
                    let Some(whole) = self.take_small(size, header_len)? else {
                        return Ok(false);
                    };
                    self.ebml = Some(whole);
                    self.info = None;
                }
                id::SEGMENT if self.ebml.is_some() => {
                    self.buf.advance(header_len);
                    self.state = State::Segment;
                }
                id::VOID | id::CRC32 => self.skip_element(size, header_len)?,
                _ => {
                    return Err(MkvError::Invalid(
                        "the body does not start with an EBML header",
                    ));
                }
            },
            State::Segment => match element {
                id::EBML => self.state = State::Top,
                id::INFO => {
                    let Some(whole) = self.take_small(size, header_len)? else {
                        return Ok(false);
                    };
                    self.info = Some(whole);
                }
                id::TRACKS => {
                    let Some(tracks) = self.take_small(size, header_len)? else {
                        return Ok(false);
                    };
                    let mut raw = BytesMut::new();
                    for part in [&self.ebml, &self.info].into_iter().flatten() {
                        raw.extend_from_slice(part);
                    }
                    raw.extend_from_slice(&tracks);
                    self.header = Some(Arc::new(Header::parse(raw.freeze())?));
                }
                id::CLUSTER => {
                    if self.header.is_none() {
                        return Err(MkvError::Invalid("a Cluster comes before the Tracks"));
                    }
                    if size != UNKNOWN_SIZE && size > MAX_FRAGMENT_BYTES as u64 {
                        return Err(MkvError::FragmentTooLarge);
                    }
                    self.buf.advance(header_len);
                    self.state = State::Cluster {
                        body: BytesMut::new(),
                        remaining: (size != UNKNOWN_SIZE).then_some(size),
                        started: false,
                    };
                }
                _ => self.skip_element(size, header_len)?,
            },
            State::Cluster {
                body,
                remaining,
                started,
            } => {
                if remaining.is_none() && ends_cluster(element) {
                    events.push(Event::Fragment(self.end_cluster()?));
                    return Ok(true);
                }
                if size == UNKNOWN_SIZE {
                    return Err(MkvError::Invalid("a Cluster child has an unknown size"));
                }
                let total = size.saturating_add(header_len as u64);
                if total.saturating_add(body.len() as u64) > MAX_FRAGMENT_BYTES as u64 {
                    return Err(MkvError::FragmentTooLarge);
                }
                if remaining.is_some_and(|r| total > r) {
                    return Err(MkvError::Invalid("an element overruns its Cluster"));
                }
                let total = total as usize;
                if self.buf.len() < total {
                    return Ok(false);
                }
                let child = self.buf.split_to(total);
                if element == id::TIMECODE && !*started {
                    *started = true;
                    events.push(Event::FragmentStart {
                        timecode: uint(&child[header_len..])?,
                    });
                }
                body.extend_from_slice(&child);
                if let Some(r) = remaining {
                    *r -= total as u64;
                }
            }
        }
        Ok(true)
    }

    /// The whole element at the buffer's start, if it has arrived; header elements only.
    fn take_small(&mut self, size: u64, header_len: usize) -> Result<Option<Bytes>, MkvError> {
        if size == UNKNOWN_SIZE || size > MAX_HEADER_ELEMENT_BYTES {
            return Err(MkvError::Invalid(
                "a header element is of unknown size or too large",
            ));
        }
        let total = header_len + size as usize;
        Ok((self.buf.len() >= total).then(|| self.buf.split_to(total).freeze()))
    }

    fn skip_element(&mut self, size: u64, header_len: usize) -> Result<(), MkvError> {
        if size == UNKNOWN_SIZE {
            return Err(MkvError::Invalid(
                "an element other than a Segment or Cluster has an unknown size",
            ));
        }
        self.buf.advance(header_len);
        self.skip = size;
        Ok(())
    }

    fn end_cluster(&mut self) -> Result<Fragment, MkvError> {
        let State::Cluster { body, .. } = std::mem::replace(&mut self.state, State::Segment) else {
            return Err(MkvError::Invalid("no Cluster to end"));
        };
        let header = self
            .header
            .clone()
            .ok_or(MkvError::Invalid("a Cluster comes before the Tracks"))?;
        let cluster = body.freeze();
        let parsed = Cluster::parse(&header, &cluster)?;
        let start_ns = (parsed.timecode as i64).saturating_mul(header.timecode_scale_ns as i64);
        if self.last_timecode_ns.is_some_and(|last| start_ns < last) {
            return Err(MkvError::TimecodeBackwards);
        }
        let (low, high) = parsed
            .frames
            .iter()
            .fold((i64::MAX, i64::MIN), |(l, h), f| {
                (l.min(f.pts_ns), h.max(f.pts_ns))
            });
        if high.saturating_sub(low) > MAX_FRAGMENT_NS {
            return Err(MkvError::FragmentTooLong);
        }
        self.last_timecode_ns = Some(start_ns);
        Ok(Fragment {
            header,
            cluster,
            parsed,
        })
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::mkv::testing::stream;

    /// Timecode, frame count and frame bytes of a fragment.
    type Summary = (u64, usize, Vec<Bytes>);

    /// The fragments of `data` fed in pieces cut at `cuts`, and how the body ended.
    fn split(data: &[u8], cuts: &[usize]) -> (Vec<Summary>, Result<(), MkvError>) {
        let mut splitter = Splitter::default();
        let mut events = Vec::new();
        let mut at = 0;
        let mut bounds: Vec<usize> = cuts.iter().map(|c| c % (data.len() + 1)).collect();
        bounds.sort_unstable();
        bounds.push(data.len());
        let mut result = Ok(());
        for end in bounds {
            if let Err(e) = splitter.push(&data[at..end], &mut events) {
                result = Err(e);
                break;
            }
            at = end;
        }
        if result.is_ok() {
            match splitter.finish() {
                Ok(last) => events.extend(last.map(Event::Fragment)),
                Err(e) => result = Err(e),
            }
        }
        let fragments = events
            .into_iter()
            .filter_map(|e| match e {
                Event::Fragment(f) => Some((
                    f.parsed.timecode,
                    f.parsed.frames.len(),
                    f.parsed.frames.into_iter().map(|fr| fr.data).collect(),
                )),
                Event::FragmentStart { .. } => None,
            })
            .collect();
        (fragments, result)
    }

    #[test]
    fn live_and_known_size_clusters_give_the_same_fragments() {
        let (known, ok) = split(&stream(4, 5, false), &[]);
        assert_eq!(ok, Ok(()));
        assert_eq!(known.len(), 4);
        assert_eq!(known[2].0, 400);
        assert_eq!(known[2].1, 5);
        let (live, ok) = split(&stream(4, 5, true), &[]);
        assert_eq!(ok, Ok(()));
        assert_eq!(live, known);
    }

    const CLUSTER_ID: [u8; 4] = [0x1F, 0x43, 0xB6, 0x75];
    const TRACKS_ID: [u8; 4] = [0x16, 0x54, 0xAE, 0x6B];

    fn positions(data: &[u8], id: [u8; 4]) -> Vec<usize> {
        data.windows(4)
            .enumerate()
            .filter(|(_, w)| *w == id)
            .map(|(i, _)| i)
            .collect()
    }

    #[test]
    fn a_cluster_before_the_tracks_and_timecodes_going_back_are_refused() {
        let data = stream(1, 2, false);
        let mut no_tracks = data[..positions(&data, TRACKS_ID)[0]].to_vec();
        no_tracks.extend_from_slice(&data[positions(&data, CLUSTER_ID)[0]..]);
        assert_eq!(
            split(&no_tracks, &[]).1,
            Err(MkvError::Invalid("a Cluster comes before the Tracks"))
        );
        let two = stream(2, 2, false);
        let starts = positions(&two, CLUSTER_ID);
        let mut backwards = two.clone();
        backwards.extend_from_slice(&two[starts[0]..starts[1]]);
        let (fragments, result) = split(&backwards, &[]);
        assert_eq!(fragments.len(), 2);
        assert_eq!(result, Err(MkvError::TimecodeBackwards));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        /// However the body is cut into pieces, the fragments are the same.
        #[test]
        fn pieces_do_not_matter(cuts in proptest::collection::vec(any::<usize>(), 0..40), live in any::<bool>()) {
            let data = stream(3, 4, live);
            let whole = split(&data, &[]);
            prop_assert_eq!(split(&data, &cuts), whole);
        }

        /// A body cut short or with a byte changed never panics, and every fragment wholly
        /// before the damage (its cluster and the next cluster's header intact) comes out,
        /// unchanged.
        #[test]
        fn damage_loses_nothing_before_it(at in any::<usize>(), byte in any::<u8>(), truncate in any::<bool>(), live in any::<bool>()) {
            let data = stream(3, 4, live);
            let (original, _) = split(&data, &[]);
            let at = at % data.len();
            let mut damaged = data.clone();
            if truncate {
                damaged.truncate(at);
            } else {
                damaged[at] = byte;
            }
            let (fragments, _) = split(&damaged, &[]);
            let starts = positions(&data, CLUSTER_ID);
            for (i, original) in original.iter().enumerate() {
                // A live cluster ends when the next one's id and 8-byte size have been read.
                let safe_end = starts.get(i + 1).map_or(usize::MAX, |next| next + 12);
                if safe_end <= at {
                    prop_assert_eq!(fragments.get(i), Some(original));
                }
            }
        }
    }
}
