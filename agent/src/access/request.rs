//! The few requests an SSH client may make (the "command" of `ssh host COMMAND`): there is no
//! shell in the initrd.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Request {
    /// Read one passphrase (a prompt with a pty, stdin without) and try it.
    Unlock,
    /// Print what waits for a passphrase.
    Status,
}

impl Request {
    /// What `ssh host COMMAND` accepts; the last two are the names existing initrd scripts use.
    pub(crate) const NAMES: &'static [&'static str] =
        &["unlock", "status", "cryptsetup-askpass", "systemd-tty-ask-password-agent"];

    /// The command line a client sent. Arguments are accepted only for the aliases, whose
    /// scripts pass some (`systemd-tty-ask-password-agent --query`); they change nothing.
    pub(crate) fn parse(line: &str) -> Result<Request, String> {
        let mut words = line.split_whitespace();
        let name = words.next().unwrap_or("");
        let has_args = words.next().is_some();
        let command = match name {
            "unlock" if !has_args => Request::Unlock,
            "status" if !has_args => Request::Status,
            "cryptsetup-askpass" | "systemd-tty-ask-password-agent" => Request::Unlock,
            "unlock" | "status" => return Err(format!("{name} takes no arguments")),
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
        let cases: &[(&str, Result<Request, &str>)] = &[
            ("unlock", Ok(Request::Unlock)),
            ("  unlock  ", Ok(Request::Unlock)),
            ("status", Ok(Request::Status)),
            ("cryptsetup-askpass", Ok(Request::Unlock)),
            ("systemd-tty-ask-password-agent --query", Ok(Request::Unlock)),
            ("unlock now", Err("unlock takes no arguments")),
            ("", Err("empty command")),
            ("sh -c id", Err("unknown command \"sh\"")),
        ];
        for (line, want) in cases {
            assert_eq!(Request::parse(line), want.map_err(String::from), "{line:?}");
        }
    }
}
