//! Int8 matrix multiply for quantized linear layers (`y = x · Wᵀ + b`), fast in wasm32 SIMD.
//!
//! Numerics are those of GGML's `q8_0` (candle's `BlockQ8_0`): weights are symmetric int8 in
//! blocks of [`BLOCK`] = 32 values along `k` with one scale per block; each activation row is
//! quantized once per call, also per block of 32 (dynamic, symmetric); each block's int8 dot
//! product is exact in `i32`, then scaled by `d_x * d_w` and summed in `f32`. A q8_0 model file
//! therefore loads into [`PackedQ8::from_q8_0_blocks`] without any further loss, and the results
//! match candle's `QMatMul` on q8_0 weights up to floating-point summation order.
//!
//! Kernels (chosen at compile time, checked against [`reference`](mod@reference)):
//! - portable Rust (native, and wasm32 without `simd128`),
//! - wasm32 `simd128`: the 4×4 tile computed as two 2×4 halves (8 `i32x4` accumulators, so the
//!   loop fits x64's 16 SIMD registers in V8), bytes widened by the loads (`v128.load8x8_s`),
//!   `i32x4.dot_i16x8_s` into the accumulators,
//! - wasm32 `relaxed-simd` (build with `-C target-feature=+simd128,+relaxed-simd`):
//!   `i32x4.relaxed_dot_i8x16_i7x16_add_s`. Its second operand must lie in `[0, 127]`, so in that
//!   build activations are quantized to 7 bits (`[-63, 63]`, scale `amax / 63`) and stored with a
//!   +64 offset, corrected exactly by the precomputed per-block weight sums. This is the only
//!   build whose numbers differ from q8_0 (activation step twice as coarse); see
//!   [`ActQuant`] and `benches/RESULTS-kernels.md` for its measured accuracy.
//!
//! Packed layout (what the micro-kernel streams): `k` is cut in groups of 4 blocks (128 values).
//! Within a group, a 16-byte vector holds 4 consecutive values of each of the 4 blocks, so lane
//! `j` of every `i32x4` dot product accumulates block `j` of the group, and a group ends with one
//! `f32x4` scale multiply per output (no horizontal reductions in the inner loop). Weights are
//! stored tile by tile (4 output rows), activations likewise (4 input rows); `k`, `m`, `n` are
//! padded with zeros to whole tiles and groups.
//!
//! # Example
//! ```
//! use clipsearch::kernels::PackedQ8;
//! let (n, k) = (3, 40);
//! let w: Vec<f32> = (0..n * k).map(|i| ((i * 7 % 13) as f32 - 6.0) / 10.0).collect();
//! let packed = PackedQ8::from_f32(&w, n, k)?;
//! let x = vec![0.5f32; 2 * k];
//! let mut y = vec![0f32; 2 * n];
//! packed.matmul(&x, 2, &mut y)?;
//! let exact: f32 = (0..k).map(|i| 0.5 * w[i]).sum();
//! assert!((y[0] - exact).abs() < 0.05);
//! # Ok::<(), clipsearch::Error>(())
//! ```

pub mod attention;
pub mod fastmath;
mod linear;
#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
mod portable;
pub mod reference;
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod wasm_simd;

pub use linear::Q8Linear;
pub(crate) use linear::{forward_packed, with_f32};

use crate::{Error, Result};
use half::f16;

/// Values per quantization block along `k` (GGML's `QK8_0`).
pub const BLOCK: usize = 32;
/// Bytes of one GGML q8_0 block: an `f16` scale then 32 `i8` values.
pub const Q8_0_BLOCK_BYTES: usize = 2 + BLOCK;
/// Blocks per group: a group's 4 blocks sit in the 4 lanes of an `i32x4`.
pub(crate) const GROUP_BLOCKS: usize = 4;
/// Values per group.
pub(crate) const GROUP: usize = BLOCK * GROUP_BLOCKS;
/// Output columns (weight rows) per micro-kernel tile.
pub(crate) const NR: usize = 4;
/// Activation rows per micro-kernel tile.
pub(crate) const MR: usize = 4;
/// Bytes per (tile, group) of packed int8 data: 8 steps × 4 rows × 16 bytes.
pub(crate) const TILE_GROUP_BYTES: usize = GROUP * 4;

