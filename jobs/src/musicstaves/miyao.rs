//! Miyao's staff finder as MusicStaves implements it (`StaffFinder_miyao.find_staves` and its C++
//! helpers `miyao_candidate_points`, `miyao_distance`, `miyao_find_edge`):
//!
//! 1. candidate points: the middles of the vertical black runs of staff line height (± tolerance)
//!    on equally spaced vertical scan lines;
//! 2. dynamic-programming matching links the points of neighbouring scan lines, and links missing
//!    on one side are extrapolated along the average link angle;
//! 3. points a staff space apart on a scan line are linked vertically, the linked groups become
//!    staves and their rows lines; surplus lines and staves with too few lines are dropped;
//! 4. each line is extended to the end of its black run and the ends of a staff are aligned.
//!
//! Every step keeps MusicStaves' arithmetic, including where the C++ helpers compute in `float`,
//! where Python averages two points into a `float` row, and the order in which Python's dicts and
//! MusicStaves' `EquivalenceGrouper` hand out their items, since all of these decide pixels.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};
use std::f64::consts::PI;
use std::hash::Hash;

use super::{Point, Staff, StaffError, StaffFinder};
use crate::gamera::{Plane, WHITE};

/// The mismatch penalty `miyao_distance` gives (MusicStaves' default, Miyao uses 2).
const PENALTY: i64 = 3;

/// Whether the pixel at (`x`, `y`) is black; pixels outside the image count as white (where the
/// C++ code would read outside the image).
#[inline]
fn black(img: &Plane<u8>, x: i64, y: i64) -> bool {
    x >= 0
        && y >= 0
        && (x as usize) < img.width()
        && (y as usize) < img.height()
        && img.get(x as usize, y as usize) != WHITE
}

/// `miyao_candidate_points`: for each of `scan_line_count` equally spaced columns, the column and
/// the rows of the middles of its black runs whose length is within `tolerance` of
/// `staffline_height` (runs that reach the bottom edge are not considered). The bounds are
/// computed in C's `unsigned int`, so a tolerance above the line height wraps and admits nothing.
pub fn candidate_points(
    img: &Plane<u8>,
    scan_line_count: u32,
    tolerance: u32,
    staffline_height: u32,
) -> Vec<(i64, Vec<i64>)> {
    let factor = img.width() as f64 / f64::from(scan_line_count.wrapping_add(1));
    let lower = u64::from(staffline_height.wrapping_sub(tolerance));
    let upper = u64::from(staffline_height.wrapping_add(tolerance));
    let mut out = Vec::new();
    for scan_line in 1..=u64::from(scan_line_count) {
        let column = (scan_line as f64 * factor) as i64;
        let mut rows = Vec::new();
        let mut count: u64 = 0;
        for row in 0..img.height() as i64 {
            if black(img, column, row) {
                count += 1;
            } else {
                if count > 0 && count >= lower && count <= upper {
                    rows.push(row - (count / 2) as i64 - 1);
                }
                count = 0;
            }
        }
        out.push((column, rows));
    }
    out
}

/// `miyao_distance`: 0 when the segment from (`xa`, `ya`) to (`xb`, `yb`) has the previous
/// link angle `pr_angle` ± 1° (within ±20° of horizontal when `pr_angle` is π/2 or more, i.e.
/// unknown) and at least `blackness` of its columns black (the pixel or one above or below),
/// `penalty` otherwise. Angles are C `float`s, as in MusicStaves.
pub fn distance(
    img: &Plane<u8>,
    (mut xa, mut ya): (i64, i64),
    (mut xb, mut yb): (i64, i64),
    blackness: f32,
    pr_angle: f32,
    penalty: i64,
) -> i64 {
    let one_degree = 0.017453_f64 as f32;
    let twenty_degrees = 0.34907_f64 as f32;
    // MusicStaves' own rounded constant, not `FRAC_PI_2`.
    #[allow(clippy::approx_constant)]
    let half_pi = 1.5708_f64 as f32;
    if xa > xb {
        std::mem::swap(&mut xa, &mut xb);
        std::mem::swap(&mut ya, &mut yb);
    }
    let mm = (yb - ya) as f64 / (xb - xa) as f64;
    let angle = mm.atan() as f32;
    if pr_angle.abs() >= half_pi {
        if angle.abs() > twenty_degrees {
            return penalty;
        }
    } else if (pr_angle - angle).abs() > one_degree {
        return penalty;
    }
    let mut dy = 0.0f64;
    let mut blacksum: u64 = 0;
    for x in xa..xb {
        let y = ya + (dy + 0.5) as i32 as i64;
        if black(img, x, y) || black(img, x, y - 1) || black(img, x, y + 1) {
            blacksum += 1;
        }
        dy += mm;
    }
    if (blacksum as f64) / ((xb - xa) as f64) < f64::from(blackness) {
        return penalty;
    }
    0
}

