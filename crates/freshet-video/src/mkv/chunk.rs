//! The MKV GetMedia and GetMediaForFragmentList return: one self-contained document per
//! fragment (EBML header, a Segment of unknown size, the producer's Info and Tracks, the
//! fragment's Cluster), with the service's facts as `AWS_KINESISVIDEO_*` tags around the
//! Cluster, the layout the KVS parser library reads. Errors travel the same way, as tags.

use super::ebml::{UNKNOWN_SIZE, children, write_element, write_id, write_size, write_uint};
use super::id;

/// Appends one fragment's document. `header_raw` is the stored header (EBML header, Info,
/// Tracks), `cluster` the stored Cluster payload; `before`/`after` the tags on either side.
pub fn write_fragment(
    out: &mut Vec<u8>,
    header_raw: &[u8],
    cluster: &[u8],
    before: &[(&str, String)],
    after: &[(&str, String)],
) {
    let mut rest = header_raw;
    // The header is stored as EBML header, then the Segment's children: the Segment starts
    // after the first element.
    if let Some(Ok((id::EBML, payload))) = children(header_raw).next() {
        let len = payload.as_ptr() as usize - header_raw.as_ptr() as usize + payload.len();
        out.extend_from_slice(&header_raw[..len]);
        rest = &header_raw[len..];
    } else {
        write_ebml_header(out);
    }
    write_id(out, id::SEGMENT);
    write_size(out, UNKNOWN_SIZE);
    out.extend_from_slice(rest);
    if !before.is_empty() {
        write_tags(out, before);
    }
    write_id(out, id::CLUSTER);
    write_size(out, cluster.len() as u64);
    out.extend_from_slice(cluster);
    if !after.is_empty() {
        write_tags(out, after);
    }
}

/// Appends a document that carries only tags (an error report in the media stream).
pub fn write_tags_document(out: &mut Vec<u8>, tags: &[(&str, String)]) {
    write_ebml_header(out);
    write_id(out, id::SEGMENT);
    write_size(out, UNKNOWN_SIZE);
    write_tags(out, tags);
}

pub(crate) fn write_ebml_header(out: &mut Vec<u8>) {
    let mut payload = Vec::new();
    write_uint(&mut payload, 0x4286, 1); // EBMLVersion
    write_uint(&mut payload, 0x42F7, 1); // EBMLReadVersion
    write_uint(&mut payload, 0x42F2, 4); // EBMLMaxIDLength
    write_uint(&mut payload, 0x42F3, 8); // EBMLMaxSizeLength
    write_element(&mut payload, 0x4282, b"matroska"); // DocType
    write_uint(&mut payload, 0x4287, 4); // DocTypeVersion
    write_uint(&mut payload, 0x4285, 2); // DocTypeReadVersion
    write_element(out, id::EBML, &payload);
}

fn write_tags(out: &mut Vec<u8>, tags: &[(&str, String)]) {
    let mut tag = Vec::new();
    write_element(&mut tag, id::TARGETS, &[]);
    for (name, value) in tags {
        let mut simple = Vec::new();
        write_element(&mut simple, id::TAG_NAME, name.as_bytes());
        write_element(&mut simple, id::TAG_STRING, value.as_bytes());
        write_element(&mut tag, id::SIMPLE_TAG, &simple);
    }
    let mut all = Vec::new();
    write_element(&mut all, id::TAG, &tag);
    write_element(out, id::TAGS, &all);
}
