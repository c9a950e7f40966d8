//! The Unlocker's shared state, as SSH clients and the console use it at once: attempts are
//! serialized, a device opens once, `done()` resolves when the last one opens. Verify-only
//! direct mode against real LUKS2 headers (no device-mapper on the host).

mod unlock_support;

use lethe::config::unlock::{Device, Unlock};
use lethe::unlock::{Attempt, Mode, Options, Passphrase, Unlocker};
use std::sync::Arc;
use unlock_support::{luks_image, Scratch};

fn unlocker(scratch: &Scratch, devices: &[(&str, &str)]) -> Arc<Unlocker> {
    let devices = devices
        .iter()
        .map(|(name, passphrase)| {
            let img = scratch.path(&format!("{name}.img"));
            luks_image(&img, passphrase, "argon2id");
            Device {
                name: name.to_string(),
                device: img,
                allow_discards: true,
                bypass_workqueues: true,
                header: None,
                kind: Default::default(),
            }
        })
        .collect();
    let config = Unlock { devices, systemd_agent: false, console: false, max_tries: 3, tang: None };
    Arc::new(Unlocker::with_options(&config, Options { verify_only: true, ask_dir: scratch.path("ask") }))
}

fn pass(s: &str) -> Passphrase {
    Passphrase::from(s.to_string())
}

/// Two clients send the right passphrase at the same moment: attempts run one after the
/// other, so exactly one opens the device and the other finds nothing pending.
#[tokio::test]
async fn simultaneous_attempts_are_serialized() {
    let s = Scratch::new("serial");
    let u = unlocker(&s, &[("crypted", "correct horse")]);
    assert_eq!(u.mode(), Mode::VerifyOnly);
    let (a, b) =
        tokio::join!(u.try_passphrase(pass("correct horse")), u.try_passphrase(pass("correct horse")));
    let mut outcomes = [a, b];
    outcomes.sort_by_key(|o| format!("{o:?}"));
    assert_eq!(outcomes, [Attempt::NothingPending, Attempt::Unlocked { opened: vec!["crypted".into()] }]);
}

#[tokio::test]
async fn done_resolves_when_the_last_device_opens() {
    let s = Scratch::new("done");
    let u = unlocker(&s, &[("a", "one"), ("b", "two")]);
    assert_eq!(u.pending(), vec!["a", "b"]);
    assert!(u.describe_pending().starts_with("a ("), "{}", u.describe_pending());
    let waiter = tokio::spawn({
        let u = u.clone();
        async move { u.done().await }
    });
    assert_eq!(u.try_passphrase(pass("zero")).await, Attempt::Wrong);
    assert_eq!(u.try_passphrase(pass("two")).await, Attempt::Unlocked { opened: vec!["b".into()] });
    assert_eq!(u.pending(), vec!["a"]);
    assert!(!u.is_done() && !waiter.is_finished());
    assert_eq!(u.try_passphrase(pass("two")).await, Attempt::Wrong, "b is not tried again");
    assert_eq!(u.try_passphrase(pass("one")).await, Attempt::Unlocked { opened: vec!["a".into()] });
    waiter.await.unwrap();
    assert!(u.is_done() && u.pending().is_empty());
    assert_eq!(u.try_passphrase(pass("one")).await, Attempt::NothingPending);
}

/// A device that fails (here: its disk is gone) is reported, and does not hide the one that
/// opened; on its own it is a failure naming the device, not a wrong passphrase.
#[tokio::test]
async fn failures_name_the_device() {
    let s = Scratch::new("fail");
    let u = unlocker(&s, &[("a", "one"), ("b", "one")]);
    std::fs::remove_file(s.path("b.img")).unwrap();
    assert_eq!(u.try_passphrase(pass("one")).await, Attempt::Unlocked { opened: vec!["a".into()] });
    match u.try_passphrase(pass("one")).await {
        Attempt::Failed(m) => assert!(m.starts_with("b: ") && m.contains("No such file"), "{m}"),
        other => panic!("expected Failed, got {other:?}"),
    }
    assert_eq!(u.pending(), vec!["b"]);
}
