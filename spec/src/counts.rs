//! Spike counts as a trace records them (SPEC.md clause N3): in the narrowest signed integer
//! type that holds every one of them.
//!
//! A count is an `i64` (clause Q1 rounds `w_t` to any integer), but at the dts where spiking
//! is worth anything a count is a few units: on the paper network every hidden count at dt 10
//! lies in -10..=10. Stored as `i64`, a batch of 100 sequences of the paper network records 133
//! MB per site; as `i8`, 17 MB. [`Counts`] starts at `i8` and widens the whole buffer (to
//! `i16`, `i32`, then `i64`) the first time a count does not fit, so the values read back are
//! always the ones written, whatever their size.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::trace::CountTally;

/// The values, in one of four widths.
#[derive(Debug, Clone)]
enum Storage {
    I8(Vec<i8>),
    I16(Vec<i16>),
    I32(Vec<i32>),
    I64(Vec<i64>),
}

/// Spike counts in the narrowest of `i8`, `i16`, `i32` and `i64` that holds all of them
/// (clause N3). Read as `i64`; equal to another [`Counts`] when their values are, whatever the
/// widths; serialized as a list of integers.
#[derive(Debug, Clone)]
pub struct Counts {
    storage: Storage,
}

impl Default for Counts {
    fn default() -> Self {
        Counts::new()
    }
}

/// The widths, narrowest first, as the bits of each.
const WIDTHS: [u32; 4] = [8, 16, 32, 64];

/// The bits of the narrowest width that holds every value from `lowest` to `highest`.
fn bits_for(lowest: i64, highest: i64) -> u32 {
    WIDTHS
        .into_iter()
        .find(|&bits| {
            let limit = 1i64 << (bits.min(63) - 1);
            bits == 64 || (lowest >= -limit && highest < limit)
        })
        .unwrap_or(64)
}

impl Counts {
    /// No counts.
    pub fn new() -> Self {
        Counts {
            storage: Storage::I8(Vec::new()),
        }
    }

    /// `len` zero counts (in `i8`, so a buffer the allocator hands out zeroed costs nothing
    /// until written).
    pub fn zeros(len: usize) -> Self {
        Counts {
            storage: Storage::I8(vec![0; len]),
        }
    }

