//! `/proc/self/mountinfo`, read in one place: the mounts of this mount namespace, with the
//! kernel's octal escapes undone.

/// One line of mountinfo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Mount {
    /// The mount's ID (field 1), as `/run/mount/utab` names it.
    pub id: String,
    /// The directory of the filesystem that is mounted (field 4; a btrfs subvolume's path).
    pub root: String,
    /// Where it is mounted (field 5).
    pub point: String,
    pub fstype: String,
    /// What is mounted: a device, or for zfs the dataset's name.
    pub source: String,
}

/// The mounts in `text` (mountinfo), in its order; a line that does not parse is skipped.
pub(crate) fn parse(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|line| {
            // Optional fields sit between the sixth field and " - "; a space in a path is
            // always escaped, so the separator cannot be forged by a mount point.
            let (left, right) = line.split_once(" - ")?;
            let left: Vec<&str> = left.split(' ').collect();
            let mut right = right.split(' ');
            Some(Mount {
                id: left.first()?.to_string(),
                root: unescape(left.get(3)?),
                point: unescape(left.get(4)?),
                fstype: right.next()?.to_string(),
                source: unescape(right.next()?),
            })
        })
        .collect()
}

/// The mounts of this process's mount namespace: `/proc/self/mountinfo` (a test thread in a
/// namespace of its own reads `/proc/thread-self/mountinfo` itself).
pub(crate) fn read() -> Result<Vec<Mount>, String> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .map(|text| parse(&text))
        .map_err(|e| format!("/proc/self/mountinfo: cannot read: {e}"))
}

/// Undoes mountinfo's octal escapes (`\040` for a space; also tab, newline, backslash).
pub(crate) fn unescape(field: &str) -> String {
    let b = field.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal = b
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)))
            .and_then(|d| u8::try_from(d.iter().fold(0u32, |n, c| n * 8 + u32::from(c - b'0'))).ok());
        if let (b'\\', Some(byte)) = (b[i], octal) {
            out.push(byte);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The kernel's (and libmount's utab's) escaping: space, tab, newline and backslash as `\ooo`.
pub(crate) fn escape(field: &str) -> String {
    field
        .chars()
        .map(|c| match c {
            ' ' | '\t' | '\n' | '\\' => format!("\\{:03o}", c as u32),
            c => c.to_string(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_found_past_the_optional_ones_and_unescaped() {
        let text = "\
22 1 0:21 / / rw,relatime shared:1 - btrfs /dev/vda rw,subvol=/root
36 22 0:32 /persist/a\\040b /mnt/with\\040space\\011tab rw master:3 shared:7 - btrfs /dev/vda rw
40 22 0:40 / /sysroot rw - zfs rpool/local/root rw,xattr
not a mountinfo line
";
        let m = parse(text);
        assert_eq!(m.len(), 3);
        assert_eq!((m[0].id.as_str(), m[0].root.as_str(), m[0].point.as_str()), ("22", "/", "/"));
        assert_eq!(m[1].root, "/persist/a b");
        assert_eq!(m[1].point, "/mnt/with space\ttab");
        assert_eq!((m[1].fstype.as_str(), m[1].source.as_str()), ("btrfs", "/dev/vda"));
        assert_eq!((m[2].fstype.as_str(), m[2].source.as_str()), ("zfs", "rpool/local/root"));
    }

    #[test]
    fn only_three_octal_digits_after_a_backslash_are_an_escape() {
        assert_eq!(unescape("a\\134b\\012"), "a\\b\n");
        assert_eq!(unescape("a\\9b\\01\\777"), "a\\9b\\01\\777");
        assert_eq!(unescape("end\\"), "end\\");
        assert_eq!(escape("a b\tc\nd\\é"), "a\\040b\\011c\\012d\\134é");
        assert_eq!(unescape(&escape("a b\tc\nd\\é")), "a b\tc\nd\\é");
    }
}
