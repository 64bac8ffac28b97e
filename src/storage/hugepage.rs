//! Huge pages for memory read at random (the hash tables of `keytable.rs`,
//! the sort buffer's chunks in `sort.rs`): asking the kernel to map a
//! large vector with 2 MiB pages instead of 4 KiB ones.
//!
//! OS idea: the TLB, and transparent huge pages. Every load turns a
//! virtual address into a physical one, and the CPU caches those
//! translations per page in its TLB, which holds a few thousand. A hash
//! table of 10 MB in 4 KiB pages spans 2,500 pages, more than that, and is
//! read at random, so most lookups also miss the TLB: the CPU walks the
//! page table (four levels, each a load that may itself miss the cache)
//! before it can even start the load of the entry, and a prefetch
//! (`cacheline.rs`) waits for that walk too. Mapped in 2 MiB pages the
//! same table is five pages, whose translations stay in the TLB.
//!
//! Linux gives a process huge pages where it asks for them with
//! `madvise(MADV_HUGEPAGE)` (`/sys/kernel/mm/transparent_hugepage/enabled`
//! says `[madvise]` on many distributions; with `always` every large
//! region gets them anyway, with `never` none does, and the advice is
//! harmless). The advice must come before the pages are first touched: a
//! page already faulted in as 4 KiB stays so until the kernel's
//! `khugepaged` merges it, which may take minutes. So a vector that
//! should get huge pages is allocated, advised, and only then filled
//! (`with_capacity`).
//!
//! Only whole 2 MiB pages inside the vector's block can be huge: a table
//! smaller than 2 MiB gets no advice (its translations fit the TLB), and
//! a sort chunk is 8 MiB so that at least three of its four 2 MiB spans
//! are whole pages wherever `malloc` puts it.
//!
//! The call is Linux's; elsewhere `with_capacity` is `Vec::with_capacity`.

/// The size of a huge page on x86-64 and most arm64 kernels.
const HUGE_PAGE_BYTES: usize = 2 * 1024 * 1024;

/// An empty vector with room for `capacity` values, its memory advised to
/// be mapped with huge pages where it holds whole ones.
pub fn with_capacity<T>(capacity: usize) -> Vec<T> {
    let vec: Vec<T> = Vec::with_capacity(capacity);
    advise(
        vec.as_ptr().cast::<u8>(),
        vec.capacity() * std::mem::size_of::<T>(),
    );
    vec
}

/// Advises the whole huge pages within `len` bytes from `start`.
#[cfg(target_os = "linux")]
fn advise(start: *const u8, len: usize) {
    const MADV_HUGEPAGE: std::os::raw::c_int = 14;
    extern "C" {
        fn madvise(
            addr: *mut std::os::raw::c_void,
            len: usize,
            advice: std::os::raw::c_int,
        ) -> std::os::raw::c_int;
    }
    let first = (start as usize).next_multiple_of(HUGE_PAGE_BYTES);
    let end = (start as usize + len) / HUGE_PAGE_BYTES * HUGE_PAGE_BYTES;
    if end <= first {
        return;
    }
    // SAFETY: the range lies inside one live allocation of ours, and
    // MADV_HUGEPAGE changes only how the kernel backs those pages, never
    // their contents. A kernel without transparent huge pages refuses the
    // advice (EINVAL), which changes nothing, so the result is ignored.
    unsafe {
        madvise(
            first as *mut std::os::raw::c_void,
            end - first,
            MADV_HUGEPAGE,
        );
    }
}

#[cfg(not(target_os = "linux"))]
fn advise(_start: *const u8, _len: usize) {}

#[cfg(test)]
mod tests {
    #[test]
    fn an_advised_vector_is_an_ordinary_vector() {
        for n in [0, 1, 1000, 3 << 20] {
            let mut v: Vec<u64> = super::with_capacity(n);
            assert!(v.capacity() >= n);
            v.extend(0..n as u64);
            assert_eq!(
                v.iter().sum::<u64>(),
                (n as u64) * (n as u64).saturating_sub(1) / 2
            );
        }
    }
}
