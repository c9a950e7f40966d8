//! Logging set-up: `RUST_LOG` filters (default `info`); where the lines go depends on who reads
//! them. The journal and the kernel log understand `<N>` syslog priority prefixes, a terminal
//! does not; as PID 1 with no journal yet, only `/dev/kmsg` keeps what we say.
//! Secrets never reach a log call: passphrases live in zeroizing buffers that have no Display.

use std::io::Write;

/// Where log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sink {
    /// A terminal or file: plain `lethe: warning: ...` lines.
    Stderr,
    /// stderr is the journal (`JOURNAL_STREAM`) or the kernel log: `<N>` prefixes.
    StderrWithPriority,
    /// PID 1 with no journal: one record per line into `/dev/kmsg`.
    Kmsg,
}

/// What decides the sink, gathered from the process so the decision itself is pure.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Surroundings {
    pub is_pid1: bool,
    pub stderr_is_journal: bool,
    pub stderr_is_kmsg: bool,
}

pub(crate) fn choose_sink(s: Surroundings) -> Sink {
    if s.stderr_is_journal || s.stderr_is_kmsg {
        Sink::StderrWithPriority
    } else if s.is_pid1 {
        Sink::Kmsg
    } else {
        Sink::Stderr
    }
}

/// syslog priority of a log level (RFC 5424 severities).
pub(crate) fn priority(level: log::Level) -> u8 {
    match level {
        log::Level::Error => 3,
        log::Level::Warn => 4,
        log::Level::Info => 6,
        log::Level::Debug | log::Level::Trace => 7,
    }
}

/// One log line, without the trailing newline.
pub(crate) fn format_line(sink: Sink, level: log::Level, message: &str) -> String {
    let label = match level {
        log::Level::Error => "error: ",
        log::Level::Warn => "warning: ",
        log::Level::Info => "",
        log::Level::Debug => "debug: ",
        log::Level::Trace => "trace: ",
    };
    match sink {
        Sink::Stderr => format!("lethe: {label}{message}"),
        Sink::StderrWithPriority | Sink::Kmsg => format!("<{}>lethe: {label}{message}", priority(level)),
    }
}

fn surroundings() -> Surroundings {
    let stderr = rustix::stdio::stderr();
    let stat = rustix::fs::fstat(stderr).ok();
    // JOURNAL_STREAM is "device:inode" of the journal's socket; it only counts when stderr is
    // still that socket (a child may have redirected it).
    let stderr_is_journal = match (std::env::var("JOURNAL_STREAM"), &stat) {
        (Ok(v), Some(st)) => v == format!("{}:{}", st.st_dev, st.st_ino),
        _ => false,
    };
    let stderr_is_kmsg = stat.is_some_and(|st| {
        let rdev = st.st_rdev;
        rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::CharacterDevice
            && rustix::fs::major(rdev) == 1
            && rustix::fs::minor(rdev) == 11
    });
    Surroundings { is_pid1: rustix::process::getpid().is_init(), stderr_is_journal, stderr_is_kmsg }
}

/// Where lines go now: set by [`init`], re-pointed by [`reopen`] once `/dev` is mounted.
static SINK: std::sync::Mutex<Option<(Sink, Option<std::fs::File>)>> = std::sync::Mutex::new(None);

/// The logger's writer: each line as its own `/dev/kmsg` record (the kernel takes one record
/// per write) when the sink is the kernel log, else stderr.
struct Output;

