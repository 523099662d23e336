//! Gamera 4.1.0's k-nearest-neighbour classifier (`gamera.knncore.kNN`, `include/gamera/knn.hpp`)
//! as `kNNNonInteractive` uses it: feature vectors of the training glyphs, a weighted and
//! selected distance (city block unless the settings file says otherwise), the majority of the
//! k nearest neighbours, and Gamera's default confidence `(1 - d / (d_max + DBL_MIN))^10`,
//! where `d_max` is the largest distance from the unknown to any training vector.
//!
//! Also the kNN settings file (`<gamera-knn-settings>`) that `load_settings` reads.

use std::collections::BTreeMap;

use quick_xml::Reader;
use quick_xml::events::Event;

/// How two feature vectors are compared (`gamera.knn.CITY_BLOCK`...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Distance {
    /// Σ s·(w·|u − k|), Gamera's default.
    #[default]
    CityBlock,
    /// Σ s·(w·√((u − k)²)) (per feature, as Gamera computes it).
    Euclidean,
    /// Σ s·(w·(u − k)²).
    FastEuclidean,
}

impl Distance {
    /// The name the settings file uses (`distance-type`).
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "CITY-BLOCK" => Some(Self::CityBlock),
            "EUCLIDEAN" => Some(Self::Euclidean),
            "FAST-EUCLIDEAN" => Some(Self::FastEuclidean),
            _ => None,
        }
    }

    /// The name the settings file uses (`_distance_type_to_name`).
    pub fn name(self) -> &'static str {
        match self {
            Self::CityBlock => "CITY-BLOCK",
            Self::Euclidean => "EUCLIDEAN",
            Self::FastEuclidean => "FAST-EUCLIDEAN",
        }
    }

    /// The distance between a known and an unknown vector, summed in feature order.
    pub fn between(
        self,
        known: &[f64],
        unknown: &[f64],
        selections: &[i32],
        weights: &[f64],
    ) -> f64 {
        let mut distance = 0.0;
        for (((k, u), s), w) in known.iter().zip(unknown).zip(selections).zip(weights) {
            let d = u - k;
            let term = match self {
                Self::CityBlock => d.abs(),
                Self::Euclidean => (d * d).sqrt(),
                Self::FastEuclidean => d * d,
            };
            distance += f64::from(*s) * (w * term);
        }
        distance
    }
}

/// Gamera's feature normalisation (`kNN::Normalize`): x' = (x − mean) / stdev over the training
/// vectors, the sample standard deviation from running sums, at least 0.00001.
#[derive(Debug, Clone, PartialEq)]
pub struct Normalize {
    mean: Vec<f64>,
    stdev: Vec<f64>,
}

impl Normalize {
    /// The normalisation of `vectors` (all of one length; at least one).
    pub fn compute(vectors: &[Vec<f64>]) -> Self {
        let n_features = vectors.first().map_or(0, Vec::len);
        let mut sum = vec![0.0; n_features];
        let mut sum2 = vec![0.0; n_features];
        for v in vectors {
            for (i, &x) in v.iter().enumerate() {
                sum[i] += x;
                sum2[i] += x * x;
            }
        }
        // size_t arithmetic in Gamera: n * (n - 1) is an integer before the division.
        let n = vectors.len();
        let nf = n as f64;
        let n_n1 = n.saturating_mul(n.saturating_sub(1)) as f64;
        let mut mean = Vec::with_capacity(n_features);
        let mut stdev = Vec::with_capacity(n_features);
        for i in 0..n_features {
            let var = (nf * sum2[i] - sum[i] * sum[i]) / n_n1;
            let mut sd = var.sqrt();
            // NaN (a single vector) passes Gamera's `stdev < 0.00001` test unchanged.
            if sd < 0.00001 {
                sd = 0.00001;
            }
            mean.push(sum[i] / nf);
            stdev.push(sd);
        }
        Self { mean, stdev }
    }

    /// `v` normalised.
    pub fn apply(&self, v: &[f64]) -> Vec<f64> {
        v.iter()
            .zip(self.mean.iter().zip(&self.stdev))
            .map(|(x, (m, s))| (x - m) / s)
            .collect()
    }
}

/// Why the classifier cannot be built or used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KnnError {
    /// No training glyph.
    #[error(
        "the training data has no classified glyph (Gamera: the initial database of a non-interactive kNN classifier must have at least one element)"
    )]
    EmptyDatabase,
    /// A feature vector of another length than the others.
    #[error("feature vector lengths don't match")]
    Length,
    /// k of 0.
    #[error("num-k must be at least 1")]
    ZeroK,
}

