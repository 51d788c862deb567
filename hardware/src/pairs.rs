//! Exact integer products in 16-bit pairs for the fast engine (SPEC.md clause H13).
//!
//! A [`PairMatrix`] holds a tensor whose integers fit i16, packed once; [`PairMatrix::product`]
//! multiplies i16 operand rows by it into i32 sums. The kernel is chosen by the dispatch level
//! ([`PairKernel::at`]): on CPUs with AVX-512 VNNI `vpdpwssd` (32 multiply-adds per
//! instruction, four times binary64's fused multiply-add on the same vector width); with AVX2
//! `vpmaddwd` and `vpaddd` (16 multiply-adds per pair of instructions); elsewhere a plain loop.
//! All compute in wrapping 32-bit arithmetic, which is exact modulo 2^32 whatever the order of
//! the additions (`vpmaddwd`'s sum of two products cannot wrap: no piece is `-2^15`), so all
//! give the exact sum
//! whenever that sum lies in i32: the caller proves it from the tensor's column sums and the
//! operand's limit ([`PairMatrix::fits`]), as H5 proves the accumulator width. Wider operands
//! (the 24-bit memory) are split into 16-bit pieces ([`Split`]) and multiplied piece by piece.

use hsnn_spec::isa::IsaLevel;

/// 16-lane i32 vectors per packed panel.
#[cfg(target_arch = "x86_64")]
const VECTORS: usize = 4;
/// Output columns per packed panel.
#[cfg(target_arch = "x86_64")]
const PANEL: usize = 16 * VECTORS;
/// Operand rows per register block: 6 x 4 = 24 accumulators of the 32 vector registers, enough
/// independent chains to hide `vpdpwssd`'s latency, few panel loads per instruction.
#[cfg(target_arch = "x86_64")]
const ROWS_PER_BLOCK: usize = 6;
/// The AVX2 kernel's 8-lane i32 vectors per register block (a quarter panel of 32 columns).
#[cfg(target_arch = "x86_64")]
const AVX2_VECTORS: usize = 4;
/// The AVX2 kernel's operand rows per register block: 3 x 4 = 12 accumulators of the 16
/// vector registers, the rest for the panel's columns and the broadcast pair.
#[cfg(target_arch = "x86_64")]
const AVX2_ROWS: usize = 3;

/// The largest magnitude a 16-bit piece of an operand may have: i16's symmetric range (H1), so
/// that no product is `(-2^15)^2`.
pub(crate) const PIECE_LIMIT: i64 = (1 << 15) - 1;

/// How an operand of integers up to `limit` in magnitude becomes i16 pieces: whole, or split
/// as `y = hi 2^shift + lo` with `lo` in `[0, 2^shift)` and `hi = y >> shift` (floor), both
/// within [`PIECE_LIMIT`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Split {
    /// `|y| <= PIECE_LIMIT`: the operand itself.
    Whole,
    /// Two pieces, `hi` and `lo`.
    Halves {
        /// The bits in `lo`.
        shift: u32,
    },
}

impl Split {
    /// The split for an operand whose magnitude is at most `limit`, or `None` when two 16-bit
    /// pieces cannot hold it (beyond 29 magnitude bits).
    pub(crate) fn for_limit(limit: i64) -> Option<Split> {
        if limit <= PIECE_LIMIT {
            return Some(Split::Whole);
        }
        // Magnitude bits split as evenly as possible keeps both pieces' limits, and so the
        // proof of each piece's sum, as small as they can be.
        let magnitude_bits = 64 - limit.unsigned_abs().leading_zeros();
        let shift = magnitude_bits.div_ceil(2);
        let split = Split::Halves { shift };
        (split.piece_limit(limit) <= PIECE_LIMIT).then_some(split)
    }

    /// The largest magnitude of any piece of an operand up to `limit`.
    pub(crate) fn piece_limit(self, limit: i64) -> i64 {
        match self {
            Split::Whole => limit,
            Split::Halves { shift } => {
                // floor division: -limit >> shift has the larger magnitude of the two signs.
                let high = (-limit >> shift).abs().max(limit >> shift);
                high.max((1 << shift) - 1)
            }
        }
    }

    /// The pieces of `values` (each within the limit this split was made for): `hi` gets the
    /// operand itself when whole.
    #[inline(always)]
    pub(crate) fn fill(self, values: &[i64], hi: &mut [i16], lo: &mut [i16]) {
        match self {
            Split::Whole => {
                for (piece, &value) in hi.iter_mut().zip(values) {
                    *piece = value as i16;
                }
            }
            Split::Halves { shift } => {
                let mask = (1i64 << shift) - 1;
                for ((high, low), &value) in hi.iter_mut().zip(lo.iter_mut()).zip(values) {
                    *high = (value >> shift) as i16;
                    *low = (value & mask) as i16;
                }
            }
        }
    }
}

