//! Gamera 4.1.0's genetic optimiser of a kNN's feature selection or weights (`gamera.knnga`,
//! `include/gamera/knnga.hpp`, on the EO library): a population of individuals, one gene per
//! feature the classifier has selected, starts uniformly at random (bits in selection mode,
//! reals in [0, 1) in weighting mode); each individual's fitness is the classifier's
//! leave-one-out accuracy with the individual as its selection (or weights). Each generation
//! selects as many parents as the population holds (`eoSelectPerc`), pairs them for one of the
//! crossovers (each as likely, at the crossover rate) and mutates each child with one of the
//! mutations (each as likely, at the mutation rate, `eoSGATransform`), evaluates the changed
//! children, and replaces the population; then the stop criteria are asked (all of them, the
//! run stops when one says so). The best individual seen is kept (`GAClassifierUpdater`).
//!
//! Operators as Gamera offers them, with its defaults: selection (roulette wheel, roulette wheel
//! with linear fitness scaling, stochastic universal sampling, rank, deterministic tournament,
//! random), crossover (n-point, uniform; in weighting mode also SBX, segment, hypercube),
//! mutation (shift, swap, inversion; binary in selection mode; Gauss in weighting mode),
//! replacement (generational, SSGA worse, SSGA deterministic tournament), stop criteria (best
//! fitness, maximum generations, maximum fitness evaluations, steady state). Operators that do
//! not apply to the mode are left out, as Gamera's Python binding adds them only to the
//! individual type they fit.
//!
//! Where this differs from Gamera: the random numbers come from a seeded generator (results are
//! reproducible); `setMaxFitnessEvals(n)` counts fitness evaluations as its name says (Gamera
//! builds an `eoFitContinue(n)`, a best-fitness criterion that never stops for accuracies ≤ 1);
//! the best individual starts as the classifier's own selection or weights, so the result is
//! never worse than what the person started from (Gamera starts from fitness 0 and takes the
//! first generation's best even when it is worse); a run is bounded by [`Bounds`].

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;

use super::knn::Knn;

/// `GA_SELECTION` / `GA_WEIGHTING`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpMode {
    /// Optimise which features are used (0/1 per feature).
    Selection,
    /// Optimise the features' weights (reals).
    Weighting,
}

/// `GABaseSetting`: mode, population size, crossover and mutation rates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BaseSetting {
    /// `opMode`.
    pub op_mode: OpMode,
    /// `popSize`.
    pub pop_size: usize,
    /// `crossRate`.
    pub cross_rate: f64,
    /// `mutRate`.
    pub mut_rate: f64,
}

impl Default for BaseSetting {
    /// Gamera's defaults: selection, 75 individuals, crossover 0.95, mutation 0.05.
    fn default() -> Self {
        Self {
            op_mode: OpMode::Selection,
            pop_size: 75,
            cross_rate: 0.95,
            mut_rate: 0.05,
        }
    }
}

/// `GASelection`: how one parent is picked.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Selection {
    /// `setRandomSelection`.
    Random,
    /// `setRankSelection(pressure = 2.0, exponent = 1.0)`.
    Rank {
        /// Selective pressure, in [1, 2].
        pressure: f64,
        /// Exponent of the rank.
        exponent: f64,
    },
    /// `setRoulettWheel`: proportional to fitness.
    Roulette,
    /// `setRoulettWheelScaled(pressure = 2.0)`: proportional to linearly scaled fitness.
    RouletteScaled {
        /// Selective pressure.
        pressure: f64,
    },
    /// `setStochUniSampling`.
    StochasticUniversal,
    /// `setTournamentSelection(tSize = 3)`.
    Tournament {
        /// Tournament size.
        t_size: usize,
    },
}

/// One crossover of `GACrossover`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Crossover {
    /// `setNPointCrossover(n = 1)`.
    NPoint {
        /// Number of cut points.
        n: usize,
    },
    /// `setUniformCrossover(preference = 0.5)`.
    Uniform {
        /// Probability that a gene is exchanged.
        preference: f64,
    },
    /// `setSBXcrossover(numFeatures, min, max, eta = 1.0)` (weighting).
    Sbx {
        /// Lower bound of a gene.
        min: f64,
        /// Upper bound of a gene.
        max: f64,
        /// Distribution index.
        eta: f64,
    },
    /// `setSegmentCrossover(numFeatures, min, max, alpha = 0.0)` (weighting).
    Segment {
        /// Lower bound of a gene.
        min: f64,
        /// Upper bound of a gene.
        max: f64,
        /// Extension of the segment beyond the parents.
        alpha: f64,
    },
    /// `setHypercubeCrossover(numFeatures, min, max, alpha = 0.0)` (weighting).
    Hypercube {
        /// Lower bound of a gene.
        min: f64,
        /// Upper bound of a gene.
        max: f64,
        /// Extension of the hypercube beyond the parents.
        alpha: f64,
    },
}

