//! Gamera's `image_utilities` plugin as the pitch finder needs it: ONEBIT images placed on a
//! page ([`Placed`], what a Gamera view or connected component is), and `union_images` (which
//! the classifier's grouping uses too).

use super::{BLACK, Plane, WHITE};

/// A ONEBIT image placed on its page: its upper-left corner and its pixels. A connected
/// component is one whose pixels of other components are white.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placed {
    /// Left column on the page.
    pub ul_x: usize,
    /// Top row on the page.
    pub ul_y: usize,
    /// The pixels over the bounding box.
    pub image: Plane<u8>,
}

impl Placed {
    /// An image of `image`'s pixels at (`ul_x`, `ul_y`).
    pub fn new(ul_x: usize, ul_y: usize, image: Plane<u8>) -> Self {
        Self { ul_x, ul_y, image }
    }

    /// Number of columns.
    pub fn ncols(&self) -> usize {
        self.image.width()
    }

    /// Number of rows.
    pub fn nrows(&self) -> usize {
        self.image.height()
    }

    /// The rectangle from column `x0` to `x1` and row `y0` to `y1` (page coordinates, both
    /// ends included) as a copy, or `None` when it does not lie within the image (Gamera's
    /// "Image view dimensions out of range for data"). An empty range (`x1 == x0 - 1`) gives
    /// an image without columns or rows, as Gamera's view of that size.
    pub fn subimage(&self, x0: i64, y0: i64, x1: i64, y1: i64) -> Option<Placed> {
        let (ncols, nrows) = (x1 - x0 + 1, y1 - y0 + 1);
        let (ul_x, ul_y) = (self.ul_x as i64, self.ul_y as i64);
        let inside = ncols >= 0
            && nrows >= 0
            && x0 >= ul_x
            && y0 >= ul_y
            && x0 + ncols <= ul_x + self.ncols() as i64
            && y0 + nrows <= ul_y + self.nrows() as i64;
        if !inside {
            return None;
        }
        let (dx, dy) = ((x0 - ul_x) as usize, (y0 - ul_y) as usize);
        let (ncols, nrows) = (ncols as usize, nrows as usize);
        let mut image = Plane::new(ncols, nrows, WHITE);
        for y in 0..nrows {
            for x in 0..ncols {
                image.set(x, y, self.image.get(dx + x, dy + y));
            }
        }
        Some(Placed::new(x0 as usize, y0 as usize, image))
    }
}

/// `union_images`: one image over the bounding box of all of `images`, black where any of them
/// is black. As Gamera's, an image of a single row or a single column adds no pixels (its
/// overlap test wants the overlap's corners to differ), though it widens the box. `None` for no
/// images.
pub fn union_images(images: &[&Placed]) -> Option<Placed> {
    let planes: Vec<_> = images.iter().map(|i| (i.ul_x, i.ul_y, &i.image)).collect();
    union_planes(&planes)
}

/// [`union_images`] of images given as their upper-left corner and pixels. Each spans its Gamera
/// `Rect`, at least one column and one row: an image without pixels still widens the box.
pub fn union_planes(images: &[(usize, usize, &Plane<u8>)]) -> Option<Placed> {
    let lower_right = |&(x, y, image): &(usize, usize, &Plane<u8>)| {
        (x + image.width().max(1) - 1, y + image.height().max(1) - 1)
    };
    let min_x = images.iter().map(|i| i.0).min()?;
    let min_y = images.iter().map(|i| i.1).min()?;
    let max_x = images.iter().map(|i| lower_right(i).0).max()?;
    let max_y = images.iter().map(|i| lower_right(i).1).max()?;
    let mut dest = Plane::new(max_x - min_x + 1, max_y - min_y + 1, WHITE);
    for &(ul_x, ul_y, image) in images {
        if image.width() < 2 || image.height() < 2 {
            continue;
        }
        for y in 0..image.height() {
            for x in 0..image.width() {
                if image.get(x, y) != WHITE {
                    dest.set(ul_x - min_x + x, ul_y - min_y + y, BLACK);
                }
            }
        }
    }
    Some(Placed::new(min_x, min_y, dest))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn placed(ul_x: usize, ul_y: usize, rows: &[&str]) -> Placed {
        Placed::new(ul_x, ul_y, crate::gamera::plane_from_rows(rows))
    }

    fn rows(p: &Placed) -> Vec<String> {
        p.image
            .rows()
            .map(|r| {
                r.iter()
                    .map(|&v| if v == WHITE { '.' } else { '#' })
                    .collect()
            })
            .collect()
    }

    #[test]
    fn the_union_covers_both_boxes_and_ors_the_pixels() {
        let a = placed(10, 5, &["#.", ".#"]);
        let b = placed(11, 6, &["##", "#."]);
        let u = union_images(&[&a, &b]).expect("two images");
        assert_eq!((u.ul_x, u.ul_y), (10, 5));
        assert_eq!(rows(&u), vec!["#..", ".##", ".#."]);
    }

    #[test]
    fn a_single_row_or_column_widens_the_box_but_adds_no_pixels() {
        let a = placed(0, 0, &["##", "##"]);
        let line = placed(3, 0, &["###"]);
        let u = union_images(&[&a, &line]).expect("two images");
        assert_eq!(rows(&u), vec!["##....", "##...."]);
        assert!(union_images(&[]).is_none());
    }

    #[test]
    fn subimages_are_page_coordinates_and_refuse_what_lies_outside() {
        let p = placed(10, 20, &["#..", ".#.", "..#"]);
        let s = p.subimage(11, 21, 12, 22).expect("inside");
        assert_eq!((s.ul_x, s.ul_y), (11, 21));
        assert_eq!(rows(&s), vec!["#.", ".#"]);
        assert!(p.subimage(10, 19, 12, 22).is_none());
        assert!(p.subimage(10, 20, 13, 22).is_none());
        let empty = p.subimage(10, 20, 9, 22).expect("zero columns");
        assert_eq!((empty.ncols(), empty.nrows()), (0, 3));
    }
}
