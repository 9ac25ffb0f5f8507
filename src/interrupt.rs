//! SIGTERM and SIGINT: ECS sends SIGTERM 30 s before SIGKILL (deploys, scale-in,
//! Spot interruptions). The first signal sets a flag; the converter stops taking
//! partitions, aborts the builds in flight at their next step (removing what they
//! staged; nothing half-written is ever published), and the run ends with its
//! summary and exit code 4. A second signal ends the process at once.

use std::sync::atomic::{AtomicBool, Ordering};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(sig: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
    // SAFETY: restoring the default disposition is async-signal-safe; the next
    // signal of this kind then ends the process.
    unsafe {
        libc::signal(sig, libc::SIG_DFL);
    }
}

/// Install the handlers (once, before any worker starts).
pub fn install() {
    for sig in [libc::SIGTERM, libc::SIGINT] {
        // SAFETY: `on_signal` only stores to an atomic and resets the disposition,
        // both async-signal-safe.
        unsafe {
            libc::signal(
                sig,
                on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t,
            );
        }
    }
}

/// Whether a stop was asked for.
pub fn requested() -> bool {
    INTERRUPTED.load(Ordering::Relaxed)
}
