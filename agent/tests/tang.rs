//! `lethe::tang` against the real Debian `tang` 11 server (served on 127.0.0.1 by systemd's
//! `systemd-socket-activate`, one tangd per connection, no systemd as PID 1) and JWEs and LUKS2
//! tokens made by the real `clevis` 19. Servers answering garbage, slowly or with a tampered
//! advertisement are small TCP threads here: no real Tang misbehaves on purpose.

mod common;

use lethe::config::tang::Tang;
use lethe::tang::{recover_passphrase, token};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

struct Dir(PathBuf);

impl Dir {
    fn new(name: &str) -> Dir {
        let path = std::env::temp_dir().join(format!("lethe-tang-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        Dir(path)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A real tangd with fresh keys, listening until dropped.
struct TangServer {
    url: String,
    db: PathBuf,
    port: u16,
    process: Option<Child>,
    _dir: Dir,
}

impl TangServer {
    fn start(name: &str) -> TangServer {
        let dir = Dir::new(&format!("server-{name}"));
        let db = dir.0.join("db");
        std::fs::create_dir(&db).unwrap();
        let status =
            Command::new("/usr/libexec/tangd-keygen").arg(&db).status().expect("tangd-keygen (apt tang)");
        assert!(status.success());
        let port = free_port();
        let mut server =
            TangServer { url: format!("http://127.0.0.1:{port}"), db, port, process: None, _dir: dir };
        server.serve();
        server
    }

    fn serve(&mut self) {
        let child = Command::new("systemd-socket-activate")
            .args(["-l", &format!("127.0.0.1:{}", self.port), "-a", "--inetd", "/usr/libexec/tangd"])
            .arg(&self.db)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("systemd-socket-activate");
        self.process = Some(child);
        // Listening is not instant: wait until a connection is accepted (not a timed assertion:
        // it waits for an event and fails only after a generous bound).
        for _ in 0..200 {
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("tangd did not listen on {}", self.port);
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.process.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn adv(&self) -> String {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        write!(s, "GET /adv HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
        let mut answer = String::new();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut buf = [0u8; 8192];
        while !answer.contains("\r\n\r\n") || !answer.trim_end().ends_with('}') {
            let n = s.read(&mut buf).unwrap();
            assert!(n > 0, "tangd closed early");
            answer.push_str(std::str::from_utf8(&buf[..n]).unwrap());
        }
        answer.split_once("\r\n\r\n").unwrap().1.to_string()
    }
}

impl Drop for TangServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn clevis_encrypt(pin: &str, config: &str, secret: &str) -> String {
    let mut child = Command::new("clevis")
        .args(["encrypt", pin, config, "-y"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("clevis (apt clevis)");
    child.stdin.take().unwrap().write_all(secret.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "clevis encrypt {pin} {config} failed");
    String::from_utf8(out.stdout).unwrap()
}

fn config(timeout_seconds: u64) -> Tang {
    Tang { timeout_seconds, ..Tang::default() }
}

fn refusal(jwe: &str, config: &Tang) -> String {
    match recover_passphrase(jwe, config) {
        Ok(_) => panic!("recovered a secret that must be refused"),
        Err(e) => e.to_string(),
    }
}

fn assert_contains(got: &str, wants: &[&str]) {
    for want in wants {
        assert!(got.contains(want), "want {want:?} in {got:?}");
    }
}

#[test]
fn decrypts_clevis_tang_jwe_with_the_real_server() {
    let server = TangServer::start("up");
    let jwe = clevis_encrypt("tang", &format!(r#"{{"url":"{}"}}"#, server.url), "the secret");
    let secret = recover_passphrase(&jwe, &config(10)).unwrap();
    assert_eq!(secret.as_slice(), b"the secret");
}

#[test]
fn tang_down_names_the_server() {
    let mut server = TangServer::start("down");
    let jwe = clevis_encrypt("tang", &format!(r#"{{"url":"{}"}}"#, server.url), "s");
    server.stop();
    let got = refusal(&jwe, &config(5));
    assert_contains(&got, &[&server.url, "GET /adv", "connecting to 127.0.0.1", "refused"]);
}

#[test]
fn rotated_keys_are_refused() {
    let server = TangServer::start("rotated");
    let jwe = clevis_encrypt("tang", &format!(r#"{{"url":"{}"}}"#, server.url), "s");
    let status = Command::new("/usr/libexec/tangd-rotate-keys").arg("-d").arg(&server.db).status().unwrap();
    assert!(status.success());
    let got = refusal(&jwe, &config(10));
    assert_contains(&got, &[&server.url, "not signed by a pinned key"]);
}

#[test]
fn sss_two_servers_threshold_one_one_down() {
    let up = TangServer::start("sss-up");
    let mut down = TangServer::start("sss-down");
    let pins = format!(r#"{{"t":1,"pins":{{"tang":[{{"url":"{}"}},{{"url":"{}"}}]}}}}"#, down.url, up.url);
    let jwe = clevis_encrypt("sss", &pins, "shared secret");
    down.stop();
    assert_eq!(recover_passphrase(&jwe, &config(5)).unwrap().as_slice(), b"shared secret");
    // Threshold 2 with one server down: refused, naming the server that failed.
    let pins = pins.replace(r#""t":1"#, r#""t":2"#);
    down.serve();
    let jwe = clevis_encrypt("sss", &pins, "shared secret");
    down.stop();
    let got = refusal(&jwe, &config(5));
    assert_contains(&got, &["1 of 2 shares recovered, 2 needed", &down.url]);
}

/// A TCP server answering every connection with `answer(request)`, or never when `None`.
fn fake_server(answer: impl Fn(&str) -> Option<Vec<u8>> + Send + 'static) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            let mut stream = stream.unwrap();
            let mut buf = [0u8; 8192];
            let n = stream.read(&mut buf).unwrap_or(0);
            match answer(&String::from_utf8_lossy(&buf[..n])) {
                Some(bytes) => drop(stream.write_all(&bytes)),
                None => held.push(stream),
            }
        }
    });
    url
}

fn http_ok(body: &str) -> Vec<u8> {
    format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}", body.len()).into_bytes()
}

#[test]
fn tampered_advertisement_is_refused() {
    let server = TangServer::start("tampered");
    let jwe = clevis_encrypt("tang", &format!(r#"{{"url":"{}"}}"#, server.url), "s");
    let mut adv: serde_json::Value = serde_json::from_str(&server.adv()).unwrap();
    // Change one character in the middle of `r`: still a well-formed signature, not the server's.
    let mut sig = adv["signature"].as_str().unwrap().to_string();
    let other = if &sig[40..41] == "A" { "B" } else { "A" };
    sig.replace_range(40..41, other);
    adv["signature"] = sig.into();
    let body = adv.to_string();
    let fake = fake_server(move |_| Some(http_ok(&body)));
    let got = refusal(&jwe, &Tang { servers: vec![fake.clone()], ..config(5) });
    assert_contains(&got, &[&fake, "ES512 signature does not verify"]);
}

#[test]
fn garbage_and_silent_servers_are_refused_naming_them() {
    let server = TangServer::start("garbage");
    let jwe = clevis_encrypt("tang", &format!(r#"{{"url":"{}"}}"#, server.url), "s");
    let garbage = fake_server(|_| Some(b"SSH-2.0-OpenSSH_9.2\r\n".to_vec()));
    let got = refusal(&jwe, &Tang { servers: vec![garbage.clone()], ..config(5) });
    assert_contains(&got, &[&garbage, "GET /adv", "not an HTTP answer"]);

    let silent = fake_server(|_| None);
    let got = refusal(&jwe, &Tang { servers: vec![silent.clone()], ..config(1) });
    assert_contains(&got, &[&silent, "GET /adv", "no complete answer within 1 s"]);

    // The real advertisement, then garbage from /rec.
    let adv = server.adv();
    let rec_garbage = fake_server(move |request| {
        Some(if request.starts_with("GET /adv") { http_ok(&adv) } else { http_ok("not json") })
    });
    let got = refusal(&jwe, &Tang { servers: vec![rec_garbage.clone()], ..config(5) });
    assert_contains(&got, &[&rec_garbage, "POST /rec/", "the answer is not JSON"]);

    // Both servers in the override are tried: the bad one first, then the real one.
    let both = Tang { servers: vec![garbage, server.url.clone()], ..config(5) };
    assert_eq!(recover_passphrase(&jwe, &both).unwrap().as_slice(), b"s");
}

fn run(cmd: &mut Command, stdin: &str) -> String {
    let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{cmd:?} failed");
    String::from_utf8(out.stdout).unwrap()
}

fn luks_file(dir: &Path) -> PathBuf {
    let disk = dir.join("disk.img");
    std::fs::File::create(&disk).unwrap().set_len(20 << 20).unwrap();
    run(
        Command::new("cryptsetup")
            .args(["luksFormat", "-q", "--type", "luks2", "--pbkdf", "pbkdf2"])
            .args(["--pbkdf-force-iterations", "1000"])
            .arg(&disk)
            .arg("-"),
        "first passphrase",
    );
    disk
}

#[test]
fn luks2_token_bound_by_clevis_opens_its_keyslot() {
    let server = TangServer::start("luks");
    let dir = Dir::new("luks");
    let disk = luks_file(&dir.0);
    let bind = format!(r#"{{"url":"{}"}}"#, server.url);
    run(
        Command::new("clevis").args(["luks", "bind", "-y", "-k", "-", "-d"]).arg(&disk).args(["tang", &bind]),
        "first passphrase",
    );
    // Another token type beside it, which must be skipped.
    run(
        Command::new("cryptsetup").args(["token", "import", "--token-id", "5"]).arg(&disk),
        r#"{"type":"other","keyslots":[]}"#,
    );

    let tokens = token::clevis_tokens(&disk).unwrap();
    assert_eq!(tokens.len(), 1, "{tokens:?}");
    assert_eq!((tokens[0].id, tokens[0].keyslots.clone()), (0, vec![1]));
    let exported =
        run(Command::new("cryptsetup").args(["token", "export", "--token-id", "0"]).arg(&disk), "");
    let want: serde_json::Value = serde_json::from_str(&exported).unwrap();
    let got: serde_json::Value = serde_json::from_str(&tokens[0].json).unwrap();
    assert_eq!(got, want);

    let passphrase = recover_passphrase(&tokens[0].json, &config(10)).unwrap();
    let clevis_says =
        run(Command::new("clevis").args(["luks", "pass", "-d"]).arg(&disk).args(["-s", "1"]), "");
    assert_eq!(passphrase.as_slice(), clevis_says.as_bytes());
    // The recovered passphrase opens keyslot 1 (checked without device-mapper).
    run(
        Command::new("cryptsetup")
            .args(["open", "--test-passphrase", "--key-slot", "1", "--key-file", "-"])
            .arg(&disk),
        &clevis_says,
    );

    let other = run(Command::new("cryptsetup").args(["token", "export", "--token-id", "5"]).arg(&disk), "");
    assert_contains(&refusal(&other, &config(10)), &["not a clevis token: its type is \"other\""]);
}

#[test]
fn a_file_without_luks2_header_is_named() {
    let dir = Dir::new("no-luks");
    let file = dir.0.join("plain.img");
    std::fs::write(&file, vec![0u8; 1 << 20]).unwrap();
    let got = token::clevis_tokens(&file).unwrap_err().to_string();
    assert_contains(&got, &[&file.display().to_string(), "no LUKS2 header"]);
}

/// `lethe serve` on a clevis-bound LUKS2 file, with an SSH section (the prompt Tang races) and
/// `unlock.tang`. Verify-only: the host has no device-mapper, so "open" means the passphrase
/// matched a keyslot of the real header (`crypt_activate_by_passphrase` with no name); the VM
/// scenario `unlock-tang` opens a real disk.
struct Serve {
    dir: Dir,
    port: u16,
    child: Option<Child>,
    log: PathBuf,
}

/// Long enough for any honest run on a loaded machine; only a hang reaches it.
const HANG_GUARD: Duration = Duration::from_secs(120);

impl Serve {
    /// The disk bound to `tang_url` (which must answer now) and the config; not started yet.
    fn prepare(name: &str, tang_url: &str) -> Serve {
        let dir = Dir::new(&format!("serve-{name}"));
        let disk = luks_file(&dir.0);
        let bind = format!(r#"{{"url":"{tang_url}"}}"#);
        run(
            Command::new("clevis")
                .args(["luks", "bind", "-y", "-k", "-", "-d"])
                .arg(&disk)
                .args(["tang", &bind]),
            "first passphrase",
        );
        for key in ["host_key", "user_key"] {
            let status = Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-C", key, "-f"])
                .arg(dir.0.join(key))
                .status()
                .unwrap();
            assert!(status.success());
        }
        let public = std::fs::read_to_string(dir.0.join("user_key.pub")).unwrap();
        let port = free_port();
        let config = format!(
            r#"{{"version": 1,
              "ssh": {{"port": {port}, "hostKeys": [{host:?}], "authorizedKeys": [{public:?}]}},
              "unlock": {{"devices": [{{"name": "crypted", "device": {disk:?}}}], "console": false,
                         "tang": {{"timeoutSeconds": 5}}}}}}"#,
            host = dir.0.join("host_key"),
            public = public.trim(),
        );
        std::fs::write(dir.0.join("config.json"), config).unwrap();
        let log = dir.0.join("serve.log");
        Serve { dir, port, child: None, log }
    }

    fn spawn(&mut self) {
        let child = Command::new(common::lethe())
            .args(["serve", "--config"])
            .arg(self.dir.0.join("config.json"))
            .env("LETHE_UNLOCK_VERIFY_ONLY", "1")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&self.log).unwrap())
            .spawn()
            .unwrap();
        self.child = Some(child);
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn wait_for_log(&self, text: &str) {
        let start = std::time::Instant::now();
        while !self.log().contains(text) {
            assert!(start.elapsed() < HANG_GUARD, "never logged {text:?}; log:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Its exit status, once every device is open.
    fn finished(&mut self) -> std::process::ExitStatus {
        let start = std::time::Instant::now();
        loop {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                return status;
            }
            assert!(start.elapsed() < HANG_GUARD, "lethe serve never finished; log:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn ssh_unlock(&self, passphrase: &str) -> std::process::Output {
        let mut child = Command::new("ssh")
            .args(["-p", &self.port.to_string(), "-o", "StrictHostKeyChecking=no"])
            .args(["-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes", "-o", "LogLevel=ERROR"])
            .arg("-i")
            .arg(self.dir.0.join("user_key"))
            .args(["root@127.0.0.1", "unlock"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(format!("{passphrase}\n").as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[test]
fn serve_opens_a_clevis_bound_disk_with_tang_and_no_prompt() {
    let server = TangServer::start("race-up");
    let mut serve = Serve::prepare("up", &server.url);
    serve.spawn();
    let status = serve.finished();
    let log = serve.log();
    assert!(status.success(), "{status}; log:\n{log}");
    assert_contains(&log, &[&format!("unlock: crypted: opened by tang ({})", server.url), "keyslot 1"]);
    assert!(!log.contains("first passphrase"), "a secret in the log:\n{log}");
}

#[test]
fn tang_down_the_ssh_prompt_still_opens_the_disk() {
    let mut server = TangServer::start("race-down");
    let mut serve = Serve::prepare("down", &server.url);
    server.stop();
    serve.spawn();
    // The SSH server is up, and the first Tang round failed, naming the device and server.
    serve.wait_for_log("ssh: listening");
    serve.wait_for_log(&format!("unlock: crypted: tang: {}", serve.dir.0.join("disk.img").display()));
    let out = serve.ssh_unlock("first passphrase");
    assert!(
        out.status.success(),
        "ssh unlock: {}; log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        serve.log()
    );
    assert!(serve.finished().success(), "log:\n{}", serve.log());
    let log = serve.log();
    assert_contains(&log, &[&server.url, "keyslot 0"]);
    assert!(!log.contains("opened by tang"), "{log}");
}

#[test]
fn tang_coming_up_later_opens_the_disk_by_itself_and_errors_are_said_once() {
    let mut server = TangServer::start("race-later");
    let mut serve = Serve::prepare("later", &server.url);
    server.stop();
    serve.spawn();
    let failed = format!("unlock: crypted: tang: {} token 0", serve.dir.0.join("disk.img").display());
    serve.wait_for_log(&failed);
    // Several rounds fail (1 + 2 s of backoff) before the server comes back: not a timed
    // assertion, only a chance for the repeated error to be (wrongly) logged again.
    std::thread::sleep(Duration::from_secs(4));
    server.serve();
    assert!(serve.finished().success(), "log:\n{}", serve.log());
    let log = serve.log();
    assert_contains(&log, &[&format!("unlock: crypted: opened by tang ({})", server.url)]);
    assert_eq!(log.matches(&failed).count(), 1, "one line per distinct error; log:\n{log}");
}

/// systemdAgent mode: a real `systemd-ask-password` request for a clevis-bound LUKS2 header
/// (`--id=cryptsetup:FILE`, as systemd-cryptsetup asks) is answered with the secret the real
/// tangd gives, with no prompt; a ZFS-style request beside it (no Id) gets nothing from Tang.
/// In a private mount namespace (its own /run).
#[test]
fn systemd_agent_mode_answers_a_cryptsetup_request_with_tang() {
    common::require_root();
    let server = TangServer::start("agent");
    let dir = Dir::new("agent");
    let disk = luks_file(&dir.0);
    let bind = format!(r#"{{"url":"{}"}}"#, server.url);
    run(
        Command::new("clevis").args(["luks", "bind", "-y", "-k", "-", "-d"]).arg(&disk).args(["tang", &bind]),
        "first passphrase",
    );
    let secret = run(Command::new("clevis").args(["luks", "pass", "-d"]).arg(&disk).args(["-s", "1"]), "");
    let config = agent_config(&dir.0, r#"{"timeoutSeconds": 5}"#);
    let script = format!(
        r#"set -u
mount -t tmpfs tmpfs /run
mkdir -p /run/systemd/ask-password
RUST_LOG=info {lethe} serve --config {config} 2> {out}/serve.log &
serve=$!
systemd-ask-password --no-tty --timeout=100 "Enter key for tank/secure:" > {out}/zfs.out &
zfs=$!
systemd-ask-password --no-tty --timeout=100 --id=cryptsetup:{disk} "Please enter passphrase for disk crypted:" > {out}/sap.out
echo $? > {out}/sap.rc
# Tang answered the disk's request; the dataset's still waits for its own passphrase.
if kill -0 $zfs; then echo waiting > {out}/zfs.state; fi
kill $zfs
# lethe says who answered once the answer is delivered: the asker may return first.
for i in $(seq 50); do grep -q 'tang answered the password request' {out}/serve.log && break; sleep 0.1; done
kill -TERM $serve
wait $serve
echo $? > {out}/serve.rc
"#,
        lethe = common::lethe().display(),
        config = config.display(),
        out = dir.0.display(),
        disk = disk.display(),
    );
    let status =
        Command::new("timeout").args(["120", "unshare", "-m", "sh", "-c", &script]).status().unwrap();
    let read = |name: &str| std::fs::read_to_string(dir.0.join(name)).unwrap_or_default();
    let log = read("serve.log");
    assert!(status.success(), "namespace script: {status}; log:\n{log}");
    assert_eq!(read("sap.rc").trim(), "0", "log:\n{log}");
    assert_eq!(read("sap.out"), format!("{secret}\n"), "log:\n{log}");
    assert_eq!(read("zfs.state").trim(), "waiting", "log:\n{log}");
    assert_eq!(read("zfs.out"), "", "log:\n{log}");
    assert_eq!(read("serve.rc").trim(), "0", "log:\n{log}");
    let id = format!("cryptsetup:{}", disk.display());
    assert_contains(&log, &[&format!("unlock: {id}: tang answered the password request ({})", server.url)]);
    assert!(!log.contains(secret.trim()) && !log.contains("first passphrase"), "a secret in the log:\n{log}");
}

/// NixOS's path: systemd-cryptsetup asks for a `boot.initrd.luks.devices` name and the JWE comes
/// from `unlock.tang.secretFiles` under that name (no token in the header, no `unlock.devices`).
#[test]
fn systemd_agent_mode_answers_from_a_secret_file_named_like_the_request() {
    common::require_root();
    let server = TangServer::start("agent-file");
    let dir = Dir::new("agent-file");
    let jwe = dir.0.join("crypted.jwe");
    let bind = format!(r#"{{"url":"{}"}}"#, server.url);
    let encrypted =
        run(Command::new("clevis").args(["encrypt", "tang", &bind, "-y"]), "the disk's passphrase");
    std::fs::write(&jwe, encrypted).unwrap();
    let config =
        agent_config(&dir.0, &format!(r#"{{"timeoutSeconds": 5, "secretFiles": {{"crypted": {jwe:?}}}}}"#));
    let script = format!(
        r#"set -u
mount -t tmpfs tmpfs /run
mkdir -p /run/systemd/ask-password
RUST_LOG=info {lethe} serve --config {config} 2> {out}/serve.log &
serve=$!
systemd-ask-password --no-tty --timeout=100 --id=cryptsetup:/dev/disk/by-partlabel/nowhere "Please enter passphrase for disk crypted:" > {out}/sap.out
echo $? > {out}/sap.rc
# lethe says who answered once the answer is delivered: the asker may return first.
for i in $(seq 50); do grep -q 'tang answered the password request' {out}/serve.log && break; sleep 0.1; done
kill -TERM $serve
wait $serve
"#,
        lethe = common::lethe().display(),
        config = config.display(),
        out = dir.0.display(),
    );
    let status =
        Command::new("timeout").args(["120", "unshare", "-m", "sh", "-c", &script]).status().unwrap();
    let read = |name: &str| std::fs::read_to_string(dir.0.join(name)).unwrap_or_default();
    let log = read("serve.log");
    assert!(status.success(), "namespace script: {status}; log:\n{log}");
    assert_eq!(read("sap.rc").trim(), "0", "log:\n{log}");
    assert_eq!(read("sap.out"), "the disk's passphrase\n", "log:\n{log}");
    assert_contains(&log, &["tang answered the password request"]);
}

/// A systemdAgent-mode config in `dir` with an SSH door (the only prompt: no console) and
/// `tang` as its `unlock.tang` section.
fn agent_config(dir: &Path, tang: &str) -> PathBuf {
    let host_key = dir.join("host_key");
    let status =
        Command::new("ssh-keygen").args(["-q", "-t", "ed25519", "-N", "", "-f"]).arg(&host_key).status();
    assert!(status.unwrap().success());
    let public = std::fs::read_to_string(host_key.with_extension("pub")).unwrap();
    let config = dir.join("config.json");
    std::fs::write(
        &config,
        format!(
            r#"{{"version": 1,
              "ssh": {{"port": {port}, "hostKeys": [{host_key:?}], "authorizedKeys": [{public:?}]}},
              "unlock": {{"systemdAgent": true, "console": false, "tang": {tang}}}}}"#,
            port = free_port(),
            public = public.trim(),
        ),
    )
    .unwrap();
    config
}
