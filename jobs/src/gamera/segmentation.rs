//! Gamera's `cc_analysis` (`segmentation.hpp`): 8-connected components of a ONEBIT image, in
//! Gamera's order (by the raster position of each component's first pixel); and `splitx`,
//! `splitx_max` and `splity`, which cut an image at a valley (or peak) of its column or row
//! projection and return the pieces' components.

use super::image_utilities::Placed;
use super::projections::{projection_cols, projection_rows};
use super::{BLACK, GameraError, Plane, WHITE};

/// Gamera labels with 16-bit pixels starting at 2, and gives up when it would hand out 65535:
/// at most this many provisional labels (one per pixel without a labelled W, NW, N or NE
/// neighbour).
pub const MAX_PROVISIONAL_LABELS: usize = 65533;

/// One connected component: its bounding box, and its label in [`Labelled::labels`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Component {
    /// The label of its pixels.
    pub label: u16,
    /// Left column.
    pub ul_x: usize,
    /// Top row.
    pub ul_y: usize,
    /// Width.
    pub ncols: usize,
    /// Height.
    pub nrows: usize,
}

/// A labelled image and its components.
#[derive(Debug, Clone)]
pub struct Labelled {
    /// Every pixel's component label; 0 for white.
    pub labels: Plane<u16>,
    /// The components, in Gamera's order.
    pub components: Vec<Component>,
}

impl Labelled {
    /// Gamera's `to_rle` of a component: alternating white and black run lengths over its
    /// bounding box in row-major order, white first, each followed by a space. Pixels of other
    /// components inside the box count as white.
    pub fn to_rle(&self, c: &Component) -> String {
        let mut out = String::new();
        let mut black = false;
        let mut run = 0usize;
        for y in c.ul_y..c.ul_y + c.nrows {
            for x in c.ul_x..c.ul_x + c.ncols {
                let is_black = self.labels.get(x, y) == c.label;
                if is_black != black {
                    out.push_str(&run.to_string());
                    out.push(' ');
                    black = is_black;
                    run = 0;
                }
                run += 1;
            }
        }
        out.push_str(&run.to_string());
        out.push(' ');
        if !black {
            // The last white run is followed by an empty black run.
            out.push_str("0 ");
        }
        out
    }
}

fn find(parent: &mut [u16], mut x: u16) -> u16 {
    while parent[usize::from(x)] != x {
        let p = parent[usize::from(x)];
        parent[usize::from(x)] = parent[usize::from(p)];
        x = p;
    }
    x
}

/// Gamera's `cc_analysis`.
pub fn cc_analysis(image: &Plane<u8>) -> Result<Labelled, GameraError> {
    let (ncols, nrows) = (image.width(), image.height());
    let mut labels = Plane::new(ncols, nrows, 0u16);
    // parent[l] is the union-find parent of provisional label l; roots are the smallest label of
    // their class, which is the label of the class's first pixel in raster order.
    let mut parent: Vec<u16> = vec![0];
    for y in 0..nrows {
        for x in 0..ncols {
            if image.get(x, y) == WHITE {
                continue;
            }
            let mut neighbours = [0u16; 4];
            if x > 0 {
                neighbours[0] = labels.get(x - 1, y);
            }
            if y > 0 {
                neighbours[1] = labels.get(x, y - 1);
                if x > 0 {
                    neighbours[2] = labels.get(x - 1, y - 1);
                }
                if x + 1 < ncols {
                    neighbours[3] = labels.get(x + 1, y - 1);
                }
            }
            let mut label = 0u16;
            for &n in neighbours.iter().filter(|&&n| n != 0) {
                let root = find(&mut parent, n);
                if label == 0 {
                    label = root;
                } else if root != label {
                    let (lo, hi) = if root < label {
                        (root, label)
                    } else {
                        (label, root)
                    };
                    parent[usize::from(hi)] = lo;
                    label = lo;
                }
            }
            if label == 0 {
                if parent.len() > MAX_PROVISIONAL_LABELS {
                    return Err(GameraError::TooManyLabels);
                }
                label = parent.len() as u16;
                parent.push(label);
            }
            labels.set(x, y, label);
        }
    }
    for l in 0..parent.len() {
        let root = find(&mut parent, l as u16);
        parent[l] = root;
    }
    // Bounding boxes per root label: (min x, min y, max x, max y).
    let mut boxes: Vec<Option<(usize, usize, usize, usize)>> = vec![None; parent.len()];
    for y in 0..nrows {
        for x in 0..ncols {
            let l = labels.get(x, y);
            if l == 0 {
                continue;
            }
            let root = parent[usize::from(l)];
            labels.set(x, y, root);
            let b = &mut boxes[usize::from(root)];
            *b = Some(match *b {
                None => (x, y, x, y),
                Some((x0, y0, x1, y1)) => (x0.min(x), y0.min(y), x1.max(x), y1.max(y)),
            });
        }
    }
    let components = boxes
        .iter()
        .enumerate()
        .filter_map(|(label, b)| {
            b.map(|(x0, y0, x1, y1)| Component {
                label: label as u16,
                ul_x: x0,
                ul_y: y0,
                ncols: x1 - x0 + 1,
                nrows: y1 - y0 + 1,
            })
        })
        .collect();
    Ok(Labelled { labels, components })
}

