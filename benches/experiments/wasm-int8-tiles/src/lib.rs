//! Variants of the simd128 int8 micro-kernel of `src/kernels/wasm_simd.rs` (2x4 tile over the
//! packed q8_0 layout, lane j = block j of a group of 4), timed in Chromium by `multi.mjs`:
//! - v0: the crate's kernel (int8 in memory, `v128.load8x8_s` widening loads);
//! - v2: the same with each 8-value half loaded just before use (LLVM emits the same wasm);
//! - v1: activations stored pre-widened to i16; v3: activations and weights as i16;
//! - v4: a 1x4 tile over i16 data (fewer instructions per multiply, all loads single-use);
//! - v5: v4 with volatile loads (to stop LLVM hoisting them; it does not);
//! - v6: v0 without the per-group f32 epilogue (i32 sums over all of k, scaled once);
//! - v7-v12 (built with `+relaxed-simd`): the relaxed kernel (v7), with its 8 steps kept as a
//!   loop (v10), with each dot split into `pmaddubsw` + `pmaddwd` by opaque 1s (v11), both (v12);
//! - v13, v14: v0 with its steps (v13) or half-steps (v14) kept as a loop.
//! `peak` times `i32x4.dot_i16x8_s` alone (8 independent accumulators, register operands).
//! Results and reading: README.md.
#![allow(clippy::needless_range_loop, clippy::missing_safety_doc)]
use core::arch::wasm32::*;
const GB: usize = 4;
const NR: usize = 4;
const MR: usize = 4;
const TG: usize = 512;

#[inline(always)]
fn load_f32(s: &[f32], off: usize) -> v128 {
    let v = &s[off..off + 4];
    unsafe { v128_load(v.as_ptr() as *const v128) }
}
#[inline(always)]
fn load_ext(s: &[i8; TG], off: usize) -> v128 {
    assert!(off + 8 <= TG);
    unsafe { i16x8_load_extend_i8x8(s.as_ptr().add(off)) }
}
#[inline(always)]
fn vload16(s: &[i16; TG], off: usize) -> v128 {
    assert!(off + 8 <= TG);
    unsafe { core::ptr::read_volatile(s.as_ptr().add(off) as *const v128) }
}
#[inline(always)]
fn load16(s: &[i16; TG], off: usize) -> v128 {
    let v = &s[off..off + 8];
    unsafe { v128_load(v.as_ptr() as *const v128) }
}

#[inline(always)]
fn group_2x4(x: &[i8; TG], w: &[i8; TG], half: usize) -> [v128; 2 * NR] {
    let mut acc = [i32x4_splat(0); 2 * NR];
    for s in 0..8 {
        let o = s * 64;
        let xo = o + half * 32;
        let x0l = load_ext(x, xo);
        let x0h = load_ext(x, xo + 8);
        let x1l = load_ext(x, xo + 16);
        let x1h = load_ext(x, xo + 24);
        for c in 0..NR {
            let wl = load_ext(w, o + c * 16);
            let wh = load_ext(w, o + c * 16 + 8);
            acc[c] = i32x4_add(acc[c], i32x4_dot_i16x8(x0l, wl));
            acc[c] = i32x4_add(acc[c], i32x4_dot_i16x8(x0h, wh));
            acc[NR + c] = i32x4_add(acc[NR + c], i32x4_dot_i16x8(x1l, wl));
            acc[NR + c] = i32x4_add(acc[NR + c], i32x4_dot_i16x8(x1h, wh));
        }
    }
    acc
}

#[inline(always)]
fn group_2x4_x16(x: &[i16; TG], w: &[i8; TG], half: usize) -> [v128; 2 * NR] {
    let mut acc = [i32x4_splat(0); 2 * NR];
    for s in 0..8 {
        let o = s * 64;
        let xo = o + half * 32;
        let x0l = load16(x, xo);
        let x0h = load16(x, xo + 8);
        let x1l = load16(x, xo + 16);
        let x1h = load16(x, xo + 24);
        for c in 0..NR {
            let wl = load_ext(w, o + c * 16);
            let wh = load_ext(w, o + c * 16 + 8);
            acc[c] = i32x4_add(acc[c], i32x4_dot_i16x8(x0l, wl));
            acc[c] = i32x4_add(acc[c], i32x4_dot_i16x8(x0h, wh));
            acc[NR + c] = i32x4_add(acc[NR + c], i32x4_dot_i16x8(x1l, wl));
            acc[NR + c] = i32x4_add(acc[NR + c], i32x4_dot_i16x8(x1h, wh));
        }
    }
    acc
}