/// `miyao_find_edge`: from (`x`, `y`) follows the direction of `angle` to the left (or right)
/// while the pixel or one above or below is black, and returns the last such point; from a white
/// point it goes the other way until it meets black. The returned row adds the offset twice, as
/// MusicStaves does.
pub fn find_edge(img: &Plane<u8>, x: i64, y: i64, angle: f32, left: bool) -> (i64, i64) {
    let (nrows, ncols) = (img.height() as i64, img.width() as i64);
    let mm = f64::from(angle.tan());
    let direction: i64 = if left { -1 } else { 1 };
    let d = direction as f64;
    let (mut xx, mut yy, mut dy) = (x, y, 0.0f64);
    let inside = |xx: i64, yy: i64| xx > 0 && xx + 1 < ncols && yy > 0 && yy + 1 < nrows;
    if black(img, xx, yy)
        || (yy + 1 < nrows && black(img, xx, yy + 1))
        || (yy > 0 && black(img, xx, yy - 1))
    {
        loop {
            xx += direction;
            dy += d * mm;
            yy = y + (dy + 0.5) as i32 as i64;
            let on = black(img, xx, yy) || black(img, xx, yy + 1) || black(img, xx, yy - 1);
            if !(inside(xx, yy) && on) {
                break;
            }
        }
        (xx - direction, yy + (dy - d * mm + 0.5) as i32 as i64)
    } else {
        loop {
            xx -= direction;
            dy -= d * mm;
            yy = y + (dy + 0.5) as i32 as i64;
            let off = !black(img, xx, yy) || !black(img, xx, yy + 1) || !black(img, xx, yy - 1);
            if !(inside(xx, yy) && off) {
                break;
            }
        }
        (xx + direction, yy + (dy + d * mm + 0.5) as i32 as i64)
    }
}

/// MusicStaves' `EquivalenceGrouper`: joins items into classes and hands the classes out in the
/// order Python's dict does (by first insertion of their first key), each class's items in the
/// order its lists were extended.
#[derive(Debug)]
struct Grouper<K> {
    keys: Vec<K>,
    class_of: HashMap<K, usize>,
    classes: Vec<Vec<K>>,
}

impl<K: Copy + Eq + Hash> Grouper<K> {
    fn new() -> Self {
        Self {
            keys: Vec::new(),
            class_of: HashMap::new(),
            classes: Vec::new(),
        }
    }

    fn join(&mut self, a: K, b: K) {
        let mut set_a = match self.class_of.get(&a) {
            Some(&c) => c,
            None => {
                self.classes.push(vec![a]);
                let c = self.classes.len() - 1;
                self.class_of.insert(a, c);
                self.keys.push(a);
                c
            }
        };
        match self.class_of.get(&b).copied() {
            None => {
                self.classes[set_a].push(b);
                self.class_of.insert(b, set_a);
                self.keys.push(b);
            }
            Some(mut set_b) if set_b != set_a => {
                if self.classes[set_b].len() > self.classes[set_a].len() {
                    std::mem::swap(&mut set_a, &mut set_b);
                }
                let moved = std::mem::take(&mut self.classes[set_b]);
                for &k in &moved {
                    self.class_of.insert(k, set_a);
                }
                self.classes[set_a].extend(moved);
            }
            Some(_) => {}
        }
    }

    /// The classes, as iterating over the grouper gives them.
    fn classes(&self) -> Vec<Vec<K>> {
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        for k in &self.keys {
            if !seen.contains(k) {
                let class = self.classes[self.class_of[k]].clone();
                seen.extend(class.iter().copied());
                out.push(class);
            }
        }
        out
    }
}

/// One candidate point ("anchor point").
#[derive(Debug, Clone, Default)]
struct Anchor {
    /// The row; a Python `float` once two points were averaged (`y_float`).
    y: f64,
    y_float: bool,
    left: Vec<usize>,
    right: Vec<usize>,
    top: Option<usize>,
    bottom: Option<usize>,
    staff: Option<i64>,
    line: Option<i64>,
}

/// One scan line of anchor points, top to bottom, with the average angle of its links.
#[derive(Debug, Clone)]
struct ScanLine {
    x: i64,
    anchors: Vec<usize>,
    avgangle: f64,
}

/// A point of a line during edge adjustment: the row may be a Python `float`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Pt {
    x: i64,
    y: f64,
    y_float: bool,
}

impl Pt {
    fn int(x: i64, y: i64) -> Self {
        Self {
            x,
            y: y as f64,
            y_float: false,
        }
    }
}

/// The points of one line of one staff during edge adjustment.
#[derive(Debug, Clone)]
struct LinePoints {
    points: Vec<Pt>,
    leftangle: f64,
    rightangle: f64,
}

/// An insertion-ordered map, as Python's dict.
type Ordered<K, V> = Vec<(K, V)>;

fn entry<K: PartialEq + Copy, V>(
    map: &mut Ordered<K, V>,
    key: K,
    make: impl FnOnce() -> V,
) -> (&mut V, bool) {
    match map.iter().position(|(k, _)| *k == key) {
        Some(i) => (&mut map[i].1, false),
        None => {
            map.push((key, make()));
            let last = map.len() - 1;
            (&mut map[last].1, true)
        }
    }
}

