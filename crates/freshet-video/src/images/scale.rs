//! Resampling a picture to another size: a separable triangle (bilinear) filter whose support
//! widens with the reduction, so shrinking averages every source pixel rather than sampling
//! a few and aliasing (plain bilinear at 1/8 size reads a quarter of the rows).

use super::picture::{CHANNELS, Picture};

/// `picture` resampled to `width` x `height` (both non-zero).
pub(super) fn resize(picture: &Picture, width: u32, height: u32) -> Picture {
    if (width, height) == (picture.width, picture.height) {
        return picture.clone();
    }
    let (src_w, src_h) = (picture.width as usize, picture.height as usize);
    let (dst_w, dst_h) = (width as usize, height as usize);
    // Rows first, to the new width, then columns; f32 in between keeps the first pass's
    // fractions for the second.
    let columns = taps(src_w, dst_w);
    let mut wide = vec![0f32; dst_w * src_h * CHANNELS];
    for (y, row) in wide.chunks_exact_mut(dst_w * CHANNELS).enumerate() {
        let src = &picture.data[y * src_w * CHANNELS..(y + 1) * src_w * CHANNELS];
        for (out, tap) in row.chunks_exact_mut(CHANNELS).zip(&columns) {
            for (i, w) in tap.weights.iter().enumerate() {
                let px = &src[(tap.start + i) * CHANNELS..][..CHANNELS];
                for c in 0..CHANNELS {
                    out[c] += w * f32::from(px[c]);
                }
            }
        }
    }
    let rows = taps(src_h, dst_h);
    let stride = dst_w * CHANNELS;
    let mut data = vec![0u8; dst_w * dst_h * CHANNELS];
    let mut acc = vec![0f32; stride];
    for (out, tap) in data.chunks_exact_mut(stride).zip(&rows) {
        acc.fill(0.0);
        for (i, w) in tap.weights.iter().enumerate() {
            let src = &wide[(tap.start + i) * stride..][..stride];
            for (a, s) in acc.iter_mut().zip(src) {
                *a += w * s;
            }
        }
        for (o, a) in out.iter_mut().zip(&acc) {
            // In range by construction (weights sum to 1); the clamp guards rounding.
            *o = a.round().clamp(0.0, 255.0) as u8;
        }
    }
    Picture {
        width,
        height,
        data,
    }
}

/// The source pixels one output pixel reads, from `start` on, with their weights (summing to 1).
struct Tap {
    start: usize,
    weights: Vec<f32>,
}

/// One tap per output pixel along an axis of `src` pixels resampled to `dst` (both non-zero).
fn taps(src: usize, dst: usize) -> Vec<Tap> {
    let scale = src as f64 / dst as f64;
    // The triangle's half-width in source pixels: one pixel when enlarging (bilinear), the
    // reduction factor when shrinking.
    let radius = scale.max(1.0);
    (0..dst)
        .map(|i| {
            // Pixel centres sit at +0.5, so the corners of both grids line up.
            let centre = (i as f64 + 0.5) * scale;
            let first = ((centre - radius).floor().max(0.0) as usize).min(src - 1);
            let last = ((centre + radius).ceil() as usize).clamp(first + 1, src);
            let mut weights: Vec<f32> = (first..last)
                .map(|j| (1.0 - ((j as f64 + 0.5 - centre) / radius).abs()).max(0.0) as f32)
                .collect();
            // Never zero: the source pixel nearest the centre is within half a pixel of it,
            // well inside the radius.
            let sum: f32 = weights.iter().sum();
            weights.iter_mut().for_each(|w| *w /= sum);
            Tap {
                start: first,
                weights,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gray(width: u32, height: u32, value: impl Fn(u32, u32) -> u8) -> Picture {
        let mut data = Vec::new();
        for y in 0..height {
            for x in 0..width {
                data.extend([value(x, y); CHANNELS]);
            }
        }
        Picture {
            width,
            height,
            data,
        }
    }

    #[test]
    fn weights_sum_to_one_and_stay_inside() {
        for (src, dst) in [(320, 160), (320, 7), (7, 320), (1, 5), (5, 1), (1920, 3)] {
            for tap in taps(src, dst) {
                let sum: f32 = tap.weights.iter().sum();
                assert!((sum - 1.0).abs() < 1e-4, "{src}->{dst}: {sum}");
                assert!(tap.start + tap.weights.len() <= src, "{src}->{dst}");
            }
        }
    }

    #[test]
    fn flat_pictures_stay_flat_and_sizes_are_exact() {
        let p = gray(320, 240, |_, _| 77);
        for (w, h) in [(160, 120), (1, 1), (641, 3), (320, 240)] {
            let r = resize(&p, w, h);
            assert_eq!((r.width, r.height), (w, h));
            assert_eq!(r.data.len(), (w * h) as usize * CHANNELS);
            assert!(r.data.iter().all(|&v| v == 77), "{w}x{h}");
        }
    }

    #[test]
    fn halving_averages_and_enlarging_interpolates() {
        // Columns alternating 0 and 200 shrunk to a third: every output centre falls on a
        // source pixel, so plain bilinear sampling would give stripes of 0 and 200; the widened
        // triangle averages its neighbours in (8/9 and 10/9 of the mean, away from the edges).
        let stripes = gray(24, 3, |x, _| if x % 2 == 0 { 0 } else { 200 });
        let third = resize(&stripes, 8, 1);
        let row: Vec<u8> = third.data.chunks(CHANNELS).map(|p| p[0]).collect();
        assert!(row[1..7].iter().all(|v| (88..=112).contains(v)), "{row:?}");
        // A ramp 0, 100 enlarged to 4 px: 0, 25, 75, 100 (centres at 1/4 and 3/4).
        let ramp = gray(2, 1, |x, _| if x == 0 { 0 } else { 100 });
        let wide = resize(&ramp, 4, 1);
        let row: Vec<u8> = wide.data.chunks(CHANNELS).map(|p| p[0]).collect();
        assert_eq!(row, [0, 25, 75, 100]);
    }
}