/// A `k x n` tensor of integers within [`PIECE_LIMIT`], packed for [`PairMatrix::product`]
/// (clause H13): panels of 64 columns, each holding rows `2p` and `2p + 1` interleaved column
/// by column (the layout `vpdpwssd` reads), the last panel rounded up to whole vectors and
/// padded with zeros, as is an odd `k`'s last pair.
#[derive(Debug, Clone)]
pub(crate) struct PairMatrix {
    k: usize,
    n: usize,
    /// Row-major `k x n`: the portable route's operand.
    plain: Vec<i16>,
    /// The kernel its products run on.
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    kernel: PairKernel,
    /// The SIMD kernels' panels (the same layout for both); empty for the portable loop.
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    panels: Vec<i16>,
    /// `max_j sum_i |W_ij|`: the bound of every output's sum per unit of operand.
    column_sum_limit: i64,
}

/// The kernel of the pair products (SPEC H13): every one gives the same exact sums.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PairKernel {
    /// Plain loops, any CPU.
    Portable,
    /// AVX2 `vpmaddwd` on 8-lane vectors.
    Avx2,
    /// AVX-512 VNNI `vpdpwssd` on 16-lane vectors.
    Vnni,
}

impl PairKernel {
    /// The widest kernel this CPU runs at dispatch level `level` or below.
    pub(crate) fn at(level: IsaLevel) -> PairKernel {
        if level >= IsaLevel::Avx512 && vnni_available() {
            PairKernel::Vnni
        } else if level >= IsaLevel::Avx2 && IsaLevel::Avx2.supported() {
            PairKernel::Avx2
        } else {
            PairKernel::Portable
        }
    }

    /// The dispatch level this kernel belongs to.
    pub(crate) fn level(self) -> IsaLevel {
        match self {
            PairKernel::Portable => IsaLevel::Portable,
            PairKernel::Avx2 => IsaLevel::Avx2,
            PairKernel::Vnni => IsaLevel::Avx512,
        }
    }
}

/// Whether this CPU runs the VNNI kernel.
fn vnni_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bw")
            && std::arch::is_x86_feature_detected!("avx512vnni")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

impl PairMatrix {
    /// Packs the `rows x cols` row-major integers `data` (transposed first when `transpose`,
    /// so that the product reads `data^T`) for `kernel` (one [`PairKernel::at`] gave, so that
    /// the CPU runs it), or `None` when an entry lies beyond [`PIECE_LIMIT`].
    pub(crate) fn new(
        data: &[i64],
        rows: usize,
        cols: usize,
        transpose: bool,
        kernel: PairKernel,
    ) -> Option<Self> {
        assert_eq!(data.len(), rows * cols, "tensor of the wrong size");
        if data.iter().any(|value| value.abs() > PIECE_LIMIT) {
            return None;
        }
        let (k, n) = if transpose {
            (cols, rows)
        } else {
            (rows, cols)
        };
        let entry = |i: usize, j: usize| {
            if transpose {
                data[j * cols + i]
            } else {
                data[i * cols + j]
            }
        };
        let mut plain = vec![0i16; k * n];
        let mut column_sums = vec![0i64; n];
        for i in 0..k {
            for j in 0..n {
                let value = entry(i, j);
                plain[i * n + j] = value as i16;
                column_sums[j] += value.abs();
            }
        }
        let column_sum_limit = column_sums.into_iter().max().unwrap_or(0);
        #[cfg_attr(not(target_arch = "x86_64"), allow(unused_mut))]
        let mut matrix = PairMatrix {
            k,
            n,
            plain,
            kernel,
            panels: Vec::new(),
            column_sum_limit,
        };
        #[cfg(target_arch = "x86_64")]
        // An empty tensor packs to no panels, and `product` returns before reading them.
        if kernel != PairKernel::Portable {
            let pairs = k.div_ceil(2);
            let mut panels = vec![0i16; 2 * pairs * n.next_multiple_of(16)];
            for panel in 0..n.div_ceil(PANEL) {
                let stride = panel_stride(n, panel);
                let base = 2 * pairs * panel * PANEL;
                for i in 0..k {
                    for offset in 0..PANEL.min(n - panel * PANEL) {
                        panels[base + (i / 2) * 2 * stride + 2 * offset + i % 2] =
                            matrix.plain[i * n + panel * PANEL + offset];
                    }
                }
            }
            matrix.panels = panels;
        }
        Some(matrix)
    }

    /// Columns.
    pub(crate) fn cols(&self) -> usize {
        self.n
    }

