//! The `lethe` binary: parse the command line, set up logging, run one subcommand, map its
//! outcome to the exit status (0 ok, 1 bad input, 2 other failure).

use lethe::cli::{self, Command};
use std::process::ExitCode;

fn check_config(file: &std::path::Path) -> ExitCode {
    match cli::load_config(file) {
        Ok(config) => cli::print_result(&format!("{}\n", config.to_json())),
        Err(status) => ExitCode::from(status),
    }
}

fn main() -> ExitCode {
    // As PID 1, lethe is an initrd's init whatever its name (/init, rdinit=/lethe): the kernel
    // starts it with no subcommand, passing the command-line words it does not know, which
    // belong to stage 2. Exiting instead would panic the kernel.
    if lethe::init::is_pid1() {
        lethe::log::init();
        lethe::init::main(lethe::init::stage2_args(std::env::args_os().skip(1).collect()));
    }
    // systemd runs generators by their path: `…/system-generators/lethe-generator` is a
    // symlink to this binary (see initrd-glue/systemd/initrd/).
    let argv0 = std::env::args_os().next().unwrap_or_default();
    if argv0.to_string_lossy().ends_with(lethe::generator::NAME) {
        lethe::log::init();
        return lethe::generator::main(std::env::args_os().skip(1).collect());
    }
    let command = match cli::parse(std::env::args().skip(1)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("lethe: {e}\n\n{}", cli::USAGE);
            return ExitCode::from(cli::EXIT_FAILED);
        }
    };
    lethe::log::init();
    match command {
        Command::Help => cli::print_result(&format!("{}\n", cli::USAGE)),
        Command::Version => cli::print_result(&format!("lethe {}\n", env!("CARGO_PKG_VERSION"))),
        Command::CheckConfig { file } => check_config(&file),
        Command::Init => lethe::init::main(std::env::args_os().skip(2).collect()),
        Command::Rollback { config } => lethe::rollback::main_rollback(&config),
        Command::RootsList { config } => lethe::rollback::main_roots_list(&config, false),
        Command::RootsListJson { config } => lethe::rollback::main_roots_list(&config, true),
        Command::Unlock { config } => ExitCode::from(lethe::unlock::command::run(&config)),
        Command::Serve { config } => ExitCode::from(lethe::serve::run(&config)),
        Command::Net { config, once, cmdline } => lethe::net::main(&config, once, cmdline),
        Command::Datasets { config, dry_run, json } => lethe::zfs::main(&config, dry_run, json),
        Command::Persist(args) => lethe::persist::command::persist(&args),
        Command::Unpersisted { config, root, json } => {
            lethe::persist::command::unpersisted(&config, &root, json)
        }
    }
}
