//! Products with a fixed right-hand matrix packed once (SPEC.md clause C2): the recurrent
//! products of a forward or backward pass multiply a shard's few rows (50 on the paper run) by
//! the same weight matrix at every one of its 784 steps. A general product routine packs its
//! operands on every call; for 50 rows that packing costs about as much as the arithmetic. A
//! [`PackedMatrix`] is packed when the network is built, and [`PackedMatrix::product`] runs a
//! register-blocked AVX-512 kernel over it straight from the left operand's rows.
//!
//! In the packed kernel every output element is one chain of fused multiply-adds over `k` in
//! order `0..k`, started from the destination's value when accumulating, so a product's bits
//! depend on neither the thread count nor the row count of the call (clause T8). Outside the
//! `"avx512"` kernel family the product goes through [`crate::kernels::matmul`] on the matrix
//! as it was given (same strides, so the same bits as before packing existed); there the
//! shards' fixed size is what keeps results independent of the thread count.

use crate::kernels::{matmul, View};

/// 16-lane vectors per packed panel.
const VECTORS: usize = 4;
/// Output columns per packed panel.
const PANEL: usize = 16 * VECTORS;
/// Rows of the left operand per register block: 6 x 4 = 24 accumulators (of 32 vector
/// registers), enough independent chains to hide the fused multiply-add's latency on two
/// pipes, with few loads of the packed panel per multiply-add.
#[cfg(target_arch = "x86_64")]
const ROWS_PER_BLOCK: usize = 6;

/// A `k x n` f32 matrix packed for [`PackedMatrix::product`]: panels of 64 columns,
/// each stored `k`-major, the last padded with zeros to a whole number of vectors (clause C2).
#[derive(Debug)]
pub struct PackedMatrix {
    k: usize,
    n: usize,
    /// Panel `p`, row `r`, column `c` at `start + p * k * PANEL + r * panel_stride(n, p) + c`;
    /// empty outside the `"avx512"` kernel family.
    panels: Vec<f32>,
    /// Where panel 0 starts in `panels`: the first 64-byte boundary, so that no vector load
    /// of the kernel splits a cache line.
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    start: usize,
    /// The matrix as given, row-major, or its transpose row-major when `transposed`: the
    /// route outside the AVX-512 family multiplies by the same view as before packing.
    plain: Vec<f32>,
    /// Whether the matrix was given as the transpose of a row-major one.
    transposed: bool,
}

/// Whether this CPU runs the packed kernel: where the `gemm` crate runs its AVX-512 kernels
/// (one detection, so that a kernel family, [`crate::kernels::product_kernels`], names one set
/// of results).
/// At a dispatch level capped below AVX-512 ([`hsnn_spec::isa`]) the products take the
/// other route.
pub(crate) fn simd_available() -> bool {
    crate::kernels::product_kernels() == "avx512"
        && hsnn_spec::isa::IsaLevel::current() >= hsnn_spec::isa::IsaLevel::Avx512
}

impl Clone for PackedMatrix {
    /// Packs again: a copied buffer would lose the panels' 64-byte alignment.
    fn clone(&self) -> Self {
        PackedMatrix::new(self.unpacked())
    }
}

impl PackedMatrix {
    /// Packs `matrix`, whatever its strides (a transposed view packs the matrix it shows).
    pub fn new(matrix: View<'_, f32>) -> Self {
        let (k, n) = (matrix.rows(), matrix.cols());
        let transposed = matrix.is_transposed_row_major();
        let mut plain = vec![0.0f32; k * n];
        for row in 0..k {
            for column in 0..n {
                let index = if transposed {
                    column * k + row
                } else {
                    row * n + column
                };
                plain[index] = matrix.at(row, column);
            }
        }
        let (panels, start) = if simd_available() {
            let row_major: Vec<f32> = (0..k)
                .flat_map(|row| (0..n).map(move |column| matrix.at(row, column)))
                .collect();
            let (mut panels, start) = aligned_panels(k, n);
            pack_panels(&mut panels[start..], &row_major, k, n);
            (panels, start)
        } else {
            (Vec::new(), 0)
        };
        PackedMatrix {
            k,
            n,
            panels,
            start,
            plain,
            transposed,
        }
    }