impl Write for Output {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut sink = SINK.lock().unwrap_or_else(|e| e.into_inner());
        match sink.as_mut() {
            Some((Sink::Kmsg, Some(kmsg))) => write_records(kmsg, buf),
            _ => {
                let _ = std::io::stderr().write_all(buf);
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Writes each line of `buf` as one `/dev/kmsg` record (the kernel takes one record per write),
/// newline included: a record without one is left open for a continuation, and the kernel
/// prints it (console, dmesg) only when the next record arrives, from anyone. Without it the
/// last line before a quiet spell stayed invisible: "ssh: listening" while SSH waited, or
/// "DHCP lease ..." while the console prompt waited, which read as a stalled stage 1.
fn write_records(kmsg: &mut impl Write, buf: &[u8]) {
    let mut record = Vec::new();
    for line in buf.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        record.clear();
        record.extend_from_slice(line);
        record.push(b'\n');
        // A record the kernel refuses (too long, kmsg rate limit) is not worth failing for.
        let _ = kmsg.write(&record);
    }
}

fn current_sink() -> Sink {
    SINK.lock().unwrap_or_else(|e| e.into_inner()).as_ref().map_or(Sink::Stderr, |(s, _)| *s)
}

/// Chooses the sink from the surroundings; `/dev/kmsg` that cannot be opened (a minimal initrd
/// without the node, before devtmpfs is mounted) means stderr, the console, for now.
fn point() {
    let mut sink = choose_sink(surroundings());
    let mut kmsg = None;
    if sink == Sink::Kmsg {
        match std::fs::OpenOptions::new().write(true).open("/dev/kmsg") {
            Ok(file) => kmsg = Some(file),
            Err(_) => sink = Sink::Stderr,
        }
    }
    *SINK.lock().unwrap_or_else(|e| e.into_inner()) = Some((sink, kmsg));
}

/// Installs the logger once, for the whole process.
pub fn init() {
    point();
    let mut builder = env_logger::Builder::new();
    builder.parse_env(env_logger::Env::default().default_filter_or("info"));
    builder.target(env_logger::Target::Pipe(Box::new(Output)));
    builder.format(|out, record| {
        writeln!(out, "{}", format_line(current_sink(), record.level(), &record.args().to_string()))
    });
    let _ = builder.try_init();
}

/// Chooses the sink again: stage 1 calls it once `/dev` is mounted, so PID 1 started from an
/// initrd without a `/dev/kmsg` node moves from the console to the kernel log.
pub(crate) fn reopen() {
    if current_sink() != Sink::Kmsg {
        point();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sink_follows_the_reader() {
        let s = |is_pid1, stderr_is_journal, stderr_is_kmsg| {
            choose_sink(Surroundings { is_pid1, stderr_is_journal, stderr_is_kmsg })
        };
        assert_eq!(s(false, false, false), Sink::Stderr);
        assert_eq!(s(false, true, false), Sink::StderrWithPriority);
        assert_eq!(s(false, false, true), Sink::StderrWithPriority);
        assert_eq!(s(true, false, false), Sink::Kmsg);
        assert_eq!(s(true, true, false), Sink::StderrWithPriority);
    }

    /// Each write call, as the kernel would see it.
    #[derive(Default)]
    struct Records(Vec<Vec<u8>>);

    impl Write for Records {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.push(buf.to_vec());
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn each_line_is_one_record_ending_in_a_newline() {
        // A record without its newline is left open for a continuation: the kernel shows it
        // (console, dmesg) only once the next record arrives, so the last line before a quiet
        // spell ("ssh: listening", "DHCP lease ...") stays invisible.
        let mut out = Records::default();
        write_records(&mut out, b"<6>lethe: one\n<6>lethe: two\n\n<4>lethe: three");
        let want: Vec<&[u8]> = vec![b"<6>lethe: one\n", b"<6>lethe: two\n", b"<4>lethe: three\n"];
        assert_eq!(out.0, want);
    }

    /// The real kernel log: a line written through [`write_records`] can be read back from
    /// `/dev/kmsg` at once, before anything else is logged. (Needs root, as CI runs.)
    #[test]
    fn a_line_is_readable_from_the_kernel_log_at_once() {
        use std::io::{Read, Seek, SeekFrom};
        use std::os::unix::fs::OpenOptionsExt;
        let mut reader = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open("/dev/kmsg")
            .expect("/dev/kmsg: cannot open for reading");
        reader.seek(SeekFrom::End(0)).expect("/dev/kmsg: cannot seek to the end");
        let mut writer = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/kmsg")
            .expect("/dev/kmsg: cannot open for writing");
        let marker =
            format!("lethe-test: kmsg record {} {:?}", std::process::id(), std::time::Instant::now());
        write_records(&mut writer, format!("<7>{marker}\n").as_bytes());
        // Records others log meanwhile come first; ours is in the buffer already, or never.
        let mut seen = Vec::new();
        let mut record = vec![0u8; 8192];
        loop {
            match reader.read(&mut record) {
                Ok(n) => seen.push(String::from_utf8_lossy(&record[..n]).into_owned()),
                Err(e) if e.raw_os_error() == Some(libc::EPIPE) => continue, // overwritten ones
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => panic!("/dev/kmsg: read: {e}"),
            }
        }
        assert!(
            seen.iter().any(|r| r.contains(&marker)),
            "{marker:?} is not in the kernel log yet (records since: {seen:?})"
        );
    }

    #[test]
    fn lines_carry_priorities_only_where_understood() {
        assert_eq!(format_line(Sink::Stderr, log::Level::Warn, "x"), "lethe: warning: x");
        assert_eq!(format_line(Sink::StderrWithPriority, log::Level::Error, "x"), "<3>lethe: error: x");
        assert_eq!(format_line(Sink::Kmsg, log::Level::Info, "x"), "<6>lethe: x");
        assert_eq!(format_line(Sink::Kmsg, log::Level::Debug, "x"), "<7>lethe: debug: x");
    }
}
