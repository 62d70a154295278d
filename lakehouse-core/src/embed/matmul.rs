//! Matrix products `y = x·Wᵀ + b` against weights packed once at load time.
//!
//! Why our own kernel rather than a general GEMM: an encoder's weights never change, so they
//! can be laid out once for the kernel (panels of 16 output columns, input-major), and stored
//! as `f16` so that all-MiniLM-L6-v2's layers (21 MB) stay in L3 cache between queries where
//! `f32` (42 MB) streams from memory on every one. The same 6 × 16 register kernel serves one
//! query's ten rows and a batch's thousands: rows are split into groups of at most six that
//! each pass once over a panel, with no packing of `x` and no per-call set-up. Measured here
//! (AVX2, 2 cores) on the model's shapes: 1.2–1.45× the `gemm` crate's speed on a batch's
//! 2,240 rows, and f16 panels run a ten-row query's products 1.4–1.9× faster than f32 ones
//! (docs/PERFORMANCE.md).

use super::team::{Shared, Team};
use serde::Serialize;

/// Output columns per panel: two AVX registers of `f32`.
const NR: usize = 16;
/// Rows of `x` per kernel call: 6 rows × 2 registers = 12 accumulators of the 16 registers.
const MR: usize = 6;
/// Rows of `x` per task; a task's rows stay in L2 while its panels pass over them.
const MC: usize = 48;
/// Tasks per thread of a product: enough that a thread that falls behind (or a helper that
/// joins late) is balanced out, few enough that each claims a run of panels (measured: 4
/// ran one query and one profile 5–15% faster than 2, and 8 no faster than 4).
const TASKS_PER_THREAD: usize = 4;
/// Below this many multiply-adds, a product stays on the calling thread.
const PARALLEL_MIN_MACS: usize = 1 << 20;

/// How an embedder holds its weights in memory. Arithmetic is `f32` either way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Precision {
    /// Half the memory and, for short texts, faster (the layers fit in cache: one query
    /// 1.9–3.0 ms against 2.6–4.0 ms here). Vectors stay within a cosine of 0.99999 of the `f32`
    /// reference (0.9999997 for all-MiniLM-L6-v2 in the golden tests).
    F16,
    /// The checkpoint's own values, bit for bit.
    F32,
}

impl Default for Precision {
    /// `F16` where the vector kernel widens the weights in registers (x86-64 with AVX2, FMA
    /// and F16C); `F32` on the portable kernels, where widening costs more than the smaller
    /// weights save (one query ~2.3× slower in f16 than in f32 there: docs/PERFORMANCE.md).
    fn default() -> Self {
        if crate::simd::avx2_fma_f16c() {
            Precision::F16
        } else {
            Precision::F32
        }
    }
}

crate::choice::choices!(Precision, "precision", {
    F16 => ["f16"],
    F32 => ["f32"],
});

/// A weight element type the kernel reads.
pub(crate) trait Element: Copy + Send + Sync + 'static {
    const ZERO: Self;
    fn from_f32(v: f32) -> Self;
    /// One value as `f32` (the tests' reference; the kernels widen whole slices).
    #[cfg(test)]
    fn to_f32(self) -> f32;
    /// `src` as `f32` into `dst` (of the same length), in one call.
    fn widen(src: &[Self], dst: &mut [f32]);
}

impl Element for f32 {
    const ZERO: Self = 0.0;
    fn from_f32(v: f32) -> Self {
        v
    }
    #[cfg(test)]
    fn to_f32(self) -> f32 {
        self
    }
    fn widen(src: &[Self], dst: &mut [f32]) {
        dst.copy_from_slice(src);
    }
}

impl Element for half::f16 {
    const ZERO: Self = half::f16::ZERO;
    fn from_f32(v: f32) -> Self {
        half::f16::from_f32(v)
    }
    #[cfg(test)]
    fn to_f32(self) -> f32 {
        half::f16::to_f32(self)
    }
    fn widen(src: &[Self], dst: &mut [f32]) {
        // The `half` crate converts a slice at once (with F16C where the CPU has it).
        half::slice::HalfFloatSliceExt::convert_to_f32_slice(src, dst);
    }
}

/// `W` (`out × inp`, row-major) repacked into panels of [`NR`] output columns, each stored
/// input-major (`panel[kk * NR + c]` = `W[p * NR + c][kk]`), the last panel zero-padded; the
/// bias padded the same way.
pub(crate) struct Packed<T> {
    data: Vec<T>,
    bias: Vec<f32>,
    out: usize,
    inp: usize,
}