    /// Whether every output's sum over operands of magnitude at most `operand_limit` lies in
    /// i32, so that [`PairMatrix::product`] gives it exactly (clause H13's proof, H5's bound
    /// for one term).
    pub(crate) fn fits(&self, operand_limit: i64) -> bool {
        self.column_sum_limit
            .checked_mul(operand_limit)
            .is_some_and(|bound| bound <= i64::from(i32::MAX))
    }

    /// `dst[r * ldc + j] (+)= sum_i a[r * lda + i] W[i][j]` for `r < rows`, `j < n`, in
    /// wrapping i32 arithmetic (exact when [`PairMatrix::fits`] the operand), added to `dst`
    /// when `accumulate`. Panics when a slice is too short or a stride shorter than its row.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn product(
        &self,
        dst: &mut [i32],
        ldc: usize,
        a: &[i16],
        lda: usize,
        rows: usize,
        accumulate: bool,
    ) {
        let (k, n) = (self.k, self.n);
        if rows == 0 || n == 0 {
            return;
        }
        assert!(
            ldc >= n && lda >= k,
            "product strides shorter than their rows"
        );
        assert!(
            dst.len() >= (rows - 1) * ldc + n,
            "product destination too short"
        );
        assert!(a.len() >= (rows - 1) * lda + k, "product operand too short");
        if !accumulate {
            for row in 0..rows {
                dst[row * ldc..][..n].fill(0);
            }
        }
        if k == 0 {
            return;
        }
        #[cfg(target_arch = "x86_64")]
        match self.kernel {
            PairKernel::Vnni => return self.product_vnni(dst, ldc, a, lda, rows),
            PairKernel::Avx2 => return self.product_avx2(dst, ldc, a, lda, rows),
            PairKernel::Portable => {}
        }
        for row in 0..rows {
            let out = &mut dst[row * ldc..][..n];
            for (i, &y) in a[row * lda..][..k].iter().enumerate() {
                let y = i32::from(y);
                for (out, &w) in out.iter_mut().zip(&self.plain[i * n..][..n]) {
                    *out = out.wrapping_add(y * i32::from(w));
                }
            }
        }
    }

    /// [`PairMatrix::product`]'s accumulation through the VNNI kernel, block by block.
    #[cfg(target_arch = "x86_64")]
    fn product_vnni(&self, dst: &mut [i32], ldc: usize, a: &[i16], lda: usize, rows: usize) {
        let (k, n) = (self.k, self.n);
        let pairs = k.div_ceil(2);
        // Row blocks as even as they can be (50 rows: 5 of 6 and 4 of 5), so that every
        // block keeps enough accumulators in flight.
        let blocks = rows.div_ceil(ROWS_PER_BLOCK);
        let (base, extra) = (rows / blocks, rows % blocks);
        for panel in 0..n.div_ceil(PANEL) {
            let width = PANEL.min(n - panel * PANEL);
            let stride = panel_stride(n, panel);
            let packed = &self.panels[2 * pairs * panel * PANEL..][..2 * pairs * stride];
            let mut row = 0;
            for index in 0..blocks {
                let block = base + usize::from(index < extra);
                let a_block = &a[row * lda..(row + block - 1) * lda + k];
                let c_block = &mut dst[row * ldc + panel * PANEL..];
                // SAFETY: the kernel is VNNI only where AVX-512F, BW and VNNI were detected
                // (`PairKernel::at`), the kernel's target features; `block_dispatch` checks the
                // slices' lengths against what its kernel reads and writes.
                #[allow(unsafe_code)]
                unsafe {
                    block_dispatch(
                        block,
                        stride / 16,
                        k,
                        a_block,
                        lda,
                        packed,
                        c_block,
                        ldc,
                        width,
                    );
                }
                row += block;
            }
        }
    }
    /// [`PairMatrix::product`]'s accumulation through the AVX2 kernel: each panel in quarters
    /// of 32 columns (the panels' layout is the VNNI kernel's; a quarter reads the first 16
    /// values of its columns' part of each packed row pair), block by block.
    #[cfg(target_arch = "x86_64")]
    fn product_avx2(&self, dst: &mut [i32], ldc: usize, a: &[i16], lda: usize, rows: usize) {
        let (k, n) = (self.k, self.n);
        let pairs = k.div_ceil(2);
        let blocks = rows.div_ceil(AVX2_ROWS);
        let (base, extra) = (rows / blocks, rows % blocks);
        let quarter = 8 * AVX2_VECTORS;
        for panel in 0..n.div_ceil(PANEL) {
            let width = PANEL.min(n - panel * PANEL);
            let stride = panel_stride(n, panel);
            let packed = &self.panels[2 * pairs * panel * PANEL..][..2 * pairs * stride];
            for part in 0..width.div_ceil(quarter) {
                let part_width = quarter.min(width - part * quarter);
                let mut row = 0;
                for index in 0..blocks {
                    let block = base + usize::from(index < extra);
                    let a_block = &a[row * lda..(row + block - 1) * lda + k];
                    let c_block = &mut dst[row * ldc + panel * PANEL + part * quarter..];
                    // SAFETY: the kernel is AVX2 only where AVX2 was detected
                    // (`PairKernel::at`), the kernel's target feature; `block_dispatch_avx2`
                    // checks the slices' lengths against what its kernel reads and writes.
                    #[allow(unsafe_code)]
                    unsafe {
                        block_dispatch_avx2(
                            block,
                            part_width.div_ceil(8),
                            k,
                            a_block,
                            lda,
                            &packed[2 * part * quarter..],
                            2 * stride,
                            c_block,
                            ldc,
                            part_width,
                        );
                    }
                    row += block;
                }
            }
        }
    }
}

