//! Diagonal neume slicing (upstream's `diagonal_neume_slicing/ProjectionSplitting.py`): a neume
//! glyph is dilated and rotated, the deepest valley of its projections picks a cut, the cut is
//! drawn back on the unrotated glyph as a white line three pixels thick, and the connected
//! components left over are sliced again, up to a number of rounds.
//!
//! In Gamera the pieces of a cut hold their component label as black value; nothing here
//! depends on it (dilation, rotation, projections and GameraXML see black and white only), so
//! pieces are plain ONEBIT images.

pub mod slices;

use slices::{Axis, Prioritization, Slice, SliceFinder, SliceSettings, choose};

use super::gamera::draw::draw_line;
use super::gamera::morphology::dilate;
use super::gamera::segmentation::cc_analysis;
use super::gamera::xml::Glyph;
use super::gamera::{BLACK, GameraError, Plane, WHITE};

/// Gamera's `image.rotate(angle, None, order)` on a ONEBIT image (white background).
pub type Rotate = fn(&Plane<u8>, f64, u8) -> Plane<u8>;

/// The thickness of the white cutting line.
const CUT_THICKNESS: f64 = 3.0;

/// The job's settings, as upstream's `ProjectionSplitter` reads them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SplitSettings {
    /// How slices are found.
    pub slices: SliceSettings,
    /// Pieces no wider and no higher than this are dropped.
    pub min_glyph_size: usize,
    /// How many rounds of cutting a glyph's pieces get.
    pub max_recursive_cuts: usize,
    /// The rotation, in degrees, of the projections and cuts.
    pub angle: i64,
    /// Which slices are preferred.
    pub prioritization: Prioritization,
}

/// A ONEBIT image placed on the page.
#[derive(Debug, Clone, PartialEq)]
struct Piece {
    ul_x: usize,
    ul_y: usize,
    pixels: Plane<u8>,
}

impl Piece {
    fn from_glyph(glyph: &Glyph) -> Self {
        Self {
            ul_x: glyph.ul_x,
            ul_y: glyph.ul_y,
            pixels: glyph.image.map(|v| if v == WHITE { WHITE } else { BLACK }),
        }
    }

    fn into_glyph(self) -> Glyph {
        Glyph::new(self.ul_x, self.ul_y, self.pixels)
    }

    /// Gamera's `trim_image(None)`: the box of the non-white pixels, or all of it when none.
    fn trim(self) -> Self {
        let (w, h) = (self.pixels.width(), self.pixels.height());
        let mut found: Option<(usize, usize, usize, usize)> = None;
        for (y, row) in self.pixels.rows().enumerate() {
            for (x, &v) in row.iter().enumerate() {
                if v != WHITE {
                    found = Some(match found {
                        None => (x, y, x, y),
                        Some((x0, y0, x1, y1)) => (x0.min(x), y0.min(y), x1.max(x), y1.max(y)),
                    });
                }
            }
        }
        match found {
            Some((x0, y0, x1, y1)) if (x0, y0, x1, y1) != (0, 0, w - 1, h - 1) => {
                let mut pixels = Plane::new(x1 - x0 + 1, y1 - y0 + 1, WHITE);
                for y in y0..=y1 {
                    for x in x0..=x1 {
                        pixels.set(x - x0, y - y0, self.pixels.get(x, y));
                    }
                }
                Self {
                    ul_x: self.ul_x + x0,
                    ul_y: self.ul_y + y0,
                    pixels,
                }
            }
            _ => self,
        }
    }
}

/// `int(0.5 + n / 2.0)`: upstream's centre of an image side.
fn centre(n: usize) -> i64 {
    (n as i64 + 1) / 2
}

/// Upstream's `_split` geometry: the two page points the cut line is drawn through, for a
/// slice at `position` on `axis` of the image rotated by `angle` (of `rotated` columns × rows),
/// on an image of `size` at `ul`. The line through the slice's ends in the rotated image is
/// rotated back about the centres, then extended from column 0 to column `ncols` (as upstream,
/// with `numpy`'s float arithmetic; a vertical line gives NaN ends, which draw nothing).
fn cut_ends(
    ul: (usize, usize),
    size: (usize, usize),
    rotated: (usize, usize),
    position: usize,
    axis: Axis,
    angle: i64,
) -> ((f64, f64), (f64, f64)) {
    let (cols, rows) = size;
    let cp = (centre(cols), centre(rows));
    let rcp = (centre(rotated.0), centre(rotated.1));
    let pos = position as i64;
    let (r_cols, r_rows) = (rotated.0 as i64, rotated.1 as i64);
    let (r1, r2) = match axis {
        Axis::X => ((pos, r_rows), (pos, 0)),
        Axis::Y => ((0, pos), (r_cols, pos)),
    };
    let rads = (-angle) as f64 * (std::f64::consts::PI / 180.0);
    let (sin, cos) = (rads.sin(), rads.cos());
    let back = |(x, y): (i64, i64)| {
        let (x1, y1) = (x - rcp.0, y - rcp.1);
        let x2 = (-y1) as f64 * sin + x1 as f64 * cos;
        let y2 = y1 as f64 * cos + x1 as f64 * sin;
        (x2 + cp.0 as f64, y2 + cp.1 as f64)
    };
    let (p1, p2) = (back(r1), back(r2));
    let m = (p2.1 - p1.1) / (p2.0 - p1.0);
    let b1 = p1.1 - m * p1.0;
    let f = |x: f64| m * x + b1;
    let (ul_x, ul_y) = (ul.0 as f64, ul.1 as f64);
    (
        (ul_x, f(0.0) + ul_y),
        ((cols + ul.0) as f64, f(cols as f64) + ul_y),
    )
}