    /// How many counts there are.
    pub fn len(&self) -> usize {
        match &self.storage {
            Storage::I8(values) => values.len(),
            Storage::I16(values) => values.len(),
            Storage::I32(values) => values.len(),
            Storage::I64(values) => values.len(),
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bits of each stored count: 8, 16, 32 or 64.
    pub fn bits(&self) -> u32 {
        match &self.storage {
            Storage::I8(_) => 8,
            Storage::I16(_) => 16,
            Storage::I32(_) => 32,
            Storage::I64(_) => 64,
        }
    }

    /// Count `index`. Panics when `index` is out of range, as indexing a slice does.
    pub fn get(&self, index: usize) -> i64 {
        match &self.storage {
            Storage::I8(values) => i64::from(values[index]),
            Storage::I16(values) => i64::from(values[index]),
            Storage::I32(values) => i64::from(values[index]),
            Storage::I64(values) => values[index],
        }
    }

    /// Every count, in order.
    pub fn iter(&self) -> Box<dyn Iterator<Item = i64> + '_> {
        match &self.storage {
            Storage::I8(values) => Box::new(values.iter().map(|&value| i64::from(value))),
            Storage::I16(values) => Box::new(values.iter().map(|&value| i64::from(value))),
            Storage::I32(values) => Box::new(values.iter().map(|&value| i64::from(value))),
            Storage::I64(values) => Box::new(values.iter().copied()),
        }
    }

    /// The counts from `start` to `end` (exclusive), as `i64`. Panics when the range is out
    /// of bounds.
    pub fn range_to_vec(&self, start: usize, end: usize) -> Vec<i64> {
        assert!(
            start <= end && end <= self.len(),
            "counts {start}..{end} of {}",
            self.len()
        );
        self.iter().skip(start).take(end - start).collect()
    }

    /// The tally of these counts laid out as a trace's (`steps` rows of `neurons` counts per
    /// sequence): [`CountTally::of_counts`] on the stored values.
    pub fn tally(&self, steps: usize, neurons: usize) -> CountTally {
        match &self.storage {
            Storage::I8(values) => CountTally::of_counts(values, steps, neurons),
            Storage::I16(values) => CountTally::of_counts(values, steps, neurons),
            Storage::I32(values) => CountTally::of_counts(values, steps, neurons),
            Storage::I64(values) => CountTally::of_counts(values, steps, neurons),
        }
    }

    /// Every count as `i64`.
    pub fn to_vec(&self) -> Vec<i64> {
        self.iter().collect()
    }

    /// Stores at least `bits` per count from now on (no narrower than now), keeping every
    /// value.
    fn widen_to(&mut self, bits: u32) {
        if bits <= self.bits() {
            return;
        }
        fn converted<T: Copy + Into<i64>, U: TryFrom<i64>>(values: &[T]) -> Vec<U> {
            values
                .iter()
                .map(|&value| {
                    U::try_from(value.into())
                        .unwrap_or_else(|_| unreachable!("a wider integer holds a narrower one"))
                })
                .collect()
        }
        let storage = std::mem::replace(&mut self.storage, Storage::I8(Vec::new()));
        self.storage = match (storage, bits) {
            (Storage::I8(values), 16) => Storage::I16(converted(&values)),
            (Storage::I8(values), 32) => Storage::I32(converted(&values)),
            (Storage::I8(values), _) => Storage::I64(converted(&values)),
            (Storage::I16(values), 32) => Storage::I32(converted(&values)),
            (Storage::I16(values), _) => Storage::I64(converted(&values)),
            (Storage::I32(values), _) => Storage::I64(converted(&values)),
            (Storage::I64(values), _) => Storage::I64(values),
        };
    }

    /// Writes `row` from position `start` on (widening first when a value does not fit).
    /// Panics when the row does not fit inside the counts.
    pub fn write<T: Copy + Into<i64>>(&mut self, start: usize, row: &[T]) {
        assert!(
            start + row.len() <= self.len(),
            "{} counts from {start} into {}",
            row.len(),
            self.len()
        );
        let (lowest, highest) = row
            .iter()
            .map(|&value| value.into())
            .fold((0i64, 0i64), |(low, high), value| {
                (low.min(value), high.max(value))
            });
        self.widen_to(bits_for(lowest, highest));
        // Every value fits the width now, so the narrowing casts are exact.
        match &mut self.storage {
            Storage::I8(values) => {
                for (target, &value) in values[start..].iter_mut().zip(row) {
                    *target = value.into() as i8;
                }
            }
            Storage::I16(values) => {
                for (target, &value) in values[start..].iter_mut().zip(row) {
                    *target = value.into() as i16;
                }
            }
            Storage::I32(values) => {
                for (target, &value) in values[start..].iter_mut().zip(row) {
                    *target = value.into() as i32;
                }
            }
            Storage::I64(values) => {
                for (target, &value) in values[start..].iter_mut().zip(row) {
                    *target = value.into();
                }
            }
        }
    }

    /// Appends `values` at the end.
    pub fn extend<I: IntoIterator<Item = i64>>(&mut self, values: I) {
        for value in values {
            let end = self.len();
            self.widen_to(bits_for(value.min(0), value.max(0)));
            match &mut self.storage {
                Storage::I8(values) => values.push(value as i8),
                Storage::I16(values) => values.push(value as i16),
                Storage::I32(values) => values.push(value as i32),
                Storage::I64(values) => values.push(value),
            }
            debug_assert_eq!(self.len(), end + 1);
        }
    }

    /// The counts of `parts` one after the other, in the widest of their widths.
    pub fn concatenated(parts: Vec<Counts>) -> Counts {
        let bits = parts.iter().map(Counts::bits).max().unwrap_or(8);
        let total = parts.iter().map(Counts::len).sum();
        let mut whole = Counts::zeros(0);
        whole.widen_to(bits);
        match &mut whole.storage {
            Storage::I8(values) => values.reserve_exact(total),
            Storage::I16(values) => values.reserve_exact(total),
            Storage::I32(values) => values.reserve_exact(total),
            Storage::I64(values) => values.reserve_exact(total),
        }
        for mut part in parts {
            part.widen_to(bits);
            match (&mut whole.storage, part.storage) {
                (Storage::I8(values), Storage::I8(part)) => values.extend_from_slice(&part),
                (Storage::I16(values), Storage::I16(part)) => values.extend_from_slice(&part),
                (Storage::I32(values), Storage::I32(part)) => values.extend_from_slice(&part),
                (Storage::I64(values), Storage::I64(part)) => values.extend_from_slice(&part),
                _ => unreachable!("every part was widened to the whole's width"),
            }
        }
        whole
    }
}

impl From<Vec<i64>> for Counts {
    /// The counts of `values`, in the narrowest width that holds them.
    fn from(values: Vec<i64>) -> Self {
        let (lowest, highest) = values.iter().fold((0i64, 0i64), |(low, high), &value| {
            (low.min(value), high.max(value))
        });
        let mut counts = Counts::zeros(values.len());
        if bits_for(lowest, highest) == 64 {
            counts.storage = Storage::I64(values);
        } else {
            counts.write(0, &values);
        }
        counts
    }
}

impl PartialEq for Counts {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl PartialEq<Vec<i64>> for Counts {
    fn eq(&self, other: &Vec<i64>) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter().copied())
    }
}