/// Gamera's `find_split_point` (`find_split_point_max` when `max`): the index near `center` (a
/// fraction of the length) whose score is least, `2 × black² + distance²` (`distance³ - 2 ×
/// black²` for `max`, which seeks the fullest index), searched from half of `center`'s index to
/// halfway between it and the end; never the first or last index. The score is computed in
/// floating point (Gamera's `int` square is equal wherever it does not overflow).
pub fn find_split_point(projections: &[usize], center: f64, max: bool) -> usize {
    let size = projections.len();
    let middle = size as f64 * center;
    let start = (middle / 2.0) as usize;
    let end = (((size as f64 - middle) / 2.0) + middle) as usize;
    let mut minimum = usize::MAX as f64;
    let mut minimum_index = 0;
    for (i, &value) in projections.iter().enumerate().take(end).skip(start) {
        let distance = (middle - i as f64).abs();
        let value = value as f64;
        let score = if max {
            -(value * value * 2.0) + distance * distance * distance
        } else {
            value * value * 2.0 + distance * distance
        };
        if score < minimum {
            minimum = score;
            minimum_index = i;
        }
    }
    if minimum_index == 0 {
        1
    } else if minimum_index == size.saturating_sub(1) {
        size.saturating_sub(2)
    } else {
        minimum_index
    }
}

/// The components of columns (`vertical`) or rows `from..to` of `image`, placed relative to
/// `image`'s corner, each holding its own pixels only.
fn piece_components(
    image: &Plane<u8>,
    vertical: bool,
    from: usize,
    to: usize,
) -> Result<Vec<Placed>, GameraError> {
    let (x0, y0, width, height) = if vertical {
        (from, 0, to - from, image.height())
    } else {
        (0, from, image.width(), to - from)
    };
    let mut piece = Plane::new(width, height, WHITE);
    for y in 0..height {
        for x in 0..width {
            piece.set(x, y, image.get(x0 + x, y0 + y));
        }
    }
    let labelled = cc_analysis(&piece)?;
    Ok(labelled
        .components
        .iter()
        .map(|c| {
            let mut pixels = Plane::new(c.ncols, c.nrows, WHITE);
            for y in 0..c.nrows {
                for x in 0..c.ncols {
                    if labelled.labels.get(c.ul_x + x, c.ul_y + y) == c.label {
                        pixels.set(x, y, BLACK);
                    }
                }
            }
            Placed::new(x0 + c.ul_x, y0 + c.ul_y, pixels)
        })
        .collect())
}

/// Gamera's `splitx` (`vertical`, with `max` its `splitx_max`) and `splity`: the image cut into
/// vertical (horizontal) slices at the split point of each of `centers` (fractions of the width
/// or height, sorted first; a split not past the last one is skipped), returned as the connected
/// components of each slice in turn, placed relative to the image's upper-left corner. An image
/// of at most one column (row) comes back whole.
pub fn split(
    image: &Plane<u8>,
    centers: &[f64],
    vertical: bool,
    max: bool,
) -> Result<Vec<Placed>, GameraError> {
    let length = if vertical {
        image.width()
    } else {
        image.height()
    };
    if length <= 1 {
        return Ok(vec![Placed::new(0, 0, image.clone())]);
    }
    let mut centers = centers.to_vec();
    centers.sort_by(f64::total_cmp);
    let projections = if vertical {
        projection_cols(image)
    } else {
        projection_rows(image)
    };
    let mut pieces = Vec::new();
    let mut last_split = 0;
    for center in centers {
        let at = find_split_point(&projections, center, max);
        if at <= last_split {
            continue;
        }
        pieces.extend(piece_components(image, vertical, last_split, at)?);
        last_split = at;
    }
    pieces.extend(piece_components(image, vertical, last_split, length)?);
    Ok(pieces)
}

