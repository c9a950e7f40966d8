//! `lethe persist` and `lethe unpersisted`: argument handling, exit status, what goes to stdout.

use super::{accounts::Accounts, apply, entries, units::dropins, unpersisted};
use crate::cli::{self, PersistArgs, EXIT_BAD_INPUT, EXIT_FAILED};
use std::path::Path;
use std::process::ExitCode;

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
        let _ = cli::print_stdout(&self.0);
        self.0.clear();
    }
}

impl Drop for Lines {
    fn drop(&mut self) {
        self.flush();
    }
}

pub fn persist(args: &PersistArgs) -> ExitCode {
    let config = match cli::load_config(&args.config) {
        Ok(c) => c,
        Err(status) => return ExitCode::from(status),
    };
    let entries = entries(&config);
    if let Some(dir) = &args.generate {
        return generate(&entries, dir);
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
        return match adopted {
            Ok(n) => {
                out.line(format!("adopted {n} replaced files"));
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("lethe: persist --stop: {e}");
                ExitCode::from(EXIT_FAILED)
            }
        };
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
        Ok(summary) => {
            if summary.not_applied() > 0 {
                eprintln!(
                    "lethe: persist: {} entries refused or failed (named above); the others are in place",
                    summary.not_applied()
                );
                return ExitCode::from(EXIT_FAILED);
            }
            ExitCode::SUCCESS
        }
        Err(apply::RunError::BadInput(e)) => {
            eprintln!("lethe: {}: {e} (nothing changed)", args.config.display());
            ExitCode::from(EXIT_BAD_INPUT)
        }
        Err(apply::RunError::Failed(e)) => {
            eprintln!("lethe: persist: {e}");
            ExitCode::from(EXIT_FAILED)
        }
    }
}

fn generate(entries: &[super::Entry], dir: &Path) -> ExitCode {
    for (name, text) in dropins(entries) {
        let path = dir.join(&name);
        let written =
            std::fs::create_dir_all(path.parent().unwrap_or(dir)).and_then(|()| std::fs::write(&path, text));
        if let Err(e) = written {
            eprintln!("lethe: {}: cannot write: {e}", path.display());
            return ExitCode::from(EXIT_FAILED);
        }
    }
    ExitCode::SUCCESS
}

pub fn unpersisted(config: &Path, root: &Path, json: bool) -> ExitCode {
    let config = match cli::load_config(config) {
        Ok(c) => c,
        Err(status) => return ExitCode::from(status),
    };
    match unpersisted::report(&entries(&config), root) {
        Ok(report) if json => {
            cli::print_result(&format!("{}\n", serde_json::to_string_pretty(&report).expect("serializes")))
        }
        Ok(report) => cli::print_result(&unpersisted::render(&report, 10)),
        Err(e) => {
            eprintln!("lethe: unpersisted: {}: {e}", root.display());
            ExitCode::from(EXIT_FAILED)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::{parse, Command};

    fn p(args: &[&str]) -> Result<Command, String> {
        parse(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn the_command_lines_parse() {
        let want = PersistArgs {
            config: "c.json".into(),
            root: "/sysroot".into(),
            dry_run: true,
            stop: false,
            generate: None,
            in_initrd: false,
        };
        assert_eq!(
            p(&["persist", "--config", "c.json", "--root", "/sysroot", "--dry-run"]),
            Ok(Command::Persist(want))
        );
        let Ok(Command::Persist(stop)) = p(&["persist", "--config", "c.json", "--stop"]) else { panic!() };
        assert!(stop.stop && stop.root == Path::new("/"));
        let Ok(Command::Persist(early)) =
            p(&["persist", "--config", "c.json", "--in-initrd", "--root", "/sysroot"])
        else {
            panic!()
        };
        assert!(early.in_initrd && early.root == Path::new("/sysroot"));
        assert_eq!(
            p(&["unpersisted", "--json"]),
            Ok(Command::Unpersisted {
                config: "/etc/lethe/config.json".into(),
                root: "/".into(),
                json: true
            })
        );
        assert_eq!(p(&["persist", "--config", "c.json", "--frob"]), Err("unexpected argument --frob".into()));
        assert_eq!(p(&["persist"]), Err("missing --config FILE".into()));
    }

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
