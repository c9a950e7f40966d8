//! The failure state of stage 1. When anything goes wrong as PID 1 there is nobody to return an
//! error to: exiting would panic the kernel ("Attempted to kill init!") with none of our words
//! on the screen. Instead the reason goes to the console and the kernel log, then the configured
//! action follows after a delay: reboot (the default: retries a transient failure unattended),
//! poweroff, or wait (the message is repeated every few minutes). During the delay, Enter on the
//! console turns a reboot or poweroff into a wait, so a person can read and photograph it.
//!
//! The panic hook leads here too, from any thread (release builds abort on panic: the hook
//! runs first and never returns). The first thread to fail acts; the steps of stage 1 check
//! [`entered`] and stop, so a panic on the network thread cannot let the boot go on.

use crate::config::boot::OnFailure;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Policy {
    pub action: OnFailure,
    pub delay_seconds: u32,
}

/// Before the config is read (or when it cannot be), a failure reboots after 30 s.
pub(crate) const DEFAULT: Policy = Policy { action: OnFailure::Reboot, delay_seconds: 30 };

static POLICY: Mutex<Policy> = Mutex::new(DEFAULT);
static ENTERED: AtomicBool = AtomicBool::new(false);
/// The thread that entered the failure state first: it prints, waits and acts; any other
/// thread that fails (or reaches a step, or the hand-off) after it stops where it is.
static FAILING: Mutex<Option<std::thread::ThreadId>> = Mutex::new(None);

/// Whether some thread has entered the failure state: stage 1 must not take another step.
pub(crate) fn entered() -> bool {
    ENTERED.load(Ordering::SeqCst)
}

/// Held across the hand-off to stage 2: a thread that fails meanwhile waits in [`enter`] until
/// exec replaces the process (or, when exec fails, enters the failure state after it). When
/// a failure came first, the calling thread stops here instead.
pub(crate) fn hold_off() -> HoldOff {
    let guard = FAILING.lock().unwrap_or_else(|e| e.into_inner());
    if entered() {
        drop(guard);
        stop_here();
    }
    HOLDS_OFF.with(|h| h.set(true));
    HoldOff { _guard: guard }
}

/// See [`hold_off`].
pub(crate) struct HoldOff {
    _guard: std::sync::MutexGuard<'static, Option<std::thread::ThreadId>>,
}

impl Drop for HoldOff {
    fn drop(&mut self) {
        HOLDS_OFF.with(|h| h.set(false));
    }
}

