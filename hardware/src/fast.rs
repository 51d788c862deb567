//! The fast engine (SPEC.md clause H13): the fixed-point network of section H computed densely,
//! a whole batch per step, with the chip's integers and the chip's counters.
//!
//! The chip ([`crate::chip`]) runs one sequence at a time and delivers each event by
//! shift-and-add; it is the ground truth. This engine computes the same exact sums as matrix
//! products over the batch: every operand and tensor is an integer, held in binary64, where
//! integers up to 2^53 and their products and sums are exact whatever the order of the
//! additions (H5: the order of an exact sum changes no bit). A sum whose bound (H5) needs more
//! than [`EXACT_SUM_BITS`] bits cannot be computed this way; such a model is run on the chip
//! ([`unsupported_reason`] says why). The products go through the `gemm` crate, which picks
//! AVX-512 or AVX2 micro-kernels at run time. The counters are derived from the counts
//! (B6: events, their popcounts and bit-serial steps, times each target's fan-out), step by
//! step, exactly as the chip increments them while it delivers events.

use std::ops::Range;

use hsnn_spec::fixed::{FixedActivation, FixedModel, FixedRun, FixedTensor, Sum};
use hsnn_spec::{
    CountTally, QuantizedSite, Result, SequenceBatch, SiteMap, TallyBuilder, TraceLevel,
};

use crate::arithmetic::{fire, nearest, rshr, saturate};
use crate::chip::{apply_rule, term, Chip};
use crate::counters::{EventTarget, HardwareCounters};
use crate::engine::{check_batch, pieces as thread_pieces, run_batch, EngineRun};
use crate::pairs::{PairKernel, PairMatrix, Split};
use hsnn_spec::isa::IsaLevel;

/// The widest complete sum, sign included, that binary64 holds exactly: every partial sum of
/// a sum whose bound fits lies below 2^52 in magnitude, well inside binary64's 53-bit
/// significand.
pub const EXACT_SUM_BITS: u32 = 53;

/// Why the fast engine cannot run `model` exactly (a sum wider than [`EXACT_SUM_BITS`]), or
/// `None` when it can (clause H13).
pub fn unsupported_reason(model: &FixedModel) -> Option<String> {
    let sums = &model.sums;
    [
        ("memory_input", &sums.memory_input),
        ("memory", &sums.memory),
        ("preactivation", &sums.preactivation),
        ("logits", &sums.logits),
    ]
    .iter()
    .find(|(_, sum)| sum.bound_bits > EXACT_SUM_BITS)
    .map(|(name, sum)| {
        format!(
            "the {name} sum needs {} bits, beyond the {EXACT_SUM_BITS} that binary64 products \
             hold exactly",
            sum.bound_bits
        )
    })
}

/// Runs a batch on the fast engine (clause H13) at trace level `level`: the same
/// [`EngineRun`] as the chip's ([`crate::Engine::Chip`]), sequences split across `threads` in
/// contiguous pieces and reassembled in order. At levels `none` and `tally` the counts are
/// never stored beyond the step that needs them; at `tally` each piece tallies its sites'
/// counts as they are computed (N3). A model the engine cannot run exactly
/// ([`unsupported_reason`]) runs on the chip instead. The kernels run at the process's
/// dispatch level ([`IsaLevel::current`]).
pub fn run_batch_fast(
    chip: &Chip,
    batch: &SequenceBatch,
    level: TraceLevel,
    threads: usize,
) -> Result<EngineRun> {
    run_batch_fast_at(chip, batch, level, threads, IsaLevel::current())
}

/// [`run_batch_fast`] with its kernels capped at dispatch level `isa` (each runs the widest
/// path this CPU has at or below it): the same integers and counters at every level (clause
/// H13).
pub fn run_batch_fast_at(
    chip: &Chip,
    batch: &SequenceBatch,
    level: TraceLevel,
    threads: usize,
    isa: IsaLevel,
) -> Result<EngineRun> {
    if unsupported_reason(chip.model()).is_some() {
        let (run, counters) = run_batch(chip, batch, level == TraceLevel::Full, threads)?;
        return Ok(EngineRun::of_counts(chip, run, counters, level));
    }
    check_batch(chip, batch)?;
    let model = chip.model();
    let lmu = &model.config.lmu;
    let pieces = thread_pieces(batch.batch, threads);
    let full = level == TraceLevel::Full;
    let counts_recorded = matches!(level, TraceLevel::Counts | TraceLevel::Full);
    // The record is allocated once and each piece writes its own sequences' part of it: the
    // layout is sequence-major, so a contiguous piece of sequences owns a contiguous slice.
    let cells = |recorded: bool, width: usize| {
        if recorded {
            vec![0i64; batch.batch * batch.steps * width]
        } else {
            Vec::new()
        }
    };
    let spiking_hidden = model.counts[QuantizedSite::Hidden].is_some();
    let spiking = |site: QuantizedSite| model.counts[site].is_some();
    let mut record = FixedRun {
        batch: batch.batch,
        steps: batch.steps,
        logit_exponent: model.sums.logits.exponent,
        counts: SiteMap::from_fn(|site| cells(spiking(site) && counts_recorded, site.neurons(lmu))),
        integrators: SiteMap::from_fn(|site| cells(spiking(site) && full, site.neurons(lmu))),
        memory_input: cells(full, lmu.memory_size),
        memory: cells(full, lmu.memory_length()),
        preactivation: cells(full, lmu.hidden_size),
        hidden_output: cells(full && !spiking_hidden, lmu.hidden_size),
        ..FixedRun::default()
    };
    let lengths: Vec<usize> = pieces.iter().map(Range::len).collect();
    let sequences = batch.batch;
    let mut counts = (record.counts.as_mut()).map(|_, data| split(data, &lengths, sequences));
    let mut integrators =
        (record.integrators.as_mut()).map(|_, data| split(data, &lengths, sequences));
    let mut memory_input = split(&mut record.memory_input, &lengths, sequences);
    let mut memory = split(&mut record.memory, &lengths, sequences);
    let mut preactivation = split(&mut record.preactivation, &lengths, sequences);
    let mut hidden_output = split(&mut record.hidden_output, &lengths, sequences);
    let outputs: Vec<RecordSlices<'_>> = lengths
        .iter()
        .map(|_| RecordSlices {
            counts: counts
                .as_mut()
                .map(|_, piece| piece.next().unwrap_or_default()),
            integrators: (integrators.as_mut()).map(|_, piece| piece.next().unwrap_or_default()),
            memory_input: memory_input.next().unwrap_or_default(),
            memory: memory.next().unwrap_or_default(),
            preactivation: preactivation.next().unwrap_or_default(),
            hidden_output: hidden_output.next().unwrap_or_default(),
        })
        .collect();
    // Packed once per batch and shared: every piece multiplies by the same tensors.
    let pairs = pair_tensors(model, PairKernel::at(isa));
    let tallied = level == TraceLevel::Tally;
    let results: Vec<PieceRun> = std::thread::scope(|scope| {
        let handles: Vec<_> = pieces
            .iter()
            .zip(outputs)
            .map(|(range, out)| {
                let range = range.clone();
                let pairs = &pairs;
                scope.spawn(move || {
                    Piece::new(chip, batch, range, full, tallied, pairs, isa).run(out)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().expect("a fast-engine thread does not panic"))
            .collect()
    });
    let mut counters = HardwareCounters::default();
    let mut tallies = SiteMap::<Option<CountTally>>::default();
    for mut piece in results {
        record.logits.extend(piece.logits);
        counters.add(&piece.counters);
        for (site, tally) in piece.tallies.iter_mut() {
            join_tally(&mut tallies[site], tally.take());
        }
    }
    record.saturations = counters.saturations.clone();
    Ok(EngineRun {
        run: record,
        counters,
        tallies,
    })
}

/// `piece` (one piece's tally of a site, if tallied) added into `joined`.
fn join_tally(joined: &mut Option<CountTally>, piece: Option<CountTally>) {
    match (joined.as_mut(), piece) {
        (Some(joined), Some(piece)) => joined.join(piece),
        (None, piece) => *joined = piece,
        (Some(_), None) => {}
    }
}

/// What one piece gives back: its sequences' logits, its counters and, when tallied, its
/// sites' tallies.
struct PieceRun {
    logits: Vec<i64>,
    counters: HardwareCounters,
    tallies: SiteMap<Option<CountTally>>,
}

/// `data` (a sequence-major record of `sequences` sequences, or empty) cut into one slice per
/// piece of `lengths` sequences.
fn split<'r>(
    data: &'r mut [i64],
    lengths: &[usize],
    sequences: usize,
) -> std::vec::IntoIter<&'r mut [i64]> {
    let per_sequence = data.len() / sequences.max(1);
    let mut rest = data;
    let mut slices = Vec::with_capacity(lengths.len());
    for &length in lengths {
        let (mine, others) = rest.split_at_mut(length * per_sequence);
        slices.push(mine);
        rest = others;
    }
    slices.into_iter()
}

/// One piece's part of the record (every slice sequence-major, empty when not recorded).
struct RecordSlices<'r> {
    counts: SiteMap<&'r mut [i64]>,
    integrators: SiteMap<&'r mut [i64]>,
    memory_input: &'r mut [i64],
    memory: &'r mut [i64],
    preactivation: &'r mut [i64],
    hidden_output: &'r mut [i64],
}

