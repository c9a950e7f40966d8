//! The systemd password-agent protocol (systemd.io/PASSWORD_AGENTS): systemd-cryptsetup, like
//! anything calling `systemd-ask-password`, writes `/run/systemd/ask-password/ask.*` (an ini
//! file with an `[Ask]` section) and waits on the unix datagram socket it names; an agent sends
//! `+passphrase` (or `-` to cancel) there as one datagram. Several agents may run: the first
//! answer wins, and the asker removes its file.
//!
//! Parsing and the liveness decision are pure functions; reading the directory and sending are
//! the small layer around them. The directory is polled (it is tiny, on tmpfs, and may not exist
//! yet when lethe starts).

use super::{Attempt, Passphrase};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use zeroize::Zeroizing;

pub(crate) const ASK_DIR: &str = "/run/systemd/ask-password";

/// One password request, as parsed from an `ask.*` file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Request {
    /// The `ask.*` file it came from (empty from `parse`; set by the scan).
    pub file: PathBuf,
    /// The asking process: a request whose asker died is stale.
    pub pid: Option<i32>,
    /// Where the answer goes (an absolute path).
    pub socket: PathBuf,
    /// CLOCK_MONOTONIC deadline in microseconds; 0 = none.
    pub not_after_us: u64,
    /// The asker accepts a cached passphrase.
    pub accept_cached: bool,
    /// The asker wants the input shown while typed (not a secret).
    pub echo: bool,
    /// The asker wants nothing shown while typed, not even asterisks.
    pub silent: bool,
    pub message: String,
    /// What is asked for, e.g. `cryptsetup:/dev/vda2`.
    pub id: Option<String>,
    /// When the `ask.*` file was written (its mtime, nanoseconds since the epoch; 0 from
    /// `parse`): requests are listed and offered oldest first.
    pub posted_ns: u128,
}

fn boolean(key: &str, value: &str) -> Result<bool, String> {
    match value.to_ascii_lowercase().as_str() {
        "1" | "yes" | "y" | "true" | "t" | "on" => Ok(true),
        "0" | "no" | "n" | "false" | "f" | "off" => Ok(false),
        _ => Err(format!("{key}={value}: expected 0 or 1")),
    }
}

/// Parses the text of an `ask.*` file. Unknown keys and sections are ignored, as the spec asks
/// (the format grows); a missing or bad `Socket=`, `PID=` or `NotAfter=` is an error.
pub(crate) fn parse(text: &str) -> Result<Request, String> {
    let mut in_ask = false;
    let mut seen_ask = false;
    let mut socket = None;
    let mut request = Request {
        file: PathBuf::new(),
        pid: None,
        socket: PathBuf::new(),
        not_after_us: 0,
        accept_cached: false,
        echo: false,
        silent: false,
        message: String::new(),
        id: None,
        posted_ns: 0,
    };
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if line.starts_with('[') {
            let Some(section) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) else {
                return Err(format!("line {}: bad section header {line:?}", n + 1));
            };
            in_ask = section == "Ask";
            seen_ask |= in_ask;
            continue;
        }
        if !in_ask {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            return Err(format!("line {}: expected KEY=VALUE, got {line:?}", n + 1));
        };
        let (key, value) = (key.trim(), value.trim());
        match key {
            "PID" => match value.parse::<i32>() {
                Ok(pid) if pid > 0 => request.pid = Some(pid),
                _ => return Err(format!("PID={value}: expected a process id")),
            },
            "Socket" => socket = Some(value.to_string()),
            "NotAfter" => {
                request.not_after_us =
                    value.parse().map_err(|_| format!("NotAfter={value}: expected microseconds"))?
            }
            "AcceptCached" => request.accept_cached = boolean(key, value)?,
            "Echo" => request.echo = boolean(key, value)?,
            "Silent" => request.silent = boolean(key, value)?,
            "Message" => request.message = value.to_string(),
            "Id" => request.id = Some(value.to_string()),
            _ => {}
        }
    }
    if !seen_ask {
        return Err("no [Ask] section".into());
    }
    match socket {
        Some(s) if s.starts_with('/') => request.socket = PathBuf::from(s),
        Some(s) => return Err(format!("Socket={s}: expected an absolute path")),
        None => return Err("no Socket= line".into()),
    }
    Ok(request)
}