impl Crossover {
    /// Whether Gamera offers the crossover in `mode`.
    pub fn applies_to(&self, mode: OpMode) -> bool {
        mode == OpMode::Weighting || matches!(self, Self::NPoint { .. } | Self::Uniform { .. })
    }
}

/// One mutation of `GAMutation`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mutation {
    /// `setShiftMutation`: a gene moves to another place, those between shift by one.
    Shift,
    /// `setSwapMutation`: two genes swap.
    Swap,
    /// `setInversionMutation`: the genes between two places are reversed.
    Inversion,
    /// `setBinaryMutation(rate = 0.05, normalize = false)` (selection).
    Binary {
        /// Probability that a bit flips.
        rate: f64,
        /// Whether the rate is divided by the number of genes.
        normalize: bool,
    },
    /// `setGaussMutation(numFeatures, min, max, sigma, p_change = 1.0)` (weighting).
    Gauss {
        /// Lower bound of a gene.
        min: f64,
        /// Upper bound of a gene.
        max: f64,
        /// Standard deviation, as a share of `max - min`.
        sigma: f64,
        /// Probability that a gene changes.
        rate: f64,
    },
}

impl Mutation {
    /// Whether Gamera offers the mutation in `mode`.
    pub fn applies_to(&self, mode: OpMode) -> bool {
        match self {
            Self::Binary { .. } => mode == OpMode::Selection,
            Self::Gauss { .. } => mode == OpMode::Weighting,
            _ => true,
        }
    }
}

/// `GAReplacement`: how the children replace the population.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Replacement {
    /// `setGenerationalReplacement`: the children are the next population.
    Generational,
    /// `setSSGAworse`: the worst parents make room for the children.
    SsgaWorse,
    /// `setSSGAdetTournament(tSize = 3)`: the losers of reverse tournaments make room.
    SsgaDetTournament {
        /// Tournament size.
        t_size: usize,
    },
}

/// One criterion of `GAStopCriteria`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum StopCriterion {
    /// `setBestFitnessStop(optimum = 1.0)`: stop once the best fitness reaches `optimum`.
    BestFitness {
        /// The fitness to reach.
        optimum: f64,
    },
    /// `setMaxGenerations(n = 100)`.
    MaxGenerations {
        /// Generations to run.
        n: usize,
    },
    /// `setMaxFitnessEvals(n = 5000)`.
    MaxFitnessEvals {
        /// Fitness evaluations to run.
        n: usize,
    },
    /// `setSteadyStateStop(minGens = 40, noChangeGens = 10)`: after `min_gens` generations,
    /// stop when the best fitness has not improved for `no_change_gens` generations.
    SteadyState {
        /// Generations before the criterion watches.
        min_gens: usize,
        /// Generations without improvement that stop the run.
        no_change_gens: usize,
    },
}

/// Everything one optimisation uses.
#[derive(Debug, Clone, PartialEq)]
pub struct GaSettings {
    /// Mode, population, rates.
    pub base: BaseSetting,
    /// Parent selection.
    pub selection: Selection,
    /// Crossovers (one is picked per pair, each as likely).
    pub crossover: Vec<Crossover>,
    /// Mutations (one is picked per child, each as likely).
    pub mutation: Vec<Mutation>,
    /// Replacement.
    pub replacement: Replacement,
    /// Stop criteria (the run stops when any says so).
    pub stop: Vec<StopCriterion>,
}

/// Limits that keep a run affordable in a worker, whatever the stop criteria say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// At most this many generations.
    pub max_generations: usize,
    /// At most this many fitness evaluations (checked after each generation).
    pub max_evaluations: usize,
}

