//! Matrix products against weights packed once at load time.

use rayon::prelude::*;

/// Output columns per panel: two AVX registers of f32.
pub const NR: usize = 16;
/// Rows of `x` per kernel call: 6 rows × 2 registers = 12 accumulators.
pub const MR: usize = 6;
/// Rows of `x` per task: its rows stay in L2 while every panel passes them.
const MC: usize = 48;
/// Below this many multiply-adds, work stays on the calling thread.
const PARALLEL_MIN_MACS: usize = 1 << 20;

/// How packed weights are stored.
pub trait Element: Copy + Send + Sync + 'static {
    fn from_f32(v: f32) -> Self;
    fn to_f32(self) -> f32;
    const ZERO: Self;
}
impl Element for f32 {
    fn from_f32(v: f32) -> Self {
        v
    }
    fn to_f32(self) -> f32 {
        self
    }
    const ZERO: Self = 0.0;
}
impl Element for half::f16 {
    fn from_f32(v: f32) -> Self {
        half::f16::from_f32(v)
    }
    fn to_f32(self) -> f32 {
        half::f16::to_f32(self)
    }
    const ZERO: Self = half::f16::ZERO;
}

/// `W` (out × in, row-major) repacked in panels of [`NR`] output columns, each panel
/// `in`-major, so the kernel reads one contiguous run per panel.
pub struct Packed<T> {
    data: Vec<T>,
    bias: Vec<f32>,
    pub out: usize,
    pub inp: usize,
}

impl<T: Element> Packed<T> {
    pub fn new(w: &[f32], bias: Option<&[f32]>, out: usize, inp: usize) -> Self {
        let panels = out.div_ceil(NR);
        let mut data = vec![T::ZERO; panels * NR * inp];
        for j in 0..out {
            let (p, c) = (j / NR, j % NR);
            for kk in 0..inp {
                data[p * NR * inp + kk * NR + c] = T::from_f32(w[j * inp + kk]);
            }
        }
        let mut b = vec![0f32; panels * NR];
        if let Some(bias) = bias {
            b[..out].copy_from_slice(bias);
        }
        Packed {
            data,
            bias: b,
            out,
            inp,
        }
    }

    /// `(m, inp)` → `(m, out)`, bias added.
    pub fn forward(&self, x: &[f32], m: usize) -> Vec<f32> {
        let (n, k) = (self.out, self.inp);
        let mut y = vec![0f32; m * n];
        let panels = n.div_ceil(NR);
        let blocks = m.div_ceil(MC);
        let threads = if m * n * k >= PARALLEL_MIN_MACS {
            rayon::current_num_threads()
        } else {
            1
        };
        // Enough tasks for every thread (four each, to even out), never fewer than one panel.
        let mult: usize = std::env::var("MULT").ok().and_then(|v| v.parse().ok()).unwrap_or(4); let chunks = (threads * mult).div_ceil(blocks).min(panels).max(1);
        let per = panels.div_ceil(chunks);
        let out = Out(y.as_mut_ptr());
        let task = |t: usize| {
            let (b, c) = (t / chunks, t % chunks);
            let rows = b * MC..((b + 1) * MC).min(m);
            let cols = c * per..((c + 1) * per).min(panels);
            for p in cols {
                let panel = &self.data[p * NR * k..(p + 1) * NR * k];
                let bias = &self.bias[p * NR..(p + 1) * NR];
                let width = NR.min(n - p * NR);
                // Rows in even groups of at most MR (10 rows run as 5 + 5, not 6 + 4).
                let groups = rows.len().div_ceil(MR);
                let mut i = rows.start;
                for g in 0..groups {
                    let r = (rows.end - i).div_ceil(groups - g);
                    // SAFETY: rows i..i+r and columns p*NR..p*NR+width lie inside y, and no
                    // other task writes them (tasks split rows into blocks, columns into
                    // panel ranges).
                    unsafe {
                        kernel(
                            &x[i * k..(i + r) * k],
                            r,
                            k,
                            panel,
                            bias,
                            out.at(i * n + p * NR),
                            n,
                            width,
                        )
                    };
                    i += r;
                }
            }
        };
        let tasks = blocks * chunks;
        if threads > 1 && tasks > 1 {
            (0..tasks).into_par_iter().for_each(task);
        } else {
            (0..tasks).for_each(task);
        }
        y
    }
}

#[derive(Clone, Copy)]
struct Out(*mut f32);
// SAFETY: tasks write disjoint parts of the buffer behind the pointer.
unsafe impl Send for Out {}
unsafe impl Sync for Out {}
impl Out {
    /// # Safety
    /// `off` lies inside the buffer.
    unsafe fn at(&self, off: usize) -> *mut f32 {
        unsafe { self.0.add(off) }
    }
}

unsafe fn kernel<T: Element>(
    x: &[f32],
    r: usize,
    k: usize,
    panel: &[T],
    bias: &[f32],
    out: *mut f32,
    ldo: usize,
    width: usize,
) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("fma")
            && std::arch::is_x86_feature_detected!("f16c")
        {
            unsafe {
                match r {
                    1 => avx::kernel::<T, 1>(x, k, panel, bias, out, ldo, width),
                    2 => avx::kernel::<T, 2>(x, k, panel, bias, out, ldo, width),
                    3 => avx::kernel::<T, 3>(x, k, panel, bias, out, ldo, width),
                    4 => avx::kernel::<T, 4>(x, k, panel, bias, out, ldo, width),
                    5 => avx::kernel::<T, 5>(x, k, panel, bias, out, ldo, width),
                    _ => avx::kernel::<T, 6>(x, k, panel, bias, out, ldo, width),
                }
            }
            return;
        }
    }
    // Portable: same order of work, scalar.
    for i in 0..r {
        let xi = &x[i * k..(i + 1) * k];
        for c in 0..width {
            let mut s = 0f32;
            for kk in 0..k {
                s += xi[kk] * panel[kk * NR + c].to_f32();
            }
            unsafe { *out.add(i * ldo + c) = s + bias[c] };
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx {
    use super::{Element, NR};
    use std::arch::x86_64::*;

    /// Loads 16 weights as two f32 registers.
    #[inline(always)]
    unsafe fn load<T: Element>(p: *const T) -> (__m256, __m256) {
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

    #[target_feature(enable = "avx2,fma,f16c")]
    pub unsafe fn kernel<T: Element, const R: usize>(
        x: &[f32],
        k: usize,
        panel: &[T],
        bias: &[f32],
        out: *mut f32,
        ldo: usize,
        width: usize,
    ) {
        debug_assert!(x.len() >= R * k && panel.len() >= NR * k && bias.len() >= NR);
        unsafe {
            let px = x.as_ptr();
            let pw = panel.as_ptr();
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
                let v0 = _mm256_add_ps(a0[i], b0);
                let v1 = _mm256_add_ps(a1[i], b1);
                let o = out.add(i * ldo);
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
