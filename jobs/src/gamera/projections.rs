//! Gamera's `projections` plugin: the number of black pixels in each row or column of a ONEBIT
//! image (`projection_rows`, `projection_cols`).

use super::{Plane, WHITE};

/// `projection_rows`: black pixels per row, top to bottom.
pub fn projection_rows(image: &Plane<u8>) -> Vec<usize> {
    (0..image.height())
        .map(|y| {
            (0..image.width())
                .filter(|&x| image.get(x, y) != WHITE)
                .count()
        })
        .collect()
}

/// `projection_cols`: black pixels per column, left to right.
pub fn projection_cols(image: &Plane<u8>) -> Vec<usize> {
    (0..image.width())
        .map(|x| {
            (0..image.height())
                .filter(|&y| image.get(x, y) != WHITE)
                .count()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gamera::BLACK;

    #[test]
    fn projections_count_black_pixels_per_row_and_column() {
        let p =
            Plane::from_vec(3, 2, vec![BLACK, WHITE, BLACK, WHITE, WHITE, 7]).expect("6 pixels");
        assert_eq!(projection_rows(&p), vec![2, 1]);
        assert_eq!(projection_cols(&p), vec![1, 0, 2]);
        let empty = Plane::new(0, 3, WHITE);
        assert_eq!(projection_rows(&empty), vec![0, 0, 0]);
        assert!(projection_cols(&empty).is_empty());
    }
}