impl Default for Bounds {
    /// 1000 generations, 50 000 evaluations (about an hour on the Dalhousie classifier).
    fn default() -> Self {
        Self {
            max_generations: 1000,
            max_evaluations: 50_000,
        }
    }
}

/// Why an optimisation cannot run (Gamera's `StartCalculation` errors).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GaError {
    /// No crossover applies to the mode.
    #[error("no crossover method applies to the operation mode")]
    Crossover,
    /// No mutation applies to the mode.
    #[error("no mutation method applies to the operation mode")]
    Mutation,
    /// No stop criterion.
    #[error("no stop criterion")]
    StopCriteria,
    /// The population is empty.
    #[error("the population size must be at least 1")]
    Population,
    /// The classifier has no selected feature to optimise.
    #[error("the classifier has no selected feature to optimise")]
    NoFeatures,
}

/// What an optimisation found.
#[derive(Debug, Clone, PartialEq)]
pub struct GaResult {
    /// Generations run (`generation`).
    pub generation: usize,
    /// The best fitness seen (`bestFitness`).
    pub best_fitness: f64,
    /// The fitness of the classifier as it was given.
    pub start_fitness: f64,
    /// The classifier's selections, the best selection when optimising selections.
    pub selections: Vec<i32>,
    /// The classifier's weights, the best weights when optimising weights.
    pub weights: Vec<f64>,
    /// Fitness evaluations made.
    pub evaluations: usize,
    /// The best fitness seen after each generation.
    pub history: Vec<f64>,
}

#[derive(Debug, Clone)]
struct Individual {
    genes: Vec<f64>,
    fitness: Option<f64>,
}

impl Individual {
    fn fit(&self) -> f64 {
        self.fitness.unwrap_or(0.0)
    }
}

/// The fitness of individuals: the classifier's leave-one-out accuracy with the genes in the
/// places of its selected features.
struct Fitness<'a> {
    knn: &'a Knn,
    mode: OpMode,
    /// Individual gene → classifier feature.
    index: Vec<usize>,
}

impl Fitness<'_> {
    fn full(&self, genes: &[f64]) -> (Vec<i32>, Vec<f64>) {
        let n = self.knn.num_features();
        match self.mode {
            OpMode::Selection => {
                let mut s = vec![0; n];
                for (g, &i) in genes.iter().zip(&self.index) {
                    s[i] = i32::from(*g != 0.0);
                }
                (s, self.knn.weights.clone())
            }
            OpMode::Weighting => {
                let mut w = vec![0.0; n];
                for (g, &i) in genes.iter().zip(&self.index) {
                    w[i] = *g;
                }
                (self.knn.selections.clone(), w)
            }
        }
    }

    fn of(&self, genes: &[f64]) -> f64 {
        let (s, w) = self.full(genes);
        let (correct, asked) = self.knn.leave_one_out(Some(&s), Some(&w));
        if asked == 0 {
            0.0
        } else {
            correct as f64 / asked as f64
        }
    }
}