/// A trained non-interactive kNN classifier.
#[derive(Debug, Clone)]
pub struct Knn {
    vectors: Vec<Vec<f64>>,
    ids: Vec<String>,
    /// Per-feature selection (0 or 1).
    pub selections: Vec<i32>,
    /// Per-feature weights.
    pub weights: Vec<f64>,
    /// k.
    pub num_k: usize,
    /// The distance.
    pub distance: Distance,
    normalize: Option<Normalize>,
}

impl Knn {
    /// `instantiate_from_images`: the training vectors with their class names, in database
    /// order (ties go to the earliest), normalised when `normalize` (off in `kNNNonInteractive`
    /// unless asked). Selections and weights start at 1, k at 1, city-block distance.
    pub fn new(
        vectors: Vec<Vec<f64>>,
        ids: Vec<String>,
        normalize: bool,
    ) -> Result<Self, KnnError> {
        let n = vectors.first().ok_or(KnnError::EmptyDatabase)?.len();
        if vectors.iter().any(|v| v.len() != n) || ids.len() != vectors.len() {
            return Err(KnnError::Length);
        }
        let (vectors, normalize) = if normalize {
            let norm = Normalize::compute(&vectors);
            (vectors.iter().map(|v| norm.apply(v)).collect(), Some(norm))
        } else {
            (vectors, None)
        };
        Ok(Self {
            vectors,
            ids,
            selections: vec![1; n],
            weights: vec![1.0; n],
            num_k: 1,
            distance: Distance::CityBlock,
            normalize,
        })
    }

    /// Number of features per vector.
    pub fn num_features(&self) -> usize {
        self.selections.len()
    }

    /// The training vectors (normalised when the kNN normalises).
    pub fn vectors(&self) -> &[Vec<f64>] {
        &self.vectors
    }

    /// The training vectors' class names.
    pub fn ids(&self) -> &[String] {
        &self.ids
    }

    /// Number of training vectors.
    pub fn len(&self) -> usize {
        self.vectors.len()
    }

    /// Whether there is no training vector (never after `new`).
    pub fn is_empty(&self) -> bool {
        self.vectors.is_empty()
    }

    /// `classify`: the answer classes with their default confidences, the majority class
    /// first, then the other classes among the k nearest in name order (`id_name`).
    pub fn classify(&self, unknown: &[f64]) -> Result<Vec<(String, f64)>, KnnError> {
        if unknown.len() != self.num_features() {
            return Err(KnnError::Length);
        }
        if self.num_k == 0 {
            return Err(KnnError::ZeroK);
        }
        let unknown = match &self.normalize {
            Some(n) => n.apply(unknown),
            None => unknown.to_vec(),
        };
        let mut nn = Neighbours::new(self.num_k, self.vectors.len());
        for (known, id) in self.vectors.iter().zip(&self.ids) {
            let d = self
                .distance
                .between(known, &unknown, &self.selections, &self.weights);
            nn.add(id, d);
        }
        Ok(nn.answer())
    }

    /// Gamera's `leave_one_out` (`knncoremodule.hpp`): each training vector is classified by
    /// all the others (the kNN's own k and distance, `selections` and `weights` in place of the
    /// classifier's when given); a vector whose class has fewer than `int((k + 0.5) / 2)`
    /// examples is not asked. Returns (correct, asked).
    pub fn leave_one_out(
        &self,
        selections: Option<&[i32]>,
        weights: Option<&[f64]>,
    ) -> (usize, usize) {
        let selections = selections.unwrap_or(&self.selections);
        let weights = weights.unwrap_or(&self.weights);
        let mut histogram: BTreeMap<&str, usize> = BTreeMap::new();
        for id in &self.ids {
            *histogram.entry(id.as_str()).or_default() += 1;
        }
        // int((num_k + 0.5) / 2), as Gamera computes it in doubles.
        let needed = ((self.num_k as f64 + 0.5) / 2.0) as usize;
        let (mut correct, mut asked) = (0, 0);
        for (i, unknown) in self.vectors.iter().enumerate() {
            let own = self.ids[i].as_str();
            if histogram.get(own).copied().unwrap_or(0) < needed {
                continue;
            }
            let mut nn = Neighbours::new(self.num_k.max(1), self.vectors.len());
            for (j, (known, id)) in self.vectors.iter().zip(&self.ids).enumerate() {
                if i != j {
                    nn.add(
                        id,
                        self.distance.between(known, unknown, selections, weights),
                    );
                }
            }
            if nn.majority() == Some(own) {
                correct += 1;
            }
            asked += 1;
        }
        (correct, asked)
    }
}