/// Miyao's staff finding on the finder's image.
#[derive(Debug)]
struct Run<'a> {
    finder: &'a StaffFinder,
    anchors: Vec<Anchor>,
    lines: Vec<ScanLine>,
}

impl<'a> Run<'a> {
    fn new_anchor(&mut self, y: i64) -> usize {
        self.anchors.push(Anchor {
            y: y as f64,
            ..Anchor::default()
        });
        self.anchors.len() - 1
    }

    fn yi(&self, a: usize) -> i64 {
        self.anchors[a].y as i64
    }

    /// `vertical_anchorline.insert`: puts `new` on scan line `line` unless a point within
    /// `tolerance` rows is there; returns the point that now stands for it (`None` when the
    /// nearby point already has a link from the same side).
    fn insert(&mut self, line: usize, new: usize, tolerance: i64) -> Option<usize> {
        let y = self.anchors[new].y;
        let list = &self.lines[line].anchors;
        let i = list
            .iter()
            .position(|&a| self.anchors[a].y > y)
            .unwrap_or(list.len());
        let near = |j: usize| (self.anchors[list[j]].y - y).abs() < tolerance as f64;
        let replace = if i < list.len() && near(i) {
            Some(i)
        } else if i > 0 && near(i - 1) {
            Some(i - 1)
        } else {
            None
        };
        let Some(r) = replace else {
            self.lines[line].anchors.insert(i, new);
            return Some(new);
        };
        let ap = self.lines[line].anchors[r];
        let (old, fresh) = (&self.anchors[ap], &self.anchors[new]);
        if old.left.is_empty() && old.right.is_empty() {
            self.lines[line].anchors[r] = new;
            Some(new)
        } else if (!old.left.is_empty() && !fresh.left.is_empty())
            || (!old.right.is_empty() && !fresh.right.is_empty())
        {
            None
        } else {
            let (lefts, rights) = (fresh.left.clone(), fresh.right.clone());
            for l in lefts {
                if !self.anchors[ap].left.contains(&l) {
                    self.anchors[ap].left.push(l);
                }
            }
            for r in rights {
                if !self.anchors[ap].right.contains(&r) {
                    self.anchors[ap].right.push(r);
                }
            }
            Some(ap)
        }
    }

    /// Step 2: dynamic-programming matching of neighbouring scan lines.
    fn match_scanlines(&mut self, blackness: f32) -> Result<(), StaffError> {
        let img = &self.finder.image;
        let mut prev_angle = PI;
        for n in 0..self.lines.len().saturating_sub(1) {
            let (col1, col2) = (self.lines[n].x, self.lines[n + 1].x);
            let (c1, c2) = (
                self.lines[n].anchors.clone(),
                self.lines[n + 1].anchors.clone(),
            );
            let (ni, nj) = (c1.len() + 1, c2.len() + 1);
            let mut value = vec![vec![-1i64; nj]; ni];
            let mut dist = vec![vec![-1i64; nj]; ni];
            for (i, row) in value.iter_mut().enumerate() {
                row[0] = i as i64;
            }
            for (j, v) in value[0].iter_mut().enumerate() {
                *v = j as i64;
            }
            for i in 1..ni {
                for j in 1..nj {
                    let d = distance(
                        img,
                        (col1, self.yi(c1[i - 1])),
                        (col2, self.yi(c2[j - 1])),
                        blackness,
                        prev_angle as f32,
                        PENALTY,
                    );
                    value[i][j] = (value[i - 1][j - 1] + d)
                        .min(value[i - 1][j] + 1)
                        .min(value[i][j - 1] + 1);
                    dist[i][j] = d;
                }
            }
            let (mut sumangle, mut nangle) = (0.0f64, 0u32);
            let (mut i, mut j) = (ni - 1, nj - 1);
            while i > 0 && j > 0 {
                if value[i][j] - dist[i][j] == value[i - 1][j - 1] {
                    let (left, right) = (c1[i - 1], c2[j - 1]);
                    self.anchors[left].right.push(right);
                    self.anchors[right].left.push(left);
                    sumangle +=
                        (self.anchors[right].y - self.anchors[left].y).atan2((col2 - col1) as f64);
                    nangle += 1;
                    i -= 1;
                    j -= 1;
                } else if value[i][j] - 1 == value[i - 1][j] {
                    i -= 1;
                } else if value[i][j] - 1 == value[i][j - 1] {
                    j -= 1;
                } else {
                    return Err(StaffError::Backtrace);
                }
            }
            if nangle > 0 {
                prev_angle = sumangle / f64::from(nangle);
            }
            self.lines[n].avgangle = prev_angle;
            self.lines[n + 1].avgangle = prev_angle;
        }
        Ok(())
    }

