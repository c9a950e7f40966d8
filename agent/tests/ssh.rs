//! `lethe serve` against the real OpenSSH client on loopback. The unlock backend is the real
//! libcryptsetup in verify-only mode (`LETHE_UNLOCK_VERIFY_ONLY=1`) on a LUKS2 image file: the
//! passphrase is checked against a real header, nothing is activated (no device-mapper here;
//! the VM tests activate for real). Each test runs its own server on its own port.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

const RIGHT: &str = "correct horse";
/// How long a test waits for something that should happen, before failing instead of hanging.
/// Not a timing assertion: nothing here should take more than a few seconds.
const HANG_GUARD: Duration = Duration::from_secs(90);

fn sh(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
    out
}

fn temp_dir() -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "lethe-ssh-test-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn keygen(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    sh(Command::new("ssh-keygen").args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"]).arg(&path));
    path
}

/// A port for a server this test starts: free now, and below the kernel's ephemeral range
/// (32768 and up by default). A port the kernel hands out (`bind(0)`) is one the outgoing
/// connections of the flood tests running beside this one can take as their source port before
/// the server binds it ("Address already in use").
fn free_port() -> u16 {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    // Each listener is closed before the next bind: the IPv6 one also holds the IPv4 port.
    let free = |host: &str, port: u16| TcpListener::bind((host, port)).is_ok();
    for _ in 0..12_000 {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = 20_000 + ((std::process::id() * 13 + n) % 12_000) as u16;
        if free("::", port) && free("127.0.0.1", port) {
            return port;
        }
    }
    panic!("no free port between 20000 and 32000")
}

/// A LUKS2 image whose only passphrase is `RIGHT`, with a cheap KDF.
fn luks_image(dir: &Path) -> PathBuf {
    luks_image_named(dir, "disk.img", RIGHT)
}

/// A LUKS2 image `dir/name` whose only passphrase is `passphrase`, with a cheap KDF.
fn luks_image_named(dir: &Path, name: &str, passphrase: &str) -> PathBuf {
    let image = dir.join(name);
    std::fs::File::create(&image).unwrap().set_len(20 << 20).unwrap();
    let mut child = Command::new("cryptsetup")
        .args(["luksFormat", "--type", "luks2", "--pbkdf", "pbkdf2", "--pbkdf-force-iterations", "1000"])
        .args(["--batch-mode", "--key-file=-"])
        .arg(&image)
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cryptsetup runs");
    child.stdin.take().unwrap().write_all(passphrase.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "luksFormat: {}", String::from_utf8_lossy(&out.stderr));
    image
}

struct Options {
    max_auth_tries: u32,
    login_grace_seconds: u32,
    max_tries: u32,
    /// Extra `ssh` fields, as JSON text starting with a comma.
    extra_ssh: String,
}

impl Default for Options {
    fn default() -> Options {
        Options { max_auth_tries: 6, login_grace_seconds: 60, max_tries: 3, extra_ssh: String::new() }
    }
}

/// A running `lethe serve` with its keys, image and log.
struct Server {
    dir: PathBuf,
    port: u16,
    child: Option<Child>,
    log: PathBuf,
    key: PathBuf,
    other_key: PathBuf,
}

impl Server {
    fn start(options: Options) -> Server {
        let dir = temp_dir();
        let host_key = keygen(&dir, "host_key");
        let server = Server::prepare(dir, host_key, options);
        server.launched()
    }

