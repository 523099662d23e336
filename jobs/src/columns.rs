//! Column splitting of a folio's layers, as upstream's `column_split/base.py`: the ink of the
//! merged layers is projected onto the x axis, smoothed, and the widest runs of strong columns are
//! taken as the page's text columns; each layer's columns are then stacked one below the other.
//!
//! A pixel is ink when its alpha is exactly 255 (upstream's `255 - alpha == False`, at either bit
//! depth). Every floating-point step is the one numpy takes (exact integer sums, one division,
//! `sqrt`), so the split points are upstream's.

use crate::opencv::{AnyMat, Mat};

/// Half the width of the moving-average window (upstream's `filter_size=30`).
pub const FILTER_SIZE: usize = 30;

/// Why no split points could be found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SplitError {
    /// The smoothed projection stays strong up to the page's right edge, which happens when the
    /// page is at most `2 * FILTER_SIZE` pixels wide or holds almost no ink (upstream's loop
    /// then runs past the end of its signal and fails).
    #[error(
        "failed to find columns: the page is too narrow or holds too little ink (the strong \
         region reaches its right edge)"
    )]
    NoEdge,
}

/// Per column x, how many rows have ink in at least one of `layers` (numpy's
/// `np.sum(np.logical_or(...), axis=0)`). The layers share the first one's width and height and
/// have an alpha channel (4 channels); pixels beyond those are not looked at.
pub fn ink_projection(layers: &[&AnyMat]) -> Vec<u64> {
    let Some(first) = layers.first() else {
        return Vec::new();
    };
    let (width, height, _) = first.shape();
    let mut merged = vec![false; width * height];
    for layer in layers {
        match layer {
            AnyMat::U8(m) => mark_ink(m, &mut merged),
            AnyMat::U16(m) => mark_ink(m, &mut merged),
        }
    }
    let mut projection = vec![0u64; width];
    for row in merged.chunks_exact(width.max(1)) {
        for (count, &ink) in projection.iter_mut().zip(row) {
            *count += u64::from(ink);
        }
    }
    projection
}

fn mark_ink<T: Copy + PartialEq + From<u8>>(layer: &Mat<T>, merged: &mut [bool]) {
    let opaque = T::from(255);
    let pixels = layer.data().chunks_exact(layer.channels().max(1));
    for (ink, pixel) in merged.iter_mut().zip(pixels) {
        if pixel.get(3) == Some(&opaque) {
            *ink = true;
        }
    }
}

/// Upstream's `moving_avg_filter`: the mean of the `2 * size + 1` values around each index,
/// and 0 within `size` of either end.
pub fn moving_average(data: &[u64], size: usize) -> Vec<f64> {
    let mut smoothed = vec![0.0; data.len()];
    let window = 2 * size + 1;
    if data.len() < window {
        return smoothed;
    }
    let mut sum: u64 = data[..window].iter().sum();
    for n in size..data.len() - size {
        if n > size {
            sum = sum + data[n + size] - data[n - size - 1];
        }
        // numpy's mean of integers: an exact float64 sum divided by the count.
        smoothed[n] = sum as f64 / window as f64;
    }
    smoothed
}

/// Upstream's `get_split_locations`: the x positions between the `num_columns` widest strong
/// regions of the smoothed projection (fewer when fewer regions exist).
pub fn split_locations(projection: &[u64], num_columns: usize) -> Result<Vec<usize>, SplitError> {
    let filtered = moving_average(projection, FILTER_SIZE);
    let rooted: Vec<f64> = filtered.iter().map(|v| (v + 1.0).sqrt()).collect();
    let max = rooted.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let signal: Vec<bool> = rooted.iter().map(|r| r / max > 0.5).collect();
    // Maximal runs of strong columns, (first, last), left to right.
    let mut bounds: Vec<(usize, usize)> = Vec::new();
    let mut x = 0;
    while x < signal.len() {
        if !signal[x] {
            x += 1;
            continue;
        }
        let start = x;
        while x < signal.len() && signal[x] {
            x += 1;
        }
        if x == signal.len() {
            return Err(SplitError::NoEdge);
        }
        bounds.push((start, x - 1));
    }
    // The widest first (a stable sort: equal widths stay left to right), then left to right.
    bounds.sort_by_key(|&(start, end)| std::cmp::Reverse(end - start));
    bounds.truncate(num_columns);
    bounds.sort_by_key(|&(start, _)| start);
    Ok(bounds
        .windows(2)
        .map(|pair| (pair[0].1 + pair[1].0) / 2)
        .collect())
}