/// Upstream's `ProjectionSplitter` over one glyph at a time.
#[derive(Debug, Clone, Copy)]
pub struct Splitter {
    settings: SplitSettings,
    rotate: Rotate,
}

impl Splitter {
    /// A splitter with `settings`, rotating with `rotate`.
    pub fn new(settings: SplitSettings, rotate: Rotate) -> Self {
        Self { settings, rotate }
    }

    /// Upstream's analysis image (the glyph dilated) rotated by the angle.
    fn rotated(&self, analysis: &Plane<u8>) -> Plane<u8> {
        (self.rotate)(analysis, self.settings.angle as f64, 1)
    }

    /// Upstream's `ProjectionSplitter.run`: the pieces of `glyph`, in the order upstream gives
    /// them (each cut's connected components in Gamera's order, each sliced in turn), as
    /// unclassified glyphs without features.
    pub fn split(&self, glyph: &Glyph) -> Result<Vec<Glyph>, GameraError> {
        let image = Piece::from_glyph(glyph);
        let rotated = self.rotated(&dilate(&image.pixels));
        let finder = SliceFinder::new(self.settings.slices, &rotated);
        let mut out = Vec::new();
        self.slice(&finder, image, rotated, 0, &mut out)?;
        Ok(out.into_iter().map(Piece::into_glyph).collect())
    }

    /// Upstream's `_recursive_run` of `image`, whose dilated rotation is `rotated`.
    fn slice(
        &self,
        finder: &SliceFinder,
        image: Piece,
        rotated: Plane<u8>,
        depth: usize,
        out: &mut Vec<Piece>,
    ) -> Result<(), GameraError> {
        let pieces = self.cut_once(finder, image, &rotated)?;
        if pieces.len() > 1 && depth < self.settings.max_recursive_cuts {
            for piece in pieces {
                let rotated = self.rotated(&dilate(&piece.pixels));
                self.slice(finder, piece, rotated, depth + 1, out)?;
            }
        } else {
            out.extend(pieces);
        }
        Ok(())
    }

    /// Upstream's `_run`: the best slice cuts `image` (or it stays whole), then pieces too small
    /// are dropped and the rest trimmed.
    fn cut_once(
        &self,
        finder: &SliceFinder,
        image: Piece,
        rotated: &Plane<u8>,
    ) -> Result<Vec<Piece>, GameraError> {
        let (x, y) = finder.slices(rotated);
        let pieces = match choose(&x, &y, self.settings.prioritization) {
            None => vec![image],
            Some((slice, axis)) => cut(&image, slice, axis, rotated, self.settings.angle)?,
        };
        let min = self.settings.min_glyph_size;
        Ok(pieces
            .into_iter()
            .filter(|p| p.pixels.width() > min || p.pixels.height() > min)
            .map(Piece::trim)
            .collect())
    }
}

