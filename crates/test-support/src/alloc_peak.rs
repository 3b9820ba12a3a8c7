//! An allocator for test binaries: the system one, recording the largest single allocation
//! each thread asks for, so that a property test can check that a parser never asks for an
//! absurd amount of memory (a forged length field taken at its word). A test binary installs
//! it with `#[global_allocator] static A: PeakAlloc = PeakAlloc;`.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// The system allocator, recording each thread's largest request (see [`peak`]).
#[derive(Debug)]
pub struct PeakAlloc;

thread_local! {
    // const-initialised, no destructor: safe to touch from inside the allocator.
    static PEAK: Cell<usize> = const { Cell::new(0) };
}

fn record(size: usize) {
    let _ = PEAK.try_with(|p| p.set(p.get().max(size)));
}

// SAFETY: every call is forwarded to `System` unchanged; recording touches only a
// const-initialised thread-local `Cell`, which does not allocate.
unsafe impl GlobalAlloc for PeakAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        record(layout.size());
        // SAFETY: the caller's contract for `alloc` is passed on as is.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        record(layout.size());
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        record(new_size);
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Forgets this thread's largest allocation so far.
pub fn reset_peak() {
    let _ = PEAK.try_with(|p| p.set(0));
}

/// This thread's largest single allocation since [`reset_peak`], in bytes (0 unless
/// [`PeakAlloc`] is the global allocator).
pub fn peak() -> usize {
    PEAK.try_with(Cell::get).unwrap_or(0)
}