#[inline(always)]
fn group_2x4_h(x: &[i8; TG], w: &[i8; TG], half: usize) -> [v128; 2 * NR] {
    let mut acc = [i32x4_splat(0); 2 * NR];
    for s in 0..8 {
        let o = s * 64;
        let xo = o + half * 32;
        for h in 0..2 {
            let x0 = load_ext(x, xo + h * 8);
            let x1 = load_ext(x, xo + 16 + h * 8);
            for c in 0..NR {
                let wv = load_ext(w, o + c * 16 + h * 8);
                acc[c] = i32x4_add(acc[c], i32x4_dot_i16x8(x0, wv));
                acc[NR + c] = i32x4_add(acc[NR + c], i32x4_dot_i16x8(x1, wv));
            }
        }
    }
    acc
}

#[inline(always)]
fn group_2x4_16(x: &[i16; TG], w: &[i16; TG], half: usize) -> [v128; 2 * NR] {
    let mut acc = [i32x4_splat(0); 2 * NR];
    for s in 0..8 {
        let o = s * 64;
        let xo = o + half * 32;
        let x0l = load16(x, xo);
        let x0h = load16(x, xo + 8);
        let x1l = load16(x, xo + 16);
        let x1h = load16(x, xo + 24);
        for c in 0..NR {
            let wl = load16(w, o + c * 16);
            let wh = load16(w, o + c * 16 + 8);
            acc[c] = i32x4_add(acc[c], i32x4_dot_i16x8(x0l, wl));
            acc[c] = i32x4_add(acc[c], i32x4_dot_i16x8(x0h, wh));
            acc[NR + c] = i32x4_add(acc[NR + c], i32x4_dot_i16x8(x1l, wl));
            acc[NR + c] = i32x4_add(acc[NR + c], i32x4_dot_i16x8(x1h, wh));
        }
    }
    acc
}

#[inline(always)]
fn epi(
    facc: &mut [v128; 2 * NR],
    iacc: [v128; 2 * NR],
    xs: &[f32],
    ws: &[f32],
    g: usize,
    half: usize,
) {
    let dw: [v128; NR] = core::array::from_fn(|c| load_f32(ws, (g * NR + c) * GB));
    for rr in 0..2 {
        let dx = load_f32(xs, (g * MR + half * 2 + rr) * GB);
        for c in 0..NR {
            let i = rr * NR + c;
            facc[i] = f32x4_add(
                f32x4_mul(f32x4_convert_i32x4(iacc[i]), f32x4_mul(dx, dw[c])),
                facc[i],
            );
        }
    }
}

#[inline(always)]
fn fin(facc: &[v128; 2 * NR], out: &mut [[f32; NR]; MR], half: usize) {
    for rr in 0..2 {
        for c in 0..NR {
            let a = facc[rr * NR + c];
            out[half * 2 + rr][c] = (f32x4_extract_lane::<0>(a) + f32x4_extract_lane::<1>(a))
                + (f32x4_extract_lane::<2>(a) + f32x4_extract_lane::<3>(a));
        }
    }
}

#[inline(never)]
fn tile_v0(groups: usize, xq: &[i8], wq: &[i8], xs: &[f32], ws: &[f32], out: &mut [[f32; NR]; MR]) {
    for half in 0..MR / 2 {
        let mut facc = [f32x4_splat(0.0); 2 * NR];
        for g in 0..groups {
            let x: &[i8; TG] = xq[g * TG..(g + 1) * TG].try_into().unwrap();
            let w: &[i8; TG] = wq[g * TG..(g + 1) * TG].try_into().unwrap();
            let iacc = group_2x4(x, w, half);
            epi(&mut facc, iacc, xs, ws, g, half);
        }
        fin(&facc, out, half);
    }
}

#[inline(never)]
fn tile_v2(groups: usize, xq: &[i8], wq: &[i8], xs: &[f32], ws: &[f32], out: &mut [[f32; NR]; MR]) {
    for half in 0..MR / 2 {
        let mut facc = [f32x4_splat(0.0); 2 * NR];
        for g in 0..groups {
            let x: &[i8; TG] = xq[g * TG..(g + 1) * TG].try_into().unwrap();
            let w: &[i8; TG] = wq[g * TG..(g + 1) * TG].try_into().unwrap();
            let iacc = group_2x4_h(x, w, half);
            epi(&mut facc, iacc, xs, ws, g, half);
        }
        fin(&facc, out, half);
    }
}