/// How activations are quantized (a property of the compiled kernel; see [`ACT_QUANT`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActQuant {
    /// Symmetric int8 in `[-127, 127]`, scale `amax / 127` per block of 32 (GGML q8_0).
    I8,
    /// Symmetric 7-bit in `[-63, 63]`, scale `amax / 63` per block of 32, stored as `q + 64`
    /// (the unsigned operand of `relaxed_dot_i8x16_i7x16`).
    U7,
}

impl ActQuant {
    /// Largest quantized magnitude (127 or 63).
    pub fn qmax(self) -> f32 {
        match self {
            ActQuant::I8 => 127.0,
            ActQuant::U7 => 63.0,
        }
    }
}

/// True when this build runs the relaxed-SIMD kernel: wasm32 built with
/// `-C target-feature=+simd128,+relaxed-simd`, or with `+simd128` and the crate feature
/// `relaxed-simd` (which only recompiles this crate, not its dependencies).
pub const RELAXED: bool = cfg!(all(
    target_arch = "wasm32",
    any(target_feature = "relaxed-simd", feature = "relaxed-simd")
));

/// Activation quantization used by this build's kernel.
#[cfg(all(
    target_arch = "wasm32",
    any(target_feature = "relaxed-simd", feature = "relaxed-simd")
))]
pub const ACT_QUANT: ActQuant = ActQuant::U7;
/// Activation quantization used by this build's kernel.
#[cfg(not(all(
    target_arch = "wasm32",
    any(target_feature = "relaxed-simd", feature = "relaxed-simd")
)))]
pub const ACT_QUANT: ActQuant = ActQuant::I8;

/// How the relaxed-SIMD kernel writes its 16-value int8 dot products. Both forms give
/// bit-identical results; they differ only in speed, which depends on the CPU under the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DotForm {
    /// `i32x4.relaxed_dot_i8x16_i7x16_add_s`: one `vpdpbusd` on x64 with AVX-VNNI, one `sdot`
    /// on Arm, but five instructions on x64 without VNNI (V8 rebuilds a vector of 1s per dot).
    Fused,
    /// `i16x8.relaxed_dot_i8x16_i7x16_s` (`pmaddubsw`) + `i32x4.dot_i16x8_s` by 1s (`pmaddwd`)
    /// + `i32x4.add`: three instructions, what x64 without VNNI runs fastest.
    Split,
}

impl DotForm {
    /// `"fused"` or `"split"`.
    pub fn as_str(self) -> &'static str {
        match self {
            DotForm::Fused => "fused",
            DotForm::Split => "split",
        }
    }
}

/// 0: not chosen yet; 1: fused; 2: split.
static DOT_FORM: core::sync::atomic::AtomicU8 = core::sync::atomic::AtomicU8::new(0);

/// The dot-product form the relaxed-SIMD kernel uses (`None` in builds without that kernel).
///
/// Chosen once per module instance, before the first product, by probing the engine: where
/// the relaxed dot saturates pairs of products to `i16` (x64 engines without AVX-VNNI lower it
/// to `pmaddubsw`), [`DotForm::Split`]; elsewhere [`DotForm::Fused`]. Measured on a Zen 4
/// without AVX-VNNI the split form made the kernel 1.25x faster than the fused one (a ViT-B/32
/// image 1.16x; `benches/RESULTS-model.md`).
pub fn relaxed_dot_form() -> Option<DotForm> {
    #[cfg(all(
        target_arch = "wasm32",
        any(target_feature = "relaxed-simd", feature = "relaxed-simd")
    ))]
    {
        use core::sync::atomic::Ordering::Relaxed;
        Some(match DOT_FORM.load(Relaxed) {
            1 => DotForm::Fused,
            2 => DotForm::Split,
            _ => {
                let split = wasm_simd::dot_saturates_pairs();
                DOT_FORM.store(if split { 2 } else { 1 }, Relaxed);
                if split {
                    DotForm::Split
                } else {
                    DotForm::Fused
                }
            }
        })
    }
    #[cfg(not(all(
        target_arch = "wasm32",
        any(target_feature = "relaxed-simd", feature = "relaxed-simd")
    )))]
    None
}

