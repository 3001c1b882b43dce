//! Int8 scan codes: a compact copy of a collection's vectors that exact scans read first.
//!
//! An exact scan of 100k 512-d `f32` vectors reads 205 MB per query and is bound by memory
//! bandwidth (~30 ms in Chromium). With [`IndexPolicy::quantized_scan`](super::IndexPolicy) a
//! collection also keeps, per item, the vector quantized to int8 with one scale (`dim` + 8
//! bytes). A scan then
//!
//! 1. scores every candidate on its code (4× less memory traffic, an integer dot product),
//!    together with a rigorous bound on how far that approximate score can be from the exact
//!    one (Cauchy–Schwarz on the two quantization residuals, plus a margin for `f32` rounding);
//! 2. keeps the `k`-th best lower bound `T`: an item whose upper bound is below `T` cannot be in
//!    the top `k`, since `k` items certainly score at least `T`;
//! 3. rescores every other candidate exactly, with the same `f32` dot product as a plain scan.
//!
//! So results (ids, order, scores to the bit, ties) are those of the plain exact scan; only the
//! work differs.
//!
//! The integer dot product has one kernel per build, all exact in `i32`: x86-64 SSE2 (`pmaddwd`),
//! wasm simd128 (`i32x4.dot_i16x8_s`), wasm relaxed SIMD (`i32x4.relaxed_dot_i8x16_i7x16_add_s`
//! on the query's positive and negative parts), and portable Rust elsewhere.

/// Largest dimension codes are kept for: `dim * 127 * 127` must fit an `i32`.
pub(crate) const MAX_CODE_DIM: usize = 100_000;

/// Quantizes `v` to int8 with one symmetric scale; returns `(scale, residual norm)`.
///
/// The residual `‖v − scale·codes‖` is computed in `f64` and rounded up, so the error bound
/// built from it holds.
fn quantize(v: &[f32], out: &mut [i8]) -> (f32, f32) {
    let amax = v.iter().fold(0f32, |a, x| a.max(x.abs()));
    let scale = amax / 127.0;
    let inv = if scale > 0.0 { 1.0 / scale } else { 0.0 };
    let mut r2 = 0f64;
    for (o, &x) in out.iter_mut().zip(v) {
        let q = (x * inv).round().clamp(-127.0, 127.0);
        *o = q as i8;
        let d = f64::from(x) - f64::from(scale) * q as f64;
        r2 += d * d;
    }
    (scale, (r2.sqrt() * (1.0 + 1e-6)) as f32 + f32::MIN_POSITIVE)
}

/// The codes of every slot of a collection (row `s` = slot `s`; rows of removed slots are stale
/// and never read, since scans skip dead slots).
#[derive(Debug, Clone, Default)]
pub(crate) struct ScanCodes {
    dim: usize,
    codes: Vec<i8>,
    /// Per slot: `(scale, residual norm)`.
    meta: Vec<(f32, f32)>,
}

impl ScanCodes {
    /// Empty codes for vectors of `dim` values.
    pub(crate) fn new(dim: usize) -> Self {
        ScanCodes {
            dim,
            codes: Vec::new(),
            meta: Vec::new(),
        }
    }

