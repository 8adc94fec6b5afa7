//! JPEG and PNG encoding of a picture, the two GetImages formats.

use jpeg_encoder::{ColorType, Encoder};

use super::picture::Picture;
use super::{ImageError, ImageFormat};

/// `picture` as a JPEG of `quality` (clamped to 1..=100, GetImages' `JPEGQuality` range) or
/// a PNG.
pub(super) fn encode(
    picture: &Picture,
    format: ImageFormat,
    quality: u8,
) -> Result<Vec<u8>, ImageError> {
    match format {
        ImageFormat::Jpeg => jpeg(picture, quality.clamp(1, 100)),
        ImageFormat::Png => png(picture),
    }
}

fn jpeg(picture: &Picture, quality: u8) -> Result<Vec<u8>, ImageError> {
    let side = |v: u32| {
        u16::try_from(v).map_err(|_| ImageError::InvalidSize(format!("{v} pixels for a JPEG")))
    };
    let mut out = Vec::new();
    Encoder::new(&mut out, quality)
        .encode(
            &picture.data,
            side(picture.width)?,
            side(picture.height)?,
            ColorType::Rgb,
        )
        .map_err(|e| ImageError::Encode(e.to_string()))?;
    Ok(out)
}

fn png(picture: &Picture) -> Result<Vec<u8>, ImageError> {
    let err = |e: png::EncodingError| ImageError::Encode(e.to_string());
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, picture.width, picture.height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    // Fast deflate: photographic frames barely shrink more at higher levels, and a GetImages
    // page may hold many images.
    encoder.set_compression(png::Compression::Fast);
    let mut writer = encoder.write_header().map_err(err)?;
    writer.write_image_data(&picture.data).map_err(err)?;
    writer.finish().map_err(err)?;
    Ok(out)
}