/// Forces the relaxed-SIMD kernel's dot-product form (`None`: probe again, see
/// [`relaxed_dot_form`]), for tests and benchmarks that cover both forms on one machine. No
/// effect in builds without that kernel.
pub fn set_relaxed_dot_form(form: Option<DotForm>) {
    let v = match form {
        None => 0,
        Some(DotForm::Fused) => 1,
        Some(DotForm::Split) => 2,
    };
    DOT_FORM.store(v, core::sync::atomic::Ordering::Relaxed);
}

/// Name of the kernel this build runs (`"portable"`, `"wasm-simd128"` or `"wasm-relaxed-simd"`).
pub fn kernel_name() -> &'static str {
    #[cfg(all(
        target_arch = "wasm32",
        any(target_feature = "relaxed-simd", feature = "relaxed-simd")
    ))]
    {
        "wasm-relaxed-simd"
    }
    #[cfg(all(
        target_arch = "wasm32",
        target_feature = "simd128",
        not(any(target_feature = "relaxed-simd", feature = "relaxed-simd"))
    ))]
    {
        "wasm-simd128"
    }
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    {
        "portable"
    }
}

/// Quantizes one block (up to 32 values; missing values count as 0) the way GGML's
/// `quantize_row_q8_0` does: `d = amax / 127`, `q = round(x / d)`. Returns the scale.
///
/// The scale is returned as `f32` but already rounded through `f16` (the q8_0 storage type), and
/// the values are rounded with the unrounded reciprocal, exactly as candle's
/// `BlockQ8_0::from_float`.
pub fn quantize_block_q8_0(x: &[f32], q: &mut [i8; BLOCK]) -> f32 {
    let amax = x.iter().fold(0f32, |a, v| a.max(v.abs()));
    let d = amax / 127.0;
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    *q = [0; BLOCK];
    for (qi, &v) in q.iter_mut().zip(x) {
        *qi = (v * id).round() as i8;
    }
    f16::from_f32(d).to_f32()
}

/// Quantizes one activation block (up to 32 values; missing values count as 0) with `scheme`.
/// Returns `(scale, values)` where the values are the signed quantized integers (for
/// [`ActQuant::U7`] without the +64 storage offset).
pub fn quantize_block_act(x: &[f32], scheme: ActQuant) -> (f32, [i8; BLOCK]) {
    let amax = x.iter().fold(0f32, |a, v| a.max(v.abs()));
    let qmax = scheme.qmax();
    let d = amax / qmax;
    let id = if d != 0.0 { 1.0 / d } else { 0.0 };
    let mut q = [0i8; BLOCK];
    for (qi, &v) in q.iter_mut().zip(x) {
        // Clamp guards NaN-free rounding overshoot; NaN becomes 0 via the `as` cast.
        // Ties to even: one `f32.nearest` in wasm (`round()`, ties away from zero, is a libm
        // call there, ~2% of an image); the two differ only on exact ties.
        *qi = (v * id).round_ties_even().clamp(-qmax, qmax) as i8;
    }
    (d, q)
}