/// Gamera's `kNearestNeighbors`: the k nearest kept sorted by distance (a new neighbour replaces
/// the farthest only when strictly nearer), and the largest distance seen.
#[derive(Debug)]
struct Neighbours<'a> {
    k: usize,
    nn: Vec<(&'a str, f64)>,
    max_distance: f64,
}

impl<'a> Neighbours<'a> {
    /// Room for the k nearest of `candidates` (k comes from a settings file: it may be far
    /// more than there are).
    fn new(k: usize, candidates: usize) -> Self {
        Self {
            k,
            nn: Vec::with_capacity(k.min(candidates)),
            max_distance: 0.0,
        }
    }

    fn add(&mut self, id: &'a str, distance: f64) {
        if self.nn.len() < self.k {
            self.nn.push((id, distance));
            sort_by_distance(&mut self.nn);
        } else if let Some(last) = self.nn.last_mut()
            && distance < last.1
        {
            *last = (id, distance);
            sort_by_distance(&mut self.nn);
        }
        if distance > self.max_distance {
            self.max_distance = distance;
        }
    }

    fn confidence(&self, distance: f64) -> f64 {
        (1.0 - distance / (self.max_distance + f64::MIN_POSITIVE)).powf(10.0)
    }

    /// The class `majority` puts first (`answer[0]`), without the confidences.
    fn majority(&self) -> Option<&'a str> {
        self.ranked().first().map(|&(id, _)| id)
    }

    /// `majority` then `calculate_confidences`.
    fn answer(&self) -> Vec<(String, f64)> {
        self.ranked()
            .into_iter()
            .map(|(id, d)| (id.to_owned(), self.confidence(d)))
            .collect()
    }

    /// `majority`: the answer classes with their nearest distances, the majority first.
    fn ranked(&self) -> Vec<(&'a str, f64)> {
        let mut answer: Vec<(&'a str, f64)> = Vec::new();
        if self.nn.len() == 1 {
            answer.push(self.nn[0]);
        } else {
            // class → (count, min distance, total distance), in strcmp order.
            let mut stats: BTreeMap<&str, (usize, f64, f64)> = BTreeMap::new();
            for &(id, d) in &self.nn {
                match stats.get_mut(id) {
                    None => {
                        stats.insert(id, (1, d, 0.0));
                    }
                    Some(e) => {
                        e.0 += 1;
                        e.2 += d;
                        if d < e.1 {
                            e.1 = d;
                        }
                    }
                }
            }
            // The most frequent class; a tie goes to the smallest total distance, then the
            // first in name order. Gamera's total leaves out the class's nearest neighbour and
            // starts from an uninitialised value that is the same for every class of one call:
            // classes with one neighbour each tie and the first name wins.
            let mut best: Option<(&str, (usize, f64, f64))> = None;
            let max = stats.values().map(|s| s.0).max().unwrap_or(0);
            for (id, s) in stats.iter().filter(|(_, s)| s.0 == max) {
                if best.is_none_or(|(_, b)| s.2 < b.2) {
                    best = Some((id, *s));
                }
            }
            if let Some((id, s)) = best {
                answer.push((id, s.1));
                stats.remove(id);
            }
            for (id, s) in stats {
                answer.push((id, s.1));
            }
        }
        answer
    }
}

/// std::sort on distances; for the few neighbours k holds it is an insertion sort, so stable.
fn sort_by_distance(v: &mut [(&str, f64)]) {
    v.sort_by(|a, b| a.1.partial_cmp(&b.1).unwrap_or(std::cmp::Ordering::Equal));
}

/// What a `<gamera-knn-settings>` file holds (`save_settings` / `load_settings`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct KnnSettings {
    /// `num-k`.
    pub num_k: i64,
    /// `distance-type`.
    pub distance: Distance,
    /// `<selection name>` → values.
    pub selections: BTreeMap<String, Vec<i64>>,
    /// `<weight name>` → values; its names are the feature set, sorted.
    pub weights: BTreeMap<String, Vec<f64>>,
}

