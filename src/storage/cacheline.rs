//! Cache lines: the unit in which the CPU moves memory, and asking for one
//! before it is needed.
//!
//! OS idea: memory latency, and overlapping it. A load that misses every
//! cache waits for DRAM, about 100 ns on this machine, or some 300 simple
//! instructions. A loop that looks up one random record after another
//! (a sort read in key order, a hash table probed per input record) pays
//! that wait once per record, one after the other. The CPU can have many
//! misses in flight at once, though: a prefetch starts the load of a line
//! and returns at once, so a loop that prefetches what it will touch a few
//! records ahead pays for many misses in the time of one.

/// Bytes in a cache line on x86-64 (and most other CPUs of today).
const CACHE_LINE_BYTES: usize = 64;

/// Prefetches every cache line of `bytes`.
#[inline]
pub fn prefetch_bytes(bytes: &[u8]) {
    let start = bytes.as_ptr();
    for offset in (0..bytes.len()).step_by(CACHE_LINE_BYTES) {
        prefetch_line(start.wrapping_add(offset));
    }
}

/// Prefetches every cache line that `value` lies in (a struct may start in
/// one line and end in the next).
#[inline]
pub fn prefetch_value<T>(value: &T) {
    let start = (value as *const T).cast::<u8>();
    // A value no larger than its alignment (a `u64`: 8 bytes, 8-aligned)
    // never crosses a line: one prefetch, with nothing to compute (issue
    // 16: the count below was a tenth of the aggregator's `add`).
    if std::mem::size_of::<T>() <= std::mem::align_of::<T>() {
        prefetch_line(start);
        return;
    }
    let offset = start as usize % CACHE_LINE_BYTES;
    let lines = (offset + std::mem::size_of::<T>()).div_ceil(CACHE_LINE_BYTES);
    for line in 0..lines {
        prefetch_line(start.wrapping_add(line * CACHE_LINE_BYTES));
    }
}

/// Asks the CPU to start loading the cache line holding `at` (the
/// `prefetcht0` instruction on x86-64; nothing elsewhere).
#[inline]
fn prefetch_line(at: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint: it reads nothing into the program and
    // cannot fault, whatever the address.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(at.cast::<i8>())
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = at;
}