    /// The matrix as it was given to [`PackedMatrix::new`], over the kept copy.
    fn unpacked(&self) -> View<'_, f32> {
        if self.transposed {
            View::row_major(&self.plain, self.n, self.k).t()
        } else {
            View::row_major(&self.plain, self.k, self.n)
        }
    }

    /// Rows (the inner dimension of a product).
    pub fn rows(&self) -> usize {
        self.k
    }

    /// Columns.
    pub fn cols(&self) -> usize {
        self.n
    }

    /// `dst = a M` (or `dst += a M` when `accumulate`) for the row-major `rows x k` matrix in
    /// the first `rows * k` values of `a`; `dst` holds the first `rows * n` values, row-major.
    /// Panics when a slice is too short: callers size their buffers from the same
    /// dimensions.
    pub fn product(&self, dst: &mut [f32], a: &[f32], rows: usize, accumulate: bool) {
        let (k, n) = (self.k, self.n);
        assert!(a.len() >= rows * k, "left operand too short");
        assert!(dst.len() >= rows * n, "product destination too short");
        if self.panels.is_empty() || rows == 0 || n == 0 || k == 0 {
            matmul(
                dst,
                View::row_major(a, rows, k),
                self.unpacked(),
                accumulate,
            );
            return;
        }
        #[cfg(target_arch = "x86_64")]
        for panel in 0..n.div_ceil(PANEL) {
            let width = PANEL.min(n - panel * PANEL);
            let stride = panel_stride(n, panel);
            let packed = &self.panels[self.start + panel * k * PANEL..][..k * stride];
            for (row, block) in row_blocks(rows) {
                let a_block = &a[row * k..(row + block) * k];
                let c_block = &mut dst[row * n + panel * PANEL..];
                // SAFETY: `panels` is non-empty only when AVX-512F was detected (`new`), the
                // kernels' only target feature; `block_dispatch` checks the slices' lengths
                // against what its kernel reads and writes.
                #[allow(unsafe_code)]
                unsafe {
                    block_dispatch(
                        Operands::RowMajorLeft,
                        Block {
                            rows: block,
                            vectors: stride / 16,
                            width,
                            k,
                        },
                        (a_block, k),
                        packed,
                        (c_block, n),
                        accumulate,
                    );
                }
            }
        }
    }
}

/// Rows of the right operand the transposed product packs at a time: the packed chunk (256
/// rows of 224 values, 229 KB) stays in the second-level cache while every register block of
/// the product passes over it, however long the inner dimension.
#[cfg(target_arch = "x86_64")]
const CHUNK: usize = 256;

