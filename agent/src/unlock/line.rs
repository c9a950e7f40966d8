//! The one buffer a passphrase is typed into, whatever it comes from (the console, an SSH
//! prompt or script, `lethe unlock`'s stdin): allocated once at its full size, so it never
//! reallocates (which would free an unzeroized copy), capped, and zeroized when cleared or
//! dropped. A line longer than the cap is not cut (a cut passphrase is a wrong one that looks
//! right): it is reported as too long, and the prompt asks again.

use zeroize::{Zeroize, Zeroizing};

/// Longest passphrase accepted; cryptsetup's own limit is 8 MiB, a typed one is far shorter.
pub(crate) const MAX_LEN: usize = 4096;

/// A line that did not fit: nothing of it is kept.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct TooLong;

impl std::fmt::Display for TooLong {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "passphrase longer than {MAX_LEN} bytes")
    }
}

pub(crate) struct LineBuffer {
    bytes: Zeroizing<Vec<u8>>,
    too_long: bool,
}

impl Default for LineBuffer {
    fn default() -> LineBuffer {
        LineBuffer::new()
    }
}

impl LineBuffer {
    pub(crate) fn new() -> LineBuffer {
        // One byte more than the cap: a `\r` before the `\n` of a pipe's line is not counted.
        LineBuffer { bytes: Zeroizing::new(Vec::with_capacity(MAX_LEN + 1)), too_long: false }
    }

    /// Appends one byte of the line; past the cap the line is only marked too long.
    pub(crate) fn push(&mut self, byte: u8) {
        if self.bytes.len() < MAX_LEN + 1 {
            self.bytes.push(byte);
        } else {
            self.too_long = true;
        }
    }

    /// Removes the last character (a UTF-8 sequence, not one byte): backspace.
    pub(crate) fn pop_char(&mut self) {
        while let Some(b) = self.bytes.pop() {
            let lead = b & 0xc0 != 0x80;
            // The popped byte's place is now spare capacity: overwrite it.
            if let Some(spare) = self.bytes.spare_capacity_mut().first_mut() {
                spare.write(0);
            }
            if lead {
                break;
            }
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Forgets the line, overwriting every byte (Ctrl-U, a new prompt).
    pub(crate) fn clear(&mut self) {
        // Vec's zeroize overwrites the contents and the spare capacity and keeps the allocation.
        self.bytes.zeroize();
        self.too_long = false;
    }

    /// The line ends: its bytes (one trailing `\r` dropped) in a buffer of exactly their size,
    /// or [`TooLong`]. Either way this buffer is cleared for the next line.
    pub(crate) fn finish(&mut self) -> Result<Zeroizing<Vec<u8>>, TooLong> {
        if self.bytes.last() == Some(&b'\r') {
            self.bytes.pop();
        }
        let result = if self.too_long || self.bytes.len() > MAX_LEN {
            Err(TooLong)
        } else {
            let mut line = Zeroizing::new(Vec::with_capacity(self.bytes.len()));
            line.extend_from_slice(&self.bytes);
            Ok(line)
        };
        self.clear();
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fed(bytes: &[u8]) -> LineBuffer {
        let mut b = LineBuffer::new();
        bytes.iter().for_each(|&x| b.push(x));
        b
    }

    #[test]
    fn lines_and_the_cap() {
        type Case<'a> = (Vec<u8>, Result<&'a [u8], TooLong>);
        let cases: Vec<Case> = vec![
            (b"secret".to_vec(), Ok(b"secret")),
            (b"secret\r".to_vec(), Ok(b"secret")),
            (b"".to_vec(), Ok(b"")),
            (vec![b'a'; MAX_LEN], Ok(&[b'a'; MAX_LEN])),
            ([vec![b'a'; MAX_LEN], b"\r".to_vec()].concat(), Ok(&[b'a'; MAX_LEN])),
            (vec![b'a'; MAX_LEN + 1], Err(TooLong)),
            (vec![b'a'; MAX_LEN * 3], Err(TooLong)),
        ];
        for (input, want) in cases {
            let got = fed(&input).finish();
            assert_eq!(
                got.as_deref().map(|v| v.as_slice()).map_err(|_| TooLong),
                want,
                "{} bytes",
                input.len()
            );
        }
    }

    #[test]
    fn never_reallocates_and_clears_to_zero() {
        let mut b = fed(b"secret");
        let at = b.bytes.as_ptr();
        for _ in 0..3 * MAX_LEN {
            b.push(b'x');
        }
        assert_eq!(b.bytes.as_ptr(), at, "the buffer moved: an old copy was freed unzeroized");
        assert_eq!(b.finish(), Err(TooLong));
        assert!(b.is_empty());
        // After a clear every byte of the allocation is zero, the spare capacity included.
        let mut b = fed(b"hunter2");
        b.clear();
        // SAFETY: zeroize wrote every byte of the allocation (spare capacity included).
        let all = unsafe { std::slice::from_raw_parts(b.bytes.as_ptr(), b.bytes.capacity()) };
        assert!(all.iter().all(|&x| x == 0));
    }

    #[test]
    fn backspace_removes_a_character_and_its_bytes() {
        let mut b = fed("pä".as_bytes());
        b.pop_char();
        assert_eq!(b.finish().unwrap().as_slice(), b"p");
        let mut b = fed(b"ab");
        b.pop_char();
        // SAFETY: both bytes were written (the second by pop_char).
        let all = unsafe { std::slice::from_raw_parts(b.bytes.as_ptr(), 2) };
        assert_eq!(all, b"a\0", "the removed byte is overwritten");
    }
}