    /// Extrapolates the points without a right (then left) link along the scan line's angle.
    fn interpolate(&mut self, blackness: f32) {
        let f = self.finder;
        let tolerance = (((f.staffline_height + f.staffspace_height) as f64 * 0.15) as i64).max(2);
        let nrows = f.image.height() as i64;
        for n in 0..self.lines.len().saturating_sub(1) {
            let (col1, col2, angle) =
                (self.lines[n].x, self.lines[n + 1].x, self.lines[n].avgangle);
            let dy = (angle.tan() * (col2 - col1) as f64) as i64;
            for a in self.lines[n].anchors.clone() {
                if !self.anchors[a].right.is_empty() {
                    continue;
                }
                let y = self.yi(a);
                if y + dy < nrows
                    && 0 == distance(
                        &f.image,
                        (col1, y),
                        (col2, y + dy),
                        blackness,
                        angle as f32,
                        PENALTY,
                    )
                {
                    let right = self.new_anchor(y + dy);
                    self.anchors[right].left.push(a);
                    if let Some(right) = self.insert(n + 1, right, tolerance) {
                        self.anchors[a].right.push(right);
                    }
                }
            }
        }
        for n in (1..self.lines.len()).rev() {
            let (col1, col2, angle) =
                (self.lines[n - 1].x, self.lines[n].x, self.lines[n].avgangle);
            let dy = (angle.tan() * (col2 - col1) as f64) as i64;
            for a in self.lines[n].anchors.clone() {
                if !self.anchors[a].left.is_empty() {
                    continue;
                }
                let y = self.yi(a);
                if y - dy >= 0
                    && 0 == distance(
                        &f.image,
                        (col1, y - dy),
                        (col2, y),
                        blackness,
                        angle as f32,
                        PENALTY,
                    )
                {
                    let left = self.new_anchor(y - dy);
                    self.anchors[left].right.push(a);
                    if let Some(left) = self.insert(n - 1, left, tolerance) {
                        self.anchors[a].left.push(left);
                    }
                }
            }
        }
        for line in &mut self.lines {
            let anchors = &self.anchors;
            line.anchors
                .retain(|&a| !(anchors[a].left.is_empty() && anchors[a].right.is_empty()));
        }
    }

    /// Whether two neighbouring points of a scan line are a staff space apart.
    fn spaced(&self, upper: usize, lower: usize) -> bool {
        let f = self.finder;
        let dist = f.staffline_height + f.staffspace_height;
        let eps = dist as f64 * 0.15;
        ((self.anchors[lower].y - self.anchors[upper].y - dist as f64).abs()) <= eps
    }

    /// The number of lines per staff when none is given: one more than the most frequent
    /// number of consecutive staff-space gaps on a scan line (a run that ends the scan line is
    /// not counted).
    fn guess_num_lines(&self) -> i64 {
        let mut counts: Ordered<i64, i64> = Vec::new();
        for line in &self.lines {
            let mut consecutive = 0i64;
            for w in line.anchors.windows(2) {
                if self.spaced(w[0], w[1]) {
                    consecutive += 1;
                } else if consecutive > 0 {
                    *entry(&mut counts, consecutive, || 0).0 += 1;
                    consecutive = 0;
                }
            }
        }
        let (mut maxval, mut maxind) = (0, 0);
        for &(num, n) in &counts {
            if n > maxval {
                maxval = n;
                maxind = num;
            }
        }
        maxind + 1
    }

    /// Links points a staff space apart vertically where `num_lines - 1` such gaps follow.
    fn link_vertically(&mut self, num_lines: i64) {
        for l in 0..self.lines.len() {
            let list = self.lines[l].anchors.clone();
            let mut consecutive = 0i64;
            for i in 0..list.len().saturating_sub(1) {
                if self.spaced(list[i], list[i + 1]) {
                    consecutive += 1;
                } else {
                    consecutive = 0;
                }
                if consecutive >= num_lines - 1 {
                    let start = i as i64 - consecutive + 1;
                    for j in start.max(0) as usize..=i {
                        if self.anchors[list[j]].bottom.is_none() {
                            self.anchors[list[j]].bottom = Some(list[j + 1]);
                            self.anchors[list[j + 1]].top = Some(list[j]);
                        }
                    }
                }
            }
        }
    }