/// `dst = A^T B` (or `dst += A^T B` when `accumulate`) for the row-major `k x m` matrix `A` in
/// the first `k * m` values of `a` and the row-major `k x n` matrix `B` in the first `k * n`
/// values of `b`; `dst` holds the first `m * n` values, row-major. These are the backward
/// pass's weight gradients (SPEC.md clause T3, checked by C3), a few steps' terms at a time
/// (`k` is 4 steps times the shard's 50 sequences on the paper run): `B` is packed into
/// aligned panels 256 rows at a time, and the register blocks read `A`'s columns where they
/// are (packing them as well cost more than it saved), after one pass over `A` in order that
/// brings it into cache.
///
/// With the `"avx512"` kernel family every output element is one chain of fused
/// multiply-adds over `k` in order `0..k`, started from the destination's value when
/// accumulating, whatever the chunking, so the result depends on neither the thread count nor
/// the row count (clause T8). Other families go through [`crate::kernels::matmul`] on the
/// transposed view. Panics when a slice is too short.
pub fn transposed_product(
    dst: &mut [f32],
    (a, m): (&[f32], usize),
    (b, n): (&[f32], usize),
    k: usize,
    accumulate: bool,
) {
    assert!(a.len() >= k * m, "left operand too short");
    assert!(b.len() >= k * n, "right operand too short");
    assert!(dst.len() >= m * n, "product destination too short");
    if !simd_available() || m == 0 || n == 0 || k == 0 {
        matmul(
            dst,
            View::row_major(a, k, m).t(),
            View::row_major(b, k, n),
            accumulate,
        );
        return;
    }
    #[cfg(target_arch = "x86_64")]
    {
        // One chunk of B's rows packed as PackedMatrix packs a whole matrix (B's rows of 212
        // values are not aligned to cache lines, the panels are), into a buffer of the
        // thread's pool: every value the kernel stores comes from lanes `pack_panels` writes,
        // and the padding lanes it reads are never stored, so their stale contents do not
        // matter (clause T8).
        let mut panels = crate::scratch::overwritten(panels_len(CHUNK.min(k), n));
        let start = panel_start(&panels);
        for first in (0..k).step_by(CHUNK) {
            let chunk = CHUNK.min(k - first);
            bring_into_cache(&a[first * m..(first + chunk) * m]);
            pack_panels(&mut panels[start..], &b[first * n..], chunk, n);
            for panel in 0..n.div_ceil(PANEL) {
                let width = PANEL.min(n - panel * PANEL);
                let stride = panel_stride(n, panel);
                let packed = &panels[start + panel * chunk * PANEL..][..chunk * stride];
                for (row, block) in row_blocks(m) {
                    let a_block = &a[first * m + row..];
                    let c_block = &mut dst[row * n + panel * PANEL..];
                    // SAFETY: `simd_available` said AVX-512F is present, the kernels' only
                    // target feature; `block_dispatch` checks the slices' lengths against what
                    // its kernel reads and writes.
                    #[allow(unsafe_code)]
                    unsafe {
                        block_dispatch(
                            Operands::TransposedLeft,
                            Block {
                                rows: block,
                                vectors: stride / 16,
                                width,
                                k: chunk,
                            },
                            (a_block, m),
                            packed,
                            (c_block, n),
                            first > 0 || accumulate,
                        );
                    }
                }
            }
        }
        crate::scratch::give_back(panels);
    }
}

/// Reads one value in every 16 of `values` (a cache line's worth), in order, so that its
/// lines are in cache before a product reads them in another order. The backward pass's
/// weight gradients read the history written by the forward pass (long out of cache) down
/// its columns, a line every 848 or 1024 bytes, where the hardware prefetchers, which follow
/// sequential streams within a page, do not help: read in order first, the same products
/// (196 groups of 200 rows, one Zen 5 core) ran at 180-188 GFLOP/s instead of 112-178.
/// Changes no value.
#[cfg(target_arch = "x86_64")]
fn bring_into_cache(values: &[f32]) {
    let mut sum = 0.0f32;
    for line in values.chunks(16) {
        sum += line[0];
    }
    std::hint::black_box(sum);
}

/// A zeroed buffer for a packed `k x n` matrix and where in it panel 0 starts
/// ([`panel_start`]).
fn aligned_panels(k: usize, n: usize) -> (Vec<f32>, usize) {
    let panels = vec![0.0f32; panels_len(k, n)];
    let start = panel_start(&panels);
    (panels, start)
}

/// Values a buffer for a packed `k x n` matrix holds: the panels (columns rounded up to whole
/// vectors) and up to 15 before them, for [`panel_start`].
fn panels_len(k: usize, n: usize) -> usize {
    k * n.next_multiple_of(16) + 15
}

/// Where in `panels` panel 0 starts: the first 64-byte boundary, so that no vector load of
/// the kernel splits a cache line.
fn panel_start(panels: &[f32]) -> usize {
    panels.as_ptr().align_offset(64).min(15)
}

/// Packs the row-major `k x n` matrix in the first `k * n` values of `matrix` into `panels`
/// (from its start): full panels of [`PANEL`] columns, then one of the remaining columns
/// rounded up to whole vectors (212 columns: 3 x 64 + 32, not 4 x 64); panel `p`, row `r`,
/// column `c` at `p * k * PANEL + r * panel_stride(n, p) + c`. Padding is left as it is.
fn pack_panels(panels: &mut [f32], matrix: &[f32], k: usize, n: usize) {
    for panel in 0..n.div_ceil(PANEL) {
        let stride = panel_stride(n, panel);
        let columns = PANEL.min(n - panel * PANEL);
        for row in 0..k {
            panels[panel * k * PANEL + row * stride..][..columns]
                .copy_from_slice(&matrix[row * n + panel * PANEL..][..columns]);
        }
    }
}

