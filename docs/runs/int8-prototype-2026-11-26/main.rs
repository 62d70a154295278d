mod packed;
mod int8;
use int8::PackedI8;
use packed::Packed;
use std::time::Instant;

fn gemm_fwd(w: &[f32], b: &[f32], x: &[f32], m: usize, n: usize, k: usize) -> Vec<f32> {
    let mut y = vec![0f32; m * n];
    let threads = if m * n * k >= 1 << 20 { rayon::current_num_threads() } else { 1 };
    unsafe {
        gemm::gemm(m, n, k, y.as_mut_ptr(), 1, n as isize, false, x.as_ptr(), 1, k as isize,
            w.as_ptr(), k as isize, 1, 0.0, 1.0, false, false, false,
            if threads > 1 { gemm::Parallelism::Rayon(threads) } else { gemm::Parallelism::None });
    }
    for row in y.chunks_mut(n) { for (a, c) in row.iter_mut().zip(b) { *a += c; } }
    y
}

fn rnd(n: usize, seed: &mut u64, scale: f32) -> Vec<f32> {
    (0..n).map(|_| { *seed ^= *seed << 13; *seed ^= *seed >> 7; *seed ^= *seed << 17;
        ((*seed >> 40) as f32 / (1u64 << 24) as f32 - 0.5) * scale }).collect()
}

fn main() {
    let shapes = [(1152usize, 384usize), (384, 384), (1536, 384), (384, 1536)];
    let mut seed = 0x1234_5678_9abc_def0u64;
    // 6 layers of distinct weights so the working set matches the model (42 MB f32).
    let ws: Vec<Vec<(Vec<f32>, Vec<f32>)>> = (0..6).map(|_| shapes.iter().map(|&(n, k)| (rnd(n * k, &mut seed, 0.1), rnd(n, &mut seed, 0.1))).collect()).collect();
    let p32: Vec<Vec<Packed<f32>>> = ws.iter().map(|l| l.iter().zip(&shapes).map(|((w, b), &(n, k))| Packed::new(w, Some(b), n, k)).collect()).collect();
    let p16: Vec<Vec<Packed<half::f16>>> = ws.iter().map(|l| l.iter().zip(&shapes).map(|((w, b), &(n, k))| Packed::new(w, Some(b), n, k)).collect()).collect();
    let p8: Vec<Vec<PackedI8>> = ws.iter().map(|l| l.iter().zip(&shapes).map(|((w, b), &(n, k))| PackedI8::new(w, Some(b), n, k)).collect()).collect();
    let ms: Vec<usize> = std::env::args().skip(1).map(|a| a.parse().unwrap()).collect();
    let ms = if ms.is_empty() { vec![10, 16, 70, 2240] } else { ms };
    if std::env::var("INTER").is_ok() { for &m in &[1usize, 10, 16, 40] { interleaved(m, &p16, &shapes); } return; }
    let inside = std::env::var("INSIDE").is_ok();
    let pool = rayon::ThreadPoolBuilder::new().build().unwrap();
    for &m in &ms {
        let xs: Vec<Vec<f32>> = shapes.iter().map(|&(_, k)| rnd(m * k, &mut seed, 1.0)).collect();
        // correctness
        for (si, &(n, k)) in shapes.iter().enumerate() {
            let a = gemm_fwd(&ws[0][si].0, &ws[0][si].1, &xs[si], m, n, k);
            let b = p32[0][si].forward(&xs[si], m);
            let c = p16[0][si].forward(&xs[si], m);
            let e32 = a.iter().zip(&b).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
            let e16 = a.iter().zip(&c).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
            let d = p8[0][si].forward(&xs[si], m);
            let num: f64 = a.iter().zip(&d).map(|(a, b)| ((a - b) as f64).powi(2)).sum();
            let den: f64 = a.iter().map(|a| (*a as f64).powi(2)).sum();
            let dot: f64 = a.iter().zip(&d).map(|(a, b)| (*a as f64) * (*b as f64)).sum();
            let nd: f64 = d.iter().map(|a| (*a as f64).powi(2)).sum();
            println!("m={m} shape {si}: max err f32 {e32:.2e} f16 {e16:.2e}; i8 rel rms {:.2e} cosine {:.6}", (num / den).sqrt(), dot / (den.sqrt() * nd.sqrt()));
            assert!(e32 < 1e-3);
        }
        let flops = 2.0 * m as f64 * shapes.iter().map(|&(n, k)| (n * k) as f64).sum::<f64>() * 6.0;
        let reps = (3e9 / flops).clamp(3.0, 2000.0) as usize;
        let mut run = |name: &str, f: &(dyn Fn(usize, usize) -> Vec<f32> + Sync)| {
            let mut best = f64::MAX; let mut tot = 0.0;
            for _ in 0..reps { let t = Instant::now(); let body = || for l in 0..6 { for s in 0..4 { std::hint::black_box(f(l, s)); } }; if inside { pool.install(body) } else { body() } let e = t.elapsed().as_secs_f64(); best = best.min(e); tot += e; }
            let mean = tot / reps as f64;
            println!("  {name:10} m={m:5} mean {:8.3} ms  best {:8.3} ms  {:6.1} GFLOP/s", mean * 1e3, best * 1e3, flops / mean / 1e9);
        };
        run("gemm", &|l, s| { let (n, k) = shapes[s]; gemm_fwd(&ws[l][s].0, &ws[l][s].1, &xs[s], m, n, k) });
        run("packed32", &|l, s| p32[l][s].forward(&xs[s], m));
        run("packed16", &|l, s| p16[l][s].forward(&xs[s], m));
        run("packedi8", &|l, s| p8[l][s].forward(&xs[s], m));
    }
}

#[allow(dead_code)]
pub fn interleaved(m: usize, p16: &[Vec<Packed<half::f16>>], shapes: &[(usize, usize)]) {
    let mut seed = 99u64;
    let xs: Vec<Vec<f32>> = shapes.iter().map(|&(_, k)| rnd(m * k, &mut seed, 1.0)).collect();
    let pools: Vec<rayon::ThreadPool> = [1, 2].iter().map(|&t| rayon::ThreadPoolBuilder::new().num_threads(t).build().unwrap()).collect();
    let mut times = vec![vec![]; 3];
    for _ in 0..300 {
        for (c, t) in times.iter_mut().enumerate() {
            let body = || for l in 0..6 { for s in 0..4 { std::hint::black_box(p16[l][s].forward(&xs[s], m)); } };
            let st = Instant::now();
            match c { 0 => pools[0].install(body), 1 => pools[1].install(body), _ => body() }
            t.push(st.elapsed().as_secs_f64() * 1e3);
        }
    }
    for (c, t) in times.iter_mut().enumerate() {
        t.sort_by(|a, b| a.partial_cmp(b).unwrap());
        println!("m={m} {} p10 {:.3} p50 {:.3} p90 {:.3}", ["pool1", "pool2", "global"][c], t[30], t[150], t[270]);
    }
}
