//! Where a rotated neume may be cut (upstream's `SliceFinding.py`): the black-pixel projections of
//! the rotated image, smoothed, split into rising and falling segments, short segments merged
//! into their neighbours, and the valleys between two peaks that are deep enough.

use crate::gamera::{Plane, WHITE};

/// The axis of the rotated image a slice is on: an `X` slice cuts at a column, a `Y` slice at a
/// row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Axis {
    /// Columns (upstream's `'x'`): the cut runs vertically in the rotated image.
    X,
    /// Rows (upstream's `'y'`): the cut runs horizontally in the rotated image.
    Y,
}

/// A candidate cut: the valley's index in the smoothed projection and its spread (the lower of
/// the two neighbouring peaks minus the valley).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Slice {
    /// Index of the valley in the smoothed projection (a column or row of the rotated image).
    pub position: usize,
    /// Lower neighbouring peak minus the valley.
    pub spread: f64,
}

/// A run of the smoothed projection: only its length and last value matter (the last value of
/// a rising run is a peak, of a falling one a valley).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Segment {
    len: usize,
    last: f64,
}

/// The settings that decide where slices are.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SliceSettings {
    /// Width of the box filter over the projections (1 leaves them as they are).
    pub smoothing: usize,
    /// Segments shorter than this are merged into their neighbours.
    pub min_segment_length: usize,
    /// A valley must lie below this fraction of the largest peak.
    pub low_valley_threshold: f64,
    /// The spread must exceed this fraction of the largest peak.
    pub min_slice_spread: f64,
}

/// Peaks and valleys: `(index in the smoothed projection, value)`.
type Extrema = (Vec<(usize, f64)>, Vec<(usize, f64)>);

/// Gamera's `projection_cols` and `projection_rows`: black pixels per column and per row.
pub fn projections(image: &Plane<u8>) -> (Vec<u32>, Vec<u32>) {
    let mut cols = vec![0u32; image.width()];
    let mut rows = vec![0u32; image.height()];
    for (y, row) in image.rows().enumerate() {
        for (x, &p) in row.iter().enumerate() {
            if p != WHITE {
                cols[x] += 1;
                rows[y] += 1;
            }
        }
    }
    (cols, rows)
}

/// `np.convolve(projection, smoothing * [1]) / smoothing`: the full convolution with a box of
/// `smoothing` ones (`len + smoothing - 1` values), divided by `smoothing`.
fn smooth(projection: &[u32], smoothing: usize) -> Vec<f64> {
    if projection.is_empty() {
        return Vec::new();
    }
    let n = projection.len();
    (0..n + smoothing - 1)
        .map(|k| {
            let lo = (k + 1).saturating_sub(smoothing);
            let hi = k.min(n - 1);
            let sum: u64 = projection[lo..=hi].iter().map(|&v| u64::from(v)).sum();
            sum as f64 / smoothing as f64
        })
        .collect()
}

/// Upstream's `_arrayify_projection`: the projection cut after every turn from rising to
/// falling (a peak) and from falling to rising (a valley). The first segment rises to the first
/// peak; the last holds what is left.
fn segments(projection: &[f64]) -> Vec<Segment> {
    let mut out = Vec::new();
    let mut start = 0usize;
    let mut rising = true;
    for i in 1..projection.len() {
        let (before, here) = (projection[i - 1], projection[i]);
        if (rising && before > here) || (!rising && before < here) {
            out.push(Segment {
                len: i - start,
                last: before,
            });
            start = i;
            rising = !rising;
        }
    }
    if let Some(&last) = projection.last() {
        out.push(Segment {
            len: projection.len() - start,
            last,
        });
    }
    out
}

fn join(parts: &[Segment]) -> Segment {
    Segment {
        len: parts.iter().map(|s| s.len).sum(),
        last: parts.last().map_or(0.0, |s| s.last),
    }
}