#[inline(never)]
fn tile_v3(
    groups: usize,
    xq: &[i16],
    wq: &[i16],
    xs: &[f32],
    ws: &[f32],
    out: &mut [[f32; NR]; MR],
) {
    for half in 0..MR / 2 {
        let mut facc = [f32x4_splat(0.0); 2 * NR];
        for g in 0..groups {
            let x: &[i16; TG] = xq[g * TG..(g + 1) * TG].try_into().unwrap();
            let w: &[i16; TG] = wq[g * TG..(g + 1) * TG].try_into().unwrap();
            let iacc = group_2x4_16(x, w, half);
            epi(&mut facc, iacc, xs, ws, g, half);
        }
        fin(&facc, out, half);
    }
}

#[inline(never)]
fn tile_v4(
    groups: usize,
    xq: &[i16],
    wq: &[i16],
    xs: &[f32],
    ws: &[f32],
    out: &mut [[f32; NR]; MR],
) {
    for r in 0..MR {
        let mut facc = [f32x4_splat(0.0); NR];
        for g in 0..groups {
            let x: &[i16; TG] = xq[g * TG..(g + 1) * TG].try_into().unwrap();
            let w: &[i16; TG] = wq[g * TG..(g + 1) * TG].try_into().unwrap();
            let mut acc = [i32x4_splat(0); NR];
            for s in 0..8 {
                let o = s * 64;
                let xl = load16(x, o + r * 16);
                let xh = load16(x, o + r * 16 + 8);
                for c in 0..NR {
                    acc[c] = i32x4_add(
                        acc[c],
                        i32x4_add(
                            i32x4_dot_i16x8(xl, load16(w, o + c * 16)),
                            i32x4_dot_i16x8(xh, load16(w, o + c * 16 + 8)),
                        ),
                    );
                }
            }
            let dx = load_f32(xs, (g * MR + r) * GB);
            for c in 0..NR {
                let dw = load_f32(ws, (g * NR + c) * GB);
                facc[c] = f32x4_add(
                    f32x4_mul(f32x4_convert_i32x4(acc[c]), f32x4_mul(dx, dw)),
                    facc[c],
                );
            }
        }
        for c in 0..NR {
            let a = facc[c];
            out[r][c] = (f32x4_extract_lane::<0>(a) + f32x4_extract_lane::<1>(a))
                + (f32x4_extract_lane::<2>(a) + f32x4_extract_lane::<3>(a));
        }
    }
}

#[inline(never)]
fn tile_v5(
    groups: usize,
    xq: &[i16],
    wq: &[i16],
    xs: &[f32],
    ws: &[f32],
    out: &mut [[f32; NR]; MR],
) {
    for r in 0..MR {
        let mut facc = [f32x4_splat(0.0); NR];
        for g in 0..groups {
            let x: &[i16; TG] = xq[g * TG..(g + 1) * TG].try_into().unwrap();
            let w: &[i16; TG] = wq[g * TG..(g + 1) * TG].try_into().unwrap();
            let mut acc = [i32x4_splat(0); NR];
            for s in 0..8 {
                let o = s * 64;
                let xl = vload16(x, o + r * 16);
                let xh = vload16(x, o + r * 16 + 8);
                for c in 0..NR {
                    acc[c] = i32x4_add(
                        acc[c],
                        i32x4_add(
                            i32x4_dot_i16x8(xl, vload16(w, o + c * 16)),
                            i32x4_dot_i16x8(xh, vload16(w, o + c * 16 + 8)),
                        ),
                    );
                }
            }
            let dx = load_f32(xs, (g * MR + r) * GB);
            for c in 0..NR {
                let dw = load_f32(ws, (g * NR + c) * GB);
                facc[c] = f32x4_add(
                    f32x4_mul(f32x4_convert_i32x4(acc[c]), f32x4_mul(dx, dw)),
                    facc[c],
                );
            }
        }
        for c in 0..NR {
            let a = facc[c];
            out[r][c] = (f32x4_extract_lane::<0>(a) + f32x4_extract_lane::<1>(a))
                + (f32x4_extract_lane::<2>(a) + f32x4_extract_lane::<3>(a));
        }
    }
}