/// Upstream's `_split`: a white line three pixels thick drawn along the slice, and the connected
/// components of what is left.
fn cut(
    image: &Piece,
    slice: Slice,
    axis: Axis,
    rotated: &Plane<u8>,
    angle: i64,
) -> Result<Vec<Piece>, GameraError> {
    let ul = (image.ul_x, image.ul_y);
    let size = (image.pixels.width(), image.pixels.height());
    let (a, b) = cut_ends(
        ul,
        size,
        (rotated.width(), rotated.height()),
        slice.position,
        axis,
        angle,
    );
    let mut cut = image.pixels.clone();
    draw_line(&mut cut, ul, a, b, WHITE, CUT_THICKNESS);
    let labelled = cc_analysis(&cut)?;
    Ok(labelled
        .components
        .iter()
        .map(|c| {
            let g = Glyph::from_component(&labelled, c);
            Piece {
                ul_x: image.ul_x + g.ul_x,
                ul_y: image.ul_y + g.ul_y,
                pixels: g.image,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Angle 0: Gamera's rotation leaves the image as it is.
    fn unrotated(image: &Plane<u8>, angle: f64, _order: u8) -> Plane<u8> {
        assert_eq!(angle, 0.0, "the tests rotate by 0 only");
        image.clone()
    }

    use crate::gamera::plane_from_rows as plane;

    fn settings(angle: i64) -> SplitSettings {
        SplitSettings {
            slices: SliceSettings {
                smoothing: 1,
                min_segment_length: 0,
                low_valley_threshold: 1.0,
                min_slice_spread: 0.3,
            },
            min_glyph_size: 0,
            max_recursive_cuts: 10,
            angle,
            prioritization: Prioritization::None,
        }
    }

    #[test]
    fn the_cut_line_of_a_45_degree_slice_is_rotated_back_about_the_centres() {
        // A 10×10 image at (100, 200); rotated by 45 degrees it is 16×16 (Gamera's size).
        // Column 8 of the rotated image is a diagonal through the centre of the original.
        let ((ax, ay), (bx, by)) = cut_ends((100, 200), (10, 10), (16, 16), 8, Axis::X, 45);
        let slope = (by - ay) / (bx - ax);
        assert!((slope - 1.0).abs() < 1e-9, "slope {slope}");
        assert_eq!(ax, 100.0);
        assert_eq!(bx, 110.0);
        // Through the centre (5, 5): y = x on the image.
        assert!((ay - 200.0).abs() < 1e-9 && (by - 210.0).abs() < 1e-9);
        // Angle 0, a column slice: the line is vertical and its ends are NaN.
        let ((_, ay), _) = cut_ends((0, 0), (10, 10), (10, 10), 3, Axis::X, 0);
        assert!(ay.is_nan());
        // Angle 0, a row slice: the horizontal line at that row.
        let ((_, ay), (_, by)) = cut_ends((0, 0), (10, 10), (10, 10), 3, Axis::Y, 0);
        assert_eq!((ay, by), (3.0, 3.0));
    }

    #[test]
    fn a_glyph_of_two_bars_joined_by_a_stem_is_cut_across_the_stem() {
        // Two bars 3 rows high joined by a stem 5 rows long, two blank rows above and below (a
        // peak needs a descent after it, which a real rotation's padding gives).
        let mut rows = vec!["......."; 2];
        rows.extend(["#######"; 3]);
        rows.extend(["...#..."; 5]);
        rows.extend(["#######"; 3]);
        rows.extend(["......."; 2]);
        let glyph = Glyph::new(40, 50, plane(&rows));
        let pieces = Splitter::new(settings(0), unrotated)
            .split(&glyph)
            .expect("few labels");
        // The dilated row projection is 0, 7 (rows 1-5), 3 (rows 6-8), 7 (rows 9-13), 0: the
        // valley's last row, 8, is the slice, and the white line covers rows 7 to 9. The top
        // bar keeps two rows of the stem; neither piece has a valley left.
        let boxes: Vec<_> = pieces
            .iter()
            .map(|g| (g.ul_x, g.ul_y, g.ncols(), g.nrows()))
            .collect();
        assert_eq!(boxes, vec![(40, 52, 7, 5), (40, 60, 7, 3)]);
        assert_eq!(
            pieces[0].image,
            plane(&["#######", "#######", "#######", "...#...", "...#..."])
        );
        // A column slice at angle 0 is a vertical line, whose NaN ends draw nothing: upstream
        // finds the slice and cuts nothing.
        let wide = Glyph::new(
            0,
            0,
            plane(&["..###...###..", "..###...###..", "..#########.."]),
        );
        // The dilated column projection dips to 2 at column 6.
        let pieces = Splitter::new(settings(0), unrotated)
            .split(&wide)
            .expect("few labels");
        let expected = plane(&["###...###", "###...###", "#########"]);
        assert_eq!(pieces, vec![Glyph::new(2, 0, expected)]);
    }

    #[test]
    fn a_glyph_without_a_valley_is_trimmed_and_small_ones_are_dropped() {
        let glyph = Glyph::new(5, 6, plane(&["....", ".##.", ".##.", "...."]));
        let pieces = Splitter::new(settings(0), unrotated)
            .split(&glyph)
            .expect("few labels");
        assert_eq!(pieces.len(), 1);
        assert_eq!((pieces[0].ul_x, pieces[0].ul_y), (6, 7));
        assert_eq!(pieces[0].image, plane(&["##", "##"]));
        // Sizes are checked before trimming, as upstream does.
        let mut s = settings(0);
        s.min_glyph_size = 3;
        assert_eq!(
            Splitter::new(s, unrotated).split(&glyph).map(|p| p.len()),
            Ok(1)
        );
        s.min_glyph_size = 4;
        assert!(
            Splitter::new(s, unrotated)
                .split(&glyph)
                .expect("few labels")
                .is_empty()
        );
        // An all-white glyph is kept whole.
        let blank = Glyph::new(0, 0, plane(&["...", "..."]));
        let pieces = Splitter::new(settings(0), unrotated)
            .split(&blank)
            .expect("no labels");
        assert_eq!(pieces, vec![blank]);
    }
}
