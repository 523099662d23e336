//! What upstream's 'Miyao Staff Finder' makes of the staves (`gamera_rodan/helpers/poly_lists.py`):
//! lines of a staff evened out to the same number of points, each staff's outline (its top line
//! left to right, then its bottom line right to left), and the Python `str()` of the outlines.

use super::{Point, Staff};

/// `fix_poly_point_list`: in a staff whose lines have different numbers of points, every point
/// of a line that another line lacks at the same index (no point within 2 columns) is copied into
/// that line at that index, moved by the number of lines between them times `staffspace_height`.
/// Lines grow while they are walked, as in upstream's loops.
#[allow(clippy::needless_range_loop)] // `staff[l]` grows while `staff[j]` is read.
pub fn even_out(staves: &mut [Staff], staffspace_height: i64) {
    for staff in staves.iter_mut() {
        let first_len = staff.first().map(Vec::len);
        if !staff.is_empty() && staff.iter().all(|l| Some(l.len()) == first_len) {
            continue;
        }
        for j in 0..staff.len() {
            let mut k = 0;
            while k < staff[j].len() {
                let vert = staff[j][k];
                for l in 0..staff.len() {
                    if l == j {
                        continue;
                    }
                    let diff = staff[l].get(k).map_or(-10000, |p| vert.x - p.x);
                    if -3 < diff && diff < 3 {
                        continue;
                    }
                    let y = vert.y + (l as i64 - j as i64) * staffspace_height;
                    staff[l].insert(k, Point { x: vert.x, y });
                }
                k += 1;
            }
        }
    }
}

/// `create_polygon_outer_points_json_dict`: per non-empty staff, its first line's points and
/// then its last line's points in reverse.
pub fn outlines(staves: &[Staff]) -> Vec<Vec<Point>> {
    staves
        .iter()
        .filter_map(|staff| {
            let (first, last) = (staff.first()?, staff.last()?);
            Some(first.iter().chain(last.iter().rev()).copied().collect())
        })
        .collect()
}

/// Python's `str()` of a list of lists of `(x, y)` tuples.
pub fn python_str(polygons: &[Vec<Point>]) -> String {
    let inner: Vec<String> = polygons
        .iter()
        .map(|poly| {
            let pts: Vec<String> = poly.iter().map(|p| format!("({}, {})", p.x, p.y)).collect();
            format!("[{}]", pts.join(", "))
        })
        .collect();
    format!("[{}]", inner.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pts(v: &[(i64, i64)]) -> Vec<Point> {
        v.iter().map(|&(x, y)| Point { x, y }).collect()
    }

    #[test]
    fn a_point_missing_from_a_line_is_copied_a_staff_space_per_line_away() {
        let mut staves = vec![vec![
            pts(&[(10, 100), (50, 100), (90, 100)]),
            pts(&[(10, 120), (91, 120)]),
        ]];
        even_out(&mut staves, 20);
        // Line 1 lacks a point near x = 50 at index 1: line 0's point, one line down.
        assert_eq!(staves[0][1], pts(&[(10, 120), (50, 120), (91, 120)]));
        assert_eq!(staves[0][0], pts(&[(10, 100), (50, 100), (90, 100)]));
        // Lines of equal length are left alone even when their columns differ.
        let mut same = vec![vec![pts(&[(0, 0)]), pts(&[(40, 20)])]];
        even_out(&mut same, 20);
        assert_eq!(same[0][1], pts(&[(40, 20)]));
    }

    #[test]
    fn outlines_go_along_the_top_line_and_back_along_the_bottom_line() {
        let staves = vec![
            vec![
                pts(&[(1, 2), (3, 4)]),
                pts(&[(1, 9)]),
                pts(&[(1, 12), (3, 14)]),
            ],
            vec![],
        ];
        let polys = outlines(&staves);
        assert_eq!(polys, vec![pts(&[(1, 2), (3, 4), (3, 14), (1, 12)])]);
        assert_eq!(python_str(&polys), "[[(1, 2), (3, 4), (3, 14), (1, 12)]]");
        assert_eq!(python_str(&[]), "[]");
    }
}
