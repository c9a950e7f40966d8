//! User and group names of the live system (`/etc/passwd`, `/etc/group` below the root), for
//! owners given by name. Numbers are taken as they are; stage 1 knows only numbers and root.

use crate::config::persistence::Owner;
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Debug, Default, Clone)]
pub(crate) struct Accounts {
    /// name -> (uid, primary gid)
    users: BTreeMap<String, (u32, u32)>,
    groups: BTreeMap<String, u32>,
}

impl Accounts {
    /// Reads `root/etc/passwd` and `root/etc/group`; a missing file is an empty table.
    pub(crate) fn load(root: &Path) -> Accounts {
        let read = |p: &str| std::fs::read_to_string(root.join(p)).unwrap_or_default();
        Accounts::parse(&read("etc/passwd"), &read("etc/group"))
    }

    pub(crate) fn parse(passwd: &str, group: &str) -> Accounts {
        let fields = |line: &str| line.split(':').map(str::to_string).collect::<Vec<_>>();
        let mut a = Accounts::default();
        for f in passwd.lines().map(fields).filter(|f| f.len() >= 4) {
            if let (Ok(uid), Ok(gid)) = (f[2].parse(), f[3].parse()) {
                a.users.entry(f[0].clone()).or_insert((uid, gid));
            }
        }
        for f in group.lines().map(fields).filter(|f| f.len() >= 3) {
            if let Ok(gid) = f[2].parse() {
                a.groups.entry(f[0].clone()).or_insert(gid);
            }
        }
        a
    }

    /// (uid, gid, mode) of `owner`; the error names the field that did not resolve.
    pub(crate) fn resolve(&self, owner: &Owner) -> Result<(u32, u32, u32), (&'static str, String)> {
        let (uid, primary) = match owner.user.parse::<u32>() {
            Ok(n) => (n, None),
            Err(_) if owner.user == "root" => (0, Some(0)),
            Err(_) => match self.users.get(&owner.user) {
                Some(&(uid, gid)) => (uid, Some(gid)),
                None => return Err(("user", format!("no user {:?} in /etc/passwd", owner.user))),
            },
        };
        let gid = match &owner.group {
            None => match primary {
                Some(g) => g,
                None => return Err(("group", format!("user {} has no primary group to default to", uid))),
            },
            Some(g) => match g.parse::<u32>() {
                Ok(n) => n,
                Err(_) if g == "root" => 0,
                Err(_) => match self.groups.get(g) {
                    Some(&gid) => gid,
                    None => return Err(("group", format!("no group {g:?} in /etc/group"))),
                },
            },
        };
        let mode = u32::from_str_radix(&owner.mode, 8).unwrap_or(0o755);
        Ok((uid, gid, mode))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner(user: &str, group: Option<&str>) -> Owner {
        Owner { user: user.into(), group: group.map(Into::into), mode: "0750".into() }
    }

    #[test]
    fn names_numbers_and_primary_groups_resolve() {
        let a = Accounts::parse(
            "root:x:0:0::/root:/bin/sh\nalice:x:1000:100::/home/alice:/bin/sh\n",
            "users:x:100:\nsyncthing:x:237:\n",
        );
        assert_eq!(a.resolve(&owner("alice", None)), Ok((1000, 100, 0o750)));
        assert_eq!(a.resolve(&owner("alice", Some("syncthing"))), Ok((1000, 237, 0o750)));
        assert_eq!(a.resolve(&owner("42", Some("43"))), Ok((42, 43, 0o750)));
        assert_eq!(Accounts::default().resolve(&owner("root", Some("root"))), Ok((0, 0, 0o750)));
        assert_eq!(a.resolve(&owner("bob", None)).unwrap_err().0, "user");
        assert_eq!(
            a.resolve(&owner("alice", Some("wheel"))).unwrap_err().1,
            "no group \"wheel\" in /etc/group"
        );
    }
}
