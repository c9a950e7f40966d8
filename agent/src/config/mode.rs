//! Permission bits as a config names them: octal (`"0755"`, `"700"`) or chmod's symbolic form
//! as impermanence passes it to `chmod`/`install -m` (`"u=rwx,g=,o="`). lethe sets a mode
//! whole, at creation and again on every run, so only the absolute `=` form has one meaning:
//! `+`/`-` are relative to a mode that is already there, and are refused rather than guessed.

/// What the mode is for: `X` (execute if a directory) is `x` for a directory and has no
/// meaning for a file lethe sets whole, so it is refused there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum For {
    Directory,
    File,
}

/// The mode's bits (at most 0o7777), or what was wrong with it.
pub fn parse(s: &str, kind: For) -> Result<u32, String> {
    if s.starts_with(|c: char| c.is_ascii_digit()) {
        return match u32::from_str_radix(s, 8) {
            Ok(m) if m <= 0o7777 && (3..=4).contains(&s.len()) => Ok(m),
            _ => Err(format!("expected an octal mode like \"0755\" or chmod's u=rwx,g=rx,o=rx, got {s:?}")),
        };
    }
    let mut mode = 0;
    for clause in s.split(',') {
        // The whole value is named too when the clause is only a part of it.
        let whole = |why| if clause == s { why } else { format!("{why} (in {s:?})") };
        mode = apply(mode, clause, kind).map_err(whole)?;
    }
    Ok(mode)
}

/// One `who=perms` clause applied to `mode`: the bits of `who` are replaced by `perms`.
fn apply(mode: u32, clause: &str, kind: For) -> Result<u32, String> {
    let Some(op) = clause.find(|c: char| !"ugoa".contains(c)) else {
        return Err(format!("expected who=perms (like u=rwx), got {clause:?}"));
    };
    let (who, rest) = clause.split_at(op);
    let (op, perms) = rest.split_at(1);
    match op {
        "=" => {}
        "+" | "-" => {
            return Err(format!(
            "{clause:?} changes an existing mode; lethe sets the mode whole, so use = (like u=rwx,g=rx,o=rx)"
        ))
        }
        _ => return Err(format!("expected who=perms (like u=rwx), got {clause:?}")),
    }
    if who.is_empty() {
        // chmod would apply the umask here, which differs between machines.
        return Err(format!("{clause:?} names no one; name u, g, o or a before ="));
    }
    let mut affected = 0;
    for w in who.chars() {
        affected |= match w {
            'u' => 0o4700,
            'g' => 0o2070,
            'o' => 0o1007,
            _ => 0o7777,
        };
    }
    let mut bits = 0;
    for p in perms.chars() {
        bits |= match (p, kind) {
            ('r', _) => 0o444,
            ('w', _) => 0o222,
            ('x', _) | ('X', For::Directory) => 0o111,
            ('X', For::File) => {
                return Err(format!(
                    "{clause:?}: X (execute if a directory) has no meaning for a file; use x or leave it out"
                ))
            }
            // As in chmod: s is set-user/group-ID (nothing for o), t the sticky bit (o or a).
            ('s', _) => 0o6000,
            ('t', _) => 0o1000,
            _ => return Err(format!("{clause:?}: expected permissions from rwxXst, got {p:?}")),
        };
    }
    Ok(mode & !affected | bits & affected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn octal_and_symbolic_forms() {
        let cases = [
            ("0755", 0o755),
            ("700", 0o700),
            ("1777", 0o1777),
            ("u=rwx,g=,o=", 0o700),
            ("u=rwx,g=rx,o=rx", 0o755),
            ("a=rx,u=rwx", 0o755),
            ("ug=rw,o=r", 0o664),
            ("a=rwxt", 0o1777),
            ("u=rwxs,g=rxs,o=", 0o6750),
            ("o=rwxs", 0o007),
            ("u=rwt", 0o600),
            ("u=rwX,go=rX", 0o755),
            ("a=", 0o000),
            ("a=rwx,g=", 0o707),
        ];
        for (text, want) in cases {
            assert_eq!(parse(text, For::Directory), Ok(want), "{text}");
        }
    }

    #[test]
    fn bad_modes_say_what_is_wrong() {
        let cases = [
            ("999", "expected an octal mode like \"0755\""),
            ("07777", "expected an octal mode"),
            ("u+rwx", "\"u+rwx\" changes an existing mode"),
            ("u=rwx,g-w", "\"g-w\" changes an existing mode"),
            ("=rwx", "names no one"),
            ("u=rwz", "expected permissions from rwxXst, got 'z'"),
            ("u=g", "expected permissions from rwxXst, got 'g'"),
            ("u=rwx,", "expected who=perms (like u=rwx), got \"\""),
            ("rwx", "expected who=perms (like u=rwx), got \"rwx\""),
            ("u", "expected who=perms (like u=rwx), got \"u\""),
        ];
        for (text, want) in cases {
            let got = parse(text, For::Directory).unwrap_err();
            assert!(got.contains(want), "{text}: {got}");
        }
    }

    #[test]
    fn x_is_refused_for_a_file() {
        assert_eq!(parse("u=rw,go=r", For::File), Ok(0o644));
        assert!(parse("u=rwX", For::File).unwrap_err().contains("no meaning for a file"));
    }
}
