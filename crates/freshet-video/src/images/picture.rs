//! A decoded picture in memory: what the decoder hands the scaler and the scaler the encoders.

/// 8-bit RGB, rows top to bottom without padding: `data.len() == width * height * 3`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Picture {
    pub width: u32,
    pub height: u32,
    pub data: Vec<u8>,
}

/// Bytes per pixel of [`Picture::data`].
pub(super) const CHANNELS: usize = 3;