/// Optimises `knn`'s selections or weights with `settings`, random numbers from `seed`,
/// within `bounds`.
pub fn optimise(
    knn: &Knn,
    settings: &GaSettings,
    seed: u64,
    bounds: Bounds,
) -> Result<GaResult, GaError> {
    let mode = settings.base.op_mode;
    let crossovers: Vec<Crossover> = settings
        .crossover
        .iter()
        .copied()
        .filter(|c| c.applies_to(mode))
        .collect();
    let mutations: Vec<Mutation> = settings
        .mutation
        .iter()
        .copied()
        .filter(|m| m.applies_to(mode))
        .collect();
    if settings.base.pop_size == 0 {
        return Err(GaError::Population);
    }
    if crossovers.is_empty() {
        return Err(GaError::Crossover);
    }
    if mutations.is_empty() {
        return Err(GaError::Mutation);
    }
    if settings.stop.is_empty() {
        return Err(GaError::StopCriteria);
    }
    let index: Vec<usize> = (0..knn.num_features())
        .filter(|&i| knn.selections[i] == 1)
        .collect();
    if index.is_empty() {
        return Err(GaError::NoFeatures);
    }
    let fitness = Fitness { knn, mode, index };
    let mut rng = StdRng::seed_from_u64(seed);
    let len = fitness.index.len();

    // The classifier as given: the best so far.
    let start_genes: Vec<f64> = match mode {
        OpMode::Selection => vec![1.0; len],
        OpMode::Weighting => fitness.index.iter().map(|&i| knn.weights[i]).collect(),
    };
    let start_fitness = fitness.of(&start_genes);
    let mut best = Individual {
        genes: start_genes,
        fitness: Some(start_fitness),
    };
    let mut evaluations = 1;

    let mut population: Vec<Individual> = (0..settings.base.pop_size)
        .map(|_| Individual {
            genes: (0..len)
                .map(|_| match mode {
                    OpMode::Selection => f64::from(u8::from(rng.random_bool(0.5))),
                    OpMode::Weighting => rng.random::<f64>(),
                })
                .collect(),
            fitness: None,
        })
        .collect();
    evaluations += evaluate(&fitness, &mut population);
    keep_best(&mut best, &population);

    let mut stops: Vec<Stop> = settings.stop.iter().map(|&c| Stop::new(c)).collect();
    let mut generation = 0;
    let mut history = Vec::new();
    loop {
        let pop_size = population.len();
        let mut offspring = select(&mut rng, settings.selection, &population, pop_size);
        // eoSGATransform: pairs cross at the crossover rate, then each child may mutate.
        for pair in 0..offspring.len() / 2 {
            if rng.random_bool(settings.base.cross_rate.clamp(0.0, 1.0)) {
                let op = crossovers[rng.random_range(0..crossovers.len())];
                let (left, right) = offspring.split_at_mut(2 * pair + 1);
                let a = &mut left[2 * pair];
                let b = &mut right[0];
                if cross(&mut rng, op, &mut a.genes, &mut b.genes) {
                    a.fitness = None;
                    b.fitness = None;
                }
            }
        }
        for child in &mut offspring {
            if rng.random_bool(settings.base.mut_rate.clamp(0.0, 1.0)) {
                let op = mutations[rng.random_range(0..mutations.len())];
                if mutate(&mut rng, op, &mut child.genes) {
                    child.fitness = None;
                }
            }
        }
        evaluations += evaluate(&fitness, &mut offspring);
        replace(&mut rng, settings.replacement, &mut population, offspring);
        generation += 1;
        keep_best(&mut best, &population);
        history.push(best.fit());
        let current_best = population
            .iter()
            .map(Individual::fit)
            .fold(f64::MIN, f64::max);
        let mut go_on = true;
        for stop in &mut stops {
            go_on &= stop.go_on(current_best, evaluations);
        }
        if !go_on || generation >= bounds.max_generations || evaluations >= bounds.max_evaluations {
            break;
        }
    }
    let (selections, weights) = fitness.full(&best.genes);
    Ok(GaResult {
        generation,
        best_fitness: best.fit(),
        start_fitness,
        selections,
        weights,
        evaluations,
        history,
    })
}

/// Evaluates the individuals without a fitness (in parallel); returns how many.
fn evaluate(fitness: &Fitness<'_>, population: &mut [Individual]) -> usize {
    let todo: Vec<&mut Individual> = population
        .iter_mut()
        .filter(|i| i.fitness.is_none())
        .collect();
    let n = todo.len();
    todo.into_par_iter()
        .for_each(|i| i.fitness = Some(fitness.of(&i.genes)));
    n
}

/// `GAClassifierUpdater`: the population's best replaces the best so far when strictly fitter.
fn keep_best(best: &mut Individual, population: &[Individual]) {
    if let Some(b) = best_of(population)
        && b.fit() > best.fit()
    {
        *best = b.clone();
    }
}

/// The fittest individual (the first of equals).
fn best_of(population: &[Individual]) -> Option<&Individual> {
    population
        .iter()
        .reduce(|a, b| if b.fit() > a.fit() { b } else { a })
}

/// A stop criterion's state (EO's continuators).
struct Stop {
    criterion: StopCriterion,
    generation: usize,
    steady: bool,
    best_so_far: f64,
    last_improvement: usize,
}

impl Stop {
    fn new(criterion: StopCriterion) -> Self {
        Self {
            criterion,
            generation: 0,
            steady: false,
            best_so_far: f64::MIN,
            last_improvement: 0,
        }
    }

