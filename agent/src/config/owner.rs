//! Owners and modes as the config names them, shared by `persistence` and `datasets` (so
//! neither imports the other for them).

use super::mode::{self, For};
use super::reader::{error, At, Result};

/// A directory's permission bits, octal or chmod's `u=rwx,g=,o=`, normalized to `"0755"` form.
pub fn mode(at: At<'_>) -> Result<String> {
    mode_for(at, For::Directory)
}

/// A file's own mode (no `X`).
pub fn file_mode(at: At<'_>) -> Result<String> {
    mode_for(at, For::File)
}

fn mode_for(at: At<'_>, kind: For) -> Result<String> {
    let s = at.string()?;
    mode::parse(&s, kind).map(|m| format!("{m:04o}")).map_err(|why| error(at.path, why))
}

pub fn user_name(at: At<'_>) -> Result<String> {
    let s = at.string()?;
    let ok =
        !s.is_empty() && s.len() <= 32 && s.chars().all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c));
    if ok {
        Ok(s)
    } else {
        at.expected("a user or group name")
    }
}