/// A tensor's integers in binary64 (exact: H2 and H3 widths are at most 32 bits).
struct Dense {
    rows: usize,
    cols: usize,
    data: Vec<f64>,
}

impl Dense {
    fn of(tensor: &FixedTensor) -> Self {
        Dense {
            rows: tensor.rows,
            cols: tensor.cols,
            data: tensor.data.iter().map(|&value| value as f64).collect(),
        }
    }

    /// `Abar` transposed, so that `M_t = M_{t-1} Abar^T` is a product of row-major matrices.
    fn transposed(tensor: &FixedTensor) -> Self {
        let mut data = vec![0.0; tensor.rows * tensor.cols];
        for row in 0..tensor.rows {
            for col in 0..tensor.cols {
                data[col * tensor.rows + row] = tensor.data[row * tensor.cols + col] as f64;
            }
        }
        Dense {
            rows: tensor.cols,
            cols: tensor.rows,
            data,
        }
    }
}

/// `acc[r * acc_stride + c] += 2^shift * sum_k lhs[r * lhs_stride + k] * rhs[k][c]` for
/// `r < rows`: one exact integer product (clause H13). Panics when a slice is too short:
/// callers size every buffer from the model's own dimensions.
#[allow(unsafe_code)] // the fast engine's one unsafe block: the call into gemm
#[inline(always)]
fn add_product(
    acc: &mut [f64],
    acc_stride: usize,
    lhs: &[f64],
    lhs_stride: usize,
    rows: usize,
    rhs: &Dense,
    shift: u32,
) {
    let (k, n) = (rhs.rows, rhs.cols);
    if rows == 0 || n == 0 || k == 0 {
        return;
    }
    assert!(
        acc_stride >= n && lhs_stride >= k,
        "product strides shorter than their rows"
    );
    assert!(
        (rows - 1) * acc_stride + n <= acc.len(),
        "product destination too short"
    );
    assert!(
        (rows - 1) * lhs_stride + k <= lhs.len(),
        "product operand too short"
    );
    assert_eq!(rhs.data.len(), k * n, "tensor of the wrong size");
    let scale = 2f64.powi(shift as i32);
    if k == 1 || n == 1 {
        // Outer products and dot products (the input and encoder terms): a plain loop costs
        // less than gemm's packing for them, and is exact for the same reason.
        for row in 0..rows {
            let operand = &lhs[row * lhs_stride..][..k];
            let out = &mut acc[row * acc_stride..][..n];
            if n == 1 {
                out[0] += scale * exact_dot(operand, &rhs.data);
            } else {
                let y = scale * operand[0];
                for (out, &w) in out.iter_mut().zip(&rhs.data) {
                    *out += y * w;
                }
            }
        }
        return;
    }
    // SAFETY: gemm reads `lhs` at `r * lhs_stride + c` for r < rows, c < k, `rhs` at
    // `r * n + c` for r < k, c < n, and reads and writes `acc` at `r * acc_stride + c` for
    // r < rows, c < n; the asserts above put the largest of each offset inside its slice (all
    // strides positive). `acc` is a unique borrow, so it aliases neither operand; every slice
    // outlives the call; the strides fit isize because they index existing slices.
    unsafe {
        gemm::gemm(
            rows,
            n,
            k,
            acc.as_mut_ptr(),
            1,
            acc_stride as isize,
            true,
            lhs.as_ptr(),
            1,
            lhs_stride as isize,
            rhs.data.as_ptr(),
            1,
            n as isize,
            1.0,
            scale,
            false,
            false,
            false,
            gemm::Parallelism::None,
        );
    }
}

/// `sum_i a_i b_i` of integers in binary64, in eight interleaved partial sums: every partial
/// sum is an exact integer (H13's bound), so the grouping changes no bit, and eight
/// independent chains vectorize where one chain would wait on each addition.
#[inline(always)]
fn exact_dot(a: &[f64], b: &[f64]) -> f64 {
    const LANES: usize = 8;
    let mut lanes = [0.0f64; LANES];
    let (a_chunks, b_chunks) = (a.chunks_exact(LANES), b.chunks_exact(LANES));
    let tail: f64 = a_chunks
        .remainder()
        .iter()
        .zip(b_chunks.remainder())
        .map(|(&x, &y)| x * y)
        .sum();
    for (x, y) in a_chunks.zip(b_chunks) {
        for ((lane, &x), &y) in lanes.iter_mut().zip(x).zip(y) {
            *lane += x * y;
        }
    }
    lanes.iter().sum::<f64>() + tail
}

/// What one step's counts at a spiking site add to each of its targets (clause B6): events,
/// their set bits, their bit-serial steps and their magnitudes, summed over the batch.
#[derive(Debug, Clone, Copy, Default)]
struct EventSums {
    events: u64,
    popcounts: u64,
    bit_serial_steps: u64,
    magnitudes: u64,
}

impl EventSums {
    /// Adds one count (B2, B3, B6), branch-free so that a row's loop vectorizes: a zero count
    /// adds zero to every sum, and for `|n| > 0` the bit-serial steps `64 - lz - tz` are
    /// positive, so the saturating subtraction only acts on zero.
    #[inline(always)]
    fn add(&mut self, count: i64) {
        let magnitude = count.unsigned_abs();
        self.events += u64::from(magnitude != 0);
        self.popcounts += u64::from(magnitude.count_ones());
        self.bit_serial_steps +=
            u64::from((64 - magnitude.leading_zeros()).saturating_sub(magnitude.trailing_zeros()));
        self.magnitudes += magnitude;
    }

    /// Adds every count of `counts`, in local sums (kept in registers, so the loop
    /// vectorizes).
    #[inline(always)]
    fn add_all(&mut self, counts: &[i64]) {
        let mut row = EventSums::default();
        for &count in counts {
            row.add(count);
        }
        self.events += row.events;
        self.popcounts += row.popcounts;
        self.bit_serial_steps += row.bit_serial_steps;
        self.magnitudes += row.magnitudes;
    }

    /// Counts these events into `target`, each reaching `fan_out` targets (as the chip's
    /// delivery does, event by event).
    fn deliver(&self, target: &mut EventTarget, fan_out: u64) {
        target.synaptic_events += fan_out * self.events;
        target.additions += fan_out * self.popcounts;
        target.bit_serial_steps += fan_out * self.bit_serial_steps;
        target.spike_synops += fan_out * self.magnitudes;
    }
}