    /// Number of rows.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.meta.len()
    }

    /// Sets row `s` to the code of `v` (appending if `s` is the next row; rows in between, which
    /// never happens in a collection, would be zeros).
    pub(crate) fn set(&mut self, s: usize, v: &[f32]) {
        if s >= self.meta.len() {
            if s >= self.meta.capacity() {
                // Grow by 1/8 (at least 1024 rows), not Vec's doubling: at most 12.5 % unused.
                let more = (s + 1 - self.meta.len()).max(self.meta.len() / 8).max(1024);
                self.meta.reserve_exact(more);
                self.codes.reserve_exact(more * self.dim);
            }
            self.meta.resize(s + 1, (0.0, 0.0));
            self.codes.resize((s + 1) * self.dim, 0);
        }
        let row = &mut self.codes[s * self.dim..(s + 1) * self.dim];
        self.meta[s] = quantize(v, row);
    }

    /// Keeps the rows `keep[i]` (old row numbers, ascending) as rows `0..keep.len()`.
    pub(crate) fn retain_rows(&mut self, keep: &[usize]) {
        let d = self.dim;
        for (new, &old) in keep.iter().enumerate() {
            if new != old {
                self.codes.copy_within(old * d..(old + 1) * d, new * d);
                self.meta[new] = self.meta[old];
            }
        }
        self.codes.truncate(keep.len() * d);
        self.meta.truncate(keep.len());
    }

    /// Approximate score of row `s` for `q` and the bound on its distance to the exact one.
    #[inline]
    fn approx(&self, q: &QueryCode, s: usize) -> Option<(f32, f32)> {
        let row = self.codes.get(s * self.dim..(s + 1) * self.dim)?;
        let &(scale, resid) = self.meta.get(s)?;
        let a = q.scale * scale * q.dot(row) as f32;
        // |q·x − q̂·x̂| ≤ ‖q‖‖x − x̂‖ + ‖q − q̂‖‖x̂‖, ‖q‖ = ‖x‖ = 1, ‖x̂‖ ≤ 1 + resid.
        let bound = resid + q.resid * (1.0 + resid) + q.margin;
        Some((a, bound))
    }

    /// The exact top of a scan: calls `exact(s)` for every slot of `candidates` whose approximate
    /// score leaves it a chance to be among the best `k`, and never for the others.
    ///
    /// `candidates` yields the slots to consider (live and accepted by the caller); `min` is the
    /// minimum score (items whose upper bound is below it are skipped too).
    pub(crate) fn scan(
        &self,
        q: &[f32],
        k: usize,
        min: f32,
        candidates: impl Iterator<Item = u32>,
        mut exact: impl FnMut(u32),
    ) {
        let q = QueryCode::new(q);
        // The k best lower bounds seen so far (min-heap): the k-th is the threshold T.
        let mut lows: std::collections::BinaryHeap<std::cmp::Reverse<OrdF32>> =
            std::collections::BinaryHeap::with_capacity(k + 1);
        let mut t = f32::NEG_INFINITY;
        let mut kept: Vec<(f32, u32)> = Vec::new();
        for s in candidates {
            let Some((a, b)) = self.approx(&q, s as usize) else {
                // No code (not expected): score it exactly.
                exact(s);
                continue;
            };
            let hi = a + b;
            if hi < min || hi < t {
                continue;
            }
            kept.push((hi, s));
            lows.push(std::cmp::Reverse(OrdF32(a - b)));
            if lows.len() > k {
                lows.pop();
            }
            if lows.len() == k {
                t = lows.peek().map_or(t, |x| x.0 .0);
            }
        }
        for (hi, s) in kept {
            if hi >= t {
                exact(s);
            }
        }
    }
}

/// A totally ordered `f32` (no NaN reaches it: scores of finite unit vectors).
#[derive(Debug, Clone, Copy, PartialEq)]
struct OrdF32(f32);
impl Eq for OrdF32 {}
impl PartialOrd for OrdF32 {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for OrdF32 {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&o.0)
    }
}

/// Items compiled only into the relaxed-SIMD build (see [`crate::kernels::RELAXED`]).
macro_rules! relaxed {
    ($($item:item)*) => {$(
        #[cfg(all(
            target_arch = "wasm32",
            any(target_feature = "relaxed-simd", feature = "relaxed-simd")
        ))]
        $item
    )*};
}
/// Items compiled into every other build.
macro_rules! not_relaxed {
    ($($item:item)*) => {$(
        #[cfg(not(all(
            target_arch = "wasm32",
            any(target_feature = "relaxed-simd", feature = "relaxed-simd")
        )))]
        $item
    )*};
}

/// A query quantized like the codes, laid out for this build's kernel.
struct QueryCode {
    /// The query's codes widened to `i16` (portable and simd128 kernels); in the relaxed-SIMD
    /// build, `max(q, 0)` in its first half and `max(-q, 0)` in its second, both in
    /// `[0, 127]` as `relaxed_dot_i8x16_i7x16` needs (so `q·x` = first·x − second·x, exact).
    codes: Vec<QueryLane>,
    scale: f32,
    resid: f32,
    /// Covers `f32` rounding in the approximate score and in the exact dot product.
    margin: f32,
    /// The relaxed kernel's dot form is the split one (read once per query, not per item).
    split: bool,
}

relaxed! {
    type QueryLane = i8;
}
not_relaxed! {
    type QueryLane = i16;
}

impl QueryCode {
    fn new(q: &[f32]) -> Self {
        let mut c = vec![0i8; q.len()];
        let (scale, resid) = quantize(q, &mut c);
        QueryCode {
            codes: lanes(&c),
            scale,
            resid,
            margin: 1e-4 + q.len() as f32 * 2.4e-7,
            split: crate::kernels::relaxed_dot_form() == Some(crate::kernels::DotForm::Split),
        }
    }