    /// Asked after each generation: whether the run goes on.
    fn go_on(&mut self, best: f64, evaluations: usize) -> bool {
        self.generation += 1;
        match self.criterion {
            // eoFitContinue
            StopCriterion::BestFitness { optimum } => best < optimum,
            // eoGenContinue
            StopCriterion::MaxGenerations { n } => self.generation < n,
            // eoEvalContinue
            StopCriterion::MaxFitnessEvals { n } => evaluations < n,
            // eoSteadyFitContinue
            StopCriterion::SteadyState {
                min_gens,
                no_change_gens,
            } => {
                if self.steady {
                    if best > self.best_so_far {
                        self.best_so_far = best;
                        self.last_improvement = self.generation;
                    } else if self.generation - self.last_improvement > no_change_gens {
                        return false;
                    }
                } else if self.generation > min_gens {
                    self.steady = true;
                    self.best_so_far = best;
                    self.last_improvement = self.generation;
                }
                true
            }
        }
    }
}

/// Picks an index with probability proportional to `worths` (uniformly when they sum to 0).
fn roulette(rng: &mut StdRng, worths: &[f64]) -> usize {
    let total: f64 = worths.iter().sum();
    if total.is_nan() || total <= 0.0 {
        return rng.random_range(0..worths.len());
    }
    let mut x = rng.random::<f64>() * total;
    for (i, w) in worths.iter().enumerate() {
        if x < *w {
            return i;
        }
        x -= w;
    }
    worths.len() - 1
}

/// Indices of the population from best to worst (stable).
fn ranked(population: &[Individual]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..population.len()).collect();
    order.sort_by(|&a, &b| population[b].fit().total_cmp(&population[a].fit()));
    order
}

/// `eoSelectPerc`: `n` parents (copies) picked by `selection`.
fn select(
    rng: &mut StdRng,
    selection: Selection,
    population: &[Individual],
    n: usize,
) -> Vec<Individual> {
    let size = population.len();
    let fits: Vec<f64> = population.iter().map(Individual::fit).collect();
    let picks: Vec<usize> = match selection {
        Selection::Random => (0..n).map(|_| rng.random_range(0..size)).collect(),
        Selection::Roulette => (0..n).map(|_| roulette(rng, &fits)).collect(),
        Selection::RouletteScaled { pressure } => {
            // eoLinearFitScaling: a·best + b = pressure·average, a·average + b = average.
            let best = fits.iter().copied().fold(f64::MIN, f64::max);
            let average = fits.iter().sum::<f64>() / size as f64;
            let denom = size as f64 * (best - average);
            let worths: Vec<f64> = if denom > 0.0 {
                let alpha = (pressure - 1.0) / denom;
                let beta = (best - pressure * average) / denom;
                fits.iter().map(|f| (alpha * f + beta).max(0.0)).collect()
            } else {
                vec![1.0; size]
            };
            (0..n).map(|_| roulette(rng, &worths)).collect()
        }
        Selection::Rank { pressure, exponent } => {
            // eoRanking: the i-th best is worth beta + gamma·((size − i) / size)^exponent.
            let order = ranked(population);
            let s = size as f64;
            let mut worths = vec![0.0; size];
            for (i, &which) in order.iter().enumerate() {
                worths[which] = if size < 2 {
                    1.0
                } else if exponent == 1.0 {
                    let alpha = (2.0 * pressure - 2.0) / (s * (s - 1.0));
                    let beta = (2.0 - pressure) / s;
                    alpha * (s - 1.0 - i as f64) + beta
                } else {
                    let gamma = (2.0 * pressure - 2.0) / s;
                    let beta = (2.0 - pressure) / s;
                    gamma * ((s - i as f64) / s).powf(exponent) + beta
                };
            }
            let worths: Vec<f64> = worths.into_iter().map(|w| w.max(0.0)).collect();
            (0..n).map(|_| roulette(rng, &worths)).collect()
        }
        Selection::StochasticUniversal => {
            // One spin, n equally spaced pointers over the cumulated fitness, in random order.
            let total: f64 = fits.iter().sum();
            let mut picks = Vec::with_capacity(n);
            if total > 0.0 {
                let step = total / n as f64;
                let mut pointer = rng.random::<f64>() * step;
                let mut cumulated = 0.0;
                let mut i = 0;
                while picks.len() < n {
                    while i + 1 < size && cumulated + fits[i] <= pointer {
                        cumulated += fits[i];
                        i += 1;
                    }
                    picks.push(i);
                    pointer += step;
                }
            } else {
                picks.extend((0..n).map(|_| rng.random_range(0..size)));
            }
            for i in (1..picks.len()).rev() {
                let j = rng.random_range(0..=i);
                picks.swap(i, j);
            }
            picks
        }
        Selection::Tournament { t_size } => (0..n)
            .map(|_| {
                let mut best = rng.random_range(0..size);
                for _ in 1..t_size.max(1) {
                    let other = rng.random_range(0..size);
                    if fits[other] > fits[best] {
                        best = other;
                    }
                }
                best
            })
            .collect(),
    };
    picks.into_iter().map(|i| population[i].clone()).collect()
}

