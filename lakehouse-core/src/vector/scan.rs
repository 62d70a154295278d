//! The projected scan: a second way to search an index, for queries unlike the stored vectors.
//!
//! A graph walk (HNSW) hops from stored vector to stored vector towards the query. A query
//! that sits away from all of them (a ten-word recruiter search over hundred-word profiles)
//! has hundreds of near-equidistant neighbours, and the walk misses some of the nearest unless
//! it is made wide and slow. The scan instead scores *every* vector by a compact code, its
//! coordinates along the data's principal directions at one byte each, and re-ranks the best
//! `candidates` exactly with the vectors the index stores. Text embeddings keep most of their
//! variance in few directions, so 64 bytes per 384-d vector keep the true neighbours among the
//! first few dozen candidates, and the scan is a tight integer loop over a few megabytes.
//!
//! The directions are fitted (principal components of a sample) once the index holds
//! [`FIT_MIN`] vectors and again each time it has doubled since, so the codes follow the data
//! at an amortised constant cost per add; vectors added in between are coded with the current
//! directions. How many directions: the spec's `scan_dimensions`, or when that is 0, the
//! fewest that hold [`TARGET_VARIANCE`] of the sample's variance (rounded up to the kernel's
//! step of 16, which costs nothing). The codes are derived data, stored beside each snapshot
//! ([`Scan::save`]) so that an open takes them as they were instead of refitting and coding
//! every vector; when that file is missing or does not match, the open rebuilds them from
//! the stored vectors.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};

use super::{IndexKind, IndexSpec, Metric};

/// Vectors an index holds before its directions are fitted; below it a scan index searches
/// by brute force, which is as fast at that size.
pub const FIT_MIN: usize = 1024;
/// Share of the data's variance the fitted directions must hold for an `auto` index to use
/// the codes. Below it (data whose variance is spread over many more directions than kept)
/// the true neighbours would often fall outside the candidates, so searches walk the graph
/// instead and [`Scan::variance`] tells why.
pub const MIN_VARIANCE: f32 = 0.95;
/// Share of the variance an index that chooses its own directions keeps: the fewest
/// directions holding it. Measured on two generated staffing corpora with recruiter queries
/// (docs/PERFORMANCE.md): 97% left one at recall@10 0.979 with 64 candidates, 98% reaches
/// 0.99 on both. Directions past [`CASCADE_HEAD`] cost little (see [`Scan::search`]).
pub const TARGET_VARIANCE: f32 = 0.98;
/// Largest `scan_dimensions` accepted.
pub const MAX_SCAN_DIMENSIONS: usize = 1024;
/// Directions tried first when the index chooses; doubled until they hold the target.
const FIRST_TRY: usize = 64;
/// Codes scored in a search's first pass when a vector has more (see [`Scan::search`]).
pub const CASCADE_HEAD: usize = 64;
/// The first pass keeps this many times the candidates for the second…
const CASCADE_WIDEN: usize = 16;
/// …and at least this many.
const CASCADE_MIN: usize = 1024;
/// Largest query weight after quantisation: with codes of at most 127 in magnitude and at
/// most [`MAX_SCAN_DIMENSIONS`] of them, a dot product stays far inside `i32`.
const QUERY_MAX: f32 = 4095.0;
/// Subspace iterations when fitting the directions.
const FIT_ITERATIONS: usize = 24;
/// Extra directions iterated beside the kept ones (they converge the kept ones faster).
const FIT_OVERSAMPLE: usize = 8;
/// Rows scored per block before the best are picked out of them.
const BLOCK: usize = 256;
/// First bytes of a saved scan ([`Scan::save`]); the last one is the format's version.
const SAVED_MAGIC: &[u8; 8] = b"LHSCAN\x00\x01";

/// The fitted directions and the code scale along each.
struct Basis {
    /// Mean of the (normalised, for cosine) vectors.
    mean: Vec<f32>,
    /// `dims` unit directions of `dimensions` values each, row after row.
    axes: Vec<f32>,
    /// Coordinate per code unit along each direction.
    scales: Vec<f32>,
    /// Share of the sample's variance along each direction, largest first.
    shares: Vec<f32>,
    /// Share of the sample's variance along the directions (their sum).
    variance: f32,
}

impl Basis {
    /// How many of the first directions hold `target` of the variance (`None`: all of them
    /// hold less).
    fn fewest_holding(&self, target: f32) -> Option<usize> {
        let mut held = 0.0;
        self.shares
            .iter()
            .position(|s| {
                held += s;
                held >= target
            })
            .map(|i| i + 1)
    }

    /// Keeps the first `n` directions (of `d` values each).
    fn keep(&mut self, n: usize, d: usize) {
        self.axes.truncate(n * d);
        self.scales.truncate(n);
        self.shares.truncate(n);
        self.variance = self.shares.iter().sum::<f32>().clamp(0.0, 1.0);
    }
}

/// Codes of every stored vector, and the basis they were made with.
pub(crate) struct Scan {
    dimensions: usize,
    /// Directions the spec pins (`None`: chosen at each fit).
    pinned: Option<usize>,
    /// Kind `scan`: the codes answer whatever share of the variance they hold.
    always: bool,
    /// The most directions the index may choose.
    most: usize,
    /// Directions kept (0 before the first fit).
    dims: usize,
    /// `dims` rounded up to a multiple of 16 (the kernel's step); the padding codes are 0.
    width: usize,
    /// Codes per row in `codes`: the first `min(width, CASCADE_HEAD)`; the rest of each
    /// row's codes are in `tail`.
    head: usize,
    metric: Metric,
    basis: Option<Basis>,
    /// Rows when the basis was fitted.
    fitted_at: usize,
    keys: Vec<u64>,
    /// The first `head` codes of each row, row after row.
    codes: Vec<i8>,
    /// The other `width - head` codes of each row, row after row.
    tail: Vec<i8>,
    /// `|v|² / 2` per row, for L2 (whose ranking needs it beside the dot product).
    half_norms: Vec<f32>,
    row_of: HashMap<u64, u32>,
}

impl Scan {
    /// The scan of an index of kind `auto` or `scan`; `None` for `hnsw`.
    pub fn new(spec: &IndexSpec) -> Option<Self> {
        (spec.kind != IndexKind::Hnsw).then(|| {
            let always = spec.kind == IndexKind::Scan;
            Self {
                dimensions: spec.dimensions,
                pinned: (spec.scan_dimensions > 0)
                    .then(|| spec.scan_dimensions.min(spec.dimensions)),
                always,
                // `auto` leaves data that needs more than half the dimensions to the graph.
                most: if always {
                    spec.dimensions.min(MAX_SCAN_DIMENSIONS)
                } else {
                    (spec.dimensions / 2).clamp(1, MAX_SCAN_DIMENSIONS)
                },
                dims: 0,
                width: 0,
                head: 0,
                metric: spec.metric,
                basis: None,
                fitted_at: 0,
                keys: Vec::new(),
                codes: Vec::new(),
                tail: Vec::new(),
                half_norms: Vec::new(),
                row_of: HashMap::new(),
            }
        })
    }