/// Why a well-formed request is not answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stale {
    Expired,
    AskerGone,
    /// `Echo=1`: the asker shows what is typed, so it is not asking for a secret.
    Echoed,
}

/// Whether `request` still waits, at monotonic time `now_us`, given whether its asker lives.
pub(crate) fn staleness(request: &Request, now_us: u64, asker_alive: bool) -> Option<Stale> {
    if request.echo {
        Some(Stale::Echoed)
    } else if request.not_after_us != 0 && now_us > request.not_after_us {
        Some(Stale::Expired)
    } else if !asker_alive {
        Some(Stale::AskerGone)
    } else {
        None
    }
}

/// What a request's message asks for: the words after its last " for ", without the
/// trailing ':' and a leading "disk " (`tank/secure` of NixOS' ZFS "Enter key for
/// tank/secure:", `crypted` of systemd-cryptsetup's "Please enter passphrase for disk
/// crypted:", `/` of NixOS' bcachefs "enter passphrase for /"). `None` without " for ".
pub(crate) fn subject(message: &str) -> Option<&str> {
    let at = message.to_ascii_lowercase().rfind(" for ")?;
    let rest = message[at + " for ".len()..].trim_end().trim_end_matches(':').trim();
    let rest = rest.strip_prefix("disk ").unwrap_or(rest).trim();
    (!rest.is_empty()).then_some(rest)
}

/// The names `unlock TARGET` matches a request by, exactly: its `Id=` (`cryptsetup:/dev/vda2`),
/// the Id after its `KIND:` prefix (`/dev/vda2`), the subject of its message (see [`subject`])
/// and, when the subject ends in a name in parentheses (systemd-cryptsetup's "Samsung SSD
/// (crypted)"), that name.
pub(crate) fn names(request: &Request) -> Vec<&str> {
    let mut names = Vec::new();
    if let Some(id) = request.id.as_deref().filter(|id| !id.is_empty()) {
        names.push(id);
        if let Some((_, rest)) = id.split_once(':').filter(|(_, rest)| !rest.is_empty()) {
            names.push(rest);
        }
    }
    if let Some(subject) = subject(&request.message) {
        names.push(subject);
        let inner = subject.strip_suffix(')').and_then(|s| s.rsplit_once(" (")).map(|(_, n)| n);
        if let Some(inner) = inner.filter(|n| !n.is_empty()) {
            names.push(inner);
        }
    }
    names.dedup();
    names
}

/// The one target shown for a request (in `status`, and when asked to choose): the innermost
/// name its message gives, else its Id's device; `None` when it has no name at all.
pub(crate) fn target(request: &Request) -> Option<&str> {
    let names = names(request);
    let from_message = subject(&request.message).map(|s| {
        let inner = s.strip_suffix(')').and_then(|s| s.rsplit_once(" (")).map(|(_, n)| n);
        inner.filter(|n| !n.is_empty()).unwrap_or(s)
    });
    from_message.or_else(|| names.get(1).or(names.first()).copied())
}

/// The pending requests as a numbered list, shown before their prompts when several wait.
pub(crate) fn list(requests: &[Request]) -> String {
    let mut text = format!(
        "{} password requests wait; each prompt is for one of them (an empty line skips to the next):\n",
        requests.len()
    );
    for (i, r) in requests.iter().enumerate() {
        text.push_str(&format!("  {}. {}\n", i + 1, describe(r)));
    }
    text
}

/// Oldest first (by when the `ask.*` file was written, then by its name): the order requests
/// are listed, numbered and prompted in.
pub(crate) fn order(requests: &mut [Request]) {
    requests.sort_by(|a, b| (a.posted_ns, &a.file).cmp(&(b.posted_ns, &b.file)));
}

/// Which of `requests` (in [`order`]) to prompt for after the one in `last`: the next one
/// (round the end), or the oldest when `last` is none of them (answered, or the first prompt).
pub(crate) fn next(requests: &[Request], last: Option<&Path>) -> usize {
    match last.and_then(|l| requests.iter().position(|r| r.file == l)) {
        Some(i) => (i + 1) % requests.len().max(1),
        None => 0,
    }
}