/// Reflects `x` into [min, max] (`eoRealVectorBounds::foldsInBounds`), in one step however far
/// out it is.
fn fold(x: f64, min: f64, max: f64) -> f64 {
    let range = max - min;
    if x.is_nan() {
        return min;
    }
    if range.is_nan() || range <= 0.0 || !x.is_finite() {
        return x.clamp(min.min(max), max.max(min));
    }
    if (min..=max).contains(&x) {
        return x;
    }
    let t = (x - min).rem_euclid(2.0 * range);
    let t = if t > range { 2.0 * range - t } else { t };
    (min + t).clamp(min, max)
}

/// Applies a crossover to a pair; returns whether they changed.
fn cross(rng: &mut StdRng, op: Crossover, a: &mut [f64], b: &mut [f64]) -> bool {
    let len = a.len();
    match op {
        Crossover::NPoint { n } => {
            // eoNPtsBitXover: n distinct cut points in 1..len, alternate segments swapped.
            let n = n.clamp(1, len.saturating_sub(1).max(1));
            if len < 2 {
                return false;
            }
            let mut points = vec![false; len];
            let mut chosen = 0;
            while chosen < n {
                let p = rng.random_range(1..len);
                if !points[p] {
                    points[p] = true;
                    chosen += 1;
                }
            }
            let mut swapping = false;
            for i in 0..len {
                if points[i] {
                    swapping = !swapping;
                }
                if swapping {
                    std::mem::swap(&mut a[i], &mut b[i]);
                }
            }
            true
        }
        Crossover::Uniform { preference } => {
            // eoUBitXover: each differing gene is exchanged with probability `preference`.
            let mut changed = false;
            for i in 0..len {
                if a[i] != b[i] && rng.random_bool(preference.clamp(0.0, 1.0)) {
                    std::mem::swap(&mut a[i], &mut b[i]);
                    changed = true;
                }
            }
            changed
        }
        Crossover::Sbx { min, max, eta } => {
            for i in 0..len {
                let u: f64 = rng.random();
                let beta = if u <= 0.5 {
                    (2.0 * u).powf(1.0 / (eta + 1.0))
                } else {
                    (1.0 / (2.0 * (1.0 - u))).powf(1.0 / (eta + 1.0))
                };
                let (r1, r2) = (a[i], b[i]);
                a[i] = fold(0.5 * ((1.0 + beta) * r1 + (1.0 - beta) * r2), min, max);
                b[i] = fold(0.5 * ((1.0 - beta) * r1 + (1.0 + beta) * r2), min, max);
            }
            true
        }
        Crossover::Segment { min, max, alpha } => {
            let f = (1.0 + 2.0 * alpha) * rng.random::<f64>() - alpha;
            for i in 0..len {
                let (r1, r2) = (a[i], b[i]);
                a[i] = fold(f * r1 + (1.0 - f) * r2, min, max);
                b[i] = fold(f * r2 + (1.0 - f) * r1, min, max);
            }
            true
        }
        Crossover::Hypercube { min, max, alpha } => {
            for i in 0..len {
                let f = (1.0 + 2.0 * alpha) * rng.random::<f64>() - alpha;
                let (r1, r2) = (a[i], b[i]);
                a[i] = fold(f * r1 + (1.0 - f) * r2, min, max);
                b[i] = fold(f * r2 + (1.0 - f) * r1, min, max);
            }
            true
        }
    }
}

/// Two different places of a chromosome of `len` ≥ 2 genes, ordered.
fn two_places(rng: &mut StdRng, len: usize) -> (usize, usize) {
    let i = rng.random_range(0..len);
    let mut j = rng.random_range(0..len - 1);
    if j >= i {
        j += 1;
    }
    (i.min(j), i.max(j))
}

