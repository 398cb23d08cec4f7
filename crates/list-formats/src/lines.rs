//! Splitting a byte stream into lines.

use std::borrow::Cow;

/// Cuts byte chunks, split anywhere (inside a UTF-8 sequence or a `\r\n` too), into whole lines
/// without their `\n` or `\r\n`. Lines that are not valid UTF-8 are passed lossily (with
/// U+FFFD). Only the unfinished last line is buffered, so memory follows the longest line.
#[derive(Debug, Default)]
pub struct LineSplitter {
    partial: Vec<u8>,
}

impl LineSplitter {
    /// A splitter at the start of a stream.
    pub fn new() -> Self {
        Self::default()
    }

    /// Takes the next chunk and calls `f` with each line it completes.
    pub fn feed(&mut self, chunk: &[u8], mut f: impl FnMut(&str)) {
        let mut rest = chunk;
        while let Some(end) = rest.iter().position(|&b| b == b'\n') {
            if self.partial.is_empty() {
                emit(&rest[..end], &mut f);
            } else {
                self.partial.extend_from_slice(&rest[..end]);
                emit(&self.partial, &mut f);
                self.partial.clear();
            }
            rest = &rest[end + 1..];
        }
        self.partial.extend_from_slice(rest);
    }

    /// Ends the stream: calls `f` with the last line if it had no line ending.
    pub fn finish(self, mut f: impl FnMut(&str)) {
        if !self.partial.is_empty() {
            emit(&self.partial, &mut f);
        }
    }
}

fn emit(line: &[u8], f: &mut impl FnMut(&str)) {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let text: Cow<'_, str> = String::from_utf8_lossy(line);
    f(&text);
}

/// Calls `f` with each line of `text`, as a [`LineSplitter`] would.
pub(crate) fn for_each_line(text: &str, mut f: impl FnMut(&str)) {
    let mut splitter = LineSplitter::new();
    splitter.feed(text.as_bytes(), &mut f);
    splitter.finish(f);
}