/// Upstream's `get_split_ranges`: the `[start, end)` x ranges of the columns of a page `width`
/// wide split at `splits`.
pub fn split_ranges(width: usize, splits: &[usize]) -> Vec<(usize, usize)> {
    let mut edges = Vec::with_capacity(splits.len() + 2);
    edges.push(0);
    edges.extend_from_slice(splits);
    edges.push(width);
    edges.windows(2).map(|e| (e[0], e[1])).collect()
}

/// Upstream's `get_stacked_image`: the columns of `image` at `ranges`, each padded on the right
/// to the widest with samples of 255, stacked top to bottom.
pub fn stack<T: Copy + From<u8>>(image: &Mat<T>, ranges: &[(usize, usize)]) -> Mat<T> {
    let height = image.height();
    let c = image.channels();
    let clamp = |x: usize| x.min(image.width());
    let widest = ranges
        .iter()
        .map(|&(a, b)| clamp(b).saturating_sub(clamp(a)))
        .max()
        .unwrap_or(0);
    let mut out = Mat::filled(widest, height * ranges.len(), c, T::from(255));
    for (i, &(a, b)) in ranges.iter().enumerate() {
        let (a, b) = (clamp(a), clamp(b).max(clamp(a)));
        for y in 0..height {
            out.row_mut(i * height + y)[..(b - a) * c].copy_from_slice(&image.row(y)[a * c..b * c]);
        }
    }
    out
}

/// Sample-wise sum of equally shaped images wrapping at the sample type's size, as numpy adds
/// `uint8` / `uint16` arrays (upstream's 'All Layers' image); `None` when shapes differ.
pub fn wrapping_sum<T: Copy + WrappingAdd>(images: &[&Mat<T>]) -> Option<Mat<T>> {
    let (first, rest) = images.split_first()?;
    let mut sum = (*first).clone();
    for image in rest {
        let same = (image.width(), image.height(), image.channels())
            == (sum.width(), sum.height(), sum.channels());
        if !same {
            return None;
        }
        let data: Vec<T> = sum
            .data()
            .iter()
            .zip(image.data())
            .map(|(&a, &b)| a.wrapping_add(b))
            .collect();
        sum = Mat::new(sum.width(), sum.height(), sum.channels(), data)?;
    }
    Some(sum)
}

/// Addition modulo the type's size.
pub trait WrappingAdd {
    /// `self + other`, wrapping.
    #[must_use]
    fn wrapping_add(self, other: Self) -> Self;
}

impl WrappingAdd for u8 {
    fn wrapping_add(self, other: Self) -> Self {
        u8::wrapping_add(self, other)
    }
}

