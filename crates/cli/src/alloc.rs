//! The binary's memory allocator: mimalloc, told to keep the memory it has been given.
//!
//! Why not the system allocator: `sites assess` and `customs check` make millions of small
//! allocations from two threads at once (strings of results and evidence), and glibc's malloc
//! spent a quarter of their time in its free lists and consolidation. mimalloc's per-thread
//! pages cut that; it is a C library built by the crate, which the Rust toolchain's linker
//! needs anyway.
//!
//! Why keep memory: a hashward command is a process that runs once and exits. By default
//! mimalloc returns freed memory to the kernel a second later, and the next allocation faults
//! it back in, zeroing a 2 MiB huge page each time; on 100,000 facilities that was 40 % of the
//! assessment's time. Purging off, a run's footprint is its peak, which it reaches anyway.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc 3's `mi_option_t` (libmimalloc-sys exports no constant
/// for it); the test below checks the number against the bundled library's default.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Configures the allocator; called first thing in `main`.
#[allow(unsafe_code)]
pub fn configure() {
    // SAFETY: mi_option_set only stores an integer in mimalloc's option table; any option
    // number and value is accepted (unknown numbers are ignored).
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The option number still names the purge delay: its bundled default is 1000 ms, and
    /// setting it reads back (a renumbered enum in a new mimalloc fails here).
    #[test]
    #[allow(unsafe_code)]
    fn the_purge_delay_option_is_the_one_set() {
        // SAFETY: reading and writing mimalloc's option table.
        let before = unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) };
        assert!(
            before == 1000 || before == -1,
            "option {MI_OPTION_PURGE_DELAY} reads {before}: not mimalloc 3's purge_delay"
        );
        // Its neighbours are the deprecated eager-commit delay (1) and use_numa_nodes (0).
        // SAFETY: as above.
        let (prev, next) = unsafe {
            (
                libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY - 1),
                libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY + 1),
            )
        };
        assert_eq!((prev, next), (1, 0));
        configure();
        // SAFETY: as above.
        assert_eq!(
            unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) },
            -1
        );
    }
}
