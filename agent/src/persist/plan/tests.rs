//! The plan of one entry, as a table: what is found at the source and the target -> the steps.

use super::*;
use crate::config::persistence::{Entry, Kind, Method, Owner, When};

fn entry(target: &str, kind: Kind) -> Entry {
    let root = Owner { user: "root".into(), group: Some("root".into()), mode: "0755".into() };
    Entry {
        target: target.into(),
        store: "/persist".into(),
        kind,
        owner: root.clone(),
        converge: kind == Kind::Directory,
        parents: root,
        parent_directory: None,
        home: None,
        hide_mount: false,
        when: When::default(),
        at: "persistence.\"/persist\".directories[0]".into(),
    }
}

const WANT: (u32, u32, u32) = (0, 0, 0o755);

fn facts(source: Node, target: Node) -> Facts {
    let source_owner = (source != Node::Missing).then_some(WANT);
    Facts {
        source,
        target,
        blocked: None,
        in_place: false,
        source_owner,
        target_mount: false,
        covered: false,
    }
}

use Node::{Dir, File, Missing};

const EMPTY_DIR: Node = Dir { empty: true };
const FULL_DIR: Node = Dir { empty: false };

#[test]
fn directories() {
    let link = |to: &str| Node::Symlink(to.into());
    let table: Vec<(Node, Node, Plan)> = vec![
        (Missing, Missing, Plan::Steps(vec![Step::CreateSource, Step::CreateTarget, Step::Bind])),
        (Missing, EMPTY_DIR, Plan::Steps(vec![Step::CreateSource, Step::Bind])),
        (
            Missing,
            FULL_DIR,
            Plan::Steps(vec![
                Step::Adopt,
                Step::Converge { uid: 0, gid: 0, mode: 0o755 },
                Step::CreateTarget,
                Step::Bind,
            ]),
        ),
        (FULL_DIR, Missing, Plan::Steps(vec![Step::CreateTarget, Step::Bind])),
        (FULL_DIR, EMPTY_DIR, Plan::Steps(vec![Step::Bind])),
        (FULL_DIR, FULL_DIR, Plan::Steps(vec![Step::KeepAside, Step::CreateTarget, Step::Bind])),
        (FULL_DIR, link("/etc"), Plan::Refuse("/var/lib/x: is a symlink (to /etc), refusing".into())),
        (FULL_DIR, File { empty: false }, Plan::Refuse("/var/lib/x: is not a directory, refusing".into())),
        (
            File { empty: true },
            Missing,
            Plan::Refuse("/persist/var/lib/x: is not a directory, refusing".into()),
        ),
        (link("/"), Missing, Plan::Refuse("/persist/var/lib/x: is a symlink (to /), refusing".into())),
    ];
    for (source, target, want) in table {
        let f = facts(source.clone(), target.clone());
        assert_eq!(plan(&entry("/var/lib/x", Kind::Directory), &f, WANT), want, "{source:?} {target:?}");
    }
}

#[test]
fn files() {
    let auto = Kind::File(Method::Auto);
    let bind = Kind::File(Method::Bind);
    let symlink = Kind::File(Method::Symlink);
    let own = Node::Symlink("/persist/etc/x".into());
    let table: Vec<(Kind, Node, Node, Plan)> = vec![
        (auto, Missing, Missing, Plan::Steps(vec![Step::Symlink])),
        (auto, File { empty: false }, Missing, Plan::Steps(vec![Step::CreateTarget, Step::Bind])),
        (
            auto,
            Missing,
            File { empty: false },
            Plan::Steps(vec![Step::Adopt, Step::CreateTarget, Step::Bind]),
        ),
        (auto, Missing, File { empty: true }, Plan::Steps(vec![Step::Adopt, Step::CreateTarget, Step::Bind])),
        (
            auto,
            File { empty: false },
            File { empty: false },
            Plan::Steps(vec![Step::KeepAside, Step::CreateTarget, Step::Bind]),
        ),
        (auto, Missing, own.clone(), Plan::InPlace),
        (auto, File { empty: false }, own.clone(), Plan::InPlace),
        (bind, Missing, Missing, Plan::Steps(vec![Step::CreateSource, Step::CreateTarget, Step::Bind])),
        (
            bind,
            File { empty: true },
            own.clone(),
            Plan::Steps(vec![Step::RemoveOwnSymlink, Step::CreateTarget, Step::Bind]),
        ),
        (symlink, File { empty: false }, Missing, Plan::Steps(vec![Step::Symlink])),
        (symlink, Missing, File { empty: false }, Plan::Steps(vec![Step::Adopt, Step::Symlink])),
        (
            symlink,
            File { empty: false },
            File { empty: false },
            Plan::Steps(vec![Step::KeepAside, Step::Symlink]),
        ),
        (
            auto,
            Missing,
            Node::Symlink("/tmp/evil".into()),
            Plan::Refuse("/etc/x: is a symlink (to /tmp/evil), refusing".into()),
        ),
        (auto, Missing, EMPTY_DIR, Plan::Refuse("/etc/x: is not a regular file, refusing".into())),
    ];
    for (kind, source, target, want) in table {
        let f = facts(source.clone(), target.clone());
        assert_eq!(plan(&entry("/etc/x", kind), &f, WANT), want, "{kind:?} {source:?} {target:?}");
    }
}