/// Columns per packed row of panel `panel` of a matrix of `n` columns: [`PANEL`], or the last
/// panel's columns rounded up to a whole vector.
fn panel_stride(n: usize, panel: usize) -> usize {
    PANEL.min((n - panel * PANEL).next_multiple_of(16))
}

/// Row blocks of a product with `rows` rows: `(first row, rows in the block)`, as even as they
/// can be (50 rows: 5 of 6 and 4 of 5, not 8 of 6 and one of 2), so that every block keeps
/// enough accumulators in flight.
#[cfg(target_arch = "x86_64")]
fn row_blocks(rows: usize) -> impl Iterator<Item = (usize, usize)> {
    let blocks = rows.div_ceil(ROWS_PER_BLOCK);
    let (base, extra) = (rows / blocks.max(1), rows % blocks.max(1));
    (0..blocks).scan(0, move |row, index| {
        let block = base + usize::from(index < extra);
        let first = *row;
        *row += block;
        Some((first, block))
    })
}

/// Where a register block finds its left operand; the right one is always a packed panel (`k`
/// rows of `16 * vectors` values, padded to whole vectors; padding lanes are never stored).
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Operands {
    /// Left rows row-major (row `r`, inner index `i` at `a[r * lda + i]`)
    /// ([`PackedMatrix::product`]).
    RowMajorLeft,
    /// The left operand's transpose as stored (`a[i * lda + r]`) ([`transposed_product`]).
    TransposedLeft,
}

/// The shape of one register block.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy, Debug)]
struct Block {
    /// Rows of the destination (1 to [`ROWS_PER_BLOCK`]).
    rows: usize,
    /// 16-lane vectors per destination row (1 to [`VECTORS`]).
    vectors: usize,
    /// Destination columns, inside the last vector.
    width: usize,
    /// The inner dimension.
    k: usize,
}

/// [`block_avx512`] for a [`Block`] over slices: `a` (row stride `lda`), one packed panel `b`
/// and `c` (row stride `ldc`). Panics when a slice is shorter than
/// the kernel's reads or writes.
///
/// # Safety
/// The CPU supports AVX-512F.
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
unsafe fn block_dispatch(
    operands: Operands,
    block: Block,
    (a, lda): (&[f32], usize),
    b: &[f32],
    (c, ldc): (&mut [f32], usize),
    accumulate: bool,
) {
    let Block {
        rows,
        vectors,
        width,
        k,
    } = block;
    assert!(
        (1..=ROWS_PER_BLOCK).contains(&rows) && (1..=VECTORS).contains(&vectors) && k > 0,
        "register block of {rows} rows, {vectors} vectors, inner dimension {k}"
    );
    // Every vector of the block holds at least one column: the kernel forms each vector's
    // pointers, which must stay inside `b` and `c` even where its mask is empty.
    assert!(
        width > 16 * (vectors - 1) && width <= 16 * vectors && width <= ldc,
        "block of {width} columns in {vectors} vectors"
    );
    match operands {
        Operands::RowMajorLeft => {
            assert!(
                lda >= k && a.len() >= (rows - 1) * lda + k,
                "block's rows too short"
            );
        }
        Operands::TransposedLeft => {
            assert!(
                lda >= rows && a.len() >= (k - 1) * lda + rows,
                "block's columns too short"
            );
        }
    }
    assert!(b.len() >= k * 16 * vectors, "packed panel too short");
    assert!(
        c.len() >= (rows - 1) * ldc + width,
        "block's destination too short"
    );
    let (a, b, c) = (a.as_ptr(), b.as_ptr(), c.as_mut_ptr());
    let strides = Strides { lda, ldc };
    macro_rules! by_vectors {
        ($rows:literal, $transposed:literal) => {
            // SAFETY: the CPU supports AVX-512F (the caller's contract); the asserts above are
            // `block_avx512`'s bounds for these `rows`, `vectors` and operands.
            unsafe {
                match vectors {
                    4 => block_avx512::<$rows, 4, $transposed>(
                        k, a, b, c, strides, width, accumulate,
                    ),
                    3 => block_avx512::<$rows, 3, $transposed>(
                        k, a, b, c, strides, width, accumulate,
                    ),
                    2 => block_avx512::<$rows, 2, $transposed>(
                        k, a, b, c, strides, width, accumulate,
                    ),
                    _ => block_avx512::<$rows, 1, $transposed>(
                        k, a, b, c, strides, width, accumulate,
                    ),
                }
            }
        };
    }
    macro_rules! by_rows {
        ($transposed:literal) => {
            match rows {
                6 => by_vectors!(6, $transposed),
                5 => by_vectors!(5, $transposed),
                4 => by_vectors!(4, $transposed),
                3 => by_vectors!(3, $transposed),
                2 => by_vectors!(2, $transposed),
                _ => by_vectors!(1, $transposed),
            }
        };
    }
    match operands {
        Operands::RowMajorLeft => by_rows!(false),
        Operands::TransposedLeft => by_rows!(true),
    }
}

