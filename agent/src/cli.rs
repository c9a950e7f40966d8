//! Command-line parsing: the words after `lethe` become a [`Command`] for `main.rs`. Kept by hand: a few subcommands with a handful of flags do not earn a
//! parser crate in every initrd.

pub(crate) use crate::persist::command::PersistArgs;
use std::path::PathBuf;

pub const USAGE: &str = "\
lethe: early-boot agent for impermanent Linux hosts

Usage:
  lethe check-config FILE     check a config; print it normalized, with defaults filled in
  lethe unlock --config FILE  read one passphrase from stdin, open the configured LUKS devices
                              (0 opened, 1 wrong passphrase, 2 other failure)
  lethe serve --config FILE   SSH server + console prompt until every device is open
                              (systemdAgent mode: until SIGTERM), then close and exit 0
  lethe rollback --config FILE
                              archive the btrfs or ZFS root, create a fresh one, prune old roots
  lethe roots list --config FILE [--json]
                              list archived roots and what the next rollback would prune
  lethe net --config FILE [--once] [--cmdline TEXT]
                              bring the network up as stage 1 does, print the lease as JSON,
                              renew until SIGTERM (--once: tear down at once); ip= is read
                              from /proc/cmdline, or from TEXT
  lethe datasets --config FILE [--dry-run] [--json]
                              create the declared ZFS datasets and keep their properties,
                              owners and modes right (never destroys); print what it did
  lethe persist --config FILE [--root DIR] [--dry-run] [--stop] [--generate DIR] [--in-initrd]
                              bind-mount the persisted directories and files below DIR (/);
                              --stop: at shutdown, adopt files that replaced lethe's symlinks;
                              --in-initrd: only the inInitrd entries, in a systemd initrd
                              (--root /sysroot), recorded in /run/lethe for stage 2;
                              --generate: write systemd drop-ins for neededBy into DIR
  lethe unpersisted [--config FILE] [--root DIR] [--json]
                              what the next boot forgets, and what the stores hold unnamed
  lethe init [ARG...]         stage 1 as PID 1 of an initrd (what lethe runs whenever it is
                              PID 1, whatever its name): config from /etc/lethe/config.json,
                              ARGs go to stage 2's init
  lethe --help | --version

Exit status, every command: 0 ok; 1 bad input (a config that is invalid or lacks the section
the command needs, a wrong passphrase); 2 any other failure (a wrong command line, a config
that cannot be read, a disk or network error).
Logging: RUST_LOG=debug (default info).";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Help,
    Version,
    CheckConfig {
        file: PathBuf,
    },
    /// `lethe init`: the words after it belong to stage 2's init.
    Init,
    Rollback {
        config: PathBuf,
    },
    RootsList {
        config: PathBuf,
    },
    RootsListJson {
        config: PathBuf,
    },
    Unlock {
        config: PathBuf,
    },
    Serve {
        config: PathBuf,
    },
    Persist(PersistArgs),
    Unpersisted {
        config: PathBuf,
        root: PathBuf,
        json: bool,
    },
    /// `cmdline`: `--cmdline TEXT` instead of /proc/cmdline (for `ip=`).
    Net {
        config: PathBuf,
        once: bool,
        cmdline: Option<String>,
    },
    Datasets {
        config: PathBuf,
        dry_run: bool,
        json: bool,
    },
}

/// The arguments after the program name, consumed front to back.
struct Args(std::collections::VecDeque<String>);

impl Args {
    fn next(&mut self) -> Option<String> {
        self.0.pop_front()
    }

    fn positional(&mut self, name: &str) -> Result<String, String> {
        match self.next() {
            Some(a) if !a.starts_with("--") => Ok(a),
            Some(a) => Err(format!("unexpected option {a}, expected {name}")),
            None => Err(format!("missing {name}")),
        }
    }

    /// `--config FILE`, the one option most subcommands share.
    fn config(&mut self) -> Result<PathBuf, String> {
        match self.next().as_deref() {
            Some("--config") => self.positional("FILE after --config").map(PathBuf::from),
            Some(other) => Err(format!("unexpected argument {other}, expected --config FILE")),
            None => Err("missing --config FILE".into()),
        }
    }

    fn done(mut self) -> Result<(), String> {
        match self.next() {
            None => Ok(()),
            Some(extra) => Err(format!("unexpected argument {extra}")),
        }
    }
}

pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Command, String> {
    let mut args = Args(args.into_iter().collect());
    let command = match args.next().as_deref() {
        None | Some("--help" | "-h" | "help") => Command::Help,
        Some("--version" | "-V") => Command::Version,
        Some("check-config") => Command::CheckConfig { file: args.positional("FILE")?.into() },
        Some("init") => return Ok(Command::Init),
        Some("rollback") => Command::Rollback { config: args.config()? },
        Some("roots") => match args.next().as_deref() {
            Some("list") => {
                let config = args.config()?;
                if args.0.front().is_some_and(|a| a == "--json") {
                    args.next();
                    Command::RootsListJson { config }
                } else {
                    Command::RootsList { config }
                }
            }
            Some(other) => return Err(format!("unknown command roots {other}, expected roots list")),
            None => return Err("missing roots subcommand, expected roots list".into()),
        },
        Some("unlock") => Command::Unlock { config: args.config()? },
        Some("serve") => Command::Serve { config: args.config()? },
        Some("net") => {
            let config = args.config()?;
            let (mut once, mut cmdline) = (false, None);
            while let Some(a) = args.next() {
                match a.as_str() {
                    "--once" => once = true,
                    "--cmdline" => cmdline = Some(args.next().ok_or("missing TEXT after --cmdline")?),
                    other => return Err(format!("unexpected argument {other}")),
                }
            }
            Command::Net { config, once, cmdline }
        }
        Some("datasets") => {
            let config = args.config()?;
            let (mut dry_run, mut json) = (false, false);
            while let Some(a) = args.next() {
                match a.as_str() {
                    "--dry-run" => dry_run = true,
                    "--json" => json = true,
                    other => return Err(format!("unexpected argument {other}")),
                }
            }
            Command::Datasets { config, dry_run, json }
        }
        Some("persist") => Command::Persist(persist_args(&mut args)?),
        Some("unpersisted") => unpersisted_args(&mut args)?,
        Some(other) => return Err(format!("unknown command {other}")),
    };
    args.done()?;
    Ok(command)
}

fn persist_args(args: &mut Args) -> Result<PersistArgs, String> {
    let config = args.config()?;
    let mut p = PersistArgs {
        config,
        root: PathBuf::from("/"),
        dry_run: false,
        stop: false,
        generate: None,
        in_initrd: false,
    };
    while let Some(a) = args.next() {
        match a.as_str() {
            "--root" => p.root = args.positional("DIR after --root")?.into(),
            "--dry-run" => p.dry_run = true,
            "--stop" => p.stop = true,
            "--in-initrd" => p.in_initrd = true,
            "--generate" => p.generate = Some(args.positional("DIR after --generate")?.into()),
            other => return Err(format!("unexpected argument {other}")),
        }
    }
    Ok(p)
}

fn unpersisted_args(args: &mut Args) -> Result<Command, String> {
    let (mut config, mut root, mut json) =
        (PathBuf::from(crate::paths::CONFIG_PATH), PathBuf::from("/"), false);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--config" => config = args.positional("FILE after --config")?.into(),
            "--root" => root = args.positional("DIR after --root")?.into(),
            "--json" => json = true,
            other => return Err(format!("unexpected argument {other}")),
        }
    }
    Ok(Command::Unpersisted { config, root, json })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(args: &[&str]) -> Result<Command, String> {
        parse(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn parses_subcommands() {
        assert_eq!(p(&[]), Ok(Command::Help));
        assert_eq!(p(&["--version"]), Ok(Command::Version));
        assert_eq!(p(&["check-config", "x.json"]), Ok(Command::CheckConfig { file: "x.json".into() }));
        assert_eq!(
            p(&["datasets", "--config", "c.json", "--json", "--dry-run"]),
            Ok(Command::Datasets { config: "c.json".into(), dry_run: true, json: true })
        );
    }

    #[test]
    fn rejects_what_it_does_not_know() {
        assert_eq!(p(&["frobnicate"]), Err("unknown command frobnicate".into()));
        assert_eq!(p(&["check-config"]), Err("missing FILE".into()));
        assert_eq!(p(&["check-config", "a", "b"]), Err("unexpected argument b".into()));
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
        assert!(stop.stop && stop.root == std::path::Path::new("/"));
        let Ok(Command::Persist(early)) =
            p(&["persist", "--config", "c.json", "--in-initrd", "--root", "/sysroot"])
        else {
            panic!()
        };
        assert!(early.in_initrd && early.root == std::path::Path::new("/sysroot"));
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
}