    /// Whether searches can use the codes: the basis is fitted and, for kind `auto`, holds
    /// at least [`MIN_VARIANCE`] of the data's variance.
    pub fn is_ready(&self) -> bool {
        self.variance()
            .is_some_and(|v| self.always || v >= MIN_VARIANCE)
    }

    /// Directions the codes use (`None` before the first fit).
    pub fn dimensions_used(&self) -> Option<usize> {
        self.basis.as_ref().map(|_| self.dims)
    }

    /// Share of the data's variance the fitted directions hold (`None` before the fit).
    pub fn variance(&self) -> Option<f32> {
        self.basis.as_ref().map(|b| b.variance)
    }

    /// Whether an index of `len` vectors should (re)fit: first at [`FIT_MIN`], then each
    /// time it has doubled.
    pub fn needs_fit(&self, len: usize) -> bool {
        len >= FIT_MIN && (self.basis.is_none() || len >= 2 * self.fitted_at)
    }

    /// Bytes held: codes, keys, norms, the row table and the basis.
    pub fn memory_bytes(&self) -> usize {
        let basis = self.basis.as_ref().map_or(0, |b| {
            4 * (b.mean.len() + b.axes.len() + b.scales.len() + b.shares.len())
        });
        self.codes.capacity()
            + self.tail.capacity()
            + 8 * self.keys.capacity()
            + 4 * self.half_norms.capacity()
            + 16 * self.row_of.capacity()
            + basis
    }

