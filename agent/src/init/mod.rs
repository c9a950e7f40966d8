//! `lethe init`: PID 1 of a minimal initrd. It reads `/etc/lethe/config.json` from the initrd,
//! runs the stage-1 steps below in order, and ends by exec'ing the stage-2 init inside the root
//! filesystem. Any failure (or panic, on any thread) ends in the failure state of [`failure`]:
//! the reason on the console and in the kernel log, then reboot, poweroff or wait, as
//! configured. As PID 1 it runs stage 1 whatever name it was started under (see [`is_pid1`]).
//!
//! The flow is a list of named steps, so features slot in where they belong:
//! the network starts first (in the background), SSH unlock after the modules are loaded,
//! rollback once the root device is there and before the root subvolume is mounted.

pub(crate) mod cmdline;
pub mod command;
pub(crate) mod devices;
pub(crate) mod failure;
pub(crate) mod mounts;
pub(crate) mod unlock;
pub(crate) mod zfs;

use crate::config::boot::{is_zfs, Boot};
use crate::config::Config;
use crate::error::{Context, Error, Result};
use crate::paths::CONFIG_PATH;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant};

/// Where the root filesystem is mounted before it becomes `/`.
pub(crate) const SYSROOT: &str = "/sysroot";

/// What the steps share.
pub(crate) struct Stage1 {
    pub started: Instant,
    pub cmdline: cmdline::Cmdline,
    /// The kernel command line as read, for parsers of other parts (`ip=` for the network).
    pub cmdline_line: String,
    /// Set by the "read the config" step; every later step is given it ([`Run::Configured`]).
    pub(crate) config: Option<Rc<Config>>,
    /// Arguments the kernel gave us, passed on to stage 2.
    pub init_args: Vec<OsString>,
    pub sysroot: PathBuf,
    /// The root device once it is there.
    pub root_device: Option<PathBuf>,
    /// /proc/sys/kernel/printk_devkmsg as we found it, restored before stage 2.
    saved_devkmsg: Option<String>,
    /// Undo work registered by steps (stop the network, the SSH server), run in order just
    /// before the hand-off; see [`Stage1::before_handoff`].
    handoff_hooks: Vec<(&'static str, HandoffHook)>,
}

type HandoffHook = Box<dyn FnOnce() -> Result<()>>;

impl Stage1 {
    pub(crate) fn new(init_args: Vec<OsString>) -> Stage1 {
        Stage1 {
            started: Instant::now(),
            cmdline: cmdline::Cmdline::default(),
            cmdline_line: String::new(),
            config: None,
            init_args,
            sysroot: PathBuf::from(SYSROOT),
            root_device: None,
            saved_devkmsg: None,
            handoff_hooks: Vec::new(),
        }
    }

    /// Registers `undo` to run right before stage 2 starts (after the last check that can
    /// still fail the boot), e.g. tearing down stage 1's network. A failing hook only warns:
    /// by then the root is mounted and stage 2 is the better place to recover.
    pub(crate) fn before_handoff(&mut self, what: &'static str, undo: impl FnOnce() -> Result<()> + 'static) {
        self.handoff_hooks.push((what, Box::new(undo)));
    }

    fn run_handoff_hooks(&mut self) {
        for (what, undo) in std::mem::take(&mut self.handoff_hooks) {
            if let Err(e) = undo() {
                log::warn!("before stage 2: {what}: {e}");
            }
        }
    }

    pub(crate) fn config(&self) -> Result<&Config> {
        self.config.as_deref().ok_or_else(|| Error::msg("the config has not been read yet"))
    }