/// Rounds exact sums to their target (`sat(rshr(acc, shift))`, H1, H5), counting saturations,
/// and writes the integers and their binary64 copies. At dispatch level AVX-512, on CPUs with
/// it, the same loop is compiled for it (8 lanes, with its 64-bit conversions and shifts); at
/// AVX2, which has neither, the same rounding is computed in binary64 ([`round_into_avx2`]).
#[allow(clippy::too_many_arguments)]
fn round_into(
    acc: &[f64],
    target_shift: i32,
    bits: u32,
    saturated: &mut u64,
    integers: &mut [i64],
    reals: &mut [f64],
    isa: IsaLevel,
) {
    #[cfg(not(target_arch = "x86_64"))]
    let _ = isa;
    #[cfg(target_arch = "x86_64")]
    {
        if isa >= IsaLevel::Avx512
            && std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512dq")
            && std::arch::is_x86_feature_detected!("avx512vl")
        {
            // SAFETY: the CPU supports AVX-512F, DQ and VL (detected just above), the only
            // requirement of `round_into_avx512`'s target features; the function is the
            // portable loop itself, safe Rust, recompiled for them.
            #[allow(unsafe_code)]
            unsafe {
                round_into_avx512(acc, target_shift, bits, saturated, integers, reals)
            };
            return;
        }
        if isa >= IsaLevel::Avx2
            && IsaLevel::Avx2.supported()
            && rounds_in_binary64(target_shift, bits)
        {
            // SAFETY: the CPU supports AVX2 and FMA (detected just above), the only
            // requirement of `round_into_avx2`'s target features; the function is safe Rust
            // recompiled for them.
            #[allow(unsafe_code)]
            unsafe {
                round_into_avx2(acc, target_shift, bits, saturated, integers, reals)
            };
            return;
        }
    }
    round_into_portable(acc, target_shift, bits, saturated, integers, reals);
}

/// Whether [`round_into_binary64`] gives `sat(rshr(acc, shift))` exactly: a right shift of at
/// most 52 bits (so that `acc + 2^(shift-1)`, below 2^52 + 2^51, is exact in binary64) and a
/// target of at most 32 bits (so that its integers convert through i32).
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
fn rounds_in_binary64(target_shift: i32, bits: u32) -> bool {
    (0..=52).contains(&target_shift) && bits <= 32
}

/// [`round_into_binary64`] compiled for AVX2 and FMA, which lack AVX-512's conversions
/// between binary64 and i64 and its 64-bit arithmetic shift.
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
#[target_feature(enable = "avx2,fma")]
unsafe fn round_into_avx2(
    acc: &[f64],
    target_shift: i32,
    bits: u32,
    saturated: &mut u64,
    integers: &mut [i64],
    reals: &mut [f64],
) {
    round_into_binary64(acc, target_shift, bits, saturated, integers, reals);
}

/// [`round_into_portable`]'s `sat(rshr(acc, shift))` computed in binary64, where the loop
/// vectorizes without 64-bit integer conversions: `floor((acc + 2^(shift-1)) 2^-shift)` is
/// `rshr` exactly for an integral `|acc| < 2^52` when [`rounds_in_binary64`] (the addition is
/// exact, the scaling by a power of two too, and the floor of an exact value is the floor),
/// the clamp compares integers, and the clamped value, within i32, converts exactly.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
#[inline(always)]
fn round_into_binary64(
    acc: &[f64],
    target_shift: i32,
    bits: u32,
    saturated: &mut u64,
    integers: &mut [i64],
    reals: &mut [f64],
) {
    debug_assert!(rounds_in_binary64(target_shift, bits));
    let limit = hsnn_spec::fixed::symmetric_limit(bits) as f64;
    let half = if target_shift > 0 {
        2f64.powi(target_shift - 1)
    } else {
        0.0
    };
    let scale = 2f64.powi(-target_shift);
    let mut clamped_total = 0u64;
    for ((&sum, integer), real) in acc.iter().zip(integers.iter_mut()).zip(reals.iter_mut()) {
        let rounded = ((sum + half) * scale).floor();
        let value = rounded.clamp(-limit, limit);
        clamped_total += u64::from(value != rounded);
        // SAFETY: `value` is an integer within the symmetric limit of at most 32 bits
        // (`rounds_in_binary64`), so it is finite and representable in i32, as
        // `to_int_unchecked` requires.
        #[allow(unsafe_code)]
        let whole: i32 = unsafe { value.to_int_unchecked() };
        *integer = i64::from(whole);
        *real = value;
    }
    *saturated += clamped_total;
}

/// [`round_into_portable`] compiled for AVX-512.
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
#[target_feature(enable = "avx512f,avx512dq,avx512vl")]
unsafe fn round_into_avx512(
    acc: &[f64],
    target_shift: i32,
    bits: u32,
    saturated: &mut u64,
    integers: &mut [i64],
    reals: &mut [f64],
) {
    round_into_portable(acc, target_shift, bits, saturated, integers, reals);
}

#[inline(always)]
fn round_into_portable(
    acc: &[f64],
    target_shift: i32,
    bits: u32,
    saturated: &mut u64,
    integers: &mut [i64],
    reals: &mut [f64],
) {
    let limit = hsnn_spec::fixed::symmetric_limit(bits);
    let mut clamped_total = 0u64;
    for ((&sum, integer), real) in acc.iter().zip(integers.iter_mut()).zip(reals.iter_mut()) {
        // A plain `as` conversion saturates and maps NaN to 0, which the compiler does not
        // vectorize; these sums need neither.
        // SAFETY: `sum` is an exact sum of products of integers whose bound (H5) the engine
        // requires within EXACT_SUM_BITS (`unsupported_reason`), so it is finite, integral and
        // below 2^52 in magnitude: representable in i64, as `to_int_unchecked` requires.
        #[allow(unsafe_code)]
        let whole: i64 = unsafe { sum.to_int_unchecked() };
        let rounded = rshr(whole, target_shift);
        let value = rounded.clamp(-limit, limit);
        clamped_total += u64::from(value != rounded);
        *integer = value;
        *real = value as f64;
    }
    *saturated += clamped_total;
}

/// H7's quantizer step on one row of a spiking site: `U_v = V + rule(Z)`, the count
/// `U_v >> F_v`, the new state; counts (and `U_v` at trace level full) recorded, counts
/// summed and written as the next step's operand. The rule's kind is matched once per row,
/// not per neuron.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn fire_row(
    rule: &FixedActivation,
    fraction_v: u32,
    integrators: &mut [i64],
    operands: &[i64],
    counts: &mut [i64],
    recorded: &mut [i64],
    reals: &mut [f64],
    tally: &mut EventSums,
) {
    let row = (integrators, operands, counts, recorded, reals, tally);
    match rule {
        FixedActivation::Table {
            first_index,
            values,
        } => {
            // The table as a slice and its first index as a value, taken once: read through
            // the rule's references, they would be loaded again for every neuron.
            let (table, first): (&[i64], i64) = (values, *first_index);
            let last = table.len() as i64 - 1;
            fire_row_with(
                // `get` (never `None`: the index is clamped into the table) rather than
                // indexing, so that the loop has no panic path.
                move |z| {
                    table
                        .get((z - first).clamp(0, last) as usize)
                        .copied()
                        .unwrap_or_default()
                },
                fraction_v,
                row,
            );
        }
        _ => fire_row_with(|z| apply_rule(rule, z), fraction_v, row),
    }
}

type FireRow<'a> = (
    &'a mut [i64],
    &'a [i64],
    &'a mut [i64],
    &'a mut [i64],
    &'a mut [f64],
    &'a mut EventSums,
);

#[inline(always)]
fn fire_row_with(rule: impl Fn(i64) -> i64, fraction_v: u32, row: FireRow<'_>) {
    let (integrators, operands, counts, recorded, reals, tally) = row;
    // The rule's increments first, into the counts' row: a loop of table reads alone, so that
    // the quantizer's loop below has none and vectorizes.
    for (increment, &z) in counts.iter_mut().zip(operands) {
        *increment = rule(z);
    }
    let neurons = integrators
        .iter_mut()
        .zip(counts.iter_mut())
        .zip(reals.iter_mut());
    // The integrators are recorded only at trace level full (H12; `recorded` is empty else):
    // two loops, so that neither tests the level per neuron.
    if recorded.is_empty() {
        for ((state, count), real) in neurons {
            (*count, _) = fire(state, *count, fraction_v);
            *real = *count as f64;
        }
    } else {
        for (((state, count), real), recorded) in neurons.zip(recorded.iter_mut()) {
            (*count, *recorded) = fire(state, *count, fraction_v);
            *real = *count as f64;
        }
    }
    // A separate pass over the row's counts: a plain reduction, which vectorizes where the
    // quantizer's table reads and state updates do not.
    tally.add_all(counts);
}

/// Whether this CPU has the features of the step's AVX2 build ([`Piece::run`]): AVX2, FMA,
/// and the bit counts the counters use.
#[cfg(target_arch = "x86_64")]
fn step_avx2_available() -> bool {
    IsaLevel::Avx2.supported()
        && std::arch::is_x86_feature_detected!("popcnt")
        && std::arch::is_x86_feature_detected!("lzcnt")
        && std::arch::is_x86_feature_detected!("bmi1")
}

