//! A bounded ring of recent values: the last heartbeats of each worker,
//! kept for the sparklines of its web page.
//!
//! OS idea: bounded memory for an unbounded stream, as the kernel's log
//! buffer (`dmesg`) keeps the last messages and forgets the first. A worker
//! sends a heartbeat every few seconds for as long as it lives; the master
//! keeps the last `capacity` of them, so a worker up for a month costs what
//! a worker up for a minute does. The slots are a `Vec` that grows to
//! `capacity` once and then never again: when it is full, each new value
//! overwrites the oldest, whose slot is the one `next` points at.
//!
//! ```text
//!   capacity 4, after pushing a b c d e f:
//!   slots [e f c d]     next = 2: the oldest is c, the newest f
//!   iter  c d e f
//! ```

/// The last `capacity` values pushed, oldest first.
#[derive(Debug, Clone)]
pub struct Ring<T> {
    /// Up to `capacity` values; once full, `slots[next]` is the oldest.
    slots: Vec<T>,
    /// Where the next value goes once the ring is full.
    next: usize,
    capacity: usize,
}

impl<T> Ring<T> {
    /// An empty ring of at most `capacity` values (at least 1). Nothing is
    /// allocated until the first push.
    pub fn new(capacity: usize) -> Ring<T> {
        Ring {
            slots: Vec::new(),
            next: 0,
            capacity: capacity.max(1),
        }
    }

    /// Adds `value` as the newest, forgetting the oldest if the ring is full.
    pub fn push(&mut self, value: T) {
        if self.slots.len() < self.capacity {
            if self.slots.capacity() == 0 {
                // The one allocation: every slot at once.
                self.slots.reserve_exact(self.capacity);
            }
            self.slots.push(value);
        } else {
            self.slots[self.next] = value;
            self.next = (self.next + 1) % self.capacity;
        }
    }

    /// The values held, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &T> {
        let (newer, older) = self.slots.split_at(self.next);
        older.iter().chain(newer)
    }

    /// How many values it holds: those pushed, up to its capacity.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held(ring: &Ring<u32>) -> Vec<u32> {
        ring.iter().copied().collect()
    }

    #[test]
    fn it_keeps_the_last_values_in_order() {
        let mut ring = Ring::new(4);
        assert!(ring.is_empty());
        for v in 1..=3 {
            ring.push(v);
        }
        assert_eq!(held(&ring), vec![1, 2, 3]);
        for v in 4..=6 {
            ring.push(v);
        }
        assert_eq!(held(&ring), vec![3, 4, 5, 6]);
        assert_eq!(ring.len(), 4);
    }

    #[test]
    fn it_never_grows_past_its_capacity() {
        let mut ring = Ring::new(3);
        ring.push(0);
        let allocated = ring.slots.capacity();
        assert!(allocated >= 3);
        for v in 1..1000 {
            ring.push(v);
            assert!(ring.len() <= 3);
            assert_eq!(
                ring.slots.capacity(),
                allocated,
                "no allocation after the first"
            );
        }
        assert_eq!(held(&ring), vec![997, 998, 999]);
    }

    #[test]
    fn a_capacity_of_zero_is_one() {
        let mut ring = Ring::new(0);
        ring.push(1);
        ring.push(2);
        assert_eq!(held(&ring), vec![2]);
    }
}