/// Columns per packed row pair of panel `panel` of a tensor of `n` columns: [`PANEL`], or the
/// last panel's columns rounded up to a whole vector.
#[cfg(target_arch = "x86_64")]
fn panel_stride(n: usize, panel: usize) -> usize {
    PANEL.min((n - panel * PANEL).next_multiple_of(16))
}

/// [`block_vnni`] for `rows` (1 to [`ROWS_PER_BLOCK`]) and `vectors` (1 to [`VECTORS`]) over
/// slices. Panics when a slice is shorter than the kernel's reads or writes: `a` needs its
/// `rows` rows of `k` values at stride `lda`, `b` (one packed panel) `2 * ceil(k/2) * 16 *
/// vectors` values, and `c` the `width` values of each of its `rows` rows of stride `ldc`.
///
/// # Safety
/// The CPU supports AVX-512F, BW and VNNI.
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code, clippy::too_many_arguments)]
unsafe fn block_dispatch(
    rows: usize,
    vectors: usize,
    k: usize,
    a: &[i16],
    lda: usize,
    b: &[i16],
    c: &mut [i32],
    ldc: usize,
    width: usize,
) {
    assert!(
        (1..=ROWS_PER_BLOCK).contains(&rows) && (1..=VECTORS).contains(&vectors),
        "register block of {rows} rows and {vectors} vectors"
    );
    // Every vector of the block holds at least one column: the kernel forms each vector's
    // destination pointer, which must stay inside `c` even where its mask is partial.
    assert!(
        width > 16 * (vectors - 1) && width <= 16 * vectors && width <= ldc,
        "block of {width} columns in {vectors} vectors"
    );
    assert!(
        k > 0 && lda >= k,
        "block's rows of {k} values at stride {lda}"
    );
    assert!(a.len() >= (rows - 1) * lda + k, "block's rows too short");
    assert!(
        b.len() >= 2 * k.div_ceil(2) * 16 * vectors,
        "packed panel too short"
    );
    assert!(
        c.len() >= (rows - 1) * ldc + width,
        "block's destination too short"
    );
    let (a, b, c) = (a.as_ptr(), b.as_ptr(), c.as_mut_ptr());
    macro_rules! by_vectors {
        ($rows:literal) => {
            // SAFETY: the CPU supports the kernel's features (the caller's contract); the
            // asserts above are `block_vnni`'s bounds for these `rows` and `vectors`.
            unsafe {
                match vectors {
                    4 => block_vnni::<$rows, 4>(k, a, lda, b, c, ldc, width),
                    3 => block_vnni::<$rows, 3>(k, a, lda, b, c, ldc, width),
                    2 => block_vnni::<$rows, 2>(k, a, lda, b, c, ldc, width),
                    _ => block_vnni::<$rows, 1>(k, a, lda, b, c, ldc, width),
                }
            }
        };
    }
    match rows {
        6 => by_vectors!(6),
        5 => by_vectors!(5),
        4 => by_vectors!(4),
        3 => by_vectors!(3),
        2 => by_vectors!(2),
        _ => by_vectors!(1),
    }
}

