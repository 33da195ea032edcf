//! A count of the core's elementary steps (index lookups, window words scanned, fragments
//! walked, entries listed), kept only in test builds: the hostile-input tests assert that
//! the work one datagram causes is bounded by its size, counting steps rather than timing
//! them (timings flake on shared machines). In other builds [`charge`] compiles to nothing.

#[cfg(test)]
thread_local! {
    static STEPS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Counts `n` steps of work (test builds only).
#[inline(always)]
pub(crate) fn charge(n: u64) {
    #[cfg(test)]
    STEPS.with(|s| s.set(s.get() + n));
    #[cfg(not(test))]
    let _ = n;
}

/// The steps counted on this thread since the last call.
#[cfg(test)]
pub(crate) fn take() -> u64 {
    STEPS.with(|s| s.replace(0))
}