/// The row strides of a register block's operands and destination.
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy, Debug)]
struct Strides {
    lda: usize,
    ldc: usize,
}

/// One register block: `ROWS` destination rows times one packed panel `b` (`k` rows of
/// `16 * VECTORS` values) into `ROWS x width` values of `c` (row stride `ldc`). The left
/// operand's element `(r, i)` is `a[r * lda + i]`, or `a[i * lda + r]` with
/// `TRANSPOSED_LEFT`.
///
/// # Safety
/// The CPU supports AVX-512F; `a`, `b` and `c` are valid for the reads (and for `c` the
/// writes) above, for r < ROWS, i < k and columns j < width <= 16 * VECTORS.
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
#[target_feature(enable = "avx512f")]
unsafe fn block_avx512<const ROWS: usize, const VECTORS: usize, const TRANSPOSED_LEFT: bool>(
    k: usize,
    a: *const f32,
    b: *const f32,
    c: *mut f32,
    Strides { lda, ldc }: Strides,
    width: usize,
    accumulate: bool,
) {
    use std::arch::x86_64::{
        __m512, _mm512_fmadd_ps, _mm512_loadu_ps, _mm512_mask_storeu_ps, _mm512_maskz_loadu_ps,
        _mm512_set1_ps, _mm512_setzero_ps,
    };
    // Every vector holds at least one of the `width` columns (checked by `block_dispatch`).
    let mut masks = [u16::MAX; VECTORS];
    for (v, mask) in masks.iter_mut().enumerate() {
        let lanes = width - 16 * v;
        if lanes < 16 {
            *mask = (1u16 << lanes) - 1;
        }
    }
    let mut acc: [[__m512; VECTORS]; ROWS] = [[_mm512_setzero_ps(); VECTORS]; ROWS];
    if accumulate {
        for (r, row) in acc.iter_mut().enumerate() {
            for (v, value) in row.iter_mut().enumerate() {
                // SAFETY: a masked load touches only lanes j < width of row r.
                *value = unsafe { _mm512_maskz_loadu_ps(masks[v], c.add(r * ldc + 16 * v)) };
            }
        }
    }
    let panel = 16 * VECTORS;
    for i in 0..k {
        // SAFETY: i < k, so every vector lies inside the panel's `k * panel` values, and the
        // left operand's element inside `a` (the caller's bounds).
        unsafe {
            let mut columns = [_mm512_setzero_ps(); VECTORS];
            for (v, column) in columns.iter_mut().enumerate() {
                *column = _mm512_loadu_ps(b.add(i * panel + 16 * v));
            }
            for (r, row) in acc.iter_mut().enumerate() {
                let value = _mm512_set1_ps(if TRANSPOSED_LEFT {
                    *a.add(i * lda + r)
                } else {
                    *a.add(r * lda + i)
                });
                for (accumulator, &column) in row.iter_mut().zip(&columns) {
                    *accumulator = _mm512_fmadd_ps(value, column, *accumulator);
                }
            }
        }
    }
    for (r, row) in acc.iter().enumerate() {
        for (v, &value) in row.iter().enumerate() {
            // SAFETY: a masked store touches only lanes j < width of row r.
            unsafe { _mm512_mask_storeu_ps(c.add(r * ldc + 16 * v), masks[v], value) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values with no pattern a wrong index could match by accident.
    fn values(len: usize, seed: u32) -> Vec<f32> {
        (0..len)
            .map(|i| {
                let x = (i as u32).wrapping_mul(2_654_435_761).wrapping_add(seed);
                (x % 2001) as f32 / 1000.0 - 1.0
            })
            .collect()
    }

    #[test]
    fn c2_packed_product_equals_f64_sums_on_every_edge_shape() {
        // Rows around the 6-row block and its even split, columns around the 16-lane vector
        // and the 64-wide panel edges (a part-masked last vector in every position of a
        // panel), inner dimensions 1 and odd; transposed and plain matrices; with and without
        // accumulating.
        for &rows in &[1usize, 5, 6, 7, 12, 13, 50] {
            for &n in &[1usize, 15, 16, 17, 33, 48, 63, 64, 65, 127, 128, 212] {
                for &k in &[1usize, 7, 64] {
                    for transposed in [false, true] {
                        let a = values(rows * k, 1);
                        let m = values(k * n, 2);
                        let view = if transposed {
                            View::row_major(&m, n, k).t()
                        } else {
                            View::row_major(&m, k, n)
                        };
                        let packed = PackedMatrix::new(view);
                        assert_eq!((packed.rows(), packed.cols()), (k, n));
                        for accumulate in [false, true] {
                            let start = values(rows * n + 3, 3);
                            let mut dst = start.clone();
                            packed.product(&mut dst, &a, rows, accumulate);
                            for r in 0..rows {
                                for c in 0..n {
                                    let mut want = if accumulate {
                                        f64::from(start[r * n + c])
                                    } else {
                                        0.0
                                    };
                                    for i in 0..k {
                                        want += f64::from(a[r * k + i]) * f64::from(view.at(i, c));
                                    }
                                    let got = f64::from(dst[r * n + c]);
                                    assert!(
                                        (got - want).abs() <= 1e-5 * (k as f64 + 1.0),
                                        "{rows}x{k}x{n} t={transposed} acc={accumulate} \
                                         ({r},{c}): {got} vs {want}"
                                    );
                                }
                            }
                            // Nothing past the product's rows * n values is written.
                            assert_eq!(dst[rows * n..], start[rows * n..]);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn c2_packed_product_is_one_chain_per_element_whatever_the_row_count() {
        // A row's result must not depend on which block it falls in or how many rows the call
        // has (clause T8): each row of a 50-row product equals the same row computed alone,
        // bit for bit, and equals a sequential f32 fused multiply-add chain.
        let (rows, k, n) = (50, 212, 212);
        let a = values(rows * k, 4);
        let m = values(k * n, 5);
        let packed = PackedMatrix::new(View::row_major(&m, k, n));
        let mut whole = vec![0.0f32; rows * n];
        packed.product(&mut whole, &a, rows, false);
        // Where the CPU has the kernel family, the packed kernel must be the one that ran:
        // every element is one chain of fused multiply-adds started from the destination's
        // value (gemm, the fallback, adds the destination to its sum at the end instead, and
        // takes other paths for one row).
        if simd_available() {
            for r in [0usize, 4, 5, 37, 49] {
                let mut alone = vec![0.0f32; n];
                packed.product(&mut alone, &a[r * k..(r + 1) * k], 1, false);
                assert_eq!(alone, whole[r * n..(r + 1) * n], "row {r}");
            }
            let start = values(rows * n, 8);
            let mut accumulated = start.clone();
            packed.product(&mut accumulated, &a, rows, true);
            for r in 0..rows {
                for c in 0..n {
                    let (mut chain, mut from_zero) = (start[r * n + c], 0.0f32);
                    for i in 0..k {
                        chain = a[r * k + i].mul_add(m[i * n + c], chain);
                        from_zero = a[r * k + i].mul_add(m[i * n + c], from_zero);
                    }
                    assert_eq!(from_zero.to_bits(), whole[r * n + c].to_bits(), "({r},{c})");
                    assert_eq!(
                        chain.to_bits(),
                        accumulated[r * n + c].to_bits(),
                        "({r},{c})"
                    );
                }
            }
        }
    }

    #[test]
    fn c2_packed_products_with_an_empty_dimension_write_what_they_must() {
        // No rows or no columns: nothing written. No inner dimension: zeros, or the
        // destination unchanged when accumulating.
        let m = values(12, 1);
        let packed = PackedMatrix::new(View::row_major(&m, 3, 4));
        let mut untouched = vec![5.0f32; 8];
        packed.product(&mut untouched, &[], 0, false);
        assert_eq!(untouched, vec![5.0; 8]);
        let empty = PackedMatrix::new(View::row_major(&m, 0, 4));
        let mut dst = vec![5.0f32; 8];
        empty.product(&mut dst, &[], 2, true);
        assert_eq!(dst, vec![5.0; 8]);
        empty.product(&mut dst, &[], 2, false);
        assert_eq!(dst, vec![0.0; 8]);
        let narrow = PackedMatrix::new(View::row_major(&m, 3, 0));
        let mut dst = vec![5.0f32; 2];
        narrow.product(&mut dst, &values(6, 2), 2, false);
        assert_eq!(dst, vec![5.0; 2]);
    }

    #[test]
    fn c2_the_route_outside_avx512_multiplies_by_the_view_as_given() {
        // Without the packed kernel the product goes through gemm, whose path depends on the
        // operand's strides: the kept copy must be the same view, transposed or not, for the
        // other kernel families to keep the bits they had before packing.
        let (k, n) = (5, 3);
        let m = values(k * n, 9);
        for view in [View::row_major(&m, k, n), View::row_major(&m, n, k).t()] {
            let packed = PackedMatrix::new(view);
            let kept = packed.unpacked();
            assert_eq!(
                kept.is_transposed_row_major(),
                view.is_transposed_row_major()
            );
            for r in 0..k {
                for c in 0..n {
                    assert_eq!(kept.at(r, c).to_bits(), view.at(r, c).to_bits());
                }
            }
        }
        assert!(View::row_major(&m, n, k).t().is_transposed_row_major());
        assert!(!View::row_major(&m, k, n).is_transposed_row_major());
    }

    #[test]
    fn c2_a_cloned_packed_matrix_gives_the_same_products() {
        let (rows, k, n) = (7, 33, 70);
        let a = values(rows * k, 6);
        let m = values(k * n, 7);
        let packed = PackedMatrix::new(View::row_major(&m, k, n));
        let cloned = packed.clone();
        assert_eq!((cloned.rows(), cloned.cols()), (k, n));
        let (mut first, mut second) = (vec![0.0f32; rows * n], vec![1.0f32; rows * n]);
        packed.product(&mut first, &a, rows, false);
        cloned.product(&mut second, &a, rows, false);
        assert_eq!(first, second);
    }

    /// `A^T B` in f64 for the row-major `k x m` `a` and `k x n` `b`, plus `start`.
    fn transposed_in_f64(
        start: &[f32],
        a: &[f32],
        b: &[f32],
        k: usize,
        m: usize,
        n: usize,
    ) -> Vec<f64> {
        let mut out: Vec<f64> = start[..m * n].iter().map(|&v| f64::from(v)).collect();
        for i in 0..k {
            for r in 0..m {
                for c in 0..n {
                    out[r * n + c] += f64::from(a[i * m + r]) * f64::from(b[i * n + c]);
                }
            }
        }
        out
    }

    #[test]
    fn t3_transposed_product_equals_f64_sums_on_every_edge_shape() {
        // Rows of the result around the 6-row block, columns around the vector and panel
        // edges, inner dimensions 1, odd, and past one chunk (CHUNK = 256).
        for &m in &[1usize, 5, 6, 7, 13, 212] {
            for &n in &[1usize, 15, 16, 17, 65, 212] {
                for &k in &[1usize, 7, 50, 300] {
                    let a = values(k * m, 11);
                    let b = values(k * n, 12);
                    for accumulate in [false, true] {
                        let start = values(m * n + 5, 13);
                        let mut dst = start.clone();
                        transposed_product(&mut dst, (&a, m), (&b, n), k, accumulate);
                        let zeros = vec![0.0f32; m * n];
                        let want = transposed_in_f64(
                            if accumulate { &start } else { &zeros },
                            &a,
                            &b,
                            k,
                            m,
                            n,
                        );
                        for (index, (&got, &want)) in dst.iter().zip(&want).enumerate() {
                            assert!(
                                (f64::from(got) - want).abs() <= 1e-5 * (k as f64 + 1.0),
                                "{k}x{m}x{n} acc={accumulate} element {index}: {got} vs {want}"
                            );
                        }
                        assert_eq!(dst[m * n..], start[m * n..], "written past the result");
                    }
                }
            }
        }
    }

    #[test]
    fn t8_transposed_product_is_one_chain_per_element_across_chunks() {
        // Where the packed kernel runs, each element is one fused multiply-add chain over k in
        // order, from the destination when accumulating: chunking (k = 300 > CHUNK) and the
        // split of a sum over calls change no bit, so the backward pass's grouping of steps is
        // the only order there is.
        if !simd_available() {
            return;
        }
        let (k, m, n) = (300, 13, 70);
        let a = values(k * m, 14);
        let b = values(k * n, 15);
        let mut whole = vec![0.0f32; m * n];
        transposed_product(&mut whole, (&a, m), (&b, n), k, false);
        let mut split = vec![0.0f32; m * n];
        transposed_product(&mut split, (&a, m), (&b, n), 120, false);
        transposed_product(
            &mut split,
            (&a[120 * m..], m),
            (&b[120 * n..], n),
            k - 120,
            true,
        );
        for r in 0..m {
            for c in 0..n {
                let mut chain = 0.0f32;
                for i in 0..k {
                    chain = a[i * m + r].mul_add(b[i * n + c], chain);
                }
                assert_eq!(chain.to_bits(), whole[r * n + c].to_bits(), "({r},{c})");
                assert_eq!(
                    chain.to_bits(),
                    split[r * n + c].to_bits(),
                    "({r},{c}) split"
                );
            }
        }
    }

    #[test]
    fn t3_transposed_products_with_an_empty_dimension_write_what_they_must() {
        // No inner dimension (a shard without steps' terms): zeros, or the destination
        // unchanged when accumulating. No rows or no columns: nothing written.
        let mut dst = vec![5.0f32; 6];
        transposed_product(&mut dst, (&[], 2), (&[], 3), 0, true);
        assert_eq!(dst, vec![5.0; 6]);
        transposed_product(&mut dst, (&[], 2), (&[], 3), 0, false);
        assert_eq!(dst, vec![0.0; 6]);
        let mut untouched = vec![5.0f32; 4];
        transposed_product(&mut untouched, (&[], 0), (&values(6, 1), 3), 2, false);
        transposed_product(&mut untouched, (&values(6, 1), 3), (&[], 0), 2, false);
        assert_eq!(untouched, vec![5.0; 4]);
    }

    #[test]
    #[should_panic(expected = "right operand too short")]
    fn t3_transposed_product_refuses_a_short_operand() {
        let mut dst = vec![0.0f32; 6];
        transposed_product(&mut dst, (&values(6, 1), 2), (&values(8, 2), 3), 3, false);
    }

    #[test]
    #[should_panic(expected = "destination too short")]
    fn c2_packed_product_refuses_short_destination() {
        let m = values(6, 1);
        let packed = PackedMatrix::new(View::row_major(&m, 2, 3));
        let mut dst = vec![0.0f32; 5];
        packed.product(&mut dst, &[1.0, 2.0, 3.0, 4.0], 2, false);
    }
}