/// Which request a passphrase goes to.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Pick<'a> {
    /// This one, and no other.
    One(&'a Request),
    /// No request (for that target) waits now: wait for one.
    Nothing,
    /// More than one would fit: refuse, never guess (a wrong passphrase costs a try).
    Several(Vec<&'a Request>),
}

/// The request `target` names (see [`names`]), or without a target the only pending one: one
/// passphrase never goes to two requests, nor to one it was not meant for.
pub(crate) fn pick<'a>(requests: &'a [Request], target: Option<&str>) -> Pick<'a> {
    let mut fitting: Vec<&Request> = match target {
        Some(t) => requests.iter().filter(|r| names(r).contains(&t)).collect(),
        None => requests.iter().collect(),
    };
    match fitting.len() {
        0 => Pick::Nothing,
        1 => Pick::One(fitting.remove(0)),
        _ => Pick::Several(fitting),
    }
}

/// A request as a person sees it in a list: its message, and the target that names it.
pub(crate) fn describe(request: &Request) -> String {
    match target(request) {
        Some(t) => format!("{} (unlock {t})", request.message),
        None => request.message.clone(),
    }
}

/// The datagram that answers a request: `+passphrase`, or `-` to cancel it.
pub(crate) fn reply(passphrase: Option<&Passphrase>) -> Zeroizing<Vec<u8>> {
    let mut datagram = Zeroizing::new(Vec::with_capacity(1 + passphrase.map_or(0, |p| p.as_bytes().len())));
    match passphrase {
        Some(p) => {
            datagram.push(b'+');
            datagram.extend_from_slice(p.as_bytes());
        }
        None => datagram.push(b'-'),
    }
    datagram
}

fn monotonic_us() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    t.tv_sec as u64 * 1_000_000 + t.tv_nsec as u64 / 1_000
}

fn alive(pid: Option<i32>) -> bool {
    let Some(pid) = pid.and_then(rustix::process::Pid::from_raw) else {
        return true;
    };
    // EPERM means it exists but is not ours to signal: still alive.
    !matches!(rustix::process::test_kill_process(pid), Err(rustix::io::Errno::SRCH))
}

/// The agent's memory across scans: what it already logged, and what it already answered.
#[derive(Debug)]
pub(crate) struct Agent {
    dir: PathBuf,
    /// `ask.*` files already reported (bad, stale or new), so each is logged once.
    reported: Mutex<HashSet<PathBuf>>,
    /// `ask.*` files already answered: the asker removes them soon, but may not have yet.
    answered: Mutex<HashSet<PathBuf>>,
}

impl Agent {
    pub(crate) fn new(dir: PathBuf) -> Agent {
        Agent { dir, reported: Mutex::default(), answered: Mutex::default() }
    }

    fn report_once(&self, file: &Path, line: impl FnOnce() -> String, warn: bool) {
        if self.reported.lock().unwrap().insert(file.to_path_buf()) {
            if warn {
                log::warn!("{}", line());
            } else {
                log::info!("{}", line());
            }
        }
    }

    /// The requests in the directory that still wait for an answer, oldest first ([`order`]).
    pub(crate) fn live_requests(&self) -> Vec<Request> {
        let answered = self.answered.lock().unwrap().clone();
        let now = monotonic_us();
        let mut requests: Vec<Request> = self
            .ask_files()
            .into_iter()
            .filter(|file| !answered.contains(file))
            .filter_map(|file| self.read_request(file))
            .filter(|request| self.is_live(request, now))
            .collect();
        order(&mut requests);
        requests
    }