impl WrappingAdd for u16 {
    fn wrapping_add(self, other: Self) -> Self {
        u16::wrapping_add(self, other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A ten-row layer whose pixels in column x are opaque where `ink(x)`.
    fn layer(width: usize, ink: impl Fn(usize) -> bool) -> AnyMat {
        let row: Vec<u8> = (0..width)
            .flat_map(|x| if ink(x) { [0, 0, 0, 255] } else { [0, 0, 0, 0] })
            .collect();
        AnyMat::U8(Mat::new(width, 10, 4, row.repeat(10)).expect("width * 40 samples"))
    }

    #[test]
    fn the_projection_counts_rows_with_ink_in_any_layer_once() {
        let a = AnyMat::U8(
            Mat::new(
                2,
                2,
                4,
                vec![0, 0, 0, 255, 0, 0, 0, 254, 0, 0, 0, 255, 0, 0, 0, 0],
            )
            .expect("16 samples"),
        );
        let b = AnyMat::U16(
            Mat::new(
                2,
                2,
                4,
                vec![0, 0, 0, 255, 0, 0, 0, 0, 0, 0, 0, 0, 9, 9, 9, 255],
            )
            .expect("16 samples"),
        );
        assert_eq!(ink_projection(&[&a, &b]), [2, 1]);
        assert_eq!(ink_projection(&[&a]), [2, 0], "alpha 254 is not ink");
        let deep = AnyMat::U16(Mat::new(1, 1, 4, vec![0, 0, 0, 65535]).expect("4 samples"));
        assert_eq!(
            ink_projection(&[&deep]),
            [0],
            "16-bit ink is alpha 255 too, as upstream"
        );
    }

    #[test]
    fn the_moving_average_is_zero_at_the_ends_and_exact_inside() {
        let data: Vec<u64> = (0..10).collect();
        let smoothed = moving_average(&data, 2);
        assert_eq!(smoothed[..2], [0.0, 0.0]);
        assert_eq!(smoothed[8..], [0.0, 0.0]);
        for (n, mean) in smoothed.iter().enumerate().take(8).skip(2) {
            assert_eq!(*mean, n as f64, "mean of {}..={}", n - 2, n + 2);
        }
        assert_eq!(
            moving_average(&[5, 5, 5], 2),
            [0.0; 3],
            "shorter than the window"
        );
        let odd = moving_average(&[1, 0, 0, 0, 1, 1, 0], 3);
        assert_eq!(odd[3], 3.0 / 7.0);
    }

    #[test]
    fn two_text_columns_split_halfway_between_their_strong_regions() {
        // Columns of ink at 100..400 and 500..900 of a 1000-pixel page, with a thin rule at 950.
        let page = layer(1000, |x| {
            (100..400).contains(&x) || (500..900).contains(&x) || x == 950
        });
        let projection = ink_projection(&[&page]);
        let splits = split_locations(&projection, 2).expect("two columns");
        // Ten rows of ink: the smoothed projection peaks at 10 and a column is strong when
        // sqrt(mean + 1) > sqrt(11) / 2, i.e. when 11 or more of its 61-pixel window are ink:
        // x in 80..=419 and 480..=919. The split is halfway between 419 and 480.
        assert_eq!(splits, [449]);
        let split = splits[0];
        assert_eq!(split_ranges(1000, &splits), [(0, split), (split, 1000)]);
    }

    #[test]
    fn only_the_widest_regions_count_and_fewer_regions_give_fewer_splits() {
        let page = layer(1200, |x| {
            (100..300).contains(&x) || (400..800).contains(&x) || (900..1100).contains(&x)
        });
        let projection = ink_projection(&[&page]);
        assert_eq!(split_locations(&projection, 3).expect("three").len(), 2);
        let two = split_locations(&projection, 2).expect("two");
        assert_eq!(two.len(), 1);
        // The middle region is the widest; of the outer two (equal widths) the left one is kept.
        assert!((300..400).contains(&two[0]), "{two:?}");
        let single = layer(1000, |x| (200..800).contains(&x));
        assert_eq!(
            split_locations(&ink_projection(&[&single]), 2).expect("one region"),
            Vec::<usize>::new()
        );
        assert_eq!(split_ranges(1000, &[]), [(0, 1000)]);
    }

    #[test]
    fn a_narrow_or_empty_page_has_no_edge_to_its_strong_region() {
        let narrow = layer(60, |_| true);
        assert_eq!(
            split_locations(&ink_projection(&[&narrow]), 2),
            Err(SplitError::NoEdge)
        );
        let empty = layer(500, |_| false);
        assert_eq!(
            split_locations(&ink_projection(&[&empty]), 2),
            Err(SplitError::NoEdge)
        );
    }

    #[test]
    fn stacking_pads_narrower_columns_with_255_on_the_right() {
        // 3 x 2, one channel: rows [1 2 3] and [4 5 6], split at 1.
        let image = Mat::new(3, 2, 1, vec![1u8, 2, 3, 4, 5, 6]).expect("6 samples");
        let stacked = stack(&image, &split_ranges(3, &[1]));
        assert_eq!((stacked.width(), stacked.height()), (2, 4));
        assert_eq!(stacked.data(), [1, 255, 4, 255, 2, 3, 5, 6]);
        let wide = Mat::new(3, 1, 2, vec![1u16, 2, 3, 4, 5, 6]).expect("6 samples");
        let stacked = stack(&wide, &split_ranges(3, &[2]));
        assert_eq!(stacked.data(), [1, 2, 3, 4, 5, 6, 255, 255]);
    }

    #[test]
    fn layers_add_up_wrapping_like_numpy() {
        let a = Mat::new(2, 1, 1, vec![200u8, 1]).expect("2");
        let b = Mat::new(2, 1, 1, vec![100u8, 2]).expect("2");
        let sum = wrapping_sum(&[&a, &b]).expect("same shapes");
        assert_eq!(sum.data(), [44, 3]);
        let c = Mat::new(1, 2, 1, vec![0u8, 0]).expect("2");
        assert!(wrapping_sum(&[&a, &c]).is_none());
    }
}
