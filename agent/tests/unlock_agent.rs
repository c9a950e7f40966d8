//! systemdAgent mode: lethe answers the password requests under /run/systemd/ask-password, as a
//! systemd initrd's systemd-cryptsetup posts them. The real `systemd-ask-password` (Debian's
//! systemd 252) asks, in a private mount namespace with its own /run.

mod common;
mod unlock_support;

use lethe::config::unlock::Unlock;
use lethe::unlock::{Attempt, Mode, Options, Passphrase, Unlocker};
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::Command;
use unlock_support::Scratch;

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The process id of a process that has exited (and been reaped).
fn dead_pid() -> u32 {
    let mut child = Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    pid
}

/// `lethe unlock` answers a real systemd-ask-password, and skips the malformed, expired and
/// orphaned requests lying next to it, saying why.
#[test]
fn answers_real_systemd_ask_password() {
    common::require_root();
    let s = Scratch::new("real");
    let config = s.path("config.json");
    std::fs::write(&config, r#"{"version": 1, "unlock": {"systemdAgent": true}}"#).unwrap();
    let script = format!(
        r#"set -eu
mount -t tmpfs tmpfs /run
mkdir -p /run/systemd/ask-password
cd /run/systemd/ask-password
printf 'PID=1\nSocket=/run/nothing\n' > ask.bad
printf '[Ask]\nPID=1\nSocket=/run/nothing\nNotAfter=1\nMessage=old\n' > ask.old
printf '[Ask]\nPID={dead}\nSocket=/run/nothing\nNotAfter=0\nMessage=orphan\n' > ask.dead
systemd-ask-password --no-tty --timeout=120 "Passphrase for crypted:" > {out}/sap.out &
sap=$!
# Wait for its request: a fourth ask.* file.
while [ "$(ls -1 | grep -c '^ask\.')" -lt 4 ]; do sleep 0.05; done
rc=0
printf 'correct horse\n' | RUST_LOG=debug {lethe} unlock --config {config} 2> {out}/lethe.err || rc=$?
echo $rc > {out}/lethe.rc
rc=0
wait $sap || rc=$?
echo $rc > {out}/sap.rc
"#,
        dead = dead_pid(),
        out = s.0.display(),
        lethe = common::lethe().display(),
        config = config.display(),
    );
    let status =
        Command::new("timeout").args(["120", "unshare", "-m", "sh", "-c", &script]).status().unwrap();
    assert!(status.success(), "namespace script failed: {status}");
    let err = read(&s.path("lethe.err"));
    assert_eq!(read(&s.path("lethe.rc")).trim(), "0", "lethe: {err}");
    assert_eq!(read(&s.path("sap.rc")).trim(), "0", "systemd-ask-password failed; lethe: {err}");
    assert_eq!(read(&s.path("sap.out")), "correct horse\n");
    assert!(err.contains("passphrase sent to: Passphrase for crypted:"), "{err}");
    assert!(err.contains("ask.bad: ignoring malformed password request: no [Ask] section"), "{err}");
    assert!(err.contains("ask.old: ignoring expired password request"), "{err}");
    assert!(err.contains("ask.dead: ignoring password request of process"), "{err}");
    assert!(!err.contains("cannot send"), "a stale request was answered: {err}");
    assert!(!err.contains("correct horse"), "secret leaked: {err}");
}

/// `lethe unlock --config FILE [TARGET]` with two real requests: without a target it refuses
/// (exit 1) and sends nothing; with one, each passphrase reaches its own request only.
#[test]
fn lethe_unlock_target_picks_the_request() {
    common::require_root();
    let s = Scratch::new("target");
    let config = s.path("config.json");
    std::fs::write(&config, r#"{"version": 1, "unlock": {"systemdAgent": true}}"#).unwrap();
    let script = format!(
        r#"set -u
mount -t tmpfs tmpfs /run
mkdir -p /run/systemd/ask-password
cd /run/systemd/ask-password
systemd-ask-password --no-tty --timeout=120 --id=cryptsetup:/dev/x "Please enter passphrase for disk crypted:" > {out}/luks.out &
luks=$!
systemd-ask-password --no-tty --timeout=120 "Enter key for tank/secure:" > {out}/zfs.out &
zfs=$!
while [ "$(ls -1 | grep -c '^ask\.')" -lt 2 ]; do sleep 0.05; done
rc=0; echo sprayed | {lethe} unlock --config {config} 2> {out}/none.err || rc=$?; echo $rc > {out}/none.rc
rc=0; echo zfs-pass | {lethe} unlock --config {config} tank/secure 2> {out}/zfs.err || rc=$?; echo $rc > {out}/zfs.rc
rc=0; echo luks-pass | {lethe} unlock --config {config} crypted 2> {out}/luks.err || rc=$?; echo $rc > {out}/luks.rc
wait $luks $zfs
"#,
        out = s.0.display(),
        lethe = common::lethe().display(),
        config = config.display(),
    );
    let status =
        Command::new("timeout").args(["120", "unshare", "-m", "sh", "-c", &script]).status().unwrap();
    assert!(status.success(), "namespace script failed: {status}");
    let none = read(&s.path("none.err"));
    assert_eq!(read(&s.path("none.rc")).trim(), "1", "{none}");
    assert!(none.contains("2 password requests wait: "), "{none}");
    assert!(none.contains("lethe unlock --config FILE TARGET"), "{none}");
    assert_eq!(read(&s.path("zfs.rc")).trim(), "0", "{}", read(&s.path("zfs.err")));
    assert_eq!(read(&s.path("luks.rc")).trim(), "0", "{}", read(&s.path("luks.err")));
    assert_eq!(read(&s.path("zfs.out")), "zfs-pass\n");
    assert_eq!(read(&s.path("luks.out")), "luks-pass\n");
}

/// With no request pending, `lethe unlock` says so and exits 2.
#[test]
fn nothing_pending_exits_2() {
    common::require_root();
    let s = Scratch::new("none");
    let config = s.path("config.json");
    std::fs::write(&config, r#"{"version": 1, "unlock": {"systemdAgent": true}}"#).unwrap();
    let script = format!(
        "mount -t tmpfs tmpfs /run && echo x | {} unlock --config {}",
        common::lethe().display(),
        config.display()
    );
    let o = Command::new("unshare").args(["-m", "sh", "-c", &script]).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", common::stderr(&o));
    assert!(common::stderr(&o).contains("no password request is pending"), "{}", common::stderr(&o));
}

fn agent_unlocker(dir: &Path) -> Unlocker {
    let config = Unlock { devices: vec![], systemd_agent: true, console: false, max_tries: 3, tang: None };
    Unlocker::with_options(&config, Options { verify_only: false, ask_dir: dir.to_path_buf() })
}

fn ask(dir: &Path, name: &str, pid: u32, not_after: u64, socket: &Path, message: &str) {
    let text = format!(
        "[Ask]\nPID={pid}\nSocket={}\nAcceptCached=1\nEcho=0\nNotAfter={not_after}\nMessage={message}\n",
        socket.display()
    );
    std::fs::write(dir.join(name), text).unwrap();
}

fn received(sock: &UnixDatagram) -> Option<Vec<u8>> {
    let mut buf = [0u8; 256];
    match sock.recv(&mut buf) {
        Ok(n) => Some(buf[..n].to_vec()),
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => None,
        Err(e) => panic!("recv: {e}"),
    }
}

/// Stale requests get nothing on their sockets; a passphrase with no target goes to the one
/// live request only, once; with two live requests it goes to neither (which one was meant?).
#[tokio::test]
async fn only_live_requests_are_answered_once_and_never_two() {
    let s = Scratch::new("stale");
    let dir = s.path("ask");
    std::fs::create_dir(&dir).unwrap();
    let bind = |name: &str| {
        let sock = UnixDatagram::bind(s.path(name)).unwrap();
        sock.set_nonblocking(true).unwrap();
        sock
    };
    let (live, expired, orphan, other, echoed) =
        (bind("live.sck"), bind("expired.sck"), bind("orphan.sck"), bind("o.sck"), bind("echo.sck"));
    let me = std::process::id();
    ask(&dir, "ask.live", me, 0, &s.path("live.sck"), "Passphrase for crypted:");
    ask(&dir, "ask.expired", me, 1, &s.path("expired.sck"), "too late");
    ask(&dir, "ask.orphan", dead_pid(), 0, &s.path("orphan.sck"), "nobody waits");
    ask(&dir, "ask.other", me, u64::MAX, &s.path("o.sck"), "Enter key for tank/secure:");
    let echo =
        format!("[Ask]\nPID={me}\nSocket={}\nEcho=1\nMessage=User name:\n", s.path("echo.sck").display());
    std::fs::write(dir.join("ask.echo"), echo).unwrap();
    std::fs::write(dir.join("ask.garbage"), "\0\0not ini").unwrap();
    std::fs::write(dir.join("sck.ignored"), "").unwrap();

    let unlocker = agent_unlocker(&dir);
    assert_eq!(unlocker.mode(), Mode::SystemdAgent);
    let mut pending = unlocker.pending();
    pending.sort();
    assert_eq!(pending, vec!["Enter key for tank/secure:", "Passphrase for crypted:"]);
    match unlocker.try_passphrase(Passphrase::from("s3cret".to_string())).await {
        Attempt::Failed(m) => assert!(m.starts_with("2 password requests wait: "), "{m}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(received(&live), None);
    assert_eq!(received(&other), None);

    std::fs::remove_file(dir.join("ask.other")).unwrap();
    let attempt = unlocker.try_passphrase(Passphrase::from("s3cret".to_string())).await;
    assert_eq!(attempt, Attempt::Unlocked { opened: vec!["Passphrase for crypted:".into()] });
    assert_eq!(received(&live).as_deref(), Some(&b"+s3cret"[..]));
    for stale in [&expired, &orphan, &other, &echoed] {
        assert_eq!(received(stale), None);
    }
    // Answered requests stay on disk until their asker removes them, but are not pending.
    assert!(unlocker.pending().is_empty());
    assert_eq!(unlocker.try_passphrase(Passphrase::from("again".to_string())).await, Attempt::NothingPending);
    assert_eq!(received(&live), None);
    assert!(!unlocker.is_done(), "systemdAgent mode runs until stopped");
}

/// A request whose socket nobody listens on any more is a failure naming the socket.
#[tokio::test]
async fn unanswerable_request_fails_naming_the_socket() {
    let s = Scratch::new("nosock");
    let dir = s.path("ask");
    std::fs::create_dir(&dir).unwrap();
    ask(&dir, "ask.x", std::process::id(), 0, &s.path("gone.sck"), "m");
    let unlocker = agent_unlocker(&dir);
    match unlocker.try_passphrase(Passphrase::from("p".to_string())).await {
        Attempt::Failed(m) => assert!(m.contains("gone.sck: cannot send the answer"), "{m}"),
        other => panic!("expected Failed, got {other:?}"),
    }
}

/// A missing directory (systemd has not created it yet) is simply nothing pending.
#[tokio::test]
async fn missing_directory_is_nothing_pending() {
    let s = Scratch::new("nodir");
    let unlocker = agent_unlocker(&s.path("not-yet"));
    assert!(unlocker.pending().is_empty());
    assert_eq!(unlocker.try_passphrase(Passphrase::from("p".to_string())).await, Attempt::NothingPending);
}
