//! `lethe init [ARG...]`, and lethe started as PID 1 under any name (`/init`, `rdinit=`).

use crate::exit::CommandError;
use std::ffi::OsString;

/// `lethe init ARG...`: stage 1, as PID 1 only; ARGs go to stage 2's init.
pub fn run(args: Vec<OsString>) -> Result<(), CommandError> {
    if !super::is_pid1() {
        return Err(CommandError::failed(
            "init: must run as PID 1 of an initrd (it mounts, deletes the initramfs and switches root)",
        ));
    }
    as_pid1(args)
}

/// Stage 1 for PID 1, with the words the kernel passed after its name (`args`). It never
/// returns, which the type says: PID 1 exiting would panic the kernel. Stage 2 replaces the
/// process, or the failure state ends it.
pub fn as_pid1(args: Vec<OsString>) -> ! {
    super::main(super::stage2_args(args))
}
