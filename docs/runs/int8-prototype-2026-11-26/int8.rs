//! Prototype: int8 weights (7-bit symmetric, per output column) × u8 activations (per row,
//! offset 128), AVX2 `vpmaddubsw` + `vpmaddwd` into i32, dequantised to f32 with the bias.
//! Seven-bit weights keep `vpmaddubsw`'s i16 pair sums from saturating (255·63·2 < 32767).

use rayon::prelude::*;
use std::arch::x86_64::*;

pub const NR: usize = 16;
const MR: usize = 4;
const MC: usize = 48;

pub struct PackedI8 {
    /// panels of NR columns; within a panel, groups of 4 inputs: [k/4][col][k%4]
    data: Vec<i8>,
    scale: Vec<f32>,
    colsum: Vec<i32>,
    bias: Vec<f32>,
    pub out: usize,
    pub inp: usize,
    kp: usize,
}

impl PackedI8 {
    pub fn new(w: &[f32], bias: Option<&[f32]>, out: usize, inp: usize) -> Self {
        let panels = out.div_ceil(NR);
        let kp = inp.div_ceil(4) * 4;
        let mut data = vec![0i8; panels * NR * kp];
        let mut scale = vec![0f32; panels * NR];
        let mut colsum = vec![0i32; panels * NR];
        for j in 0..out {
            let row = &w[j * inp..(j + 1) * inp];
            let max = row.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-12);
            let s = max / 63.0;
            scale[j] = s;
            let (p, c) = (j / NR, j % NR);
            for (kk, &v) in row.iter().enumerate() {
                let q = (v / s).round().clamp(-63.0, 63.0) as i8;
                data[p * NR * kp + (kk / 4) * NR * 4 + c * 4 + kk % 4] = q;
                colsum[j] += q as i32;
            }
        }
        let mut b = vec![0f32; panels * NR];
        if let Some(bias) = bias {
            b[..out].copy_from_slice(bias);
        }
        Self { data, scale, colsum, bias: b, out, inp, kp }
    }

    /// Quantises rows of x to u8 (value/scale + 128), padded to kp.
    fn quantise(&self, x: &[f32], m: usize) -> (Vec<u8>, Vec<f32>) {
        let (k, kp) = (self.inp, self.kp);
        let mut q = vec![128u8; m * kp];
        let mut sc = vec![0f32; m];
        for i in 0..m {
            let row = &x[i * k..(i + 1) * k];
            let max = row.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-12);
            let s = max / 127.0;
            sc[i] = s;
            let inv = 1.0 / s;
            for (d, &v) in q[i * kp..i * kp + k].iter_mut().zip(row) {
                *d = ((v * inv).round() + 128.0) as u8;
            }
        }
        (q, sc)
    }

    pub fn forward(&self, x: &[f32], m: usize) -> Vec<f32> {
        let (n, k, kp) = (self.out, self.inp, self.kp);
        let (q, sc) = self.quantise(x, m);
        let mut y = vec![0f32; m * n];
        let panels = n.div_ceil(NR);
        let blocks = m.div_ceil(MC);
        let threads = if m * n * k >= 1 << 20 { rayon::current_num_threads() } else { 1 };
        let chunks = (threads * 4).div_ceil(blocks).clamp(1, panels);
        let per = panels.div_ceil(chunks);
        let out = y.as_mut_ptr() as usize;
        let task = |t: usize| {
            let (b, c) = (t / chunks, t % chunks);
            let rows = b * MC..((b + 1) * MC).min(m);
            for p in c * per..((c + 1) * per).min(panels) {
                let panel = &self.data[p * NR * kp..(p + 1) * NR * kp];
                let width = NR.min(n - p * NR);
                let mut i = rows.start;
                while i < rows.end {
                    let r = MR.min(rows.end - i);
                    let mut acc = [[0i32; NR]; MR];
                    unsafe { kernel(&q[i * kp..(i + r) * kp], r, kp, panel, &mut acc) };
                    for rr in 0..r {
                        let yrow = unsafe { std::slice::from_raw_parts_mut((out as *mut f32).add((i + rr) * n + p * NR), width) };
                        for c in 0..width {
                            let j = p * NR + c;
                            yrow[c] = sc[i + rr] * self.scale[j] * (acc[rr][c] - 128 * self.colsum[j]) as f32 + self.bias[j];
                        }
                    }
                    i += r;
                }
            }
        };
        let tasks = blocks * chunks;
        if threads > 1 { (0..tasks).into_par_iter().for_each(task) } else { (0..tasks).for_each(task) }
        y
    }
}

#[target_feature(enable = "avx2")]
unsafe fn kernel(q: &[u8], r: usize, kp: usize, panel: &[i8], acc: &mut [[i32; NR]; MR]) {
    unsafe {
        let ones = _mm256_set1_epi16(1);
        let mut a = [[_mm256_setzero_si256(); 2]; MR];
        let mut wp = panel.as_ptr() as *const __m256i;
        for g in 0..kp / 4 {
            let w0 = _mm256_loadu_si256(wp);
            let w1 = _mm256_loadu_si256(wp.add(1));
            wp = wp.add(2);
            for rr in 0..MR {
                if rr < r {
                    let xb = _mm256_set1_epi32((q.as_ptr().add(rr * kp + g * 4) as *const i32).read_unaligned());
                    let p0 = _mm256_madd_epi16(_mm256_maddubs_epi16(xb, w0), ones);
                    let p1 = _mm256_madd_epi16(_mm256_maddubs_epi16(xb, w1), ones);
                    a[rr][0] = _mm256_add_epi32(a[rr][0], p0);
                    a[rr][1] = _mm256_add_epi32(a[rr][1], p1);
                }
            }
        }
        for rr in 0..r {
            _mm256_storeu_si256(acc[rr].as_mut_ptr() as *mut __m256i, a[rr][0]);
            _mm256_storeu_si256(acc[rr].as_mut_ptr().add(8) as *mut __m256i, a[rr][1]);
        }
    }
}
