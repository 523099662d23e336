//! Gamera 4.1.0's automatic classification with grouping (`gamera.classify`,
//! `group_and_update_list_automatic` of a `kNNNonInteractive`): every unclassified or
//! automatic glyph is classified; glyphs whose boxes are close (`BoundingBoxGroupingFunction`)
//! form a graph; in each connected part of at most `max_graph_size` glyphs the partition into
//! groups of at most `max_parts_per_group` glyphs with the highest minimum confidence is
//! chosen (Gamera's graph `optimize_partitions`); a group of several glyphs becomes a new glyph,
//! the union of their pixels, classified HEURISTIC, and its parts are dropped.
//!
//! Gamera keeps the graph's nodes in a `std::map` ordered by comparing the glyph objects, and
//! Gamera's images only order by `>` of their boxes (upper-left, then lower-right corner, each
//! by x then y): boxes where neither is greater compare equal, which is not an ordering, so
//! many glyphs are never added to the graph and edges land on other glyphs' nodes. The
//! grouping here reproduces that: [`GlyphMap`] is libstdc++'s red-black tree, inserted into
//! and searched exactly as `std::map` does, with Gamera's comparison.

use rayon::prelude::*;

use super::WHITE;
use super::knn::{Knn, KnnError};
use super::xml::{Glyph, State};
use super::{Plane, image_utilities, segmentation};

/// The features of one image: `(name, values)` in the classifier's feature order.
pub type Features = Vec<(String, Vec<f64>)>;

/// Computes the classifier's features of an image.
pub type FeatureFn<'a> = dyn Fn(&Plane<u8>) -> Features + Sync + 'a;

/// Why classification failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClassifyError {
    /// The kNN refused.
    #[error(transparent)]
    Knn(#[from] KnnError),
    /// A glyph is classified `_split.NAME` and NAME is not one of Gamera's split functions.
    #[error("'{0}' is not a known or valid split function")]
    Split(String),
    /// Labelling a split part ran out of labels.
    #[error(transparent)]
    Gamera(#[from] super::GameraError),
    /// Gamera's graph lost a subgraph root (its `optimize_partitions` returns no result).
    #[error("Gamera's grouping graph could not find the node of a subgraph root")]
    LostRoot,
}

/// A trained classifier: the kNN and the function computing its features.
pub struct Classifier<'a> {
    /// The kNN over the training glyphs.
    pub knn: Knn,
    features: &'a FeatureFn<'a>,
}

impl std::fmt::Debug for Classifier<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Classifier")
            .field("knn", &self.knn)
            .finish_non_exhaustive()
    }
}

fn flatten(features: &Features) -> Vec<f64> {
    features
        .iter()
        .flat_map(|(_, v)| v.iter().copied())
        .collect()
}

impl<'a> Classifier<'a> {
    /// `kNNNonInteractive(glyphs)`: trains on every glyph that is not UNCLASSIFIED (its main
    /// id, the first of its ids as read), features recomputed with `features`.
    pub fn train(
        training: &[Glyph],
        features: &'a FeatureFn<'a>,
        normalize: bool,
    ) -> Result<Self, ClassifyError> {
        let mut ids = Vec::new();
        let mut images = Vec::new();
        for g in training.iter().filter(|g| g.state != State::Unclassified) {
            let Some((id, _)) = g.ids.first() else {
                return Err(ClassifyError::Knn(KnnError::Length));
            };
            ids.push(id.clone());
            images.push(&g.image);
        }
        let vectors = images
            .par_iter()
            .map(|image| flatten(&features(image)))
            .collect();
        Ok(Self {
            knn: Knn::new(vectors, ids, normalize)?,
            features,
        })
    }

    /// `guess_glyph_automatic`: the classes of `image` with their confidences.
    pub fn guess(&self, image: &Plane<u8>) -> Result<Vec<(String, f64)>, ClassifyError> {
        Ok(self.knn.classify(&flatten(&(self.features)(image)))?)
    }

    /// The features of `image`, as written to the output.
    pub fn features_of(&self, image: &Plane<u8>) -> Features {
        (self.features)(image)
    }

    /// `group_and_update_list_automatic(glyphs, BoundingBoxGroupingFunction(bbox_size),
    /// max_parts_per_group, max_graph_size)` followed by `generate_features_on_glyphs`: the
    /// glyphs left (input order, group parts removed) then the groups found, with features.
    pub fn group_and_update(
        &self,
        mut glyphs: Vec<Glyph>,
        bbox_size: f64,
        max_parts_per_group: usize,
        max_graph_size: usize,
    ) -> Result<Vec<Glyph>, ClassifyError> {
        // Gamera recomputes every feature; those read from the input are dropped.
        for g in &mut glyphs {
            g.features.clear();
        }
        // group_list_automatic: MANUAL glyphs take no part.
        let work: Vec<usize> = (0..glyphs.len())
            .filter(|&i| glyphs[i].state != State::Manual)
            .collect();
        let mut unions = Vec::new();
        let mut splits = Vec::new();
        if !work.is_empty() {
            // classify_list_automatic: the glyphs, then the parts of those classified as
            // `_split.*`, level by level (Gamera's recursion, at most 10 levels deep; parts of
            // the tenth level are left unclassified).
            let mut level = Vec::new();
            let todo: Vec<usize> = work
                .iter()
                .copied()
                .filter(|&i| matches!(glyphs[i].state, State::Unclassified | State::Automatic))
                .collect();
            let classified = todo
                .par_iter()
                .map(|&i| self.features_and_classes(&glyphs[i].image))
                .collect::<Result<Vec<_>, _>>()?;
            for (&i, (features, ids)) in todo.iter().zip(classified) {
                let g = &mut glyphs[i];
                g.features = features;
                g.ids = ids;
                g.state = State::Automatic;
                level.extend(split_glyph(g)?);
            }
            let mut depth = 1;
            while !level.is_empty() {
                if depth > MAX_RECURSION {
                    splits.append(&mut level);
                    break;
                }
                let mut next = Vec::new();
                for g in &mut level {
                    self.classify_glyph(g)?;
                    next.extend(split_glyph(g)?);
                }
                splits.append(&mut level);
                level = next;
                depth += 1;
            }
            let candidates: Vec<usize> = work
                .into_iter()
                .filter(|&i| !main_id(&glyphs[i]).starts_with("split"))
                .collect();
            let threshold = bbox_threshold(bbox_size);
            let graph = Graph::pregroup(&glyphs, &candidates, threshold);
            unions =
                self.find_group_unions(&graph, &mut glyphs, max_parts_per_group, max_graph_size)?;
        }
        let mut out: Vec<Glyph> = glyphs
            .into_iter()
            .filter(|g| !main_id(g).starts_with("_group._part"))
            .collect();
        out.extend(unions);
        out.extend(splits);
        out.par_iter_mut()
            .filter(|g| g.features.is_empty())
            .for_each(|g| g.features = self.features_of(&g.image));
        Ok(out)
    }