    /// The `ask.*` files of the directory, sorted; forgets answered and reported files that are
    /// gone, so those sets stay small.
    fn ask_files(&self) -> Vec<PathBuf> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Vec::new(),
            Err(e) => {
                self.report_once(
                    &self.dir,
                    || format!("unlock: {}: cannot list: {e}", self.dir.display()),
                    true,
                );
                return Vec::new();
            }
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().starts_with("ask."))
            .map(|e| e.path())
            .collect();
        files.sort();
        let exists = |f: &PathBuf| files.contains(f);
        self.answered.lock().unwrap().retain(exists);
        self.reported.lock().unwrap().retain(|f| exists(f) || f == &self.dir);
        files
    }

    /// The request in `file`; `None` (reported once) when it cannot be read or parsed.
    fn read_request(&self, file: PathBuf) -> Option<Request> {
        let text = match std::fs::read_to_string(&file) {
            Ok(t) => t,
            // Removed between listing and reading: answered elsewhere or given up.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
            Err(e) => {
                self.report_once(&file, || format!("unlock: {}: cannot read: {e}", file.display()), true);
                return None;
            }
        };
        let mut request = match parse(&text) {
            Ok(r) => r,
            Err(e) => {
                self.report_once(
                    &file,
                    || format!("unlock: {}: ignoring malformed password request: {e}", file.display()),
                    true,
                );
                return None;
            }
        };
        request.posted_ns = std::fs::metadata(&file)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        request.file = file;
        Some(request)
    }

    /// Whether `request` still waits for an answer (not expired, its asker alive); says once
    /// which requests are seen and which are ignored.
    fn is_live(&self, request: &Request, now: u64) -> bool {
        let file = &request.file;
        match staleness(request, now, alive(request.pid)) {
            Some(Stale::Expired) => {
                self.report_once(
                    file,
                    || format!("unlock: {}: ignoring expired password request", file.display()),
                    false,
                );
                false
            }
            Some(Stale::Echoed) => {
                self.report_once(
                    file,
                    || {
                        format!(
                            "unlock: {}: ignoring a request that is not for a secret (Echo=1)",
                            file.display()
                        )
                    },
                    false,
                );
                false
            }
            Some(Stale::AskerGone) => {
                self.report_once(
                    file,
                    || {
                        format!(
                            "unlock: {}: ignoring password request of process {} (gone)",
                            file.display(),
                            request.pid.unwrap_or(0)
                        )
                    },
                    false,
                );
                false
            }
            None => {
                self.report_once(
                    file,
                    || format!("unlock: systemd asks: {:?} ({})", request.message, file.display()),
                    false,
                );
                true
            }
        }
    }

    /// Sends `passphrase` to `request` alone, when it still waits (not answered meanwhile, its
    /// file still there). `Unlocked { opened }` names its message: whether the passphrase was
    /// right, only the asker knows.
    pub(crate) fn answer(&self, request: &Request, passphrase: &Passphrase) -> Attempt {
        {
            // Claimed before sending: two prompts never both answer one request.
            let mut answered = self.answered.lock().unwrap();
            if answered.contains(&request.file) || !request.file.exists() {
                return Attempt::NothingPending;
            }
            answered.insert(request.file.clone());
        }
        match send(&request.socket, &reply(Some(passphrase))) {
            Ok(()) => {
                log::info!("unlock: passphrase sent for {:?} ({})", request.message, request.file.display());
                Attempt::Unlocked { opened: vec![request.message.clone()] }
            }
            Err(e) => {
                self.answered.lock().unwrap().remove(&request.file);
                Attempt::Failed(format!("{}: cannot send the answer: {e}", request.socket.display()))
            }
        }
    }
}