/// The dispatch level each of the fast engine's kernels runs at when capped at `isa` on this
/// CPU (clause H13): `(kernel, level)` for the pair products, the step's loops and the
/// rounding, as `hsnn --backend hardware bench --json` records them.
pub fn kernel_levels(isa: IsaLevel) -> Vec<(&'static str, IsaLevel)> {
    #[cfg(target_arch = "x86_64")]
    let (step, rounding) = {
        let avx512_step = std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bw")
            && std::arch::is_x86_feature_detected!("avx512dq")
            && std::arch::is_x86_feature_detected!("avx512vl")
            && std::arch::is_x86_feature_detected!("avx512cd")
            && std::arch::is_x86_feature_detected!("avx512vpopcntdq")
            && std::arch::is_x86_feature_detected!("popcnt")
            && std::arch::is_x86_feature_detected!("lzcnt")
            && std::arch::is_x86_feature_detected!("bmi1");
        let avx512_rounding = std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512dq")
            && std::arch::is_x86_feature_detected!("avx512vl");
        let pick = |avx512: bool, avx2: bool| {
            if isa >= IsaLevel::Avx512 && avx512 {
                IsaLevel::Avx512
            } else if isa >= IsaLevel::Avx2 && avx2 {
                IsaLevel::Avx2
            } else {
                IsaLevel::Portable
            }
        };
        (
            pick(avx512_step, step_avx2_available()),
            pick(avx512_rounding, IsaLevel::Avx2.supported()),
        )
    };
    #[cfg(not(target_arch = "x86_64"))]
    let (step, rounding) = (IsaLevel::Portable, IsaLevel::Portable);
    vec![
        ("fast_pair_products", PairKernel::at(isa).level()),
        ("fast_step", step),
        ("fast_rounding", rounding),
    ]
}

/// One thread's contiguous piece of the batch, every sequence advanced one step at a time.
struct Piece<'a> {
    chip: &'a Chip,
    batch: &'a SequenceBatch,
    range: Range<usize>,
    full: bool,
    // The operands of a step, `rows x width` each, row-major: integers in binary64.
    input: Vec<f64>,
    memory: Vec<f64>,
    previous_memory: Vec<f64>,
    memory_input: Vec<f64>,
    /// The hidden output `H_{t-1}` (non-spiking) or the counts `N_{t-1}` (spiking).
    hidden: Vec<f64>,
    /// The memory state's counts of the step, where it spikes (empty otherwise).
    memory_state: Vec<f64>,
    /// Each spiking site's integrators `V`, the piece's sequences one after another.
    integrators: SiteMap<Vec<i64>>,
    /// The model's tensors in binary64, converted once, by name.
    tensors: Vec<(&'static str, Dense)>,
    /// The tensors whose products run in 16-bit integer pairs, by name (`a_bar` transposed):
    /// those whose entries fit i16 and whose every sum is proven to fit i32 (H13).
    pair_tensors: &'a [(&'static str, PairMatrix)],
    /// The operands' i16 pieces, for the pair products.
    input_pieces: Pieces,
    memory_pieces: Pieces,
    previous_memory_pieces: Pieces,
    hidden_pieces: Pieces,
    memory_state_pieces: Pieces,
    /// The pair products' i32 sums before they join their accumulator: high and low pieces.
    pair_sums: (Vec<i32>, Vec<i32>),
    counters: HardwareCounters,
    /// Whether the spiking sites' counts are tallied as they are computed (level `tally`).
    tallied: bool,
    /// The dispatch level the step's loops run at.
    isa: IsaLevel,
}

/// An operand's i16 pieces (`rows x width`, row-major) for the pair products, kept only when
/// some pair product reads it.
struct Pieces {
    split: Option<Split>,
    high: Vec<i16>,
    low: Vec<i16>,
}

impl Pieces {
    fn new(split: Option<Split>, len: usize) -> Self {
        let low = match split {
            Some(Split::Halves { .. }) => len,
            _ => 0,
        };
        Pieces {
            split,
            high: vec![0; if split.is_some() { len } else { 0 }],
            low: vec![0; low],
        }
    }

    /// Takes the pieces of `values`, from element `start` of the operand, when they are kept.
    #[inline(always)]
    fn fill(&mut self, start: usize, values: &[i64]) {
        if let Some(split) = self.split {
            let end = start + values.len();
            let low = if self.low.is_empty() {
                &mut []
            } else {
                &mut self.low[start..end]
            };
            split.fill(values, &mut self.high[start..end], low);
        }
    }
}

/// Which operand a tensor reads (H8): the input, the hidden output (or counts), the memory.
fn operand_of(model: &FixedModel, tensor: &str) -> Operand {
    match tensor {
        "encoder_input" | "kernel_input" => Operand::Input,
        "encoder_hidden" | "kernel_hidden" | "readout_kernel" => Operand::Hidden,
        "kernel_memory" if model.counts[QuantizedSite::MemoryState].is_some() => {
            Operand::MemoryState
        }
        _ => Operand::Memory,
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Operand {
    Input,
    Hidden,
    Memory,
    /// The memory state's counts, where it spikes.
    MemoryState,
}

/// The largest magnitude of a spiking site's counts (H7).
fn count_limit(model: &FixedModel, site: QuantizedSite) -> Option<i64> {
    model.counts[site].as_ref().map(|range| {
        let magnitude = range.min.unsigned_abs().max(range.max.unsigned_abs());
        i64::try_from(magnitude).unwrap_or(i64::MAX)
    })
}

/// The largest magnitude `operand` takes in `model` (H1's symmetric limits, H7's count range).
fn operand_limit(model: &FixedModel, operand: Operand) -> Option<i64> {
    let limit = hsnn_spec::fixed::symmetric_limit;
    let formats = &model.formats;
    match operand {
        Operand::Input => Some(limit(formats.input.bits)),
        Operand::Memory => Some(limit(formats.memory.bits)),
        Operand::Hidden => count_limit(model, QuantizedSite::Hidden)
            .or_else(|| formats.hidden.as_ref().map(|format| limit(format.bits))),
        Operand::MemoryState => count_limit(model, QuantizedSite::MemoryState),
    }
}

/// The tensors a product reads, by the name its sum's terms give them (`a_bar` included).
const PRODUCT_TENSORS: [&str; 8] = [
    "encoder_input",
    "encoder_hidden",
    "encoder_memory",
    "kernel_input",
    "kernel_hidden",
    "kernel_memory",
    "readout_kernel",
    "a_bar",
];

/// The model's tensors whose products run in 16-bit integer pairs, packed (`a_bar`
/// transposed, as `M_t = M_{t-1} Abar^T` reads it) for `kernel`.
fn pair_tensors(model: &FixedModel, kernel: PairKernel) -> Vec<(&'static str, PairMatrix)> {
    PRODUCT_TENSORS
        .into_iter()
        .filter_map(|name| {
            let tensor = model.tensors.named(name)?;
            pair_route(model, name, tensor, name == "a_bar", kernel).map(|matrix| (name, matrix))
        })
        .collect()
}

/// The names of the tensors whose products the fast engine computes in 16-bit integer pairs
/// on `model` (clause H13): entries within i16, and every output's sum of one operand piece
/// proven within i32. The other products run in binary64. On the paper model at the default
/// conversion: `kernel_hidden`, `kernel_memory`, `a_bar` and `readout_kernel` (every product
/// but the encoders' single column and the one-input terms).
pub fn pair_products(model: &FixedModel) -> Vec<&'static str> {
    pair_tensors(model, PairKernel::Portable)
        .into_iter()
        .map(|(name, _)| name)
        .collect()
}

/// `tensor` (named `name`) packed for pair products when its products can run in them
/// exactly: entries within i16, an operand two i16 pieces hold, and every output's sum of one
/// piece within i32 (H13). Outer and dot products (one row or one column) stay in binary64.
fn pair_route(
    model: &FixedModel,
    name: &str,
    tensor: &FixedTensor,
    transpose: bool,
    kernel: PairKernel,
) -> Option<PairMatrix> {
    if tensor.rows <= 1 || tensor.cols <= 1 {
        return None;
    }
    let limit = operand_limit(model, operand_of(model, name))?;
    let split = Split::for_limit(limit)?;
    let matrix = PairMatrix::new(&tensor.data, tensor.rows, tensor.cols, transpose, kernel)?;
    matrix.fits(split.piece_limit(limit)).then_some(matrix)
}

/// `acc[r * acc_stride + j] += 2^shift * sum_i y[r][i] W[i][j]` for the operand whose pieces
/// are `pieces`, row `r` starting at `offset + r * stride`: the pair products of each piece,
/// joined as `hi 2^s + lo` (exact in binary64, whose accumulator holds the sum, H13).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn add_pair_product(
    acc: &mut [f64],
    acc_stride: usize,
    pieces: &Pieces,
    offset: usize,
    stride: usize,
    rows: usize,
    matrix: &PairMatrix,
    shift: u32,
    sums: &mut (Vec<i32>, Vec<i32>),
) {
    let n = matrix.cols();
    if rows == 0 || n == 0 {
        return;
    }
    assert!(
        acc_stride >= n && (rows - 1) * acc_stride + n <= acc.len(),
        "product destination too short"
    );
    let (high, low) = sums;
    high.resize(rows * n, 0);
    matrix.product(high, n, &pieces.high[offset..], stride, rows, false);
    let scale = 2f64.powi(shift as i32);
    match pieces.split {
        Some(Split::Halves { shift: low_bits }) => {
            low.resize(rows * n, 0);
            matrix.product(low, n, &pieces.low[offset..], stride, rows, false);
            let high_scale = scale * 2f64.powi(low_bits as i32);
            for row in 0..rows {
                let out = &mut acc[row * acc_stride..][..n];
                let (high, low) = (&high[row * n..][..n], &low[row * n..][..n]);
                for ((out, &high), &low) in out.iter_mut().zip(high).zip(low) {
                    *out += f64::from(high) * high_scale + f64::from(low) * scale;
                }
            }
        }
        _ => {
            for row in 0..rows {
                let out = &mut acc[row * acc_stride..][..n];
                for (out, &high) in out.iter_mut().zip(&high[row * n..][..n]) {
                    *out += f64::from(high) * scale;
                }
            }
        }
    }
}

