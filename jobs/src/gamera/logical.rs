//! Gamera's `and_image`, `or_image` and `xor_image` on ONEBIT images (`logical.hpp`).

use super::{BLACK, GameraError, Plane, WHITE};

fn combine(
    a: &Plane<u8>,
    b: &Plane<u8>,
    f: impl Fn(bool, bool) -> bool,
) -> Result<Plane<u8>, GameraError> {
    if a.width() != b.width() || a.height() != b.height() {
        return Err(GameraError::SizeMismatch);
    }
    let data = a
        .pixels()
        .iter()
        .zip(b.pixels())
        .map(|(&x, &y)| {
            if f(x != WHITE, y != WHITE) {
                BLACK
            } else {
                WHITE
            }
        })
        .collect();
    Plane::from_vec(a.width(), a.height(), data).ok_or(GameraError::SizeMismatch)
}

/// `a.and_image(b)`: black where both are black.
pub fn and_image(a: &Plane<u8>, b: &Plane<u8>) -> Result<Plane<u8>, GameraError> {
    combine(a, b, |x, y| x && y)
}

/// `a.or_image(b)`: black where either is black.
pub fn or_image(a: &Plane<u8>, b: &Plane<u8>) -> Result<Plane<u8>, GameraError> {
    combine(a, b, |x, y| x || y)
}

/// `a.xor_image(b)`: black where exactly one is black.
pub fn xor_image(a: &Plane<u8>, b: &Plane<u8>) -> Result<Plane<u8>, GameraError> {
    combine(a, b, |x, y| x ^ y)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn and_or_and_xor_follow_their_truth_tables_on_black_pixels() {
        let a = Plane::from_vec(4, 1, vec![BLACK, BLACK, WHITE, WHITE]).expect("4");
        let b = Plane::from_vec(4, 1, vec![BLACK, WHITE, BLACK, WHITE]).expect("4");
        assert_eq!(
            and_image(&a, &b).expect("same size").pixels(),
            &[BLACK, WHITE, WHITE, WHITE]
        );
        assert_eq!(
            xor_image(&a, &b).expect("same size").pixels(),
            &[WHITE, BLACK, BLACK, WHITE]
        );
        assert_eq!(
            or_image(&a, &b).expect("same size").pixels(),
            &[BLACK, BLACK, BLACK, WHITE]
        );
        let c = Plane::new(2, 2, WHITE);
        assert_eq!(and_image(&a, &c), Err(GameraError::SizeMismatch));
    }
}