    /// Fits the directions to (a sample of) the vectors under `keys` and codes them all.
    /// `get` copies a stored vector into its buffer and says whether the key was found.
    pub fn fit(&mut self, keys: &[u64], get: impl Fn(u64, &mut [f32]) -> bool + Sync) {
        let d = self.dimensions;
        // The covariance costs sample × d²: a larger sample buys nothing a re-rank needs.
        let sample_size = (400_000_000 / (d * d)).clamp(1024, 4096).min(keys.len());
        let step = keys.len() as f64 / sample_size.max(1) as f64;
        let mut sample = Vec::with_capacity(sample_size * d);
        let mut v = vec![0f32; d];
        for i in 0..sample_size {
            if get(keys[(i as f64 * step) as usize], &mut v) {
                self.prepare(&mut v);
                sample.extend_from_slice(&v);
            }
        }
        if sample.is_empty() {
            return;
        }
        let basis = match self.pinned {
            Some(dims) => fit_basis(&sample, d, dims),
            None => self.choose_basis(&sample),
        };
        self.dims = basis.axes.len() / d;
        self.width = self.dims.div_ceil(16) * 16;
        self.head = self.width.min(CASCADE_HEAD);
        if !self.always && basis.variance < MIN_VARIANCE {
            // Searches walk the graph: keep the fit's verdict, not codes nobody reads.
            self.clear_codes();
            self.basis = Some(basis);
            self.fitted_at = keys.len();
            return;
        }
        // Coding every vector is most of the work: the machine's threads share it.
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let chunk = keys.len().div_ceil(threads).max(1024);
        let this = &*self;
        let parts: Vec<Coded> = std::thread::scope(|s| {
            let workers: Vec<_> = keys
                .chunks(chunk)
                .map(|part| s.spawn(|| this.code_all(&basis, part, &get)))
                .collect();
            workers
                .into_iter()
                .map(|w| w.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
                .collect()
        });
        self.clear_codes();
        for part in parts {
            self.keys.extend(part.keys);
            self.codes.extend(part.codes);
            self.tail.extend(part.tail);
            self.half_norms.extend(part.half_norms);
        }
        self.row_of = self
            .keys
            .iter()
            .enumerate()
            .map(|(row, key)| (*key, row as u32))
            .collect();
        self.basis = Some(basis);
        self.fitted_at = self.keys.len();
    }

    /// The codes and their basis as bytes, to store beside a snapshot of the index, so that
    /// an open takes them back with [`Self::restore`] instead of refitting (`None` before the
    /// first fit: nothing to keep).
    pub fn save(&self) -> Option<Vec<u8>> {
        let basis = self.basis.as_ref()?;
        let rows = self.keys.len();
        let floats = basis.mean.len() + basis.axes.len() + 2 * self.dims + self.half_norms.len();
        let mut out = Vec::with_capacity(80 + 4 * floats + rows * (8 + self.width));
        out.extend_from_slice(SAVED_MAGIC);
        out.push(metric_code(self.metric));
        let sizes = [
            self.dimensions,
            self.dims,
            self.width,
            self.head,
            self.fitted_at,
            rows,
            self.half_norms.len(),
        ];
        for n in sizes {
            out.extend_from_slice(&(n as u64).to_le_bytes());
        }
        out.extend_from_slice(&basis.variance.to_le_bytes());
        for part in [&basis.mean, &basis.axes, &basis.scales, &basis.shares] {
            part.iter()
                .for_each(|x| out.extend_from_slice(&x.to_le_bytes()));
        }
        self.keys
            .iter()
            .for_each(|k| out.extend_from_slice(&k.to_le_bytes()));
        out.extend(self.codes.iter().map(|c| *c as u8));
        out.extend(self.tail.iter().map(|c| *c as u8));
        self.half_norms
            .iter()
            .for_each(|x| out.extend_from_slice(&x.to_le_bytes()));
        Some(out)
    }

    /// Takes back what [`Self::save`] stored, when it fits this index: the same shape of
    /// codes for the spec, and — when it holds codes — one for each of the `records` keys
    /// the snapshot restored (`holds` says whether a key is one). Otherwise the scan is left
    /// as it was and the error says why; the caller then refits (the codes are derived data).
    pub fn restore(
        &mut self,
        bytes: &[u8],
        records: usize,
        holds: impl Fn(u64) -> bool,
    ) -> std::result::Result<(), String> {
        let mut r = Saved(bytes);
        if r.take(SAVED_MAGIC.len())? != SAVED_MAGIC {
            return Err("not a saved scan of this version".into());
        }
        if r.take(1)?[0] != metric_code(self.metric) {
            return Err("made for another metric".into());
        }
        let mut sizes = [0usize; 7];
        for n in &mut sizes {
            *n = usize::try_from(r.u64()?).map_err(|_| "a size out of range")?;
        }
        let [dimensions, dims, width, head, fitted_at, rows, norms] = sizes;
        let shape_fits = dimensions == self.dimensions
            && dims >= 1
            && dims <= self.most.max(self.pinned.unwrap_or(0))
            && self.pinned.is_none_or(|p| p == dims)
            && width == dims.div_ceil(16) * 16
            && head == width.min(CASCADE_HEAD)
            && norms == if self.metric == Metric::L2 { rows } else { 0 };
        if !shape_fits {
            return Err("its shape does not fit the index's spec".into());
        }
        let variance = r.f32s(1)?[0];
        let basis = Basis {
            mean: r.f32s(dimensions)?,
            axes: r.f32s(dims.checked_mul(dimensions).ok_or("too many directions")?)?,
            scales: r.f32s(dims)?,
            shares: r.f32s(dims)?,
            variance,
        };
        let ready = self.always || variance >= MIN_VARIANCE;
        if rows != if ready { records } else { 0 } {
            return Err(format!(
                "it holds {rows} codes for an index of {records} vectors"
            ));
        }
        let keys: Vec<u64> = r
            .take(rows.checked_mul(8).ok_or("too many rows")?)?
            .chunks_exact(8)
            .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
            .collect();
        let codes: Vec<i8> = r.take(rows * head)?.iter().map(|b| *b as i8).collect();
        let tail: Vec<i8> = r
            .take(rows * (width - head))?
            .iter()
            .map(|b| *b as i8)
            .collect();
        let half_norms = r.f32s(norms)?;
        if !r.0.is_empty() {
            return Err(format!("{} bytes past its end", r.0.len()));
        }
        let row_of: HashMap<u64, u32> = keys
            .iter()
            .enumerate()
            .map(|(row, key)| (*key, row as u32))
            .collect();
        if row_of.len() != rows || !keys.iter().all(|k| holds(*k)) {
            return Err("its keys are not the index's".into());
        }
        self.dims = dims;
        self.width = width;
        self.head = head;
        self.basis = Some(basis);
        self.fitted_at = fitted_at;
        self.keys = keys;
        self.codes = codes;
        self.tail = tail;
        self.half_norms = half_norms;
        self.row_of = row_of;
        Ok(())
    }

    /// Rows the index held when the directions were last fitted (0 before the first fit).
    pub fn fitted_at(&self) -> usize {
        self.fitted_at
    }

    /// The fewest directions (a multiple of 16, at most `most`) that hold
    /// [`TARGET_VARIANCE`] of the sample's variance, trying [`FIRST_TRY`] first and doubling:
    /// most text needs the first try only, and a fit costs in proportion to the directions.
    /// A refit starts from the doubling that held the last fit's directions (the data rarely
    /// gets simpler as it grows). When even `most` fall short, the basis of `most`.
    fn choose_basis(&self, sample: &[f32]) -> Basis {
        let d = self.dimensions;
        let mut tried = FIRST_TRY;
        while tried < self.dims {
            tried *= 2;
        }
        tried = tried.min(self.most);
        loop {
            let mut basis = fit_basis(sample, d, tried);
            if let Some(kept) = basis.fewest_holding(TARGET_VARIANCE) {
                basis.keep((kept.div_ceil(16) * 16).min(tried), d);
                return basis;
            }
            if tried >= self.most {
                return basis;
            }
            tried = (tried * 2).min(self.most);
        }
    }

    fn clear_codes(&mut self) {
        self.keys.clear();
        self.codes.clear();
        self.tail.clear();
        self.half_norms.clear();
        self.row_of.clear();
    }

    /// Codes of the vectors under `keys` that `get` finds.
    fn code_all(
        &self,
        basis: &Basis,
        keys: &[u64],
        get: &(impl Fn(u64, &mut [f32]) -> bool + Sync),
    ) -> Coded {
        let mut out = Coded {
            keys: Vec::with_capacity(keys.len()),
            codes: Vec::with_capacity(keys.len() * self.head),
            tail: Vec::with_capacity(keys.len() * (self.width - self.head)),
            half_norms: Vec::new(),
        };
        let mut v = vec![0f32; self.dimensions];
        let mut code = vec![0i8; self.width];
        for &key in keys {
            if get(key, &mut v) {
                out.keys.push(key);
                if self.metric == Metric::L2 {
                    out.half_norms.push(dot(&v, &v) / 2.0);
                }
                self.code(basis, &mut v, &mut code);
                out.codes.extend_from_slice(&code[..self.head]);
                out.tail.extend_from_slice(&code[self.head..]);
            }
        }
        out
    }

    /// Normalises a vector for cosine (the metric ignores length), in place.
    fn prepare(&self, v: &mut [f32]) {
        if self.metric == Metric::Cosine {
            let n = dot(v, v).sqrt();
            if n > 0.0 {
                v.iter_mut().for_each(|x| *x /= n);
            }
        }
    }

    /// A vector's code (its first `dims` values; the padding stays 0); `v` is used as
    /// scratch.
    fn code(&self, basis: &Basis, v: &mut [f32], out: &mut [i8]) {
        self.prepare(v);
        v.iter_mut().zip(&basis.mean).for_each(|(x, m)| *x -= m);
        for (j, code) in out[..self.dims].iter_mut().enumerate() {
            let z = dot(
                &basis.axes[j * self.dimensions..(j + 1) * self.dimensions],
                v,
            );
            *code = (z / basis.scales[j]).round().clamp(-127.0, 127.0) as i8;
        }
    }

    /// Codes a stored vector (nothing happens before the first fit: the fit codes them all);
    /// a key coded already gets the new code.
    pub fn insert(&mut self, key: u64, vector: &[f32]) {
        self.remove(key);
        if !self.is_ready() {
            return;
        }
        let Some(basis) = &self.basis else {
            return;
        };
        let mut v = vector.to_vec();
        let mut code = vec![0i8; self.width];
        self.code(basis, &mut v, &mut code);
        self.codes.extend_from_slice(&code[..self.head]);
        self.tail.extend_from_slice(&code[self.head..]);
        self.row_of.insert(key, self.keys.len() as u32);
        self.keys.push(key);
        if self.metric == Metric::L2 {
            self.half_norms.push(dot(vector, vector) / 2.0);
        }
    }

    /// Forgets a key's code (unknown keys are ignored).
    pub fn remove(&mut self, key: u64) {
        if let Some(row) = self.row_of.remove(&key) {
            self.remove_row(row as usize);
        }
    }

    /// Moves the last row into `row` (whose key is already out of `row_of`).
    fn remove_row(&mut self, row: usize) {
        let last = self.keys.len() - 1;
        if row != last {
            let moved = self.keys[last];
            self.keys[row] = moved;
            let (head, rest) = (self.head, self.width - self.head);
            self.codes
                .copy_within(last * head..(last + 1) * head, row * head);
            self.tail
                .copy_within(last * rest..(last + 1) * rest, row * rest);
            if self.metric == Metric::L2 {
                self.half_norms[row] = self.half_norms[last];
            }
            self.row_of.insert(moved, row as u32);
        }
        self.keys.pop();
        self.codes.truncate(last * self.head);
        self.tail.truncate(last * (self.width - self.head));
        if self.metric == Metric::L2 {
            self.half_norms.pop();
        }
    }

    /// The `k` nearest keys that `passes` accepts, with exact distances, nearest first: the
    /// `candidates` best by code (at least `k`), re-ranked with the vectors `get` copies out.
    ///
    /// Codes wider than [`CASCADE_HEAD`] are scored in two steps: every row by its first
    /// `CASCADE_HEAD` codes (the leading directions, stored apart so that this pass reads
    /// only them), then the best [`CASCADE_WIDEN`] × `candidates` of those by all their codes.
    /// The first pass is what costs (it reads every row), and memory bandwidth bounds it.
    pub fn search(
        &self,
        query: &[f32],
        k: usize,
        candidates: usize,
        passes: impl Fn(u64) -> bool,
        get: impl Fn(u64, &mut [f32]) -> bool,
    ) -> Vec<(u64, f32)> {
        let Some(basis) = &self.basis else {
            return Vec::new();
        };
        let (weights, scale) = self.query_weights(basis, query);
        let want = candidates.max(k);
        let rest = self.width - self.head;
        let best = if rest == 0 {
            self.best_rows(&weights, scale, want, &passes)
        } else {
            let widened = (want * CASCADE_WIDEN).max(CASCADE_MIN);
            let mut first = self.best_rows(&weights[..self.head], scale, widened, &passes);
            let mut dot = [0i32; 1];
            for c in &mut first {
                let row = c.row as usize;
                let codes = &self.tail[row * rest..(row + 1) * rest];
                dot_rows(codes, rest, &weights[self.head..], &mut dot);
                c.score += dot[0] as f32 * scale;
            }
            // Candidates order the highest score first.
            first.sort_unstable();
            first.truncate(want);
            first
        };
        let mut v = vec![0f32; self.dimensions];
        let mut hits: Vec<(u64, f32)> = best
            .into_iter()
            .filter_map(|c| {
                let key = self.keys[c.row as usize];
                get(key, &mut v).then(|| (key, distance(self.metric, query, &v)))
            })
            .collect();
        hits.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
        hits.truncate(k);
        hits
    }

    /// The `want` best rows that `passes` accepts by their first `weights.len()` codes (all
    /// of them, or the cascade's head), in no particular order.
    fn best_rows(
        &self,
        weights: &[i16],
        scale: f32,
        want: usize,
        passes: &impl Fn(u64) -> bool,
    ) -> Vec<Candidate> {
        let width = weights.len();
        let mut best: BinaryHeap<Candidate> = BinaryHeap::with_capacity(want + 1);
        // The worst score kept once `want` are kept: most rows fall below it and cost one
        // comparison.
        let mut bar = f32::NEG_INFINITY;
        let mut dots = [0i32; BLOCK];
        let mut scores = [0f32; BLOCK];
        let rows = self.keys.len();
        for start in (0..rows).step_by(BLOCK) {
            let n = BLOCK.min(rows - start);
            let codes = &self.codes[start * width..(start + n) * width];
            dot_rows(codes, width, weights, &mut dots[..n]);
            if self.metric == Metric::L2 {
                let half_norms = &self.half_norms[start..start + n];
                for ((s, d), h) in scores.iter_mut().zip(&dots[..n]).zip(half_norms) {
                    *s = *d as f32 * scale - h;
                }
            } else {
                for (s, d) in scores.iter_mut().zip(&dots[..n]) {
                    *s = *d as f32 * scale;
                }
            }
            for (i, &score) in scores[..n].iter().enumerate() {
                if score <= bar || !passes(self.keys[start + i]) {
                    continue;
                }
                best.push(Candidate {
                    score,
                    row: (start + i) as u32,
                });
                if best.len() > want {
                    best.pop();
                }
                if best.len() == want {
                    bar = best.peek().map_or(bar, |w| w.score);
                }
            }
        }
        best.into_vec()
    }

    /// The query's weight per code (its coordinates times the code scales) as `i16`, and the
    /// factor that turns a code dot product back into a score.
    fn query_weights(&self, basis: &Basis, query: &[f32]) -> (Vec<i16>, f32) {
        let mut q = query.to_vec();
        self.prepare(&mut q);
        // q·(v − mean) ranks like q·v: the mean's part is the same for every v.
        let w: Vec<f32> = (0..self.dims)
            .map(|j| {
                dot(
                    &basis.axes[j * self.dimensions..(j + 1) * self.dimensions],
                    &q,
                ) * basis.scales[j]
            })
            .collect();
        let top = w.iter().fold(0f32, |m, x| m.max(x.abs()));
        let g = if top > 0.0 { QUERY_MAX / top } else { 1.0 };
        let mut out = vec![0i16; self.width];
        for (o, x) in out.iter_mut().zip(&w) {
            *o = (x * g).round() as i16;
        }
        (out, 1.0 / g)
    }
}

/// The metric's byte in a saved scan.
fn metric_code(metric: Metric) -> u8 {
    match metric {
        Metric::Cosine => 0,
        Metric::L2 => 1,
        Metric::InnerProduct => 2,
    }
}

/// What is left to read of a saved scan.
struct Saved<'a>(&'a [u8]);

