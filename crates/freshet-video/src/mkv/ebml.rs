//! EBML, the binary layout under Matroska: variable-length integers (element ids and sizes),
//! element headers, and the scalar payloads the parser reads and the writer emits.

use super::MkvError;

/// An element's size field with every value bit set: the size is unknown (a live producer's
/// Segment and Clusters end where the next element of an enclosing level starts).
pub const UNKNOWN_SIZE: u64 = u64::MAX;

/// Length in bytes of the vint starting with `first` (1..=8), from its leading zero bits.
fn vint_len(first: u8) -> Result<usize, MkvError> {
    match first.leading_zeros() {
        n @ 0..=7 => Ok(n as usize + 1),
        _ => Err(MkvError::Invalid(
            "a variable-length integer starts with 0x00",
        )),
    }
}

/// An element id (marker bits kept, as ids are written) and its length, or None when `buf` does
/// not hold all of it yet.
pub fn read_id(buf: &[u8]) -> Result<Option<(u32, usize)>, MkvError> {
    let Some(&first) = buf.first() else {
        return Ok(None);
    };
    let len = vint_len(first)?;
    if len > 4 {
        return Err(MkvError::Invalid("an element id is longer than 4 bytes"));
    }
    if buf.len() < len {
        return Ok(None);
    }
    let id = buf[..len].iter().fold(0u32, |acc, &b| acc << 8 | b as u32);
    Ok(Some((id, len)))
}

/// An element size (marker bit removed; all ones → UNKNOWN_SIZE) and its length, or None when
/// `buf` does not hold all of it yet.
pub fn read_size(buf: &[u8]) -> Result<Option<(u64, usize)>, MkvError> {
    let Some(&first) = buf.first() else {
        return Ok(None);
    };
    let len = vint_len(first)?;
    if buf.len() < len {
        return Ok(None);
    }
    let mask = if len == 8 { 0 } else { 0xFFu8 >> len };
    let value = buf[1..len]
        .iter()
        .fold((first & mask) as u64, |acc, &b| acc << 8 | b as u64);
    let all_ones = (1u64 << (7 * len)) - 1;
    Ok(Some((
        if value == all_ones {
            UNKNOWN_SIZE
        } else {
            value
        },
        len,
    )))
}

/// An element's id, payload size and header length, or None when `buf` holds less than the
/// header.
pub fn read_header(buf: &[u8]) -> Result<Option<(u32, u64, usize)>, MkvError> {
    let Some((id, id_len)) = read_id(buf)? else {
        return Ok(None);
    };
    let Some((size, size_len)) = read_size(&buf[id_len..])? else {
        return Ok(None);
    };
    Ok(Some((id, size, id_len + size_len)))
}

/// The children of a complete element payload, as (id, payload) pairs; an unknown or
/// overlong size inside a complete payload is invalid.
pub fn children(mut payload: &[u8]) -> impl Iterator<Item = Result<(u32, &[u8]), MkvError>> {
    std::iter::from_fn(move || {
        if payload.is_empty() {
            return None;
        }
        let item = match read_header(payload) {
            Ok(Some((id, size, header))) => match usize::try_from(size) {
                Ok(size) if size <= payload.len() - header => {
                    let body = &payload[header..header + size];
                    payload = &payload[header + size..];
                    Ok((id, body))
                }
                _ => Err(MkvError::Invalid("an element overruns its parent")),
            },
            Ok(None) => Err(MkvError::Invalid("an element header is cut short")),
            Err(e) => Err(e),
        };
        if item.is_err() {
            payload = &[];
        }
        Some(item)
    })
}

pub fn uint(payload: &[u8]) -> Result<u64, MkvError> {
    if payload.len() > 8 {
        return Err(MkvError::Invalid(
            "an unsigned integer is longer than 8 bytes",
        ));
    }
    Ok(payload.iter().fold(0u64, |acc, &b| acc << 8 | b as u64))
}

pub fn float(payload: &[u8]) -> Result<f64, MkvError> {
    match payload.len() {
        0 => Ok(0.0),
        4 => Ok(f32::from_be_bytes([payload[0], payload[1], payload[2], payload[3]]) as f64),
        8 => {
            let mut b = [0u8; 8];
            b.copy_from_slice(payload);
            Ok(f64::from_be_bytes(b))
        }
        _ => Err(MkvError::Invalid("a float is neither 4 nor 8 bytes")),
    }
}

/// A string payload without its zero padding.
pub fn string(payload: &[u8]) -> String {
    let end = payload
        .iter()
        .position(|&b| b == 0)
        .unwrap_or(payload.len());
    String::from_utf8_lossy(&payload[..end]).into_owned()
}

/// Appends an element id (ids carry their own length marker).
pub fn write_id(out: &mut Vec<u8>, id: u32) {
    let len = 4 - (id.leading_zeros() / 8) as usize;
    out.extend_from_slice(&id.to_be_bytes()[4 - len.max(1)..]);
}

/// Appends a size as an 8-byte vint (simple and always wide enough), or the unknown size.
pub fn write_size(out: &mut Vec<u8>, size: u64) {
    let value = if size == UNKNOWN_SIZE {
        0x00FF_FFFF_FFFF_FFFF
    } else {
        size
    };
    out.push(0x01);
    out.extend_from_slice(&value.to_be_bytes()[1..]);
}

/// Appends a whole element.
pub fn write_element(out: &mut Vec<u8>, id: u32, payload: &[u8]) {
    write_id(out, id);
    write_size(out, payload.len() as u64);
    out.extend_from_slice(payload);
}

pub fn write_uint(out: &mut Vec<u8>, id: u32, value: u64) {
    let skip = (value.leading_zeros() / 8).min(7) as usize;
    write_element(out, id, &value.to_be_bytes()[skip..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vints_round_trip_and_unknown_sizes_are_recognized() {
        for size in [0u64, 1, 126, 127, 300, 1 << 40] {
            let mut out = Vec::new();
            write_size(&mut out, size);
            assert_eq!(read_size(&out).unwrap(), Some((size, 8)));
        }
        assert_eq!(read_size(&[0xFF]).unwrap(), Some((UNKNOWN_SIZE, 1)));
        assert_eq!(
            read_size(&[0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF]).unwrap(),
            Some((UNKNOWN_SIZE, 8))
        );
        assert_eq!(read_size(&[0x81]).unwrap(), Some((1, 1)));
        assert_eq!(read_size(&[0x40, 0x02]).unwrap(), Some((2, 2)));
        assert_eq!(read_size(&[0x40]).unwrap(), None);
        assert!(read_size(&[0x00]).is_err());
        for id in [0xA3u32, 0x4286, 0x2AD7B1, 0x1F43B675] {
            let mut out = Vec::new();
            write_id(&mut out, id);
            assert_eq!(read_id(&out).unwrap(), Some((id, out.len())));
        }
    }

    #[test]
    fn children_reject_overruns() {
        let mut payload = Vec::new();
        write_uint(&mut payload, 0xE7, 2000);
        write_uint(&mut payload, 0xA7, 5);
        let kids: Vec<_> = children(&payload).collect::<Result<_, _>>().unwrap();
        assert_eq!(kids.len(), 2);
        assert_eq!(uint(kids[0].1).unwrap(), 2000);
        payload.truncate(payload.len() - 1);
        assert!(children(&payload).any(|c| c.is_err()));
    }
}