    /// `Σ q[i]·x[i]`, exact in `i32`.
    #[inline]
    fn dot(&self, x: &[i8]) -> i32 {
        kernel_dot(&self.codes, x, self.split)
    }
}

relaxed! {
    fn lanes(c: &[i8]) -> Vec<i8> {
        let pos = c.iter().map(|&v| v.max(0));
        let neg = c.iter().map(|&v| v.saturating_neg().max(0));
        pos.chain(neg).collect()
    }

    #[inline]
    fn kernel_dot(q: &[i8], x: &[i8], split: bool) -> i32 {
        let n = (q.len() / 2).min(x.len());
        let (pos, neg) = q.split_at(q.len() / 2);
        // SAFETY: compiled only into the relaxed-SIMD module, which the loader picks only where
        // the engine validates relaxed SIMD.
        #[allow(unused_unsafe)]
        unsafe {
            dot_i8_relaxed(&pos[..n], &neg[..n], &x[..n], split)
        }
    }
}
not_relaxed! {
    fn lanes(c: &[i8]) -> Vec<i16> {
        c.iter().map(|&v| i16::from(v)).collect()
    }

    /// `Σ q[i]·x[i]` over `min(q.len(), x.len())` values, exact in `i32` (dimensions up to
    /// [`MAX_CODE_DIM`]). (`_split` applies to the relaxed kernel only.)
    #[inline]
    fn kernel_dot(q: &[i16], x: &[i8], _split: bool) -> i32 {
        let n = q.len().min(x.len());
        let (q, x) = (&q[..n], &x[..n]);
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        {
            dot_i8_wasm(q, x)
        }
        #[cfg(target_arch = "x86_64")]
        {
            dot_i8_sse2(q, x)
        }
        #[cfg(not(any(
            target_arch = "x86_64",
            all(target_arch = "wasm32", target_feature = "simd128")
        )))]
        {
            dot_i8_portable(q, x)
        }
    }
}

/// Portable kernel: 32 independent `i32` lanes; each product is formed in `i16` (codes and
/// query values lie in `[-127, 127]`, so it fits).
#[cfg(any(
    test,
    not(any(
        target_arch = "x86_64",
        all(target_arch = "wasm32", target_feature = "simd128")
    ))
))]
fn dot_i8_portable(q: &[i16], x: &[i8]) -> i32 {
    let mut acc = [0i32; 32];
    let (cq, cx) = (q.chunks_exact(32), x.chunks_exact(32));
    let (rq, rx) = (cq.remainder(), cx.remainder());
    for (a, b) in cq.zip(cx) {
        for i in 0..32 {
            acc[i] += i32::from(a[i].wrapping_mul(i16::from(b[i])));
        }
    }
    let tail: i32 = rq
        .iter()
        .zip(rx)
        .map(|(&a, &b)| i32::from(a) * i32::from(b))
        .sum();
    acc.iter().sum::<i32>() + tail
}

/// x86-64 kernel (SSE2, part of the x86-64 baseline): 16 codes per step, widened to `i16`
/// (unpacked against themselves, shifted right arithmetically), multiplied and pairwise added
/// by `pmaddwd` into two `i32x4` accumulators.
#[cfg(target_arch = "x86_64")]
fn dot_i8_sse2(q: &[i16], x: &[i8]) -> i32 {
    use core::arch::x86_64::*;
    let n = q.len().min(x.len());
    let (q, x) = (&q[..n], &x[..n]);
    let (cq, cx) = (q.chunks_exact(16), x.chunks_exact(16));
    let (rq, rx) = (cq.remainder(), cx.remainder());
    // SAFETY: SSE2 is always available on x86-64; every load reads 16 bytes from a chunk that
    // holds them (16 i8, or 8 of its 16 i16 at offsets 0 and 8); unaligned loads.
    let total = unsafe {
        let (mut lo, mut hi) = (_mm_setzero_si128(), _mm_setzero_si128());
        for (a, b) in cq.zip(cx) {
            let v = _mm_loadu_si128(b.as_ptr() as *const __m128i);
            let vl = _mm_srai_epi16::<8>(_mm_unpacklo_epi8(v, v));
            let vh = _mm_srai_epi16::<8>(_mm_unpackhi_epi8(v, v));
            let ql = _mm_loadu_si128(a.as_ptr() as *const __m128i);
            let qh = _mm_loadu_si128(a[8..].as_ptr() as *const __m128i);
            lo = _mm_add_epi32(lo, _mm_madd_epi16(ql, vl));
            hi = _mm_add_epi32(hi, _mm_madd_epi16(qh, vh));
        }
        let mut lanes = [0i32; 4];
        _mm_storeu_si128(lanes.as_mut_ptr() as *mut __m128i, _mm_add_epi32(lo, hi));
        lanes.iter().sum::<i32>()
    };
    let tail: i32 = rq
        .iter()
        .zip(rx)
        .map(|(&a, &b)| i32::from(a) * i32::from(b))
        .sum();
    total + tail
}