impl<'a> Saved<'a> {
    fn take(&mut self, n: usize) -> std::result::Result<&'a [u8], String> {
        if n > self.0.len() {
            return Err("it ends early".into());
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }

    fn u64(&mut self) -> std::result::Result<u64, String> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }

    fn f32s(&mut self, n: usize) -> std::result::Result<Vec<f32>, String> {
        let bytes = self.take(n.checked_mul(4).ok_or("too many values")?)?;
        Ok(bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes")))
            .collect())
    }
}

/// Codes made by one thread of [`Scan::fit`].
struct Coded {
    keys: Vec<u64>,
    codes: Vec<i8>,
    tail: Vec<i8>,
    half_norms: Vec<f32>,
}

/// A scored row in the heap of the best: the heap's top is the worst kept.
struct Candidate {
    score: f32,
    row: u32,
}

impl PartialEq for Candidate {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Candidate {}
impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Candidate {
    fn cmp(&self, other: &Self) -> Ordering {
        // Reversed: the lowest score is the greatest, so it sits on top of the max-heap.
        other
            .score
            .total_cmp(&self.score)
            .then(self.row.cmp(&other.row))
    }
}

/// The index's distance between two vectors, as usearch defines it for the metric.
pub(crate) fn distance(metric: Metric, a: &[f32], b: &[f32]) -> f32 {
    match metric {
        Metric::Cosine => {
            let denominator = (dot(a, a) * dot(b, b)).sqrt();
            if denominator > 0.0 {
                1.0 - dot(a, b) / denominator
            } else {
                1.0
            }
        }
        Metric::InnerProduct => 1.0 - dot(a, b),
        Metric::L2 => a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum(),
    }
}

/// `a · b`, with AVX2 and FMA where the processor has them (coding a vector takes one dot
/// product per direction, so this is most of an add's and an open's cost here).
fn dot(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    #[cfg(target_arch = "x86_64")]
    if a.len() >= 32 && crate::simd::avx2_fma() {
        // SAFETY: AVX2 and FMA are present; the kernel reads `min(a.len(), b.len())` values.
        return unsafe { dot_fma(a, b) };
    }
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// `y += a · x`, vectorised as [`dot`] is.
fn axpy(y: &mut [f32], a: f32, x: &[f32]) {
    debug_assert_eq!(y.len(), x.len());
    #[cfg(target_arch = "x86_64")]
    if y.len() >= 32 && crate::simd::avx2_fma() {
        // SAFETY: as in `dot`.
        unsafe { axpy_fma(y, a, x) };
        return;
    }
    y.iter_mut().zip(x).for_each(|(y, x)| *y += a * x);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dot_fma(a: &[f32], b: &[f32]) -> f32 {
    use std::arch::x86_64::*;
    let n = a.len().min(b.len());
    let (pa, pb) = (a.as_ptr(), b.as_ptr());
    let mut i = 0;
    // SAFETY (whole body): every load is below `n`.
    unsafe {
        let mut acc = [_mm256_setzero_ps(); 4];
        while i + 32 <= n {
            for (k, s) in acc.iter_mut().enumerate() {
                let o = i + 8 * k;
                *s = _mm256_fmadd_ps(_mm256_loadu_ps(pa.add(o)), _mm256_loadu_ps(pb.add(o)), *s);
            }
            i += 32;
        }
        while i + 8 <= n {
            acc[0] = _mm256_fmadd_ps(
                _mm256_loadu_ps(pa.add(i)),
                _mm256_loadu_ps(pb.add(i)),
                acc[0],
            );
            i += 8;
        }
        let s = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
        let h = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
        let h = _mm_add_ps(h, _mm_movehl_ps(h, h));
        let h = _mm_add_ss(h, _mm_shuffle_ps(h, h, 1));
        let mut total = _mm_cvtss_f32(h);
        while i < n {
            total += *pa.add(i) * *pb.add(i);
            i += 1;
        }
        total
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn axpy_fma(y: &mut [f32], a: f32, x: &[f32]) {
    use std::arch::x86_64::*;
    let n = y.len().min(x.len());
    let (py, px) = (y.as_mut_ptr(), x.as_ptr());
    let mut i = 0;
    // SAFETY (whole body): every access is below `n`.
    unsafe {
        let va = _mm256_set1_ps(a);
        while i + 8 <= n {
            let v = _mm256_fmadd_ps(va, _mm256_loadu_ps(px.add(i)), _mm256_loadu_ps(py.add(i)));
            _mm256_storeu_ps(py.add(i), v);
            i += 8;
        }
        while i < n {
            *py.add(i) += a * *px.add(i);
            i += 1;
        }
    }
}

/// Principal directions of `sample` (`n × d`, row after row): `dims` unit vectors, with the
/// mean and a code scale per direction that maps the sample's largest coordinate to ±127.
fn fit_basis(sample: &[f32], d: usize, dims: usize) -> Basis {
    let n = sample.len() / d;
    let mut mean = vec![0f32; d];
    for row in sample.chunks_exact(d) {
        mean.iter_mut().zip(row).for_each(|(m, x)| *m += x);
    }
    mean.iter_mut().for_each(|m| *m /= n as f32);
    // Covariance, by rank-one updates of each centred row (symmetric: the full square is
    // kept so that its products below run over contiguous rows).
    let mut cov = vec![0f32; d * d];
    let mut c = vec![0f32; d];
    for row in sample.chunks_exact(d) {
        centre(row, &mean, &mut c);
        for (i, ci) in c.iter().enumerate() {
            axpy(&mut cov[i * d..(i + 1) * d], *ci, &c);
        }
    }
    // Subspace iteration from a fixed pseudo-random start: a few dozen products with the
    // covariance turn the block towards its leading eigenvectors.
    let p = (dims + FIT_OVERSAMPLE).min(d);
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    let mut block: Vec<f32> = (0..p * d)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        })
        .collect();
    orthonormalise(&mut block, d);
    let mut next = vec![0f32; p * d];
    for _ in 0..FIT_ITERATIONS {
        for (col, out) in block.chunks_exact(d).zip(next.chunks_exact_mut(d)) {
            for (i, o) in out.iter_mut().enumerate() {
                *o = dot(&cov[i * d..(i + 1) * d], col);
            }
        }
        std::mem::swap(&mut block, &mut next);
        orthonormalise(&mut block, d);
    }
    // Each direction's share of the variance; the directions in falling order of it, so
    // that the first `n` are the best `n` (subspace iteration leaves them nearly so).
    let total: f32 = (0..d).map(|i| cov[i * d + i]).sum();
    let mut shares: Vec<(f32, usize)> = block
        .chunks_exact(d)
        .enumerate()
        .map(|(j, axis)| {
            let spread: Vec<f32> = (0..d)
                .map(|i| dot(&cov[i * d..(i + 1) * d], axis))
                .collect();
            let share = if total > 0.0 {
                dot(axis, &spread) / total
            } else {
                0.0
            };
            (share.max(0.0), j)
        })
        .collect();
    shares.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    shares.truncate(dims);
    let block: Vec<f32> = shares
        .iter()
        .flat_map(|&(_, j)| block[j * d..(j + 1) * d].iter().copied())
        .collect();
    let shares: Vec<f32> = shares.into_iter().map(|(share, _)| share).collect();
    let variance = if total > 0.0 {
        shares.iter().sum::<f32>().clamp(0.0, 1.0)
    } else {
        1.0
    };
    let mut top = vec![0f32; dims];
    for row in sample.chunks_exact(d) {
        centre(row, &mean, &mut c);
        for (j, t) in top.iter_mut().enumerate() {
            *t = t.max(dot(&block[j * d..(j + 1) * d], &c).abs());
        }
    }
    // Headroom for vectors added after the fit; beyond it a code saturates at ±127 (the
    // re-rank still sees the exact vector).
    let scales = top
        .iter()
        .map(|t| if *t > 0.0 { t * 1.25 / 127.0 } else { 1.0 })
        .collect();
    Basis {
        mean,
        axes: block,
        scales,
        shares,
        variance,
    }
}

/// `out = row − mean`.
fn centre(row: &[f32], mean: &[f32], out: &mut [f32]) {
    out.iter_mut()
        .zip(row.iter().zip(mean))
        .for_each(|(o, (x, m))| *o = x - m);
}

/// Modified Gram–Schmidt on the rows (`d` values each); a row that vanishes becomes 0.
fn orthonormalise(rows: &mut [f32], d: usize) {
    let n = rows.len() / d;
    for i in 0..n {
        let (done, rest) = rows.split_at_mut(i * d);
        let row = &mut rest[..d];
        for prev in done.chunks_exact(d) {
            let proj = dot(prev, row);
            axpy(row, -proj, prev);
        }
        let norm = dot(row, row).sqrt();
        if norm > 1e-12 {
            row.iter_mut().for_each(|x| *x /= norm);
        } else {
            row.iter_mut().for_each(|x| *x = 0.0);
        }
    }
}

/// `out[r] = codes[r] · weights` for each row of `width` codes.
fn dot_rows(codes: &[i8], width: usize, weights: &[i16], out: &mut [i32]) {
    // The vector kernel's reads rest on these.
    assert!(width.is_multiple_of(16) && weights.len() == width);
    assert_eq!(codes.len(), out.len() * width);
    #[cfg(target_arch = "x86_64")]
    if crate::simd::avx2() {
        // SAFETY: AVX2 is present, and the lengths were checked above (the kernel reads
        // `out.len()` rows of `width` codes and `width` weights).
        unsafe { dot_rows_avx2(codes, width, weights, out) };
        return;
    }
    dot_rows_plain(codes, width, weights, out);
}

/// [`dot_rows`] without vector instructions (and the rows after the last four).
fn dot_rows_plain(codes: &[i8], width: usize, weights: &[i16], out: &mut [i32]) {
    for (row, o) in codes.chunks_exact(width).zip(out.iter_mut()) {
        *o = row
            .iter()
            .zip(weights)
            .map(|(c, w)| *c as i32 * *w as i32)
            .sum();
    }
}

/// [`dot_rows`] four rows at a time: codes widened to `i16`, multiplied and summed in pairs
/// (`vpmaddwd`), the four sums reduced together at the end.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn dot_rows_avx2(codes: &[i8], width: usize, weights: &[i16], out: &mut [i32]) {
    use std::arch::x86_64::*;
    let rows = out.len();
    let w = weights.as_ptr();
    let mut r = 0;
    // SAFETY (whole body): every read is inside `codes` (`rows × width`) or `weights`
    // (`width`), as the caller checked; the stores stay inside `out`.
    unsafe {
        while r + 4 <= rows {
            let base = codes.as_ptr().add(r * width);
            let mut acc = [_mm256_setzero_si256(); 4];
            let mut j = 0;
            while j < width {
                let q = _mm256_loadu_si256(w.add(j) as *const __m256i);
                for (i, a) in acc.iter_mut().enumerate() {
                    let c = _mm_loadu_si128(base.add(i * width + j) as *const __m128i);
                    *a = _mm256_add_epi32(*a, _mm256_madd_epi16(_mm256_cvtepi8_epi16(c), q));
                }
                j += 16;
            }
            let s01 = _mm256_hadd_epi32(acc[0], acc[1]);
            let s23 = _mm256_hadd_epi32(acc[2], acc[3]);
            let s = _mm256_hadd_epi32(s01, s23);
            let t = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
            _mm_storeu_si128(out.as_mut_ptr().add(r) as *mut __m128i, t);
            r += 4;
        }
    }
    dot_rows_plain(&codes[r * width..], width, weights, &mut out[r..]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    /// Deterministic values in [-0.5, 0.5).
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> f32 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 >> 40) as f32 / (1u64 << 24) as f32 - 0.5
        }
    }

