//! A window of the most recent task durations, summarised as mean, p50 and
//! p99 for the worker's heartbeats.
//!
//! OS idea: a fixed-size ring buffer, the structure behind kernel log
//! buffers (`dmesg`) and pipe buffers. Its memory is allocated once and never
//! grows, whatever the number of tasks a worker runs; when it is full, each
//! new value overwrites the oldest. So the summary always describes recent
//! behaviour, and a long-lived worker costs no more than a fresh one.
//!
//! Percentiles are by nearest rank: sort the `n` values and take the one at
//! (1-based) rank `ceil(p/100 * n)`. It always returns a value that was
//! actually recorded, never an interpolation between two.

/// Durations a default window remembers.
pub const WINDOW: usize = 256;

/// The last few task durations, in milliseconds.
#[derive(Debug, Clone)]
pub struct LatencyWindow {
    /// The ring: allocated at full size up front. Slots `0..count` hold
    /// values; once `count == slots.len()` they all do.
    slots: Vec<u64>,
    /// The slot the next value goes into; it wraps back to 0 at the end, where
    /// it lands on the oldest value.
    next: usize,
    /// Values held, at most `slots.len()`.
    count: usize,
}

impl LatencyWindow {
    /// A window of the last `WINDOW` durations.
    pub fn new() -> LatencyWindow {
        LatencyWindow::with_capacity(WINDOW)
    }

    /// A window of the last `n` durations; `n` below 1 is taken as 1.
    pub fn with_capacity(n: usize) -> LatencyWindow {
        LatencyWindow {
            slots: vec![0; n.max(1)],
            next: 0,
            count: 0,
        }
    }

    /// Records one duration, overwriting the oldest if the window is full.
    pub fn record(&mut self, ms: u64) {
        self.slots[self.next] = ms;
        self.next = (self.next + 1) % self.slots.len();
        self.count = (self.count + 1).min(self.slots.len());
    }

    /// Durations currently held: the number recorded, up to the capacity.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.count
    }

    /// True before anything is recorded.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// (mean, p50, p99) over the window; all 0 when empty. Mean rounds down;
    /// percentiles by nearest rank: the value at rank ceil(p/100 * n) in
    /// sorted order.
    ///
    /// Sorts a copy of the window: at most `WINDOW` values, once per
    /// heartbeat.
    pub fn summary(&self) -> (u64, u64, u64) {
        if self.is_empty() {
            return (0, 0, 0);
        }
        // The ring fills from slot 0, so the held values are always the first
        // `count` slots, in some rotation; order does not matter here.
        let mut sorted = self.slots[..self.count].to_vec();
        sorted.sort_unstable();

        // A u128 sum cannot overflow: 2^64 values of at most 2^64 - 1.
        let sum: u128 = sorted.iter().map(|&ms| u128::from(ms)).sum();
        let mean = sum / sorted.len() as u128;
        // The mean is at most the largest value, so it fits in a u64.
        let mean = u64::try_from(mean).unwrap_or(u64::MAX);

        (mean, nearest_rank(&sorted, 50), nearest_rank(&sorted, 99))
    }
}

impl Default for LatencyWindow {
    fn default() -> LatencyWindow {
        LatencyWindow::new()
    }
}

/// The `p`th percentile of non-empty `sorted` by nearest rank: the value at
/// 1-based rank `ceil(p * n / 100)`, at least rank 1.
fn nearest_rank(sorted: &[u64], p: usize) -> u64 {
    let n = sorted.len();
    let rank = (p * n).div_ceil(100).clamp(1, n);
    sorted[rank - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_is_zeros() {
        let w = LatencyWindow::new();
        assert!(w.is_empty());
        assert_eq!(w.len(), 0);
        assert_eq!(w.summary(), (0, 0, 0));
        assert_eq!(LatencyWindow::default().summary(), (0, 0, 0));
    }

    #[test]
    fn one_value_is_every_statistic() {
        let mut w = LatencyWindow::new();
        w.record(42);
        assert_eq!(w.len(), 1);
        assert!(!w.is_empty());
        assert_eq!(w.summary(), (42, 42, 42));
    }

    #[test]
    fn one_to_hundred() {
        let mut w = LatencyWindow::new();
        // Recorded out of order: summary must not depend on arrival order.
        for ms in (1..=100).rev() {
            w.record(ms);
        }
        assert_eq!(w.len(), 100);
        // Mean 50.5 rounds down.
        assert_eq!(w.summary(), (50, 50, 99));
    }

    #[test]
    fn nearest_rank_small_windows() {
        let mut w = LatencyWindow::new();
        w.record(10);
        w.record(20);
        // n = 2: p50 is rank ceil(1.0) = 1, p99 is rank ceil(1.98) = 2.
        assert_eq!(w.summary(), (15, 10, 20));
        w.record(30);
        // n = 3: p50 is rank ceil(1.5) = 2, p99 is rank ceil(2.97) = 3.
        assert_eq!(w.summary(), (20, 20, 30));
    }

    #[test]
    fn wrap_around_keeps_last_n() {
        let mut w = LatencyWindow::with_capacity(4);
        for ms in 1..=10 {
            w.record(ms);
        }
        assert_eq!(w.len(), 4);
        // Over 7, 8, 9, 10: mean 8.5 rounds down, p50 rank 2, p99 rank 4.
        assert_eq!(w.summary(), (8, 8, 10));
    }

    #[test]
    fn default_window_is_bounded() {
        let mut w = LatencyWindow::new();
        for ms in 0..(3 * WINDOW as u64) {
            w.record(ms);
        }
        assert_eq!(w.len(), WINDOW);
        let oldest = 2 * WINDOW as u64;
        let newest = 3 * WINDOW as u64 - 1;
        let (mean, _, p99) = w.summary();
        assert_eq!(mean, (oldest + newest) / 2);
        assert!(p99 <= newest && p99 > oldest);
    }

    #[test]
    fn zero_capacity_is_clamped_to_one() {
        let mut w = LatencyWindow::with_capacity(0);
        w.record(5);
        w.record(7);
        assert_eq!(w.len(), 1);
        assert_eq!(w.summary(), (7, 7, 7));
    }

    #[test]
    fn huge_values_do_not_overflow_mean() {
        let mut w = LatencyWindow::new();
        for _ in 0..WINDOW {
            w.record(u64::MAX);
        }
        assert_eq!(w.summary(), (u64::MAX, u64::MAX, u64::MAX));

        let mut w = LatencyWindow::with_capacity(2);
        w.record(u64::MAX);
        w.record(u64::MAX - 2);
        assert_eq!(w.summary().0, u64::MAX - 1);
    }
}