/// A standard normal number (Box–Muller).
fn normal(rng: &mut StdRng) -> f64 {
    let u1: f64 = 1.0 - rng.random::<f64>();
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

/// Applies a mutation; returns whether the chromosome changed.
fn mutate(rng: &mut StdRng, op: Mutation, genes: &mut [f64]) -> bool {
    let len = genes.len();
    match op {
        // Gamera's own operators loop forever on one gene; here they leave it alone.
        Mutation::Shift | Mutation::Swap | Mutation::Inversion if len < 2 => false,
        Mutation::Shift => {
            // eoShiftMutation: the gene at `to` moves to `from`, those between move right.
            let (from, to) = two_places(rng, len);
            genes[from..=to].rotate_right(1);
            true
        }
        Mutation::Swap => {
            let (i, j) = two_places(rng, len);
            genes.swap(i, j);
            true
        }
        Mutation::Inversion => {
            let (from, to) = two_places(rng, len);
            genes[from..=to].reverse();
            true
        }
        Mutation::Binary { rate, normalize } => {
            let rate = if normalize { rate / len as f64 } else { rate };
            let mut changed = false;
            for g in genes.iter_mut() {
                if rng.random_bool(rate.clamp(0.0, 1.0)) {
                    *g = if *g != 0.0 { 0.0 } else { 1.0 };
                    changed = true;
                }
            }
            changed
        }
        Mutation::Gauss {
            min,
            max,
            sigma,
            rate,
        } => {
            let sigma = sigma * (max - min);
            let mut changed = false;
            for g in genes.iter_mut() {
                if rng.random_bool(rate.clamp(0.0, 1.0)) {
                    *g = fold(*g + sigma * normal(rng), min, max);
                    changed = true;
                }
            }
            changed
        }
    }
}

/// Replaces the population with the children (EO's replacements).
fn replace(
    rng: &mut StdRng,
    replacement: Replacement,
    population: &mut Vec<Individual>,
    offspring: Vec<Individual>,
) {
    match replacement {
        Replacement::Generational => *population = offspring,
        // eoReduceMerge: the parents shrink by as many as there are children, then the
        // children join them.
        Replacement::SsgaWorse => {
            let keep = population.len().saturating_sub(offspring.len());
            let order = ranked(population);
            let kept: Vec<Individual> = order[..keep]
                .iter()
                .map(|&i| population[i].clone())
                .collect();
            *population = kept;
            population.extend(offspring);
        }
        Replacement::SsgaDetTournament { t_size } => {
            let remove = offspring.len().min(population.len());
            for _ in 0..remove {
                // eoDetTournamentTruncate: the worst of t_size picked at random goes.
                let size = population.len();
                let mut worst = rng.random_range(0..size);
                for _ in 1..t_size.max(1) {
                    let other = rng.random_range(0..size);
                    if population[other].fit() < population[worst].fit() {
                        worst = other;
                    }
                }
                population.remove(worst);
            }
            population.extend(offspring);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rng() -> StdRng {
        StdRng::seed_from_u64(7)
    }

    #[test]
    fn permutations_keep_the_genes() {
        let mut r = rng();
        for op in [Mutation::Shift, Mutation::Swap, Mutation::Inversion] {
            let mut g: Vec<f64> = (0..10).map(f64::from).collect();
            assert!(mutate(&mut r, op, &mut g));
            let mut sorted = g.clone();
            sorted.sort_by(f64::total_cmp);
            assert_eq!(sorted, (0..10).map(f64::from).collect::<Vec<_>>(), "{op:?}");
            assert_ne!(g, (0..10).map(f64::from).collect::<Vec<_>>(), "{op:?}");
        }
        let mut one = vec![1.0];
        assert!(!mutate(&mut r, Mutation::Swap, &mut one));
    }

    #[test]
    fn shift_moves_one_gene_and_shifts_the_rest() {
        let mut g = vec![0.0, 1.0, 2.0, 3.0];
        g[0..=2].rotate_right(1);
        assert_eq!(g, vec![2.0, 0.0, 1.0, 3.0]);
    }

    #[test]
    fn real_operators_stay_in_bounds() {
        let mut r = rng();
        for op in [
            Crossover::Sbx {
                min: 0.0,
                max: 1.0,
                eta: 1.0,
            },
            Crossover::Segment {
                min: 0.0,
                max: 1.0,
                alpha: 0.5,
            },
            Crossover::Hypercube {
                min: 0.0,
                max: 1.0,
                alpha: 0.5,
            },
        ] {
            for _ in 0..50 {
                let mut a: Vec<f64> = (0..8).map(|_| r.random()).collect();
                let mut b: Vec<f64> = (0..8).map(|_| r.random()).collect();
                cross(&mut r, op, &mut a, &mut b);
                assert!(
                    a.iter().chain(&b).all(|x| (0.0..=1.0).contains(x)),
                    "{op:?}"
                );
            }
        }
        let mut g = vec![0.5; 20];
        let gauss = Mutation::Gauss {
            min: 0.0,
            max: 1.0,
            sigma: 2.0,
            rate: 1.0,
        };
        assert!(mutate(&mut r, gauss, &mut g));
        assert!(g.iter().all(|x| (0.0..=1.0).contains(x)));
    }

    #[test]
    fn folding_reflects_at_the_bounds_however_far_out() {
        assert_eq!(fold(1.25, 0.0, 1.0), 0.75);
        assert_eq!(fold(-0.25, 0.0, 1.0), 0.25);
        assert_eq!(fold(2.5, 0.0, 1.0), 0.5);
        assert_eq!(fold(0.5, 0.0, 1.0), 0.5);
        let far = fold(1e12 + 0.25, 0.0, 1.0);
        assert!((far - 0.25).abs() < 1e-3, "{far}");
        assert_eq!(fold(f64::INFINITY, 0.0, 1.0), 1.0);
        assert_eq!(fold(f64::NAN, 0.0, 1.0), 0.0);
    }

    #[test]
    fn binary_mutation_flips_bits_only() {
        let mut r = rng();
        let mut g = vec![0.0; 100];
        mutate(
            &mut r,
            Mutation::Binary {
                rate: 0.5,
                normalize: false,
            },
            &mut g,
        );
        assert!(g.iter().all(|&x| x == 0.0 || x == 1.0));
        assert!(g.contains(&1.0));
    }

    #[test]
    fn n_point_crossover_exchanges_segments() {
        let mut r = rng();
        let mut a = vec![0.0; 10];
        let mut b = vec![1.0; 10];
        cross(&mut r, Crossover::NPoint { n: 1 }, &mut a, &mut b);
        // One cut: a is 0…0 1…1 and b its complement.
        let cut = a.iter().position(|&x| x == 1.0).expect("a cut");
        assert!(cut > 0);
        assert!(a[cut..].iter().all(|&x| x == 1.0));
        assert!(b[..cut].iter().all(|&x| x == 1.0) && b[cut..].iter().all(|&x| x == 0.0));
    }

    #[test]
    fn steady_state_waits_then_stops_without_improvement() {
        let mut s = Stop::new(StopCriterion::SteadyState {
            min_gens: 3,
            no_change_gens: 2,
        });
        let answers: Vec<bool> = (0..8).map(|_| s.go_on(0.5, 0)).collect();
        // Generations 1-3 wait, 4 starts watching, 5 and 6 are within 2, 7 stops.
        assert_eq!(answers, [true, true, true, true, true, true, false, false]);
    }

    #[test]
    fn selections_pick_fitter_individuals_more_often() {
        let population: Vec<Individual> = (0..10)
            .map(|i| Individual {
                genes: vec![],
                fitness: Some(f64::from(i) / 10.0),
            })
            .collect();
        for sel in [
            Selection::Roulette,
            Selection::RouletteScaled { pressure: 2.0 },
            Selection::Rank {
                pressure: 2.0,
                exponent: 1.0,
            },
            Selection::Rank {
                pressure: 1.5,
                exponent: 2.0,
            },
            Selection::StochasticUniversal,
            Selection::Tournament { t_size: 3 },
        ] {
            let mut r = rng();
            let picked = select(&mut r, sel, &population, 2000);
            let mean = picked.iter().map(Individual::fit).sum::<f64>() / 2000.0;
            assert!(mean > 0.5, "{sel:?}: mean fitness {mean}");
        }
        let mut r = rng();
        let picked = select(&mut r, Selection::Random, &population, 4000);
        let mean = picked.iter().map(Individual::fit).sum::<f64>() / 4000.0;
        assert!((mean - 0.45).abs() < 0.03, "random: {mean}");
    }
}
