//! Pillow 8.2.0's filled polygon (`ImageDraw.polygon(fill=...)` on an 8-bit image:
//! `ImagingDrawPolygon` with `polygon_generic` and `hline8` of `libImaging/Draw.c`), the scan-line
//! rasterisation upstream's production drew its masks with. Later Pillow versions draw horizontal
//! edges differently, so this one is kept exactly, `float` arithmetic included.

use crate::gamera::Plane;

/// One polygon edge (`Edge` of `Draw.c`).
#[derive(Debug, Clone, Copy)]
struct Edge {
    x0: i32,
    y0: i32,
    xmin: i32,
    ymin: i32,
    xmax: i32,
    ymax: i32,
    dx: f32,
}

impl Edge {
    /// `add_edge`.
    fn new(x0: i32, y0: i32, x1: i32, y1: i32) -> Self {
        let dx = if y0 == y1 {
            0.0
        } else {
            (x1 - x0) as f32 / (y1 - y0) as f32
        };
        Self {
            x0,
            y0,
            xmin: x0.min(x1),
            xmax: x0.max(x1),
            ymin: y0.min(y1),
            ymax: y0.max(y1),
            dx,
        }
    }
}

/// `hline8`: row `y` from `x0` to `x1` (either order), clipped to the image.
fn hline(im: &mut Plane<u8>, mut x0: i32, y: i32, mut x1: i32, ink: u8) {
    let (w, h) = (im.width() as i32, im.height() as i32);
    if y < 0 || y >= h {
        return;
    }
    if x0 > x1 {
        std::mem::swap(&mut x0, &mut x1);
    }
    if x0 < 0 {
        x0 = 0;
    } else if x0 >= w {
        return;
    }
    if x1 < 0 {
        return;
    } else if x1 >= w {
        x1 = w - 1;
    }
    for x in x0..=x1 {
        im.set(x as usize, y as usize, ink);
    }
}

/// `ROUND_UP`: half away from zero, on a `float`.
fn round_up(f: f32) -> i32 {
    if f64::from(f) >= 0.0 {
        f64::from(f + 0.5).floor() as i32
    } else {
        // `fabs` returns a double, so this sum is not rounded to float.
        -((f64::from(f).abs() + 0.5).floor() as i32)
    }
}

/// `ROUND_DOWN`: half toward zero, on a `float`.
fn round_down(f: f32) -> i32 {
    if f64::from(f) >= 0.0 {
        f64::from(f - 0.5).ceil() as i32
    } else {
        -((f64::from(f).abs() - 0.5).ceil() as i32)
    }
}

/// `draw_horizontal_lines`: the horizontal edges on row `y` from `x_pos` on.
fn horizontal_edges(im: &mut Plane<u8>, edges: &[Edge], ink: u8, x_pos: &mut i32, y: i32) {
    for e in edges {
        if e.ymin == y && e.ymin == e.ymax {
            let mut xmin = e.xmin;
            if *x_pos < xmin {
                continue;
            }
            let xmax = e.xmax;
            if *x_pos > xmin {
                xmin = *x_pos;
                if xmax < xmin {
                    continue;
                }
            }
            hline(im, xmin, e.ymin, xmax, ink);
            *x_pos = xmax + 1;
        }
    }
}

/// Fills the polygon through `points` (closed back to the first) with `ink`, as Pillow 8.2.0's
/// `ImageDraw.Draw(im).polygon(points, fill=ink)` on a mode `L` image.
pub fn fill_polygon(im: &mut Plane<u8>, points: &[(i32, i32)], ink: u8) {
    let Some(&first) = points.first() else {
        return;
    };
    let mut edges: Vec<Edge> = points
        .windows(2)
        .map(|w| Edge::new(w[0].0, w[0].1, w[1].0, w[1].1))
        .collect();
    let last = points[points.len() - 1];
    if last != first {
        edges.push(Edge::new(last.0, last.1, first.0, first.1));
    }
    let h = im.height() as i32;
    let (mut ymin, mut ymax) = (h - 1, 0);
    let mut table = Vec::new();
    for e in &edges {
        ymin = ymin.min(e.ymin);
        ymax = ymax.max(e.ymax);
        if e.ymin != e.ymax {
            table.push(*e);
        }
    }
    ymin = ymin.max(0);
    ymax = ymax.min(h);
    let mut xx: Vec<f32> = Vec::with_capacity(table.len() * 2);
    for y in ymin..=ymax {
        xx.clear();
        for e in &table {
            if y >= e.ymin && y <= e.ymax {
                xx.push((y - e.y0) as f32 * e.dx + e.x0 as f32);
            }
            if y == e.ymax
                && y < ymax
                && let Some(&v) = xx.last()
            {
                xx.push(v);
            }
        }
        xx.sort_by(f32::total_cmp);
        let mut x_pos = 0;
        let mut i = 1;
        while i < xx.len() {
            let x_end = round_down(xx[i]);
            if x_end >= x_pos {
                horizontal_edges(im, &edges, ink, &mut x_pos, y);
                if x_end >= x_pos {
                    let mut x_start = round_up(xx[i - 1]);
                    let mut draw = true;
                    if x_pos > x_start {
                        x_start = x_pos;
                        if x_end < x_start {
                            draw = false;
                        }
                    }
                    if draw {
                        hline(im, x_start, y, x_end, ink);
                        x_pos = x_end + 1;
                    }
                }
            }
            i += 2;
        }
        horizontal_edges(im, &edges, ink, &mut x_pos, y);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(points: &[(i32, i32)], w: usize, h: usize) -> Vec<String> {
        let mut im = Plane::new(w, h, 255u8);
        fill_polygon(&mut im, points, 0);
        im.rows()
            .map(|r| r.iter().map(|&v| if v == 0 { '#' } else { '.' }).collect())
            .collect()
    }

    #[test]
    fn a_rectangle_is_filled_with_its_border() {
        let rows = render(&[(1, 1), (4, 1), (4, 3), (1, 3)], 6, 5);
        assert_eq!(rows, ["......", ".####.", ".####.", ".####.", "......"]);
    }

    #[test]
    fn a_triangle_rounds_its_slanted_edges_inward_at_halves() {
        // Edges (0,0)-(4,4) and (4,4)-(0,4) with the vertical (0,4)-(0,0).
        let rows = render(&[(0, 0), (4, 4), (0, 4)], 5, 5);
        assert_eq!(rows, ["#....", "##...", "###..", "####.", "#####"]);
    }

    #[test]
    fn points_outside_are_clipped() {
        let rows = render(&[(-3, -3), (10, -3), (10, 1), (-3, 1)], 4, 3);
        assert_eq!(rows, ["####", "####", "...."]);
    }

    #[test]
    fn rounding_is_half_away_from_zero_up_and_half_toward_zero_down() {
        assert_eq!((round_up(2.5), round_up(-2.5), round_up(2.4)), (3, -3, 2));
        assert_eq!(
            (round_down(2.5), round_down(-2.5), round_down(2.6)),
            (2, -2, 3)
        );
    }
}