    /// Keys, image and config, not started yet.
    fn prepare(dir: PathBuf, host_key: PathBuf, o: Options) -> Server {
        let key = keygen(&dir, "id_ed25519");
        let other_key = keygen(&dir, "other");
        let image = luks_image(&dir);
        let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
        let port = free_port();
        let config = format!(
            r#"{{"version": 1,
              "ssh": {{"port": {port}, "hostKeys": [{host_key:?}], "authorizedKeys": [{public:?}],
                      "maxAuthTries": {}, "loginGraceSeconds": {} {}}},
              "unlock": {{"devices": [{{"name": "crypted", "device": {image:?}}}],
                         "console": false, "maxTries": {}}}}}"#,
            o.max_auth_tries,
            o.login_grace_seconds,
            o.extra_ssh,
            o.max_tries,
            public = public.trim(),
        );
        std::fs::write(dir.join("config.json"), config).unwrap();
        let log = dir.join("serve.log");
        Server { dir, port, child: None, log, key, other_key }
    }

    fn spawn(&mut self) {
        let log = std::fs::File::create(&self.log).unwrap();
        let child = Command::new(common::lethe())
            .args(["serve", "--config"])
            .arg(self.dir.join("config.json"))
            .env("LETHE_UNLOCK_VERIFY_ONLY", "1")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("lethe serve starts");
        self.child = Some(child);
    }

    /// Started, and answering with its SSH version string.
    fn launched(mut self) -> Server {
        self.spawn();
        let start = Instant::now();
        loop {
            if let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) {
                let mut banner = [0u8; 13];
                s.set_read_timeout(Some(HANG_GUARD)).unwrap();
                if s.read_exact(&mut banner).is_ok() {
                    assert_eq!(&banner, b"SSH-2.0-lethe", "log:\n{}", self.log());
                    return self;
                }
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                // free_port's port can be taken before the server binds it (the soak test makes
                // many outgoing connections meanwhile): another port, as often as that happens.
                if self.log().contains("Address already in use") && start.elapsed() < HANG_GUARD {
                    let config_path = self.dir.join("config.json");
                    let config = std::fs::read_to_string(&config_path).unwrap();
                    let port = free_port();
                    let config =
                        config.replace(&format!("\"port\": {}", self.port), &format!("\"port\": {port}"));
                    std::fs::write(&config_path, config).unwrap();
                    self.port = port;
                    self.spawn();
                    continue;
                }
                panic!("lethe serve exited with {status} before listening; log:\n{}", self.log());
            }
            assert!(start.elapsed() < HANG_GUARD, "lethe serve never listened; log:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn ssh_command(&self, key: &Path) -> Command {
        let mut c = Command::new("ssh");
        c.args(["-p", &self.port.to_string()])
            .args(["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null"])
            .args(["-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "LogLevel=ERROR", "-e", "none"])
            .arg("-i")
            .arg(key);
        c
    }

    /// `ssh root@127.0.0.1 ARGS...` with `stdin`, to the end.
    fn ssh(&self, key: &Path, args: &[&str], stdin: &[u8]) -> Output {
        let mut child = self
            .ssh_command(key)
            .arg("root@127.0.0.1")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("ssh runs");
        child.stdin.take().unwrap().write_all(stdin).unwrap();
        child.wait_with_output().unwrap()
    }

    /// `ssh -tt root@127.0.0.1 [ARGS]`: the server sees a pty; we type into ssh's stdin.
    fn interactive(&self, args: &[&str]) -> Session {
        let mut child = self
            .ssh_command(&self.key)
            .arg("-tt")
            .arg("root@127.0.0.1")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("ssh runs");
        let stdin = child.stdin.take().unwrap();
        Session::reading(child, stdin)
    }
    /// Waits for `lethe serve` to exit on its own.
    fn exit_status(&mut self) -> ExitStatus {
        let child = self.child.as_mut().unwrap();
        let start = Instant::now();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            assert!(start.elapsed() < HANG_GUARD, "lethe serve did not exit; log:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// An interactive `ssh -tt` session.
struct Session {
    child: Child,
    stdin: Option<ChildStdin>,
    output: Arc<(Mutex<Vec<u8>>, Condvar)>,
    /// How much of the output `expect` has consumed.
    seen: usize,
}

impl Session {
    /// Collects `child`'s stdout in the background for `expect`.
    fn reading(mut child: Child, stdin: ChildStdin) -> Session {
        let output = Arc::new((Mutex::new(Vec::new()), Condvar::new()));
        let mut stdout = child.stdout.take().unwrap();
        let sink = output.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 1024];
            loop {
                let n = stdout.read(&mut buf).unwrap_or(0);
                let (lock, cvar) = &*sink;
                let mut out = lock.lock().unwrap();
                if n == 0 {
                    out.extend_from_slice(b"\0EOF");
                    cvar.notify_all();
                    return;
                }
                out.extend_from_slice(&buf[..n]);
                cvar.notify_all();
            }
        });
        Session { child, stdin: Some(stdin), output, seen: 0 }
    }

    /// Waits until the output (after what was already matched) contains `text`; returns the
    /// output from the previous match to the end of this one.
    fn expect(&mut self, text: &str) -> String {
        let (lock, cvar) = &*self.output;
        let mut out = lock.lock().unwrap();
        let start = Instant::now();
        loop {
            let fresh = String::from_utf8_lossy(&out[self.seen..]).into_owned();
            if let Some(at) = fresh.find(text) {
                let end = at + text.len();
                self.seen += fresh[..end].len();
                return fresh[..end].to_string();
            }
            assert!(
                start.elapsed() < HANG_GUARD && !fresh.ends_with("\0EOF"),
                "waited for {text:?}, got {fresh:?}"
            );
            out = cvar.wait_timeout(out, Duration::from_millis(200)).unwrap().0;
        }
    }

    fn send(&mut self, bytes: &[u8]) {
        let stdin = self.stdin.as_mut().unwrap();
        stdin.write_all(bytes).unwrap();
        stdin.flush().unwrap();
    }

    /// Everything printed so far.
    fn all(&self) -> String {
        String::from_utf8_lossy(&self.output.0.lock().unwrap()).into_owned()
    }

    fn wait(&mut self) -> ExitStatus {
        self.stdin.take();
        let start = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(start.elapsed() < HANG_GUARD, "ssh did not exit; output: {:?}", self.all());
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn stderr_lines(o: &Output) -> Vec<String> {
    text(&o.stderr).lines().map(String::from).collect()
}

#[test]
fn authorized_key_gets_status_unknown_key_is_refused() {
    let server = Server::start(Options::default());
    let ok = server.ssh(&server.key, &["status"], b"");
    assert_eq!(ok.status.code(), Some(0), "{ok:?}");
    assert_eq!(text(&ok.stdout), "pending: crypted\n");

    let refused = server.ssh(&server.other_key, &["status"], b"");
    assert_eq!(refused.status.code(), Some(255));
    assert!(text(&refused.stderr).contains("Permission denied (publickey)"), "{refused:?}");
    assert!(refused.stdout.is_empty());
    let log = server.log();
    assert!(log.contains("refused unknown key SHA256:"), "{log}");
}

#[test]
fn password_and_keyboard_interactive_are_refused() {
    let server = Server::start(Options::default());
    for method in ["password", "keyboard-interactive"] {
        let out = server
            .ssh_command(&server.key)
            .args(["-o", "PubkeyAuthentication=no", "-o", &format!("PreferredAuthentications={method}")])
            .args(["root@127.0.0.1", "status"])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(255), "{method}: {out:?}");
        // The server offers nothing but publickey, so the client cannot even try.
        assert!(text(&out.stderr).contains("Permission denied (publickey)"), "{method}: {out:?}");
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn scripted_wrong_then_right_passphrase_then_listener_closes() {
    let mut server = Server::start(Options::default());
    let wrong = server.ssh(&server.key, &["unlock"], b"hunter2");
    assert_eq!(wrong.status.code(), Some(1), "{wrong:?}");
    assert_eq!(stderr_lines(&wrong), ["lethe: wrong passphrase for crypted"]);
    assert!(wrong.stdout.is_empty());

    let still = server.ssh(&server.key, &["status"], b"");
    assert_eq!(text(&still.stdout), "pending: crypted\n");

    // A trailing newline (`echo pass | ssh ...`) is not part of the passphrase.
    let right = server.ssh(&server.key, &["unlock"], format!("{RIGHT}\n").as_bytes());
    assert_eq!(right.status.code(), Some(0), "{right:?}");
    assert_eq!(stderr_lines(&right), ["lethe: opened crypted; the boot continues"]);

    let status = server.exit_status();
    assert_eq!(status.code(), Some(0), "log:\n{}", server.log());
    assert!(TcpStream::connect(("127.0.0.1", server.port)).is_err(), "the listener is still open");
    let log = server.log();
    let open = log.find("serve: every device is open").expect(&log);
    let closed = log.find("ssh: listener closed").expect(&log);
    assert!(open < closed, "{log}");
    assert!(!log.contains(RIGHT) && !log.contains("hunter2"), "a passphrase reached the log:\n{log}");
}

/// A passphrase that opens only some devices: `ssh host unlock` and `lethe unlock` follow one
/// rule (unlock::outcome): the same status, 1 (the user has another passphrase to give), and
/// the same words.
#[test]
fn a_passphrase_that_opens_only_some_devices_is_exit_1_from_both_front_ends() {
    let dir = temp_dir();
    let host_key = keygen(&dir, "host_key");
    let data = luks_image_named(&dir, "data.img", "battery staple");
    let mut server = Server::prepare(dir, host_key, Options::default());
    let config_path = server.dir.join("config.json");
    let config = std::fs::read_to_string(&config_path).unwrap();
    let config = config.replace(
        r#"}],
                         "console""#,
        &format!(
            r#"}}, {{"name": "data", "device": {data:?}}}],
                         "console""#
        ),
    );
    std::fs::write(&config_path, &config).unwrap();
    let want = ["lethe: opened crypted; the passphrase does not open data"];

    let local = Command::new(common::lethe())
        .args(["unlock", "--config"])
        .arg(&config_path)
        .env("LETHE_UNLOCK_VERIFY_ONLY", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            c.stdin.take().unwrap().write_all(format!("{RIGHT}\n").as_bytes())?;
            c.wait_with_output()
        })
        .unwrap();
    assert_eq!(local.status.code(), Some(1), "lethe unlock: {local:?}");
    // Its log lines (verify-only, the keyslots tried) come first; the verdict is the last line.
    assert_eq!(stderr_lines(&local).last().map(String::as_str), Some(want[0]), "lethe unlock: {local:?}");

    server = server.launched();
    let remote = server.ssh(&server.key, &["unlock"], RIGHT.as_bytes());
    assert_eq!(remote.status.code(), Some(1), "ssh host unlock: {remote:?}\nlog:\n{}", server.log());
    assert_eq!(stderr_lines(&remote), want, "ssh host unlock");
    let still = server.ssh(&server.key, &["status"], b"");
    assert_eq!(text(&still.stdout), "pending: data\n");
}

#[test]
fn aliases_of_unlock_and_unknown_commands() {
    let mut server = Server::start(Options::default());
    let unknown = server.ssh(&server.key, &["sh", "-c", "id"], b"");
    assert_eq!(unknown.status.code(), Some(2), "{unknown:?}");
    let lines = stderr_lines(&unknown);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].starts_with("lethe: unknown command \"sh\"; this initrd runs only: unlock [TARGET], status"),
        "{lines:?}"
    );

    let empty = server.ssh(&server.key, &["unlock"], b"");
    assert_eq!(empty.status.code(), Some(2), "{empty:?}");
    assert_eq!(stderr_lines(&empty).len(), 1);

    let wrong = server.ssh(&server.key, &["cryptsetup-askpass"], b"nope\n");
    assert_eq!(wrong.status.code(), Some(1), "{wrong:?}");
    assert_eq!(stderr_lines(&wrong), ["lethe: wrong passphrase for crypted"]);

    let right = server.ssh(&server.key, &["systemd-tty-ask-password-agent", "--query"], RIGHT.as_bytes());
    assert_eq!(right.status.code(), Some(0), "{right:?}");
    assert_eq!(stderr_lines(&right), ["lethe: opened crypted; the boot continues"]);
    assert_eq!(server.exit_status().code(), Some(0));
}

#[test]
fn the_text_of_an_unknown_command_is_never_logged() {
    // `ssh host "$PASS"`: the passphrase arrives as the command line.
    let server = Server::start(Options::default());
    for args in [&["hunter2-typed-as-a-command"][..], &["unlock", "hunter2-as", "arguments"]] {
        let out = server.ssh(&server.key, args, b"");
        assert_eq!(out.status.code(), Some(2), "{out:?}");
    }
    // ... or as the target of `unlock TARGET`: refused (no such device), said to the client only.
    let target = server.ssh(&server.key, &["unlock", "hunter2-as-a-target"], b"x\n");
    assert_eq!(target.status.code(), Some(1), "{target:?}");
    assert!(
        text(&target.stderr).contains("lethe: no device \"hunter2-as-a-target\" in this config"),
        "{target:?}"
    );
    let log = server.log();
    assert!(!log.contains("hunter2"), "{log}");
    assert!(log.contains("refused a command of 26 bytes (its text is not logged)"), "{log}");
    assert!(log.contains("refused a command of 27 bytes (its text is not logged)"), "{log}");
}

#[test]
fn interactive_prompt_edits_and_does_not_echo() {
    let mut server = Server::start(Options::default());
    let mut s = server.interactive(&[]);
    let banner = s.expect("Passphrase for crypted (");
    assert!(banner.contains("no shell here"), "{banner:?}");
    s.expect("disk.img): ");
    // Ctrl-U drops "garbage"; backspace fixes the typo: "hunter2" is sent.
    s.send(b"garbage\x15hunter3\x7f2\r");
    let answer = s.expect("Passphrase for crypted");
    assert!(answer.contains("Wrong passphrase. Try again in 1 s (2 tries left)."), "{answer:?}");
    s.expect(": ");
    // An empty line just asks again, without counting.
    s.send(b"\r");
    s.expect("Passphrase for crypted");
    s.expect(": ");
    let mut typed = RIGHT.as_bytes().to_vec();
    typed.extend_from_slice(b"x\x7f\r");
    s.send(&typed);
    s.expect("Unlocked crypted. The boot continues.");
    assert_eq!(s.wait().code(), Some(0));
    let all = s.all();
    for secret in ["garbage", "hunter", RIGHT] {
        assert!(!all.contains(secret), "{secret:?} was echoed: {all:?}");
    }
    assert_eq!(server.exit_status().code(), Some(0));
}

#[test]
fn an_over_long_passphrase_says_so_and_asks_again() {
    let mut server = Server::start(Options::default());
    let mut s = server.interactive(&[]);
    s.expect("disk.img): ");
    // Not cut to 4096 bytes and tried (that would be a wrong passphrase that looks right).
    let mut long = vec![b'a'; 5000];
    long.push(b'\r');
    s.send(&long);
    s.expect("Longer than 4096 bytes: not tried. Type it again.");
    s.expect("disk.img): ");
    s.send(format!("{RIGHT}\r").as_bytes());
    s.expect("Unlocked crypted. The boot continues.");
    assert_eq!(s.wait().code(), Some(0));
    assert_eq!(server.exit_status().code(), Some(0));
    assert!(!server.log().contains("wrong passphrase"), "{}", server.log());
}

/// The same prompt through a real terminal: ssh runs under `script`, so the client's side is a
/// pty in raw mode, as when a person types.
#[test]
fn interactive_prompt_through_a_real_terminal() {
    let mut server = Server::start(Options::default());
    let ssh = server.ssh_command(&server.key);
    let mut line: Vec<String> = vec![format!("{:?}", ssh.get_program().to_string_lossy())];
    line.extend(ssh.get_args().map(|a| format!("{:?}", a.to_string_lossy())));
    line.extend(["-tt".into(), "root@127.0.0.1".into()]);
    let mut child = Command::new("script")
        .args(["-qefc", &line.join(" "), "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("script runs");
    let stdin = child.stdin.take().unwrap();
    let mut s = Session::reading(child, stdin);
    s.expect("Passphrase for crypted");
    s.expect(": ");
    s.send(b"wrong\r");
    s.expect("Wrong passphrase. Try again in 1 s (2 tries left).");
    s.expect(": ");
    s.send(format!("x\x15{RIGHT}\r").as_bytes());
    s.expect("Unlocked crypted. The boot continues.");
    assert_eq!(s.wait().code(), Some(0));
    assert!(!s.all().contains(RIGHT), "the passphrase was echoed: {:?}", s.all());
    assert_eq!(server.exit_status().code(), Some(0));
}

#[test]
fn missing_device_is_another_failure() {
    let dir = temp_dir();
    let host_key = keygen(&dir, "host_key");
    let mut server = Server::prepare(dir, host_key, Options::default());
    std::fs::remove_file(server.dir.join("disk.img")).unwrap();
    server = server.launched();
    let out = server.ssh(&server.key, &["unlock"], RIGHT.as_bytes());
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let lines = stderr_lines(&out);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].starts_with("lethe: unlock failed: crypted: "), "{lines:?}");
    assert!(lines[0].contains("disk.img"), "{lines:?}");
}

/// A wrong passphrase counts, and makes the next try wait, even when another configured device
/// failed (is missing) in the same try.
#[test]
fn a_wrong_passphrase_counts_when_another_device_is_missing() {
    let dir = temp_dir();
    let host_key = keygen(&dir, "host_key");
    let server = Server::prepare(dir, host_key, Options::default());
    let config_path = server.dir.join("config.json");
    let config = std::fs::read_to_string(&config_path).unwrap();
    let config = config.replace(
        r#""devices": ["#,
        r#""devices": [{"name": "gone", "device": "/nonexistent/lethe-test-disk"}, "#,
    );
    std::fs::write(&config_path, config).unwrap();
    let server = server.launched();
    for _ in 0..2 {
        let out = server.ssh(&server.key, &["unlock"], b"wrong");
        assert_ne!(out.status.code(), Some(0), "{out:?}");
    }
    let log = server.log();
    assert_eq!(log.matches("trying a passphrase").count(), 2, "{log}");
    assert!(log.contains("a passphrase try waits up to"), "the second try did not wait:\n{log}");
}

#[test]
fn interactive_limit_with_growing_delay() {
    let server = Server::start(Options { max_tries: 3, ..Default::default() });
    let mut s = server.interactive(&["cryptsetup-askpass"]);
    s.expect("Passphrase for crypted");
    s.expect(": ");
    s.send(b"one\r");
    let first = s.expect("Passphrase for crypted");
    s.expect(": ");
    s.send(b"two\r");
    let second = s.expect("Passphrase for crypted");
    s.expect(": ");
    s.send(b"three\r");
    let last = s.expect("closing.");
    assert!(first.contains("Wrong passphrase. Try again in 1 s (2 tries left)."), "{first:?}");
    assert!(second.contains("Wrong passphrase. Try again in 2 s (1 try left)."), "{second:?}");
    assert!(last.contains("Wrong passphrase. 3 wrong passphrases: closing."), "{last:?}");
    assert_eq!(s.wait().code(), Some(1));
    // The delay grows across sessions from the same address: the next one waits longer.
    let mut s = server.interactive(&[]);
    s.expect(": ");
    s.send(b"four\r");
    let again = s.expect("left).");
    assert!(again.contains("Try again in 8 s (2 tries left)."), "{again:?}");
    s.send(b"\x03");
    s.expect("Left without unlocking.");
    assert_eq!(s.wait().code(), Some(130));
    let status = server.ssh(&server.key, &["status"], b"");
    assert_eq!(text(&status.stdout), "pending: crypted\n");
}

#[test]
fn ctrl_c_and_ctrl_d_leave_the_prompt() {
    let server = Server::start(Options::default());
    for key in [b"\x03", b"\x04"] {
        let mut s = server.interactive(&[]);
        s.expect("Passphrase for crypted");
        s.expect(": ");
        s.send(b"half typ");
        s.send(key);
        s.expect("Left without unlocking.");
        assert_eq!(s.wait().code(), Some(130));
    }
    let status = server.ssh(&server.key, &["status"], b"");
    assert_eq!(text(&status.stdout), "pending: crypted\n");
}

#[test]
fn two_clients_at_once_first_answer_wins() {
    let mut server = Server::start(Options::default());
    let mut waiting = server.interactive(&[]);
    waiting.expect("Passphrase for crypted");
    waiting.expect(": ");
    let mut other = server.interactive(&[]);
    other.expect("Passphrase for crypted");
    other.expect(": ");
    let right = server.ssh(&server.key, &["unlock"], RIGHT.as_bytes());
    assert_eq!(right.status.code(), Some(0), "{right:?}");
    for s in [&mut waiting, &mut other] {
        s.expect("Everything is unlocked (from elsewhere). The boot continues.");
        assert_eq!(s.wait().code(), Some(0));
    }
    assert_eq!(server.exit_status().code(), Some(0));
}

#[test]
fn client_that_disconnects_mid_prompt() {
    let mut server = Server::start(Options::default());
    let mut gone = server.interactive(&[]);
    gone.expect("Passphrase for crypted");
    gone.expect(": ");
    gone.send(&RIGHT.as_bytes()[..4]);
    drop(gone); // kills ssh: the connection drops with half a passphrase typed
    let status = server.ssh(&server.key, &["status"], b"");
    assert_eq!(text(&status.stdout), "pending: crypted\n", "{status:?}");
    let mut s = server.interactive(&[]);
    s.expect(": ");
    s.send(format!("{RIGHT}\r").as_bytes());
    s.expect("Unlocked crypted. The boot continues.");
    assert_eq!(s.wait().code(), Some(0));
    assert_eq!(server.exit_status().code(), Some(0));
}

#[test]
fn max_auth_tries_disconnects() {
    let server = Server::start(Options { max_auth_tries: 2, ..Default::default() });
    let keys: Vec<PathBuf> = (0..3).map(|i| keygen(&server.dir, &format!("stranger{i}"))).collect();
    // Two unknown keys, then the right one: the third attempt is past the limit.
    let mut c = server.ssh_command(&keys[0]);
    c.args(["-o", "LogLevel=INFO", "-i"]).arg(&keys[1]).arg("-i").arg(&keys[2]).arg("-i").arg(&server.key);
    let out = c.args(["root@127.0.0.1", "status"]).stdin(Stdio::null()).output().unwrap();
    assert_eq!(out.status.code(), Some(255), "{out:?}");
    assert!(text(&out.stderr).contains("Too many authentication attempts"), "{out:?}");
    // One unknown key, then the right one: within the limit.
    let mut c = server.ssh_command(&keys[0]);
    c.arg("-i").arg(&server.key);
    let out = c.args(["root@127.0.0.1", "status"]).stdin(Stdio::null()).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(text(&out.stdout), "pending: crypted\n");
}

#[test]
fn failed_logins_lock_the_address_out_for_growing_times() {
    let server = Server::start(Options::default());
    let mut turned_away = None;
    for attempt in 1..=10 {
        let mut c = server.ssh_command(&server.other_key);
        let out = c.args(["-v", "root@127.0.0.1", "status"]).stdin(Stdio::null()).output().unwrap();
        assert_eq!(out.status.code(), Some(255));
        if text(&out.stderr).contains("lethe: too many failed logins from 127.0.0.1; try again in") {
            turned_away = Some(attempt);
            break;
        }
        assert!(text(&out.stderr).contains("Permission denied (publickey)"), "{out:?}");
    }
    let turned_away = turned_away.expect("the address was never locked out");
    // The first three failures are free, so at least four came before the lockout.
    assert!(turned_away >= 5, "locked out after {turned_away} attempts");
    let log = server.log();
    let lockouts: Vec<u64> = log
        .lines()
        .filter_map(|l| l.split("127.0.0.1: locked out for ").nth(1))
        .map(|rest| rest.split(' ').next().unwrap().parse().unwrap())
        .collect();
    assert!(!lockouts.is_empty(), "{log}");
    let expected: Vec<u64> = [1, 2, 4, 8, 16, 32, 60].into_iter().take(lockouts.len()).collect();
    assert_eq!(lockouts, expected, "{log}");
    assert!(log.contains("refused: locked out for"), "{log}");
}

#[test]
fn login_grace_time_disconnects_silent_clients() {
    let server = Server::start(Options { login_grace_seconds: 1, ..Default::default() });
    let mut s = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    s.set_read_timeout(Some(HANG_GUARD)).unwrap();
    s.write_all(b"SSH-2.0-silent\r\n").unwrap();
    // Read until the server hangs up; a read timeout (the guard) would be an error instead.
    let mut all = Vec::new();
    let read = s.read_to_end(&mut all);
    assert!(read.is_ok(), "{read:?}");
    assert!(all.starts_with(b"SSH-2.0-lethe"));
    let log = server.log();
    assert!(log.contains("no login within 1 s; disconnecting"), "{log}");
    // It counts as a failed login, but the first few are free: the address is not locked out.
    let ok = server.ssh(&server.key, &["status"], b"");
    assert_eq!(ok.status.code(), Some(0), "{ok:?}");
}

#[test]
fn forced_command_of_a_key_wins() {
    let dir = temp_dir();
    let host_key = keygen(&dir, "host_key");
    let mut server = Server::prepare(dir, host_key, Options::default());
    // Rewrite the authorized line with command="status": even `unlock` shows the status.
    let config_path = server.dir.join("config.json");
    let config = std::fs::read_to_string(&config_path).unwrap();
    let config = config.replace("\"ssh-ed25519", "\"no-pty,command=\\\"status\\\" ssh-ed25519");
    std::fs::write(&config_path, config).unwrap();
    server = server.launched();
    let out = server.ssh(&server.key, &["unlock"], RIGHT.as_bytes());
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(text(&out.stdout), "pending: crypted\n");
}

#[test]
fn from_option_restricts_the_client_address() {
    for (from, allowed) in [("192.0.2.0/24", false), ("127.0.0.0/8,!127.0.0.2", true)] {
        let dir = temp_dir();
        let host_key = keygen(&dir, "host_key");
        let mut server = Server::prepare(dir, host_key, Options::default());
        let config_path = server.dir.join("config.json");
        let config = std::fs::read_to_string(&config_path).unwrap();
        let config = config.replace("\"ssh-ed25519", &format!("\"from=\\\"{from}\\\" ssh-ed25519"));
        std::fs::write(&config_path, config).unwrap();
        server = server.launched();
        let out = server.ssh(&server.key, &["status"], b"");
        if allowed {
            assert_eq!(out.status.code(), Some(0), "{from}: {out:?}");
        } else {
            assert_eq!(out.status.code(), Some(255), "{from}: {out:?}");
            assert!(text(&out.stderr).contains("Permission denied (publickey)"), "{out:?}");
            let log = server.log();
            assert!(log.contains("is not allowed from 127.0.0.1 (from=)"), "{log}");
        }
    }
}

fn serve_fails(dir: PathBuf, host_key: PathBuf) -> String {
    let mut server = Server::prepare(dir, host_key, Options::default());
    server.spawn();
    let status = server.exit_status();
    assert_eq!(status.code(), Some(2), "log:\n{}", server.log());
    server.log()
}

#[test]
fn host_key_readable_by_others_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = temp_dir();
    let host_key = keygen(&dir, "host_key");
    std::fs::set_permissions(&host_key, std::fs::Permissions::from_mode(0o640)).unwrap();
    let log = serve_fails(dir, host_key.clone());
    let want = format!(
        "ssh.hostKeys: {}: refusing host key: it is accessible by group or others (mode 0640)",
        host_key.display()
    );
    assert!(log.contains(&want), "{log}");
    assert!(log.contains("nothing could unlock"), "{log}");
}

#[test]
fn host_key_that_is_a_symlink_is_refused() {
    let dir = temp_dir();
    let real = keygen(&dir, "real_key");
    let link = dir.join("host_key");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let log = serve_fails(dir, link.clone());
    let want =
        format!("{}: refusing host key: it is a symbolic link (name the key file itself)", link.display());
    assert!(log.contains(&want), "{log}");
}

#[test]
fn missing_or_protected_host_key_is_refused() {
    let dir = temp_dir();
    let missing = dir.join("no_such_key");
    let log = serve_fails(dir, missing.clone());
    assert!(
        log.contains(&format!("{}: cannot use host key: No such file or directory", missing.display())),
        "{log}"
    );

    let dir = temp_dir();
    let protected = dir.join("protected");
    sh(Command::new("ssh-keygen").args(["-q", "-t", "ed25519", "-N", "sesame", "-f"]).arg(&protected));
    let log = serve_fails(dir, protected);
    assert!(log.contains("refusing host key: it is protected by a passphrase"), "{log}");

    let dir = temp_dir();
    let garbage = dir.join("garbage");
    std::fs::write(&garbage, "not a key\n").unwrap();
    std::fs::set_permissions(&garbage, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let log = serve_fails(dir, garbage);
    assert!(log.contains("not an OpenSSH private key"), "{log}");
}

#[test]
fn check_config_validates_authorized_key_lines() {
    let dir = temp_dir();
    let key = keygen(&dir, "id");
    let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    let cases = [
        (
            format!("from=\\\"*.lan\\\" {}", public.trim()),
            "host names cannot be matched in the initrd (no DNS)",
        ),
        (
            format!("permitopen=\\\"h:1\\\" {}", public.trim()),
            "option permitopen=\"h:1\" is not supported by lethe",
        ),
        (format!("command=\\\"/bin/sh\\\" {}", public.trim()), "lethe only runs unlock [TARGET], status"),
        ("ssh-ed25519 AAAAtruncated".to_string(), "expected one authorized_keys line like"),
    ];
    assert_key_lines_refused(&dir, &cases);
    let _ = std::fs::remove_dir_all(dir);
}

/// A systemdAgent-mode config in `dir`: SSH on a free port with a new host key, one new
/// ed25519 client key authorized, no console prompt. The client key, the port, the config.
fn agent_config(dir: &Path) -> (PathBuf, u16, PathBuf) {
    let host_key = keygen(dir, "host_key");
    let key = keygen(dir, "id_ed25519");
    let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    let port = free_port();
    let config = dir.join("config.json");
    std::fs::write(
        &config,
        format!(
            r#"{{"version": 1,
              "ssh": {{"port": {port}, "hostKeys": [{host_key:?}], "authorizedKeys": [{:?}]}},
              "unlock": {{"systemdAgent": true, "console": false}}}}"#,
            public.trim()
        ),
    )
    .unwrap();
    (key, port, config)
}

