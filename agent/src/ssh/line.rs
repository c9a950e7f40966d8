//! The passphrase line editor of the interactive prompt: bytes from the client's terminal in,
//! a finished passphrase out. Nothing is echoed. Pure, so every key is unit-tested.

use crate::unlock::line::LineBuffer;
pub(crate) use crate::unlock::line::MAX_LEN;
use zeroize::Zeroizing;

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Key {
    /// Nothing to do yet.
    Pending,
    /// Enter: the passphrase typed so far (possibly empty).
    Enter(Zeroizing<Vec<u8>>),
    /// Ctrl-C or Ctrl-D: the user leaves.
    Leave,
    /// Enter after more than [`MAX_LEN`] bytes: nothing of the line is kept.
    TooLong,
}

#[derive(Default)]
pub(crate) struct LineEditor {
    line: LineBuffer,
    /// Inside an escape sequence (arrow keys and the like), which is skipped.
    escape: Escape,
    /// The previous byte was a carriage return: a following line feed is the same Enter.
    after_cr: bool,
}

#[derive(Default, PartialEq, Eq, Clone, Copy)]
enum Escape {
    #[default]
    No,
    Start,
    Csi,
}

impl LineEditor {
    pub(crate) fn new() -> LineEditor {
        LineEditor::default()
    }

    /// Feeds one byte.
    pub(crate) fn feed(&mut self, byte: u8) -> Key {
        let after_cr = std::mem::replace(&mut self.after_cr, false);
        match self.escape {
            Escape::Start => {
                self.escape = if byte == b'[' || byte == b'O' { Escape::Csi } else { Escape::No };
                return Key::Pending;
            }
            Escape::Csi => {
                if (0x40..=0x7e).contains(&byte) {
                    self.escape = Escape::No;
                }
                return Key::Pending;
            }
            Escape::No => {}
        }
        match byte {
            b'\n' if after_cr => Key::Pending,
            b'\r' | b'\n' => {
                self.after_cr = byte == b'\r';
                match self.line.finish() {
                    Ok(line) => Key::Enter(line),
                    Err(_) => Key::TooLong,
                }
            }
            0x03 | 0x04 => Key::Leave,
            0x7f | 0x08 => {
                self.line.pop_char();
                Key::Pending
            }
            0x15 => {
                self.line.clear();
                Key::Pending
            }
            0x1b => {
                self.escape = Escape::Start;
                Key::Pending
            }
            b if b < 0x20 => Key::Pending,
            b => {
                self.line.push(b);
                Key::Pending
            }
        }
    }

    /// Feeds bytes until one of them finishes the line; the rest of `bytes` is dropped (typing
    /// ahead of the next prompt is not kept: that prompt may be for another question).
    pub(crate) fn feed_all(&mut self, bytes: &[u8]) -> Key {
        for &b in bytes {
            match self.feed(b) {
                Key::Pending => {}
                done => return done,
            }
        }
        Key::Pending
    }

    /// Forgets what was typed, every byte overwritten.
    pub(crate) fn clear(&mut self) {
        self.line.clear();
        self.escape = Escape::No;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed(bytes: &[u8]) -> Key {
        LineEditor::new().feed_all(bytes)
    }

    fn enter(s: &[u8]) -> Key {
        Key::Enter(Zeroizing::new(s.to_vec()))
    }

    #[test]
    fn editing_keys() {
        let cases: &[(&[u8], Key)] = &[
            (b"secret\r", enter(b"secret")),
            (b"secret\n", enter(b"secret")),
            (b"\r", enter(b"")),
            (b"secrex\x7ft\r", enter(b"secret")),
            (b"secrex\x08t\r", enter(b"secret")),
            (b"wrong\x15secret\r", enter(b"secret")),
            ("pässe\x7f\x7f\x7f\x7fass\r".as_bytes(), enter(b"pass")),
            (b"\x7f\x7fok\r", enter(b"ok")),
            (b"se\x1b[Dcret\r", enter(b"secret")),
            (b"se\x1bOAcret\r", enter(b"secret")),
            (b"se\tcret\r", enter(b"secret")),
            (b"secr\x03et\r", Key::Leave),
            (b"\x04", Key::Leave),
            (b"no enter yet", Key::Pending),
        ];
        for (input, want) in cases {
            assert_eq!(&typed(input), want, "{:?}", String::from_utf8_lossy(input));
        }
    }

    #[test]
    fn crlf_is_one_enter_and_lines_do_not_leak() {
        let mut e = LineEditor::new();
        assert_eq!(e.feed_all(b"one\r"), enter(b"one"));
        assert_eq!(e.feed_all(b"\ntwo\r\n"), enter(b"two"));
        assert_eq!(e.feed_all(b"\r"), enter(b""));
    }

    #[test]
    fn an_over_long_line_is_refused_whole_and_the_next_one_works() {
        let mut e = LineEditor::new();
        e.feed_all(&vec![b'a'; MAX_LEN + 10]);
        assert_eq!(e.feed(b'\r'), Key::TooLong);
        assert_eq!(e.feed_all(&[b'a'; MAX_LEN]), Key::Pending);
        assert_eq!(e.feed(b'\r'), Key::Enter(Zeroizing::new(vec![b'a'; MAX_LEN])));
    }
}