    /// Classifies `g` (AUTOMATIC) with the classes of its features.
    fn classify_glyph(&self, g: &mut Glyph) -> Result<(), ClassifyError> {
        let (features, ids) = self.features_and_classes(&g.image)?;
        g.features = features;
        g.ids = ids;
        g.state = State::Automatic;
        Ok(())
    }

    /// The features of `image` and its classes.
    pub fn features_and_classes(
        &self,
        image: &Plane<u8>,
    ) -> Result<(Features, Vec<(String, f64)>), ClassifyError> {
        let features = (self.features)(image);
        let ids = self.knn.classify(&flatten(&features))?;
        Ok((features, ids))
    }

    /// `_evaluate_subgroup`.
    fn evaluate(&self, glyphs: &[Glyph], subgroup: &[usize]) -> Result<f64, ClassifyError> {
        if subgroup.len() > 1 {
            let union = union_images(glyphs, subgroup);
            let ids = self.guess(&union.image)?;
            let Some((name, conf)) = ids.first() else {
                return Ok(-1.0);
            };
            if name.starts_with("_split") || name.starts_with("skip") {
                Ok(0.0)
            } else {
                Ok(*conf)
            }
        } else {
            match subgroup.first().and_then(|&i| glyphs[i].ids.first()) {
                // Python raises on an empty id list: the evaluation counts as -1.
                None => Ok(-1.0),
                Some((name, _)) if name.starts_with("_group._part") => Ok(0.0),
                Some((_, conf)) => Ok(*conf),
            }
        }
    }

    /// `_find_group_unions`.
    ///
    /// The graph's connected parts share no glyph, so their partitions are found in parallel
    /// (each reads only its own glyphs' classes) and applied in Gamera's order afterwards. Within
    /// a part a set of glyphs reached along several paths is evaluated once: its union, and so
    /// its classes, do not depend on the order of its glyphs.
    fn find_group_unions(
        &self,
        graph: &Graph,
        glyphs: &mut [Glyph],
        max_parts_per_group: usize,
        max_graph_size: usize,
    ) -> Result<Vec<Glyph>, ClassifyError> {
        let roots: Vec<usize> = graph
            .subgraph_roots()
            .into_iter()
            .filter(|&root| graph.size_of_subgraph(root) <= max_graph_size)
            .collect();
        let shared: &[Glyph] = glyphs;
        let partitions = roots
            .par_iter()
            .map(|&root| {
                let root = graph
                    .map
                    .find(&graph.keys, graph.nodes[root].glyph)
                    .ok_or(ClassifyError::LostRoot)?;
                let mut seen: std::collections::HashMap<Vec<usize>, f64> =
                    std::collections::HashMap::new();
                graph.optimize_partitions(
                    root,
                    &mut |sub: &[usize]| {
                        if sub.len() < 2 {
                            return self.evaluate(shared, sub);
                        }
                        let mut key = sub.to_vec();
                        key.sort_unstable();
                        if let Some(&score) = seen.get(&key) {
                            return Ok(score);
                        }
                        let score = self.evaluate(shared, sub)?;
                        seen.insert(key, score);
                        Ok(score)
                    },
                    max_parts_per_group,
                    max_graph_size,
                )
            })
            .collect::<Result<Vec<_>, ClassifyError>>()?;
        let mut found = Vec::new();
        for best in partitions {
            for subgroup in best {
                if subgroup.len() > 1 {
                    let mut union = union_images(glyphs, &subgroup);
                    let (features, ids) = self.features_and_classes(&union.image)?;
                    union.features = features;
                    let part = format!(
                        "_group._part.{}",
                        ids.first().map_or("", |(n, _)| n.as_str())
                    );
                    union.ids = ids;
                    union.state = State::Heuristic;
                    for &g in &subgroup {
                        glyphs[g].ids = vec![(part.clone(), 0.5)];
                        glyphs[g].state = State::Heuristic;
                    }
                    found.push(union);
                }
            }
        }
        Ok(found)
    }
}

fn main_id(g: &Glyph) -> &str {
    if g.state == State::Unclassified {
        "UNCLASSIFIED"
    } else {
        g.main_id()
    }
}

/// How deep `classify_list_automatic` follows splits of splits.
const MAX_RECURSION: usize = 10;

/// Gamera's `_do_splits_impl`: the parts of a glyph classified `_split.NAME`, none otherwise.
fn split_glyph(g: &Glyph) -> Result<Vec<Glyph>, ClassifyError> {
    let id = g.main_id();
    let Some(name) = id.strip_prefix("_split.") else {
        return Ok(Vec::new());
    };
    let (vertical, center, max) = match name {
        "splitx" => (true, 0.5, false),
        "splitx_left" => (true, 0.25, false),
        "splitx_right" => (true, 0.75, false),
        "splitx_max" => (true, 0.5, true),
        "splity" => (false, 0.5, false),
        "splity_top" => (false, 0.25, false),
        "splity_bottom" => (false, 0.75, false),
        _ => return Err(ClassifyError::Split(name.to_owned())),
    };
    split(g, vertical, center, max)
}

