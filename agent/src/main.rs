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
    // The kernel starts an initrd's /init with no subcommand (and passes it the command-line
    // words it does not know, which belong to stage 2).
    let argv0 = std::env::args_os().next().unwrap_or_default();
    if lethe::init::invoked_as_init(&argv0.to_string_lossy()) {
        lethe::log::init();
        lethe::init::main(std::env::args_os().skip(1).collect());
    }
    let command = match cli::parse(std::env::args().skip(1)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("lethe: {e}\n\n{}", cli::USAGE);
            return ExitCode::from(2);
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
        Command::Persist(args) => lethe::persist::command::persist(&args),
        Command::Unpersisted { config, root, json } => {
            lethe::persist::command::unpersisted(&config, &root, json)
        }
    }
}