/// v0 without the per-group epilogue: the i32 accumulators run over all groups and are scaled
/// once at the end (what per-output-channel scales would allow; the result differs from q8_0).
#[inline(never)]
fn tile_v6(groups: usize, xq: &[i8], wq: &[i8], xs: &[f32], ws: &[f32], out: &mut [[f32; NR]; MR]) {
    for half in 0..MR / 2 {
        let mut iacc = [i32x4_splat(0); 2 * NR];
        for g in 0..groups {
            let x: &[i8; TG] = xq[g * TG..(g + 1) * TG].try_into().unwrap();
            let w: &[i8; TG] = wq[g * TG..(g + 1) * TG].try_into().unwrap();
            let a = group_2x4(x, w, half);
            for i in 0..2 * NR {
                iacc[i] = i32x4_add(iacc[i], a[i]);
            }
        }
        let mut facc = [f32x4_splat(0.0); 2 * NR];
        epi(&mut facc, iacc, xs, ws, 0, half);
        fin(&facc, out, half);
    }
}

#[inline(never)]
fn tile_v1(
    groups: usize,
    xq: &[i16],
    wq: &[i8],
    xs: &[f32],
    ws: &[f32],
    out: &mut [[f32; NR]; MR],
) {
    for half in 0..MR / 2 {
        let mut facc = [f32x4_splat(0.0); 2 * NR];
        for g in 0..groups {
            let x: &[i16; TG] = xq[g * TG..(g + 1) * TG].try_into().unwrap();
            let w: &[i8; TG] = wq[g * TG..(g + 1) * TG].try_into().unwrap();
            let iacc = group_2x4_x16(x, w, half);
            epi(&mut facc, iacc, xs, ws, g, half);
        }
        fin(&facc, out, half);
    }
}

/// v7: the relaxed module's kernel (`i32x4.relaxed_dot_i8x16_i7x16_add_s`, accumulators start
/// from the weights' corrections). Without AVX-VNNI V8 lowers each dot to `pcmpeqd` + `psrlw`
/// (a splat of 1s) + `pmaddubsw` + `pmaddwd` + `paddd`.
#[cfg(target_feature = "relaxed-simd")]
#[inline(always)]
fn group_2x4_relaxed(x: &[i8; TG], w: &[i8; TG], corr: &[i32], half: usize) -> [v128; 2 * NR] {
    let mut acc = [i32x4_splat(0); 2 * NR];
    for c in 0..NR {
        let v = unsafe { v128_load(corr[c * GB..c * GB + 4].as_ptr() as *const v128) };
        acc[c] = v;
        acc[NR + c] = v;
    }
    for s in 0..8 {
        let o = s * 64;
        let x0 = load8(x, o + half * 32);
        let x1 = load8(x, o + half * 32 + 16);
        for c in 0..NR {
            let wv = load8(w, o + c * 16);
            acc[c] = i32x4_relaxed_dot_i8x16_i7x16_add(wv, x0, acc[c]);
            acc[NR + c] = i32x4_relaxed_dot_i8x16_i7x16_add(wv, x1, acc[NR + c]);
        }
    }
    acc
}

/// v8: the same dot products as `i16x8.relaxed_dot_i8x16_i7x16_s` (one `pmaddubsw`) then
/// `i32x4.extadd_pairwise_i16x8_s` (one `pmaddwd` by a constant) and `i32x4.add`: no splat of
/// 1s rebuilt per dot. Exact: each i16 lane is two products of at most 127 * 128.
#[cfg(target_feature = "relaxed-simd")]
#[inline(always)]
fn group_2x4_relaxed16(x: &[i8; TG], w: &[i8; TG], corr: &[i32], half: usize) -> [v128; 2 * NR] {
    let mut acc = [i32x4_splat(0); 2 * NR];
    for c in 0..NR {
        let v = unsafe { v128_load(corr[c * GB..c * GB + 4].as_ptr() as *const v128) };
        acc[c] = v;
        acc[NR + c] = v;
    }
    for s in 0..8 {
        let o = s * 64;
        let x0 = load8(x, o + half * 32);
        let x1 = load8(x, o + half * 32 + 16);
        for c in 0..NR {
            let wv = load8(w, o + c * 16);
            acc[c] = i32x4_add(
                acc[c],
                i32x4_extadd_pairwise_i16x8(i16x8_relaxed_dot_i8x16_i7x16(wv, x0)),
            );
            acc[NR + c] = i32x4_add(
                acc[NR + c],
                i32x4_extadd_pairwise_i16x8(i16x8_relaxed_dot_i8x16_i7x16(wv, x1)),
            );
        }
    }
    acc
}