/// The operand buffer a product reads.
#[derive(Clone, Copy)]
enum Reads {
    Input,
    Hidden,
    Memory,
    PreviousMemory,
    /// The memory state's counts (where it spikes).
    MemoryState,
}

/// Which operands a sum's dense terms read (the chip's choice in H8's order).
#[derive(Clone, Copy)]
enum SumOperands {
    /// `U`: `x`, `H_{t-1}`, `M_{t-1}`.
    MemoryInput,
    /// `Z`: `x`, `H_{t-1}`, `M_t`.
    Preactivation,
    /// The logits: the hidden output, whatever the operand's name.
    Logits,
}

impl<'a> Piece<'a> {
    fn new(
        chip: &'a Chip,
        batch: &'a SequenceBatch,
        range: Range<usize>,
        full: bool,
        tallied: bool,
        pair_tensors: &'a [(&'static str, PairMatrix)],
        isa: IsaLevel,
    ) -> Self {
        let lmu = &chip.model().config.lmu;
        let rows = range.len();
        let mut integrators = SiteMap::<Vec<i64>>::default();
        let mut counters = HardwareCounters::default();
        for sample in range.clone() {
            // The chip's own start gives V_0 (H7) and the layout of the counters.
            let state = chip.start(batch.sample_ids[sample], false);
            for (site, values) in state.integrators.iter() {
                integrators[site].extend(values);
            }
            if counters.sites.is_empty() && counters.dense.is_empty() {
                counters = state.counters;
            }
        }
        counters.sequences = rows as u64;
        let fixed = &chip.model().tensors;
        let tensors: Vec<(&'static str, Dense)> = PRODUCT_TENSORS
            .into_iter()
            .filter_map(|name| {
                let tensor = fixed.named(name)?;
                // Abar transposed, so that `M_t = M_{t-1} Abar^T` is a row-major product.
                let dense = if name == "a_bar" {
                    Dense::transposed(tensor)
                } else {
                    Dense::of(tensor)
                };
                Some((name, dense))
            })
            .collect();
        let model = chip.model();
        // An operand is cut into pieces only when a pair product reads it.
        let pieces = |operand: Operand, width: usize| {
            let read = pair_tensors
                .iter()
                .any(|&(name, _)| operand_of(model, name) == operand);
            let split = operand_limit(model, operand)
                .and_then(Split::for_limit)
                .filter(|_| read);
            Pieces::new(split, rows * width)
        };
        let input_pieces = pieces(Operand::Input, lmu.input_size);
        let memory_pieces = pieces(Operand::Memory, lmu.memory_length());
        let previous_memory_pieces = pieces(Operand::Memory, lmu.memory_length());
        let hidden_pieces = pieces(Operand::Hidden, lmu.hidden_size);
        let memory_state_pieces = pieces(Operand::MemoryState, lmu.memory_length());
        let spiking_memory_state = model.counts[QuantizedSite::MemoryState].is_some();
        Piece {
            chip,
            batch,
            range,
            full,
            input: vec![0.0; rows * lmu.input_size],
            memory: vec![0.0; rows * lmu.memory_length()],
            previous_memory: vec![0.0; rows * lmu.memory_length()],
            memory_input: vec![0.0; rows * lmu.memory_size],
            hidden: vec![0.0; rows * lmu.hidden_size],
            memory_state: vec![
                0.0;
                if spiking_memory_state {
                    rows * lmu.memory_length()
                } else {
                    0
                }
            ],
            integrators,
            tensors,
            pair_tensors,
            input_pieces,
            memory_pieces,
            previous_memory_pieces,
            hidden_pieces,
            memory_state_pieces,
            pair_sums: (Vec::new(), Vec::new()),
            counters,
            tallied,
            isa,
        }
    }

    /// `acc (+)= 2^shift * operand x tensor` over the piece's rows (row `r` of the operand at
    /// `offset + r * width`): through the pair products where the tensor has them (H13), in
    /// binary64 otherwise.
    #[inline(always)]
    fn add_term(
        &mut self,
        acc: &mut [f64],
        acc_stride: usize,
        operand: Reads,
        offset: usize,
        tensor_name: &str,
        shift: u32,
    ) {
        let rows = self.range.len();
        let (reals, pieces) = match operand {
            Reads::Input => (&self.input, &self.input_pieces),
            Reads::Hidden => (&self.hidden, &self.hidden_pieces),
            Reads::Memory => (&self.memory, &self.memory_pieces),
            Reads::PreviousMemory => (&self.previous_memory, &self.previous_memory_pieces),
            Reads::MemoryState => (&self.memory_state, &self.memory_state_pieces),
        };
        let width = reals.len() / rows.max(1);
        let pair = self
            .pair_tensors
            .iter()
            .find(|(name, _)| *name == tensor_name)
            .map(|(_, matrix)| matrix);
        match pair {
            Some(matrix) => add_pair_product(
                acc,
                acc_stride,
                pieces,
                offset,
                width,
                rows,
                matrix,
                shift,
                &mut self.pair_sums,
            ),
            None => {
                let tensor = self
                    .tensors
                    .iter()
                    .find(|(name, _)| *name == tensor_name)
                    .map(|(_, dense)| dense)
                    .expect("a validated fixed model holds every tensor its sums name");
                add_product(
                    acc,
                    acc_stride,
                    &reals[offset..],
                    width,
                    rows,
                    tensor,
                    shift,
                );
            }
        }
    }

    fn dense(&self, name: &str) -> &Dense {
        self.tensors
            .iter()
            .find(|(tensor, _)| *tensor == name)
            .map(|(_, dense)| dense)
            .expect("a validated fixed model holds every tensor its sums name")
    }

    fn rows(&self) -> usize {
        self.range.len()
    }

    /// Adds the dense terms of `sum` (operands that are not counts, Abar and Bbar aside) into
    /// `acc`, counting their multiply-accumulates and operand reads as the chip does (H10).
    #[inline(always)]
    fn dense_terms(&mut self, sum: &Sum, sum_name: &str, acc: &mut [f64], operands: SumOperands) {
        let rows = self.rows();
        for term in &sum.terms {
            if term.operand.ends_with("_counts") || term.tensor == "a_bar" || term.tensor == "b_bar"
            {
                continue;
            }
            let operand = match (operands, term.operand.as_str()) {
                (SumOperands::Logits, _) | (_, "hidden") => Reads::Hidden,
                (_, "input") => Reads::Input,
                (SumOperands::Preactivation, _) => Reads::Memory,
                (SumOperands::MemoryInput, _) => Reads::PreviousMemory,
            };
            let tensor = self.dense(&term.tensor);
            let (cols, macs) = (tensor.cols, (tensor.rows * tensor.cols) as u64);
            let width = match operand {
                Reads::Input => self.input.len(),
                Reads::Hidden => self.hidden.len(),
                Reads::Memory | Reads::PreviousMemory | Reads::MemoryState => self.memory.len(),
            } / rows.max(1);
            self.add_term(acc, cols, operand, 0, &term.tensor, term.shift);
            self.count_dense(&term.tensor, sum_name, macs);
            self.counters.memory.state_words_read += (rows * width) as u64;
        }
    }

    /// Counts `macs` multiply-accumulates per sequence of `tensor` into `sum` for the piece's
    /// sequences, and a weight read each (H10, as the chip's `count_dense_in`).
    fn count_dense(&mut self, tensor: &str, sum: &str, macs: u64) {
        self.counters
            .count_dense(tensor, sum, self.rows() as u64 * macs);
    }

    /// Delivers `site`'s counts (read as `reads`) to `tensor` (clause H8), counting them against
    /// the site's target `target` (H10).
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn deliver(
        &mut self,
        site: QuantizedSite,
        reads: Reads,
        events: &EventSums,
        sum: &Sum,
        tensor_name: &str,
        target: usize,
        acc: &mut [f64],
    ) {
        let rows = self.rows();
        let neurons = site.neurons(&self.chip.model().config.lmu);
        let cols = self.dense(tensor_name).cols;
        let fan_out = cols as u64;
        if let Some(term) = term(sum, tensor_name) {
            self.add_term(acc, cols, reads, 0, tensor_name, term.shift);
        }
        let counters = &mut self.counters.site_mut(site).targets[target];
        counters.dense_equivalent_macs += (rows * neurons) as u64 * fan_out;
        events.deliver(counters, fan_out);
        self.counters.memory.weight_words_read += events.events * fan_out;
    }

    /// Runs the piece's sequences through every step and the readout: the logits' integers
    /// and the counters. At dispatch level AVX-512 (AVX2), where the CPU has it, the whole
    /// step (its elementwise loops inlined) is compiled for it: the loops are integer
    /// arithmetic, or binary64 on exact integers, so the vector width changes no bit.
    fn run(self, record: RecordSlices<'_>) -> PieceRun {
        #[cfg(target_arch = "x86_64")]
        {
            if self.isa >= IsaLevel::Avx512
                && std::arch::is_x86_feature_detected!("avx512f")
                && std::arch::is_x86_feature_detected!("avx512bw")
                && std::arch::is_x86_feature_detected!("avx512dq")
                && std::arch::is_x86_feature_detected!("avx512vl")
                && std::arch::is_x86_feature_detected!("avx512cd")
                && std::arch::is_x86_feature_detected!("avx512vpopcntdq")
                && std::arch::is_x86_feature_detected!("popcnt")
                && std::arch::is_x86_feature_detected!("lzcnt")
                && std::arch::is_x86_feature_detected!("bmi1")
            {
                // SAFETY: the CPU supports the nine features (detected just above), the only
                // requirement of `run_avx512`, which is `run_steps` (safe Rust) compiled for
                // them.
                #[allow(unsafe_code)]
                return unsafe { self.run_avx512(record) };
            }
            if self.isa >= IsaLevel::Avx2 && step_avx2_available() {
                // SAFETY: the CPU supports the five features (`step_avx2_available`), the only
                // requirement of `run_avx2`, which is `run_steps` (safe Rust) compiled for
                // them.
                #[allow(unsafe_code)]
                return unsafe { self.run_avx2(record) };
            }
        }
        self.run_steps(record)
    }

    /// [`Piece::run_steps`] compiled for AVX2.
    #[cfg(target_arch = "x86_64")]
    #[allow(unsafe_code)]
    #[target_feature(enable = "avx2,fma,popcnt,lzcnt,bmi1")]
    unsafe fn run_avx2(self, record: RecordSlices<'_>) -> PieceRun {
        self.run_steps(record)
    }

    /// [`Piece::run_steps`] compiled for AVX-512.
    #[cfg(target_arch = "x86_64")]
    #[allow(unsafe_code)]
    #[target_feature(
        enable = "avx512f,avx512bw,avx512dq,avx512vl,avx512cd,avx512vpopcntdq,popcnt,lzcnt,bmi1"
    )]
    unsafe fn run_avx512(self, record: RecordSlices<'_>) -> PieceRun {
        self.run_steps(record)
    }

    #[inline(always)]
    fn run_steps(mut self, mut record: RecordSlices<'_>) -> PieceRun {
        let chip = self.chip;
        let model = chip.model();
        let lmu = &model.config.lmu;
        let formats = &model.formats;
        let sums = &model.sums;
        let (rows, steps) = (self.rows(), self.batch.steps);
        let (hidden_size, memory_size, order) = (lmu.hidden_size, lmu.memory_size, lmu.order);
        let memory_length = lmu.memory_length();
        let spiking_hidden = model.counts[QuantizedSite::Hidden].is_some();
        let memory_input_rule = model.activations[QuantizedSite::MemoryInput].as_ref();
        let memory_state_rule = model.activations[QuantizedSite::MemoryState].as_ref();
        let fraction_v = formats.integrator_fraction_bits;
        let input_scale = 2f64.powi(formats.input.fraction_bits);
        let b_bar = &model.tensors.b_bar.data;
        let a_term = term(&sums.memory, "a_bar").map(|term| term.shift);
        let b_term = term(&sums.memory, "b_bar").map(|term| term.shift);
        let isa = self.isa;

        let at = |sample: usize, step: usize, width: usize, index: usize| {
            (sample * steps + step) * width + index
        };
        // The tallies of the hidden site and the memory input (level `tally`, spiking sites),
        // and one sequence's counts of the step where the record keeps none.
        let mut tallies = SiteMap::from_fn(|site| {
            (self.tallied && model.counts[site].is_some())
                .then(|| TallyBuilder::new(site.neurons(lmu)))
        });
        let (mut step_hidden_counts, mut step_memory_input_counts) =
            (vec![0i64; hidden_size], vec![0i64; memory_size]);
        let mut step_memory_state_counts = vec![0i64; memory_length];

        let mut memory_input_acc = vec![0.0; rows * memory_size];
        let mut memory_acc = vec![0.0; rows * memory_length];
        let mut preactivation_acc = vec![0.0; rows * hidden_size];
        let mut memory_input_integers = vec![0i64; rows * memory_size];
        let mut memory_integers = vec![0i64; rows * memory_length];
        let mut preactivation_integers = vec![0i64; rows * hidden_size];
        let mut preactivation_reals = vec![0.0; rows * hidden_size];
        let mut input_integers = vec![0i64; rows * lmu.input_size];
        let mut hidden_integers = vec![0i64; rows * hidden_size];
        let mut previous_events = EventSums::default();
        let rows_u64 = rows as u64;

        for step in 0..steps {
            // 1. X = sat(nearest(x 2^F_x)).
            for (row, sample) in self.range.clone().enumerate() {
                let values = self.batch.step(sample, step);
                for (feature, &value) in values.iter().enumerate() {
                    let (integer, clamped) =
                        saturate(nearest(value * input_scale), formats.input.bits);
                    self.counters.saturations.input += u64::from(clamped);
                    self.input[row * lmu.input_size + feature] = integer as f64;
                    input_integers[row * lmu.input_size + feature] = integer;
                }
            }
            self.input_pieces.fill(0, &input_integers);
            self.counters.memory.state_words_written += rows_u64 * lmu.input_size as u64;
            std::mem::swap(&mut self.memory, &mut self.previous_memory);
            std::mem::swap(&mut self.memory_pieces, &mut self.previous_memory_pieces);

            // The previous step's hidden events reach W_h and e_h now.
            memory_input_acc.fill(0.0);
            preactivation_acc.fill(0.0);
            if spiking_hidden && step > 0 {
                self.deliver(
                    QuantizedSite::Hidden,
                    Reads::Hidden,
                    &previous_events,
                    &sums.preactivation,
                    "kernel_hidden",
                    0,
                    &mut preactivation_acc,
                );
                if model.tensors.encoder_hidden.is_some() {
                    self.deliver(
                        QuantizedSite::Hidden,
                        Reads::Hidden,
                        &previous_events,
                        &sums.memory_input,
                        "encoder_hidden",
                        1,
                        &mut memory_input_acc,
                    );
                }
            }

            // 2. U.
            self.dense_terms(
                &sums.memory_input,
                "memory_input",
                &mut memory_input_acc,
                SumOperands::MemoryInput,
            );
            round_into(
                &memory_input_acc,
                sums.memory_input.target_shift,
                formats.memory_input.bits,
                &mut self.counters.saturations.memory_input,
                &mut memory_input_integers,
                &mut self.memory_input,
                isa,
            );
            self.counters.memory.state_words_written += rows_u64 * memory_size as u64;

            // 3-4. M_t = Abar M_{t-1} + Bbar U (or Bbar times the memory input's events).
            memory_acc.fill(0.0);
            if let Some(shift) = a_term {
                for dimension in 0..memory_size {
                    let start = dimension * order;
                    self.add_term(
                        &mut memory_acc[start..],
                        memory_length,
                        Reads::PreviousMemory,
                        start,
                        "a_bar",
                        shift,
                    );
                }
                self.count_dense("a_bar", "memory", (memory_size * order * order) as u64);
                self.counters.memory.state_words_read += rows_u64 * memory_length as u64;
            }
            if let Some(rule) = memory_input_rule {
                let mut tally = EventSums::default();
                for row in 0..rows {
                    for (dimension, step_count) in step_memory_input_counts.iter_mut().enumerate() {
                        let index = row * memory_size + dimension;
                        let (count, integrator) = fire(
                            &mut self.integrators[QuantizedSite::MemoryInput][index],
                            apply_rule(rule, memory_input_integers[index]),
                            fraction_v,
                        );
                        *step_count = count;
                        if self.full {
                            record.integrators[QuantizedSite::MemoryInput]
                                [at(row, step, memory_size, dimension)] = integrator;
                        }
                        tally.add(count);
                        if let (Some(shift), true) = (b_term, count != 0) {
                            let scale = count as f64 * 2f64.powi(shift as i32);
                            let start = row * memory_length + dimension * order;
                            for (acc, &b) in memory_acc[start..start + order].iter_mut().zip(b_bar)
                            {
                                *acc += scale * b as f64;
                            }
                        }
                    }
                    let recorded_counts = &mut record.counts[QuantizedSite::MemoryInput];
                    if !recorded_counts.is_empty() {
                        recorded_counts[at(row, step, memory_size, 0)..][..memory_size]
                            .copy_from_slice(&step_memory_input_counts);
                    }
                    if let Some(builder) = tallies[QuantizedSite::MemoryInput].as_mut() {
                        builder.add_row(&step_memory_input_counts, step + 1 == steps);
                    }
                }
                let events = tally;
                let site = self.counters.site_mut(QuantizedSite::MemoryInput);
                site.neuron_updates += rows_u64 * memory_size as u64;
                site.events += events.events;
                let target = &mut site.targets[0];
                target.dense_equivalent_macs += rows_u64 * (memory_size * order) as u64;
                events.deliver(target, order as u64);
                self.counters.memory.weight_words_read += events.events * order as u64;
                self.counters.nonlinear_neuron_updates += rows_u64 * memory_size as u64;
                self.counters.memory.state_words_written += rows_u64 * memory_size as u64;
            } else if let Some(shift) = b_term {
                let scale = 2f64.powi(shift as i32);
                for row in 0..rows {
                    for dimension in 0..memory_size {
                        let u = self.memory_input[row * memory_size + dimension] * scale;
                        let start = row * memory_length + dimension * order;
                        for (acc, &b) in memory_acc[start..start + order].iter_mut().zip(b_bar) {
                            *acc += b as f64 * u;
                        }
                    }
                }
                self.count_dense("b_bar", "memory", (memory_size * order) as u64);
                self.counters.memory.state_words_read += rows_u64 * memory_size as u64;
            }
            round_into(
                &memory_acc,
                sums.memory.target_shift,
                formats.memory.bits,
                &mut self.counters.saturations.memory,
                &mut memory_integers,
                &mut self.memory,
                isa,
            );
            self.memory_pieces.fill(0, &memory_integers);
            self.counters.memory.state_words_written += rows_u64 * memory_length as u64;

            // 4b. The memory state's quantizer, where it spikes: its counts reach W_m now, and
            // the dense terms of Z skip W_m (clause N2).
            if let Some(rule) = memory_state_rule {
                let site = QuantizedSite::MemoryState;
                let mut tally = EventSums::default();
                for row in 0..rows {
                    let neurons = row * memory_length..(row + 1) * memory_length;
                    let slots = at(row, step, memory_length, 0)
                        ..at(row, step, memory_length, memory_length);
                    let recorded_counts = &mut record.counts[site];
                    let counts: &mut [i64] = if recorded_counts.is_empty() {
                        &mut step_memory_state_counts
                    } else {
                        &mut recorded_counts[slots.clone()]
                    };
                    fire_row(
                        rule,
                        fraction_v,
                        &mut self.integrators[site][neurons.clone()],
                        &memory_integers[neurons.clone()],
                        counts,
                        if self.full {
                            &mut record.integrators[site][slots]
                        } else {
                            &mut []
                        },
                        &mut self.memory_state[neurons.clone()],
                        &mut tally,
                    );
                    self.memory_state_pieces.fill(neurons.start, counts);
                    if let Some(builder) = tallies[site].as_mut() {
                        builder.add_row(counts, step + 1 == steps);
                    }
                }
                let counters = self.counters.site_mut(site);
                counters.neuron_updates += rows_u64 * memory_length as u64;
                counters.events += tally.events;
                self.counters.nonlinear_neuron_updates += rows_u64 * memory_length as u64;
                self.counters.memory.state_words_written += rows_u64 * memory_length as u64;
                self.deliver(
                    site,
                    Reads::MemoryState,
                    &tally,
                    &sums.preactivation,
                    "kernel_memory",
                    0,
                    &mut preactivation_acc,
                );
            }

            // 5. Z.
            self.dense_terms(
                &sums.preactivation,
                "preactivation",
                &mut preactivation_acc,
                SumOperands::Preactivation,
            );
            round_into(
                &preactivation_acc,
                sums.preactivation.target_shift,
                formats.preactivation.bits,
                &mut self.counters.saturations.preactivation,
                &mut preactivation_integers,
                &mut preactivation_reals,
                isa,
            );

            // 6-7. The hidden units.
            let hidden_rule = model.activations[QuantizedSite::Hidden]
                .as_ref()
                .expect("a validated fixed model has a rule for the hidden units");
            if matches!(hidden_rule, FixedActivation::Table { .. }) {
                self.counters.table_reads += rows_u64 * hidden_size as u64;
            }
            self.counters.nonlinear_neuron_updates += rows_u64 * hidden_size as u64;
            if spiking_hidden {
                let mut tally = EventSums::default();
                for row in 0..rows {
                    let neurons = row * hidden_size..(row + 1) * hidden_size;
                    let slots =
                        at(row, step, hidden_size, 0)..at(row, step, hidden_size, hidden_size);
                    // The record's row where it keeps the counts, the step's row otherwise.
                    let recorded_counts = &mut record.counts[QuantizedSite::Hidden];
                    let counts: &mut [i64] = if recorded_counts.is_empty() {
                        &mut step_hidden_counts
                    } else {
                        &mut recorded_counts[slots.clone()]
                    };
                    fire_row(
                        hidden_rule,
                        fraction_v,
                        &mut self.integrators[QuantizedSite::Hidden][neurons.clone()],
                        &preactivation_integers[neurons.clone()],
                        counts,
                        if self.full {
                            &mut record.integrators[QuantizedSite::Hidden][slots]
                        } else {
                            &mut []
                        },
                        &mut self.hidden[neurons.clone()],
                        &mut tally,
                    );
                    self.hidden_pieces.fill(neurons.start, counts);
                    if let Some(builder) = tallies[QuantizedSite::Hidden].as_mut() {
                        builder.add_row(counts, step + 1 == steps);
                    }
                }
                let events = tally;
                let site = self.counters.site_mut(QuantizedSite::Hidden);
                site.neuron_updates += rows_u64 * hidden_size as u64;
                site.events += events.events;
                previous_events = events;
                self.counters.memory.state_words_written += 2 * rows_u64 * hidden_size as u64;
            } else {
                for row in 0..rows {
                    for neuron in 0..hidden_size {
                        let index = row * hidden_size + neuron;
                        let output = apply_rule(hidden_rule, preactivation_integers[index]);
                        self.hidden[index] = output as f64;
                        hidden_integers[index] = output;
                        if self.full {
                            record.hidden_output[at(row, step, hidden_size, neuron)] = output;
                        }
                    }
                }
                self.hidden_pieces.fill(0, &hidden_integers);
                self.counters.memory.state_words_written += rows_u64 * hidden_size as u64;
            }
            if self.full {
                for row in 0..rows {
                    let copy = |source: &[i64], target: &mut [i64], width: usize| {
                        target[at(row, step, width, 0)..][..width]
                            .copy_from_slice(&source[row * width..][..width]);
                    };
                    copy(&memory_input_integers, record.memory_input, memory_size);
                    copy(&memory_integers, record.memory, memory_length);
                    copy(&preactivation_integers, record.preactivation, hidden_size);
                }
            }
        }
        self.counters.steps = steps as u64;

        // 8. The readout: the last step's events, or the dense terms of the hidden output.
        let outputs = model.config.output_size;
        let mut logits_acc = vec![0.0; rows * outputs];
        if spiking_hidden {
            let target = self.counters.site_mut(QuantizedSite::Hidden).targets.len() - 1;
            self.deliver(
                QuantizedSite::Hidden,
                Reads::Hidden,
                &previous_events,
                &sums.logits,
                "readout_kernel",
                target,
                &mut logits_acc,
            );
        } else {
            self.dense_terms(&sums.logits, "logits", &mut logits_acc, SumOperands::Logits);
        }
        let logits = logits_acc
            .chunks(outputs.max(1))
            .flat_map(|row| {
                row.iter()
                    .zip(&model.tensors.readout_bias.data)
                    .map(|(&sum, &bias)| (sum as i64).wrapping_add(bias))
            })
            .collect();
        PieceRun {
            logits,
            counters: self.counters,
            tallies: tallies.map(|_, builder| builder.map(TallyBuilder::finish)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arithmetic::{bit_serial_steps, popcount};

    /// H1, H5, H13: the rounding gives `sat(rshr(acc, shift))` at every dispatch level this
    /// CPU has (the binary64 form at AVX2, the AVX-512 build, the portable loop): sums at
    /// ties and either side of them, both signs, the largest magnitudes below 2^52, every
    /// shift from 0 to 52 and beyond (left shifts and wide ones, which the binary64 form
    /// leaves to the portable loop), targets of 1 to 32 bits and wider, saturating and not.
    #[test]
    fn h13_rounding_equals_rshr_and_saturation_at_every_level() {
        let top = (1i64 << 52) - 1;
        let mut sums: Vec<i64> = vec![0, 1, -1, 2, -2, 3, -3, top, -top, top - 1, -top + 1];
        for shift in 0..53 {
            let tie = 1i64 << shift >> 1;
            for base in [0i64, 5 << shift, -(7 << shift), top >> 1 << 1] {
                for delta in [-tie - 1, -tie, -tie + 1, tie - 1, tie, tie + 1] {
                    let sum = base.saturating_add(delta);
                    if sum.abs() <= top {
                        sums.push(sum);
                    }
                }
            }
        }
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        for _ in 0..2000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            sums.push((state >> 11) as i64 % top * if state & 1 == 0 { 1 } else { -1 });
        }
        let acc: Vec<f64> = sums.iter().map(|&sum| sum as f64).collect();
        let mut binary64_cases = 0;
        for shift in [-3, -1, 0, 1, 2, 7, 12, 20, 31, 40, 51, 52, 53, 60] {
            for bits in [1u32, 2, 8, 16, 24, 31, 32, 33, 48] {
                let limit = hsnn_spec::fixed::symmetric_limit(bits);
                let mut expected_saturated = 0u64;
                let expected: Vec<i64> = sums
                    .iter()
                    .map(|&sum| {
                        let rounded = rshr(sum, shift);
                        let value = rounded.clamp(-limit, limit);
                        expected_saturated += u64::from(value != rounded);
                        value
                    })
                    .collect();
                binary64_cases += usize::from(rounds_in_binary64(shift, bits));
                for isa in IsaLevel::available() {
                    let mut saturated = 3;
                    let mut integers = vec![0i64; acc.len()];
                    let mut reals = vec![0.0; acc.len()];
                    round_into(
                        &acc,
                        shift,
                        bits,
                        &mut saturated,
                        &mut integers,
                        &mut reals,
                        isa,
                    );
                    assert_eq!(integers, expected, "{isa}, shift {shift}, bits {bits}");
                    assert!(
                        reals
                            .iter()
                            .zip(&expected)
                            .all(|(&real, &value)| real == value as f64),
                        "{isa}, shift {shift}, bits {bits}"
                    );
                    assert_eq!(saturated, 3 + expected_saturated, "{isa}, shift {shift}");
                }
            }
        }
        assert!(binary64_cases >= 50, "{binary64_cases}");
    }

    /// The binary64 form of the rounding, on its own (whatever the CPU), equals the integer
    /// one wherever `rounds_in_binary64` admits it; just beyond its range (a 53-bit shift of
    /// a sum near 2^52) it would not, which is why the range is checked.
    #[test]
    fn h13_binary64_rounding_holds_exactly_in_its_range() {
        let top = (1i64 << 52) - 1;
        for shift in 0..=52 {
            for sum in [
                top,
                -top,
                top - (1 << 20),
                1 << shift >> 1,
                -(1 << shift >> 1),
            ] {
                let (mut integer, mut real, mut saturated) = ([0i64], [0.0], 0);
                round_into_binary64(
                    &[sum as f64],
                    shift,
                    32,
                    &mut saturated,
                    &mut integer,
                    &mut real,
                );
                let limit = hsnn_spec::fixed::symmetric_limit(32);
                assert_eq!(
                    integer[0],
                    rshr(sum, shift).clamp(-limit, limit),
                    "{sum} >> {shift}"
                );
            }
        }
        assert!(!rounds_in_binary64(53, 32) && !rounds_in_binary64(-1, 32));
        assert!(!rounds_in_binary64(10, 33) && rounds_in_binary64(52, 32));
    }

    /// B2, B3, B6: the branch-free sums equal the chip's counting of each event with H8's
    /// definitions (arithmetic.rs), for small counts, zero, 41-bit counts and the most negative
    /// count (whose magnitude only u64 holds).
    #[test]
    fn h13_event_sums_equal_counting_one_by_one() {
        let counts: Vec<i64> = (-70..=70)
            .chain([1 << 40, -(1 << 40), (1 << 40) + 5, 0, 0, 3, 3, i64::MIN])
            .collect();
        let mut sums = EventSums::default();
        let (mut events, mut popcounts, mut steps, mut magnitudes) = (0u64, 0u64, 0u64, 0u64);
        for &count in &counts {
            sums.add(count);
            if count != 0 {
                events += 1;
                popcounts += popcount(count);
                steps += bit_serial_steps(count);
                magnitudes += count.unsigned_abs();
            }
        }
        assert_eq!(
            (
                sums.events,
                sums.popcounts,
                sums.bit_serial_steps,
                sums.magnitudes
            ),
            (events, popcounts, steps, magnitudes)
        );
        assert_eq!(sums.events, counts.len() as u64 - 3);
        // 5 = 0b101: two set bits over three bit positions; 12 = 0b1100 over two.
        let mut five = EventSums::default();
        five.add(-5);
        five.add(12);
        assert_eq!(
            (five.popcounts, five.bit_serial_steps, five.magnitudes),
            (4, 5, 17)
        );
    }
}
