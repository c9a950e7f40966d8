//! lethe's module resolution against a real kernel's depmod files: Debian's 6.1 kernel that the
//! VM tests boot (fetched once into the cache by vm-tests/lib/fetch-kernel). For each module a
//! real initrd needs, lethe must plan every module `modprobe --show-depends` names (kmod's own
//! resolver, the reference), with every hard dependency before its user.

mod common;

use lethe::kmod::{name_of, Action, Index};
use std::path::{Path, PathBuf};
use std::process::Command;

fn kernel_modules_dir() -> (PathBuf, String) {
    let fetch = common::repo_root().join("vm-tests/lib/fetch-kernel");
    let out = Command::new(&fetch).output().expect("vm-tests/lib/fetch-kernel runs");
    assert!(out.status.success(), "fetch-kernel failed: {}", String::from_utf8_lossy(&out.stderr));
    let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).lines().last().unwrap().trim());
    let kver = std::fs::read_to_string(dir.join("kver")).unwrap().trim().to_string();
    (dir, kver)
}

fn modprobe_closure(root: &Path, kver: &str, name: &str) -> Vec<String> {
    let out = Command::new("modprobe")
        .args(["-d", root.to_str().unwrap(), "-S", kver, "--show-depends", name])
        .output()
        .expect("modprobe runs");
    assert!(out.status.success(), "modprobe {name}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("insmod "))
        .map(|p| name_of(p.trim()))
        .collect()
}

#[test]
fn plans_what_modprobe_would_load_in_a_valid_order() {
    let (root, kver) = kernel_modules_dir();
    let dir = root.join("lib/modules").join(&kver);
    let index = Index::read(&dir).unwrap();
    let dep_text = std::fs::read_to_string(dir.join("modules.dep")).unwrap();
    for name in ["btrfs", "virtio_blk", "virtio_pci", "virtio_net", "dm_crypt", "r8169", "e1000e", "xts"] {
        let plan = index.plan(&[name.to_string()]).unwrap();
        let planned: Vec<String> = plan
            .iter()
            .filter_map(|a| match a {
                Action::Insert { name, .. } => Some(name.clone()),
                Action::Builtin(_) => None,
            })
            .collect();
        for m in modprobe_closure(&root, &kver, name) {
            assert!(planned.contains(&m), "{name}: modprobe loads {m}, lethe's plan does not: {planned:?}");
        }
        // Every hard dependency comes before the module that needs it.
        for (i, m) in planned.iter().enumerate() {
            let line = dep_text.lines().find(|l| name_of(l.split(':').next().unwrap()) == *m).unwrap();
            for dep in line.split_once(':').unwrap().1.split_whitespace().map(name_of) {
                let at = planned.iter().position(|p| *p == dep);
                assert!(at.is_some_and(|at| at < i), "{name}: {dep} must load before {m}: {planned:?}");
            }
        }
        assert_eq!(planned.last().map(String::as_str), Some(name), "{name} itself loads last");
    }
}

#[test]
fn builtin_and_unknown_modules() {
    let (root, kver) = kernel_modules_dir();
    let index = Index::read(&root.join("lib/modules").join(&kver)).unwrap();
    // Debian builds ext4's crc16 and the 8250 serial driver in.
    assert!(index.is_builtin("crc16") || index.is_builtin("8250"), "expected known builtins");
    let e = index.plan(&["no_such_module".into()]).unwrap_err().to_string();
    assert_eq!(e, "kernel module no_such_module: not found in modules.dep, modules.builtin or modules.alias");
}

#[test]
fn schedule_waits_for_every_hard_dependency_and_leaves_independent_modules_free() {
    let (root, kver) = kernel_modules_dir();
    let dir = root.join("lib/modules").join(&kver);
    let index = Index::read(&dir).unwrap();
    let dep_text = std::fs::read_to_string(dir.join("modules.dep")).unwrap();
    // What the VM tests' initrds load: disk, filesystem, crypto and NIC modules together.
    let names: Vec<String> = ["virtio_pci", "virtio_blk", "btrfs", "dm_crypt", "xts", "virtio_net", "r8169"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let steps = index.schedule(&names).unwrap();
    let name = |i: usize| match &steps[i].action {
        Action::Insert { name, .. } | Action::Builtin(name) => name.clone(),
    };
    for (i, step) in steps.iter().enumerate() {
        let Action::Insert { name: m, .. } = &step.action else { continue };
        assert!(step.needs.iter().chain(&step.after).all(|&j| j < i), "{m} waits for a later step");
        let needs: Vec<String> = step.needs.iter().map(|&j| name(j)).collect();
        let line = dep_text.lines().find(|l| name_of(l.split(':').next().unwrap()) == *m).unwrap();
        for dep in line.split_once(':').unwrap().1.split_whitespace().map(name_of) {
            assert!(needs.contains(&dep), "{m} must wait for {dep}: needs {needs:?}");
        }
    }
    // Modules with nothing to wait for can all start at once: virtio_ring, raid6_pq, xor,
    // libphy, dm_mod...
    let free: Vec<String> = (0..steps.len())
        .filter(|&i| steps[i].needs.is_empty() && steps[i].after.is_empty())
        .map(name)
        .collect();
    for m in ["virtio_ring", "raid6_pq", "xor", "libphy", "dm_mod"] {
        assert!(free.contains(&m.to_string()), "{m} should wait for nothing: free {free:?}");
    }
}
