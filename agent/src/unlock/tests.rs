use super::*;
use crate::config::unlock::Unlock;

#[test]
fn passphrase_is_never_printed() {
    let p = Passphrase::from("hunter2".to_string());
    assert_eq!(format!("{p:?}"), "Passphrase(***)");
    assert_eq!(format!("{:?}", Some(&p)), "Some(Passphrase(***))");
}

#[test]
fn a_line_loses_one_line_ending_only() {
    let cases: [(&[u8], &[u8]); 6] = [
        (b"pw\n", b"pw"),
        (b"pw\r\n", b"pw"),
        (b"pw", b"pw"),
        (b"pw \n", b"pw "),
        (b"pw\n\n", b"pw\n"),
        (b"\n", b""),
    ];
    for (line, expected) in cases {
        assert_eq!(Passphrase::from_line(line.to_vec()).as_bytes(), expected, "{line:?}");
    }
}

/// What `unlock [TARGET]` is told in systemdAgent mode, from the requests in an ask directory.
#[test]
fn choose_waits_refuses_or_picks_one() {
    let dir = std::env::temp_dir().join(format!("lethe-choose-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let config = Unlock { devices: vec![], systemd_agent: true, console: false, max_tries: 3, tang: None };
    let unlocker = Unlocker::with_options(&config, Options { verify_only: false, ask_dir: dir.clone() });
    let said = |target: Option<&str>| match unlocker.choose(target) {
        Choice::Ready(Chosen::Request(r)) => format!("ready: {}", r.message),
        Choice::Ready(other) => format!("ready: {other:?}"),
        Choice::Wait(m) => format!("wait: {m}"),
        Choice::Refuse(m) => format!("refuse: {m}"),
    };
    assert_eq!(said(None), "wait: nothing asks for a passphrase yet");
    assert_eq!(said(Some("tank/secure")), "wait: nothing asks for a passphrase yet");
    let ask = |name: &str, message: &str, id: &str| {
        let text = format!("[Ask]\nPID={}\nSocket=/s\nMessage={message}\n{id}", std::process::id());
        std::fs::write(dir.join(name), text).unwrap();
    };
    ask("ask.1", "Please enter passphrase for disk crypted:", "Id=cryptsetup:/dev/vda2\n");
    assert_eq!(said(None), "ready: Please enter passphrase for disk crypted:");
    assert_eq!(
        said(Some("tank/secure")),
        "wait: no password request for \"tank/secure\" yet (pending: Please enter passphrase for disk crypted: (unlock crypted))"
    );
    std::thread::sleep(std::time::Duration::from_millis(20)); // a later mtime: second in order
    ask("ask.0", "Enter key for tank/secure:", "");
    assert_eq!(said(Some("tank/secure")), "ready: Enter key for tank/secure:");
    assert_eq!(said(Some("/dev/vda2")), "ready: Please enter passphrase for disk crypted:");
    assert_eq!(
        said(None),
        "refuse: 2 password requests wait: Please enter passphrase for disk crypted: (unlock crypted), \
         Enter key for tank/secure: (unlock tank/secure); name the one this passphrase is for: unlock TARGET"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
