//! Keyhold's one call into its allocator's C API: how soon mimalloc gives freed memory back.
//!
//! mimalloc reads its options from the environment before `main` runs, and the only other way to
//! set one is `mi_option_set`, a C function. The workspace forbids `unsafe`; this crate holds that
//! one call so that the rule can stay as it is everywhere else.

use std::ffi::c_long;

use libmimalloc_sys::{mi_option_get, mi_option_set, mi_option_t};

/// `mi_option_purge_delay` in mimalloc 3's `mimalloc.h`. libmimalloc-sys leaves the experimental
/// options unnamed; the tests check this number against the option's default and its variable.
const PURGE_DELAY: mi_option_t = 15;

/// The environment variables through which an operator sets the purge delay (the second is its
/// older name); one that is set wins over [`set_purge_delay_ms`]'s caller.
pub const PURGE_DELAY_VARS: [&str; 2] = ["MIMALLOC_PURGE_DELAY", "MIMALLOC_RESET_DELAY"];

/// How long freed memory waits before mimalloc hands it back to the kernel, in milliseconds.
pub fn purge_delay_ms() -> c_long {
    #[allow(unsafe_code)]
    // SAFETY: reads one number from mimalloc's option table; any option index below the last is
    // valid, and this one is checked by the tests.
    unsafe {
        mi_option_get(PURGE_DELAY)
    }
}

/// Sets the purge delay (0: freed pages go back at once) unless the operator set one in the
/// environment, and returns the delay in force.
///
/// Call it first thing in `main`: mimalloc documents its option setters as not thread-safe, and
/// before the async runtime starts no other thread allocates.
pub fn set_purge_delay_ms(ms: u32) -> c_long {
    if PURGE_DELAY_VARS
        .iter()
        .any(|var| std::env::var_os(var).is_some())
    {
        return purge_delay_ms();
    }
    #[allow(unsafe_code)]
    // SAFETY: stores one number in mimalloc's option table, which each purge reads; every
    // non-negative value is a valid delay. Single-threaded at this point (see above).
    unsafe {
        mi_option_set(PURGE_DELAY, c_long::from(ms))
    };
    purge_delay_ms()
}

#[cfg(test)]
mod tests {
    use super::{PURGE_DELAY_VARS, purge_delay_ms, set_purge_delay_ms};

    // One test, so nothing else in this process touches the option while it runs.
    #[test]
    fn the_option_is_mimallocs_purge_delay_and_the_environment_wins() {
        let from_env = PURGE_DELAY_VARS
            .iter()
            .find_map(|var| std::env::var(var).ok());
        match from_env.as_deref() {
            // mimalloc 3's documented default: a wrong index would read another option's value.
            None => assert_eq!(purge_delay_ms(), 1000),
            Some(value) => assert_eq!(purge_delay_ms().to_string(), value.trim()),
        }
        let before = purge_delay_ms();
        let now = set_purge_delay_ms(37);
        if from_env.is_none() {
            assert_eq!(now, 37);
        } else {
            assert_eq!(now, before);
        }
    }
}