/// Runs `script` (it starts `lethe serve`, logging to DIR/serve.log) in a mount namespace of
/// its own, and waits until SSH listens on `port`: the namespace's process and the server as
/// the tests talk to it with `key`.
fn serve_in_namespace(dir: &Path, port: u16, key: PathBuf, script: &str) -> (std::process::Child, Server) {
    let namespace =
        Command::new("timeout").args(["120", "unshare", "-m", "sh", "-c", script]).spawn().unwrap();
    let server = Server {
        dir: dir.to_path_buf(),
        port,
        child: None,
        log: dir.join("serve.log"),
        key: key.clone(),
        other_key: key,
    };
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(start.elapsed() < HANG_GUARD, "serve never listened; log:\n{}", server.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    (namespace, server)
}

/// systemdAgent mode: `lethe serve` in a private mount namespace (its own /run) answers a real
/// `systemd-ask-password` with the passphrase typed at the SSH prompt; SIGTERM then stops it.
#[test]
fn systemd_agent_mode_answers_real_systemd_ask_password() {
    common::require_root();
    let dir = temp_dir();
    let (key, port, config) = agent_config(&dir);
    let script = format!(
        r#"set -u
mount -t tmpfs tmpfs /run
mkdir -p /run/systemd/ask-password
{lethe} serve --config {config} 2> {out}/serve.log &
serve=$!
# The SSH session logs in first and waits; then systemd asks.
while [ ! -e {out}/go ]; do sleep 0.05; done
systemd-ask-password --no-tty --timeout=120 "Passphrase for crypted:" > {out}/sap.out
echo $? > {out}/sap.rc
kill -TERM $serve
wait $serve
echo $? > {out}/serve.rc
"#,
        lethe = common::lethe().display(),
        config = config.display(),
        out = dir.display(),
    );
    let (mut namespace, server) = serve_in_namespace(&dir, port, key, &script);
    let none = server.ssh(&server.key, &["status"], b"");
    assert_eq!(text(&none.stdout), "nothing asks for a passphrase now\n", "{none:?}");
    let mut s = server.interactive(&[]);
    s.expect("Nothing asks for a passphrase yet; waiting");
    std::fs::write(dir.join("go"), "").unwrap();
    s.expect("Passphrase for crypted: ");
    s.send(format!("{RIGHT}\r").as_bytes());
    s.expect("Passphrase sent to systemd (Passphrase for crypted). If it was wrong, systemd asks again.");
    assert_eq!(s.wait().code(), Some(0));
    let status = namespace.wait().unwrap();
    assert!(status.success(), "namespace script: {status}; log:\n{}", server.log());
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap_or_default();
    assert_eq!(read("sap.rc").trim(), "0", "log:\n{}", server.log());
    assert_eq!(read("sap.out"), format!("{RIGHT}\n"));
    assert_eq!(read("serve.rc").trim(), "0", "log:\n{}", server.log());
    let log = server.log();
    assert!(log.contains("serve: SIGTERM: stopping") && log.contains("ssh: listener closed"), "{log}");
    assert!(!log.contains(RIGHT), "the passphrase reached the log:\n{log}");
}

/// The `ssh status` lines, once exactly `n` requests are pending.
fn wait_for_pending(server: &Server, n: usize) -> String {
    let start = Instant::now();
    loop {
        let out = server.ssh(&server.key, &["status"], b"");
        let status = text(&out.stdout);
        if status.lines().filter(|l| l.starts_with("pending: ")).count() == n {
            return status;
        }
        assert!(start.elapsed() < HANG_GUARD, "never {n} pending; last: {status:?}; log:\n{}", server.log());
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// systemdAgent mode with two real `systemd-ask-password` requests at once, each asking up to
/// three times until it gets its own passphrase (as systemd-cryptsetup and NixOS' ZFS import
/// do): a cryptsetup-style one (`--id=cryptsetup:/dev/x`) and a ZFS-style one without Id
/// ("Enter key for tank/secure:"). Each passphrase, scripted (`unlock TARGET`) or typed at
/// the prompt, reaches only the request it was given for; a wrong one costs only its own
/// request a try; with both pending, a passphrase without a target is refused, not sprayed.
#[test]
fn systemd_agent_mode_sends_each_passphrase_to_its_own_request() {
    common::require_root();
    let dir = temp_dir();
    let (key, port, config) = agent_config(&dir);
    let script = format!(
        r#"set -u
mount -t tmpfs tmpfs /run
mkdir -p /run/systemd/ask-password
{lethe} serve --config {config} 2> {out}/serve.log &
serve=$!
# NAME RIGHT ARGS...: asks up to three times, recording every answer, until RIGHT comes.
asker() {{
    name=$1 right=$2
    shift 2
    for try in 1 2 3; do
        answer=$(systemd-ask-password --no-tty --timeout=120 "$@") || break
        echo "$answer" >> {out}/$name.answers
        if [ "$answer" = "$right" ]; then echo ok > {out}/$name.rc; return; fi
    done
    echo failed > {out}/$name.rc
}}
while [ ! -e {out}/go ]; do sleep 0.05; done
asker luks luks-right --id=cryptsetup:/dev/x "Please enter passphrase for disk crypted:" &
luks=$!
while ! ls /run/systemd/ask-password | grep -q '^ask\.'; do sleep 0.05; done
asker zfs zfs-right "Enter key for tank/secure:" &
zfs=$!
wait $luks $zfs
kill -TERM $serve
wait $serve
echo $? > {out}/serve.rc
"#,
        lethe = common::lethe().display(),
        config = config.display(),
        out = dir.display(),
    );
    let (mut namespace, server) = serve_in_namespace(&dir, port, key, &script);
    std::fs::write(dir.join("go"), "").unwrap();
    let status = wait_for_pending(&server, 2);
    assert_eq!(
        status,
        "pending: Please enter passphrase for disk crypted: (unlock crypted)\n\
         pending: Enter key for tank/secure: (unlock tank/secure)\n"
    );

    // No target, two requests: refused, nothing sent.
    let unnamed = server.ssh(&server.key, &["unlock"], b"sprayed\n");
    assert_eq!(unnamed.status.code(), Some(1), "{unnamed:?}");
    let said = text(&unnamed.stderr);
    assert!(said.contains("lethe: 2 password requests wait: "), "{said}");
    assert!(said.contains("(unlock crypted)") && said.contains("(unlock tank/secure)"), "{said}");
    // A wrong passphrase for the disk, by its volume name: only the disk asks again.
    let wrong = server.ssh(&server.key, &["unlock", "crypted"], b"luks-wrong\n");
    assert_eq!(wrong.status.code(), Some(0), "{wrong:?}");
    assert_eq!(text(&wrong.stderr), "lethe: passphrase sent to: Please enter passphrase for disk crypted:\n");
    // The disk asks again (a new request, now the younger one).
    let status = wait_for_pending(&server, 2);
    assert!(status.starts_with("pending: Enter key for tank/secure:"), "{status}");

    // At the prompt: the list, then one prompt per request, oldest first; an empty line skips.
    let mut s = server.interactive(&[]);
    s.expect("2 password requests wait; each prompt is for one of them (an empty line skips to the next):");
    s.expect("1. Enter key for tank/secure: (unlock tank/secure)");
    s.expect("2. Please enter passphrase for disk crypted: (unlock crypted)");
    s.expect("[1/2] Enter key for tank/secure: ");
    s.send(b"\r");
    s.expect("[2/2] Please enter passphrase for disk crypted: ");
    s.send(b"luks-right\r");
    s.expect("Passphrase sent to systemd (Please enter passphrase for disk crypted).");
    s.expect("Enter key for tank/secure: ");
    s.send(b"zfs-wrong\r");
    s.expect("Passphrase sent to systemd (Enter key for tank/secure).");
    drop(s);

    // The dataset asks again; a script names it (waiting for its request if need be).
    let right = server.ssh(&server.key, &["unlock", "tank/secure"], b"zfs-right\n");
    assert_eq!(right.status.code(), Some(0), "{right:?}");
    assert!(
        text(&right.stderr).ends_with("lethe: passphrase sent to: Enter key for tank/secure:\n"),
        "{right:?}"
    );

    let finished = namespace.wait().unwrap();
    assert!(finished.success(), "namespace script: {finished}; log:\n{}", server.log());
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap_or_default();
    assert_eq!(read("luks.answers"), "luks-wrong\nluks-right\n", "log:\n{}", server.log());
    assert_eq!(read("zfs.answers"), "zfs-wrong\nzfs-right\n", "log:\n{}", server.log());
    assert_eq!((read("luks.rc").trim(), read("zfs.rc").trim()), ("ok", "ok"));
    assert_eq!(read("serve.rc").trim(), "0", "log:\n{}", server.log());
    let log = server.log();
    for secret in ["sprayed", "luks-wrong", "luks-right", "zfs-wrong", "zfs-right"] {
        assert!(!log.contains(secret), "{secret} reached the log:\n{log}");
    }
}

#[test]
fn ecdsa_host_key_works_rsa_is_refused_with_the_reason() {
    let dir = temp_dir();
    let ecdsa = dir.join("ecdsa_key");
    sh(Command::new("ssh-keygen").args(["-q", "-t", "ecdsa", "-b", "256", "-N", "", "-f"]).arg(&ecdsa));
    let server = Server::prepare(dir, ecdsa, Options::default()).launched();
    let out = server
        .ssh_command(&server.key)
        .args(["-o", "HostKeyAlgorithms=ecdsa-sha2-nistp256", "root@127.0.0.1", "status"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(text(&out.stdout), "pending: crypted\n");

    let dir = temp_dir();
    let rsa = dir.join("rsa_key");
    sh(Command::new("ssh-keygen").args(["-q", "-t", "rsa", "-b", "2048", "-N", "", "-f"]).arg(&rsa));
    let log = serve_fails(dir, rsa.clone());
    assert!(log.contains(&format!("{}: ", rsa.display())), "{log}");
    assert!(log.contains("use ed25519 or ecdsa"), "{log}");
}

#[test]
fn authorized_keys_files_skip_bad_lines_and_missing_files() {
    let dir = temp_dir();
    let host_key = keygen(&dir, "host_key");
    let mut server = Server::prepare(dir, host_key, Options::default());
    let public = std::fs::read_to_string(server.key.with_extension("pub")).unwrap();
    let file = server.dir.join("authorized_keys");
    let lines = format!(
        "# keys\n\nssh-ed25519 garbage\npermitopen=\"h:1\" {public}from=\"10.0.0.1\" {public}{public}"
    );
    std::fs::write(&file, lines).unwrap();
    let missing = server.dir.join("no_such_file");
    // Only the files: the config line goes, replaced by the file and a missing file.
    let config_path = server.dir.join("config.json");
    let mut config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&config_path).unwrap()).unwrap();
    config["ssh"].as_object_mut().unwrap().remove("authorizedKeys");
    config["ssh"]["authorizedKeysFiles"] = serde_json::json!([missing, file]);
    std::fs::write(&config_path, config.to_string()).unwrap();
    server = server.launched();
    let out = server.ssh(&server.key, &["status"], b"");
    assert_eq!(out.status.code(), Some(0), "{out:?}; log:\n{}", server.log());
    let log = server.log();
    let file = file.display();
    assert!(
        log.contains(&format!("{}: cannot read authorized keys, skipping it", missing.display())),
        "{log}"
    );
    assert!(log.contains(&format!("{file}:3: skipping line: not an authorized_keys line")), "{log}");
    assert!(
        log.contains(&format!("{file}:4: skipping line: option permitopen=\"h:1\" is not supported")),
        "{log}"
    );
    assert!(log.contains("ssh: 2 authorized key(s)"), "{log}");
    // Line 5 allows only 10.0.0.1: the login from 127.0.0.1 matched line 6.
    assert!(log.contains(&format!("({file}:6)")), "{log}");
}

/// A TCP connection to the server from the loopback address `from` (127.x), which then says
/// nothing, like a client that holds a slot.
fn silent_connection(from: [u8; 4], port: u16) -> Option<TcpStream> {
    use rustix::net::{AddressFamily, SocketType};
    let fd = rustix::net::socket(AddressFamily::INET, SocketType::STREAM, None).ok()?;
    rustix::net::bind(&fd, &std::net::SocketAddrV4::new(from.into(), 0)).ok()?;
    rustix::net::connect(&fd, &std::net::SocketAddrV4::new([127, 0, 0, 1].into(), port)).ok()?;
    Some(TcpStream::from(fd))
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Loopback only, bounded (a fixed number of connections and logins), stops by itself: 500
/// silent connections from four 127.x addresses and 1,000 logins with an unknown key from four
/// others, while the good client logs in now and then and finally unlocks. The per-address cap
/// and the lockouts must hold, the good client must get in within 2 s of trying each time (a
/// functional requirement of the SSH door, not a speed measurement), and the server's RSS must
/// stay within 1 MiB of where it started.
#[test]
fn soak_silent_connections_and_failed_logins_do_not_lock_the_owner_out() {
    let mut server = Server::start(Options { login_grace_seconds: 5, ..Default::default() });
    let pid = server.child.as_ref().unwrap().id();
    // Warm up (first login allocates russh's and the logger's lazies), then the baseline.
    assert_eq!(server.ssh(&server.key, &["status"], b"").status.code(), Some(0));
    let rss_start = rss_kib(pid);
    let port = server.port;
    let start = Instant::now();
    let silent: Vec<_> = (2..6u8)
        .map(|last| {
            std::thread::spawn(move || {
                let mut held = Vec::new();
                for _ in 0..125 {
                    if let Some(c) = silent_connection([127, 0, 0, last], port) {
                        held.push(c);
                    }
                    std::thread::sleep(Duration::from_millis(8));
                }
                // Held past the login grace time (5 s), so the server's grace timeouts fire on
                // them and count, however fast the connections were made: on a quiet machine
                // the loop ends within a second, and closing then would count nothing.
                std::thread::sleep(Duration::from_secs(7));
                held.len()
            })
        })
        .collect();
    let next = Arc::new(AtomicU32::new(0));
    let bad_key = server.other_key.clone();
    let failed: Vec<_> = (0..4u8)
        .map(|worker| {
            let next = next.clone();
            let bad_key = bad_key.clone();
            std::thread::spawn(move || {
                let from = format!("127.0.0.{}", 10 + worker % 4);
                let mut granted = 0;
                while next.fetch_add(1, Ordering::SeqCst) < 1000 {
                    let out = Command::new("ssh")
                        .args(["-p", &port.to_string(), "-b", &from])
                        .args(["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null"])
                        .args(["-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "LogLevel=ERROR"])
                        .args(["-o", "ConnectTimeout=10", "-i"])
                        .arg(&bad_key)
                        .args(["root@127.0.0.1", "status"])
                        .stdin(Stdio::null())
                        .output()
                        .unwrap();
                    if out.status.success() {
                        granted += 1;
                    }
                }
                granted
            })
        })
        .collect();
    // The owner, meanwhile: a login every half second, each timed.
    let mut waits = Vec::new();
    while next.load(Ordering::SeqCst) < 1000 || silent.iter().any(|t| !t.is_finished()) {
        let t = Instant::now();
        let out = server.ssh(&server.key, &["status"], b"");
        assert_eq!(out.status.code(), Some(0), "the owner was refused: {out:?}\nlog:\n{}", server.log());
        waits.push(t.elapsed());
        std::thread::sleep(Duration::from_millis(500));
        assert!(start.elapsed() < Duration::from_secs(600), "the soak did not end");
    }
    let held: usize = silent.into_iter().map(|t| t.join().unwrap()).sum();
    let granted: u32 = failed.into_iter().map(|t| t.join().unwrap()).sum();
    let rss_end = rss_kib(pid);
    let t = Instant::now();
    let unlock = server.ssh(&server.key, &["unlock"], RIGHT.as_bytes());
    let unlock_wait = t.elapsed();
    assert_eq!(unlock.status.code(), Some(0), "{unlock:?}");
    assert_eq!(server.exit_status().code(), Some(0));
    let log = server.log();
    let slowest = waits.iter().max().unwrap();
    eprintln!(
        "soak: {:.1} s; {} owner logins, slowest {} ms; unlock {} ms; {held} silent connections \
         accepted by the kernel; RSS {rss_start} -> {rss_end} KiB",
        start.elapsed().as_secs_f64(),
        waits.len(),
        slowest.as_millis(),
        unlock_wait.as_millis()
    );
    assert_eq!(granted, 0, "an unknown key logged in");
    assert!(
        *slowest < Duration::from_secs(2) && unlock_wait < Duration::from_secs(2),
        "{waits:?} {unlock_wait:?}"
    );
    assert!(rss_end <= rss_start + 1024, "RSS grew from {rss_start} to {rss_end} KiB");
    // The limits held: the per-address cap refused the silent addresses, their grace timeouts
    // and the unknown keys locked them out, and the owner's address was never refused.
    assert!(
        log.contains("127.0.0.2:") && log.contains("refused: too many connections from this address"),
        "{log}"
    );
    assert!(log.contains("ssh: 127.0.0.2: locked out for"), "silent connections were not counted: {log}");
    assert!(log.contains("ssh: 127.0.0.10: locked out for"), "{log}");
    let owner_refused =
        log.lines().filter(|l| l.contains("ssh: 127.0.0.1:") && l.contains("refused")).count();
    assert_eq!(owner_refused, 0, "{log}");
}

/// Nagle's algorithm is off on every accepted connection. With it on, the server's small
/// writes during the key exchange and login wait for the client's delayed ACK (40 ms on Linux):
/// connect -> prompt took 60 ms or 104 ms at random (bench/ssh). russh's `nodelay` setting
/// only applies to sockets its own accept loop accepts, and lethe has its own. The test looks
/// at the server's end of the connection itself: a duplicate of each of lethe's descriptors
/// (pidfd_getfd), the one whose peer is this client, and its TCP_NODELAY.
#[test]
fn accepted_connections_do_not_wait_for_delayed_acks() {
    let server = Server::start(Options::default());
    let mut client = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    client.set_read_timeout(Some(HANG_GUARD)).unwrap();
    let mut banner = [0u8; 13];
    client.read_exact(&mut banner).unwrap(); // accepted and set up: the version string came
    let client_port = client.local_addr().unwrap().port();
    let pid = server.child.as_ref().unwrap().id() as i32;
    let pidfd = rustix::process::pidfd_open(
        rustix::process::Pid::from_raw(pid).unwrap(),
        rustix::process::PidfdFlags::empty(),
    )
    .expect("pidfd_open");
    let mut found = None;
    for entry in std::fs::read_dir(format!("/proc/{pid}/fd")).unwrap() {
        let Ok(fd) = entry.unwrap().file_name().to_string_lossy().parse::<i32>() else { continue };
        let Ok(dup) = rustix::process::pidfd_getfd(&pidfd, fd, rustix::process::PidfdGetfdFlags::empty())
        else {
            continue;
        };
        let socket = TcpStream::from(dup);
        if socket.peer_addr().is_ok_and(|peer| peer.port() == client_port) {
            found = Some(socket.nodelay().unwrap());
            break;
        }
    }
    assert_eq!(found, Some(true), "TCP_NODELAY on lethe's end of the connection (None: socket not found)");
}

/// Adds `line` to the authorized keys of a prepared (not yet launched) server.
fn authorize(server: &Server, line: &str) {
    let config_path = server.dir.join("config.json");
    let config = std::fs::read_to_string(&config_path).unwrap();
    let config =
        config.replacen("\"authorizedKeys\": [", &format!("\"authorizedKeys\": [{:?}, ", line.trim()), 1);
    std::fs::write(&config_path, config).unwrap();
}

/// Runs a Python client script with the server's port and the owner's key as arguments.
fn python(server: &Server, script: &str) -> Output {
    let out = Command::new("python3")
        .args(["-c", script, &server.port.to_string()])
        .arg(&server.key)
        .stdin(Stdio::null())
        .output()
        .expect("python3 runs");
    assert!(out.status.success(), "{script}\n{}", text(&out.stderr));
    out
}

/// The clients people unlock with all negotiate one of the few key exchanges the server offers
/// (no finite-field group), and log in: OpenSSH, dropbear's dbclient, paramiko, asyncssh.
#[test]
fn every_common_client_negotiates_a_cheap_key_exchange_and_logs_in() {
    let dir = temp_dir();
    let host_key = keygen(&dir, "host_key");
    let server = Server::prepare(dir, host_key, Options::default());
    let dropbear_key = server.dir.join("id_dropbear");
    sh(Command::new("dropbearkey").args(["-t", "ed25519", "-f"]).arg(&dropbear_key));
    let public = text(&sh(Command::new("dropbearkey").arg("-y").arg("-f").arg(&dropbear_key)).stdout);
    let public =
        public.lines().find(|l| l.starts_with("ssh-ed25519 ")).expect("dropbearkey -y prints the key");
    authorize(&server, public);
    let server = server.launched();

    // OpenSSH: the exchange it chose, from its own debug output.
    let mut c = server.ssh_command(&server.key);
    let out = c.args(["-v", "root@127.0.0.1", "status"]).stdin(Stdio::null()).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let kex = text(&out.stderr).lines().find_map(|l| l.split("kex: algorithm: ").nth(1).map(String::from));
    assert!(
        matches!(kex.as_deref(), Some("mlkem768x25519-sha256" | "curve25519-sha256")),
        "OpenSSH negotiated {kex:?}"
    );
    // Forcing a finite-field group (what a DHEat client does) finds nothing in common.
    for forced in
        ["diffie-hellman-group16-sha512", "diffie-hellman-group-exchange-sha256", "ecdh-sha2-nistp256"]
    {
        let mut c = server.ssh_command(&server.key);
        let out = c
            .args(["-v", "-o", &format!("KexAlgorithms={forced}"), "root@127.0.0.1", "status"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(255), "{forced}: {out:?}");
        assert!(text(&out.stderr).contains("no matching key exchange method"), "{forced}: {out:?}");
    }

    // dropbear's client (it prints nothing about the exchange: it logs in or it does not).
    let out = Command::new("dbclient")
        .args(["-y", "-p", &server.port.to_string(), "-i"])
        .arg(&dropbear_key)
        .args(["root@127.0.0.1", "status"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(text(&out.stdout), "pending: crypted\n", "dbclient: {out:?}");

    let paramiko = python(
        &server,
        r#"
import sys, paramiko
c = paramiko.SSHClient()
c.set_missing_host_key_policy(paramiko.AutoAddPolicy())
c.connect("127.0.0.1", int(sys.argv[1]), username="root", key_filename=sys.argv[2], look_for_keys=False, allow_agent=False)
_, out, _ = c.exec_command("status")
print(out.read().decode(), end="")
"#,
    );
    assert_eq!(text(&paramiko.stdout), "pending: crypted\n", "paramiko: {paramiko:?}");

    let asyncssh = python(
        &server,
        r#"
import sys, asyncio, asyncssh
async def main():
    async with asyncssh.connect("127.0.0.1", int(sys.argv[1]), known_hosts=None, client_keys=[sys.argv[2]], username="root") as c:
        r = await c.run("status")
        print(r.stdout, end="")
asyncio.run(main())
"#,
    );
    assert_eq!(text(&asyncssh.stdout), "pending: crypted\n", "asyncssh: {asyncssh:?}");
    let log = server.log();
    assert_eq!(log.matches("logged in with").count(), 4, "{log}");
}

/// `ssh-audit` of the default server (an ed25519 host key) finds no failed algorithm and no
/// finite-field Diffie-Hellman group.
#[test]
fn ssh_audit_finds_no_failed_algorithm() {
    let server = Server::start(Options::default());
    let out = Command::new("ssh-audit")
        .args(["-n", "-p", &server.port.to_string(), "127.0.0.1"])
        .stdin(Stdio::null())
        .output()
        .expect("ssh-audit runs");
    let report = text(&out.stdout);
    assert!(report.contains("(kex) curve25519-sha256"), "{report}");
    let failed: Vec<&str> = report.lines().filter(|l| l.contains("[fail]")).collect();
    assert!(failed.is_empty(), "{failed:#?}\n{report}");
    assert!(!report.contains("diffie-hellman"), "{report}");
}

/// Silent connections from `addresses` (127.x, one each), held and re-opened when the server
/// cuts them, until `stop` is set or 120 s pass (bounded: loopback only, one connection per
/// address at a time). Returns how many connections were opened.
fn hold_silent_connections(
    addresses: Vec<[u8; 4]>,
    port: u16,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<u32> {
    std::thread::spawn(move || {
        let start = Instant::now();
        let mut opened = 0;
        let mut held: Vec<Option<TcpStream>> = addresses.iter().map(|_| None).collect();
        while !stop.load(Ordering::SeqCst) && start.elapsed() < Duration::from_secs(120) {
            for (slot, from) in held.iter_mut().zip(&addresses) {
                let alive = slot.as_mut().is_some_and(|s| {
                    let mut buf = [0u8; 256];
                    s.set_nonblocking(true).unwrap();
                    match s.read(&mut buf) {
                        Ok(0) => false,
                        Ok(_) => true,
                        Err(e) => e.kind() == std::io::ErrorKind::WouldBlock,
                    }
                });
                if !alive {
                    *slot = silent_connection(*from, port);
                    opened += 1;
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        opened
    })
}

/// `count` addresses of 127/8, each in a /24 of its own (the spread that per-network limits
/// help least against), none in the owner's 127.0.0.0/24.
fn flood_addresses(count: usize) -> Vec<[u8; 4]> {
    (0..count).map(|i| [127, 64 + (i / 256) as u8, (i % 256) as u8, 7]).collect()
}

/// Holds silent connections from `count` addresses (4 threads) while the owner tries to log
/// in 3 times; returns how many of those logins succeeded within `limit` each, and the log.
fn owner_under_slot_flood(count: usize, limit: Duration) -> (usize, Vec<Duration>, String) {
    let server = Server::start(Options { login_grace_seconds: 30, ..Default::default() });
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let addresses = flood_addresses(count);
    let flooders: Vec<_> = addresses
        .chunks(count.div_ceil(4))
        .map(|chunk| hold_silent_connections(chunk.to_vec(), server.port, stop.clone()))
        .collect();
    // Let the flood fill the table (every address connected once, and then some).
    std::thread::sleep(Duration::from_secs(3));
    let mut waits = Vec::new();
    let mut ok = 0;
    for _ in 0..3 {
        let t = Instant::now();
        let mut c = server.ssh_command(&server.key);
        c.args(["-o", &format!("ConnectTimeout={}", limit.as_secs()), "root@127.0.0.1", "status"]);
        let out = c.stdin(Stdio::null()).output().unwrap();
        let took = t.elapsed();
        waits.push(took);
        if out.status.success() && took <= limit {
            ok += 1;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    stop.store(true, Ordering::SeqCst);
    let opened: u32 = flooders.into_iter().map(|t| t.join().unwrap()).sum();
    eprintln!("{count}-address flood: {opened} connections opened; owner logins {waits:?}");
    (ok, waits, server.log())
}

/// 100 silent connections from 100 addresses held (re-opened as soon as they are cut): the
/// owner still logs in, at least 2 of 3 times, each within 10 s.
#[test]
fn the_owner_logs_in_while_100_addresses_hold_silent_connections() {
    let (ok, waits, log) = owner_under_slot_flood(100, Duration::from_secs(10));
    assert!(ok >= 2, "the owner got in {ok} of 3 times: {waits:?}\n{log}");
}

/// 1,000 addresses (more than the table holds): the flood cuts its own oldest connections, and
/// the owner gets in within the login grace time, at least 2 of 3 times.
#[test]
fn the_owner_logs_in_while_1000_addresses_flood_the_table() {
    let (ok, waits, log) = owner_under_slot_flood(1000, Duration::from_secs(30));
    assert!(
        ok >= 2,
        "the owner got in {ok} of 3 times: {waits:?}\n{}",
        &log[log.len().saturating_sub(5000)..]
    );
    assert!(log.contains("to make room for 127.0.0.1"), "the table never filled");
}

/// 30 wrong passphrases at once on one connection (asyncssh, 30 session channels each asking
/// `unlock`): the key derivation runs at most maxTries + 1 times in the first 2 s, because the
/// channels per connection are capped and each try waits for its address's and key's turn
/// before the derivation. Counted from the server's log line before each derivation. Also
/// with a second configured device that is missing, whose failure must not hide the wrong
/// passphrase from the count.
#[test]
fn parallel_wrong_passphrases_wait_their_turn_before_the_key_derivation() {
    for missing_device in [false, true] {
        let dir = temp_dir();
        let host_key = keygen(&dir, "host_key");
        let server = Server::prepare(dir, host_key, Options { max_tries: 3, ..Default::default() });
        if missing_device {
            let config_path = server.dir.join("config.json");
            let config = std::fs::read_to_string(&config_path).unwrap();
            let config = config.replace(
                r#""devices": ["#,
                r#""devices": [{"name": "gone", "device": "/nonexistent/lethe-test-disk"}, "#,
            );
            std::fs::write(&config_path, config).unwrap();
        }
        let server = server.launched();
        let derivations = thirty_parallel_wrong_passphrases(&server);
        let log = server.log();
        eprintln!("30 parallel wrong passphrases (missing device: {missing_device}): {derivations} key derivations in the first 2 s");
        assert!((1..=4).contains(&derivations), "{derivations} key derivations in 2 s:\n{log}");
        assert!(log.contains("refused a session channel: 4 already open on this connection"), "{log}");
    }
}

/// How many key derivations the server started in the first 2 s of 30 parallel wrong tries.
fn thirty_parallel_wrong_passphrases(server: &Server) -> usize {
    let script = r#"
import sys, asyncio, asyncssh
async def main():
    async with asyncssh.connect("127.0.0.1", int(sys.argv[1]), known_hosts=None, client_keys=[sys.argv[2]], username="root") as c:
        print("go", flush=True)
        await asyncio.gather(*[c.run("unlock", input="wrong %d\n" % i) for i in range(30)], return_exceptions=True)
asyncio.run(main())
"#;
    let mut child = Command::new("python3")
        .args(["-c", script, &server.port.to_string()])
        .arg(&server.key)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3 runs");
    let mut go = [0u8; 3];
    child.stdout.take().unwrap().read_exact(&mut go).expect("the client connected");
    std::thread::sleep(Duration::from_secs(2));
    let derivations = server.log().matches("trying a passphrase").count();
    let _ = child.kill();
    let _ = child.wait();
    derivations
}

/// A key of `kind` (`ssh-keygen -t KIND -b BITS`), its private file.
fn keygen_kind(dir: &Path, name: &str, kind: &str, bits: &str) -> PathBuf {
    let path = dir.join(name);
    sh(Command::new("ssh-keygen")
        .args(["-q", "-t", kind, "-b", bits, "-N", "", "-C", name, "-f"])
        .arg(&path));
    path
}

/// Every user key type lethe accepts logs in from OpenSSH's client: ed25519 (the other tests),
/// ECDSA P-256/384/521, RSA 2048 and 4096 (signed rsa-sha2-512 or -256). An RSA key signed
/// with SHA-1 (`ssh-rsa`) is refused.
#[test]
fn every_supported_user_key_type_logs_in() {
    let dir = temp_dir();
    let host_key = keygen(&dir, "host_key");
    let server = Server::prepare(dir, host_key, Options::default());
    let kinds = [("ecdsa", "256"), ("ecdsa", "384"), ("ecdsa", "521"), ("rsa", "2048"), ("rsa", "4096")];
    let keys: Vec<PathBuf> = kinds
        .iter()
        .map(|(kind, bits)| {
            let key = keygen_kind(&server.dir, &format!("id_{kind}{bits}"), kind, bits);
            authorize(&server, &std::fs::read_to_string(key.with_extension("pub")).unwrap());
            key
        })
        .collect();
    let server = server.launched();
    for (key, (kind, bits)) in keys.iter().zip(kinds) {
        let out = server.ssh(key, &["status"], b"");
        assert_eq!(out.status.code(), Some(0), "{kind} {bits}: {out:?}\n{}", server.log());
        assert_eq!(text(&out.stdout), "pending: crypted\n", "{kind} {bits}");
    }
    for signature in ["rsa-sha2-256", "rsa-sha2-512"] {
        let mut c = server.ssh_command(&keys[3]);
        let out =
            c.args(["-o", &format!("PubkeyAcceptedAlgorithms={signature}"), "root@127.0.0.1", "status"]);
        let out = out.stdin(Stdio::null()).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{signature}: {out:?}");
    }
    let mut c = server.ssh_command(&keys[3]);
    let out = c.args(["-o", "PubkeyAcceptedAlgorithms=ssh-rsa", "root@127.0.0.1", "status"]);
    let out = out.stdin(Stdio::null()).output().unwrap();
    assert_eq!(out.status.code(), Some(255), "ssh-rsa (SHA-1) logged in: {out:?}");
}

/// What lethe cannot verify is a check-config error naming the key type and why: short RSA,
/// DSA, FIDO security keys (sk-*), user certificates (cert-authority, principals=).
#[test]
fn check_config_refuses_key_types_that_cannot_log_in() {
    let dir = temp_dir();
    let public =
        |key: PathBuf| std::fs::read_to_string(key.with_extension("pub")).unwrap().trim().to_string();
    let rsa1024 = public(keygen_kind(&dir, "rsa1024", "rsa", "1024"));
    let dsa = public(keygen_kind(&dir, "dsa", "dsa", "1024"));
    let ed = public(keygen(&dir, "id"));
    let sk_ed = "sk-ssh-ed25519@openssh.com AAAAGnNrLXNzaC1lZDI1NTE5QG9wZW5zc2guY29tAAAAIAABAgMEBQYHCAkKCwwNDg8QERITFBUWFxgZGhscHR4fAAAABHNzaDo= fido";
    let sk_ecdsa = "sk-ecdsa-sha2-nistp256@openssh.com AAAAInNrLWVjZHNhLXNoYTItbmlzdHAyNTZAb3BlbnNzaC5jb20AAAAIbmlzdHAyNTYAAABBBAcC3J3Ru2As9C2Y2V6zk6nMmBpGNLARwt1ghFw9bjf4MBtOYP9GSVpC3UflsDniUXqHelx3DwCsDK6rPmHeGrcAAAAEc3NoOg== fido";
    let cases = [
        (rsa1024, "ssh-rsa key of 1024 bits: too short to trust (at least 2048 bits"),
        (dsa, "ssh-dss keys are not supported by lethe"),
        (
            sk_ed.to_string(),
            "sk-ssh-ed25519@openssh.com keys (FIDO security keys) are not supported by lethe",
        ),
        (
            sk_ecdsa.to_string(),
            "sk-ecdsa-sha2-nistp256@openssh.com keys (FIDO security keys) are not supported",
        ),
        (format!("cert-authority {ed}"), "option cert-authority: SSH user certificates are not supported"),
        (
            format!("cert-authority,principals=\\\"root\\\" {ed}"),
            "SSH user certificates are not supported by lethe",
        ),
    ];
    assert_key_lines_refused(&dir, &cases);
    let _ = std::fs::remove_dir_all(dir);
}

/// `check-config` refuses each `authorized_keys` line of `cases` (exit 1), naming
/// `ssh.authorizedKeys[0]` and the expected reason.
fn assert_key_lines_refused(dir: &std::path::Path, cases: &[(String, &str)]) {
    for (line, want) in cases {
        let config = format!(
            r#"{{"version": 1, "ssh": {{"hostKeys": ["/etc/lethe/host_key"], "authorizedKeys": ["{line}"]}}}}"#
        );
        let path = dir.join("config.json");
        std::fs::write(&path, config).unwrap();
        let out = common::run(&["check-config", path.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(1), "{line}: {out:?}");
        let err = common::stderr(&out);
        assert!(err.contains("ssh.authorizedKeys[0]: ") && err.contains(want), "{line}: {err}");
    }
}

/// A network namespace of this test's own, deleted on drop.
struct Netns(String);

impl Netns {
    fn new(tag: &str) -> Netns {
        let name = format!("lethe-ssh-{}-{tag}", std::process::id());
        let _ = Command::new("ip").args(["netns", "del", &name]).output();
        sh(Command::new("ip").args(["netns", "add", &name]));
        Netns(name)
    }

    fn ip(&self, args: &[&str]) {
        sh(Command::new("ip").args(["-n", &self.0]).args(args));
    }

    fn exec(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.0, program]);
        c
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).output();
    }
}

/// The per-address and per-network rules hold for IPv6: in a namespace of its own, 4 silent
/// connections from one address, then 40 from 40 more addresses of the same /64 (more than a
/// network may hold): the fourth from one address is refused, the /64 gives up its own oldest connections, and the
/// owner (another /64) logs in. (IPv4 clients reach the dual-stack listener as IPv4-mapped
/// addresses in every other test: the same rules, on the folded address.)
#[test]
fn ipv6_addresses_are_limited_per_address_and_per_64() {
    let ns = Netns::new("v6");
    ns.ip(&["link", "set", "lo", "up"]);
    ns.ip(&["addr", "add", "2001:db8:1::1/128", "dev", "lo", "nodad"]);
    // Any address of this /64 is local (AnyIP): the flood binds 40 of them (IP_FREEBIND).
    ns.ip(&["-6", "route", "add", "local", "2001:db8:2::/64", "dev", "lo"]);
    let dir = temp_dir();
    let host_key = keygen(&dir, "host_key");
    let mut server = Server::prepare(dir, host_key, Options::default());
    let child = ns
        .exec(common::lethe().to_str().unwrap())
        .args(["serve", "--config"])
        .arg(server.dir.join("config.json"))
        .env("LETHE_UNLOCK_VERIFY_ONLY", "1")
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&server.log).unwrap())
        .spawn()
        .expect("lethe serve starts");
    server.child = Some(child);
    let start = Instant::now();
    while !server.log().contains("listening on port") {
        assert!(start.elapsed() < HANG_GUARD, "never listened:\n{}", server.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    let flood = r#"
import socket, sys, time
port = int(sys.argv[1])
held = []
for i in [0xff] * 4 + list(range(1, 41)):
    s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_IP, 15, 1)  # IP_FREEBIND: any address of the local /64
    s.bind(("2001:db8:2::%x" % i, 0))
    s.connect(("::1", port))
    held.append(s)
    time.sleep(0.01)
print("held", flush=True)
time.sleep(15)
"#;
    let mut flooder = ns
        .exec("python3")
        .args(["-c", flood, &server.port.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3 runs");
    let mut held = [0u8; 4];
    flooder.stdout.take().unwrap().read_exact(&mut held).expect("the flood connected");
    let mut ok = 0;
    for _ in 0..3 {
        let out = ns
            .exec("ssh")
            .args(["-b", "2001:db8:1::1", "-p", &server.port.to_string()])
            .args(["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null"])
            .args(["-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "LogLevel=ERROR", "-i"])
            .arg(&server.key)
            .args(["root@::1", "status"])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        if out.status.success() {
            ok += 1;
        }
    }
    let _ = flooder.kill();
    let _ = flooder.wait();
    let log = server.log();
    assert!(ok >= 2, "the owner got in {ok} of 3 times:\n{log}");
    assert!(
        log.contains("[2001:db8:2::ff]:") && log.contains("refused: too many connections from this address"),
        "{log}"
    );
    let cuts: Vec<&str> =
        log.lines().filter(|l| l.contains("cutting a connection that has not logged in")).collect();
    assert!(!cuts.is_empty(), "the /64 never gave up a connection:\n{log}");
    for cut in cuts {
        assert!(cut.contains("ssh: 2001:db8:2::") && cut.contains("make room for 2001:db8:2::"), "{cut}");
    }
}

/// A child leading its own process group, killed with all of it on drop (also when the test
/// fails), so a flood never outlives its test.
struct ProcessGroup(Child);

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-KILL", "--", &format!("-{}", self.0.id())]).output();
        let _ = self.0.wait();
    }
}

/// The owner's login time from 127.0.1.9 (another /24 than the flood's), median of 5.
fn owner_login_median(server: &Server) -> Duration {
    let mut times: Vec<Duration> = (0..5)
        .map(|_| {
            let t = Instant::now();
            let mut c = server.ssh_command(&server.key);
            let out = c
                .args(["-b", "127.0.1.9", "root@127.0.0.1", "status"])
                .stdin(Stdio::null())
                .output()
                .unwrap();
            assert_eq!(out.status.code(), Some(0), "the owner was refused: {out:?}\n{}", server.log());
            t.elapsed()
        })
        .collect();
    times.sort();
    times[2]
}

/// DHEat (`ssh-audit --dheat 3`: 3 sockets from one address, each forcing the most expensive
/// key exchange it can) while the owner logs in from another address: the owner's median
/// login stays within 3 times the idle median of the same run. Bounded: ssh-audit is
/// interrupted after the measurement.
#[test]
fn a_dheat_flood_does_not_slow_the_owner_down() {
    use std::os::unix::process::CommandExt;
    let server = Server::start(Options::default());
    let idle = owner_login_median(&server);
    // At the lowest priority: a real attacker burns their own CPU, not the owner's client's,
    // which shares this machine's cores here.
    let flood = Command::new("nice")
        .args(["-n", "19", "ssh-audit", "--dheat", "3", "-p", &server.port.to_string(), "127.0.0.2"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("ssh-audit runs");
    let flood = ProcessGroup(flood);
    std::thread::sleep(Duration::from_secs(2));
    let flooded = owner_login_median(&server);
    drop(flood);
    let ratio = flooded.as_secs_f64() / idle.as_secs_f64();
    eprintln!("DHEat: owner login median {idle:?} idle, {flooded:?} flooded ({ratio:.2}x)");
    assert!(ratio <= 3.0, "{idle:?} idle, {flooded:?} under DHEat ({ratio:.2}x)");
}
