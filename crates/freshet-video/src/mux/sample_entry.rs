//! The `stsd` box: one sample entry per track (`avc1` + `avcC`, `hvc1` + `hvcC`, `mp4a` +
//! `esds`) carrying the codec private data as the decoder expects it.

use super::boxes::BoxWriter;
use super::config::CodecConfig;
use super::track::{Media, MuxTrack};

pub(super) fn write_stsd(w: &mut BoxWriter, t: &MuxTrack) {
    let private = &t.track.codec_private;
    w.full_box(b"stsd", 0, 0, |w| {
        w.u32(1);
        match (&t.codec, t.media) {
            (CodecConfig::Avc(_), Media::Video { width, height }) => {
                visual(w, b"avc1", b"avcC", private, width, height)
            }
            (CodecConfig::Hevc(_), Media::Video { width, height }) => {
                visual(w, b"hvc1", b"hvcC", private, width, height)
            }
            (_, Media::Audio { channels }) => audio(w, private, channels, t.timescale, t.id),
            // `mux_tracks` pairs video codecs with video media only.
            (_, Media::Video { .. }) => {}
        }
    });
}

fn narrow(v: u32) -> u16 {
    u16::try_from(v).unwrap_or(u16::MAX)
}

fn visual(
    w: &mut BoxWriter,
    kind: &[u8; 4],
    config_kind: &[u8; 4],
    config: &[u8],
    width: u32,
    height: u32,
) {
    w.boxed(kind, |w| {
        w.zeros(6);
        w.u16(1); // data_reference_index
        w.zeros(16);
        w.u16(narrow(width));
        w.u16(narrow(height));
        w.u32(0x0048_0000); // 72 dpi
        w.u32(0x0048_0000);
        w.u32(0);
        w.u16(1); // frame_count
        w.zeros(32); // compressorname
        w.u16(0x18); // depth
        w.u16(0xffff); // pre_defined = -1
        w.boxed(config_kind, |w| w.bytes(config));
    });
}

fn audio(w: &mut BoxWriter, asc: &[u8], channels: u32, rate: u32, es_id: u32) {
    w.boxed(b"mp4a", |w| {
        w.zeros(6);
        w.u16(1);
        w.zeros(8);
        w.u16(narrow(channels));
        w.u16(16);
        w.zeros(4);
        // 16.16 fixed point; rates past 65535 Hz only fit the track timescale.
        w.u32(u32::from(narrow(rate)) << 16);
        w.full_box(b"esds", 0, 0, |w| {
            let decoder_specific = descriptor(5, asc);
            let mut decoder_config = vec![0x40, 0x15]; // MPEG-4 audio, audio stream
            decoder_config.extend_from_slice(&[0; 11]); // buffer size, max and average bitrate
            decoder_config.extend_from_slice(&decoder_specific);
            let mut es = narrow(es_id).to_be_bytes().to_vec();
            es.push(0);
            es.extend_from_slice(&descriptor(4, &decoder_config));
            es.extend_from_slice(&descriptor(6, &[2])); // SLConfig: predefined for MP4
            w.bytes(&descriptor(3, &es));
        });
    });
}

/// An MPEG-4 descriptor: tag, size in 7-bit groups, body.
fn descriptor(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut size = Vec::new();
    let mut n = body.len();
    size.push((n & 0x7f) as u8);
    n >>= 7;
    while n > 0 {
        size.push(0x80 | (n & 0x7f) as u8);
        n >>= 7;
    }
    size.reverse();
    [&[tag][..], &size, body].concat()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptor_sizes_use_seven_bit_groups() {
        assert_eq!(descriptor(5, &[1, 2]), [5, 2, 1, 2]);
        let long = descriptor(4, &[0; 200]);
        assert_eq!(&long[..3], &[4, 0x81, 0x48]);
        assert_eq!(long.len(), 203);
    }
}