/// Relaxed-SIMD kernel: `q·x` = `pos·x − neg·x` with one `i32x4.relaxed_dot_i8x16_i7x16_add_s`
/// per 16 codes and side (one `vpdpbusd` each with AVX-VNNI); `pos`, `neg` lie in `[0, 127]`.
/// Pairs of products fit the `i16` the instruction may saturate to (2·127·128 < 2¹⁵).
///
/// `split` (where the engine lowers that instruction through `pmaddubsw`, see
/// [`crate::kernels::relaxed_dot_form`]): per 16 codes, `i16x8.relaxed_dot_i8x16_i7x16_s` of each
/// side (`pmaddubsw`), their difference in `i16`, one `i32x4.dot_i16x8_s` by 1s and an add: five
/// instructions where the fused form takes ten. Exact: `pos` and `neg` are never both non-zero
/// at one position, so a lane of the difference is `q[i]·x[i] + q[i+1]·x[i+1]`, at most
/// 2·127·128 in magnitude.
#[cfg(all(
    target_arch = "wasm32",
    any(target_feature = "relaxed-simd", feature = "relaxed-simd")
))]
#[target_feature(enable = "relaxed-simd")]
#[inline]
fn dot_i8_relaxed(pos: &[i8], neg: &[i8], x: &[i8], split: bool) -> i32 {
    use core::arch::wasm32::*;
    // Opaque to LLVM, which would otherwise fuse the split form back into the relaxed dot-add.
    let ones = core::hint::black_box(i16x8_splat(1));
    let n = x.len().min(pos.len()).min(neg.len());
    let (pos, neg, x) = (&pos[..n], &neg[..n], &x[..n]);
    let mut acc = [i32x4_splat(0); 4];
    let (cp, cn, cx) = (
        pos.chunks_exact(32),
        neg.chunks_exact(32),
        x.chunks_exact(32),
    );
    let (rp, rn, rx) = (cp.remainder(), cn.remainder(), cx.remainder());
    for ((p, m), v) in cp.zip(cn).zip(cx) {
        for j in 0..2 {
            let o = j * 16;
            // SAFETY: each chunk holds 32 bytes, so `o..o + 16` is in bounds; wasm loads allow
            // any alignment.
            let (vp, vm, vx) = unsafe {
                (
                    v128_load(p[o..].as_ptr() as *const v128),
                    v128_load(m[o..].as_ptr() as *const v128),
                    v128_load(v[o..].as_ptr() as *const v128),
                )
            };
            if split {
                let d = i16x8_sub(
                    i16x8_relaxed_dot_i8x16_i7x16(vx, vp),
                    i16x8_relaxed_dot_i8x16_i7x16(vx, vm),
                );
                acc[j] = i32x4_add(acc[j], i32x4_dot_i16x8(d, ones));
            } else {
                acc[j] = i32x4_relaxed_dot_i8x16_i7x16_add(vx, vp, acc[j]);
                acc[2 + j] = i32x4_relaxed_dot_i8x16_i7x16_add(vx, vm, acc[2 + j]);
            }
        }
    }
    let d = i32x4_sub(i32x4_add(acc[0], acc[1]), i32x4_add(acc[2], acc[3]));
    let tail: i32 = rp
        .iter()
        .zip(rn)
        .zip(rx)
        .map(|((&a, &b), &c)| (i32::from(a) - i32::from(b)) * i32::from(c))
        .sum();
    i32x4_extract_lane::<0>(d)
        + i32x4_extract_lane::<1>(d)
        + i32x4_extract_lane::<2>(d)
        + i32x4_extract_lane::<3>(d)
        + tail
}