/// One activation block as [`quantize_block_act`] with this build's [`ACT_QUANT`], its values
/// as stored (plus `offset`: 64 for [`ActQuant::U7`], 0 for [`ActQuant::I8`]); `None` if a value
/// is NaN or infinite. Full blocks take `f32x4` lanes in the wasm SIMD builds.
#[inline]
fn quantize_block_stored(x: &[f32], offset: i8) -> Option<(f32, [i8; BLOCK])> {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    if let Ok(full) = <&[f32; BLOCK]>::try_from(x) {
        return wasm_simd::quantize_block(full, ACT_QUANT.qmax(), offset);
    }
    if !x.iter().all(|v| v.is_finite()) {
        return None;
    }
    // Values beyond a partial block are 0, so they become the layout's fill.
    let (d, mut q) = quantize_block_act(x, ACT_QUANT);
    for v in &mut q {
        *v += offset;
    }
    Some((d, q))
}

/// Int8 weights `[n, k]` packed once for the micro-kernel, with per-block-of-32 scales.
#[derive(Debug, Clone)]
pub struct PackedQ8 {
    n: usize,
    k: usize,
    /// Groups along `k` (each 4 blocks of 32).
    groups: usize,
    /// Column tiles (each [`NR`] weight rows).
    tiles: usize,
    /// Packed int8 data, `tiles * groups * TILE_GROUP_BYTES` bytes.
    qs: Vec<i8>,
    /// Scales, `[tile][group][col in tile][block in group]`.
    scales: Vec<f32>,
    /// `-64 * sum(q)` per block, same indexing as `scales` (zero-point correction for U7).
    corr: Vec<i32>,
}

/// Offset of value `kk` (within a group, `0..128`) of tile row `r` inside a (tile, group) chunk.
///
/// A (tile, group) chunk is 8 steps of `[4 rows][16 bytes]`; step `s` holds values `4s..4s+4`
/// of each of the group's 4 blocks. For `relaxed_dot_i8x16_i7x16` (4 bytes per `i32` lane) a
/// block's 4 values are adjacent; for `dot_i16x8` after `extend_low/high` (2 values per lane)
/// the first two values of the 4 blocks come first, then the last two.
#[inline(always)]
pub(crate) fn packed_offset(r: usize, kk: usize) -> usize {
    let block = kk / BLOCK;
    let within = kk % BLOCK;
    let (step, e) = (within / 4, within % 4);
    let in_vec = if RELAXED {
        block * 4 + e
    } else {
        (e / 2) * 8 + block * 2 + e % 2
    };
    step * 64 + r * 16 + in_vec
}

/// Block (lane) that byte `p` (`0..16`) of a packed 16-byte vector belongs to.
#[inline(always)]
#[allow(dead_code)]
pub(crate) fn lane_of_byte(p: usize) -> usize {
    if RELAXED {
        p / 4
    } else {
        (p / 2) % 4
    }
}

impl PackedQ8 {
    fn empty(n: usize, k: usize) -> Result<Self> {
        if n == 0 || k == 0 {
            return Err(Error::InvalidArgument(format!(
                "int8 weights need n > 0 and k > 0, got n = {n}, k = {k}"
            )));
        }
        let groups = k.div_ceil(GROUP);
        let tiles = n.div_ceil(NR);
        let bytes = tiles
            .checked_mul(groups)
            .and_then(|v| v.checked_mul(TILE_GROUP_BYTES))
            .ok_or_else(|| Error::InvalidArgument(format!("weights {n}x{k} are too large")))?;
        let nscales = tiles * groups * NR * GROUP_BLOCKS;
        Ok(Self {
            n,
            k,
            groups,
            tiles,
            qs: vec![0; bytes],
            scales: vec![0.0; nscales],
            corr: vec![0; nscales],
        })
    }

    /// Stores quantized block `b` of weight row `row` (values beyond `k` must be 0).
    fn put_block(&mut self, row: usize, b: usize, d: f32, q: &[i8; BLOCK]) {
        let (tile, r) = (row / NR, row % NR);
        let (g, bj) = (b / GROUP_BLOCKS, b % GROUP_BLOCKS);
        let base = (tile * self.groups + g) * TILE_GROUP_BYTES;
        for (i, &v) in q.iter().enumerate() {
            self.qs[base + packed_offset(r, bj * BLOCK + i)] = v;
        }
        let si = ((tile * self.groups + g) * NR + r) * GROUP_BLOCKS + bj;
        self.scales[si] = d;
        self.corr[si] = -64 * q.iter().map(|&v| v as i32).sum::<i32>();
    }