thread_local! {
    /// Whether this thread holds [`FAILING`] through [`hold_off`]: a panic there must not wait
    /// for the lock it holds.
    static HOLDS_OFF: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Stops the calling thread for good, leaving the failure to the thread that entered it (a
/// panic on the network thread while the main thread goes on: the boot stops either way).
pub(crate) fn stop_here() -> ! {
    loop {
        std::thread::park();
    }
}

pub(crate) fn set_policy(policy: Policy) {
    *POLICY.lock().unwrap_or_else(|e| e.into_inner()) = policy;
}

fn policy() -> Policy {
    *POLICY.lock().unwrap_or_else(|e| e.into_inner())
}

/// Writes `text` to the console, where a person looks, and each line to the kernel log, where
/// it outlives the screen (pstore, `journalctl -k` after a later good boot). The console may
/// show the kernel-log copy too, depending on `loglevel`; a repeated line beats a missing one.
pub(crate) fn say(text: &str, kmsg_priority: u8) {
    let console = std::fs::OpenOptions::new().write(true).open("/dev/console");
    match console {
        Ok(mut c) => {
            let _ = c.write_all(text.as_bytes());
        }
        Err(_) => {
            let _ = std::io::stderr().write_all(text.as_bytes());
        }
    }
    if let Ok(mut kmsg) = std::fs::OpenOptions::new().write(true).open("/dev/kmsg") {
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let _ = kmsg.write_all(format!("<{kmsg_priority}>{line}\n").as_bytes());
        }
    }
}

/// The lines printed on failure. Pure, for tests and for the README.
pub(crate) fn message(reason: &str, policy: Policy) -> String {
    let then = match policy.action {
        OnFailure::Reboot => format!("rebooting in {} s", policy.delay_seconds),
        OnFailure::Poweroff => format!("powering off in {} s", policy.delay_seconds),
        OnFailure::Wait => "waiting here; fix the cause and reset the machine".to_string(),
    };
    let mut text = format!(
        "\nlethe: BOOT FAILED: {reason}\n\
         lethe: the system cannot start; {then}\n"
    );
    if policy.action != OnFailure::Wait && policy.delay_seconds > 0 {
        text.push_str("lethe: press Enter on this console to stay here instead\n");
    }
    text.push_str(
        "lethe: (boot.onFailure / boot.failureDelaySeconds in the config, or lethe.on_failure= / \
         lethe.failure_delay= on the kernel command line, choose what happens now)\n",
    );
    text
}

/// Prints `reason` and never returns: reboots, powers off or waits, as configured.
pub(crate) fn enter(reason: &str) -> ! {
    let me = std::thread::current().id();
    if HOLDS_OFF.with(|h| h.get()) {
        // Failing during the hand-off, which holds every other thread off already.
        if ENTERED.swap(true, Ordering::SeqCst) {
            say(&format!("lethe: another failure while stopping: {reason}\n"), 2);
            finish(OnFailure::Reboot);
        }
    } else {
        let mut failing = FAILING.lock().unwrap_or_else(|e| e.into_inner());
        let first = !ENTERED.swap(true, Ordering::SeqCst);
        if first {
            *failing = Some(me);
        } else if *failing != Some(me) {
            // Another thread is already failing the boot and will act: add ours, then wait.
            drop(failing);
            say(&format!("lethe: also: {reason}\n"), 2);
            stop_here();
        } else {
            // A failure while failing (say, a panic in the code below): do the least that works.
            drop(failing);
            say(&format!("lethe: another failure while stopping: {reason}\n"), 2);
            finish(OnFailure::Reboot);
        }
    }
    let policy = policy();
    say(&message(reason, policy), 2);
    rustix::fs::sync();
    let mut action = policy.action;
    if action != OnFailure::Wait && enter_pressed_within(Duration::from_secs(policy.delay_seconds.into())) {
        say("lethe: staying here (Enter pressed); reset the machine when done\n", 5);
        action = OnFailure::Wait;
    }
    if action == OnFailure::Wait {
        wait_forever(reason);
    }
    finish(action)
}

fn finish(action: OnFailure) -> ! {
    use rustix::system::{reboot, RebootCommand};
    rustix::fs::sync();
    let command =
        if action == OnFailure::Poweroff { RebootCommand::PowerOff } else { RebootCommand::Restart };
    let e = reboot(command);
    // Only PID 1 (or CAP_SYS_BOOT) may reboot; anywhere else, waiting is the safe end.
    say(&format!("lethe: cannot {action:?}: {e:?}\n"), 2);
    wait_forever("reboot was refused")
}

fn wait_forever(reason: &str) -> ! {
    loop {
        std::thread::sleep(Duration::from_secs(300));
        say(&format!("lethe: still stopped: BOOT FAILED: {reason}\n"), 2);
    }
}

/// Waits up to `delay` for a line on stdin (the console). A console that cannot be read just
/// waits out the delay.
fn enter_pressed_within(delay: Duration) -> bool {
    let deadline = std::time::Instant::now() + delay;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return false;
        }
        let mut fd = libc::pollfd { fd: 0, events: libc::POLLIN, revents: 0 };
        let ms = left.as_millis().min(i32::MAX as u128) as i32;
        // SAFETY: one valid pollfd, its count, a timeout.
        let n = unsafe { libc::poll(&mut fd, 1, ms) };
        if n > 0 && fd.revents & libc::POLLIN != 0 {
            let mut buf = [0u8; 64];
            // SAFETY: reading into a local buffer of the given size.
            let got = unsafe { libc::read(0, buf.as_mut_ptr().cast(), buf.len()) };
            if got > 0 && buf[..got as usize].contains(&b'\n') {
                return true;
            }
            if got <= 0 {
                std::thread::sleep(left);
                return false;
            }
        } else if n < 0 && std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            std::thread::sleep(left);
            return false;
        } else if n > 0 {
            // POLLHUP/POLLERR: nothing to read from, ever.
            std::thread::sleep(left);
            return false;
        }
    }
}

/// Makes a panic print its message and enter the failure state instead of aborting, which as
/// PID 1 would panic the kernel.
pub(crate) fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let location = info.location().map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
        let payload = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        // On any thread: this thread fails the boot (it never returns to unwind or abort),
        // and the main thread stops at its next step (see `entered`).
        let thread = std::thread::current();
        let on = match thread.name() {
            Some("main") | None => String::new(),
            Some(name) => format!(" (on thread {name})"),
        };
        enter(&format!("internal error (a bug in lethe, please report it): {payload}{location}{on}"))
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_names_reason_and_next_step() {
        let m = message(
            "/dev/vdz: did not appear within 3 s",
            Policy { action: OnFailure::Poweroff, delay_seconds: 5 },
        );
        assert!(m.contains("lethe: BOOT FAILED: /dev/vdz: did not appear within 3 s\n"), "{m}");
        assert!(m.contains("powering off in 5 s"), "{m}");
        assert!(m.contains("press Enter"), "{m}");
        let w = message("x", Policy { action: OnFailure::Wait, delay_seconds: 5 });
        assert!(w.contains("waiting here") && !w.contains("press Enter"), "{w}");
        let now = message("x", Policy { action: OnFailure::Reboot, delay_seconds: 0 });
        assert!(now.contains("rebooting in 0 s") && !now.contains("press Enter"), "{now}");
    }
}
