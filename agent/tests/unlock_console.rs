//! The console prompt, on a pseudo-terminal standing in for /dev/console: no echo, line editing
//! by the terminal, wrong then right passphrase, and going away (terminal mode restored) when
//! another path unlocked first. Direct mode in verify-only (no device-mapper on the host)
//! against real LUKS2 headers.

mod common;
mod unlock_support;

use lethe::config::unlock::{Device, Unlock};
use lethe::unlock::console::console_prompt_on;
use lethe::unlock::{Attempt, Options, Passphrase, Unlocker};
use rustix::termios::{self, LocalModes};
use std::ffi::CStr;
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use unlock_support::{luks_image, Scratch};

/// A pseudo-terminal: the test plays the keyboard and screen on the master side.
struct Pty {
    master: Arc<OwnedFd>,
    slave: PathBuf,
    /// Held open for the whole test: once every slave fd is closed, reads on the master fail
    /// (EIO), which would stop the screen reader between two opens.
    _hold: OwnedFd,
    screen: Arc<Mutex<Vec<u8>>>,
}

impl Pty {
    fn new() -> Pty {
        // SAFETY: plain libc calls; the returned fd is owned from here on.
        let master = unsafe {
            let fd = libc::posix_openpt(libc::O_RDWR | libc::O_NOCTTY);
            assert!(fd >= 0, "posix_openpt");
            assert_eq!(libc::grantpt(fd), 0);
            assert_eq!(libc::unlockpt(fd), 0);
            OwnedFd::from_raw_fd(fd)
        };
        let mut name = [0 as libc::c_char; 128];
        // SAFETY: the buffer is large enough and NUL-terminated on success.
        let slave = unsafe {
            assert_eq!(
                libc::ptsname_r(std::os::fd::AsRawFd::as_raw_fd(&master), name.as_mut_ptr(), name.len()),
                0
            );
            PathBuf::from(CStr::from_ptr(name.as_ptr()).to_str().unwrap())
        };
        let hold = rustix::fs::open(&slave, rustix::fs::OFlags::RDWR | rustix::fs::OFlags::NOCTTY, 0.into())
            .unwrap();
        let master = Arc::new(master);
        let screen = Arc::new(Mutex::new(Vec::new()));
        let (m, s) = (master.clone(), screen.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            // Ends with EIO once no slave fd is open, or with the test process.
            while let Ok(n) = rustix::io::read(&*m, &mut buf) {
                if n == 0 {
                    break;
                }
                s.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        Pty { master, slave, _hold: hold, screen }
    }

    fn type_in(&self, keys: &[u8]) {
        let mut rest = keys;
        while !rest.is_empty() {
            let n = rustix::io::write(&*self.master, rest).unwrap();
            rest = &rest[n..];
        }
    }

    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.screen.lock().unwrap()).into_owned()
    }