    /// `n` vectors of `d` values near an 8-dimensional subspace, offset from the origin by a
    /// common direction (as text embeddings are).
    fn low_rank(rng: &mut Rng, n: usize, d: usize, offset: f32) -> Vec<Vec<f32>> {
        let basis: Vec<Vec<f32>> = (0..8u64)
            .map(|i| {
                let mut r = Rng(1000 + i);
                (0..d).map(|_| r.next()).collect()
            })
            .collect();
        (0..n)
            .map(|_| {
                let w: Vec<f32> = (0..8).map(|i| rng.next() * (8 - i) as f32).collect();
                (0..d)
                    .map(|j| {
                        offset + (0..8).map(|i| w[i] * basis[i][j]).sum::<f32>() + 0.01 * rng.next()
                    })
                    .collect()
            })
            .collect()
    }

    fn spec(d: usize, metric: Metric, dims: usize) -> IndexSpec {
        IndexSpec::new("t", d)
            .with_metric(metric)
            .with_scan(dims, 64)
    }

    fn brute(metric: Metric, data: &[(u64, Vec<f32>)], q: &[f32], k: usize) -> Vec<u64> {
        let mut all: Vec<(f32, u64)> = data
            .iter()
            .map(|(key, v)| (distance(metric, q, v), *key))
            .collect();
        all.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        all.iter().take(k).map(|x| x.1).collect()
    }