/// v9 / v10: v8 / v7 with the 8 steps of a group kept as a loop (trip count hidden from LLVM,
/// so it neither unrolls nor hoists the next step's loads): only one step's 6 vectors live.
#[cfg(target_feature = "relaxed-simd")]
#[inline(always)]
fn group_2x4_relaxed_loop(
    x: &[i8; TG],
    w: &[i8; TG],
    corr: &[i32],
    half: usize,
    steps: usize,
    sixteen: bool,
) -> [v128; 2 * NR] {
    let mut acc = [i32x4_splat(0); 2 * NR];
    for c in 0..NR {
        let v = unsafe { v128_load(corr[c * GB..c * GB + 4].as_ptr() as *const v128) };
        acc[c] = v;
        acc[NR + c] = v;
    }
    let xp = x[half * 32..].as_ptr();
    let wp = w.as_ptr();
    for s in 0..steps.min(8) {
        // SAFETY: s < 8, so every 16-byte read stays inside the 512-byte arrays.
        unsafe {
            let xs = xp.add(s * 64);
            let ws = wp.add(s * 64);
            let x0 = v128_load(xs as *const v128);
            let x1 = v128_load(xs.add(16) as *const v128);
            for c in 0..NR {
                let wv = v128_load(ws.add(c * 16) as *const v128);
                if sixteen {
                    acc[c] = i32x4_add(
                        acc[c],
                        i32x4_extadd_pairwise_i16x8(i16x8_relaxed_dot_i8x16_i7x16(wv, x0)),
                    );
                    acc[NR + c] = i32x4_add(
                        acc[NR + c],
                        i32x4_extadd_pairwise_i16x8(i16x8_relaxed_dot_i8x16_i7x16(wv, x1)),
                    );
                } else {
                    acc[c] = i32x4_relaxed_dot_i8x16_i7x16_add(wv, x0, acc[c]);
                    acc[NR + c] = i32x4_relaxed_dot_i8x16_i7x16_add(wv, x1, acc[NR + c]);
                }
            }
        }
    }
    acc
}

/// v11 (unrolled) / v12 (a real loop over the 8 steps): each dot as `pmaddubsw`
/// (`i16x8.relaxed_dot_i8x16_i7x16_s`) then `i32x4.dot_i16x8_s` by a vector of 1s that LLVM
/// cannot see through (so it does not fuse the pair back into `i32x4.relaxed_dot_..._add_s`,
/// which V8 lowers to 5 instructions without AVX-VNNI), then `i32x4.add`: 3 instructions.
#[cfg(target_feature = "relaxed-simd")]
#[inline(always)]
fn group_2x4_relaxed_ones(
    x: &[i8; TG],
    w: &[i8; TG],
    corr: &[i32],
    half: usize,
    steps: usize,
    ones: v128,
    unrolled: bool,
) -> [v128; 2 * NR] {
    let mut acc = [i32x4_splat(0); 2 * NR];
    for c in 0..NR {
        let v = unsafe { v128_load(corr[c * GB..c * GB + 4].as_ptr() as *const v128) };
        acc[c] = v;
        acc[NR + c] = v;
    }
    let xp = x[half * 32..].as_ptr();
    let wp = w.as_ptr();
    let n = if unrolled { 8 } else { steps };
    let mut s = 0;
    while s < n {
        // SAFETY: n = 8 (steps is black_box(8)), so every read stays inside the 512-byte arrays.
        unsafe {
            let xs = xp.add(s * 64);
            let ws = wp.add(s * 64);
            let x0 = v128_load(xs as *const v128);
            let x1 = v128_load(xs.add(16) as *const v128);
            for c in 0..NR {
                let wv = v128_load(ws.add(c * 16) as *const v128);
                acc[c] = i32x4_add(
                    acc[c],
                    i32x4_dot_i16x8(i16x8_relaxed_dot_i8x16_i7x16(wv, x0), ones),
                );
                acc[NR + c] = i32x4_add(
                    acc[NR + c],
                    i32x4_dot_i16x8(i16x8_relaxed_dot_i8x16_i7x16(wv, x1), ones),
                );
            }
        }
        s += 1;
    }
    acc
}