    /// Waits until `text` has appeared `count` times on the screen.
    async fn wait_for(&self, text: &str, count: usize) {
        for _ in 0..3000 {
            if self.screen().matches(text).count() >= count {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("{text:?} (x{count}) never appeared; screen: {:?}", self.screen());
    }
}

fn unlocker(scratch: &Scratch, devices: &[(&str, &str)]) -> Arc<Unlocker> {
    let devices = devices
        .iter()
        .map(|(name, passphrase)| {
            let img = scratch.path(&format!("{name}.img"));
            luks_image(&img, passphrase, "pbkdf2");
            Device {
                name: name.to_string(),
                device: img,
                allow_discards: false,
                bypass_workqueues: false,
                header: None,
                kind: Default::default(),
            }
        })
        .collect();
    let config = Unlock { devices, systemd_agent: false, console: true, max_tries: 3, tang: None };
    Arc::new(Unlocker::with_options(&config, Options { verify_only: true, ask_dir: scratch.path("ask") }))
}

fn echo_is_on(pty: &Pty) -> bool {
    let fd = rustix::fs::open(&pty.slave, rustix::fs::OFlags::RDWR | rustix::fs::OFlags::NOCTTY, 0.into())
        .unwrap();
    termios::tcgetattr(&fd).unwrap().local_modes.contains(LocalModes::ECHO)
}

#[tokio::test]
async fn wrong_then_right_with_line_editing() {
    let s = Scratch::new("console");
    let pty = Pty::new();
    let unlocker = unlocker(&s, &[("crypted", "correct horse")]);
    assert!(echo_is_on(&pty), "a fresh pty echoes");
    let prompt = tokio::spawn(console_prompt_on(pty.slave.clone(), unlocker.clone()));
    pty.wait_for("Passphrase for crypted (", 1).await;
    pty.type_in(b"wrong guess\n");
    pty.wait_for("Wrong passphrase", 1).await;
    pty.wait_for("Passphrase for crypted (", 2).await;
    // Backspace (DEL) and Ctrl-U are the terminal's: "xx" erased, "junk" killed.
    pty.type_in(b"junk\x15correct horsexx\x7f\x7f\n");
    pty.wait_for("Opened crypted; the boot continues.", 1).await;
    prompt.await.unwrap().unwrap();
    assert!(unlocker.is_done());
    let screen = pty.screen();
    for secret in ["correct", "horse", "wrong guess", "junk"] {
        assert!(!screen.contains(secret), "{secret:?} was echoed: {screen:?}");
    }
    assert!(echo_is_on(&pty), "terminal mode restored");
}

#[tokio::test]
async fn goes_away_when_unlocked_elsewhere() {
    let s = Scratch::new("console-elsewhere");
    let pty = Pty::new();
    let unlocker = unlocker(&s, &[("crypted", "correct horse"), ("data", "battery staple")]);
    let prompt = tokio::spawn(console_prompt_on(pty.slave.clone(), unlocker.clone()));
    pty.wait_for("Passphrase for crypted (", 1).await;
    assert!(pty.screen().contains("data ("), "both devices named: {}", pty.screen());
    // Half-typed on the console, then SSH (here: a direct call) opens one device...
    pty.type_in(b"half-typed");
    assert_eq!(
        unlocker.try_passphrase(Passphrase::from("battery staple".to_string())).await,
        Attempt::Unlocked { opened: vec!["data".into()] }
    );
    pty.wait_for("(answered elsewhere)", 1).await;
    pty.wait_for("Passphrase for crypted (", 2).await;
    assert!(!pty.screen().rsplit("Passphrase for").next().unwrap().contains("data"), "{}", pty.screen());
    // ... and then the other one: the prompt goes away, the half-typed text is discarded.
    pty.type_in(b"more");
    assert_eq!(
        unlocker.try_passphrase(Passphrase::from("correct horse".to_string())).await,
        Attempt::Unlocked { opened: vec!["crypted".into()] }
    );
    prompt.await.unwrap().unwrap();
    pty.wait_for("Unlocked from another prompt; the boot continues.", 1).await;
    assert!(!pty.screen().contains("half-typed"));
    assert!(echo_is_on(&pty), "terminal mode restored");
}

#[tokio::test]
async fn ctrl_c_clears_and_ctrl_d_asks_again() {
    let s = Scratch::new("console-keys");
    let pty = Pty::new();
    let unlocker = unlocker(&s, &[("crypted", "correct horse")]);
    let prompt = tokio::spawn(console_prompt_on(pty.slave.clone(), unlocker.clone()));
    pty.wait_for("Passphrase for crypted (", 1).await;
    pty.type_in(b"correct h\x03");
    pty.wait_for("(cleared)", 1).await;
    pty.wait_for("Passphrase for crypted (", 2).await;
    pty.type_in(b"\x04");
    pty.wait_for("Passphrase for crypted (", 3).await;
    pty.type_in(b"correct horse\r");
    pty.wait_for("Opened crypted", 1).await;
    prompt.await.unwrap().unwrap();
}

/// A long line (longer than the old 1024-byte console buffer, which ended the prompt and could
/// fail the boot) is tried like any other; the terminal itself caps a line at 4095 bytes, so the
/// "too long, type it again" path is the SSH prompt's and the buffer's unit tests'.
#[tokio::test]
async fn a_long_line_does_not_end_the_prompt() {
    let s = Scratch::new("console-long");
    let pty = Pty::new();
    let unlocker = unlocker(&s, &[("crypted", "correct horse")]);
    let prompt = tokio::spawn(console_prompt_on(pty.slave.clone(), unlocker.clone()));
    pty.wait_for("Passphrase for crypted (", 1).await;
    let mut long = vec![b'a'; 3000];
    long.push(b'\n');
    pty.type_in(&long);
    pty.wait_for("Wrong passphrase", 1).await;
    pty.wait_for("Passphrase for crypted (", 2).await;
    pty.type_in(b"correct horse\n");
    pty.wait_for("Opened crypted", 1).await;
    prompt.await.unwrap().unwrap();
}

/// systemdAgent mode: the console shows each request's message, sends the answer to its
/// socket, waits for the next request, and restores the terminal when stopped.
#[tokio::test]
async fn agent_mode_prompts_per_request() {
    let s = Scratch::new("console-agent");
    let dir = s.path("ask");
    std::fs::create_dir(&dir).unwrap();
    let pty = Pty::new();
    let config = Unlock { devices: vec![], systemd_agent: true, console: true, max_tries: 3, tang: None };
    let unlocker =
        Arc::new(Unlocker::with_options(&config, Options { verify_only: false, ask_dir: dir.clone() }));
    let prompt = tokio::spawn(console_prompt_on(pty.slave.clone(), unlocker.clone()));
    let sock = std::os::unix::net::UnixDatagram::bind(s.path("sck")).unwrap();
    let request = |name: &str, message: &str| {
        let text = format!(
            "[Ask]\nPID={}\nSocket={}\nNotAfter=0\nMessage={message}\n",
            std::process::id(),
            s.path("sck").display()
        );
        std::fs::write(dir.join(name), text).unwrap();
    };
    request("ask.1", "Please enter passphrase for disk root:");
    pty.wait_for("\nPlease enter passphrase for disk root: ", 1).await;
    pty.type_in(b"first secret\n");
    pty.wait_for("Passphrase sent to: Please enter passphrase for disk root:", 1).await;
    let mut buf = [0u8; 64];
    let n = sock.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"+first secret");
    // systemd-cryptsetup found it wrong (say) and asks again with a new file.
    std::fs::remove_file(dir.join("ask.1")).unwrap();
    request("ask.2", "Please enter passphrase for disk root (again):");
    pty.wait_for("(again):", 1).await;
    // It gives up before anyone answers: the prompt notices and waits for the next request.
    std::fs::remove_file(dir.join("ask.2")).unwrap();
    pty.wait_for("(answered elsewhere)", 1).await;
    assert!(!prompt.is_finished(), "systemdAgent mode prompts until stopped");
    prompt.abort();
    let _ = prompt.await;
    assert!(echo_is_on(&pty), "terminal mode restored when the prompt is stopped");
    assert!(!pty.screen().contains("first secret"));
}

/// systemdAgent mode with two requests: the console lists them, prompts for each in turn
/// (oldest first; an empty line skips) and sends each answer to that request's socket only.
#[tokio::test]
async fn agent_mode_two_requests_each_answer_to_its_own() {
    let s = Scratch::new("console-two");
    let dir = s.path("ask");
    std::fs::create_dir(&dir).unwrap();
    let pty = Pty::new();
    let config = Unlock { devices: vec![], systemd_agent: true, console: true, max_tries: 3, tang: None };
    let unlocker =
        Arc::new(Unlocker::with_options(&config, Options { verify_only: false, ask_dir: dir.clone() }));
    let bind = |name: &str| {
        let sock = std::os::unix::net::UnixDatagram::bind(s.path(name)).unwrap();
        sock.set_nonblocking(true).unwrap();
        sock
    };
    let (luks, zfs) = (bind("luks.sck"), bind("zfs.sck"));
    let request = |name: &str, socket: &str, message: &str, id: &str| {
        let text = format!(
            "[Ask]\nPID={}\nSocket={}\nNotAfter=0\nMessage={message}\n{id}",
            std::process::id(),
            s.path(socket).display()
        );
        std::fs::write(dir.join(name), text).unwrap();
    };
    request("ask.b", "luks.sck", "Please enter passphrase for disk root:", "Id=cryptsetup:/dev/vda2\n");
    // A later mtime: the second in the order, whatever the names.
    std::thread::sleep(Duration::from_millis(20));
    request("ask.a", "zfs.sck", "Enter key for tank/secure:", "");
    let prompt = tokio::spawn(console_prompt_on(pty.slave.clone(), unlocker.clone()));
    pty.wait_for("2 password requests wait", 1).await;
    pty.wait_for("  1. Please enter passphrase for disk root: (unlock root)", 1).await;
    pty.wait_for("  2. Enter key for tank/secure: (unlock tank/secure)", 1).await;
    pty.wait_for("[1/2] Please enter passphrase for disk root: ", 1).await;
    pty.type_in(b"\n");
    pty.wait_for("[2/2] Enter key for tank/secure: ", 1).await;
    pty.type_in(b"zfs secret\n");
    pty.wait_for("Passphrase sent to: Enter key for tank/secure:", 1).await;
    pty.wait_for("\nPlease enter passphrase for disk root: ", 1).await;
    pty.type_in(b"luks secret\n");
    pty.wait_for("Passphrase sent to: Please enter passphrase for disk root:", 1).await;
    let mut buf = [0u8; 64];
    let n = zfs.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"+zfs secret");
    let n = luks.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"+luks secret");
    assert!(zfs.recv(&mut buf).is_err() && luks.recv(&mut buf).is_err(), "one answer each");
    prompt.abort();
    let _ = prompt.await;
}

