//! The line splitter, fed in pieces.

use crate::*;

#[test]
fn line_splitter_at_every_offset() {
    let sample = "! Title: Zürich €\r\n||a.example^\n\r\n||b.example^\r\nlast\u{1F600} line";
    let expected = ["! Title: Zürich €", "||a.example^", "", "||b.example^", "last\u{1F600} line"];
    let bytes = sample.as_bytes();
    for cut in 0..=bytes.len() {
        let mut lines = Vec::new();
        let mut splitter = LineSplitter::new();
        splitter.feed(&bytes[..cut], |line| lines.push(line.to_owned()));
        splitter.feed(&bytes[cut..], |line| lines.push(line.to_owned()));
        splitter.finish(|line| lines.push(line.to_owned()));
        assert_eq!(lines, expected, "cut at {cut}");
    }
    let mut lines = Vec::new();
    let mut splitter = LineSplitter::new();
    bytes.iter().for_each(|b| splitter.feed(std::slice::from_ref(b), |line| lines.push(line.to_owned())));
    splitter.finish(|line| lines.push(line.to_owned()));
    assert_eq!(lines, expected, "byte by byte");
}

#[test]
fn line_splitter_is_lossy_on_invalid_utf8() {
    let mut lines = Vec::new();
    let mut splitter = LineSplitter::new();
    splitter.feed(b"a\xffb\nok\n", |line| lines.push(line.to_owned()));
    splitter.finish(|line| lines.push(line.to_owned()));
    assert_eq!(lines, ["a\u{FFFD}b", "ok"]);
}
