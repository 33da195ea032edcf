//! A count of the core's elementary steps (index lookups, window words scanned, fragments
//! walked, entries listed), kept only in test builds: the hostile-input tests assert that
//! the work one datagram causes is bounded by its size, counting steps rather than timing
//! them (timings flake on shared machines); so does the `traffic` fuzz target (feature
//! `fuzzing`). In other builds [`charge`] compiles to nothing.

#[cfg(any(test, feature = "fuzzing"))]
thread_local! {
    static STEPS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Counts `n` steps of work (test builds only).
#[inline(always)]
pub(crate) fn charge(n: u64) {
    #[cfg(any(test, feature = "fuzzing"))]
    STEPS.with(|s| s.set(s.get() + n));
    #[cfg(not(any(test, feature = "fuzzing")))]
    let _ = n;
}

/// The steps counted on this thread since the last call.
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) fn take() -> u64 {
    STEPS.with(|s| s.replace(0))
}
