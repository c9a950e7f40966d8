//! The `lethe` binary: parse the command line, set up logging, run one subcommand, and turn
//! its result into the exit status: the only place that does (0 done; 1 bad input, 2 any
//! other failure, `lethe::exit::Status`).

use lethe::cli::{self, Command};
use lethe::exit::{self, CommandError, Status};
use std::ffi::OsString;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    // As PID 1, lethe is an initrd's init whatever its name (/init, rdinit=/lethe): the kernel
    // starts it with no subcommand, passing the command-line words it does not know, which
    // belong to stage 2. It never returns: exiting would panic the kernel.
    if lethe::init::is_pid1() {
        lethe::log::init();
        lethe::init::command::as_pid1(args);
    }
    // systemd runs generators by their path: `…/system-generators/lethe-generator` is a
    // symlink to this binary (see initrd-glue/systemd/initrd/).
    let argv0 = std::env::args_os().next().unwrap_or_default();
    if argv0.to_string_lossy().ends_with(lethe::generator::NAME) {
        lethe::log::init();
        return status(lethe::generator::run(args));
    }
    let command = match cli::parse(std::env::args().skip(1)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("lethe: {e}\n\n{}", cli::USAGE);
            return ExitCode::from(Status::Failed.code());
        }
    };
    lethe::log::init();
    status(run(command, args))
}

/// One subcommand; `args` are the raw words after `lethe`, for `lethe init`.
fn run(command: Command, args: Vec<OsString>) -> Result<(), CommandError> {
    match command {
        Command::Help => exit::print(&format!("{}\n", cli::USAGE)),
        Command::Version => exit::print(&format!("lethe {}\n", env!("CARGO_PKG_VERSION"))),
        Command::CheckConfig { file } => lethe::config::command::run(&file),
        Command::Init => lethe::init::command::run(args),
        Command::Rollback { config } => lethe::rollback::command::run(&config),
        Command::RootsList { config } => lethe::rollback::command::roots_list(&config, false),
        Command::RootsListJson { config } => lethe::rollback::command::roots_list(&config, true),
        Command::Unlock { config, target } => lethe::unlock::command::run(&config, target.as_deref()),
        Command::Serve { config } => lethe::serve::command::run(&config),
        Command::Net { config, once, cmdline } => lethe::net::command::run(&config, once, cmdline),
        Command::Datasets { config, dry_run, json, restore } => {
            lethe::zfs::command::run(&config, dry_run, json, restore.as_deref())
        }
        Command::Persist(args) => lethe::persist::command::run(&args),
        Command::Unpersisted { config, root, json } => {
            lethe::persist::command::unpersisted(&config, &root, json)
        }
    }
}

/// The exit status of a result, after saying why it failed.
fn status(result: Result<(), CommandError>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            e.report();
            ExitCode::from(e.status.code())
        }
    }
}