#[test]
fn machine_id_is_created_uninitialized_and_bound() {
    let e = entry("/etc/machine-id", Kind::File(Method::Auto));
    assert_eq!(
        plan(&e, &facts(Missing, Missing), WANT),
        Plan::Steps(vec![Step::CreateSource, Step::CreateTarget, Step::Bind])
    );
}

#[test]
fn in_place_is_nothing_to_do_and_owners_converge() {
    let e = entry("/var/lib/x", Kind::Directory);
    let mut f = facts(FULL_DIR, FULL_DIR);
    f.in_place = true;
    assert_eq!(plan(&e, &f, WANT), Plan::InPlace);
    f.source_owner = Some((0, 0, 0o700));
    assert_eq!(plan(&e, &f, WANT), Plan::Steps(vec![Step::Converge { uid: 0, gid: 0, mode: 0o755 }]));
    // A file's owner is left alone unless the entry names one.
    let file = entry("/etc/x", Kind::File(Method::Auto));
    let mut f = facts(File { empty: false }, File { empty: false });
    f.in_place = true;
    f.source_owner = Some((0, 0, 0o600));
    assert_eq!(plan(&file, &f, WANT), Plan::InPlace);
}

#[test]
fn a_symlink_on_the_way_refuses_the_entry() {
    let mut f = facts(Missing, Missing);
    f.blocked = Some("/var: is a symlink (to /tmp)".into());
    assert_eq!(
        plan(&entry("/var/lib/x", Kind::Directory), &f, WANT),
        Plan::Refuse("/var: is a symlink (to /tmp): refusing to persist /var/lib/x through it".into())
    );
}

/// A target that is itself a mount point (systemd's transient machine-id, a dataset) is mounted
/// on top of: never moved, emptied or kept aside.
#[test]
fn a_target_that_is_a_mount_point_is_mounted_on_top_of() {
    let mounted = |source: Node, target: Node| Facts { target_mount: true, ..facts(source, target) };
    let machine_id = entry("/etc/machine-id", Kind::File(Method::Auto));
    let file = File { empty: false };
    assert_eq!(
        plan(&machine_id, &mounted(Missing, file.clone()), WANT),
        Plan::Steps(vec![Step::CopyIn, Step::Bind])
    );
    assert_eq!(plan(&machine_id, &mounted(file.clone(), file.clone()), WANT), Plan::Steps(vec![Step::Bind]));
    let link = entry("/etc/x", Kind::File(Method::Symlink));
    assert_eq!(
        plan(&link, &mounted(file.clone(), file), WANT),
        Plan::Refuse("/etc/x: is a mount point, not replaced by a symlink, refusing".into())
    );
    let dir = entry("/srv", Kind::Directory);
    assert_eq!(plan(&dir, &mounted(FULL_DIR, FULL_DIR), WANT), Plan::Steps(vec![Step::Bind]));
    assert_eq!(
        plan(&dir, &mounted(Missing, EMPTY_DIR), WANT),
        Plan::Steps(vec![Step::CreateSource, Step::Bind])
    );
    let Plan::Refuse(why) = plan(&dir, &mounted(Missing, FULL_DIR), WANT) else { panic!() };
    assert!(why.starts_with("/srv: is a mount point holding data and /persist/srv does not exist"), "{why}");
}

/// impermanence's `dotfiles/.dotfilesrc` inside `dotfiles` of the same store: the parent's bind
/// shows the store there, so nothing is made (no symlink to itself); one an old run made goes.
#[test]
fn a_file_inside_a_directory_of_the_same_store_is_covered() {
    let mut dir = entry("/home/a/dotfiles", Kind::Directory);
    dir.home = Some("/home/a".into());
    let file = entry("/home/a/dotfiles/.dotfilesrc", Kind::File(Method::Auto));
    let mut elsewhere = entry("/home/a/dotfiles/.other", Kind::File(Method::Auto));
    elsewhere.store = "/persist/other".into();
    assert_eq!(covered(&[dir, file.clone(), elsewhere]), [false, true, false]);
    let covered_facts = |source: Node, target: Node| Facts { covered: true, ..facts(source, target) };
    assert_eq!(plan(&file, &covered_facts(Missing, Missing), WANT), Plan::InPlace);
    let itself = Node::Symlink("/persist/home/a/dotfiles/.dotfilesrc".into());
    assert_eq!(
        plan(&file, &covered_facts(itself.clone(), itself), WANT),
        Plan::Steps(vec![Step::RemoveOwnSymlink])
    );
}

/// A symlink's target (chosen by whoever owns the directory) is shown escaped in messages.
#[test]
fn symlink_targets_are_escaped_in_messages() {
    assert_eq!(shown(Path::new("x\n<0>y\\z\u{7f}")), "x\\x0a<0>y\\x5cz\\x7f");
    use std::os::unix::ffi::OsStrExt;
    assert_eq!(shown(Path::new(std::ffi::OsStr::from_bytes(b"a\xffb"))), "a\\xffb");
    let f = facts(Missing, Node::Symlink("/tmp/\n<0>forged".into()));
    assert_eq!(
        plan(&entry("/etc/x", Kind::File(Method::Auto)), &f, WANT),
        Plan::Refuse("/etc/x: is a symlink (to /tmp/\\x0a<0>forged), refusing".into())
    );
}