/// Gamera's `splitx` / `splity` with one center ([`segmentation::split`]): the connected
/// components left and right of (above and below) the split point, placed on the page.
fn split(g: &Glyph, vertical: bool, center: f64, max: bool) -> Result<Vec<Glyph>, ClassifyError> {
    Ok(segmentation::split(&g.image, &[center], vertical, max)?
        .into_iter()
        .map(|p| Glyph::new(g.ul_x + p.ul_x, g.ul_y + p.ul_y, p.image))
        .collect())
}

/// `size_t(threshold + 0.5)`; a negative threshold is refused by the job's schema (minimum 1).
pub fn bbox_threshold(threshold: f64) -> usize {
    let t = threshold + 0.5;
    if t <= 0.0 { 0 } else { t as usize }
}

/// `(ul_x, ul_y, lr_x, lr_y)` of a glyph.
fn rect(g: &Glyph) -> (usize, usize, usize, usize) {
    (
        g.ul_x,
        g.ul_y,
        g.ul_x + g.ncols().max(1) - 1,
        g.ul_y + g.nrows().max(1) - 1,
    )
}

/// Gamera's `bounding_box_grouping_function(a, b, t)`: `b` meets `a`'s box grown by `t` (and one
/// more pixel right and down).
pub fn bounding_box_close(a: &Glyph, b: &Glyph, t: usize) -> bool {
    let (ax0, ay0, ax1, ay1) = rect(a);
    let (bx0, by0, bx1, by1) = rect(b);
    let (ex0, ey0, ex1, ey1) = (
        ax0.saturating_sub(t),
        ay0.saturating_sub(t),
        ax1 + t + 1,
        ay1 + t + 1,
    );
    overlaps(bx0, bx1, ex0, ex1) && overlaps(by0, by1, ey0, ey1)
}

fn overlaps(sul: usize, slr: usize, vul: usize, vlr: usize) -> bool {
    (vul >= sul && vul <= slr)
        || (vlr >= sul && vlr <= slr)
        || (sul >= vul && sul <= vlr)
        || (slr >= vul && slr <= vlr)
}

/// Gamera's `union_images` ([`image_utilities::union_planes`]) of the glyphs of `subgroup`: a
/// glyph over the boxes' union, black where any of them is black; as Gamera does, a glyph one
/// pixel wide or high adds nothing. An empty subgroup gives an empty glyph.
pub fn union_images(glyphs: &[Glyph], subgroup: &[usize]) -> Glyph {
    let planes: Vec<_> = subgroup
        .iter()
        .map(|&i| (glyphs[i].ul_x, glyphs[i].ul_y, &glyphs[i].image))
        .collect();
    match image_utilities::union_planes(&planes) {
        Some(union) => Glyph::new(union.ul_x, union.ul_y, union.image),
        None => Glyph::new(0, 0, Plane::new(0, 0, WHITE)),
    }
}

/// Gamera's `a < b` of two distinct glyph objects: Python falls back to `b > a`, which for
/// images is `Rect::operator>` (and distinct pixel data).
fn glyph_less(keys: &[(usize, usize, usize, usize)], a: usize, b: usize) -> bool {
    a != b && rect_greater(keys[b], keys[a])
}

fn point_greater(a: (usize, usize), b: (usize, usize)) -> bool {
    a.0 > b.0 || (a.0 == b.0 && a.1 > b.1)
}