    pub(crate) fn boot(&self) -> Result<&Boot> {
        boot_of(self.config()?)
    }
}

fn boot_of(config: &Config) -> Result<&Boot> {
    config
        .boot
        .as_ref()
        .ok_or_else(|| Error::msg("the config has no \"boot\" section, which lethe init needs"))
}

/// How long a step waits for a device (`boot.deviceTimeoutSeconds`).
pub(crate) fn device_timeout(boot: &Boot) -> Duration {
    Duration::from_secs(boot.device_timeout_seconds.into())
}

/// One named piece of stage 1. `run` returns a short result for the console ("loaded 9
/// modules"), or an error that stops the boot.
pub(crate) struct Step {
    pub(crate) name: &'static str,
    pub(crate) run: Run,
}

/// What a step is given: the two steps that read the config get the stage alone; every later
/// one also gets the config and its `boot` section, which the "read the config" step checked.
pub(crate) enum Run {
    Early(fn(&mut Stage1) -> Result<String>),
    Configured(fn(&mut Stage1, &Config, &Boot) -> Result<String>),
}

impl Step {
    fn run(&self, stage: &mut Stage1) -> Result<String> {
        match self.run {
            Run::Early(run) => run(stage),
            Run::Configured(run) => {
                let config = Rc::clone(
                    stage.config.as_ref().ok_or_else(|| Error::msg("the config has not been read yet"))?,
                );
                run(stage, &config, boot_of(&config)?)
            }
        }
    }
}

/// Stage 1, in order.
pub(crate) fn steps() -> Vec<Step> {
    vec![
        Step { name: "mount /proc, /sys, /dev and /run", run: Run::Early(mount_kernel_filesystems) },
        Step { name: "read the kernel command line and the config", run: Run::Early(read_config) },
        // The network first: it runs in the background, so its driver, the wait for carrier
        // and DHCP overlap the loading of the other modules instead of following it.
        Step { name: "bring the network up", run: Run::Configured(start_network) },
        Step { name: "load kernel modules", run: Run::Configured(load_modules) },
        Step { name: "unlock the encrypted devices", run: Run::Configured(unlock::step) },
        // After the unlock: the swap holding the image may be on an encrypted device.
        Step { name: "resume from hibernation", run: Run::Configured(resume) },
        Step { name: "wait for the root device", run: Run::Configured(wait_for_root) },
        // After the unlock: a pool may be on LUKS devices. Nothing is mounted yet.
        Step { name: "import the ZFS pools", run: Run::Configured(zfs::import_step) },
        Step { name: "load the ZFS keys", run: Run::Configured(zfs::key_step) },
        // The device is there and the root is not mounted yet.
        Step { name: "roll back the root subvolume", run: Run::Configured(roll_back) },
        Step { name: "mount the root filesystem", run: Run::Configured(mount_root) },
        Step { name: "mount the other boot filesystems", run: Run::Configured(mount_others) },
        // The new root and its stores are mounted; systemd reads /etc/machine-id first thing.
        Step {
            name: "mount the inInitrd persisted paths",
            run: Run::Configured(|s, config, _| crate::persist::stage1(config, &s.sysroot)),
        },
        Step { name: "switch to the root filesystem", run: Run::Configured(switch_root) },
    ]
}

/// Whether this process is PID 1: then it is an initrd's init and runs stage 1, whatever its
/// name (`/init`, `rdinit=/lethe`, `init=/bin/lethe`): anything else would exit, and PID 1
/// exiting panics the kernel.
pub fn is_pid1() -> bool {
    rustix::process::getpid().is_init()
}

/// The arguments stage 1 passes on to stage 2's init: what the kernel gave PID 1 after its
/// name (the words of its command line it does not know), less a leading `init` subcommand
/// (`lethe init ARG...` started by a wrapper).
pub(crate) fn stage2_args(mut args: Vec<OsString>) -> Vec<OsString> {
    if args.first().is_some_and(|a| a == "init") {
        args.remove(0);
    }
    args
}

/// Runs stage 1 as PID 1 ([`command::as_pid1`]); never returns (stage 2 replaces this
/// process, or the failure state ends it).
fn main(init_args: Vec<OsString>) -> ! {
    failure::install_panic_hook();
    // The kernel starts init without PATH; `zfs` and `zpool` (a ZFS root) are found in /bin
    // and /sbin of the initrd. Set while this is the only thread; stage 2 sets its own.
    if std::env::var_os("PATH").is_none() {
        std::env::set_var("PATH", "/bin:/sbin:/usr/bin:/usr/sbin");
    }
    let mut stage = Stage1::new(init_args);
    let steps = steps();
    let total = steps.len();
    let name = std::env::args_os().next().unwrap_or_default();
    log::info!(
        "stage 1 starting (lethe {}, started as {})",
        env!("CARGO_PKG_VERSION"),
        name.to_string_lossy()
    );
    for (i, step) in steps.iter().enumerate() {
        // Another thread (network, SSH, a blocking worker) panicked: it is failing the boot.
        if failure::entered() {
            failure::stop_here();
        }
        let t = Instant::now();
        match step.run(&mut stage) {
            Ok(note) => {
                let note = if note.is_empty() { String::new() } else { format!(": {note}") };
                log::info!(
                    "[{:.3} s] step {}/{total} {}{note} ({} ms)",
                    stage.started.elapsed().as_secs_f64(),
                    i + 1,
                    step.name,
                    t.elapsed().as_millis()
                );
            }
            Err(e) => failure::enter(&format!("step {}/{total} \"{}\": {e}", i + 1, step.name)),
        }
    }
    failure::enter("stage 1 ended without starting stage 2")
}

fn mount_kernel_filesystems(stage: &mut Stage1) -> Result<String> {
    mounts::mount_api_filesystems()?;
    // An initrd without a /dev/kmsg node had the log on the console only until now.
    crate::log::reopen();
    // The kernel rate-limits /dev/kmsg writers (10 lines per 5 s); our step lines are few but
    // must all arrive. Restored before stage 2.
    let knob = Path::new("/proc/sys/kernel/printk_devkmsg");
    if let Ok(old) = std::fs::read_to_string(knob) {
        if std::fs::write(knob, "on\n").is_ok() {
            stage.saved_devkmsg = Some(old);
        }
    }
    Ok(String::new())
}

fn read_config(stage: &mut Stage1) -> Result<String> {
    let line = std::fs::read_to_string("/proc/cmdline").context("/proc/cmdline: cannot read")?;
    stage.cmdline = cmdline::parse(&line);
    stage.cmdline_line = line.trim_end().to_string();
    for word in &stage.cmdline.ignored {
        log::warn!("kernel command line: ignored {word}");
    }
    // Command-line overrides of the failure policy apply even when the config is broken.
    let mut policy = failure::DEFAULT;
    let apply_cmdline = |p: &mut failure::Policy, c: &cmdline::Cmdline| {
        if let Some(a) = c.on_failure {
            p.action = a;
        }
        if let Some(d) = c.failure_delay_seconds {
            p.delay_seconds = d;
        }
    };
    apply_cmdline(&mut policy, &stage.cmdline);
    failure::set_policy(policy);
    if stage.cmdline.test_panic {
        panic!("deliberate panic (lethe.test_panic on the kernel command line)");
    }
    if stage.cmdline.test_panic_thread {
        // Not joined: the main thread goes on, as it would past a panicking network thread.
        let spawned = std::thread::Builder::new()
            .name("test-panic".into())
            .spawn(|| panic!("deliberate panic (lethe.test_panic=thread on the kernel command line)"));
        spawned.context("lethe.test_panic=thread: cannot start a thread")?;
    }

    let path = stage.cmdline.config.clone().unwrap_or_else(|| PathBuf::from(CONFIG_PATH));
    let config = Config::load(&path).map_err(|e| Error::msg(e.to_string()))?;
    stage.config = Some(Rc::new(config));
    let boot = stage.boot()?;
    policy = failure::Policy { action: boot.on_failure, delay_seconds: boot.failure_delay_seconds };
    apply_cmdline(&mut policy, &stage.cmdline);
    failure::set_policy(policy);
    let init = crate::handoff::choose_init(stage.cmdline.init.as_deref(), &boot.init);
    Ok(format!(
        "{}; root {} ({}); stage 2 {}",
        path.display(),
        boot.root.device.display(),
        boot.root.fs_type,
        init.display()
    ))
}

fn load_modules(_: &mut Stage1, config: &Config, boot: &Boot) -> Result<String> {
    // network.kernelModules load in the network step, where a missing NIC driver only warns.
    let names = &boot.kernel_modules;
    if names.is_empty() {
        return Ok("none configured".into());
    }
    // With a network to bring up (SSH unlock), the config's order: its bus drivers first, so
    // the NIC and with it the SSH door appear soonest. Otherwise the whole set soonest.
    let first = match config.network {
        Some(_) => crate::kmod::First::ConfigOrder,
        None => crate::kmod::First::CostliestChains,
    };
    let summary = crate::kmod::load_all(names, first)?;
    let mut note = format!("loaded {}", summary.loaded.len());
    if !summary.loaded.is_empty() {
        note.push_str(&format!(" ({})", summary.loaded.join(", ")));
    }
    if !summary.present.is_empty() {
        note.push_str(&format!("; already present: {}", summary.present.join(", ")));
    }
    Ok(note)
}

/// Hands a hibernation image's device to the kernel (`/sys/power/resume`) before anything is
/// mounted: mounting a filesystem that a hibernated kernel still has open would corrupt it.
/// With an image there, the kernel restores it and this process is gone; without one, the
/// write returns and the boot goes on. A missing device only warns: a swap disk must not be
/// able to stop a boot. `noresume` on the kernel command line skips this.
fn resume(stage: &mut Stage1, _: &Config, boot: &Boot) -> Result<String> {
    let Some(device) = boot.resume_device.clone() else {
        return Ok("no boot.resumeDevice".into());
    };
    // The command line as read by the "read the config" step.
    if cmdline::words(&stage.cmdline_line).iter().any(|w| w == "noresume") {
        return Ok("skipped (noresume)".into());
    }
    let timeout = device_timeout(boot);
    let device = match devices::wait_for(&device, timeout) {
        Ok(d) => d,
        Err(e) => {
            log::warn!("resume: {e}; booting without resuming");
            return Ok("device missing, not resumed".into());
        }
    };
    let rdev = rustix::fs::stat(&device).with_context(|| device.display())?.st_rdev;
    let value = format!("{}:{}", rustix::fs::major(rdev), rustix::fs::minor(rdev));
    log::info!("resume: asking the kernel to resume from {} ({value})", device.display());
    std::fs::write("/sys/power/resume", &value)
        .with_context(|| format!("/sys/power/resume: cannot write {value}"))?;
    Ok(format!("{}: no hibernation image, booting normally", device.display()))
}

fn wait_for_root(stage: &mut Stage1, _: &Config, boot: &Boot) -> Result<String> {
    if is_zfs(&boot.root.fs_type) {
        return Ok(format!("{}: a ZFS dataset, found by the pool's import", boot.root.device.display()));
    }
    let timeout = device_timeout(boot);
    let t = Instant::now();
    let device = devices::wait_for(&boot.root.device, timeout)?;
    let note = format!("{} after {} ms", device.display(), t.elapsed().as_millis());
    stage.root_device = Some(device);
    Ok(note)
}

/// Starts DHCP (or the static address) in the background, so the SSH unlock is reachable while
/// the rest of stage 1 goes on; torn down right before stage 2 (`flushBeforeStage2`). Never
/// fails the boot: a machine that cannot reach the network can still be unlocked on the console.
fn start_network(stage: &mut Stage1, config: &Config, _: &Boot) -> Result<String> {
    let network = config.network.clone();
    let Some(background) = crate::net::start_for_stage1(network.as_ref(), &stage.cmdline_line) else {
        return Ok("none configured".into());
    };
    stage.before_handoff("tear the network down", move || {
        crate::net::stop_for_stage2(Some(background));
        Ok(())
    });
    Ok("started in the background".into())
}

/// Archives the old root, prunes expired archives and creates a fresh root, on the rollback
/// device (which may only now exist, e.g. `/dev/mapper/crypted` after the unlock).
fn roll_back(_: &mut Stage1, config: &Config, boot: &Boot) -> Result<String> {
    if let Some(zfs) = &config.zfs_rollback {
        // The pools were imported and the keys loaded by the steps before this one.
        return Ok(crate::rollback::zfs::run(zfs)?.to_string());
    }
    let Some(mut rollback) = config.rollback.clone() else {
        return Ok("no \"rollback\" section".into());
    };
    rollback.device = devices::wait_for(&rollback.device, device_timeout(boot)).context("rollback")?;
    let report = crate::rollback::run(&rollback, &boot.mounts)?;
    Ok(report.to_string())
}

fn mount_root(stage: &mut Stage1, _: &Config, boot: &Boot) -> Result<String> {
    let device = stage.root_device.clone().unwrap_or_else(|| boot.root.device.clone());
    let options = mount_options(&boot.root.fs_type, &boot.root.options);
    mounts::mount_filesystem(&device, &stage.sysroot, &boot.root.fs_type, &options)?;
    Ok(format!("{} on {}", device.display(), stage.sysroot.display()))
}

fn mount_others(stage: &mut Stage1, _: &Config, boot: &Boot) -> Result<String> {
    if boot.mounts.is_empty() {
        return Ok("none configured".into());
    }
    let timeout = device_timeout(boot);
    let mut done = Vec::new();
    for m in &boot.mounts {
        // A ZFS dataset is there once its pool is imported (an earlier step).
        let device =
            if is_zfs(&m.fs_type) { m.device.clone() } else { devices::wait_for(&m.device, timeout)? };
        let options = mount_options(&m.fs_type, &m.options);
        mounts::mount_in_root(&device, &stage.sysroot, &m.mount_point, &m.fs_type, &options)?;
        done.push(m.mount_point.display().to_string());
    }
    Ok(done.join(", "))
}

/// The options the kernel is given for a mount of `fs_type`.
fn mount_options(fs_type: &str, options: &str) -> String {
    if is_zfs(fs_type) {
        zfs::kernel_options(options)
    } else {
        options.to_string()
    }
}

fn switch_root(stage: &mut Stage1, _: &Config, boot: &Boot) -> Result<String> {
    let init = crate::handoff::choose_init(stage.cmdline.init.as_deref(), &boot.init);
    crate::handoff::check_init(&stage.sysroot, &init)?;
    stage.run_handoff_hooks();
    log::info!(
        "[{:.3} s] switching root: starting {} in {}; stage 1 done",
        stage.started.elapsed().as_secs_f64(),
        init.display(),
        stage.sysroot.display()
    );
    if let Some(old) = stage.saved_devkmsg.take() {
        let _ = std::fs::write("/proc/sys/kernel/printk_devkmsg", old);
    }
    // No thread may start failing the boot while stage 2 starts (exec ends every thread); one
    // that already did wins, and this thread stops.
    let _hold = failure::hold_off();
    Err(crate::handoff::switch_root(&stage.sysroot, &init, &stage.init_args))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_have_unique_names_and_end_with_the_switch() {
        let steps = steps();
        let mut names: Vec<&str> = steps.iter().map(|s| s.name).collect();
        assert_eq!(names.last(), Some(&"switch to the root filesystem"));
        assert_eq!(names.first(), Some(&"mount /proc, /sys, /dev and /run"));
        names.sort();
        names.dedup();
        assert_eq!(names.len(), steps.len());
    }

    /// The first process of a PID namespace is PID 1 there, as the kernel's first process is
    /// in an initrd: a child forked into a new namespace must be told apart from this one.
    #[test]
    fn pid1_is_the_first_process_of_its_namespace() {
        assert!(!is_pid1(), "the test process is not PID 1");
        // SAFETY: unshare only changes the namespace of this thread's future children; the
        // child calls nothing but getpid and _exit, which are safe after fork.
        let status = unsafe {
            assert_eq!(libc::unshare(libc::CLONE_NEWPID), 0, "unshare(CLONE_NEWPID): needs root");
            match libc::fork() {
                0 => libc::_exit(if is_pid1() { 0 } else { 1 }),
                -1 => panic!("fork: {}", std::io::Error::last_os_error()),
                child => {
                    let mut status = 0;
                    assert_eq!(libc::waitpid(child, &mut status, 0), child);
                    status
                }
            }
        };
        assert!(
            libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
            "the child was not PID 1: {status:#x}"
        );
    }

    #[test]
    fn stage2_gets_the_kernel_words_whatever_the_name() {
        let os = |v: &[&str]| v.iter().map(OsString::from).collect::<Vec<_>>();
        assert_eq!(stage2_args(os(&["single", "emergency"])), os(&["single", "emergency"]));
        assert_eq!(stage2_args(os(&["init", "single"])), os(&["single"]));
        assert!(stage2_args(vec![]).is_empty());
    }

    #[test]
    fn handoff_hooks_run_once_in_order_and_failures_only_warn() {
        use std::sync::{Arc, Mutex};
        let ran = Arc::new(Mutex::new(Vec::new()));
        let mut stage = Stage1::new(vec![]);
        for (name, ok) in [("network", false), ("ssh", true)] {
            let ran = ran.clone();
            stage.before_handoff(name, move || {
                ran.lock().unwrap().push(name);
                if ok {
                    Ok(())
                } else {
                    Err(Error::msg("already down"))
                }
            });
        }
        stage.run_handoff_hooks();
        stage.run_handoff_hooks();
        assert_eq!(*ran.lock().unwrap(), ["network", "ssh"]);
    }

    #[test]
    fn boot_section_is_required() {
        let mut stage = Stage1::new(vec![]);
        assert!(stage.boot().unwrap_err().to_string().contains("not been read"));
        stage.config = Some(Rc::new(Config::parse(r#"{"version": 1}"#).unwrap()));
        assert!(stage.boot().unwrap_err().to_string().contains("no \"boot\" section"));
    }
}