/// v13: v0 (plain simd128, widening loads) with the 8 steps kept as a loop whose trip count
/// LLVM cannot see, so it neither unrolls the steps nor hoists all their loads.
#[inline(always)]
fn group_2x4_loop(x: &[i8; TG], w: &[i8; TG], half: usize, steps: usize) -> [v128; 2 * NR] {
    let mut acc = [i32x4_splat(0); 2 * NR];
    let xp = x[half * 32..].as_ptr();
    let wp = w.as_ptr();
    let mut s = 0;
    while s < steps {
        // SAFETY: steps = black_box(8): every 8-byte read stays inside the 512-byte arrays.
        unsafe {
            let xs = xp.add(s * 64);
            let ws = wp.add(s * 64);
            let x0l = i16x8_load_extend_i8x8(xs);
            let x0h = i16x8_load_extend_i8x8(xs.add(8));
            let x1l = i16x8_load_extend_i8x8(xs.add(16));
            let x1h = i16x8_load_extend_i8x8(xs.add(24));
            for c in 0..NR {
                let wl = i16x8_load_extend_i8x8(ws.add(c * 16));
                let wh = i16x8_load_extend_i8x8(ws.add(c * 16 + 8));
                acc[c] = i32x4_add(acc[c], i32x4_dot_i16x8(x0l, wl));
                acc[c] = i32x4_add(acc[c], i32x4_dot_i16x8(x0h, wh));
                acc[NR + c] = i32x4_add(acc[NR + c], i32x4_dot_i16x8(x1l, wl));
                acc[NR + c] = i32x4_add(acc[NR + c], i32x4_dot_i16x8(x1h, wh));
            }
        }
        s += 1;
    }
    acc
}

#[inline(never)]
fn tile_v13(
    groups: usize,
    xq: &[i8],
    wq: &[i8],
    xs: &[f32],
    ws: &[f32],
    out: &mut [[f32; NR]; MR],
) {
    let steps = core::hint::black_box(8usize);
    for half in 0..MR / 2 {
        let mut facc = [f32x4_splat(0.0); 2 * NR];
        for g in 0..groups {
            let x: &[i8; TG] = xq[g * TG..(g + 1) * TG].try_into().unwrap();
            let w: &[i8; TG] = wq[g * TG..(g + 1) * TG].try_into().unwrap();
            let iacc = group_2x4_loop(x, w, half, steps);
            epi(&mut facc, iacc, xs, ws, g, half);
        }
        fin(&facc, out, half);
    }
}

/// v14: v13 rolled over the 16 half-steps (8 values of each block): per iteration 2 activation
/// and 4 weight vectors, 8 dot products, so all 14 live vectors fit V8's 15 registers.
#[inline(always)]
fn group_2x4_loop_h(x: &[i8; TG], w: &[i8; TG], half: usize, steps: usize) -> [v128; 2 * NR] {
    let mut acc = [i32x4_splat(0); 2 * NR];
    let xp = x[half * 32..].as_ptr();
    let wp = w.as_ptr();
    let mut s = 0;
    while s < steps {
        // SAFETY: steps = black_box(16): every 8-byte read stays inside the 512-byte arrays.
        unsafe {
            let o = (s >> 1) * 64 + (s & 1) * 8;
            let xs = xp.add(o);
            let ws = wp.add(o);
            let x0 = i16x8_load_extend_i8x8(xs);
            let x1 = i16x8_load_extend_i8x8(xs.add(16));
            for c in 0..NR {
                let wv = i16x8_load_extend_i8x8(ws.add(c * 16));
                acc[c] = i32x4_add(acc[c], i32x4_dot_i16x8(x0, wv));
                acc[NR + c] = i32x4_add(acc[NR + c], i32x4_dot_i16x8(x1, wv));
            }
        }
        s += 1;
    }
    acc
}