fn rect_greater(a: (usize, usize, usize, usize), b: (usize, usize, usize, usize)) -> bool {
    let (aul, alr, bul, blr) = ((a.0, a.1), (a.2, a.3), (b.0, b.1), (b.2, b.3));
    if point_greater(aul, bul) && point_greater(alr, blr) {
        true
    } else {
        aul == bul && point_greater(alr, blr)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Color {
    Red,
    Black,
}

#[derive(Debug, Clone)]
struct RbNode {
    parent: usize,
    left: usize,
    right: usize,
    color: Color,
    key: usize,
    value: usize,
}

/// libstdc++'s `std::map<GraphData*, Node*>` keyed by glyph with Gamera's comparison: index 0
/// is the header (parent = root, left = leftmost, right = rightmost), `NIL` is a null link.
#[derive(Debug, Clone)]
struct GlyphMap {
    n: Vec<RbNode>,
}

const NIL: usize = usize::MAX;
const HEADER: usize = 0;

impl GlyphMap {
    fn new() -> Self {
        Self {
            n: vec![RbNode {
                parent: NIL,
                left: HEADER,
                right: HEADER,
                color: Color::Red,
                key: NIL,
                value: NIL,
            }],
        }
    }

    fn root(&self) -> usize {
        self.n[HEADER].parent
    }

    fn len(&self) -> usize {
        self.n.len() - 1
    }

    fn less(keys: &[(usize, usize, usize, usize)], a: usize, b: usize) -> bool {
        glyph_less(keys, a, b)
    }

    /// `lower_bound`.
    fn lower_bound(&self, keys: &[(usize, usize, usize, usize)], k: usize) -> usize {
        let mut x = self.root();
        let mut y = HEADER;
        while x != NIL {
            if !Self::less(keys, self.n[x].key, k) {
                y = x;
                x = self.n[x].left;
            } else {
                x = self.n[x].right;
            }
        }
        y
    }

    /// `find`: the node value of `k`, or none.
    fn find(&self, keys: &[(usize, usize, usize, usize)], k: usize) -> Option<usize> {
        let j = self.lower_bound(keys, k);
        if j == HEADER || Self::less(keys, k, self.n[j].key) {
            None
        } else {
            Some(self.n[j].value)
        }
    }

    fn increment(&self, mut x: usize) -> usize {
        if self.n[x].right != NIL {
            x = self.n[x].right;
            while self.n[x].left != NIL {
                x = self.n[x].left;
            }
            x
        } else {
            let mut y = self.n[x].parent;
            while x == self.n[y].right {
                x = y;
                y = self.n[y].parent;
            }
            if self.n[x].right != y { y } else { x }
        }
    }

    fn decrement(&self, mut x: usize) -> usize {
        if self.n[x].color == Color::Red
            && self.n[x].parent != NIL
            && self.n[self.n[x].parent].parent == x
        {
            self.n[x].right
        } else if self.n[x].left != NIL {
            let mut y = self.n[x].left;
            while self.n[y].right != NIL {
                y = self.n[y].right;
            }
            y
        } else {
            let mut y = self.n[x].parent;
            while x == self.n[y].left {
                x = y;
                y = self.n[y].parent;
            }
            y
        }
    }

    /// `_M_get_insert_unique_pos`: (x, parent); parent NIL means the key is present at x.
    fn insert_unique_pos(&self, keys: &[(usize, usize, usize, usize)], k: usize) -> (usize, usize) {
        let mut x = self.root();
        let mut y = HEADER;
        let mut comp = true;
        while x != NIL {
            y = x;
            comp = Self::less(keys, k, self.n[x].key);
            x = if comp {
                self.n[x].left
            } else {
                self.n[x].right
            };
        }
        let mut j = y;
        if comp {
            if j == self.n[HEADER].left {
                return (NIL, y);
            }
            j = self.decrement(j);
        }
        if Self::less(keys, self.n[j].key, k) {
            return (NIL, y);
        }
        (j, NIL)
    }

    /// `_M_get_insert_hint_unique_pos`.
    fn insert_hint_unique_pos(
        &self,
        keys: &[(usize, usize, usize, usize)],
        pos: usize,
        k: usize,
    ) -> (usize, usize) {
        let leftmost = self.n[HEADER].left;
        let rightmost = self.n[HEADER].right;
        if pos == HEADER {
            if self.len() > 0 && Self::less(keys, self.n[rightmost].key, k) {
                (NIL, rightmost)
            } else {
                self.insert_unique_pos(keys, k)
            }
        } else if Self::less(keys, k, self.n[pos].key) {
            if pos == leftmost {
                (leftmost, leftmost)
            } else {
                let before = self.decrement(pos);
                if Self::less(keys, self.n[before].key, k) {
                    if self.n[before].right == NIL {
                        (NIL, before)
                    } else {
                        (pos, pos)
                    }
                } else {
                    self.insert_unique_pos(keys, k)
                }
            }
        } else if Self::less(keys, self.n[pos].key, k) {
            if pos == rightmost {
                (NIL, rightmost)
            } else {
                let after = self.increment(pos);
                if Self::less(keys, k, self.n[after].key) {
                    if self.n[pos].right == NIL {
                        (NIL, pos)
                    } else {
                        (after, after)
                    }
                } else {
                    self.insert_unique_pos(keys, k)
                }
            }
        } else {
            (pos, NIL)
        }
    }

    /// `map[k] = value`: `lower_bound`, then `emplace_hint` when `k` is not there.
    fn assign(&mut self, keys: &[(usize, usize, usize, usize)], k: usize, value: usize) {
        let i = self.lower_bound(keys, k);
        if i == HEADER || Self::less(keys, k, self.n[i].key) {
            let (x, p) = self.insert_hint_unique_pos(keys, i, k);
            if p == NIL {
                self.n[x].value = value;
                return;
            }
            let insert_left = x != NIL || p == HEADER || Self::less(keys, k, self.n[p].key);
            let z = self.n.len();
            self.n.push(RbNode {
                parent: p,
                left: NIL,
                right: NIL,
                color: Color::Red,
                key: k,
                value,
            });
            self.insert_and_rebalance(insert_left, z, p);
        } else {
            self.n[i].value = value;
        }
    }

    fn rotate_left(&mut self, x: usize) {
        let y = self.n[x].right;
        self.n[x].right = self.n[y].left;
        if self.n[y].left != NIL {
            let yl = self.n[y].left;
            self.n[yl].parent = x;
        }
        self.n[y].parent = self.n[x].parent;
        let xp = self.n[x].parent;
        if x == self.root() {
            self.n[HEADER].parent = y;
        } else if x == self.n[xp].left {
            self.n[xp].left = y;
        } else {
            self.n[xp].right = y;
        }
        self.n[y].left = x;
        self.n[x].parent = y;
    }

    fn rotate_right(&mut self, x: usize) {
        let y = self.n[x].left;
        self.n[x].left = self.n[y].right;
        if self.n[y].right != NIL {
            let yr = self.n[y].right;
            self.n[yr].parent = x;
        }
        self.n[y].parent = self.n[x].parent;
        let xp = self.n[x].parent;
        if x == self.root() {
            self.n[HEADER].parent = y;
        } else if x == self.n[xp].right {
            self.n[xp].right = y;
        } else {
            self.n[xp].left = y;
        }
        self.n[y].right = x;
        self.n[x].parent = y;
    }

    /// `_Rb_tree_insert_and_rebalance`.
    fn insert_and_rebalance(&mut self, insert_left: bool, z: usize, p: usize) {
        if insert_left {
            self.n[p].left = z;
            if p == HEADER {
                self.n[HEADER].parent = z;
                self.n[HEADER].right = z;
            } else if p == self.n[HEADER].left {
                self.n[HEADER].left = z;
            }
        } else {
            self.n[p].right = z;
            if p == self.n[HEADER].right {
                self.n[HEADER].right = z;
            }
        }
        let mut x = z;
        while x != self.root() && self.n[self.n[x].parent].color == Color::Red {
            let xp = self.n[x].parent;
            let xpp = self.n[xp].parent;
            if xp == self.n[xpp].left {
                let y = self.n[xpp].right;
                if y != NIL && self.n[y].color == Color::Red {
                    self.n[xp].color = Color::Black;
                    self.n[y].color = Color::Black;
                    self.n[xpp].color = Color::Red;
                    x = xpp;
                } else {
                    if x == self.n[xp].right {
                        x = xp;
                        self.rotate_left(x);
                    }
                    let xp = self.n[x].parent;
                    self.n[xp].color = Color::Black;
                    self.n[xpp].color = Color::Red;
                    self.rotate_right(xpp);
                }
            } else {
                let y = self.n[xpp].left;
                if y != NIL && self.n[y].color == Color::Red {
                    self.n[xp].color = Color::Black;
                    self.n[y].color = Color::Black;
                    self.n[xpp].color = Color::Red;
                    x = xpp;
                } else {
                    if x == self.n[xp].left {
                        x = xp;
                        self.rotate_right(x);
                    }
                    let xp = self.n[x].parent;
                    self.n[xp].color = Color::Black;
                    self.n[xpp].color = Color::Red;
                    self.rotate_left(xpp);
                }
            }
        }
        let r = self.root();
        self.n[r].color = Color::Black;
    }
}

/// A node of Gamera's undirected graph: its glyph and its edges in insertion order.
#[derive(Debug, Clone)]
struct GNode {
    glyph: usize,
    edges: Vec<usize>,
}

/// Gamera's `graph.Undirected()` as `_pregroup` builds it (nodes in creation order, which is
/// taken as the order of their addresses that `get_subgraph_roots` sorts by).
#[derive(Debug, Clone)]
struct Graph {
    keys: Vec<(usize, usize, usize, usize)>,
    nodes: Vec<GNode>,
    edges: Vec<(usize, usize)>,
    map: GlyphMap,
}

impl Graph {
    fn new(glyphs: &[Glyph]) -> Self {
        Self {
            keys: glyphs.iter().map(rect).collect(),
            nodes: Vec::new(),
            edges: Vec::new(),
            map: GlyphMap::new(),
        }
    }

    fn has_node(&self, glyph: usize) -> bool {
        self.map.find(&self.keys, glyph).is_some()
    }

    /// `Graph::add_node`: a new node unless the map already "has" the glyph.
    fn add_node(&mut self, glyph: usize) -> Option<usize> {
        if self.has_node(glyph) {
            return None;
        }
        let id = self.nodes.len();
        self.nodes.push(GNode {
            glyph,
            edges: Vec::new(),
        });
        let keys = std::mem::take(&mut self.keys);
        self.map.assign(&keys, glyph, id);
        self.keys = keys;
        Some(id)
    }

    /// `add_node_ptr`.
    fn node_for(&mut self, glyph: usize) -> Option<usize> {
        match self.map.find(&self.keys, glyph) {
            Some(n) => Some(n),
            None => self.add_node(glyph),
        }
    }

    /// Python's `G.add_edge(a, b)` with glyphs.
    fn add_edge(&mut self, a: usize, b: usize) {
        if !self.has_node(a) {
            self.add_node(a);
        }
        if !self.has_node(b) {
            self.add_node(b);
        }
        let (Some(from), Some(to)) = (self.node_for(a), self.node_for(b)) else {
            return;
        };
        let e = self.edges.len();
        self.edges.push((from, to));
        self.nodes[from].edges.push(e);
        self.nodes[to].edges.push(e);
    }

    /// `_pregroup`: every candidate added, then an edge for each close pair (i < j).
    fn pregroup(glyphs: &[Glyph], candidates: &[usize], threshold: usize) -> Self {
        let mut g = Self::new(glyphs);
        for &c in candidates {
            g.add_node(c);
        }
        for (n, &i) in candidates.iter().enumerate() {
            for &j in &candidates[n + 1..] {
                if bounding_box_close(&glyphs[i], &glyphs[j], threshold) {
                    g.add_edge(i, j);
                }
            }
        }
        g
    }

    fn traverse(&self, e: usize, node: usize) -> usize {
        let (from, to) = self.edges[e];
        if node == from { to } else { from }
    }

    fn component(&self, start: usize) -> Vec<usize> {
        let mut seen = vec![false; self.nodes.len()];
        let mut stack = vec![start];
        seen[start] = true;
        let mut out = Vec::new();
        while let Some(n) = stack.pop() {
            out.push(n);
            for &e in &self.nodes[n].edges {
                let m = self.traverse(e, n);
                if !seen[m] {
                    seen[m] = true;
                    stack.push(m);
                }
            }
        }
        out
    }

    fn size_of_subgraph(&self, node: usize) -> usize {
        self.component(node).len()
    }

    /// `get_subgraph_roots`: the first node (in address order) of each connected part.
    fn subgraph_roots(&self) -> Vec<usize> {
        let mut visited = vec![false; self.nodes.len()];
        let mut roots = Vec::new();
        for n in 0..self.nodes.len() {
            if !visited[n] {
                roots.push(n);
                for m in self.component(n) {
                    visited[m] = true;
                }
            }
        }
        roots
    }

    /// Breadth-first order from `root` (edges in insertion order).
    fn bfs(&self, root: usize) -> Vec<usize> {
        let mut seen = vec![false; self.nodes.len()];
        let mut queue = std::collections::VecDeque::from([root]);
        seen[root] = true;
        let mut out = Vec::new();
        while let Some(n) = queue.pop_front() {
            out.push(n);
            for &e in &self.nodes[n].edges {
                let m = self.traverse(e, n);
                if !seen[m] {
                    seen[m] = true;
                    queue.push_back(m);
                }
            }
        }
        out
    }

    /// Gamera's `optimize_partitions(root, evaluate, max_parts_per_group, max_graph_size,
    /// "min")`: the groups (lists of glyphs) of the best partition of `root`'s part.
    fn optimize_partitions(
        &self,
        root: usize,
        eval: &mut dyn FnMut(&[usize]) -> Result<f64, ClassifyError>,
        max_parts_per_group: usize,
        max_graph_size: usize,
    ) -> Result<Vec<Vec<usize>>, ClassifyError> {
        // The node with the fewest edges, the first in breadth-first order.
        let first = self.bfs(root);
        let mut start = root;
        let mut min_edges = usize::MAX;
        for &n in &first {
            if self.nodes[n].edges.len() < min_edges {
                min_edges = self.nodes[n].edges.len();
                start = n;
            }
        }
        let size = first.len();
        if size > 62 || size > max_graph_size || size == 1 {
            return Ok(first.iter().map(|&n| vec![self.nodes[n].glyph]).collect());
        }
        let subgraph = self.bfs(start);
        let mut number = vec![0usize; self.nodes.len()];
        for (i, &n) in subgraph.iter().enumerate() {
            number[n] = i;
        }
        let mut parts: Vec<Part> = Vec::with_capacity(size * max_parts_per_group);
        let mut stack = Vec::with_capacity(max_parts_per_group);
        for &n in &subgraph {
            self.evaluate_parts(
                n,
                max_parts_per_group,
                size,
                &number,
                &mut stack,
                0,
                eval,
                &mut parts,
            )?;
        }
        find_skips(&mut parts);
        let all_bits: u64 = (1u64 << size) - 1;
        let mut best = Vec::new();
        let mut best_val = Score(0.0, 0.0);
        let mut partial = Vec::with_capacity(size);
        let end = parts.first().map_or(0, |p| p.begin);
        find_solution(
            &parts,
            0,
            end,
            &mut best,
            &mut best_val,
            &mut partial,
            Score(f64::MAX, 0.0),
            0,
            all_bits,
        );
        Ok(best
            .iter()
            .map(|&bits| {
                // (Gamera's loop stops before the highest set bit of a one-glyph group, leaving
                // its list entry empty; such groups are never used, so all bits are read here.)
                let mut group = Vec::new();
                for (j, &n) in subgraph.iter().enumerate() {
                    if bits & (1u64 << j) != 0 {
                        group.push(self.nodes[n].glyph);
                    }
                }
                group
            })
            .collect())
    }

    #[allow(clippy::too_many_arguments)]
    fn evaluate_parts(
        &self,
        node: usize,
        max_parts_per_group: usize,
        subgraph_size: usize,
        number: &[usize],
        stack: &mut Vec<usize>,
        bits: u64,
        eval: &mut dyn FnMut(&[usize]) -> Result<f64, ClassifyError>,
        parts: &mut Vec<Part>,
    ) -> Result<(), ClassifyError> {
        let node_number = number[node];
        stack.push(node);
        let bits = bits | (1u64 << node_number);
        let glyphs: Vec<usize> = stack.iter().map(|&n| self.nodes[n].glyph).collect();
        let score = eval(&glyphs)?;
        parts.push(Part {
            bits,
            score,
            begin: 0,
            end: 0,
        });
        if stack.len() < max_parts_per_group && node_number != subgraph_size - 1 {
            for &e in &self.nodes[node].edges {
                let to = self.traverse(e, node);
                if number[to] > node_number {
                    self.evaluate_parts(
                        to,
                        max_parts_per_group,
                        subgraph_size,
                        number,
                        stack,
                        bits,
                        eval,
                        parts,
                    )?;
                }
            }
        }
        stack.pop();
        Ok(())
    }
}

#[derive(Debug, Clone, Copy)]
struct Part {
    bits: u64,
    score: f64,
    begin: usize,
    end: usize,
}

/// Two scores compared as Gamera's `ScoreValue`: the first, then on equality the second.
#[derive(Debug, Clone, Copy)]
struct Score(f64, f64);

impl Score {
    fn greater(self, b: Self) -> bool {
        if self.0 == b.0 {
            self.1 > b.1
        } else {
            self.0 > b.0
        }
    }
}

fn find_skips(parts: &mut [Part]) {
    for i in 0..parts.len() {
        let root_bits = parts[i].bits;
        let mut j = i;
        while j < parts.len() && root_bits & parts[j].bits != 0 {
            j += 1;
        }
        parts[i].begin = j;
        let mut temp = root_bits;
        let mut b = 0u32;
        while temp != 0 {
            temp >>= 1;
            b += 1;
        }
        // Gamera's int arithmetic: one bit more than the highest set bit.
        let mask: u64 = (1u64 << (b + 1)) - 1;
        let mut k = j;
        while k < parts.len() && mask & parts[k].bits != 0 {
            k += 1;
        }
        parts[i].end = k;
    }
}

#[allow(clippy::too_many_arguments)]
fn find_solution(
    parts: &[Part],
    begin: usize,
    end: usize,
    best: &mut Vec<u64>,
    best_val: &mut Score,
    partial: &mut Vec<u64>,
    partial_val: Score,
    bits: u64,
    all_bits: u64,
) {
    let mut tmp = partial_val;
    if bits == all_bits {
        tmp.1 = partial_val.1 / partial.len() as f64;
        if tmp.greater(*best_val) {
            *best_val = tmp;
            best.clone_from(partial);
        }
    }
    for part in &parts[begin..end] {
        if part.bits & bits == 0 {
            partial.push(part.bits);
            tmp.1 = partial_val.1 + part.score;
            tmp.0 = partial_val.0.min(part.score);
            find_solution(
                parts,
                begin.max(part.begin),
                end.max(part.end),
                best,
                best_val,
                partial,
                tmp,
                bits | part.bits,
                all_bits,
            );
            partial.pop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gamera::BLACK;

    fn glyph(x: usize, y: usize, w: usize, h: usize) -> Glyph {
        Glyph::new(x, y, Plane::new(w, h, BLACK))
    }

    fn size_features(image: &Plane<u8>) -> Features {
        vec![
            ("ncols".to_owned(), vec![image.width() as f64]),
            ("nrows".to_owned(), vec![image.height() as f64]),
        ]
    }

    fn trained(name: &str, x: usize, w: usize, h: usize) -> Glyph {
        let mut g = glyph(x, 0, w, h);
        g.state = State::Manual;
        g.ids = vec![(name.to_owned(), 1.0)];
        g
    }

    /// Two 10×12 glyphs 4 pixels apart: alone each is nearest the 10×10 "dot" (distance 2 of at
    /// most 18, confidence (1 − 2/18)^10 ≈ 0.31); together they are exactly the 24×12 "pair"
    /// (confidence 1), so the best partition groups them. A far glyph stays alone, a MANUAL
    /// one is left as it is.
    #[test]
    fn close_glyphs_whose_union_matches_better_are_grouped() {
        let training = vec![
            trained("dot", 0, 10, 10),
            trained("bar", 0, 10, 30),
            trained("pair", 0, 24, 12),
        ];
        let features: &FeatureFn<'_> = &size_features;
        let Ok(c) = Classifier::train(&training, features, false) else {
            panic!()
        };
        let mut manual = glyph(200, 0, 10, 10);
        manual.state = State::Manual;
        manual.ids = vec![("kept".to_owned(), 0.25)];
        let glyphs = vec![
            glyph(0, 0, 10, 12),
            glyph(14, 0, 10, 12),
            glyph(100, 0, 10, 30),
            manual,
        ];
        let Ok(out) = c.group_and_update(glyphs, 4.0, 4, 16) else {
            panic!()
        };
        let summary: Vec<_> = out
            .iter()
            .map(|g| {
                (
                    g.ul_x,
                    g.ncols(),
                    g.state,
                    g.main_id().to_owned(),
                    g.main_confidence(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                (100, 10, State::Automatic, "bar".to_owned(), 1.0),
                (200, 10, State::Manual, "kept".to_owned(), 0.25),
                (0, 24, State::Heuristic, "pair".to_owned(), 1.0),
            ]
        );
        assert!(out.iter().all(|g| g.features.len() == 2));
        // 4 pixels apart is within the bounding box size; 5 is not.
        let far = vec![glyph(0, 0, 10, 12), glyph(15, 0, 10, 12)];
        let Ok(out) = c.group_and_update(far, 4.0, 4, 16) else {
            panic!()
        };
        assert_eq!(out.len(), 2);
        assert!(out.iter().all(|g| g.main_id() == "dot"));
        assert_eq!(out[0].main_confidence(), (1.0 - 2.0 / 18.0f64).powf(10.0));
    }

    #[test]
    fn bounding_boxes_grown_by_the_threshold_and_one_more_right_and_down() {
        let a = glyph(10, 10, 5, 5); // 10..=14
        assert!(bounding_box_close(&a, &glyph(19, 10, 2, 2), 4)); // 14 + 4 + 1 = 19
        assert!(!bounding_box_close(&a, &glyph(20, 10, 2, 2), 4));
        assert!(bounding_box_close(&a, &glyph(5, 10, 2, 2), 4)); // 5..=6 reaches 6 = 10 - 4
        assert!(!bounding_box_close(&a, &glyph(4, 10, 2, 2), 4));
        assert_eq!(bbox_threshold(4.0), 4);
        assert_eq!(bbox_threshold(2.5), 3);
    }

    #[test]
    fn union_skips_glyphs_one_pixel_wide_or_high() {
        let glyphs = vec![
            glyph(0, 0, 2, 2),
            glyph(3, 0, 1, 3),
            glyph(0, 3, 3, 1),
            glyph(2, 2, 2, 2),
        ];
        let u = union_images(&glyphs, &[0, 1, 2, 3]);
        assert_eq!((u.ul_x, u.ul_y, u.ncols(), u.nrows()), (0, 0, 4, 4));
        let rows: Vec<Vec<u8>> = u.image.rows().map(<[u8]>::to_vec).collect();
        assert_eq!(
            rows,
            vec![
                vec![1, 1, 0, 0],
                vec![1, 1, 0, 0],
                vec![0, 0, 1, 1],
                vec![0, 0, 1, 1]
            ]
        );
    }

    #[test]
    fn gamera_glyph_order_is_box_greater() {
        let keys = vec![(0, 0, 5, 5), (1, 0, 6, 5), (1, 1, 3, 3), (0, 0, 6, 6)];
        assert!(glyph_less(&keys, 0, 1)); // (1,0)>(0,0) and (6,5)>(5,5)
        assert!(!glyph_less(&keys, 1, 0));
        // Box 2 lies inside box 1: neither is greater, they compare equal.
        assert!(!glyph_less(&keys, 1, 2) && !glyph_less(&keys, 2, 1));
        // Same upper-left corner: the larger lower-right is greater.
        assert!(glyph_less(&keys, 0, 3));
        assert!(!glyph_less(&keys, 0, 0));
    }

    #[test]
    fn a_glyph_equal_to_another_is_not_added_and_its_edges_go_to_the_other() {
        // 1 lies inside 0's box: the map finds 0 for it.
        let glyphs = vec![glyph(0, 0, 10, 10), glyph(2, 2, 3, 3), glyph(12, 0, 3, 3)];
        let g = Graph::pregroup(&glyphs, &[0, 1, 2], 4);
        assert_eq!(g.nodes.len(), 2);
        assert_eq!(g.nodes[0].glyph, 0);
        assert_eq!(g.nodes[1].glyph, 2);
        // Edges 0-1 (a self loop on node 0) and 0-2 (1 and 2 are too far apart).
        assert_eq!(g.edges, vec![(0, 0), (0, 1)]);
        assert_eq!(g.nodes[0].edges, vec![0, 0, 1]);
        assert_eq!(g.size_of_subgraph(0), 2);
    }

    #[test]
    fn the_map_is_a_red_black_tree_that_finds_what_it_holds_in_order() {
        // Boxes along a diagonal are totally ordered: every one is found.
        let keys: Vec<_> = (0..50).map(|i| (i, i, i + 2, i + 2)).collect();
        let mut m = GlyphMap::new();
        for &i in &[25usize, 3, 40, 7, 49, 0, 12, 33, 18, 29, 45, 1, 2, 4, 5, 6] {
            m.assign(&keys, i, i + 100);
        }
        for &i in &[25usize, 3, 40, 7, 49, 0, 12, 33, 18, 29, 45, 1, 2, 4, 5, 6] {
            assert_eq!(m.find(&keys, i), Some(i + 100));
        }
        assert_eq!(m.find(&keys, 8), None);
        // In-order walk is sorted; the root is black and no red node has a red child.
        let mut x = m.n[HEADER].left;
        let mut seen = Vec::new();
        while x != HEADER {
            seen.push(m.n[x].key);
            x = m.increment(x);
        }
        let mut sorted = seen.clone();
        sorted.sort_unstable();
        assert_eq!(seen, sorted);
        assert_eq!(m.n[m.root()].color, Color::Black);
        for (i, node) in m.n.iter().enumerate().skip(1) {
            if node.color == Color::Red {
                for c in [node.left, node.right] {
                    assert!(
                        c == NIL || m.n[c].color == Color::Black,
                        "red {i} has a red child"
                    );
                }
            }
        }
    }

    #[test]
    fn partitions_take_the_best_minimum_confidence() {
        // A chain a - b - c. Scores: singles 0.9, 0.2, 0.9; {a,b} 0.8, {b,c} 0.3, {a,b,c} 0.1.
        let glyphs = vec![glyph(0, 0, 2, 2), glyph(4, 0, 2, 2), glyph(8, 0, 2, 2)];
        let g = Graph::pregroup(&glyphs, &[0, 1, 2], 2);
        assert_eq!(g.edges.len(), 2);
        let mut eval = |s: &[usize]| -> Result<f64, ClassifyError> {
            let mut s = s.to_vec();
            s.sort_unstable();
            Ok(match s.as_slice() {
                [0] | [2] => 0.9,
                [1] => 0.2,
                [0, 1] => 0.8,
                [1, 2] => 0.3,
                _ => 0.1,
            })
        };
        let Ok(best) = g.optimize_partitions(0, &mut eval, 4, 16) else {
            panic!()
        };
        // {a,b} + {c}: min 0.8 beats {a}+{b,c} (0.3), singles (0.2) and all three (0.1).
        let groups: Vec<_> = best.into_iter().filter(|s| s.len() > 1).collect();
        let mut group = groups[0].clone();
        group.sort_unstable();
        assert_eq!(groups.len(), 1);
        assert_eq!(group, vec![0, 1]);
        // With max_parts_per_group 1 only the singles remain.
        let Ok(best) = g.optimize_partitions(0, &mut eval, 1, 16) else {
            panic!()
        };
        assert!(best.iter().all(|s| s.len() == 1));
        // A part larger than max_graph_size is left alone.
        let Ok(best) = g.optimize_partitions(0, &mut eval, 4, 2) else {
            panic!()
        };
        assert_eq!(best.len(), 3);
    }
}

#[cfg(test)]
mod fixture_tests {
    use super::*;

    fn shared() -> Option<std::path::PathBuf> {
        let dir = std::env::var_os("RODAN_SHARED_DIR")?;
        Some(std::path::PathBuf::from(dir).join("fixtures/upstream-jobs/files"))
    }

    const GAMERA_LAST_NODES: [usize; 11] = [
        1087, 1103, 1107, 1109, 1120, 1123, 1133, 1134, 1140, 1143, 1152,
    ];
    // A repeated edge and a self loop: glyphs the map takes for others.
    const GAMERA_FIRST_EDGES: [(usize, usize); 6] =
        [(1, 2), (3, 4), (3, 4), (4, 4), (5, 9), (6, 12)];

    /// Gamera 4.1.0's `_pregroup` graph of the 1156 CCs of upstream's 240r CC Analysis golden
    /// (bounding box 4): only 401 of them become nodes, 363 edges, 240 subgraph roots.
    #[test]
    fn the_240r_graph_has_gameras_nodes_edges_and_roots() {
        let Some(dir) = shared() else {
            eprintln!("skipped: RODAN_SHARED_DIR is not set");
            return;
        };
        let Ok(db) = crate::gamera::xml::read_file(&dir.join("240r_CC-analysis_output.xml")) else {
            panic!("fixture")
        };
        let all: Vec<usize> = (0..db.glyphs.len()).collect();
        let g = Graph::pregroup(&db.glyphs, &all, 4);
        let nodes: Vec<usize> = g.nodes.iter().map(|n| n.glyph).collect();
        let edges: Vec<(usize, usize)> = g
            .edges
            .iter()
            .map(|&(a, b)| (g.nodes[a].glyph, g.nodes[b].glyph))
            .collect();
        let roots: Vec<usize> = g
            .subgraph_roots()
            .iter()
            .map(|&r| g.nodes[r].glyph)
            .collect();
        // Gamera's first nodes and edges (G.get_nodes(), G.get_edges() as glyph indices).
        assert_eq!(
            nodes[..20],
            [
                0, 1, 2, 3, 4, 5, 6, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20
            ]
        );
        assert_eq!(nodes[390..], GAMERA_LAST_NODES);
        assert_eq!(edges[..6], GAMERA_FIRST_EDGES);
        assert_eq!((nodes.len(), edges.len(), roots.len()), (401, 363, 240));
    }
}
