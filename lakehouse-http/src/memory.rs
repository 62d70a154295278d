//! Memory hygiene for long-running processes on glibc (the `lakehouse` server, and any
//! application that serves the API, such as the staffing example): fewer malloc arenas and
//! free heap pages handed back to the system. Elsewhere both do nothing.

/// Caps glibc's malloc at two arenas. By default glibc gives threads up to eight arenas per
/// core; a server whose requests run on many threads (tokio's workers and blocking pool,
/// rayon) then keeps growing its resident memory as each arena fragments, without holding
/// more data (docs/RELIABILITY.md, the HTTP soak). Call it first thing in `main`: the cap
/// applies to arenas created afterwards.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn limit_malloc_arenas() {
    // SAFETY: mallopt only sets a parameter of glibc's allocator, under the allocator's own
    // lock; it touches no allocation.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

/// Other allocators need no cap.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn limit_malloc_arenas() {}

/// Every few seconds, hands the free memory inside glibc's heap back to the system. Opening
/// a Delta table decodes each JSON commit with buffers of ~1.6 MB that live for one commit;
/// glibc serves such sizes from its heap once a freed one has raised its mmap threshold, and
/// the pages stay resident after they are freed, so a long-running server's memory grew with
/// its peak rather than with what it holds (the HTTP soak found it). `malloc_trim` releases
/// them without changing how anything is allocated. Call it inside a tokio runtime (it
/// spawns the task that trims).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn trim_malloc_periodically() {
    tokio::spawn(async {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(5));
        loop {
            every.tick().await;
            // SAFETY: malloc_trim only returns free pages of glibc's heap to the system;
            // it takes the allocator's own locks and touches no live allocation.
            unsafe {
                libc::malloc_trim(0);
            }
        }
    });
}

/// Other allocators return memory their own way.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn trim_malloc_periodically() {}
