//! Gamera's `despeckle` and `dilate` on ONEBIT images (`morphology.hpp`).

use super::{BLACK, Plane, WHITE};

/// Gamera's `despeckle(size)`: removes the 8-connected black components of fewer than `size`
/// pixels. Images under 3×3 are left alone, as in Gamera.
pub fn despeckle(image: &mut Plane<u8>, size: usize) {
    let (ncols, nrows) = (image.width(), image.height());
    if nrows < 3 || ncols < 3 {
        return;
    }
    if size == 1 {
        despeckle_single_pixel(image);
        return;
    }
    // 0: not seen, 1: queued in the current search, 2: part of a component found to be large.
    let mut tmp = Plane::new(ncols, nrows, 0u8);
    let mut queue: Vec<(usize, usize)> = Vec::with_capacity(size.saturating_mul(2).min(1 << 20));
    for r in 0..nrows {
        for c in 0..ncols {
            if tmp.get(c, r) != 0 || image.get(c, r) == WHITE {
                continue;
            }
            queue.clear();
            queue.push((c, r));
            let mut bail = false;
            tmp.set(c, r, 1);
            let mut i = 0;
            'search: while i < queue.len() && queue.len() < size {
                let (cx, cy) = queue[i];
                for r2 in cy.saturating_sub(1)..(cy + 2).min(nrows) {
                    for c2 in cx.saturating_sub(1)..(cx + 2).min(ncols) {
                        if image.get(c2, r2) != WHITE && tmp.get(c2, r2) == 0 {
                            tmp.set(c2, r2, 1);
                            queue.push((c2, r2));
                        } else if tmp.get(c2, r2) == 2 {
                            bail = true;
                            break 'search;
                        }
                    }
                }
                i += 1;
            }
            if !bail && queue.len() < size {
                for &(x, y) in &queue {
                    image.set(x, y, WHITE);
                }
            } else {
                for &(x, y) in &queue {
                    tmp.set(x, y, 2);
                }
            }
        }
    }
}

/// Gamera's `despeckle_single_pixel`: black pixels with no black 8-neighbour turn white.
fn despeckle_single_pixel(image: &mut Plane<u8>) {
    let (ncols, nrows) = (image.width(), image.height());
    let src = image.clone();
    for y in 0..nrows {
        for x in 0..ncols {
            if src.get(x, y) == WHITE {
                continue;
            }
            let mut neighbour = false;
            'window: for yy in y.saturating_sub(1)..(y + 2).min(nrows) {
                for xx in x.saturating_sub(1)..(x + 2).min(ncols) {
                    if (xx, yy) != (x, y) && src.get(xx, yy) != WHITE {
                        neighbour = true;
                        break 'window;
                    }
                }
            }
            if !neighbour {
                image.set(x, y, WHITE);
            }
        }
    }
}

/// Gamera's `dilate()` on ONEBIT: a 3×3 square; border pixels do not grow past the image.
/// Images under 3×3 are copied unchanged, as in Gamera.
pub fn dilate(image: &Plane<u8>) -> Plane<u8> {
    let (ncols, nrows) = (image.width(), image.height());
    if nrows < 3 || ncols < 3 {
        return image.map(|v| if v == WHITE { WHITE } else { BLACK });
    }
    // Horizontal pass then vertical pass: a 3×3 square is separable.
    let mut wide = Plane::new(ncols, nrows, WHITE);
    for (y, row) in image.rows().enumerate() {
        for x in 0..ncols {
            let lo = x.saturating_sub(1);
            let hi = (x + 1).min(ncols - 1);
            if row[lo..=hi].iter().any(|&v| v != WHITE) {
                wide.set(x, y, BLACK);
            }
        }
    }
    let mut out = Plane::new(ncols, nrows, WHITE);
    for y in 0..nrows {
        let lo = y.saturating_sub(1);
        let hi = (y + 1).min(nrows - 1);
        for x in 0..ncols {
            if (lo..=hi).any(|yy| wide.get(x, yy) == BLACK) {
                out.set(x, y, BLACK);
            }
        }
    }
    out
}

/// Gamera's `dilate()` on GREYSCALE: the minimum of each clipped 3×3 window (dark grows).
/// Images under 3×3 are copied unchanged.
pub fn dilate_greyscale(image: &Plane<u8>) -> Plane<u8> {
    let (ncols, nrows) = (image.width(), image.height());
    if nrows < 3 || ncols < 3 {
        return image.clone();
    }
    let mut out = image.clone();
    for y in 0..nrows {
        for x in 0..ncols {
            let mut m = u8::MAX;
            for yy in y.saturating_sub(1)..(y + 2).min(nrows) {
                for xx in x.saturating_sub(1)..(x + 2).min(ncols) {
                    m = m.min(image.get(xx, yy));
                }
            }
            out.set(x, y, m);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::gamera::plane_from_rows as from_rows;

    #[test]
    fn despeckle_one_removes_only_isolated_pixels() {
        let mut p = from_rows(&["#...", "....", "..##", "...."]);
        despeckle(&mut p, 1);
        assert_eq!(p, from_rows(&["....", "....", "..##", "...."]));
    }

    #[test]
    fn despeckle_removes_components_smaller_than_size_only() {
        let mut p = from_rows(&["##...", "#....", ".....", "..###", "....#"]);
        despeckle(&mut p, 4);
        // The 3-pixel component goes; the 4-pixel one (diagonally connected) stays.
        assert_eq!(p, from_rows(&[".....", ".....", ".....", "..###", "....#"]));
    }

    #[test]
    fn dilate_grows_by_one_pixel_and_clips_at_the_border() {
        let p = from_rows(&["#....", ".....", ".....", "....."]);
        assert_eq!(dilate(&p), from_rows(&["##...", "##...", ".....", "....."]));
        let grey = Plane::from_vec(3, 3, vec![9, 9, 9, 9, 9, 9, 9, 9, 2]).expect("9");
        assert_eq!(
            dilate_greyscale(&grey).pixels(),
            &[9, 9, 9, 9, 2, 2, 9, 2, 2]
        );
        let small = from_rows(&["#.", ".."]);
        assert_eq!(dilate(&small), small);
    }
}