    /// Quantizes f32 weights `w: [n, k]` (row-major, one output feature per row) to symmetric
    /// int8 per block of 32 (exactly GGML q8_0) and packs them.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if `n` or `k` is 0 or `w.len() != n * k`;
    /// [`Error::InvalidVector`] if a weight is NaN or infinite.
    pub fn from_f32(w: &[f32], n: usize, k: usize) -> Result<Self> {
        let mut p = Self::empty(n, k)?;
        if w.len() != n * k {
            return Err(Error::InvalidArgument(format!(
                "weights have {} values, expected n * k = {n} * {k}",
                w.len()
            )));
        }
        if w.iter().any(|v| !v.is_finite()) {
            return Err(Error::InvalidVector(
                "weights contain NaN or infinite values: the model file is corrupt".into(),
            ));
        }
        let mut q = [0i8; BLOCK];
        for (row, wr) in w.chunks_exact(k).enumerate() {
            for (b, blk) in wr.chunks(BLOCK).enumerate() {
                let d = quantize_block_q8_0(blk, &mut q);
                p.put_block(row, b, d, &q);
            }
        }
        Ok(p)
    }

    /// Packs GGUF / candle q8_0 blocks (`[n, k]`, row-major; each block is an `f16` scale in
    /// little-endian followed by 32 `i8`, 34 bytes) without requantizing: nothing is lost.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if `n` or `k` is 0 or `k` is not a multiple of 32 (q8_0 rows
    /// always are); [`Error::InvalidModel`] if `raw` is not exactly `n * k / 32 * 34` bytes or a
    /// scale is NaN or infinite.
    pub fn from_q8_0_blocks(raw: &[u8], n: usize, k: usize) -> Result<Self> {
        let mut p = Self::empty(n, k)?;
        if k % BLOCK != 0 {
            return Err(Error::InvalidArgument(format!(
                "q8_0 rows hold whole blocks of 32 values, but k = {k}"
            )));
        }
        let kb = k / BLOCK;
        let expected = n * kb * Q8_0_BLOCK_BYTES;
        if raw.len() != expected {
            return Err(Error::InvalidModel(format!(
                "q8_0 tensor [{n}, {k}] needs {expected} bytes, found {}",
                raw.len()
            )));
        }
        let mut q = [0i8; BLOCK];
        for (i, blk) in raw.chunks_exact(Q8_0_BLOCK_BYTES).enumerate() {
            let d = f16::from_le_bytes([blk[0], blk[1]]).to_f32();
            if !d.is_finite() {
                return Err(Error::InvalidModel(format!(
                    "q8_0 block {i} has a non-finite scale: the model file is corrupt"
                )));
            }
            for (qi, &byte) in q.iter_mut().zip(&blk[2..]) {
                *qi = byte as i8;
            }
            p.put_block(i / kb, i % kb, d, &q);
        }
        Ok(p)
    }

    /// Number of output features `n` (weight rows).
    pub fn n(&self) -> usize {
        self.n
    }

    /// Number of input features `k` (weight columns).
    pub fn k(&self) -> usize {
        self.k
    }