fn send(socket: &Path, datagram: &[u8]) -> std::io::Result<()> {
    let sock = std::os::unix::net::UnixDatagram::unbound()?;
    let n = sock.send_to(datagram, socket)?;
    if n != datagram.len() {
        return Err(std::io::Error::other("short send"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SYSTEMD_252: &str = "[Ask]\nPID=11891\nSocket=/run/systemd/ask-password/sck.2133dd88c9a6dd94\n\
        AcceptCached=1\nEcho=0\nNotAfter=852804224\nSilent=0\n\
        Message=Please enter passphrase for disk crypted:\nId=cryptsetup:/dev/vda2\n";

    #[test]
    fn parses_what_systemd_ask_password_writes() {
        let r = parse(SYSTEMD_252).unwrap();
        assert_eq!(r.pid, Some(11891));
        assert_eq!(r.socket, PathBuf::from("/run/systemd/ask-password/sck.2133dd88c9a6dd94"));
        assert_eq!(r.not_after_us, 852804224);
        assert!(r.accept_cached && !r.echo && !r.silent);
        assert_eq!(r.message, "Please enter passphrase for disk crypted:");
        assert_eq!(r.id.as_deref(), Some("cryptsetup:/dev/vda2"));
    }

    #[test]
    fn tolerates_what_the_spec_allows() {
        let text = "# comment\n[Other]\nSocket=relative\n\n[Ask]\n Socket = /s \nFuture=1\nEcho=yes\n";
        let r = parse(text).unwrap();
        assert_eq!(r.socket, PathBuf::from("/s"));
        assert!(r.echo);
        assert_eq!((r.pid, r.not_after_us, r.message.as_str()), (None, 0, ""));
        // A message may itself hold '='.
        assert_eq!(parse("[Ask]\nSocket=/s\nMessage=a=b\n").unwrap().message, "a=b");
    }

    #[test]
    fn rejects_malformed_requests_saying_why() {
        let cases = [
            ("", "no [Ask] section"),
            ("[Ask]\nPID=1\n", "no Socket= line"),
            ("[Ask]\nSocket=sck.1\n", "Socket=sck.1: expected an absolute path"),
            ("[Ask]\nSocket=/s\nPID=abc\n", "PID=abc: expected a process id"),
            ("[Ask]\nSocket=/s\nPID=-4\n", "PID=-4: expected a process id"),
            ("[Ask]\nSocket=/s\nNotAfter=soon\n", "NotAfter=soon: expected microseconds"),
            ("[Ask]\nSocket=/s\nEcho=maybe\n", "Echo=maybe: expected 0 or 1"),
            ("[Ask]\nSocket=/s\ngarbage\n", "line 3: expected KEY=VALUE, got \"garbage\""),
            ("[Ask\nSocket=/s\n", "line 1: bad section header \"[Ask\""),
        ];
        for (text, expected) in cases {
            assert_eq!(parse(text), Err(expected.to_string()), "{text:?}");
        }
    }

    #[test]
    fn staleness_by_deadline_and_asker() {
        let r = parse("[Ask]\nSocket=/s\nNotAfter=1000\n").unwrap();
        assert_eq!(staleness(&r, 999, true), None);
        assert_eq!(staleness(&r, 1000, true), None);
        assert_eq!(staleness(&r, 1001, true), Some(Stale::Expired));
        assert_eq!(staleness(&r, 10, false), Some(Stale::AskerGone));
        let forever = parse("[Ask]\nSocket=/s\nNotAfter=0\n").unwrap();
        assert_eq!(staleness(&forever, u64::MAX, true), None);
    }

    fn request(file: &str, posted_ns: u128, message: &str, id: Option<&str>) -> Request {
        Request {
            file: PathBuf::from(file),
            pid: None,
            socket: PathBuf::from("/s"),
            not_after_us: 0,
            accept_cached: false,
            echo: false,
            silent: false,
            message: message.to_string(),
            id: id.map(String::from),
            posted_ns,
        }
    }

    #[test]
    fn echoed_requests_are_not_for_secrets() {
        let r = parse("[Ask]\nSocket=/s\nEcho=1\n").unwrap();
        assert_eq!(staleness(&r, 0, true), Some(Stale::Echoed));
    }

    #[test]
    fn names_a_target_matches() {
        // (message, Id, the names it is matched by, the target shown)
        type Case<'a> = (&'a str, Option<&'a str>, &'a [&'a str], Option<&'a str>);
        let cases: &[Case] = &[
            // systemd-cryptsetup (252): Id names the source device, the message the volume.
            (
                "Please enter passphrase for disk crypted:",
                Some("cryptsetup:/dev/vda2"),
                &["cryptsetup:/dev/vda2", "/dev/vda2", "crypted"],
                Some("crypted"),
            ),
            // ... with a udev description of the disk before the volume name.
            (
                "Please enter passphrase for disk Samsung SSD (root):",
                Some("cryptsetup:/dev/disk/by-uuid/1234"),
                &[
                    "cryptsetup:/dev/disk/by-uuid/1234",
                    "/dev/disk/by-uuid/1234",
                    "Samsung SSD (root)",
                    "root",
                ],
                Some("root"),
            ),
            // NixOS' ZFS import: systemd-ask-password without --id.
            ("Enter key for tank/secure:", None, &["tank/secure"], Some("tank/secure")),
            // NixOS' bcachefs unlock.
            ("enter passphrase for /", None, &["/"], Some("/")),
            // Something else, with an Id only.
            ("Password:", Some("myapp:token"), &["myapp:token", "token"], Some("token")),
            ("Password:", None, &[], None),
            ("Enter key for :", Some(""), &[], None),
        ];
        for (message, id, names_want, target_want) in cases {
            let r = request("/a", 0, message, *id);
            assert_eq!(&names(&r), names_want, "{message:?} {id:?}");
            assert_eq!(target(&r), *target_want, "{message:?} {id:?}");
        }
    }

    #[test]
    fn one_passphrase_goes_to_one_request() {
        let luks =
            request("/ask.b", 1, "Please enter passphrase for disk crypted:", Some("cryptsetup:/dev/vda2"));
        let zfs = request("/ask.a", 2, "Enter key for tank/secure:", None);
        let zfs2 = request("/ask.c", 3, "Enter key for tank/secure2:", None);
        let both = [luks.clone(), zfs.clone()];
        let cases: &[(&[Request], Option<&str>, Pick)] = &[
            (&[], None, Pick::Nothing),
            (&[], Some("tank/secure"), Pick::Nothing),
            (&both[..1], None, Pick::One(&luks)),
            // Several and no target: never guessed.
            (&both, None, Pick::Several(vec![&luks, &zfs])),
            (&both, Some("tank/secure"), Pick::One(&zfs)),
            (&both, Some("crypted"), Pick::One(&luks)),
            (&both, Some("/dev/vda2"), Pick::One(&luks)),
            (&both, Some("cryptsetup:/dev/vda2"), Pick::One(&luks)),
            // Exact names only: a prefix, another case or a pool name is no match.
            (&both, Some("tank"), Pick::Nothing),
            (&both, Some("Crypted"), Pick::Nothing),
            (&both, Some("vda2"), Pick::Nothing),
            // The request it names has not come yet, while another waits: wait for it.
            (&both[..1], Some("tank/secure"), Pick::Nothing),
        ];
        for (requests, target, want) in cases {
            assert_eq!(&pick(requests, *target), want, "{target:?} among {}", requests.len());
        }
        let three = [luks.clone(), zfs.clone(), zfs2.clone()];
        assert_eq!(pick(&three, Some("tank/secure2")), Pick::One(&zfs2));
        let twice = [zfs.clone(), request("/ask.d", 4, "Enter key for tank/secure:", None)];
        assert!(matches!(pick(&twice, Some("tank/secure")), Pick::Several(v) if v.len() == 2));
    }

    #[test]
    fn oldest_first_and_the_next_prompt() {
        let mut requests = vec![
            request("/ask.z", 5, "c", None),
            request("/ask.y", 1, "a", None),
            request("/ask.x", 5, "b", None),
        ];
        order(&mut requests);
        let files: Vec<&str> = requests.iter().map(|r| r.file.to_str().unwrap()).collect();
        assert_eq!(files, ["/ask.y", "/ask.x", "/ask.z"]);
        let cases: &[(Option<&str>, usize)] = &[
            (None, 0),
            (Some("/ask.y"), 1),
            (Some("/ask.x"), 2),
            (Some("/ask.z"), 0),        // round the end
            (Some("/ask.answered"), 0), // gone: the oldest again
        ];
        for (last, want) in cases {
            assert_eq!(next(&requests, last.map(Path::new)), *want, "{last:?}");
        }
        assert_eq!(next(&[], None), 0);
    }

    #[test]
    fn a_list_names_each_target() {
        let requests = [
            request("/a", 1, "Please enter passphrase for disk crypted:", Some("cryptsetup:/dev/vda2")),
            request("/b", 2, "Enter key for tank/secure:", None),
        ];
        assert_eq!(
            list(&requests),
            "2 password requests wait; each prompt is for one of them (an empty line skips to the next):\n  \
             1. Please enter passphrase for disk crypted: (unlock crypted)\n  \
             2. Enter key for tank/secure: (unlock tank/secure)\n"
        );
    }

    #[test]
    fn reply_datagrams() {
        assert_eq!(&**reply(Some(&Passphrase::new(b"s3cret".to_vec()))), b"+s3cret");
        assert_eq!(&**reply(None), b"-");
    }
}
