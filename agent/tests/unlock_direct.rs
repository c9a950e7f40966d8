//! `lethe unlock --config FILE` against real LUKS2 headers made by cryptsetup. The host has no
//! device-mapper, so these run in verify-only mode (the passphrase is checked against the real
//! keyslots by the statically linked libcryptsetup); activation itself is proven in the VM.

mod common;
mod unlock_support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use unlock_support::{luks_image, Scratch};

fn config(scratch: &Scratch, unlock: &str) -> PathBuf {
    let path = scratch.path("config.json");
    std::fs::write(&path, format!(r#"{{"version": 1, "unlock": {unlock}}}"#)).unwrap();
    path
}

/// `lethe unlock --config FILE` with `input` on stdin.
fn unlock(config: &Path, input: &str, verify_only: bool) -> Output {
    let mut cmd = Command::new(common::lethe());
    cmd.args(["unlock", "--config"]).arg(config).env("RUST_LOG", "trace");
    if verify_only {
        cmd.env("LETHE_UNLOCK_VERIFY_ONLY", "1");
    }
    let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    // lethe may exit before reading (a bad config): a broken pipe here is not the test's business.
    let _ = child.stdin.take().unwrap().write_all(input.as_bytes());
    child.wait_with_output().unwrap()
}

fn one_device(scratch: &Scratch, kdf: &str) -> PathBuf {
    let img = scratch.path("disk.img");
    luks_image(&img, "correct horse", kdf);
    config(scratch, &format!(r#"{{"devices": [{{"name": "crypted", "device": "{}"}}]}}"#, img.display()))
}

fn assert_exit(o: &Output, code: i32, stderr_has: &str) {
    let err = common::stderr(o);
    assert_eq!(o.status.code(), Some(code), "stderr: {err}");
    assert!(err.contains(stderr_has), "expected {stderr_has:?} in stderr: {err}");
    // The passphrases used here never show up in any output, even at trace level.
    for secret in ["correct horse", "battery staple", "wrong guess"] {
        assert!(!err.contains(secret) && !common::stdout(o).contains(secret), "secret leaked: {err}");
    }
}

#[test]
fn right_passphrase_pbkdf2_exits_0() {
    let s = Scratch::new("pbkdf2");
    let cfg = one_device(&s, "pbkdf2");
    let o = unlock(&cfg, "correct horse\n", true);
    assert_exit(&o, 0, "opened crypted");
    assert!(common::stderr(&o).contains("verify-only"), "verify-only is announced");
}

#[test]
fn right_passphrase_argon2id_exits_0() {
    let s = Scratch::new("argon2id");
    let cfg = one_device(&s, "argon2id");
    assert_exit(&unlock(&cfg, "correct horse\n", true), 0, "opened crypted");
}

#[test]
fn passphrase_without_newline_and_with_crlf() {
    let s = Scratch::new("eol");
    let cfg = one_device(&s, "pbkdf2");
    assert_exit(&unlock(&cfg, "correct horse", true), 0, "opened crypted");
    assert_exit(&unlock(&cfg, "correct horse\r\n", true), 0, "opened crypted");
    // Only the first line counts.
    assert_exit(&unlock(&cfg, "correct horse\nwrong guess\n", true), 0, "opened crypted");
}

#[test]
fn wrong_passphrase_exits_1() {
    let s = Scratch::new("wrong");
    let cfg = one_device(&s, "pbkdf2");
    assert_exit(&unlock(&cfg, "wrong guess\n", true), 1, "wrong passphrase");
    assert_exit(&unlock(&cfg, "correct horse \n", true), 1, "wrong passphrase");
    assert_exit(&unlock(&cfg, "\n", true), 1, "wrong passphrase");
}

#[test]
fn no_input_exits_2() {
    let s = Scratch::new("eof");
    let cfg = one_device(&s, "pbkdf2");
    assert_exit(&unlock(&cfg, "", true), 2, "no passphrase");
}

#[test]
fn missing_device_names_it() {
    let s = Scratch::new("missing");
    let cfg =
        config(&s, r#"{"devices": [{"name": "crypted", "device": "/dev/disk/by-id/nvme-no-such-disk"}]}"#);
    let o = unlock(&cfg, "correct horse\n", true);
    assert_exit(&o, 2, "crypted: /dev/disk/by-id/nvme-no-such-disk: No such file or directory");
}

#[test]
fn not_luks_names_it() {
    let s = Scratch::new("plain");
    let img = s.path("plain.img");
    std::fs::File::create(&img).unwrap().set_len(20 << 20).unwrap();
    let cfg =
        config(&s, &format!(r#"{{"devices": [{{"name": "crypted", "device": "{}"}}]}}"#, img.display()));
    assert_exit(&unlock(&cfg, "correct horse\n", true), 2, "no LUKS header found");
}

#[test]
fn one_passphrase_opens_what_it_can() {
    let s = Scratch::new("two");
    let (a, b, c) = (s.path("a.img"), s.path("b.img"), s.path("c.img"));
    luks_image(&a, "correct horse", "pbkdf2");
    luks_image(&b, "battery staple", "pbkdf2");
    luks_image(&c, "correct horse", "pbkdf2");
    let cfg = config(
        &s,
        &format!(
            r#"{{"devices": [{{"name": "a", "device": "{}"}}, {{"name": "b", "device": "{}"}},
                {{"name": "c", "device": "{}", "allowDiscards": true}}]}}"#,
            a.display(),
            b.display(),
            c.display()
        ),
    );
    // Each run starts with everything pending: a and c open, b stays, so the exit says wrong.
    assert_exit(&unlock(&cfg, "correct horse\n", true), 1, "opened a, c; the passphrase does not open b");
    assert_exit(&unlock(&cfg, "battery staple\n", true), 1, "opened b; the passphrase does not open a, c");
}

#[test]
fn detached_header() {
    let s = Scratch::new("header");
    let header = s.path("header.img");
    luks_image(&header, "correct horse", "pbkdf2");
    let data = s.path("data.img");
    std::fs::File::create(&data).unwrap().set_len(4 << 20).unwrap();
    let cfg = config(
        &s,
        &format!(
            r#"{{"devices": [{{"name": "crypted", "device": "{}", "header": "{}"}}]}}"#,
            data.display(),
            header.display()
        ),
    );
    assert_exit(&unlock(&cfg, "correct horse\n", true), 0, "opened crypted");
    assert_exit(&unlock(&cfg, "wrong guess\n", true), 1, "wrong passphrase");
}

/// Without verify-only the host's missing device-mapper is reported, naming the device.
#[test]
fn activation_failure_exits_2_naming_the_device() {
    let s = Scratch::new("nodm");
    let cfg = one_device(&s, "pbkdf2");
    // libcryptsetup's own reason comes along, not only an errno.
    assert_exit(
        &unlock(&cfg, "correct horse\n", false),
        2,
        "cannot activate: Cannot initialize device-mapper",
    );
}

#[test]
fn config_problems_exit_1_as_bad_input_does_and_an_unreadable_config_2() {
    let s = Scratch::new("cfg");
    let path = s.path("none.json");
    std::fs::write(&path, r#"{"version": 1}"#).unwrap();
    assert_exit(&unlock(&path, "x\n", true), 1, "no \"unlock\" section");
    let path = s.path("bad.json");
    std::fs::write(&path, r#"{"version": 1, "unlock": {"devices": [{"name": "a/b", "device": "/dev/x"}]}}"#)
        .unwrap();
    assert_exit(&unlock(&path, "x\n", true), 1, "unlock.devices[0].name: expected a device-mapper name");
    assert_exit(&unlock(&s.path("missing.json"), "x\n", true), 2, "missing.json: cannot read");
}