    #[test]
    fn the_kernel_matches_plain_arithmetic() {
        let mut rng = Rng(7);
        for (rows, width) in [(1, 16), (5, 32), (13, 64), (256, 48)] {
            let codes: Vec<i8> = (0..rows * width)
                .map(|_| (rng.next() * 254.0) as i8)
                .collect();
            let weights: Vec<i16> = (0..width)
                .map(|_| (rng.next() * 2.0 * QUERY_MAX) as i16)
                .collect();
            let mut out = vec![0i32; rows];
            dot_rows(&codes, width, &weights, &mut out);
            for (r, o) in out.iter().enumerate() {
                let want: i32 = (0..width)
                    .map(|j| codes[r * width + j] as i32 * weights[j] as i32)
                    .sum();
                assert_eq!(*o, want, "row {r} of {rows}×{width}");
            }
        }
    }

    #[test]
    fn vector_arithmetic_matches_plain_loops() {
        let mut rng = Rng(13);
        for n in [1, 7, 8, 31, 32, 33, 100, 384, 385] {
            let a: Vec<f32> = (0..n).map(|_| rng.next()).collect();
            let b: Vec<f32> = (0..n).map(|_| rng.next()).collect();
            let want: f64 = a.iter().zip(&b).map(|(x, y)| *x as f64 * *y as f64).sum();
            assert!((dot(&a, &b) as f64 - want).abs() < 1e-5, "dot of {n}");
            let mut y = b.clone();
            axpy(&mut y, 0.75, &a);
            for i in 0..n {
                assert!(
                    (y[i] - (b[i] + 0.75 * a[i])).abs() < 1e-6,
                    "axpy of {n} at {i}"
                );
            }
        }
    }

    #[test]
    fn the_fit_finds_the_leading_directions() {
        // Variance 100 along e0, 25 along e1, 1 elsewhere.
        let mut rng = Rng(3);
        let d = 24;
        let sample: Vec<f32> = (0..2000)
            .flat_map(|_| {
                let mut v: Vec<f32> = (0..d).map(|_| rng.next() * 3.46).collect();
                v[0] *= 10.0;
                v[1] *= 5.0;
                v
            })
            .collect();
        let b = fit_basis(&sample, d, 2);
        assert!(b.axes[0].abs() > 0.99, "first axis {:?}", &b.axes[..d]);
        assert!(b.axes[d + 1].abs() > 0.99, "second axis {:?}", &b.axes[d..]);
        let cross = dot(&b.axes[..d], &b.axes[d..]);
        assert!(cross.abs() < 1e-4, "axes not orthogonal: {cross}");
        // 125 of 147 units of variance lie along the two.
        let want = 125.0 / 147.0;
        assert!((b.variance - want).abs() < 0.02, "variance {}", b.variance);
    }

    #[test]
    fn a_scan_finds_the_exact_neighbours_of_queries_unlike_the_data() {
        for metric in [Metric::Cosine, Metric::InnerProduct, Metric::L2] {
            let d = 48;
            let mut rng = Rng(11);
            let data: Vec<(u64, Vec<f32>)> = low_rank(&mut rng, 3000, d, 0.3)
                .into_iter()
                .enumerate()
                .map(|(i, v)| (i as u64 * 3, v))
                .collect();
            let by_key: HashMap<u64, Vec<f32>> = data.iter().cloned().collect();
            let get = |key: u64, out: &mut [f32]| {
                by_key.get(&key).map(|v| out.copy_from_slice(v)).is_some()
            };
            let mut scan = Scan::new(&spec(d, metric, 16)).unwrap();
            let keys: Vec<u64> = data.iter().map(|(k, _)| *k).collect();
            assert!(!scan.is_ready());
            scan.fit(&keys, get);
            assert!(scan.is_ready());
            // Queries away from the data: no common offset.
            let queries = low_rank(&mut Rng(99), 50, d, 0.0);
            let mut found = 0;
            for q in &queries {
                let hits = scan.search(q, 10, 64, |_| true, get);
                assert_eq!(hits.len(), 10);
                for (key, dist) in &hits {
                    let exact = distance(metric, q, &by_key[key]);
                    assert!((dist - exact).abs() < 1e-5, "{metric:?}: {dist} vs {exact}");
                }
                assert!(hits.windows(2).all(|w| w[0].1 <= w[1].1));
                let truth: HashSet<u64> = brute(metric, &data, q, 10).into_iter().collect();
                found += hits.iter().filter(|(k, _)| truth.contains(k)).count();
            }
            let recall = found as f64 / (10 * queries.len()) as f64;
            assert!(recall >= 0.95, "{metric:?}: recall@10 {recall}");
        }
    }

