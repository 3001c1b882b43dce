//! Portable micro-kernel (native targets and wasm32 without `simd128`): plain Rust over the
//! packed layout, written so LLVM can vectorise the inner 16-byte loops.

use super::{GROUP_BLOCKS, MR, NR, TILE_GROUP_BYTES};

/// One `MR x NR` output tile over `groups` groups of packed int8 data (see `PackedQ8`).
pub(super) fn tile(
    groups: usize,
    xq: &[i8],
    wq: &[i8],
    xs: &[f32],
    ws: &[f32],
    out: &mut [[f32; NR]; MR],
) {
    let mut facc = [[[0f32; GROUP_BLOCKS]; NR]; MR];
    let chunks = xq
        .chunks_exact(TILE_GROUP_BYTES)
        .zip(wq.chunks_exact(TILE_GROUP_BYTES))
        .take(groups);
    for (g, (x, w)) in chunks.enumerate() {
        let mut iacc = [[[0i32; GROUP_BLOCKS]; NR]; MR];
        for (xstep, wstep) in x.chunks_exact(64).zip(w.chunks_exact(64)) {
            for (r, xv) in xstep.chunks_exact(16).enumerate() {
                for (c, wv) in wstep.chunks_exact(16).enumerate() {
                    let acc = &mut iacc[r][c];
                    let (Ok(xv), Ok(wv)) = (<&[i8; 16]>::try_from(xv), <&[i8; 16]>::try_from(wv))
                    else {
                        continue; // unreachable: chunks_exact(16)
                    };
                    // Lane l holds bytes 2l, 2l+1, 8+2l, 9+2l (see `packed_offset`).
                    for (l, a) in acc.iter_mut().enumerate() {
                        let p = |i: usize| xv[i] as i32 * wv[i] as i32;
                        *a += p(2 * l) + p(2 * l + 1) + p(8 + 2 * l) + p(9 + 2 * l);
                    }
                }
            }
        }
        let xs = &xs[g * MR * GROUP_BLOCKS..(g + 1) * MR * GROUP_BLOCKS];
        let ws = &ws[g * NR * GROUP_BLOCKS..(g + 1) * NR * GROUP_BLOCKS];
        for r in 0..MR {
            for c in 0..NR {
                for l in 0..GROUP_BLOCKS {
                    let s = xs[r * GROUP_BLOCKS + l] * ws[c * GROUP_BLOCKS + l];
                    facc[r][c][l] += iacc[r][c][l] as f32 * s;
                }
            }
        }
    }
    for r in 0..MR {
        for c in 0..NR {
            let a = facc[r][c];
            out[r][c] = (a[0] + a[1]) + (a[2] + a[3]);
        }
    }
}