    /// Labels staves (connected by top and left links) and lines (breadth first, one down per
    /// bottom link).
    fn label(&mut self) {
        let mut stafflabel = -1i64;
        let mut equiv: Grouper<i64> = Grouper::new();
        let order: Vec<usize> = self.lines.iter().flat_map(|l| l.anchors.clone()).collect();
        for &ap in &order {
            let top = self.anchors[ap].top;
            let left = self.anchors[ap].left.clone();
            let staff = match (top, left.first()) {
                (None, None) => {
                    stafflabel += 1;
                    Some(stafflabel)
                }
                (Some(t), None) => self.anchors[t].staff,
                (None, Some(&first)) => {
                    let s = self.anchors[first].staff;
                    for &l in &left[1..] {
                        let ls = self.anchors[l].staff;
                        if ls != s
                            && let (Some(a), Some(b)) = (s, ls)
                        {
                            equiv.join(a, b);
                        }
                    }
                    s
                }
                (Some(t), Some(_)) => {
                    let s = self.anchors[t].staff;
                    for &l in &left {
                        let ls = self.anchors[l].staff;
                        if ls != s
                            && let (Some(a), Some(b)) = (s, ls)
                        {
                            equiv.join(a, b);
                        }
                    }
                    s
                }
            };
            self.anchors[ap].staff = staff;
        }
        let mut newlabel = HashMap::new();
        for class in equiv.classes() {
            if let Some(&min) = class.iter().min() {
                for &l in &class {
                    if l != min {
                        newlabel.insert(l, min);
                    }
                }
            }
        }
        for &ap in &order {
            if let Some(s) = self.anchors[ap].staff
                && let Some(&n) = newlabel.get(&s)
            {
                self.anchors[ap].staff = Some(n);
            }
        }

        for &ap in &order {
            if !matches!(self.anchors[ap].line, None | Some(0)) {
                continue;
            }
            self.anchors[ap].line = Some(0);
            let mut neighbors = Vec::new();
            self.spread(ap, &mut neighbors, None);
            while !neighbors.is_empty() {
                let mut next = Vec::new();
                let mut k = 0;
                while k < neighbors.len() {
                    let cp = neighbors[k];
                    self.spread(cp, &mut neighbors, Some(&mut next));
                    k += 1;
                }
                neighbors = next;
            }
        }
    }

    /// Gives the unlabelled neighbours of `cp` their line labels; left and right ones join
    /// `same`, top and bottom ones `vertical` (or `same` when there is none).
    fn spread(&mut self, cp: usize, same: &mut Vec<usize>, vertical: Option<&mut Vec<usize>>) {
        let line = self.anchors[cp].line;
        let horizontal: Vec<usize> = self.anchors[cp]
            .left
            .iter()
            .chain(self.anchors[cp].right.iter())
            .copied()
            .collect();
        for n in horizontal {
            if self.anchors[n].line.is_none() {
                self.anchors[n].line = line;
                same.push(n);
            }
        }
        let mut found = Vec::new();
        if let Some(t) = self.anchors[cp].top
            && self.anchors[t].line.is_none()
        {
            self.anchors[t].line = line.map(|l| l - 1);
            found.push(t);
        }
        if let Some(b) = self.anchors[cp].bottom
            && self.anchors[b].line.is_none()
        {
            self.anchors[b].line = line.map(|l| l + 1);
            found.push(b);
        }
        match vertical {
            Some(v) => v.extend(found),
            None => same.extend(found),
        }
    }

    /// Melts neighbouring points of a scan line with the same staff and line label into the
    /// first of them (at the average row, a Python `float`).
    fn melt(&mut self) {
        for l in 0..self.lines.len() {
            let mut grouper: Grouper<usize> = Grouper::new();
            let mut last: Option<usize> = None;
            for &ap in &self.lines[l].anchors {
                if let Some(prev) = last {
                    let (a, b) = (&self.anchors[prev], &self.anchors[ap]);
                    if a.staff == b.staff && a.line == b.line {
                        grouper.join(ap, prev);
                    }
                }
                last = Some(ap);
            }
            for class in grouper.classes() {
                let valid = class[0];
                for &ap in &class[1..] {
                    self.anchors[valid].y = (self.anchors[valid].y + self.anchors[ap].y) / 2.0;
                    self.anchors[valid].y_float = true;
                    if let Some(pos) = self.lines[l].anchors.iter().position(|&a| a == ap) {
                        self.lines[l].anchors.remove(pos);
                    }
                }
            }
        }
    }

    /// Drops staves with fewer than `num_lines` lines and, from staves with more, the top or
    /// bottom line with fewer right links until `num_lines` are left.
    fn remove_lines(&mut self, num_lines: i64) -> Result<(), StaffError> {
        type Label = Option<i64>;
        let mut numlinks: BTreeMap<Label, BTreeMap<Label, i64>> = BTreeMap::new();
        for line in &self.lines {
            for &ap in &line.anchors {
                let a = &self.anchors[ap];
                let n = numlinks
                    .entry(a.staff)
                    .or_default()
                    .entry(a.line)
                    .or_insert(0);
                if !a.right.is_empty() {
                    *n += 1;
                }
            }
        }
        let mut staffs_to_remove = Vec::new();
        let mut lines_to_remove = Vec::new();
        for (staff, mut linelinks) in numlinks {
            let count = linelinks.len() as i64;
            if count < num_lines {
                staffs_to_remove.push(staff);
            } else if count > num_lines {
                while linelinks.len() as i64 > num_lines {
                    let (Some((&top, &ntop)), Some((&bot, &nbot))) =
                        (linelinks.first_key_value(), linelinks.last_key_value())
                    else {
                        return Err(StaffError::NoLinesLeft);
                    };
                    let gone = if ntop > nbot { bot } else { top };
                    lines_to_remove.push((staff, gone));
                    linelinks.remove(&gone);
                }
            }
        }
        for line in &mut self.lines {
            let anchors = &self.anchors;
            line.anchors.retain(|&ap| {
                let a = &anchors[ap];
                !(staffs_to_remove.contains(&a.staff)
                    || lines_to_remove.contains(&(a.staff, a.line)))
            });
        }
        Ok(())
    }