impl<T: Element> Packed<T> {
    /// Packs `w` (`out × inp`, row-major) and an optional bias of `out` values.
    pub fn new(w: &[f32], bias: Option<&[f32]>, out: usize, inp: usize) -> Self {
        assert_eq!(w.len(), out * inp, "weight shape");
        let panels = out.div_ceil(NR);
        let mut data = vec![T::ZERO; panels * NR * inp];
        for (j, row) in w.chunks_exact(inp).enumerate() {
            let panel = &mut data[(j / NR) * NR * inp..(j / NR + 1) * NR * inp];
            for (kk, &v) in row.iter().enumerate() {
                panel[kk * NR + j % NR] = T::from_f32(v);
            }
        }
        let mut padded = vec![0f32; panels * NR];
        if let Some(b) = bias {
            padded[..out].copy_from_slice(b);
        }
        Self {
            data,
            bias: padded,
            out,
            inp,
        }
    }

    /// Output features.
    pub fn out(&self) -> usize {
        self.out
    }

    /// `x` (`m × inp`, row-major) → `y` (`m × out`), bias added. Rows are cut into blocks of
    /// [`MC`] and columns into panel ranges so that every thread of `team` gets
    /// [`TASKS_PER_THREAD`] tasks or more.
    pub fn forward(&self, x: &[f32], m: usize, team: &Team) -> Vec<f32> {
        let (n, k) = (self.out, self.inp);
        assert_eq!(x.len(), m * k, "input shape");
        let mut y = vec![0f32; m * n];
        if m == 0 {
            return y;
        }
        let panels = n.div_ceil(NR);
        let blocks = m.div_ceil(MC);
        let threads = if m * n * k >= PARALLEL_MIN_MACS {
            team.size()
        } else {
            1
        };
        let chunks = (threads * TASKS_PER_THREAD)
            .div_ceil(blocks)
            .clamp(1, panels);
        let per = panels.div_ceil(chunks);
        let out = Shared::new(&mut y);
        let task = |t: usize| {
            let (b, c) = (t / chunks, t % chunks);
            let rows = b * MC..((b + 1) * MC).min(m);
            for p in c * per..((c + 1) * per).min(panels) {
                let panel = &self.data[p * NR * k..(p + 1) * NR * k];
                let bias = &self.bias[p * NR..(p + 1) * NR];
                let width = NR.min(n - p * NR);
                // Even groups of at most MR rows: ten rows run as 5 + 5, not 6 + 4.
                let groups = rows.len().div_ceil(MR);
                let mut i = rows.start;
                for g in 0..groups {
                    let r = (rows.end - i).div_ceil(groups - g);
                    // SAFETY: rows i..i+r and columns p*NR..p*NR+width of `y` (m × n;
                    // `at` checks the extent) are this task's alone: tasks split the rows
                    // into blocks and the columns into panel ranges.
                    unsafe {
                        kernel(Tile {
                            x: &x[i * k..(i + r) * k],
                            r,
                            k,
                            panel,
                            bias,
                            out: out.at(i * n + p * NR, (r - 1) * n + width),
                            ldo: n,
                            width,
                        })
                    };
                    i += r;
                }
            }
        };
        let tasks = blocks * chunks;
        if threads > 1 {
            team.run(tasks, task);
        } else {
            (0..tasks).for_each(task);
        }
        y
    }
}

/// One kernel call's operands: `r` (1..=MR) rows of `x` (stride `k`) times one panel, plus
/// bias, into `out` (`r` rows of stride `ldo`, `width` columns each).
#[derive(Clone, Copy)]
struct Tile<'a, T> {
    x: &'a [f32],
    r: usize,
    k: usize,
    panel: &'a [T],
    bias: &'a [f32],
    out: *mut f32,
    ldo: usize,
    width: usize,
}

/// Runs one [`Tile`] on the best kernel the CPU has (see [`crate::simd`]).
///
/// # Safety
/// `out` has `width` writable floats at each of its `r` rows (stride `ldo`), which no one
/// else touches meanwhile.
///
/// # Panics
/// When the operands' sizes do not match (`x` below `r × k` values, `panel` below `NR × k`,
/// `bias` below `NR`, `r` outside 1..=MR, `width` over `NR`): the kernels read by them.
unsafe fn kernel<T: Element>(t: Tile<T>) {
    assert!(
        (1..=MR).contains(&t.r)
            && t.width <= NR
            && t.x.len() >= t.r * t.k
            && t.panel.len() >= NR * t.k
            && t.bias.len() >= NR,
        "matrix kernel operands out of shape"
    );
    #[cfg(target_arch = "x86_64")]
    {
        if crate::simd::avx2_fma_f16c() {
            // SAFETY: the CPU has the features, and the caller's bounds hold.
            unsafe {
                match t.r {
                    1 => avx::kernel::<T, 1>(t),
                    2 => avx::kernel::<T, 2>(t),
                    3 => avx::kernel::<T, 3>(t),
                    4 => avx::kernel::<T, 4>(t),
                    5 => avx::kernel::<T, 5>(t),
                    _ => avx::kernel::<T, MR>(t),
                }
            }
            return;
        }
    }
    // SAFETY: the caller's bounds hold.
    unsafe { portable(t) }
}

