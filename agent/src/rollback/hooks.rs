//! Test hooks of the `fault-injection` feature: abrupt stops at named points (a power cut) and
//! a wrong clock. Without the feature they compile to nothing.

/// Named points where a test build stops the process abruptly, as a power cut would.
pub const FAULT_POINTS: &[&str] = &[
    "loaded",
    "mounted",
    "archive-dir",
    "archived",
    "root-deleted",
    "root-created",
    "marked",
    "mid-delete",
    "deleted",
    "done",
];

/// Named points where a test build makes an operation fail with an error, as a disk error would.
pub const FAILURE_POINTS: &[&str] = &["list-archive"];

/// With the `fault-injection` feature, `LETHE_FAIL=point` makes the operation at that point
/// return an error (the process goes on, unlike `LETHE_FAULT`).
#[cfg(feature = "fault-injection")]
pub(super) fn failure(point: &str) -> crate::error::Result<()> {
    debug_assert!(FAILURE_POINTS.contains(&point), "unknown failure point {point}");
    if std::env::var("LETHE_FAIL").as_deref() == Ok(point) {
        crate::bail!("{point}: failing as LETHE_FAIL asks (fault injection)");
    }
    Ok(())
}

#[cfg(not(feature = "fault-injection"))]
#[inline(always)]
pub(super) fn failure(_point: &str) -> crate::error::Result<()> {
    Ok(())
}

/// With the `fault-injection` feature, `LETHE_FAULT=point` ends the process at that point with
/// `_exit(99)`: no destructor, no unmount, no flush; what the kernel already has stays.
#[cfg(feature = "fault-injection")]
pub(super) fn fault(point: &str) {
    debug_assert!(FAULT_POINTS.contains(&point), "unknown fault point {point}");
    if std::env::var("LETHE_FAULT").as_deref() == Ok(point) {
        eprintln!("lethe: fault injection: stopping abruptly at {point}");
        // SAFETY: _exit only ends the process.
        unsafe { libc::_exit(99) }
    }
}

#[cfg(not(feature = "fault-injection"))]
#[inline(always)]
pub(super) fn fault(_point: &str) {}

/// Seconds since the epoch. Test builds accept `LETHE_NOW` to play a wrong clock.
pub(super) fn now() -> i64 {
    #[cfg(feature = "fault-injection")]
    if let Some(now) = std::env::var("LETHE_NOW").ok().and_then(|v| v.parse().ok()) {
        return now;
    }
    match std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs() as i64),
    }
}