/// Upstream's `_merge_index_with_neighbours`: segment `i` joined with its neighbours (with both
/// when it has two, with the second one's neighbours when it is second or second to last, and
/// everything into one when fewer than four segments remain).
fn merge_with_neighbours(l: &[Segment], i: usize) -> Vec<Segment> {
    let n = l.len();
    let mut out = Vec::with_capacity(n);
    if n < 4 {
        out.push(join(l));
    } else if i == 0 {
        out.push(join(&l[..2]));
        out.extend_from_slice(&l[2..]);
    } else if i == 1 {
        out.push(join(&l[..3]));
        out.extend_from_slice(&l[3..]);
    } else if i == n - 1 {
        out.extend_from_slice(&l[..n - 2]);
        out.push(join(&l[n - 2..]));
    } else if i == n - 2 {
        out.extend_from_slice(&l[..n - 3]);
        out.push(join(&l[n - 3..]));
    } else {
        out.extend_from_slice(&l[..i - 1]);
        out.push(join(&l[i - 1..=i + 1]));
        out.extend_from_slice(&l[i + 2..]);
    }
    out
}

/// Upstream's `_filter_projection_array`: from the second segment on, a segment shorter than
/// `min_len` is merged with its neighbours and the scan steps back one.
fn filter_segments(mut segments: Vec<Segment>, min_len: usize) -> Vec<Segment> {
    let mut i = 0usize;
    while i + 1 < segments.len() {
        i += 1;
        if segments[i].len < min_len {
            segments = merge_with_neighbours(&segments, i);
            i -= 1;
        }
    }
    segments
}

/// Upstream's `_get_extrema`: every segment but the last ends at an extremum, peaks and valleys
/// alternating from a peak; its index is the segment's last index in the projection.
fn extrema(segments: &[Segment]) -> Extrema {
    let (mut minima, mut maxima) = (Vec::new(), Vec::new());
    let mut end = 0usize;
    for (i, s) in segments
        .iter()
        .take(segments.len().saturating_sub(1))
        .enumerate()
    {
        end += s.len;
        let extremum = (end - 1, s.last);
        if i % 2 == 0 {
            maxima.push(extremum);
        } else {
            minima.push(extremum);
        }
    }
    (minima, maxima)
}

/// The segments of the smoothed column and row projections of `rotated`.
fn projection_segments(rotated: &Plane<u8>, s: &SliceSettings) -> (Vec<Segment>, Vec<Segment>) {
    let (cols, rows) = projections(rotated);
    let segs = |p: &[u32]| filter_segments(segments(&smooth(p, s.smoothing)), s.min_segment_length);
    (segs(&cols), segs(&rows))
}

/// Upstream's `SliceFinder`, with the largest peaks of the whole glyph (`set_max_projs`) that
/// every later cut of it is measured against.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SliceFinder {
    settings: SliceSettings,
    max_x: f64,
    max_y: f64,
}

impl SliceFinder {
    /// A finder measuring against the highest peaks of `rotated` (the whole glyph, dilated and
    /// rotated), 0 along an axis without a peak.
    pub fn new(settings: SliceSettings, rotated: &Plane<u8>) -> Self {
        let (cols, rows) = projection_segments(rotated, &settings);
        let highest = |segments: &[Segment]| {
            let (_, maxima) = extrema(segments);
            // Python's max() keeps the first of equal values; equal floats are the same here.
            maxima
                .iter()
                .map(|&(_, v)| v)
                .fold(None, |m: Option<f64>, v| {
                    Some(match m {
                        Some(m) if m >= v => m,
                        _ => v,
                    })
                })
        };
        Self {
            settings,
            max_x: highest(&cols).unwrap_or(0.0),
            max_y: highest(&rows).unwrap_or(0.0),
        }
    }

    /// The largest peaks of the column and row projections.
    pub fn max_projections(&self) -> (f64, f64) {
        (self.max_x, self.max_y)
    }

    /// Upstream's `get_slices`: the column slices and the row slices of `rotated`.
    pub fn slices(&self, rotated: &Plane<u8>) -> (Vec<Slice>, Vec<Slice>) {
        let (cols, rows) = projection_segments(rotated, &self.settings);
        (
            self.find(&extrema(&cols), self.max_x),
            self.find(&extrema(&rows), self.max_y),
        )
    }

    /// Upstream's `_find_slices`: each valley between two peaks whose spread exceeds the minimum
    /// spread and which lies below the low-valley threshold, both relative to `highest`.
    fn find(&self, (minima, maxima): &Extrema, highest: f64) -> Vec<Slice> {
        let s = &self.settings;
        maxima
            .windows(2)
            .zip(minima)
            .filter_map(|(peaks, &(position, valley))| {
                let spread = peaks[0].1.min(peaks[1].1) - valley;
                (spread > s.min_slice_spread * highest && valley < s.low_valley_threshold * highest)
                    .then_some(Slice { position, spread })
            })
            .collect()
    }
}

