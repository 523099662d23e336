//! The MusicStaves toolkit's staff finding (DDMAL's `gamera4-rodan` port of Christoph Dalitz's
//! Gamera toolkit), re-implemented to give the same staff lines: the `StaffFinder` base (line
//! height and distance from the run histograms, the polygon representation of a staff line, its
//! average), Miyao's staff finder ([`miyao`]), and what upstream's Rodan jobs do with the result
//! ([`polygons`] for 'Miyao Staff Finder', [`jsomr`] for the aOMR 'Miyao Staff Finding').

pub mod jsomr;
pub mod miyao;
pub mod polygons;

use crate::gamera::{BLACK, Plane, WHITE};

/// A vertex of a staff line's polygon (Gamera's `Point`; MusicStaves also stores negative values).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Point {
    /// Column.
    pub x: i64,
    /// Row.
    pub y: i64,
}

/// One staff line as a polygon (`StafflinePolygon`): its vertices from left to right.
pub type StaffLine = Vec<Point>;

/// One staff (a stave system): its lines from top to bottom.
pub type Staff = Vec<StaffLine>;

/// Why the staff finder failed where MusicStaves raises a Python exception.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StaffError {
    /// `miyao_find_edge` got a row that is a Python `float` (the average of two merged points):
    /// Gamera's `Int` argument refuses it with a `TypeError`.
    #[error("a staff line's end point lies between two merged points")]
    FractionalEdgePoint,
    /// Every line of a staff is a single point, so the staff angle divides by zero.
    #[error("a staff has no line with two points to measure its angle")]
    NoStaffAngle,
    /// The dynamic-programming matrix could not be traced back.
    #[error("the matching of candidate points could not be traced back")]
    Backtrace,
    /// More lines than the staff has had to be removed (a negative number of lines).
    #[error("a staff has fewer lines than asked for")]
    NoLinesLeft,
}

/// Gamera's `most_frequent_run(color, 'vertical')`: the most frequent length of the vertical runs
/// of `black` (or white) pixels, the shortest on a tie. A run that reaches the bottom edge is not
/// counted, and an image without counted runs gives 0.
pub fn most_frequent_vertical_run(image: &Plane<u8>, black: bool) -> usize {
    let (w, h) = (image.width(), image.height());
    let mut hist = vec![0u64; h + 1];
    let mut current = vec![0usize; w];
    for row in image.rows() {
        for (c, &v) in row.iter().enumerate() {
            if (v != WHITE) == black {
                current[c] += 1;
            } else if current[c] > 0 {
                hist[current[c]] += 1;
                current[c] = 0;
            }
        }
    }
    // std::max_element: the first maximum.
    let mut best = 0;
    for (len, &n) in hist.iter().enumerate() {
        if n > hist[best] {
            best = len;
        }
    }
    best
}

/// What every MusicStaves staff finder starts from (`StaffFinder.__init__` with zero heights):
/// the ONEBIT image, the staff line height (most frequent black vertical run) and the staff space
/// height (most frequent white vertical run).
#[derive(Debug, Clone)]
pub struct StaffFinder {
    /// The ONEBIT image the staves are looked for in ([`BLACK`] or [`WHITE`]).
    pub image: Plane<u8>,
    /// Height of a staff line.
    pub staffline_height: i64,
    /// Distance between two lines of a staff.
    pub staffspace_height: i64,
}

impl StaffFinder {
    /// A finder on `image` (ONEBIT: any non-zero pixel is black).
    pub fn new(image: &Plane<u8>) -> Self {
        let image = image.map(|v| if v == WHITE { WHITE } else { BLACK });
        let staffline_height = most_frequent_vertical_run(&image, true) as i64;
        let staffspace_height = most_frequent_vertical_run(&image, false) as i64;
        Self {
            image,
            staffline_height,
            staffspace_height,
        }
    }
}

/// `StafflinePolygon.to_average()`'s `average_y`: the length-weighted mean height of the line,
/// truncated; `None` where Python divides by zero (two or more vertices, none to the right of the
/// one before).
pub fn average_y(line: &[Point]) -> Option<i64> {
    match line {
        [] => None,
        [p] => Some(p.y),
        _ => {
            let (mut sum, mut n) = (0.0f64, 0i64);
            for w in line.windows(2) {
                let (a, b) = (w[0], w[1]);
                if b.x > a.x {
                    sum += 0.5 * (b.y + a.y) as f64 * (b.x - a.x) as f64;
                    n += b.x - a.x;
                }
            }
            (n != 0).then(|| (sum / n as f64) as i64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn most_frequent_runs_skip_runs_that_reach_the_bottom_and_prefer_the_shortest() {
        // Column 0: black 2, white 3, black 2 (touches the bottom: not counted).
        // Column 1: black 1, white 1, black 1, white 4.
        let col0 = [1, 1, 0, 0, 0, 1, 1];
        let col1 = [1, 0, 1, 0, 0, 0, 0];
        let mut data = Vec::new();
        for r in 0..7 {
            data.push(col0[r]);
            data.push(col1[r]);
        }
        let p = Plane::from_vec(2, 7, data).expect("14 pixels");
        // Black runs counted: 2 (col 0), 1 and 1 (col 1) → 1.
        assert_eq!(most_frequent_vertical_run(&p, true), 1);
        // White runs counted: 3 (col 0), 1 (col 1); the 4 touches the bottom → tie, shortest.
        assert_eq!(most_frequent_vertical_run(&p, false), 1);
        let blank = Plane::new(3, 3, WHITE);
        assert_eq!(most_frequent_vertical_run(&blank, true), 0);
    }

    #[test]
    fn the_average_weights_each_segment_by_its_width_and_truncates() {
        let line = [
            Point { x: 0, y: 10 },
            Point { x: 10, y: 10 },
            Point { x: 20, y: 13 },
        ];
        // (10 × 10 + 11.5 × 10) / 20 = 10.75 → 10.
        assert_eq!(average_y(&line), Some(10));
        assert_eq!(average_y(&[Point { x: 4, y: 7 }]), Some(7));
        let vertical = [Point { x: 3, y: 1 }, Point { x: 3, y: 9 }];
        assert_eq!(average_y(&vertical), None);
    }
}