impl Serialize for Counts {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

impl<'de> Deserialize<'de> for Counts {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Vec::<i64>::deserialize(deserializer).map(Counts::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// N3: counts read back as written, at every width, and the width is the narrowest that
    /// holds them (each width's limits on both sides).
    #[test]
    fn n3_counts_keep_every_value_in_the_narrowest_width() {
        for (values, bits) in [
            (vec![0i64, 1, -1, 127, -128], 8),
            (vec![128], 16),
            (vec![-129], 16),
            (vec![32_767, -32_768], 16),
            (vec![32_768], 32),
            (vec![-2_147_483_648, 2_147_483_647], 32),
            (vec![2_147_483_648], 64),
            (vec![i64::MIN, i64::MAX, 0], 64),
        ] {
            let counts = Counts::from(values.clone());
            assert_eq!(counts.bits(), bits, "{values:?}");
            assert_eq!(counts.to_vec(), values);
            assert_eq!(counts, values);
            assert!(!counts.is_empty());
            for (index, &value) in values.iter().enumerate() {
                assert_eq!(counts.get(index), value, "{values:?}[{index}]");
            }
            let mut written = Counts::zeros(values.len() + 2);
            written.write(1, &values);
            assert_eq!(written.bits(), bits, "{values:?}");
            assert_eq!(written.get(0), 0);
            assert_eq!(written.range_to_vec(1, values.len() + 1), values);
            assert_eq!(written.get(values.len() + 1), 0);
            let mut extended = Counts::new();
            extended.extend(values.iter().copied());
            assert_eq!((extended.bits(), extended.to_vec()), (bits, values));
        }
    }

    /// N3: widening keeps the values written before, at every step of widths.
    #[test]
    fn n3_widening_keeps_what_was_written() {
        let mut counts = Counts::zeros(5);
        counts.write(0, &[-3i32, 100]);
        assert_eq!(counts.bits(), 8);
        counts.write(2, &[-1_000i32]);
        assert_eq!(counts.bits(), 16);
        counts.write(3, &[70_000i32]);
        assert_eq!(counts.bits(), 32);
        counts.write(4, &[-5_000_000_000i64]);
        assert_eq!(counts.bits(), 64);
        assert_eq!(
            counts.to_vec(),
            vec![-3, 100, -1_000, 70_000, -5_000_000_000]
        );
        // Writing small values again never narrows.
        counts.write(0, &[1i32]);
        assert_eq!(counts.bits(), 64);
    }

    /// N3: concatenation takes the widest part's width and keeps every part's values in order;
    /// equality and serialization see values, not widths.
    #[test]
    fn n3_concatenated_counts_and_their_json() {
        let parts = vec![
            Counts::from(vec![1, -2]),
            Counts::from(vec![300]),
            Counts::new(),
            Counts::from(vec![-4]),
        ];
        let whole = Counts::concatenated(parts);
        assert_eq!(whole.bits(), 16);
        assert_eq!(whole.to_vec(), vec![1, -2, 300, -4]);
        let mut wide = Counts::from(vec![1, -2, 300]);
        wide.extend([i64::MAX]);
        wide.write(3, &[-4i64]);
        assert_eq!(wide.bits(), 64);
        assert_eq!(wide, whole);
        assert_ne!(Counts::from(vec![1, -2, 300]), whole);
        let json = serde_json::to_string(&whole).expect("serializes");
        assert_eq!(json, "[1,-2,300,-4]");
        let read: Counts = serde_json::from_str(&json).expect("reads");
        assert_eq!((read.bits(), read), (16, whole));
        assert!(Counts::concatenated(Vec::new()).is_empty());
        assert!(Counts::new().is_empty() && Counts::zeros(0).is_empty());
        // Every width of the whole, from parts of that width and narrower ones.
        for (widest, bits) in [(7i64, 8), (70_000, 32), (i64::MIN, 64)] {
            let parts = vec![Counts::from(vec![-1]), Counts::from(vec![widest, 2])];
            let whole = Counts::concatenated(parts);
            assert_eq!((whole.bits(), whole.to_vec()), (bits, vec![-1, widest, 2]));
        }
    }

    /// N3: equal counts are equal value by value: the same length is not enough.
    #[test]
    fn n3_counts_of_the_same_length_differ_where_a_value_does() {
        let counts = Counts::from(vec![1, 2]);
        assert_ne!(counts, Counts::from(vec![1, 3]));
        assert_ne!(counts, vec![1, 3]);
        assert_ne!(counts, Counts::from(vec![1, 2, 0]));
        assert_ne!(counts, vec![1]);
        assert_eq!(counts, Counts::from(vec![1, 2]));
    }

    #[test]
    #[should_panic(expected = "counts from 2 into 3")]
    fn n3_a_row_past_the_end_is_refused() {
        Counts::zeros(3).write(2, &[1i32, 2]);
    }
}