/// One register block: `ROWS` operand rows (stride `lda`, `k` values each) times one packed
/// panel of `16 * VECTORS` columns, added into `ROWS x width` values of `c` (stride `ldc`).
///
/// # Safety
/// The CPU supports AVX-512F, BW and VNNI; `a` is valid for reads of `a[r * lda + i]`, r <
/// ROWS, i < k (k >= 1); `b` for `2 * ceil(k/2) * 16 * VECTORS` reads; `c` for reads and
/// writes of `c[r * ldc + j]`, r < ROWS, j < width, 16 * (VECTORS - 1) < width <= 16 * VECTORS.
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
unsafe fn block_vnni<const ROWS: usize, const VECTORS: usize>(
    k: usize,
    a: *const i16,
    lda: usize,
    b: *const i16,
    c: *mut i32,
    ldc: usize,
    width: usize,
) {
    use std::arch::x86_64::{
        __m512i, _mm512_dpwssd_epi32, _mm512_loadu_si512, _mm512_mask_storeu_epi32,
        _mm512_maskz_loadu_epi32, _mm512_set1_epi32, _mm512_setzero_si512,
    };
    let mut masks = [u16::MAX; VECTORS];
    for (v, mask) in masks.iter_mut().enumerate() {
        let lanes = width - 16 * v;
        if lanes < 16 {
            *mask = (1u16 << lanes) - 1;
        }
    }
    let mut acc: [[__m512i; VECTORS]; ROWS] = [[_mm512_setzero_si512(); VECTORS]; ROWS];
    for (r, row) in acc.iter_mut().enumerate() {
        for (v, value) in row.iter_mut().enumerate() {
            // SAFETY: a masked load touches only lanes j < width of row r.
            *value = unsafe { _mm512_maskz_loadu_epi32(masks[v], c.add(r * ldc + 16 * v).cast()) };
        }
    }
    let panel = 2 * 16 * VECTORS;
    let whole_pairs = k / 2;
    for p in 0..k.div_ceil(2) {
        // The pair (a[2p], a[2p + 1]) as one i32, low half first, as vpdpwssd reads it; an odd
        // k's last pair is (a[k - 1], 0), its packed row padded with zeros.
        let pair_at = |r: usize| -> i32 {
            // SAFETY: 2p + 1 < k for a whole pair, 2p = k - 1 for the odd tail: both inside
            // row r's k values.
            unsafe {
                let at = a.add(r * lda + 2 * p);
                if p < whole_pairs {
                    at.cast::<i32>().read_unaligned()
                } else {
                    i32::from(at.read() as u16)
                }
            }
        };
        // SAFETY: p < ceil(k/2), so every vector lies inside the panel's
        // `2 * ceil(k/2) * 16 * VECTORS` values.
        unsafe {
            let mut columns = [_mm512_setzero_si512(); VECTORS];
            for (v, column) in columns.iter_mut().enumerate() {
                *column = _mm512_loadu_si512(b.add(p * panel + 32 * v).cast());
            }
            for (r, row) in acc.iter_mut().enumerate() {
                let pair = _mm512_set1_epi32(pair_at(r));
                for (accumulator, &column) in row.iter_mut().zip(&columns) {
                    *accumulator = _mm512_dpwssd_epi32(*accumulator, pair, column);
                }
            }
        }
    }
    for (r, row) in acc.iter().enumerate() {
        for (v, &value) in row.iter().enumerate() {
            // SAFETY: a masked store touches only lanes j < width of row r.
            unsafe { _mm512_mask_storeu_epi32(c.add(r * ldc + 16 * v).cast(), masks[v], value) };
        }
    }
}

/// [`block_avx2`] for `rows` (1 to [`AVX2_ROWS`]) and `vectors` (1 to [`AVX2_VECTORS`]) over
/// slices. Panics when a slice is shorter than the kernel's reads or writes: `a` needs its
/// `rows` rows of `k` values at stride `lda`, `b` (a part of one packed panel whose row pairs
/// lie `pair_stride` values apart) `(ceil(k/2) - 1) * pair_stride + 16 * vectors` values, and
/// `c` the `width` values of each of its `rows` rows of stride `ldc`.
///
/// # Safety
/// The CPU supports AVX2.
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code, clippy::too_many_arguments)]
unsafe fn block_dispatch_avx2(
    rows: usize,
    vectors: usize,
    k: usize,
    a: &[i16],
    lda: usize,
    b: &[i16],
    pair_stride: usize,
    c: &mut [i32],
    ldc: usize,
    width: usize,
) {
    assert!(
        (1..=AVX2_ROWS).contains(&rows) && (1..=AVX2_VECTORS).contains(&vectors),
        "register block of {rows} rows and {vectors} vectors"
    );
    // Every vector of the block holds at least one column: the kernel forms each vector's
    // destination pointer, which must stay inside `c` even where its mask is partial.
    assert!(
        width > 8 * (vectors - 1) && width <= 8 * vectors && width <= ldc,
        "block of {width} columns in {vectors} vectors"
    );
    assert!(
        k > 0 && lda >= k,
        "block's rows of {k} values at stride {lda}"
    );
    assert!(a.len() >= (rows - 1) * lda + k, "block's rows too short");
    assert!(
        pair_stride >= 16 * vectors && b.len() >= (k.div_ceil(2) - 1) * pair_stride + 16 * vectors,
        "packed panel too short"
    );
    assert!(
        c.len() >= (rows - 1) * ldc + width,
        "block's destination too short"
    );
    let (a, b, c) = (a.as_ptr(), b.as_ptr(), c.as_mut_ptr());
    macro_rules! by_vectors {
        ($rows:literal) => {
            // SAFETY: the CPU supports AVX2 (the caller's contract); the asserts above are
            // `block_avx2`'s bounds for these `rows` and `vectors`.
            unsafe {
                match vectors {
                    4 => block_avx2::<$rows, 4>(k, a, lda, b, pair_stride, c, ldc, width),
                    3 => block_avx2::<$rows, 3>(k, a, lda, b, pair_stride, c, ldc, width),
                    2 => block_avx2::<$rows, 2>(k, a, lda, b, pair_stride, c, ldc, width),
                    _ => block_avx2::<$rows, 1>(k, a, lda, b, pair_stride, c, ldc, width),
                }
            }
        };
    }
    match rows {
        3 => by_vectors!(3),
        2 => by_vectors!(2),
        _ => by_vectors!(1),
    }
}