#[inline(never)]
fn tile_v14(
    groups: usize,
    xq: &[i8],
    wq: &[i8],
    xs: &[f32],
    ws: &[f32],
    out: &mut [[f32; NR]; MR],
) {
    let steps = core::hint::black_box(16usize);
    for half in 0..MR / 2 {
        let mut facc = [f32x4_splat(0.0); 2 * NR];
        for g in 0..groups {
            let x: &[i8; TG] = xq[g * TG..(g + 1) * TG].try_into().unwrap();
            let w: &[i8; TG] = wq[g * TG..(g + 1) * TG].try_into().unwrap();
            let iacc = group_2x4_loop_h(x, w, half, steps);
            epi(&mut facc, iacc, xs, ws, g, half);
        }
        fin(&facc, out, half);
    }
}

#[inline(always)]
fn load8(s: &[i8; TG], off: usize) -> v128 {
    let v = &s[off..off + 16];
    unsafe { v128_load(v.as_ptr() as *const v128) }
}

#[cfg(target_feature = "relaxed-simd")]
#[inline(never)]
#[allow(clippy::too_many_arguments)]
fn tile_relaxed<const V: u32>(
    groups: usize,
    xq: &[i8],
    wq: &[i8],
    wc: &[i32],
    xs: &[f32],
    ws: &[f32],
    out: &mut [[f32; NR]; MR],
) {
    let steps = core::hint::black_box(8usize);
    let ones = core::hint::black_box(i16x8_splat(1));
    for half in 0..MR / 2 {
        let mut facc = [f32x4_splat(0.0); 2 * NR];
        for g in 0..groups {
            let x: &[i8; TG] = xq[g * TG..(g + 1) * TG].try_into().unwrap();
            let w: &[i8; TG] = wq[g * TG..(g + 1) * TG].try_into().unwrap();
            let corr = &wc[g * NR * GB..(g + 1) * NR * GB];
            let iacc = match V {
                7 => group_2x4_relaxed(x, w, corr, half),
                8 => group_2x4_relaxed16(x, w, corr, half),
                9 => group_2x4_relaxed_loop(x, w, corr, half, steps, true),
                11 => group_2x4_relaxed_ones(x, w, corr, half, steps, ones, true),
                12 => group_2x4_relaxed_ones(x, w, corr, half, steps, ones, false),
                _ => group_2x4_relaxed_loop(x, w, corr, half, steps, false),
            };
            epi(&mut facc, iacc, xs, ws, g, half);
        }
        fin(&facc, out, half);
    }
}

struct Data {
    xq: Vec<i8>,
    xu: Vec<i8>,
    wc: Vec<i32>,
    x16: Vec<i16>,
    wq: Vec<i8>,
    w16: Vec<i16>,
    xs: Vec<f32>,
    ws: Vec<f32>,
    out: Vec<f32>,
}
static mut D: Option<Data> = None;

#[no_mangle]
pub extern "C" fn setup(mt: usize, nt: usize, groups: usize) {
    let mut seed = 12345u32;
    let mut r = || {
        seed = seed.wrapping_mul(1664525).wrapping_add(1013904223);
        (seed >> 24) as i8
    };
    let xq: Vec<i8> = (0..mt * groups * TG).map(|_| r() / 2).collect();
    let xu: Vec<i8> = xq
        .iter()
        .map(|&v| (v as i16 + 64).clamp(1, 127) as i8)
        .collect();
    let wc: Vec<i32> = (0..nt * groups * NR * GB)
        .map(|i| (i as i32 % 97) - 48)
        .collect();
    let x16 = xq.iter().map(|&v| v as i16).collect();
    let wq: Vec<i8> = (0..nt * groups * TG).map(|_| r()).collect();
    let xs = vec![0.01f32; mt * groups * MR * GB];
    let ws = vec![0.02f32; nt * groups * NR * GB];
    let w16 = wq.iter().map(|&v| v as i16).collect();
    unsafe {
        D = Some(Data {
            xq,
            xu,
            wc,
            x16,
            wq,
            w16,
            xs,
            ws,
            out: vec![0.0; mt * MR * nt * NR],
        });
    }
}

