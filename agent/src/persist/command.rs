//! `lethe persist` and `lethe unpersisted`: argument handling, exit status, what goes to stdout.

use super::{accounts::Accounts, apply, entries, units::dropins, unpersisted};
use crate::exit::{self, CommandError};
use std::path::{Path, PathBuf};

/// The action lines, written in blocks: thousands of entries would otherwise cost a `write`
/// each. Flushed before anything goes to stderr, so the two stay in order.
#[derive(Default)]
struct Lines(String);

impl Lines {
    fn line(&mut self, text: String) {
        self.0.push_str(&text);
        self.0.push('\n');
        if self.0.len() >= 16 * 1024 {
            self.flush();
        }
    }

    fn flush(&mut self) {
        // A closed stdout must not stop the mounts (the journal may be gone at shutdown).
        let _ = exit::print_stdout(&self.0);
        self.0.clear();
    }
}

impl Drop for Lines {
    fn drop(&mut self) {
        self.flush();
    }
}

/// What `lethe persist` was asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersistArgs {
    pub config: PathBuf,
    pub root: PathBuf,
    pub dry_run: bool,
    /// At shutdown: adopt files programs put in place of lethe's symlinks.
    pub stop: bool,
    /// Write systemd drop-ins for `neededBy` and the stores into this directory instead.
    pub generate: Option<PathBuf>,
    /// In a systemd initrd: only the `inInitrd` entries (`persist::in_initrd`).
    pub in_initrd: bool,
}

/// `lethe persist --config FILE [--root DIR] [--dry-run] [--stop] [--generate DIR] [--in-initrd]`.
pub fn run(args: &PersistArgs) -> Result<(), CommandError> {
    let config = crate::config::command::load(&args.config)?;
    let entries = entries(&config);
    // A generator must not fail the boot: without a section it writes no drop-ins.
    if let Some(dir) = &args.generate {
        return generate(&entries, dir);
    }
    if config.persistence.is_none() {
        return Err(CommandError::bad_input(format!(
            "{}: no \"persistence\" section: nothing to persist",
            args.config.display()
        )));
    }
    let opts = apply::Options {
        root: args.root.clone(),
        state: super::below(&args.root, Path::new("/run/lethe")),
        dry_run: args.dry_run,
    };
    let mut out = Lines::default();
    if args.stop {
        let adopted = apply::adopt_replaced(&entries, &opts, &mut |l| out.line(l));
        out.flush();
        let n = adopted.map_err(|e| CommandError::failed(format!("persist --stop: {e}")))?;
        out.line(format!("adopted {n} replaced files"));
        return Ok(());
    }
    let applied = if args.in_initrd {
        super::in_initrd(&config, &args.root, args.dry_run, &mut |l| out.line(l))
    } else {
        apply::run(&entries, &Accounts::load(&args.root), &opts, &mut |l| out.line(l))
    };
    if let Ok(summary) = &applied {
        out.line(summary.to_string());
    }
    out.flush();
    match applied {
        Ok(summary) if summary.not_applied() > 0 => Err(CommandError::failed(format!(
            "persist: {} entries refused or failed (named above); the others are in place",
            summary.not_applied()
        ))),
        Ok(_) => Ok(()),
        Err(apply::RunError::BadInput(e)) => {
            Err(CommandError::bad_input(format!("{}: {e} (nothing changed)", args.config.display())))
        }
        Err(apply::RunError::Failed(e)) => Err(CommandError::failed(format!("persist: {e}"))),
    }
}

fn generate(entries: &[super::Entry], dir: &Path) -> Result<(), CommandError> {
    for (name, text) in dropins(entries) {
        let path = dir.join(&name);
        let written =
            std::fs::create_dir_all(path.parent().unwrap_or(dir)).and_then(|()| std::fs::write(&path, text));
        written.map_err(|e| CommandError::failed(format!("{}: cannot write: {e}", path.display())))?;
    }
    Ok(())
}

/// `lethe unpersisted [--config FILE] [--root DIR] [--json]`.
pub fn unpersisted(config: &Path, root: &Path, json: bool) -> Result<(), CommandError> {
    let config = crate::config::command::load(config)?;
    let report = unpersisted::report(&entries(&config), root)
        .map_err(|e| CommandError::failed(format!("unpersisted: {}: {e}", root.display())))?;
    if json {
        exit::print(&format!("{}\n", serde_json::to_string_pretty(&report).expect("serializes")))
    } else {
        exit::print(&unpersisted::render(&report, 10))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn needed_by_becomes_drop_ins() {
        let config = crate::config::Config::parse(
            r#"{"version": 1, "persistence": {"/persist": {"directories": [
                {"directory": "/var/lib/syncthing", "neededBy": ["syncthing.service"]}, "/var/log"]}}}"#,
        )
        .unwrap();
        let d = dropins(&entries(&config));
        assert_eq!(
            d["syncthing.service.d/lethe-persist.conf"],
            "# Written by lethe persist --generate (neededBy)\n[Unit]\nWants=lethe-persist.service\n\
             After=lethe-persist.service\nRequiresMountsFor=\"/var/lib/syncthing\"\n\
             AssertPathExists=/run/lethe/persisted/var-lib-syncthing\n"
        );
        assert!(d["lethe-persist.service.d/lethe-stores.conf"].contains("RequiresMountsFor=\"/persist\"\n"));
    }
}
