//! Giving freed heap memory back to the kernel.
//!
//! OS idea: `free` returns memory to the allocator, not to the operating
//! system. glibc's malloc gives each busy thread an *arena* (a heap of its
//! own, up to 8 per core, so threads do not fight over one lock), and keeps
//! the pages of freed chunks resident in case they are wanted again. After a
//! burst of connections, each served by threads that allocated buffers and
//! replies, the master's resident memory stays high though almost nothing is
//! in use. `malloc_trim(0)` walks every arena and hands whole free pages back
//! with `madvise(MADV_DONTNEED)`; the master's timer calls it every few
//! seconds, so its memory comes back down after a load (see tests/load.rs).
//!
//! A worker calls it when a task attempt ends. A task's hash table and
//! buffers are megabytes, freed when it ends, and glibc raises its
//! `mmap` threshold each time such a block is freed, so the next ones come
//! from arenas that keep their pages: on the memory benchmark
//! (`--memory 32M`) the workers peaked 8 MiB higher without the trim. With
//! it, the next task on that thread starts from pages the kernel zeroes
//! again, which costs little next to the task.
//!
//! Trimming gives back whole free pages, not the half-used ones of a
//! fragmented arena, and arenas are many: every thread that allocates may
//! get one of its own, up to 8 per core. A worker starts threads all the
//! time (a reduce task's fetchers, its data port's connections, a spill's
//! writer), so arena after arena came into use, each keeping a few
//! megabytes that no trim could hand back: on the memory benchmark
//! (`--memory 32M`) a worker's peak rose from 46 MiB after one job to 80
//! MiB after eight, past the budget plus 40. So a worker caps the arenas at
//! two per task slot (`limit_arenas`, glibc's `M_ARENA_MAX`): its peak
//! was 37 to 46 MiB over six jobs, and the jobs as fast in an A/B run.
//!
//! The calls are glibc's; elsewhere they do nothing.

/// Asks the allocator to return free pages to the kernel. True if some
/// were returned.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn release_free_memory() -> bool {
    extern "C" {
        fn malloc_trim(pad: usize) -> std::os::raw::c_int;
    }
    // SAFETY: `malloc_trim` takes a plain integer, touches only the
    // allocator's own free lists, and takes each arena's lock: it is safe
    // to call from any thread at any time.
    unsafe { malloc_trim(0) != 0 }
}

/// Asks the allocator to return free pages to the kernel (not on this
/// platform: nothing happens).
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn release_free_memory() -> bool {
    false
}

/// Caps the allocator's arenas at `n` (at least 1), for the threads that
/// start from now on. True if the allocator took the setting.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn limit_arenas(n: u32) -> bool {
    extern "C" {
        fn mallopt(param: std::os::raw::c_int, value: std::os::raw::c_int) -> std::os::raw::c_int;
    }
    /// `M_ARENA_MAX` of glibc's `<malloc.h>`.
    const M_ARENA_MAX: std::os::raw::c_int = -8;
    let n = std::os::raw::c_int::try_from(n.max(1)).unwrap_or(std::os::raw::c_int::MAX);
    // SAFETY: `mallopt` takes two plain integers and changes a setting
    // under the allocator's own lock; an unknown value is refused with 0.
    unsafe { mallopt(M_ARENA_MAX, n) == 1 }
}

/// Caps the allocator's arenas (not on this platform: nothing happens).
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn limit_arenas(_n: u32) -> bool {
    false
}

#[cfg(test)]
mod tests {
    #[test]
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn the_allocator_takes_an_arena_limit() {
        // Generous enough not to slow the other tests of this process; a
        // wrong `M_ARENA_MAX` would be refused.
        assert!(super::limit_arenas(64));
    }

    #[test]
    fn trimming_is_harmless() {
        let big: Vec<Vec<u8>> = (0..64).map(|i| vec![i as u8; 64 * 1024]).collect();
        drop(big);
        super::release_free_memory();
        let again = vec![7u8; 1 << 20];
        assert_eq!(again[12345], 7);
    }
}