/// Writes a kNN settings file byte for byte as Gamera's `save_settings` does: the features in
/// `features` order with their lengths, the classifier's `selections` and `weights` cut into
/// them, lines wrapped at 78 columns less the indent (`gamera.util.word_wrap`), weights as
/// Python's `str(float)`.
pub fn write_settings(
    num_k: usize,
    distance: Distance,
    features: &[(String, usize)],
    selections: &[i32],
    weights: &[f64],
) -> String {
    let mut out = String::new();
    word_wrap(&mut out, r#"<?xml version="1.0" encoding="utf-8"?>"#, 0);
    word_wrap(
        &mut out,
        &format!(
            r#"<gamera-knn-settings version="1.0" num-k="{num_k}" distance-type="{}">"#,
            distance.name()
        ),
        0,
    );
    for (list, item) in [("selections", "selection"), ("weights", "weight")] {
        word_wrap(&mut out, &format!("<{list}>"), 1);
        let mut at = 0;
        for (name, len) in features {
            word_wrap(&mut out, &format!(r#"<{item} name="{name}">"#), 2);
            let end = (at + len).min(selections.len().min(weights.len()));
            let start = at.min(end);
            let values: Vec<String> = if item == "selection" {
                selections[start..end].iter().map(i32::to_string).collect()
            } else {
                weights[start..end]
                    .iter()
                    .map(|w| crate::pyjson::float_repr(*w))
                    .collect()
            };
            word_wrap(&mut out, &values.join(" "), 3);
            word_wrap(&mut out, &format!("</{item}>"), 2);
            at += len;
        }
        word_wrap(&mut out, &format!("</{list}>"), 1);
    }
    word_wrap(&mut out, "</gamera-knn-settings>", 0);
    out
}

/// `gamera.util.word_wrap(stream, text, indent, width=78)`: lines of at most `78 - 2·indent`
/// characters broken at spaces, each after `2·indent` spaces.
fn word_wrap(out: &mut String, text: &str, indent: usize) {
    let indent = indent * 2;
    let width = 78usize.saturating_sub(indent);
    let spaces = " ".repeat(indent);
    // The texts are ASCII (names, numbers), so byte and character positions agree.
    let mut p = 0;
    loop {
        out.push_str(&spaces);
        if text.len() - p < width {
            out.push_str(&text[p..]);
            out.push('\n');
            return;
        }
        // str.rfind(' ', p, p + width)
        let window = &text[p..(p + width).min(text.len())];
        match window.rfind(' ') {
            Some(i) => {
                out.push_str(&text[p..p + i]);
                out.push('\n');
                p += i + 1;
            }
            None => {
                out.push_str(&text[p..]);
                out.push('\n');
                return;
            }
        }
    }
}

/// Parses a kNN settings file; the error says what is wrong.
pub fn parse_settings(text: &[u8]) -> Result<KnnSettings, String> {
    let mut reader = Reader::from_reader(text);
    let mut settings = KnnSettings::default();
    let mut seen_root = false;
    // (is_weight, name, text) of the element being read.
    let mut current: Option<(bool, String, String)> = None;
    let mut buf = Vec::new();
    loop {
        let event = reader
            .read_event_into(&mut buf)
            .map_err(|e| format!("not well-formed XML: {e}"))?;
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let tag: String = e.name().as_ref().to_owned();
                let attr = |key: &str| -> Result<Option<String>, String> {
                    match e.try_get_attribute(key) {
                        Ok(Some(a)) => a
                            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                            .map(|v| Some(v.into_owned()))
                            .map_err(|x| format!("attribute {key}: {x}")),
                        Ok(None) => Ok(None),
                        Err(x) => Err(format!("attribute {key}: {x}")),
                    }
                };
                match tag.as_str() {
                    "gamera-knn-settings" => {
                        seen_root = true;
                        let need = |key: &str| {
                            attr(key)?.ok_or_else(|| {
                                format!("<gamera-knn-settings> has no '{key}' attribute")
                            })
                        };
                        let version = need("version")?;
                        let version: f64 = version
                            .trim()
                            .parse()
                            .map_err(|_| format!("version '{version}' is not a number"))?;
                        if version < 1.0 {
                            return Err(format!("settings version {version} is older than 1.0"));
                        }
                        let k = need("num-k")?;
                        settings.num_k = k
                            .trim()
                            .parse()
                            .map_err(|_| format!("num-k '{k}' is not an integer"))?;
                        let d = need("distance-type")?;
                        settings.distance = Distance::from_name(&d)
                            .ok_or_else(|| format!("unknown distance-type '{d}'"))?;
                    }
                    "selection" | "weight" => {
                        let name = attr("name")?
                            .ok_or_else(|| format!("<{tag}> has no 'name' attribute"))?;
                        current = Some((tag == "weight", name, String::new()));
                        if matches!(event, Event::Empty(_)) {
                            finish(&mut settings, current.take())?;
                        }
                    }
                    _ => {}
                }
            }
            Event::Text(t) => {
                if let Some((_, _, text)) = current.as_mut() {
                    text.push_str(&t.xml10_content());
                }
            }
            Event::End(e) => {
                let name = e.name();
                if name.as_ref() == "selection" || name.as_ref() == "weight" {
                    finish(&mut settings, current.take())?;
                }
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    if !seen_root {
        return Err("no <gamera-knn-settings> element".to_owned());
    }
    Ok(settings)
}

fn finish(
    settings: &mut KnnSettings,
    current: Option<(bool, String, String)>,
) -> Result<(), String> {
    let Some((is_weight, name, text)) = current else {
        return Ok(());
    };
    if is_weight {
        let values = text
            .split_whitespace()
            .map(|x| {
                x.parse::<f64>()
                    .map_err(|_| format!("weight '{x}' of '{name}' is not a number"))
            })
            .collect::<Result<_, _>>()?;
        settings.weights.insert(name, values);
    } else {
        let values = text
            .split_whitespace()
            .map(|x| {
                x.parse::<i64>()
                    .map_err(|_| format!("selection '{x}' of '{name}' is not an integer"))
            })
            .collect::<Result<_, _>>()?;
        settings.selections.insert(name, values);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn knn(vectors: &[&[f64]], ids: &[&str]) -> Knn {
        let Ok(k) = Knn::new(
            vectors.iter().map(|v| v.to_vec()).collect(),
            ids.iter().map(|s| (*s).to_owned()).collect(),
            false,
        ) else {
            panic!("valid database")
        };
        k
    }

    #[test]
    fn city_block_nearest_and_confidence() {
        let k = knn(&[&[0.0, 0.0], &[10.0, 0.0], &[0.0, 4.0]], &["a", "b", "c"]);
        // Distances from (1, 1): a 2, b 10, c 4. Confidence (1 - 2/10)^10.
        let Ok(ans) = k.classify(&[1.0, 1.0]) else {
            panic!()
        };
        assert_eq!(ans.len(), 1);
        assert_eq!(ans[0].0, "a");
        assert_eq!(ans[0].1, 0.8f64.powf(10.0));
    }

    #[test]
    fn a_k_beyond_the_training_set_takes_every_glyph() {
        // num-k is read from a settings file; usize::MAX must not be allocated for.
        let mut k = knn(&[&[0.0, 0.0], &[10.0, 0.0], &[0.0, 4.0]], &["a", "b", "b"]);
        k.num_k = usize::MAX;
        let Ok(ans) = k.classify(&[1.0, 1.0]) else {
            panic!("classifies")
        };
        assert_eq!(ans[0].0, "b");
        assert_eq!(ans.len(), 2);
    }

    #[test]
    fn weights_and_selections_change_the_distance() {
        let mut k = knn(&[&[0.0, 0.0], &[3.0, 10.0]], &["a", "b"]);
        let Ok(ans) = k.classify(&[3.0, 1.0]) else {
            panic!()
        };
        assert_eq!(ans[0].0, "a"); // 4 against 9
        k.selections = vec![1, 0];
        let Ok(ans) = k.classify(&[3.0, 1.0]) else {
            panic!()
        };
        assert_eq!(ans[0].0, "b"); // 3 against 0
        assert_eq!(ans[0].1, 1.0);
        k.selections = vec![1, 1];
        k.weights = vec![10.0, 1.0];
        let Ok(ans) = k.classify(&[3.0, 1.0]) else {
            panic!()
        };
        assert_eq!(ans[0].0, "b"); // 31 against 9
    }

    #[test]
    fn euclidean_distances() {
        assert_eq!(
            Distance::Euclidean.between(&[0.0, 0.0], &[3.0, -4.0], &[1, 1], &[1.0, 1.0]),
            7.0
        );
        assert_eq!(
            Distance::FastEuclidean.between(&[0.0, 0.0], &[3.0, -4.0], &[1, 1], &[1.0, 1.0]),
            25.0
        );
    }

    #[test]
    fn a_tie_goes_to_the_first_training_glyph() {
        let k = knn(&[&[1.0], &[-1.0], &[1.0]], &["z", "y", "x"]);
        let Ok(ans) = k.classify(&[0.0]) else {
            panic!()
        };
        assert_eq!(ans[0].0, "z");
    }

    #[test]
    fn k3_majority_then_the_others_in_name_order() {
        let mut k = knn(
            &[&[0.0], &[1.0], &[2.0], &[2.5], &[100.0]],
            &["b", "c", "b", "a", "d"],
        );
        k.num_k = 4;
        let Ok(ans) = k.classify(&[0.0]) else {
            panic!()
        };
        let names: Vec<_> = ans.iter().map(|a| a.0.as_str()).collect();
        assert_eq!(names, ["b", "a", "c"]);
        // Each class with the confidence of its nearest member; max distance 100.
        assert_eq!(ans[1].1, (1.0 - 2.5 / 100.0f64).powf(10.0));
        assert_eq!(ans[2].1, (1.0 - 1.0 / 100.0f64).powf(10.0));
    }

    #[test]
    fn normalisation_is_the_sample_standard_score() {
        let n = Normalize::compute(&[vec![1.0, 5.0], vec![3.0, 5.0], vec![5.0, 5.0]]);
        // mean 3, sample stdev 2; a constant feature gets stdev 0.00001.
        assert_eq!(n.apply(&[7.0, 5.0]), vec![2.0, 0.0]);
        assert_eq!(
            n.apply(&[3.0, 5.00001]),
            vec![0.0, (5.00001 - 5.0) / 0.00001]
        );
        let Ok(k) = Knn::new(
            vec![vec![0.0, 0.0], vec![2.0, 1000.0]],
            vec!["a".into(), "b".into()],
            true,
        ) else {
            panic!()
        };
        // (1.9, 400): unnormalised the second feature decides (a); normalised (stdev √2 and
        // 500√2) the first one weighs as much and b is nearer.
        let Ok(ans) = k.classify(&[1.9, 400.0]) else {
            panic!()
        };
        assert_eq!(ans[0].0, "b");
        let plain = knn(&[&[0.0, 0.0], &[2.0, 1000.0]], &["a", "b"]);
        let Ok(ans) = plain.classify(&[1.9, 400.0]) else {
            panic!()
        };
        assert_eq!(ans[0].0, "a");
    }

    #[test]
    fn empty_database_and_bad_lengths_are_refused() {
        assert_eq!(
            Knn::new(vec![], vec![], false).err(),
            Some(KnnError::EmptyDatabase)
        );
        assert_eq!(
            Knn::new(
                vec![vec![1.0], vec![1.0, 2.0]],
                vec!["a".into(), "b".into()],
                false
            )
            .err(),
            Some(KnnError::Length)
        );
        let k = knn(&[&[0.0]], &["a"]);
        assert_eq!(k.classify(&[1.0, 2.0]).err(), Some(KnnError::Length));
    }

    #[test]
    fn settings_file() {
        let text = br#"<?xml version="1.0" encoding="utf-8"?>
<gamera-knn-settings version="1.0" num-k="3" distance-type="EUCLIDEAN">
  <selections>
    <selection name="area">
      1
    </selection>
    <selection name="moments">
      1 0 1
    </selection>
  </selections>
  <weights>
    <weight name="moments">
      0.5 1.0 0.25
    </weight>
    <weight name="area">
      2.0
    </weight>
  </weights>
</gamera-knn-settings>
"#;
        let Ok(s) = parse_settings(text) else {
            panic!()
        };
        assert_eq!(s.num_k, 3);
        assert_eq!(s.distance, Distance::Euclidean);
        assert_eq!(s.weights.keys().collect::<Vec<_>>(), ["area", "moments"]);
        assert_eq!(s.weights["moments"], vec![0.5, 1.0, 0.25]);
        assert_eq!(s.selections["moments"], vec![1, 0, 1]);
        assert!(parse_settings(b"<gamera-database version=\"2.0\"/>").is_err());
        assert!(parse_settings(b"not xml <").is_err());
        assert!(
            parse_settings(
                br#"<gamera-knn-settings version="1.0" num-k="1" distance-type="MANHATTAN"/>"#
            )
            .is_err()
        );
    }
}
