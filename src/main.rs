use std::process::ExitCode;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `mi_option_purge_delay` (see mimalloc.h, v2).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

fn main() -> ExitCode {
    // A conversion frees and reallocates large buffers for every row group; returning
    // them to the OS after mimalloc's default 10 ms only to fault them back in cost
    // ~5% of CPU time. A batch process peaks and exits, so keep freed memory mapped.
    // SAFETY: sets a process-wide allocator option before any worker thread starts.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
    // Like other Unix filters, end quietly when the reader of standard output goes
    // away (`trailpack schema | head`) instead of panicking on EPIPE.
    // SAFETY: restores the default disposition of one signal, before any thread starts.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    trailpack::cli::main()
}
