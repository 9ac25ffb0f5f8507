use std::process::ExitCode;

#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's options, read once at its start (`MALLOC_CONF` syntax; the
/// `_RJEM_MALLOC_CONF` environment variable still overrides them).
///
/// A conversion allocates and frees its row groups' buffers over and over. jemalloc
/// reuses the memory a thread's arena freed before it asks the system for more, and
/// returns what stays unused gradually, along a decay curve of `dirty_decay_ms`:
/// 500 ms instead of the 10 s default lowers a 16x day's peak from 209 MiB to
/// 175-203 MiB at no measurable CPU cost; `muzzy_decay_ms:0` returns pages outright
/// rather than leaving them lazily freed. Against mimalloc, which this replaced: a
/// day's conversion on two threads takes 0.94 of the time and peaks at 153 MiB
/// instead of 200 (README, Performance).
#[allow(non_upper_case_globals)]
#[export_name = "_rjem_malloc_conf"]
pub static malloc_conf: &[u8] = b"dirty_decay_ms:500,muzzy_decay_ms:0\0";

fn main() -> ExitCode {
    // No transparent huge pages: the heap grows in 2 MiB pages the kernel zeroes
    // whole on first touch, so half-used ones cost memory (W1 peaked at ~240 MiB
    // with them, ~200 MiB without, under the allocator of the time, mimalloc) and
    // system time (0.3-0.6 s against 0.2 s of a 3 s conversion on a 2-core VM).
    // Applies to the heap's later page faults, on hosts whose THP mode is `always`.
    // SAFETY: a process-wide flag, no memory is touched.
    unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) };
    // Like other Unix filters, end quietly when the reader of standard output goes
    // away (`trailpack schema | head`) instead of panicking on EPIPE.
    // SAFETY: restores the default disposition of one signal, before any thread starts.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    trailpack::cli::main()
}

#[cfg(test)]
mod tests {
    /// The options above reach jemalloc (its symbol name depends on the crate's
    /// prefix, and a wrong name is silently ignored).
    #[test]
    fn jemalloc_runs_with_the_options_set_here() {
        let mut decay: libc::ssize_t = 0;
        let mut len = std::mem::size_of::<libc::ssize_t>();
        // SAFETY: reads one ssize_t option into a buffer of that size.
        let rc = unsafe {
            tikv_jemalloc_sys::mallctl(
                c"opt.dirty_decay_ms".as_ptr(),
                (&mut decay as *mut libc::ssize_t).cast(),
                &mut len,
                std::ptr::null_mut(),
                0,
            )
        };
        assert_eq!(rc, 0);
        assert_eq!(decay, 500);
    }
}