/// One AVX2 register block: `ROWS` operand rows (stride `lda`, `k` values each) times
/// `8 * VECTORS` columns of a packed panel (row pair `p` at `b + p * pair_stride`, its columns'
/// pairs interleaved), added into `ROWS x width` values of `c` (stride `ldc`): per pair and
/// vector one `vpmaddwd` (8 columns, two multiply-adds each, into i32) and one wrapping
/// `vpaddd`.
///
/// # Safety
/// The CPU supports AVX2; `a` is valid for reads of `a[r * lda + i]`, r < ROWS, i < k (k >= 1);
/// `b` for reads of `b[p * pair_stride + j]`, p < ceil(k/2), j < 16 * VECTORS; `c` for reads
/// and writes of `c[r * ldc + j]`, r < ROWS, j < width, 8 * (VECTORS - 1) < width <= 8 *
/// VECTORS.
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code, clippy::too_many_arguments)]
#[target_feature(enable = "avx2")]
unsafe fn block_avx2<const ROWS: usize, const VECTORS: usize>(
    k: usize,
    a: *const i16,
    lda: usize,
    b: *const i16,
    pair_stride: usize,
    c: *mut i32,
    ldc: usize,
    width: usize,
) {
    use std::arch::x86_64::{
        __m256i, _mm256_add_epi32, _mm256_cmpgt_epi32, _mm256_loadu_si256, _mm256_madd_epi16,
        _mm256_maskload_epi32, _mm256_maskstore_epi32, _mm256_set1_epi32, _mm256_setr_epi32,
        _mm256_setzero_si256, _mm256_storeu_si256,
    };
    // The last vector's lanes below `width`: all of them where `width` fills it.
    let last = VECTORS - 1;
    let mask = _mm256_cmpgt_epi32(
        _mm256_set1_epi32((width - 8 * last) as i32),
        _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
    );
    let mut acc: [[__m256i; VECTORS]; ROWS] = [[_mm256_setzero_si256(); VECTORS]; ROWS];
    for (r, row) in acc.iter_mut().enumerate() {
        for (v, value) in row.iter_mut().enumerate() {
            let at = c.wrapping_add(r * ldc + 8 * v);
            // SAFETY: vectors before the last lie inside row r's `width` values; the last is
            // read through its mask, which touches only lanes j < width.
            *value = unsafe {
                if v < last {
                    _mm256_loadu_si256(at.cast())
                } else {
                    _mm256_maskload_epi32(at.cast_const(), mask)
                }
            };
        }
    }
    let whole_pairs = k / 2;
    for p in 0..k.div_ceil(2) {
        // The pair (a[2p], a[2p + 1]) as one i32, low half first, as vpmaddwd reads it; an odd
        // k's last pair is (a[k - 1], 0), its packed row padded with zeros.
        let pair_at = |r: usize| -> i32 {
            // SAFETY: 2p + 1 < k for a whole pair, 2p = k - 1 for the odd tail: both inside
            // row r's k values.
            unsafe {
                let at = a.add(r * lda + 2 * p);
                if p < whole_pairs {
                    at.cast::<i32>().read_unaligned()
                } else {
                    i32::from(at.read() as u16)
                }
            }
        };
        // SAFETY: p < ceil(k/2) and v < VECTORS, so every load lies inside the
        // `p * pair_stride + 16 * VECTORS` values the caller guarantees.
        unsafe {
            let mut columns = [_mm256_setzero_si256(); VECTORS];
            for (v, column) in columns.iter_mut().enumerate() {
                *column = _mm256_loadu_si256(b.add(p * pair_stride + 16 * v).cast());
            }
            for (r, row) in acc.iter_mut().enumerate() {
                let pair = _mm256_set1_epi32(pair_at(r));
                for (accumulator, &column) in row.iter_mut().zip(&columns) {
                    *accumulator = _mm256_add_epi32(*accumulator, _mm256_madd_epi16(pair, column));
                }
            }
        }
    }
    for (r, row) in acc.iter().enumerate() {
        for (v, &value) in row.iter().enumerate() {
            let at = c.wrapping_add(r * ldc + 8 * v);
            // SAFETY: as for the loads: whole vectors inside the row's `width` values, the
            // last through its mask.
            unsafe {
                if v < last {
                    _mm256_storeu_si256(at.cast(), value);
                } else {
                    _mm256_maskstore_epi32(at.cast(), mask, value);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Integers in [-limit, limit] with no pattern a wrong index could match by accident.
    fn integers(len: usize, seed: u64, limit: i64) -> Vec<i64> {
        (0..len)
            .map(|i| {
                let x = (i as u64 ^ seed).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 20;
                (x % (2 * limit as u64 + 1)) as i64 - limit
            })
            .collect()
    }

    /// The kernels of every dispatch level this CPU has, each once.
    fn kernels() -> Vec<PairKernel> {
        let mut kernels: Vec<PairKernel> = IsaLevel::available()
            .into_iter()
            .map(PairKernel::at)
            .collect();
        kernels.dedup();
        kernels
    }

    /// The kernels run at each level of this CPU: the portable loop always, AVX2 on an AVX2
    /// machine, each level's own kernel (so the tests below run every one the CPU has).
    #[test]
    fn h13_each_level_runs_its_own_pair_kernel() {
        assert_eq!(PairKernel::at(IsaLevel::Portable), PairKernel::Portable);
        if IsaLevel::Avx2.supported() {
            assert_eq!(PairKernel::at(IsaLevel::Avx2), PairKernel::Avx2);
        }
        for level in IsaLevel::available() {
            assert!(PairKernel::at(level).level() <= level);
        }
        assert_eq!(kernels().len(), {
            let mut levels: Vec<IsaLevel> = IsaLevel::available()
                .into_iter()
                .map(|level| PairKernel::at(level).level())
                .collect();
            levels.dedup();
            levels.len()
        });
    }

    /// H13: every product, on every kernel the CPU has (VNNI, AVX2, the portable loop), equals
    /// the sum computed in i64 one term at a time, on shapes around every edge of the kernels
    /// (rows around the 6-row and 3-row blocks and their even split, columns around the
    /// 8- and 16-lane vectors, the 32-column quarter and the 64-column panel, odd and even k,
    /// operand strides longer than a row), from zero and accumulated, nothing written outside
    /// the product.
    #[test]
    fn h13_pair_product_equals_i64_sums_on_every_edge_shape() {
        for &rows in &[1usize, 2, 3, 4, 5, 6, 7, 13, 50] {
            for &n in &[
                1usize, 7, 8, 9, 15, 16, 17, 31, 33, 63, 64, 65, 100, 212, 256,
            ] {
                for &k in &[1usize, 2, 3, 64, 211] {
                    for (transpose, kernel) in kernels()
                        .into_iter()
                        .flat_map(|kernel| [(false, kernel), (true, kernel)])
                    {
                        let (r, c) = if transpose { (n, k) } else { (k, n) };
                        let data = integers(k * n, (rows * 31 + n * 7 + k) as u64, 32_767);
                        let matrix = PairMatrix::new(&data, r, c, transpose, kernel)
                            .expect("entries within i16");
                        assert_eq!(matrix.panels.is_empty(), kernel == PairKernel::Portable);
                        let weight = |i: usize, j: usize| {
                            if transpose {
                                data[j * c + i]
                            } else {
                                data[i * c + j]
                            }
                        };
                        let (lda, ldc) = (k + 3, n + 5);
                        let a: Vec<i16> = integers(rows * lda, 99, 2_047)
                            .into_iter()
                            .map(|value| value as i16)
                            .collect();
                        let start = integers(rows * ldc, 7, 1000);
                        for &accumulate in &[false, true] {
                            let mut dst: Vec<i32> = start.iter().map(|&v| v as i32).collect();
                            matrix.product(&mut dst, ldc, &a, lda, rows, accumulate);
                            for row in 0..rows {
                                for j in 0..ldc {
                                    let expected = if j >= n {
                                        start[row * ldc + j]
                                    } else {
                                        let from =
                                            if accumulate { start[row * ldc + j] } else { 0 };
                                        from + (0..k)
                                            .map(|i| i64::from(a[row * lda + i]) * weight(i, j))
                                            .sum::<i64>()
                                    };
                                    assert_eq!(
                                        i64::from(dst[row * ldc + j]),
                                        expected,
                                        "rows {rows} n {n} k {k} transpose {transpose} \
                                         {kernel:?} accumulate {accumulate} at ({row}, {j})"
                                    );
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// H13: a product with no rows, no columns or no inner terms is the empty sum: it writes
    /// nothing outside its rows and columns, and zeroes (or keeps, accumulating) the rest.
    #[test]
    fn h13_pair_product_of_empty_shapes_is_the_empty_sum() {
        for kernel in kernels() {
            for (k, n, rows) in [(3usize, 4usize, 0usize), (3, 0, 2), (0, 4, 2), (0, 0, 0)] {
                let data = integers(k * n, 5, 100);
                let matrix =
                    PairMatrix::new(&data, k, n, false, kernel).expect("entries within i16");
                let (lda, ldc) = (k + 1, n + 1);
                let a = vec![7i16; rows.max(1) * lda];
                for accumulate in [false, true] {
                    let mut dst = vec![9i32; rows.max(1) * ldc];
                    matrix.product(&mut dst, ldc, &a, lda, rows, accumulate);
                    for (index, &value) in dst.iter().enumerate() {
                        let inside = index / ldc < rows && index % ldc < n;
                        let expected = if inside && !accumulate { 0 } else { 9 };
                        assert_eq!(
                            value, expected,
                            "k {k} n {n} rows {rows} {kernel:?} accumulate {accumulate} at {index}"
                        );
                    }
                }
            }
        }
    }

    /// H13: partial sums that leave i32 still give the exact complete sum when it fits
    /// (addition modulo 2^32), as H5 says of a wrapping accumulator.
    #[test]
    fn h13_pair_product_wraps_its_partial_sums_exactly() {
        // 32767 * 32767 * 2 = 2^31 - 2^17 + 2: every pair of the first half pushes past i32,
        // the second half brings the sum back to 2.
        let k = 8;
        let mut data = vec![32_767i64; k];
        for value in &mut data[k / 2..] {
            *value = -32_767;
        }
        for kernel in kernels() {
            let matrix = PairMatrix::new(&data, k, 1, false, kernel).expect("entries within i16");
            let a = vec![32_767i16; k];
            let mut dst = vec![2i32];
            matrix.product(&mut dst, 1, &a, k, 1, true);
            assert_eq!(dst, vec![2], "{kernel:?}");
        }
    }

    /// H13: the proof admits exactly the sums that fit i32, and a tensor beyond i16 is not
    /// packed.
    #[test]
    fn h13_pair_bound_admits_exactly_the_sums_within_i32() {
        // Column sums 300 and 100: the limit is the larger.
        let new = |data: &[i64], rows, cols| {
            PairMatrix::new(data, rows, cols, false, PairKernel::Portable)
        };
        let matrix = new(&[100, -50, -200, 50], 2, 2).expect("within i16");
        let largest = i64::from(i32::MAX) / 300;
        assert!(matrix.fits(largest));
        assert!(!matrix.fits(largest + 1));
        assert!(new(&[32_767, -32_767], 1, 2).is_some());
        assert!(new(&[32_768], 1, 1).is_none());
        assert!(new(&[-32_768], 1, 1).is_none());
    }

    /// H13: the pieces of a split operand give back the operand, `hi 2^shift + lo`, within
    /// their limit, for both signs and at the operand's limits.
    #[test]
    fn h13_split_pieces_rebuild_the_operand_within_their_limit() {
        assert_eq!(Split::for_limit(32_767), Some(Split::Whole));
        assert_eq!(Split::for_limit(1), Some(Split::Whole));
        // 24-bit memory: 23 magnitude bits, 12 in lo, hi in [-2048, 2047].
        let limit = (1i64 << 23) - 1;
        let split = Split::for_limit(limit).expect("24 bits split into two pieces");
        assert_eq!(split, Split::Halves { shift: 12 });
        assert_eq!(split.piece_limit(limit), 4095);
        // 29 magnitude bits: lo takes 15, hi [-16384, 16383]; 30 bits would need hi = -32768.
        let widest = (1i64 << 29) - 1;
        assert_eq!(
            Split::for_limit(widest).map(|split| split.piece_limit(widest)),
            Some(32_767)
        );
        assert_eq!(Split::for_limit((1 << 30) - 1), None);
        for &limit in &[32_768i64, 100_000, (1 << 23) - 1, widest] {
            let split = Split::for_limit(limit).expect("within 29 bits");
            let Split::Halves { shift } = split else {
                panic!("limit {limit} needs two pieces");
            };
            let values: Vec<i64> = [-limit, -limit + 1, -1, 0, 1, limit - 1, limit]
                .into_iter()
                .chain(integers(200, 3, limit))
                .collect();
            let (mut hi, mut lo) = (vec![0i16; values.len()], vec![0i16; values.len()]);
            split.fill(&values, &mut hi, &mut lo);
            let piece_limit = split.piece_limit(limit);
            for ((&value, &high), &low) in values.iter().zip(&hi).zip(&lo) {
                assert_eq!((i64::from(high) << shift) + i64::from(low), value);
                assert!(
                    i64::from(high).abs() <= piece_limit
                        && (0..=piece_limit).contains(&i64::from(low))
                );
            }
        }
    }
}
