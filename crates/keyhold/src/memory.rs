//! How the process takes memory from the kernel.
//!
//! mimalloc marks its arenas for transparent huge pages (`MADV_HUGEPAGE`), and the kernel then
//! backs every 2 MiB region the allocator touches with a whole huge page, however little of it is
//! in use; purging freed memory in 64 KiB steps does not give such a page back. In
//! bench/connections that kept 40 MB of the server's 54 MB of heap in huge pages after the load;
//! with them off the same load ended at 29.6 MB of heap (RSS 67.8 -> 43.2 MB, idle 25.4 ->
//! 15.4 MB), and CPU per request stayed within the runs' usual spread: the fewer TLB misses huge
//! pages buy do not show at this service's size.

/// How long freed memory waits before mimalloc gives it back to the kernel (unless the operator
/// set `MIMALLOC_PURGE_DELAY`). mimalloc 3 waits 1,000 ms, and the server frees about 130 MB/s
/// under bench/soak's mix, so a good third of its RSS under load was the last second's freed
/// pages: 51-59 MB, and over 60 MB in an hour. See bench/soak/findings.md for the delays tried.
pub const PURGE_DELAY_MS: u32 = 0;

/// Turns transparent huge pages off for the whole process (`PR_SET_THP_DISABLE`: a flag of the
/// address space, so threads started later and mappings made earlier are covered too). An error
/// only means higher memory use, so the caller logs it and carries on.
#[cfg(target_os = "linux")]
pub fn small_pages_only() -> std::io::Result<()> {
    rustix::thread::disable_transparent_huge_pages(true).map_err(std::io::Error::from)
}

/// Other systems have no such setting to change.
#[cfg(not(target_os = "linux"))]
pub fn small_pages_only() -> std::io::Result<()> {
    Ok(())
}