/// wasm simd128 kernel: `v128.load8x8_s` widens 8 codes, `i32x4.dot_i16x8_s` multiplies them
/// with 8 query values; four accumulators.
#[cfg(all(
    target_arch = "wasm32",
    target_feature = "simd128",
    not(any(target_feature = "relaxed-simd", feature = "relaxed-simd"))
))]
#[inline]
fn dot_i8_wasm(q: &[i16], x: &[i8]) -> i32 {
    use core::arch::wasm32::*;
    let mut acc = [i32x4_splat(0); 4];
    let (cq, cx) = (q.chunks_exact(32), x.chunks_exact(32));
    let (rq, rx) = (cq.remainder(), cx.remainder());
    for (a, b) in cq.zip(cx) {
        for j in 0..4 {
            let (a, b) = (&a[j * 8..j * 8 + 8], &b[j * 8..j * 8 + 8]);
            // SAFETY: `a` holds 8 i16 = 16 bytes and `b` 8 i8 (bounds checked by the slicing
            // above); wasm loads allow any alignment.
            let (va, vb) = unsafe {
                (
                    v128_load(a.as_ptr() as *const v128),
                    i16x8_load_extend_i8x8(b.as_ptr()),
                )
            };
            acc[j] = i32x4_add(acc[j], i32x4_dot_i16x8(va, vb));
        }
    }
    let s = i32x4_add(i32x4_add(acc[0], acc[1]), i32x4_add(acc[2], acc[3]));
    let tail: i32 = rq
        .iter()
        .zip(rx)
        .map(|(&a, &b)| i32::from(a) * i32::from(b))
        .sum();
    i32x4_extract_lane::<0>(s)
        + i32x4_extract_lane::<1>(s)
        + i32x4_extract_lane::<2>(s)
        + i32x4_extract_lane::<3>(s)
        + tail
}

#[cfg(test)]
mod tests {
    use super::super::simd::dot;
    use super::*;

    fn lcg(seed: &mut u64) -> f32 {
        *seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((*seed >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
    }

    fn unit(seed: &mut u64, d: usize) -> Vec<f32> {
        let v: Vec<f32> = (0..d).map(|_| lcg(seed)).collect();
        super::super::simd::normalized(&v).unwrap()
    }

    #[test]
    fn integer_dot_is_exact_at_every_length() {
        let mut seed = 3;
        for n in [0, 1, 7, 16, 31, 32, 33, 100, 512, 515] {
            let q: Vec<i8> = (0..n).map(|_| (lcg(&mut seed) * 127.0) as i8).collect();
            let x: Vec<i8> = (0..n).map(|_| (lcg(&mut seed) * 127.0) as i8).collect();
            let want: i32 = q.iter().zip(&x).map(|(&a, &b)| a as i32 * b as i32).sum();
            let qc = QueryCode {
                codes: lanes(&q),
                scale: 1.0,
                resid: 0.0,
                margin: 0.0,
                split: false,
            };
            assert_eq!(qc.dot(&x), want, "n = {n}");
            let wide: Vec<i16> = q.iter().map(|&v| i16::from(v)).collect();
            assert_eq!(dot_i8_portable(&wide, &x), want, "n = {n}");
            #[cfg(target_arch = "x86_64")]
            assert_eq!(dot_i8_sse2(&wide, &x), want, "n = {n}");
        }
    }

    #[test]
    fn the_bound_holds_for_every_pair() {
        let mut seed = 11;
        for d in [3, 64, 512, 768] {
            let mut codes = ScanCodes::new(d);
            let xs: Vec<Vec<f32>> = (0..200).map(|_| unit(&mut seed, d)).collect();
            for (s, x) in xs.iter().enumerate() {
                codes.set(s, x);
            }
            for _ in 0..20 {
                let q = unit(&mut seed, d);
                let qc = QueryCode::new(&q);
                for (s, x) in xs.iter().enumerate() {
                    let (a, b) = codes.approx(&qc, s).unwrap();
                    let exact = dot(&q, x);
                    assert!((exact - a).abs() <= b, "d {d} s {s}: {exact} vs {a} ± {b}");
                }
            }
        }
    }

    #[test]
    fn retain_rows_keeps_the_chosen_rows_in_order() {
        let mut seed = 5;
        let xs: Vec<Vec<f32>> = (0..6).map(|_| unit(&mut seed, 10)).collect();
        let mut codes = ScanCodes::new(10);
        for (s, x) in xs.iter().enumerate() {
            codes.set(s, x);
        }
        let mut want = ScanCodes::new(10);
        for (i, s) in [1usize, 2, 5].into_iter().enumerate() {
            want.set(i, &xs[s]);
        }
        codes.retain_rows(&[1, 2, 5]);
        assert_eq!(codes.len(), 3);
        assert_eq!(codes.codes, want.codes);
        assert_eq!(codes.meta, want.meta);
    }
}
