//! Opening LUKS devices through libcryptsetup (linked statically). Blocking: called from
//! `spawn_blocking`, one attempt at a time.

use super::Passphrase;
use crate::config::unlock::{Device, DeviceKind};
use libcryptsetup_rs::consts::flags::CryptActivate;
use libcryptsetup_rs::consts::vals::{CryptLogLevel, CryptStatusInfo};
use libcryptsetup_rs::{CryptDevice, CryptInit, Either, LibcryptErr};
use std::ffi::{c_char, c_int, c_void, CStr};
use std::sync::{Mutex, Once};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    Opened,
    /// No keyslot accepts the passphrase.
    Wrong,
    /// Anything else, as a message naming the device and the reason.
    Failed(String),
}

/// Forwards libcryptsetup's own messages ("Device ... does not exist") to our log. It never
/// logs passphrases.
unsafe extern "C" fn log_callback(level: c_int, msg: *const c_char, _: *mut c_void) {
    if msg.is_null() {
        return;
    }
    // SAFETY: libcryptsetup passes a NUL-terminated string valid for this call.
    let text = unsafe { CStr::from_ptr(msg) }.to_string_lossy();
    let text = text.trim_end();
    match level {
        l if l == CryptLogLevel::Error as c_int => {
            log::warn!("libcryptsetup: {text}");
            // The first error of an attempt is the cause; later ones are consequences.
            FIRST_ERROR.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert_with(|| text.to_string());
        }
        l if l == CryptLogLevel::Debug as c_int || l == CryptLogLevel::DebugJson as c_int => {
            log::trace!("libcryptsetup: {text}")
        }
        _ => log::debug!("libcryptsetup: {text}"),
    }
}

/// libcryptsetup's first error message of the attempt: errno alone ("Operation not supported") rarely says
/// what to fix, its message ("Cannot initialize device-mapper. Is dm_mod kernel module
/// loaded?") does. Attempts run one at a time, so one slot is enough.
static FIRST_ERROR: Mutex<Option<String>> = Mutex::new(None);

fn take_first_error() -> Option<String> {
    FIRST_ERROR.lock().unwrap_or_else(|e| e.into_inner()).take()
}

/// `errno text` plus libcryptsetup's own message, when it said something.
fn explain(e: &LibcryptErr) -> String {
    match take_first_error() {
        Some(said) => format!("{said} ({})", describe(e)),
        None => describe(e),
    }
}

pub(crate) fn init_logging() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| libcryptsetup_rs::set_log_callback::<()>(Some(log_callback), None));
}

fn errno(e: &LibcryptErr) -> Option<i32> {
    match e {
        LibcryptErr::IOError(io) => io.raw_os_error(),
        _ => None,
    }
}

fn describe(e: &LibcryptErr) -> String {
    match e {
        // "Operation not supported", without std's " (os error 95)".
        LibcryptErr::IOError(io) => {
            let text = io.to_string();
            text.split(" (os error").next().unwrap_or(&text).to_string()
        }
        other => other.to_string(),
    }
}

/// Tries `passphrase` on each device in turn; one outcome per device, by name.
pub(crate) fn try_all(
    devices: &[Device],
    passphrase: &Passphrase,
    verify_only: bool,
) -> Vec<(String, Outcome)> {
    devices.iter().map(|d| (d.name.clone(), try_device(d, passphrase, verify_only))).collect()
}

/// One device of either kind: a LUKS device, or a ZFS encryption root's key (never checked
/// only: there is no header to verify against without loading it).
fn try_device(device: &Device, passphrase: &Passphrase, verify_only: bool) -> Outcome {
    match device.kind {
        DeviceKind::Luks => try_one(device, passphrase, verify_only),
        DeviceKind::ZfsKey => super::zfs_key::try_one(&device.name, passphrase),
    }
}

/// Whether `device` is already open (a LUKS mapping, a loaded ZFS key), saying so when it is.
pub(crate) fn already_open_device(device: &Device) -> bool {
    match device.kind {
        DeviceKind::Luks => already_open(&device.name),
        DeviceKind::ZfsKey => super::zfs_key::already_loaded(&device.name),
    }
}

pub(crate) fn try_one(device: &Device, passphrase: &Passphrase, verify_only: bool) -> Outcome {
    let name = &device.name;
    let path = device.device.display();
    if !verify_only && already_open(name) {
        return Outcome::Opened;
    }
    take_first_error();
    let mut crypt = match load(device) {
        Ok(c) => c,
        Err(message) => return Outcome::Failed(message),
    };
    let mut flags = CryptActivate::empty();
    if device.allow_discards {
        flags |= CryptActivate::ALLOW_DISCARDS;
    }
    if device.bypass_workqueues {
        flags |= CryptActivate::NO_READ_WORKQUEUE | CryptActivate::NO_WRITE_WORKQUEUE;
    }
    let target = if verify_only { None } else { Some(name.as_str()) };
    match crypt.activate_handle().activate_by_passphrase(target, None, passphrase.as_bytes(), flags) {
        Ok(slot) => {
            if verify_only {
                log::warn!("unlock: {name}: passphrase matches keyslot {slot} of {path} (verify-only: not activated)");
            } else {
                log::info!("unlock: {name}: opened {path} as /dev/mapper/{name} (keyslot {slot})");
            }
            Outcome::Opened
        }
        Err(e) if errno(&e) == Some(libc::EPERM) => {
            log::info!("unlock: {name}: no keyslot of {path} matches the passphrase");
            Outcome::Wrong
        }
        Err(e) => Outcome::Failed(format!("{name}: {path}: cannot activate: {}", explain(&e))),
    }
}

/// Initializes libcryptsetup on the device (and its detached header) and loads the LUKS header.
fn load(device: &Device) -> Result<CryptDevice, String> {
    let name = &device.name;
    let path = device.device.display();
    if let Err(e) = std::fs::metadata(&device.device) {
        return Err(format!("{name}: {path}: {e}"));
    }
    let init = match &device.header {
        Some(header) => {
            if let Err(e) = std::fs::metadata(header) {
                return Err(format!("{name}: header {}: {e}", header.display()));
            }
            CryptInit::init_with_data_device(Either::Right((header.as_path(), device.device.as_path())))
        }
        None => CryptInit::init(&device.device),
    };
    let mut crypt = init.map_err(|e| format!("{name}: {path}: cannot open: {}", explain(&e)))?;
    let header = device.header.as_deref().unwrap_or(&device.device).display().to_string();
    match crypt.context_handle().load::<()>(None, None) {
        Ok(()) => Ok(crypt),
        Err(e) if errno(&e) == Some(libc::EINVAL) => {
            Err(format!("{name}: {header}: no LUKS header found (not a LUKS device?)"))
        }
        Err(e) => Err(format!("{name}: {header}: cannot read the LUKS header: {}", explain(&e))),
    }
}

/// Whether `/dev/mapper/<name>` is already an active mapping (e.g. opened by hand).
/// Whether `/dev/mapper/<name>` is already open, saying so when it is.
pub(crate) fn already_open(name: &str) -> bool {
    let active = is_active(name);
    if active {
        log::info!("unlock: {name}: already active as /dev/mapper/{name}");
    }
    active
}

fn is_active(name: &str) -> bool {
    // Without device-mapper nothing can be active; asking would only log libcryptsetup's
    // complaint about it once more.
    if !std::path::Path::new("/dev/mapper/control").exists() {
        return false;
    }
    matches!(libcryptsetup_rs::status(None, name), Ok(CryptStatusInfo::Active | CryptStatusInfo::Busy))
}