    /// Unpacks weight row `row` into its quantized values (`k` of them) and block scales
    /// (`ceil(k / 32)`), e.g. to feed [`reference`](mod@reference). Returns `None` if `row >= n`.
    pub fn unpack_row(&self, row: usize) -> Option<(Vec<i8>, Vec<f32>)> {
        if row >= self.n {
            return None;
        }
        let (tile, r) = (row / NR, row % NR);
        let kb = self.k.div_ceil(BLOCK);
        let mut q = Vec::with_capacity(self.k);
        for kk in 0..self.k {
            let g = kk / GROUP;
            let base = (tile * self.groups + g) * TILE_GROUP_BYTES;
            q.push(self.qs[base + packed_offset(r, kk % GROUP)]);
        }
        let d = (0..kb)
            .map(|b| {
                let (g, bj) = (b / GROUP_BLOCKS, b % GROUP_BLOCKS);
                self.scales[((tile * self.groups + g) * NR + r) * GROUP_BLOCKS + bj]
            })
            .collect();
        Some((q, d))
    }

    /// Quantizes the rows of `x` (`[m, k]`) with this build's [`ACT_QUANT`] and packs them for
    /// the micro-kernel; `None` if `x` holds a NaN or infinite value.
    ///
    /// Each block's values go to the packed layout in runs of adjacent bytes (4 in the relaxed
    /// layout, 2 in the others, see [`packed_offset`]), and full blocks are quantized with
    /// `f32x4` lanes in the wasm SIMD builds (bit for bit [`quantize_block_act`]): the scalar
    /// loop with one offset computation per value took ~6 ns per value in Chromium, ~20 % of a
    /// ViT-B/32 image (`benches/RESULTS-model.md`).
    pub(crate) fn pack_activations(&self, x: &[f32], m: usize) -> Option<PackedAct> {
        /// Adjacent bytes of one block in the packed layout.
        const RUN: usize = if RELAXED { 4 } else { 2 };
        let mtiles = m.div_ceil(MR);
        let fill = match ACT_QUANT {
            ActQuant::I8 => 0i8,
            ActQuant::U7 => 64,
        };
        let mut qs = vec![fill; mtiles * self.groups * TILE_GROUP_BYTES];
        let mut scales = vec![0f32; mtiles * self.groups * MR * GROUP_BLOCKS];
        for (row, xr) in x.chunks_exact(self.k).take(m).enumerate() {
            let (tile, r) = (row / MR, row % MR);
            for (b, blk) in xr.chunks(BLOCK).enumerate() {
                // Stored values carry the same offset as the fill (64 for U7).
                let (d, q) = quantize_block_stored(blk, fill)?;
                let (g, bj) = (b / GROUP_BLOCKS, b % GROUP_BLOCKS);
                let base = (tile * self.groups + g) * TILE_GROUP_BYTES;
                for (i, run) in q.chunks_exact(RUN).enumerate() {
                    let at = base + packed_offset(r, bj * BLOCK + i * RUN);
                    // Always in range: `qs` holds every block of every row.
                    qs.get_mut(at..at + RUN)?.copy_from_slice(run);
                }
                scales[((tile * self.groups + g) * MR + r) * GROUP_BLOCKS + bj] = d;
            }
        }
        Some(PackedAct { mtiles, qs, scales })
    }

    /// Computes `out = x · Wᵀ` for `x: [m, k]` (row-major f32), writing `out: [m, n]`.
    ///
    /// Each row of `x` is quantized once (per block of 32, see the module docs).
    ///
    /// # Errors
    /// [`Error::DimensionMismatch`] if `x.len() != m * k` or `out.len() != m * n`;
    /// [`Error::InvalidVector`] if `x` holds NaN or infinite values.
    ///
    /// # Example
    /// ```
    /// # use clipsearch::kernels::PackedQ8;
    /// let w = PackedQ8::from_f32(&[1.0, 0.0, 0.0, 1.0], 2, 2)?; // identity
    /// let mut out = [0f32; 2];
    /// w.matmul(&[0.25, -2.0], 1, &mut out)?;
    /// assert!((out[0] - 0.25).abs() < 0.02 && (out[1] + 2.0).abs() < 0.02);
    /// # Ok::<(), clipsearch::Error>(())
    /// ```
    pub fn matmul(&self, x: &[f32], m: usize, out: &mut [f32]) -> Result<()> {
        self.matmul_bias(x, m, None, out)
    }

