//! The size of the image GetImages returns, from the request and the decoded picture.

use super::{ImageError, ImageSize};

/// Largest side: JPEG stores sizes in 16 bits.
const MAX_SIDE: u32 = u16::MAX as u32;
/// Largest image, 8K UHD: a derived side can be far larger than asked for (a tall, thin video
/// with only `WidthPixels` set), and the RGB buffer is allocated whole.
const MAX_PIXELS: u64 = 7680 * 4320;

/// `requested` against the picture's `width` x `height` (both non-zero): a side left out is
/// derived from the other with the picture's aspect ratio, rounded to the nearest pixel.
pub(super) fn output_size(
    requested: ImageSize,
    width: u32,
    height: u32,
) -> Result<(u32, u32), ImageError> {
    // `given * num / den`, rounded, at least one pixel.
    let derive = |given: u32, num: u32, den: u32| {
        let scaled =
            (u64::from(given) * u64::from(num) * 2 + u64::from(den)) / (2 * u64::from(den));
        u32::try_from(scaled.max(1)).unwrap_or(u32::MAX)
    };
    let (w, h) = match (requested.width, requested.height) {
        (None, None) => (width, height),
        (Some(w), None) => (w, derive(w, height, width)),
        (None, Some(h)) => (derive(h, width, height), h),
        (Some(w), Some(h)) => (w, h),
    };
    if w == 0 || h == 0 {
        return Err(ImageError::InvalidSize(format!("{w}x{h}")));
    }
    if w > MAX_SIDE || h > MAX_SIDE || u64::from(w) * u64::from(h) > MAX_PIXELS {
        return Err(ImageError::InvalidSize(format!(
            "{w}x{h} is larger than the largest image served ({MAX_PIXELS} pixels)"
        )));
    }
    Ok((w, h))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn size(
        width: Option<u32>,
        height: Option<u32>,
        w: u32,
        h: u32,
    ) -> Result<(u32, u32), ImageError> {
        output_size(ImageSize { width, height }, w, h)
    }

    #[test]
    fn derives_the_missing_side_from_the_aspect_ratio() {
        assert_eq!(size(None, None, 320, 240), Ok((320, 240)));
        assert_eq!(size(Some(160), None, 320, 240), Ok((160, 120)));
        assert_eq!(size(None, Some(120), 320, 240), Ok((160, 120)));
        assert_eq!(size(Some(100), Some(100), 320, 240), Ok((100, 100)));
        // 1920x1080 to 3 px wide: 1.6875 rounds to 2.
        assert_eq!(size(Some(3), None, 1920, 1080), Ok((3, 2)));
        assert_eq!(size(Some(1), None, 1920, 1080), Ok((1, 1)));
        assert_eq!(size(None, Some(1080), 1920, 1080), Ok((1920, 1080)));
    }

    #[test]
    fn rejects_empty_and_huge_sizes() {
        assert!(matches!(
            size(Some(0), None, 320, 240),
            Err(ImageError::InvalidSize(_))
        ));
        assert!(matches!(
            size(Some(10), Some(0), 320, 240),
            Err(ImageError::InvalidSize(_))
        ));
        assert!(matches!(
            size(Some(3840), None, 16, 4096),
            Err(ImageError::InvalidSize(_))
        ));
        assert!(matches!(
            size(Some(70_000), Some(1), 16, 16),
            Err(ImageError::InvalidSize(_))
        ));
    }
}