/// Gamera's `splitx(center)`: [`split`] into vertical slices at the least-filled columns.
pub fn splitx(image: &Plane<u8>, centers: &[f64]) -> Result<Vec<Placed>, GameraError> {
    split(image, centers, true, false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gamera::BLACK;

    use crate::gamera::plane_from_rows as from_rows;

    #[test]
    fn components_are_eight_connected_and_ordered_by_their_first_pixel() {
        // A U shape whose arms meet late, a diagonal pair, and a dot left of the U's first row.
        let p = from_rows(&["...#.#", "#..#.#", "...###", ".#....", "..#..."]);
        let l = cc_analysis(&p).expect("few labels");
        let boxes: Vec<_> = l
            .components
            .iter()
            .map(|c| (c.ul_x, c.ul_y, c.ncols, c.nrows))
            .collect();
        assert_eq!(boxes, vec![(3, 0, 3, 3), (0, 1, 1, 1), (1, 3, 2, 2)]);
    }

    #[test]
    fn rle_runs_white_first_over_the_box_and_ignore_other_components() {
        let p = from_rows(&["#.#", ".##"]);
        let l = cc_analysis(&p).expect("few labels");
        assert_eq!(l.components.len(), 1);
        assert_eq!(l.to_rle(&l.components[0]), "0 1 1 1 1 2 ");
        let p = from_rows(&["#..", "..#", "#.."]);
        let l = cc_analysis(&p).expect("few labels");
        // Three single pixels; the first one's box is 1×1.
        assert_eq!(l.to_rle(&l.components[0]), "0 1 ");
        let p = from_rows(&["##", "#."]);
        let l = cc_analysis(&p).expect("few labels");
        assert_eq!(l.to_rle(&l.components[0]), "0 3 1 0 ");
    }

    #[test]
    fn too_many_provisional_labels_fail_like_gamera() {
        // Isolated pixels on a checker of period 2: one provisional label each.
        let side = 2 * 256 + 1;
        let mut p = Plane::new(side, side, WHITE);
        for y in (0..side).step_by(2) {
            for x in (0..side).step_by(2) {
                p.set(x, y, BLACK);
            }
        }
        assert_eq!(
            cc_analysis(&p)
                .map(|l| l.components.len())
                .expect_err("257² > 65533"),
            GameraError::TooManyLabels
        );
    }

    #[test]
    fn splitx_cuts_at_the_valley_nearest_the_middle_by_its_float_distance() {
        // 15 columns: a 2-high valley at column 4 and a 3-high one at column 7. Gamera scores
        // 2·v² + d² with d the float distance to 7.5: 8 + 12.25 at column 4, 18 + 0.25 at 7.
        let heights = [5, 5, 5, 5, 2, 5, 5, 3, 5, 5, 5, 5, 5, 5, 5];
        let mut p = Plane::new(15, 6, WHITE);
        for (x, &h) in heights.iter().enumerate() {
            for y in 0..h {
                p.set(x, y, BLACK);
            }
        }
        let parts = splitx(&p, &[0.5]).expect("few labels");
        let boxes: Vec<_> = parts
            .iter()
            .map(|c| (c.ul_x, c.ul_y, c.ncols(), c.nrows()))
            .collect();
        assert_eq!(boxes, vec![(0, 0, 7, 5), (7, 0, 8, 5)]);
    }

    #[test]
    fn splity_cuts_rows_as_splitx_cuts_columns_and_max_seeks_the_fullest() {
        // The splitx valley page turned on its side: rows instead of columns.
        let heights = [5, 5, 5, 5, 2, 5, 5, 3, 5, 5, 5, 5, 5, 5, 5];
        let mut p = Plane::new(6, 15, WHITE);
        for (y, &h) in heights.iter().enumerate() {
            for x in 0..h {
                p.set(x, y, BLACK);
            }
        }
        let boxes = |parts: Vec<Placed>| -> Vec<_> {
            parts
                .iter()
                .map(|c| (c.ul_x, c.ul_y, c.ncols(), c.nrows()))
                .collect()
        };
        let parts = split(&p, &[0.5], false, false).expect("few labels");
        assert_eq!(boxes(parts), vec![(0, 0, 5, 7), (0, 7, 5, 8)]);
        // splitx_max: the fullest index near the middle, scored -2·v² + d³.
        assert_eq!(find_split_point(&[1, 1, 4, 1, 1, 1], 0.5, true), 2);
        assert_eq!(find_split_point(&[1, 1, 4, 1, 1, 1], 0.5, false), 3);
    }

    #[test]
    fn splitx_keeps_a_single_column_whole_and_never_splits_at_an_edge() {
        let p = from_rows(&["#", "#"]);
        let parts = splitx(&p, &[0.5]).expect("few labels");
        assert_eq!(parts.len(), 1);
        assert_eq!(parts[0].image, p);
        // Two columns: the only candidate is column 0, moved to 1.
        let p = from_rows(&["##", ".#"]);
        let parts = splitx(&p, &[0.5]).expect("few labels");
        let boxes: Vec<_> = parts
            .iter()
            .map(|c| (c.ul_x, c.ncols(), c.nrows()))
            .collect();
        assert_eq!(boxes, vec![(0, 1, 1), (1, 1, 2)]);
        // A split at the last column moves one left.
        assert_eq!(find_split_point(&[0, 0, 0, 0], 1.0, false), 2);
    }
}