/// Upstream's `_best_slice`: the first slice of the largest spread.
pub fn best_slice(slices: &[Slice]) -> Option<Slice> {
    slices
        .iter()
        .fold(None, |best: Option<Slice>, &s| match best {
            Some(b) if s.spread <= b.spread => Some(b),
            _ => Some(s),
        })
}

/// Which cuts to prefer ('Slice Prioritization').
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prioritization {
    /// The best slice of either axis.
    None,
    /// Row slices (`Y`) first.
    Horizontal,
    /// Column slices (`X`) first.
    Vertical,
    /// The axis with more slices first.
    MultiCut,
}

impl Prioritization {
    /// The choice at `index` of the setting's enum (`None`, `Horizontal`, `Vertical`,
    /// `Multi-Cut`).
    pub fn from_index(index: usize) -> Option<Self> {
        [Self::None, Self::Horizontal, Self::Vertical, Self::MultiCut]
            .get(index)
            .copied()
    }
}

/// `(position, spread)` compared as Python compares the tuples: position first.
fn tuple_order(a: &Slice, b: &Slice) -> Option<std::cmp::Ordering> {
    a.position
        .cmp(&b.position)
        .then(a.spread.partial_cmp(&b.spread)?)
        .into()
}

/// Upstream's `_get_best_slice`: the slice to cut at and its axis, or none. Without a
/// prioritisation that applies, the best slices of both axes are compared as Python tuples
/// `(position, spread)`, so the one further along wins (upstream's comparison, kept: it decides
/// which cuts the golden outputs have), and two equal ones give no cut.
pub fn choose(x: &[Slice], y: &[Slice], priority: Prioritization) -> Option<(Slice, Axis)> {
    let (best_x, best_y) = (best_slice(x), best_slice(y));
    if priority == Prioritization::MultiCut {
        if x.len() > y.len() {
            return best_x.map(|s| (s, Axis::X));
        }
        if y.len() > x.len() {
            return best_y.map(|s| (s, Axis::Y));
        }
    }
    match (priority, best_x, best_y) {
        (Prioritization::Vertical, Some(s), _) => return Some((s, Axis::X)),
        (Prioritization::Horizontal, _, Some(s)) => return Some((s, Axis::Y)),
        _ => {}
    }
    match (best_x, best_y) {
        (None, None) => None,
        (Some(s), None) => Some((s, Axis::X)),
        (None, Some(s)) => Some((s, Axis::Y)),
        (Some(sx), Some(sy)) => match tuple_order(&sx, &sy)? {
            std::cmp::Ordering::Greater => Some((sx, Axis::X)),
            std::cmp::Ordering::Less => Some((sy, Axis::Y)),
            std::cmp::Ordering::Equal => None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seg(len: usize, last: f64) -> Segment {
        Segment { len, last }
    }

    #[test]
    fn smoothing_is_a_full_box_convolution_divided_by_its_width() {
        assert_eq!(smooth(&[1, 2, 3], 1), vec![1.0, 2.0, 3.0]);
        assert_eq!(smooth(&[1, 2, 3], 2), vec![0.5, 1.5, 2.5, 1.5]);
        assert_eq!(smooth(&[4], 3), vec![4.0 / 3.0; 3]);
    }

    #[test]
    fn segments_end_at_each_turn_and_plateaus_stay_in_their_segment() {
        let p = [0.0, 2.0, 5.0, 5.0, 1.0, 1.0, 4.0, 0.0];
        // Rises to the 5s, falls to the 1s, rises to 4, falls to the end.
        assert_eq!(
            segments(&p),
            vec![seg(4, 5.0), seg(2, 1.0), seg(1, 4.0), seg(1, 0.0)]
        );
        assert_eq!(segments(&[3.0]), vec![seg(1, 3.0)]);
        assert_eq!(segments(&[]), vec![]);
    }

    #[test]
    fn merging_follows_upstreams_cases() {
        let l: Vec<Segment> = (1..=6).map(|i| seg(i, i as f64)).collect();
        // Middle: with both neighbours.
        assert_eq!(
            merge_with_neighbours(&l, 2),
            vec![seg(1, 1.0), seg(9, 4.0), seg(5, 5.0), seg(6, 6.0)]
        );
        // Second: the first three.
        assert_eq!(merge_with_neighbours(&l, 1)[0], seg(6, 3.0));
        // Second to last: the last three; last: the last two.
        assert_eq!(merge_with_neighbours(&l, 4).last(), Some(&seg(15, 6.0)));
        assert_eq!(merge_with_neighbours(&l, 5).last(), Some(&seg(11, 6.0)));
        assert_eq!(merge_with_neighbours(&l, 5).len(), 5);
        // Fewer than four: all into one.
        assert_eq!(merge_with_neighbours(&l[..3], 1), vec![seg(6, 3.0)]);
    }

    #[test]
    fn short_segments_are_merged_from_the_second_on() {
        // The first segment is never looked at on its own.
        let l = vec![
            seg(1, 5.0),
            seg(6, 1.0),
            seg(6, 7.0),
            seg(2, 3.0),
            seg(9, 0.0),
        ];
        // Index 3 (second to last) is short: the last three join.
        assert_eq!(
            filter_segments(l.clone(), 5),
            vec![seg(1, 5.0), seg(6, 1.0), seg(17, 0.0)]
        );
        assert_eq!(filter_segments(l.clone(), 0), l);
    }

    #[test]
    fn extrema_alternate_from_a_peak_at_each_segments_last_index() {
        let l = vec![seg(3, 5.0), seg(2, 1.0), seg(4, 7.0), seg(3, 0.0)];
        let (minima, maxima) = extrema(&l);
        assert_eq!(maxima, vec![(2, 5.0), (8, 7.0)]);
        assert_eq!(minima, vec![(4, 1.0)]);
    }

    #[test]
    fn a_valley_is_a_slice_when_deep_enough_and_low_enough() {
        let settings = SliceSettings {
            smoothing: 1,
            min_segment_length: 0,
            low_valley_threshold: 0.5,
            min_slice_spread: 0.3,
        };
        // Columns: two towers of 4 and 3 with a gap of 1 between them, then a blank column (a
        // last peak needs a descent after it).
        let rows = ["#.#.", "#.#.", "###.", "#..."];
        let data = rows
            .iter()
            .flat_map(|r| r.bytes().map(|b| u8::from(b == b'#')))
            .collect();
        let image = Plane::from_vec(4, 4, data).expect("16 pixels");
        let finder = SliceFinder::new(settings, &image);
        assert_eq!(finder.max_projections(), (4.0, 3.0));
        let (x, y) = finder.slices(&image);
        // Valley 1 at column 1, spread min(4, 3) - 1 = 2 > 1.2, 1 < 2.
        assert_eq!(
            x,
            vec![Slice {
                position: 1,
                spread: 2.0
            }]
        );
        assert!(y.is_empty());
        let strict = SliceFinder {
            settings: SliceSettings {
                low_valley_threshold: 0.25,
                ..settings
            },
            ..finder
        };
        assert!(strict.slices(&image).0.is_empty());
    }

    #[test]
    fn choosing_compares_tuples_unless_a_prioritisation_applies() {
        let s = |position, spread| Slice { position, spread };
        let x = [s(3, 1.0), s(9, 2.0), s(12, 2.0)];
        let y = [s(20, 1.5)];
        assert_eq!(best_slice(&x), Some(s(9, 2.0)));
        // (20, 1.5) > (9, 2.0) as tuples.
        assert_eq!(
            choose(&x, &y, Prioritization::None),
            Some((s(20, 1.5), Axis::Y))
        );
        assert_eq!(
            choose(&x, &y, Prioritization::Vertical),
            Some((s(9, 2.0), Axis::X))
        );
        assert_eq!(
            choose(&x, &y, Prioritization::Horizontal),
            Some((s(20, 1.5), Axis::Y))
        );
        assert_eq!(
            choose(&x, &y, Prioritization::MultiCut),
            Some((s(9, 2.0), Axis::X))
        );
        assert_eq!(
            choose(&[], &y, Prioritization::Vertical),
            Some((s(20, 1.5), Axis::Y))
        );
        assert_eq!(choose(&y, &y, Prioritization::None), None);
        assert_eq!(choose(&[], &[], Prioritization::MultiCut), None);
        assert_eq!(
            Prioritization::from_index(2),
            Some(Prioritization::Vertical)
        );
        assert_eq!(Prioritization::from_index(4), None);
    }
}