    /// What `save` writes, `restore` takes back whole — the same codes and answers, on every
    /// metric and with codes past the cascade's head — and what does not fit the index is
    /// refused with the scan left untouched.
    #[test]
    fn saved_codes_come_back_whole_or_not_at_all() {
        for (metric, dims) in [
            (Metric::Cosine, 16),
            (Metric::L2, 80),
            (Metric::InnerProduct, 0),
        ] {
            let d = 96;
            let data: Vec<(u64, Vec<f32>)> = low_rank(&mut Rng(7), 2000, d, 0.3)
                .into_iter()
                .enumerate()
                .map(|(i, v)| (i as u64 * 5 + 1, v))
                .collect();
            let by_key: HashMap<u64, Vec<f32>> = data.iter().cloned().collect();
            let get = |key: u64, out: &mut [f32]| {
                by_key.get(&key).map(|v| out.copy_from_slice(v)).is_some()
            };
            let spec = spec(d, metric, dims);
            let mut scan = Scan::new(&spec).unwrap();
            assert!(
                scan.save().is_none(),
                "nothing to save before the first fit"
            );
            let keys: Vec<u64> = data.iter().map(|(k, _)| *k).collect();
            scan.fit(&keys, get);
            scan.remove(keys[3]);
            let saved = scan.save().unwrap();
            let holds = |k: u64| k != keys[3] && by_key.contains_key(&k);

            let mut back = Scan::new(&spec).unwrap();
            back.restore(&saved, 1999, holds).unwrap();
            assert_eq!(
                (back.dims, back.width, back.head, back.fitted_at),
                (scan.dims, scan.width, scan.head, 2000),
                "{metric:?}"
            );
            assert_eq!(
                (&back.keys, &back.codes, &back.tail),
                (&scan.keys, &scan.codes, &scan.tail)
            );
            assert_eq!(back.half_norms, scan.half_norms);
            assert_eq!(back.variance(), scan.variance());
            assert_eq!(back.save().unwrap(), saved);
            for q in low_rank(&mut Rng(3), 20, d, 0.0) {
                assert_eq!(
                    back.search(&q, 10, 32, |_| true, get),
                    scan.search(&q, 10, 32, |_| true, get)
                );
            }
            // A vector added after the restore is coded with the restored basis.
            let extra = by_key[&keys[3]].clone();
            back.insert(keys[3], &extra);
            scan.insert(keys[3], &extra);
            assert_eq!(back.save(), scan.save());

            let refused = |bytes: &[u8],
                           spec: &IndexSpec,
                           records: usize,
                           holds: &dyn Fn(u64) -> bool| {
                let mut fresh = Scan::new(spec).unwrap();
                let why = fresh.restore(bytes, records, holds).unwrap_err();
                assert!(fresh.basis.is_none() && fresh.keys.is_empty() && fresh.row_of.is_empty());
                why
            };
            let mut longer = saved.clone();
            longer.push(0);
            let other_metric = if metric == Metric::L2 {
                Metric::Cosine
            } else {
                Metric::L2
            };
            for (bytes, spec, records, why) in [
                (&saved[..saved.len() - 1], &spec, 1999, "ends early"),
                (&longer[..], &spec, 1999, "past its end"),
                (&saved[..40], &spec, 1999, "ends early"),
                (&b"LHSCAN\x00\x02"[..], &spec, 1999, "not a saved scan"),
                (
                    &saved[..],
                    &spec.clone().with_metric(other_metric),
                    1999,
                    "another metric",
                ),
                (
                    &saved[..],
                    &IndexSpec::new("t", d + 1).with_metric(metric),
                    1999,
                    "shape",
                ),
                (&saved[..], &spec, 2000, "codes for an index of 2000"),
            ] {
                let got = refused(bytes, spec, records, &holds);
                assert!(got.contains(why), "{metric:?}: {got:?} should say {why:?}");
            }
            let got = refused(&saved, &spec, 1999, &|k| k != keys[7] && holds(k));
            assert!(got.contains("not the index's"), "{got}");
            if dims > 0 {
                let other = spec.clone().with_scan(dims + 16, 64);
                assert!(refused(&saved, &other, 1999, &holds).contains("shape"));
            }
        }
    }

    #[test]
    fn codes_follow_inserts_removes_and_the_predicate() {
        let d = 32;
        let mut rng = Rng(5);
        let mut data: HashMap<u64, Vec<f32>> = low_rank(&mut rng, 1500, d, 0.2)
            .into_iter()
            .enumerate()
            .map(|(i, v)| (i as u64, v))
            .collect();
        let mut scan = Scan::new(&spec(d, Metric::Cosine, 8)).unwrap();
        let keys: Vec<u64> = (0..1500).collect();
        scan.fit(&keys, |key, out| {
            data.get(&key).map(|v| out.copy_from_slice(v)).is_some()
        });
        assert_eq!(scan.keys.len(), 1500);
        // Remove every third key; replace key 1's vector by key 4's (now stored twice).
        for key in (0..1500).step_by(3) {
            scan.remove(key);
            data.remove(&key);
        }
        scan.remove(123_456);
        let v4 = data[&4].clone();
        data.insert(1, v4.clone());
        scan.insert(1, &v4);
        assert_eq!(scan.keys.len(), 1000);
        assert_eq!(scan.row_of.len(), 1000);
        for (row, key) in scan.keys.iter().enumerate() {
            assert_eq!(scan.row_of[key] as usize, row);
        }
        let get =
            |key: u64, out: &mut [f32]| data.get(&key).map(|v| out.copy_from_slice(v)).is_some();
        // Every stored vector finds itself at distance ~0; removed ones are never returned.
        for (key, v) in data.iter().take(200) {
            let hits = scan.search(v, 3, 16, |_| true, get);
            assert!(hits.iter().all(|(k, _)| k % 3 != 0));
            let mine = hits.iter().find(|(k, _)| k == key).expect("itself");
            assert!(mine.1.abs() < 1e-5);
        }
        let twin = scan.search(&v4, 2, 16, |_| true, get);
        let mut twins: Vec<u64> = twin.iter().map(|x| x.0).collect();
        twins.sort();
        assert_eq!(twins, [1, 4]);
        // The predicate applies while scanning: k hits whenever k keys pass.
        let odd = scan.search(&v4, 10, 16, |key| key % 2 == 1, get);
        assert_eq!(odd.len(), 10);
        assert!(odd.iter().all(|(k, _)| k % 2 == 1));
        let none = scan.search(&v4, 10, 16, |_| false, get);
        assert!(none.is_empty());
    }

