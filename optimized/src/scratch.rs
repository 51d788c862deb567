//! Reused per-thread buffers for the history a training step keeps (clauses T2, T3); how
//! they are reused is clause T8's.
//!
//! A training step of the paper network keeps about 140 MB of per-step values per shard (the
//! memory, hidden states, rates and pre-activation adjoints of every step) and frees them at
//! its end. Allocated afresh each step, those pages come back from the kernel, which faults
//! and clears every one of them: 7 % of a step in the profile. The buffers here are taken from
//! and given back to a small pool owned by the thread (rayon's workers live as long as the
//! process), so a step reuses the pages of the step before. The weight-gradient products
//! take their packed panels from here as well (`packed::transposed_product`, 180 KB per
//! call).
//!
//! Only buffers whose every element the caller writes before reading it may come from here,
//! or whose unwritten elements never reach a result (the panels' padding lanes, read into
//! vector lanes that are never stored): their contents are whatever the last user left.
//! Debug builds (the test suite) fill each buffer with NaN when it is taken, so a read before
//! the write poisons the result and the gradient checks fail instead of depending on the
//! previous batch. Nothing here changes a
//! number; clause T8's determinism rests on that rule.

use std::cell::RefCell;

/// At most this many buffers stay in a thread's pool; a training step holds up to five at
/// once (memory, hidden states, rates when the hidden units spike, pre-activation adjoints,
/// a weight-gradient product's panels).
const KEPT_BUFFERS: usize = 8;

/// At most this many bytes stay in a thread's pool, so that a long-lived process (the Python
/// package) holds no more than one large step's history per thread after training.
const KEPT_BYTES: usize = 256 << 20;

thread_local! {
    static POOL: RefCell<Vec<Vec<f32>>> = const { RefCell::new(Vec::new()) };
}

/// A buffer of `len` values for the caller to write before it reads them (or whose unwritten
/// values never reach a result, as the module says): the smallest pooled buffer that holds
/// `len` values, else a new one. Its contents are unspecified (NaN in debug builds).
pub(crate) fn overwritten(len: usize) -> Vec<f32> {
    // An empty buffer (the rates of a network whose hidden units do not spike) must not take
    // a pooled one: that would leave the next request of a step without its buffer.
    if len == 0 {
        return Vec::new();
    }
    let reused = POOL.with(|pool| {
        let mut pool = pool.borrow_mut();
        let best = pool
            .iter()
            .enumerate()
            .filter(|(_, buffer)| buffer.capacity() >= len)
            .min_by_key(|(_, buffer)| buffer.capacity())
            .map(|(index, _)| index)?;
        Some(pool.swap_remove(best))
    });
    let mut buffer = match reused {
        Some(mut buffer) => {
            // Within the capacity: `truncate` writes nothing; `resize` writes only the values
            // past the current length, on pages already touched.
            if buffer.len() >= len {
                buffer.truncate(len);
            } else {
                buffer.resize(len, 0.0);
            }
            buffer
        }
        None => vec![0.0; len],
    };
    if cfg!(debug_assertions) {
        buffer.fill(f32::NAN);
    }
    buffer
}

/// Returns `buffer` to this thread's pool for a later [`overwritten`], or frees it when the
/// pool is full.
pub(crate) fn give_back(buffer: Vec<f32>) {
    if buffer.capacity() == 0 {
        return;
    }
    POOL.with(|pool| {
        let mut pool = pool.borrow_mut();
        let kept: usize = pool
            .iter()
            .map(|buffer| buffer.capacity() * size_of::<f32>())
            .sum();
        if pool.len() < KEPT_BUFFERS && kept + buffer.capacity() * size_of::<f32>() <= KEPT_BYTES {
            pool.push(buffer);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn t8_scratch_buffers_are_reused_and_poisoned_in_debug_builds() {
        let mut first = overwritten(1000);
        assert_eq!(first.len(), 1000);
        first.fill(1.0);
        let address = first.as_ptr();
        give_back(first);
        let second = overwritten(600);
        assert_eq!(second.len(), 600);
        assert_eq!(second.as_ptr(), address, "the pooled buffer is taken again");
        if cfg!(debug_assertions) {
            assert!(
                second.iter().all(|value| value.is_nan()),
                "stale values show"
            );
        }
        give_back(second);
        let grown = overwritten(1000);
        assert_eq!(grown.len(), 1000);
        assert_eq!(grown.as_ptr(), address);
        // A request larger than any pooled buffer gets a new one and leaves the pool alone.
        let larger = overwritten(5000);
        assert_ne!(larger.as_ptr(), address);
        assert_eq!(larger.len(), 5000);
    }

    #[test]
    fn t8_scratch_an_empty_request_leaves_the_pooled_buffers_to_the_others() {
        POOL.with(|pool| pool.borrow_mut().clear());
        let mut kept = overwritten(1000);
        kept.fill(1.0);
        let address = kept.as_ptr();
        give_back(kept);
        let empty = overwritten(0);
        assert_eq!(empty.capacity(), 0, "an empty request took a pooled buffer");
        let next = overwritten(1000);
        assert_eq!(next.as_ptr(), address, "the pooled buffer is still there");
        give_back(empty);
        give_back(next);
        POOL.with(|pool| pool.borrow_mut().clear());
    }

    #[test]
    fn t8_scratch_pool_keeps_a_bounded_number_of_bytes_and_buffers() {
        let pooled =
            || POOL.with(|pool| pool.borrow().iter().map(Vec::capacity).collect::<Vec<_>>());
        POOL.with(|pool| pool.borrow_mut().clear());
        // Reserved, never touched: the pool only looks at capacities.
        let big = KEPT_BYTES / size_of::<f32>() / 2 + 1;
        give_back(Vec::with_capacity(big));
        give_back(Vec::with_capacity(big));
        assert_eq!(
            pooled().len(),
            1,
            "two halves and a bit do not fit in KEPT_BYTES"
        );
        // What is kept adds up: a small buffer and a half fit together, a second half not.
        POOL.with(|pool| pool.borrow_mut().clear());
        let half = KEPT_BYTES / size_of::<f32>() / 2;
        give_back(Vec::with_capacity(1024));
        give_back(Vec::with_capacity(half));
        assert_eq!(pooled(), vec![1024, half], "a small buffer and a half fit");
        give_back(Vec::with_capacity(half));
        assert_eq!(pooled().len(), 2, "1024 values more than KEPT_BYTES do not");
        POOL.with(|pool| pool.borrow_mut().clear());
        for _ in 0..KEPT_BUFFERS + 3 {
            give_back(Vec::with_capacity(16));
        }
        assert_eq!(pooled().len(), KEPT_BUFFERS);
        give_back(Vec::new());
        assert_eq!(pooled().len(), KEPT_BUFFERS);
        POOL.with(|pool| pool.borrow_mut().clear());
    }
}