/// Runs `lethe unlock` (the binary under test) on a fresh terminal, types `keys` once the
/// prompt shows, waits for `expect` on the screen (bounded), then for the exit; returns the exit
/// code and the terminal.
async fn lethe_unlock_on_a_terminal(tag: &str, keys: &'static [u8], expect: &str) -> (Option<i32>, Pty) {
    let s = Scratch::new(tag);
    let img = s.path("disk.img");
    luks_image(&img, "correct horse", "pbkdf2");
    let config = s.path("config.json");
    std::fs::write(
        &config,
        format!(
            r#"{{"version": 1, "unlock": {{"devices": [{{"name": "crypted", "device": "{}"}}]}}}}"#,
            img.display()
        ),
    )
    .unwrap();
    let pty = Pty::new();
    let tty = || std::fs::OpenOptions::new().read(true).write(true).open(&pty.slave).unwrap();
    let mut child = std::process::Command::new(common::lethe())
        .args(["unlock", "--config"])
        .arg(&config)
        .env("LETHE_UNLOCK_VERIFY_ONLY", "1")
        .stdin(tty())
        .stdout(tty())
        .stderr(tty())
        .spawn()
        .unwrap();
    pty.wait_for("Passphrase for crypted (", 1).await;
    pty.type_in(keys);
    pty.wait_for(expect, 1).await;
    let status = tokio::task::spawn_blocking(move || child.wait().unwrap()).await.unwrap();
    (status.code(), pty)
}

/// Nothing typed is echoed, and the terminal mode is restored afterwards.
#[tokio::test]
async fn lethe_unlock_on_a_terminal_does_not_echo() {
    let (code, pty) =
        lethe_unlock_on_a_terminal("cli-tty", b"correct horse\n", "lethe: opened crypted").await;
    assert_eq!(code, Some(0), "{}", pty.screen());
    assert!(!pty.screen().contains("horse"), "echoed: {}", pty.screen());
    assert!(echo_is_on(&pty), "terminal mode restored");
}

/// Ctrl-C cancels (exit 2) and still restores the terminal mode.
#[tokio::test]
async fn lethe_unlock_ctrl_c_restores_the_terminal() {
    let (code, pty) = lethe_unlock_on_a_terminal("cli-ctrl-c", b"correct h\x03", "cancelled (Ctrl-C)").await;
    assert_eq!(code, Some(2), "{}", pty.screen());
    assert!(echo_is_on(&pty), "terminal mode restored");
}