/// The kernel in plain Rust, for CPUs without AVX2/FMA/F16C (or `LAKEHOUSE_KERNEL=portable`).
///
/// # Safety
/// As [`kernel`], whose shape checks it relies on.
unsafe fn portable<T: Element>(t: Tile<T>) {
    // SAFETY (each): as this function's.
    unsafe {
        match t.r {
            1 => portable_rows::<T, 1>(t),
            2 => portable_rows::<T, 2>(t),
            3 => portable_rows::<T, 3>(t),
            4 => portable_rows::<T, 4>(t),
            5 => portable_rows::<T, 5>(t),
            _ => portable_rows::<T, MR>(t),
        }
    }
}

/// `R` rows at once, shaped like the vector kernel so that the compiler vectorises it for
/// whatever the target has (SSE2 on any x86-64, NEON on aarch64): each step widens the
/// panel's 16 weights of one input once and multiplies them into every row's 16
/// accumulators.
///
/// # Safety
/// As [`kernel`], with `r = R`.
#[inline(always)]
unsafe fn portable_rows<T: Element, const R: usize>(t: Tile<T>) {
    let Tile {
        x, k, panel, bias, ..
    } = t;
    let mut acc = [[0f32; NR]; R];
    let mut w = [0f32; NR];
    for kk in 0..k {
        T::widen(&panel[kk * NR..(kk + 1) * NR], &mut w);
        for (i, row) in acc.iter_mut().enumerate() {
            let xv = x[i * k + kk];
            for (a, w) in row.iter_mut().zip(&w) {
                *a += xv * w;
            }
        }
    }
    for (i, row) in acc.iter().enumerate() {
        for (c, (a, b)) in row.iter().zip(bias).take(t.width).enumerate() {
            // SAFETY: the caller gives `width` writable floats per row.
            unsafe { *t.out.add(i * t.ldo + c) = a + b };
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx {
    use super::{Element, NR, Tile};
    use std::arch::x86_64::*;

    /// Sixteen weights as two `f32` registers (converted on the way if they are `f16`).
    #[inline(always)]
    unsafe fn load<T: Element>(p: *const T) -> (__m256, __m256) {
        // SAFETY: the caller gives 16 readable elements at `p`; T is f32 or f16 (2 bytes).
        unsafe {
            if std::mem::size_of::<T>() == 4 {
                let p = p as *const f32;
                (_mm256_loadu_ps(p), _mm256_loadu_ps(p.add(8)))
            } else {
                let v = _mm256_loadu_si256(p as *const __m256i);
                (
                    _mm256_cvtph_ps(_mm256_castsi256_si128(v)),
                    _mm256_cvtph_ps(_mm256_extracti128_si256(v, 1)),
                )
            }
        }
    }

    /// `R` rows at once: each step broadcasts one input of every row and multiplies it into
    /// the panel's 16 columns.
    ///
    /// # Safety
    /// As `super::kernel`, with `r = R`, on a CPU with AVX2, FMA and F16C.
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) unsafe fn kernel<T: Element, const R: usize>(t: Tile<T>) {
        let Tile {
            x,
            k,
            panel,
            bias,
            out,
            ldo,
            width,
            ..
        } = t;
        // `super::kernel` checked the operands' sizes.
        let (px, pw) = (x.as_ptr(), panel.as_ptr());
        // SAFETY: reads stay inside x (R × k), panel (NR × k) and bias (NR); writes inside
        // the `width` floats of each of the R output rows.
        unsafe {
            let mut a0 = [_mm256_setzero_ps(); R];
            let mut a1 = [_mm256_setzero_ps(); R];
            for kk in 0..k {
                let (w0, w1) = load(pw.add(kk * NR));
                for i in 0..R {
                    let b = _mm256_broadcast_ss(&*px.add(i * k + kk));
                    a0[i] = _mm256_fmadd_ps(b, w0, a0[i]);
                    a1[i] = _mm256_fmadd_ps(b, w1, a1[i]);
                }
            }
            let b0 = _mm256_loadu_ps(bias.as_ptr());
            let b1 = _mm256_loadu_ps(bias.as_ptr().add(8));
            for i in 0..R {
                let o = out.add(i * ldo);
                let (v0, v1) = (_mm256_add_ps(a0[i], b0), _mm256_add_ps(a1[i], b1));
                if width == NR {
                    _mm256_storeu_ps(o, v0);
                    _mm256_storeu_ps(o.add(8), v1);
                } else {
                    let mut t = [0f32; NR];
                    _mm256_storeu_ps(t.as_mut_ptr(), v0);
                    _mm256_storeu_ps(t.as_mut_ptr().add(8), v1);
                    std::ptr::copy_nonoverlapping(t.as_ptr(), o, width);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::team::with_team;
    use super::*;

    fn values(n: usize, seed: usize) -> Vec<f32> {
        (0..n)
            .map(|i| (((i * 7 + seed * 13) % 23) as f32 - 11.0) / 9.0)
            .collect()
    }

    /// `x·Wᵀ + b` in f64, with `W` rounded through `T` first.
    fn reference<T: Element>(x: &[f32], w: &[f32], b: &[f32], m: usize, n: usize) -> Vec<f64> {
        let k = w.len() / n;
        let mut y = vec![0f64; m * n];
        for i in 0..m {
            for j in 0..n {
                y[i * n + j] = b[j] as f64
                    + (0..k)
                        .map(|t| x[i * k + t] as f64 * T::from_f32(w[j * k + t]).to_f32() as f64)
                        .sum::<f64>();
            }
        }
        y
    }

    fn check<T: Element>() {
        // Widths that are and are not multiples of a panel, row counts across MR and MC
        // boundaries, and one large enough to run in parallel.
        for (n, k) in [(16, 8), (50, 40), (33, 17), (300, 384)] {
            let w = values(n * k, 1);
            let b = values(n, 2);
            let p = Packed::<T>::new(&w, Some(&b), n, k);
            for m in [1, 5, 6, 7, 10, 13, 48, 49, 100] {
                let x = values(m * k, m);
                let want = reference::<T>(&x, &w, &b, m, n);
                let got = with_team(|team| p.forward(&x, m, team));
                for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                    assert!(
                        (*g as f64 - w).abs() < 1e-3 * (1.0 + w.abs()),
                        "n={n} k={k} m={m} at {i}: {g} vs {w}"
                    );
                }
            }
        }
    }

    #[test]
    fn packed_products_match_a_reference() {
        check::<f32>();
        check::<half::f16>();
    }

    #[test]
    fn the_portable_kernel_matches_the_vector_one() {
        let (k, n) = (37, 16);
        let w = values(n * k, 3);
        let b = values(n, 4);
        let p = Packed::<half::f16>::new(&w, Some(&b), n, k);
        for r in 1..=MR {
            let x = values(r * k, r);
            let (mut fast, mut slow) = (vec![0f32; r * n], vec![0f32; r * n]);
            // SAFETY: x is r × k, the panel NR × k, and both outputs r × n with n = NR.
            let tile = |out| Tile {
                x: &x,
                r,
                k,
                panel: &p.data,
                bias: &p.bias,
                out,
                ldo: n,
                width: n,
            };
            unsafe {
                kernel(tile(fast.as_mut_ptr()));
                portable(tile(slow.as_mut_ptr()));
            }
            for (a, b) in fast.iter().zip(&slow) {
                assert!((a - b).abs() < 1e-4, "r={r}: {a} vs {b}");
            }
        }
    }

    #[test]
    fn precision_parses_its_names() {
        assert_eq!("F16".parse::<Precision>().unwrap(), Precision::F16);
        assert_eq!("f32".parse::<Precision>().unwrap(), Precision::F32);
        let e = "bf16".parse::<Precision>().unwrap_err();
        assert!(e.to_string().contains("use f16, f32"), "{e}");
    }

    #[test]
    fn no_bias_and_no_rows_work() {
        let p = Packed::<f32>::new(&[1.0, 2.0, 3.0, 4.0], None, 2, 2);
        assert_eq!(p.forward(&[1.0, 1.0], 1, &Team::alone()), vec![3.0, 7.0]);
        assert!(p.forward(&[], 0, &Team::alone()).is_empty());
        assert_eq!(p.out(), 2);
    }
}