    /// Step 4 and 5: edge adjustment and the staves as polygons, top to bottom.
    fn edges_and_polygons(&self) -> Result<Vec<Staff>, StaffError> {
        type Label = Option<i64>;
        let img = &self.finder.image;
        let mut all: Ordered<Label, Ordered<Label, LinePoints>> = Vec::new();
        for line in &self.lines {
            for &ap in &line.anchors {
                let a = &self.anchors[ap];
                let p = Pt {
                    x: line.x,
                    y: a.y,
                    y_float: a.y_float,
                };
                let fresh = || LinePoints {
                    points: vec![p],
                    leftangle: line.avgangle,
                    rightangle: 0.0,
                };
                let (staff, _) = entry(&mut all, a.staff, Vec::new);
                let (lp, new) = entry(staff, a.line, fresh);
                if !new {
                    lp.points.push(p);
                    lp.rightangle = line.avgangle;
                }
            }
        }

        for (_, staff) in &mut all {
            for (_, lp) in staff.iter_mut() {
                let first = lp.points[0];
                if first.y_float {
                    return Err(StaffError::FractionalEdgePoint);
                }
                let (x, y) = find_edge(img, first.x, first.y as i64, lp.leftangle as f32, true);
                if x < first.x {
                    lp.points.insert(0, Pt::int(x, y));
                } else {
                    lp.points[0] = Pt::int(x, y);
                }
                let last = lp.points[lp.points.len() - 1];
                if last.y_float {
                    return Err(StaffError::FractionalEdgePoint);
                }
                let (x, y) = find_edge(img, last.x, last.y as i64, lp.rightangle as f32, false);
                if x > last.x {
                    lp.points.push(Pt::int(x, y));
                } else {
                    let n = lp.points.len();
                    lp.points[n - 1] = Pt::int(x, y);
                }
            }

            let (mut sum, mut nlinks) = (0.0f64, 0u64);
            for (_, lp) in staff.iter() {
                for w in lp.points.windows(2) {
                    if w[1].x != w[0].x {
                        sum += (w[1].y - w[0].y) / (w[1].x - w[0].x) as f64;
                    }
                    nlinks += 1;
                }
            }
            if nlinks == 0 {
                return Err(StaffError::NoStaffAngle);
            }
            let tan = sum / nlinks as f64;
            let staffangle = tan.atan();

            let tolerance = 5.0 * PI / 180.0;
            let sides: [Vec<(usize, usize)>; 2] = [
                (0..staff.len()).map(|l| (l, 0)).collect(),
                (0..staff.len())
                    .map(|l| (l, staff[l].1.points.len() - 1))
                    .collect(),
            ];
            for edge in sides {
                let at = |staff: &Ordered<Label, LinePoints>, (l, i): (usize, usize)| {
                    staff[l].1.points[i]
                };
                let mut fits = vec![0u32; edge.len()];
                for i in 0..edge.len() {
                    for j in i + 1..edge.len() {
                        let (p, q) = (at(staff, edge[i]), at(staff, edge[j]));
                        let a = ((p.x - q.x).abs() as f64).atan2((p.y - q.y).abs());
                        if (a - staffangle).abs() < tolerance {
                            fits[i] += 1;
                            fits[j] += 1;
                        }
                    }
                }
                let mut best = 0;
                for (i, &f) in fits.iter().enumerate() {
                    if f > fits[best] {
                        best = i;
                    }
                }
                let std = at(staff, edge[best]);
                let factor = 1.0 / (1.0 + tan * tan);
                for &(l, i) in &edge {
                    let p = staff[l].1.points[i];
                    if p.x == std.x && p.y == std.y {
                        continue;
                    }
                    let y = (tan * ((std.x - p.x) as f64 + std.y * tan) + p.y) * factor;
                    let x = (std.y - y) * tan + std.x as f64;
                    staff[l].1.points[i] = Pt::int(x as i64, y as i64);
                }
            }

            for (_, lp) in staff.iter_mut() {
                while lp.points.len() > 1 && lp.points[0].x >= lp.points[1].x {
                    lp.points.remove(1);
                }
                while lp.points.len() > 1 {
                    let n = lp.points.len();
                    if lp.points[n - 1].x <= lp.points[n - 2].x {
                        lp.points.remove(n - 2);
                    } else {
                        break;
                    }
                }
            }
        }

        // Sort the lines: within a staff by line label, staves by their top line's left end.
        let left_edge = |staff: &Ordered<Label, LinePoints>| -> Option<Pt> {
            staff
                .iter()
                .min_by(|a, b| a.0.cmp(&b.0))
                .map(|(_, lp)| lp.points[0])
        };
        let mut alllines: Vec<(usize, Label, &LinePoints)> = Vec::new();
        for (s, (_, staff)) in all.iter().enumerate() {
            for (line, lp) in staff {
                alllines.push((s, *line, lp));
            }
        }
        let edges: Vec<Option<Pt>> = all.iter().map(|(_, s)| left_edge(s)).collect();
        alllines.sort_by(|a, b| {
            if a.0 == b.0 {
                return a.1.cmp(&b.1);
            }
            match (edges[a.0], edges[b.0]) {
                (Some(p), Some(q)) => {
                    let rc = p.y - q.y;
                    if rc == 0.0 {
                        p.x.cmp(&q.x)
                    } else {
                        rc.partial_cmp(&0.0).unwrap_or(Ordering::Equal)
                    }
                }
                _ => Ordering::Equal,
            }
        });

        let mut staves: Vec<Staff> = Vec::new();
        let mut current: Staff = Vec::new();
        let mut last: Option<usize> = None;
        for (s, _, lp) in alllines {
            if last.is_some_and(|l| l != s) {
                staves.push(std::mem::take(&mut current));
            }
            current.push(
                lp.points
                    .iter()
                    .map(|p| Point {
                        x: p.x,
                        y: p.y as i64,
                    })
                    .collect(),
            );
            last = Some(s);
        }
        staves.push(current);
        Ok(staves)
    }
}

