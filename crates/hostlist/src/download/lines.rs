//! Splitting a source into lines as the reference does (`text.trim().split(/[\r\n]+/)`),
//! from text in memory or in pieces from a reader or a file.

use crate::js;

/// Bytes read at a time by [`split_reader`].
pub const READ_PIECE: usize = 256 * 1024;

/// Spare capacity [`split_lines`] leaves for header lines.
pub const HEADER_ROOM: usize = 32;

/// `text.trim().split(/[\r\n]+/)`.
pub fn split_lines(text: &str) -> Vec<String> {
    let t = js::trim(text);
    if t.is_empty() {
        return vec![String::new()];
    }
    // Room for the header lines the compiler puts around a source, so that no reallocation
    // copies the whole list later.
    let mut lines = Vec::with_capacity(t.bytes().filter(|&b| b == b'\n').count() + 1 + HEADER_ROOM);
    lines.extend(t.split(['\r', '\n']).filter(|p| !p.is_empty()).map(str::to_owned));
    lines
}

/// [`split_lines`] on the bytes of `reader` (decoded as lossy UTF-8), read in pieces: the text
/// is never held whole. `capacity` sizes the result (e.g. the count of line breaks).
pub fn split_reader(mut reader: impl std::io::Read, capacity: usize) -> std::io::Result<Vec<String>> {
    let mut lines: Vec<String> = Vec::with_capacity(capacity + HEADER_ROOM);
    let mut partial: Vec<u8> = Vec::new();
    let mut buf = vec![0u8; READ_PIECE];
    // A line break is ASCII, so it ends any incomplete UTF-8 sequence: decoding line by line
    // replaces invalid bytes exactly as decoding the whole text does.
    let push = |bytes: &[u8], lines: &mut Vec<String>| {
        if !bytes.is_empty() {
            lines.push(String::from_utf8_lossy(bytes).into_owned());
        }
    };
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let mut start = 0;
        for (i, &b) in buf[..n].iter().enumerate() {
            if b == b'\n' || b == b'\r' {
                if partial.is_empty() {
                    push(&buf[start..i], &mut lines);
                } else {
                    partial.extend_from_slice(&buf[start..i]);
                    push(&partial, &mut lines);
                    partial.clear();
                }
                start = i + 1;
            }
        }
        partial.extend_from_slice(&buf[start..n]);
    }
    push(&partial, &mut lines);
    // The whole text was trimmed first: white-space-only lines at either end go, and the
    // first and last lines lose their outer white space.
    let first = lines.iter().position(|l| !js::trim(l).is_empty());
    let Some(first) = first else { return Ok(vec![String::new()]) };
    let last = lines.iter().rposition(|l| !js::trim(l).is_empty()).unwrap_or(first);
    lines.truncate(last + 1);
    lines.drain(..first);
    if let Some(l) = lines.first_mut() {
        let t = l.trim_start_matches(js::is_space);
        if t.len() != l.len() {
            *l = t.to_owned();
        }
    }
    if let Some(l) = lines.last_mut() {
        let t = l.trim_end_matches(js::is_space);
        if t.len() != l.len() {
            *l = t.to_owned();
        }
    }
    Ok(lines)
}

/// Reads the file at `path` (at most `max_bytes`) split into lines, for [`Fetch`](super::Fetch)
/// implementations that have a file system (natively, or `wasi:filesystem` in a component).
/// Two passes: the line breaks are counted to size the list, then the file is split in pieces,
/// so the whole text is never held.
pub fn read_file_lines(path: &str, max_bytes: u64) -> Result<Vec<String>, String> {
    use std::io::Read;
    let open = || std::fs::File::open(path).map_err(|e| format!("cannot open {path:?}: {e}"));
    let read_err = |e: std::io::Error| format!("cannot read {path:?}: {e}");
    let mut file = open()?;
    if file.metadata().map(|m| m.len()).unwrap_or(0) > max_bytes {
        return Err(format!("{path:?} is larger than {max_bytes} bytes"));
    }
    let mut breaks = 0usize;
    let mut buf = vec![0u8; READ_PIECE];
    loop {
        let n = file.read(&mut buf).map_err(read_err)?;
        if n == 0 {
            break;
        }
        breaks += buf[..n].iter().filter(|&&b| b == b'\n' || b == b'\r').count();
    }
    drop(buf);
    split_reader(open()?.take(max_bytes), breaks + 1).map_err(read_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_like_the_reference() {
        assert_eq!(split_lines("a\r\nb\r\n\r\n\r\nc\rd\n\n  \n\te\t\n   \n"), vec!["a", "b", "c", "d", "  ", "\te"]);
        assert_eq!(split_lines("\n\n  \r\n\t\n"), vec![""]);
        assert_eq!(split_lines("\u{feff}! title\nx\n"), vec!["! title", "x"]);
        assert_eq!(split_lines("  lead\nmid  \ntrail  \n"), vec!["lead", "mid  ", "trail"]);
        assert_eq!(
            split_lines("x\u{2028}y\n\u{85}z\u{85}\n\u{a0}nb\u{a0}\n"),
            vec!["x\u{2028}y", "\u{85}z\u{85}", "\u{a0}nb"]
        );
    }

    #[test]
    fn split_reader_equals_split_lines() {
        let texts: [&[u8]; 9] = [
            b"a\r\nb\r\n\r\n\r\nc\rd\n\n  \n\te\t\n   \n",
            b"\n\n  \r\n\t\n",
            b"\xef\xbb\xbf! title\nx\n",
            b"  lead\nmid  \ntrail  \n",
            b"a\xffb\n\xed\xa0\x80\n\xf0\x9f\x98\n\xc3(\n\xe2\x82\n",
            b"",
            b"single",
            b"\xc2\xa0\xe3\x80\x80first\nlast\xc2\xa0",
            b" \n \n x \n \n ",
        ];
        for t in texts {
            // Tiny reads exercise lines split across reads.
            struct Trickle<'a>(&'a [u8]);
            impl std::io::Read for Trickle<'_> {
                fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
                    let n = self.0.len().min(3).min(buf.len());
                    buf[..n].copy_from_slice(&self.0[..n]);
                    self.0 = &self.0[n..];
                    Ok(n)
                }
            }
            let expected = split_lines(&String::from_utf8_lossy(t));
            assert_eq!(split_reader(t, 0).unwrap(), expected, "{t:?}");
            assert_eq!(split_reader(Trickle(t), 0).unwrap(), expected, "{t:?} in pieces");
        }
    }
}