#[no_mangle]
pub extern "C" fn run(variant: u32, mt: usize, nt: usize, groups: usize) -> f32 {
    #[allow(static_mut_refs)]
    let d = unsafe { D.as_mut().unwrap() };
    let n = nt * NR;
    let mut t = [[0f32; NR]; MR];
    for jt in 0..nt {
        let wq = &d.wq[jt * groups * TG..(jt + 1) * groups * TG];
        let sl = groups * MR * GB;
        let ws = &d.ws[jt * sl..(jt + 1) * sl];
        for it in 0..mt {
            let xs = &d.xs[it * sl..(it + 1) * sl];
            match variant {
                #[cfg(target_feature = "relaxed-simd")]
                7..=12 => {
                    let xu = &d.xu[it * groups * TG..(it + 1) * groups * TG];
                    let wc = &d.wc[jt * groups * NR * GB..(jt + 1) * groups * NR * GB];
                    let f = match variant {
                        7 => tile_relaxed::<7>,
                        8 => tile_relaxed::<8>,
                        9 => tile_relaxed::<9>,
                        11 => tile_relaxed::<11>,
                        12 => tile_relaxed::<12>,
                        _ => tile_relaxed::<10>,
                    };
                    f(groups, xu, wq, wc, xs, ws, &mut t)
                }
                0 => tile_v0(
                    groups,
                    &d.xq[it * groups * TG..(it + 1) * groups * TG],
                    wq,
                    xs,
                    ws,
                    &mut t,
                ),
                3 => tile_v3(
                    groups,
                    &d.x16[it * groups * TG..(it + 1) * groups * TG],
                    &d.w16[jt * groups * TG..(jt + 1) * groups * TG],
                    xs,
                    ws,
                    &mut t,
                ),
                4 => tile_v4(
                    groups,
                    &d.x16[it * groups * TG..(it + 1) * groups * TG],
                    &d.w16[jt * groups * TG..(jt + 1) * groups * TG],
                    xs,
                    ws,
                    &mut t,
                ),
                5 => tile_v5(
                    groups,
                    &d.x16[it * groups * TG..(it + 1) * groups * TG],
                    &d.w16[jt * groups * TG..(jt + 1) * groups * TG],
                    xs,
                    ws,
                    &mut t,
                ),
                14 => tile_v14(
                    groups,
                    &d.xq[it * groups * TG..(it + 1) * groups * TG],
                    wq,
                    xs,
                    ws,
                    &mut t,
                ),
                13 => tile_v13(
                    groups,
                    &d.xq[it * groups * TG..(it + 1) * groups * TG],
                    wq,
                    xs,
                    ws,
                    &mut t,
                ),
                6 => tile_v6(
                    groups,
                    &d.xq[it * groups * TG..(it + 1) * groups * TG],
                    wq,
                    xs,
                    ws,
                    &mut t,
                ),
                2 => tile_v2(
                    groups,
                    &d.xq[it * groups * TG..(it + 1) * groups * TG],
                    wq,
                    xs,
                    ws,
                    &mut t,
                ),
                _ => tile_v1(
                    groups,
                    &d.x16[it * groups * TG..(it + 1) * groups * TG],
                    wq,
                    xs,
                    ws,
                    &mut t,
                ),
            }
            for r in 0..MR {
                for c in 0..NR {
                    d.out[(it * MR + r) * n + jt * NR + c] = t[r][c];
                }
            }
        }
    }
    d.out.iter().sum()
}

#[no_mangle]
pub extern "C" fn peak(iters: u32, seed: i32) -> i32 {
    // 16 distinct dot products per iteration (4 changing inputs x 4 constant ones) into 8
    // accumulators, all in registers: the most `i32x4.dot_i16x8_s` can do here.
    let w: [v128; 4] = core::array::from_fn(|j| i16x8_splat((seed >> j) as i16 + j as i16));
    let mut x: [v128; 4] =
        core::array::from_fn(|j| i16x8_splat((seed >> (j + 4)) as i16 - j as i16));
    let step = i16x8_splat(3);
    let mut acc = [i32x4_splat(seed); 8];
    let mut i = 0;
    while i < iters {
        for r in 0..2 {
            for c in 0..4 {
                acc[r * 4 + c] = i32x4_add(acc[r * 4 + c], i32x4_dot_i16x8(x[r * 2], w[c]));
                acc[r * 4 + c] = i32x4_add(acc[r * 4 + c], i32x4_dot_i16x8(x[r * 2 + 1], w[c]));
            }
        }
        for v in &mut x {
            *v = i16x8_add(*v, step);
        }
        i += 1;
    }
    let mut s = i32x4_splat(0);
    for a in acc {
        s = i32x4_add(s, a);
    }
    i32x4_extract_lane::<0>(s) ^ i32x4_extract_lane::<3>(s)
}