    /// Like [`PackedQ8::matmul`], then adds `bias` (length `n`) to every output row.
    ///
    /// # Errors
    /// As [`PackedQ8::matmul`], plus [`Error::DimensionMismatch`] if `bias.len() != n`.
    pub fn matmul_bias(
        &self,
        x: &[f32],
        m: usize,
        bias: Option<&[f32]>,
        out: &mut [f32],
    ) -> Result<()> {
        if x.len() != m * self.k {
            return Err(Error::DimensionMismatch {
                expected: m * self.k,
                found: x.len(),
            });
        }
        if out.len() != m * self.n {
            return Err(Error::DimensionMismatch {
                expected: m * self.n,
                found: out.len(),
            });
        }
        if let Some(b) = bias {
            if b.len() != self.n {
                return Err(Error::DimensionMismatch {
                    expected: self.n,
                    found: b.len(),
                });
            }
        }
        if m == 0 {
            return Ok(());
        }
        // Checks every value as it quantizes it.
        let act = self.pack_activations(x, m).ok_or_else(|| {
            Error::InvalidVector("matmul input contains NaN or infinite values".into())
        })?;
        // Read once per call, not once per tile.
        let split = relaxed_dot_form() == Some(DotForm::Split);
        let mut tile_out = [[0f32; NR]; MR];
        // Weight tiles outside: one tile (4 rows x k, 3 KB for k = 768) stays in L1 while every
        // activation tile (52 x k in all, 40 KB) streams past it; the whole weight matrix (MBs)
        // is read from memory once per call instead of once per activation tile.
        for jt in 0..self.tiles {
            for it in 0..act.mtiles {
                self.tile(&act, it, jt, split, &mut tile_out);
                for (r, row) in tile_out.iter().enumerate() {
                    let i = it * MR + r;
                    if i >= m {
                        break;
                    }
                    for (c, &v) in row.iter().enumerate() {
                        let j = jt * NR + c;
                        if j >= self.n {
                            break;
                        }
                        out[i * self.n + j] = v + bias.map_or(0.0, |b| b[j]);
                    }
                }
            }
        }
        Ok(())
    }

    /// Runs the micro-kernel on activation tile `it` and weight tile `jt` (`split`: the relaxed
    /// kernel's dot form, see [`relaxed_dot_form`]; unused by the other kernels).
    #[inline]
    fn tile(&self, act: &PackedAct, it: usize, jt: usize, split: bool, out: &mut [[f32; NR]; MR]) {
        let g = self.groups;
        let xq = &act.qs[it * g * TILE_GROUP_BYTES..(it + 1) * g * TILE_GROUP_BYTES];
        let wq = &self.qs[jt * g * TILE_GROUP_BYTES..(jt + 1) * g * TILE_GROUP_BYTES];
        let sl = g * MR * GROUP_BLOCKS;
        let xs = &act.scales[it * sl..(it + 1) * sl];
        let ws = &self.scales[jt * sl..(jt + 1) * sl];
        let wc = &self.corr[jt * sl..(jt + 1) * sl];
        let _ = (wc, split);
        #[cfg(all(
            target_arch = "wasm32",
            target_feature = "simd128",
            any(target_feature = "relaxed-simd", feature = "relaxed-simd")
        ))]
        {
            wasm_simd::tile(g, xq, wq, xs, ws, wc, out, split);
        }
        #[cfg(all(
            target_arch = "wasm32",
            target_feature = "simd128",
            not(any(target_feature = "relaxed-simd", feature = "relaxed-simd"))
        ))]
        {
            wasm_simd::tile(g, xq, wq, xs, ws, wc, out);
        }
        #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
        {
            portable::tile(g, xq, wq, xs, ws, out);
        }
    }
}

/// Activations quantized and packed for one call.
pub(crate) struct PackedAct {
    mtiles: usize,
    qs: Vec<i8>,
    scales: Vec<f32>,
}