impl StaffFinder {
    /// `StaffFinder_miyao.find_staves(num_lines, scanlines, blackness, tolerance)`: the staves as
    /// MusicStaves' `get_polygon()` returns them (a last empty staff when nothing was found, as
    /// MusicStaves). `num_lines` 0 guesses the number of lines per staff; a negative `tolerance`
    /// means `max(2, staffline_height / 4)`.
    pub fn find_staves_miyao(
        &self,
        num_lines: i64,
        scanlines: u32,
        blackness: f64,
        tolerance: i64,
    ) -> Result<Vec<Staff>, StaffError> {
        let tolerance = if tolerance < 0 {
            (self.staffline_height / 4).max(2)
        } else {
            tolerance
        };
        let mut run = Run {
            finder: self,
            anchors: Vec::new(),
            lines: Vec::new(),
        };
        let candidates = candidate_points(
            &self.image,
            scanlines,
            tolerance as u32,
            self.staffline_height as u32,
        );
        for (x, rows) in candidates {
            if rows.is_empty() {
                continue;
            }
            let anchors = rows.iter().map(|&y| run.new_anchor(y)).collect();
            run.lines.push(ScanLine {
                x,
                anchors,
                avgangle: PI,
            });
        }
        let blackness = blackness as f32;
        run.match_scanlines(blackness)?;
        run.interpolate(blackness);
        let num_lines = if num_lines == 0 {
            run.guess_num_lines()
        } else {
            num_lines
        };
        run.link_vertically(num_lines);
        run.label();
        run.melt();
        run.remove_lines(num_lines)?;
        run.edges_and_polygons()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gamera::BLACK;

    /// A white page with `staves` staves of `lines` horizontal lines, each `thick` rows thick and
    /// `space` rows apart (top edge to top edge: `thick + space`), from column `x0` to `x1`.
    fn page(width: usize, height: usize, staves: &[(i64, i64, i64)], lines: i64) -> Plane<u8> {
        let mut p = Plane::new(width, height, WHITE);
        for &(top, x0, x1) in staves {
            for l in 0..lines {
                for t in 0..3 {
                    let y = (top + l * 20 + t) as usize;
                    for x in x0..=x1 {
                        p.set(x as usize, y, BLACK);
                    }
                }
            }
        }
        p
    }

    #[test]
    fn candidate_points_are_the_middles_of_runs_of_line_height() {
        let mut p = Plane::new(10, 20, WHITE);
        for y in [3usize, 4, 5, 10, 11, 12, 13, 14, 15, 16] {
            p.set(4, y, BLACK);
        }
        // One scan line at column 10 / 2 = 5? No: 10 / (1 + 1) × 1 = 5 → column 5 is white.
        assert_eq!(candidate_points(&p, 1, 1, 3), vec![(5, vec![])]);
        // Three scan lines: columns 2, 5, 7; move the runs to column 2.
        let mut q = Plane::new(10, 20, WHITE);
        for y in [3usize, 4, 5, 10, 11, 12, 13, 14, 15, 16] {
            q.set(2, y, BLACK);
        }
        let cp = candidate_points(&q, 3, 1, 3);
        // The 3-run 3..=5 ends at row 6: 6 - 3/2 - 1 = 4; the 7-run is too long.
        assert_eq!(cp[0], (2, vec![4]));
        // A tolerance above the line height wraps in unsigned arithmetic: nothing qualifies.
        assert_eq!(candidate_points(&q, 3, 4, 3)[0], (2, vec![]));
    }

    #[test]
    fn distance_checks_the_angle_and_the_blackness() {
        let p = page(200, 100, &[(10, 0, 199)], 1);
        // Along the line (row 11): black all the way.
        assert_eq!(distance(&p, (10, 11), (100, 11), 0.8, PI as f32, 3), 0);
        // Too steep for an unknown angle (more than 20°).
        assert_eq!(distance(&p, (10, 11), (20, 30), 0.8, PI as f32, 3), 3);
        // Off the previous angle by more than a degree.
        assert_eq!(distance(&p, (10, 11), (100, 11), 0.8, 0.1, 3), 3);
        // White rows: no blackness.
        assert_eq!(distance(&p, (10, 50), (100, 50), 0.8, PI as f32, 3), 3);
    }

    #[test]
    fn find_edge_follows_the_line_to_its_last_black_pixel() {
        let p = page(200, 100, &[(10, 30, 170)], 1);
        assert_eq!(find_edge(&p, 100, 11, 0.0, true), (30, 11));
        assert_eq!(find_edge(&p, 100, 11, 0.0, false), (170, 11));
        // From white to the right of the line, going left finds its end.
        assert_eq!(find_edge(&p, 180, 11, 0.0, false), (171, 11));
    }

    #[test]
    fn the_grouper_hands_out_classes_in_python_dict_order() {
        let mut g = Grouper::new();
        g.join(2, 1);
        g.join(3, 2);
        g.join(7, 8);
        // 3 joined the larger class [2, 1] and was appended to it.
        assert_eq!(g.classes(), vec![vec![2, 1, 3], vec![7, 8]]);
    }

    #[test]
    fn two_straight_staves_of_five_lines_are_found_line_by_line() {
        let p = page(400, 300, &[(40, 20, 379), (170, 20, 379)], 5);
        let finder = StaffFinder::new(&p);
        assert_eq!(finder.staffline_height, 3);
        assert_eq!(finder.staffspace_height, 17);
        let staves = finder
            .find_staves_miyao(0, 20, 0.8, -1)
            .expect("straight staves are found");
        assert_eq!(staves.len(), 2);
        for (staff, top) in staves.iter().zip([40i64, 170]) {
            assert_eq!(staff.len(), 5);
            for (l, line) in staff.iter().enumerate() {
                let y = top + 1 + 20 * l as i64;
                assert!(line.iter().all(|p| p.y == y), "line {l}: {line:?}");
                assert_eq!(line.first().map(|p| p.x), Some(20));
                assert_eq!(line.last().map(|p| p.x), Some(379));
            }
        }
        // Asking for four lines drops one line per staff; asking for six drops both staves.
        let four = finder.find_staves_miyao(4, 20, 0.8, -1).expect("found");
        assert!(four.iter().all(|s| s.len() == 4));
        let six = finder.find_staves_miyao(6, 20, 0.8, -1).expect("found");
        assert_eq!(six, vec![Vec::<Vec<Point>>::new()]);
    }

    #[test]
    fn a_skewed_staff_is_followed_along_its_slope_to_both_ends() {
        // Five 3-row lines dropping one row every 100 columns, from column 30 to 2069; the scan
        // lines are 100 columns apart, so each link rises by one row (0.57°, within the 1° the
        // matching allows around the previous angle).
        let (x0, x1, top) = (30i64, 2069i64, 40i64);
        let mid = |l: i64, x: i64| top + 1 + l * 20 + (x - x0) / 100;
        let mut p = Plane::new(2100, 200, WHITE);
        for l in 0..5 {
            for x in x0..=x1 {
                for dy in -1..=1 {
                    p.set(x as usize, (mid(l, x) + dy) as usize, BLACK);
                }
            }
        }
        let finder = StaffFinder::new(&p);
        let staves = finder.find_staves_miyao(5, 20, 0.8, -1).expect("found");
        assert_eq!(staves.len(), 1);
        assert_eq!(staves[0].len(), 5);
        for (l, line) in staves[0].iter().enumerate() {
            assert_eq!(line.len(), 22, "line {l}: {line:?}");
            for p in line {
                assert!((p.y - mid(l as i64, p.x)).abs() <= 1, "line {l}: {p:?}");
            }
            let (first, last) = (line[0], line[line.len() - 1]);
            assert!(
                (first.x - x0).abs() <= 1 && (last.x - x1).abs() <= 1,
                "{first:?} {last:?}"
            );
        }
        // With the number of lines guessed, a single staff is not recognised: its run of staff
        // spaces ends every scan line, and MusicStaves only counts runs that something follows.
        let guessed = finder.find_staves_miyao(0, 20, 0.8, -1).expect("found");
        assert_eq!(guessed.len(), 1);
        assert_eq!(guessed[0].len(), 1);
    }

    #[test]
    fn a_blank_page_gives_one_empty_staff_as_musicstaves() {
        let finder = StaffFinder::new(&Plane::new(50, 50, WHITE));
        assert_eq!(finder.staffline_height, 0);
        assert_eq!(
            finder.find_staves_miyao(0, 20, 0.8, -1),
            Ok(vec![Vec::<Vec<Point>>::new()])
        );
    }
}