    #[test]
    fn refits_follow_doublings() {
        let mut scan = Scan::new(&spec(8, Metric::Cosine, 4)).unwrap();
        assert!(!scan.needs_fit(FIT_MIN - 1));
        assert!(scan.needs_fit(FIT_MIN));
        let data: Vec<Vec<f32>> = low_rank(&mut Rng(2), FIT_MIN, 8, 0.1);
        let keys: Vec<u64> = (0..FIT_MIN as u64).collect();
        scan.fit(&keys, |key, out| {
            out.copy_from_slice(&data[key as usize]);
            true
        });
        assert!(!scan.needs_fit(FIT_MIN + 1));
        assert!(!scan.needs_fit(2 * FIT_MIN - 1));
        assert!(scan.needs_fit(2 * FIT_MIN));
        let graph = IndexSpec::new("t", 8).with_kind(IndexKind::Hnsw);
        assert!(Scan::new(&graph).is_none());
    }

    /// Fits a scan of `spec` to `data` (keys are positions).
    fn fitted(spec: &IndexSpec, data: &[Vec<f32>]) -> Scan {
        let mut scan = Scan::new(spec).unwrap();
        let keys: Vec<u64> = (0..data.len() as u64).collect();
        scan.fit(&keys, |key, out| {
            out.copy_from_slice(&data[key as usize]);
            true
        });
        scan
    }

    /// Codes wider than the cascade's head: both planes stay in step with the stored vectors
    /// through inserts, replaces and removes, and the two-pass search finds the exact
    /// neighbours of queries unlike the data, with the predicate applied.
    #[test]
    fn a_cascade_keeps_both_planes_in_step_and_finds_the_neighbours() {
        let d = 160;
        let mut rng = Rng(31);
        // 120 directions of falling weight: 128 kept codes, 64 of them in the head.
        let axes: Vec<Vec<f32>> = (0..120)
            .map(|_| (0..d).map(|_| rng.next()).collect())
            .collect();
        let mut data: HashMap<u64, Vec<f32>> = (0..3000u64)
            .map(|key| {
                let w: Vec<f32> = (0..120)
                    .map(|i| rng.next() / (1.0 + i as f32 / 8.0))
                    .collect();
                let v = (0..d)
                    .map(|j| 0.5 + (0..120).map(|i| w[i] * axes[i][j]).sum::<f32>())
                    .collect();
                (key, v)
            })
            .collect();
        let mut scan = Scan::new(&IndexSpec::new("t", d).with_scan(128, 64)).unwrap();
        let keys: Vec<u64> = (0..3000).collect();
        scan.fit(&keys, |key, out| {
            data.get(&key).map(|v| out.copy_from_slice(v)).is_some()
        });
        assert_eq!((scan.width, scan.head), (128, CASCADE_HEAD));
        for key in (0..3000).step_by(7) {
            scan.remove(key);
            data.remove(&key);
        }
        let replaced = data[&1].iter().map(|x| -x).collect::<Vec<f32>>();
        scan.insert(1, &replaced);
        data.insert(1, replaced);
        // Each row's two planes hold exactly its vector's code.
        let basis = scan.basis.as_ref().unwrap();
        let rest = scan.width - scan.head;
        for (row, key) in scan.keys.iter().enumerate() {
            let mut v = data[key].clone();
            let mut code = vec![0i8; scan.width];
            scan.code(basis, &mut v, &mut code);
            assert_eq!(
                &scan.codes[row * scan.head..(row + 1) * scan.head],
                &code[..scan.head]
            );
            assert_eq!(&scan.tail[row * rest..(row + 1) * rest], &code[scan.head..]);
        }
        let stored: Vec<(u64, Vec<f32>)> = data.iter().map(|(k, v)| (*k, v.clone())).collect();
        let get =
            |key: u64, out: &mut [f32]| data.get(&key).map(|v| out.copy_from_slice(v)).is_some();
        let mut found = 0;
        let queries: Vec<Vec<f32>> = (0..40)
            .map(|_| {
                let w: Vec<f32> = (0..120)
                    .map(|i| rng.next() / (1.0 + i as f32 / 8.0))
                    .collect();
                (0..d)
                    .map(|j| (0..120).map(|i| w[i] * axes[i][j]).sum::<f32>())
                    .collect()
            })
            .collect();
        for q in &queries {
            let hits = scan.search(q, 10, 64, |_| true, get);
            let truth: HashSet<u64> = brute(Metric::Cosine, &stored, q, 10).into_iter().collect();
            found += hits.iter().filter(|(k, _)| truth.contains(k)).count();
            assert!(
                hits.iter().all(|(k, _)| k % 7 != 0),
                "a removed key came back"
            );
            let odd = scan.search(q, 10, 64, |key| key % 2 == 1, get);
            assert_eq!(odd.len(), 10);
            assert!(odd.iter().all(|(k, _)| k % 2 == 1));
        }
        let recall = found as f64 / 400.0;
        assert!(recall >= 0.97, "recall@10 through the cascade: {recall}");
    }

    #[test]
    fn an_index_that_chooses_keeps_the_fewest_directions_holding_the_target() {
        // Rank-8 data in 48 dimensions: 8 directions hold nearly all of it, and the kernel's
        // step of 16 comes for free.
        let low = low_rank(&mut Rng(21), 3000, 48, 0.3);
        let auto = fitted(&IndexSpec::new("t", 48), &low);
        assert_eq!(auto.dimensions_used(), Some(16));
        assert!(auto.variance().unwrap() >= TARGET_VARIANCE);
        assert!(auto.is_ready());
        assert_eq!(auto.keys.len(), 3000);
        // The same data with the directions pinned keeps them.
        let pinned = fitted(&IndexSpec::new("t", 48).with_scan(4, 64), &low);
        assert_eq!(pinned.dimensions_used(), Some(4));

        // Isotropic data: every direction holds 1/32 of the variance, so the target needs
        // nearly all 32. `auto` may use at most half of them: it leaves the data to the graph
        // and keeps no codes; `scan` takes the fewest that hold the target.
        let mut rng = Rng(22);
        let flat: Vec<Vec<f32>> = (0..2000)
            .map(|_| (0..32).map(|_| rng.next()).collect())
            .collect();
        let auto = fitted(&IndexSpec::new("t", 32).with_metric(Metric::L2), &flat);
        assert_eq!(auto.dimensions_used(), Some(16));
        assert!(
            auto.variance().unwrap() < MIN_VARIANCE,
            "{:?}",
            auto.variance()
        );
        assert!(!auto.is_ready());
        assert!(auto.keys.is_empty() && auto.codes.is_empty());
        let mut always = IndexSpec::new("t", 32).with_metric(Metric::L2);
        always.kind = IndexKind::Scan;
        let scan = fitted(&always, &flat);
        assert_eq!(scan.dimensions_used(), Some(32));
        assert!(scan.is_ready());
        assert_eq!(scan.keys.len(), 2000);
        // And the codes it keeps find the exact neighbours.
        let get = |key: u64, out: &mut [f32]| {
            out.copy_from_slice(&flat[key as usize]);
            true
        };
        let keyed: Vec<(u64, Vec<f32>)> = flat
            .iter()
            .cloned()
            .enumerate()
            .map(|(i, v)| (i as u64, v))
            .collect();
        for q in low_rank(&mut Rng(23), 20, 32, 0.0) {
            let hits: Vec<u64> = scan
                .search(&q, 5, 64, |_| true, get)
                .into_iter()
                .map(|h| h.0)
                .collect();
            assert_eq!(hits, brute(Metric::L2, &keyed, &q, 5));
        }
    }
}
