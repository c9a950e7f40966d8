//! The few requests an SSH client may make (the "command" of `ssh host COMMAND`): there is no
//! shell in the initrd.

use zeroize::Zeroizing;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Request {
    /// Read one passphrase (a prompt with a pty, stdin without) and try it; `target` names
    /// what it is for (`unlock tank/secure`: a device, a dataset, a request's Id). Kept in a
    /// zeroizing buffer and out of the log: a passphrase typed there by mistake stays secret.
    Unlock { target: Option<Zeroizing<String>> },
    /// Print what waits for a passphrase.
    Status,
}

impl Request {
    /// What `ssh host COMMAND` accepts; the last two are the names existing initrd scripts use.
    pub(crate) const NAMES: &'static [&'static str] =
        &["unlock [TARGET]", "status", "cryptsetup-askpass", "systemd-tty-ask-password-agent"];

    /// The command line a client sent. `unlock` takes one optional target; the aliases take
    /// the arguments their scripts pass (`systemd-tty-ask-password-agent --query`), which
    /// change nothing.
    pub(crate) fn parse(line: &str) -> Result<Request, String> {
        let mut words = line.split_whitespace();
        let name = words.next().unwrap_or("");
        let first = words.next();
        let more = words.next().is_some();
        let command = match name {
            "unlock" if !more => Request::Unlock { target: first.map(|t| Zeroizing::new(t.to_string())) },
            "status" if first.is_none() => Request::Status,
            "cryptsetup-askpass" | "systemd-tty-ask-password-agent" => Request::Unlock { target: None },
            "unlock" => return Err("unlock takes at most one target (unlock [TARGET])".into()),
            "status" => return Err(format!("{name} takes no arguments")),
            "" => return Err("empty command".into()),
            _ => {
                let shown: String = name.chars().take(40).collect();
                return Err(format!("unknown command {shown:?}"));
            }
        };
        Ok(command)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_and_aliases() {
        let unlock = |t: Option<&str>| Request::Unlock { target: t.map(|t| Zeroizing::new(t.to_string())) };
        let cases: &[(&str, Result<Request, &str>)] = &[
            ("unlock", Ok(unlock(None))),
            ("  unlock  ", Ok(unlock(None))),
            ("unlock tank/secure", Ok(unlock(Some("tank/secure")))),
            ("unlock  cryptsetup:/dev/vda2 ", Ok(unlock(Some("cryptsetup:/dev/vda2")))),
            ("status", Ok(Request::Status)),
            ("cryptsetup-askpass", Ok(unlock(None))),
            ("systemd-tty-ask-password-agent --query", Ok(unlock(None))),
            ("unlock a b", Err("unlock takes at most one target (unlock [TARGET])")),
            ("status now", Err("status takes no arguments")),
            ("", Err("empty command")),
            ("sh -c id", Err("unknown command \"sh\"")),
        ];
        for (line, want) in cases {
            assert_eq!(&Request::parse(line), &want.clone().map_err(String::from), "{line:?}");
        }
    }
}
