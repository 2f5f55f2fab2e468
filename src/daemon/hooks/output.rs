//! A hook's output, bounded in memory and in the log. Lines are split out
//! of whatever bytes the hook writes, cut at [`Limits::line`] bytes, and
//! handed on until the hook's budget ([`Limits::lines`], [`Limits::bytes`])
//! is spent; everything past that is counted, not kept, so the caller can
//! keep draining the pipes (a hook must never block on a full pipe) and
//! log once what was dropped. Pure: bytes in, lines out; at most one
//! line's worth of bytes per stream is ever held, whatever the hook writes.

/// How much of a hook's output reaches the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    /// Longest line kept, in bytes; the rest of a longer line is dropped.
    pub(crate) line: usize,
    /// Lines logged per hook run, stdout and stderr together.
    pub(crate) lines: usize,
    /// Bytes logged per hook run, stdout and stderr together.
    pub(crate) bytes: usize,
}

impl Limits {
    /// 4 KiB lines; 200 lines or 64 KiB a run, whichever comes first.
    pub(crate) const DEFAULT: Self = Self {
        line: 4096,
        lines: 200,
        bytes: 64 * 1024,
    };
}

/// Which pipe a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// A line to log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Line {
    /// Where it came from.
    pub(crate) stream: Stream,
    /// The line without its end (`\n`, `\r\n`), invalid UTF-8 replaced.
    pub(crate) text: String,
    /// Bytes cut off its end to keep it within the limits (0: whole).
    pub(crate) cut: u64,
}

/// What did not reach the log.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Dropped {
    /// Lines not logged at all.
    pub(crate) lines: u64,
    /// Bytes not logged: those lines, and the ends cut off logged ones.
    pub(crate) bytes: u64,
}

/// The line being collected on one stream.
#[derive(Debug)]
struct Partial {
    /// Its first bytes, at most [`Limits::line`].
    kept: Vec<u8>,
    /// How many more bytes it had.
    cut: u64,
}

impl Partial {
    fn new(limit: usize) -> Self {
        Self {
            kept: Vec::with_capacity(limit),
            cut: 0,
        }
    }

    fn is_empty(&self) -> bool {
        self.kept.is_empty() && self.cut == 0
    }
}

/// Splits, cuts and counts one hook run's output.
#[derive(Debug)]
pub(crate) struct Output {
    limits: Limits,
    partial: [Partial; 2],
    lines_left: usize,
    bytes_left: usize,
    dropped: Dropped,
}

impl Output {
    /// A run's output with these limits; the line buffers are allocated
    /// here, once.
    pub(crate) fn new(limits: Limits) -> Self {
        Self {
            limits,
            partial: [Partial::new(limits.line), Partial::new(limits.line)],
            lines_left: limits.lines,
            bytes_left: limits.bytes,
            dropped: Dropped::default(),
        }
    }

    /// Takes `chunk` from `stream`, handing every line it completes that
    /// fits the budget to `emit`.
    pub(crate) fn feed(&mut self, stream: Stream, chunk: &[u8], emit: &mut impl FnMut(Line)) {
        let mut rest = chunk;
        loop {
            let (piece, complete) = match rest.iter().position(|&b| b == b'\n') {
                Some(end) => (&rest[..end], true),
                None => (rest, false),
            };
            let partial = &mut self.partial[stream as usize];
            let room = self.limits.line - partial.kept.len();
            let kept = piece.len().min(room);
            partial.kept.extend_from_slice(&piece[..kept]);
            partial.cut += (piece.len() - kept) as u64;
            if !complete {
                return;
            }
            self.end_line(stream, emit);
            rest = &rest[piece.len() + 1..];
        }
    }

    /// The end of the output: a last line without a newline is handed on
    /// too. Returns what was dropped.
    pub(crate) fn finish(&mut self, emit: &mut impl FnMut(Line)) -> Dropped {
        for stream in [Stream::Stdout, Stream::Stderr] {
            if !self.partial[stream as usize].is_empty() {
                self.end_line(stream, emit);
            }
        }
        self.dropped
    }

    /// Bytes held for unfinished lines, and the capacity held for them.
    #[cfg(test)]
    fn held(&self) -> (usize, usize) {
        self.partial.iter().fold((0, 0), |(len, cap), p| {
            (len + p.kept.len(), cap + p.kept.capacity())
        })
    }

    fn end_line(&mut self, stream: Stream, emit: &mut impl FnMut(Line)) {
        let partial = &mut self.partial[stream as usize];
        if partial.cut == 0 && partial.kept.last() == Some(&b'\r') {
            partial.kept.pop();
        }
        let length = partial.kept.len() as u64 + partial.cut;
        if self.lines_left == 0 || self.bytes_left == 0 {
            self.dropped.lines += 1;
            self.dropped.bytes += length;
        } else {
            let mut keep = partial.kept.len().min(self.bytes_left);
            // Cut at a character boundary, not inside a UTF-8 sequence.
            if (keep as u64) < length {
                if let Err(error) = std::str::from_utf8(&partial.kept[..keep]) {
                    if error.error_len().is_none() {
                        keep = error.valid_up_to();
                    }
                }
            }
            let cut = length - keep as u64;
            self.lines_left -= 1;
            self.bytes_left -= keep;
            self.dropped.bytes += cut;
            emit(Line {
                stream,
                text: String::from_utf8_lossy(&partial.kept[..keep]).into_owned(),
                cut,
            });
        }
        partial.kept.clear();
        partial.cut = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(limits: Limits, input: &[(Stream, &[u8])]) -> (Vec<Line>, Dropped) {
        let mut output = Output::new(limits);
        let mut lines = Vec::new();
        for (stream, chunk) in input {
            output.feed(*stream, chunk, &mut |line| lines.push(line));
        }
        let dropped = output.finish(&mut |line| lines.push(line));
        (lines, dropped)
    }

    fn line(stream: Stream, text: &str, cut: u64) -> Line {
        Line {
            stream,
            text: text.to_owned(),
            cut,
        }
    }

    #[test]
    fn a_100_mb_line_is_held_at_the_cap_and_counted() {
        let limits = Limits::DEFAULT;
        let mut output = Output::new(limits);
        let (_, capacity) = output.held();
        let chunk = vec![b'x'; 8192];
        let total: usize = 100_000_000;
        let mut fed = 0;
        let mut lines = Vec::new();
        while fed < total {
            let n = chunk.len().min(total - fed);
            output.feed(Stream::Stdout, &chunk[..n], &mut |line| lines.push(line));
            fed += n;
            let (held, held_capacity) = output.held();
            assert!(held <= limits.line, "{held} bytes held");
            assert_eq!(held_capacity, capacity, "a buffer grew");
        }
        assert!(lines.is_empty(), "no line ended yet");
        let dropped = output.finish(&mut |line| lines.push(line));
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].text, "x".repeat(limits.line));
        assert_eq!(lines[0].cut, (total - limits.line) as u64);
        assert_eq!(
            dropped,
            Dropped {
                lines: 0,
                bytes: (total - limits.line) as u64
            }
        );
    }

    #[test]
    fn lines_split_across_chunks_per_stream() {
        let (lines, dropped) = run(
            Limits::DEFAULT,
            &[
                (Stream::Stdout, b"one\r\ntw"),
                (Stream::Stderr, b"warn"),
                (Stream::Stdout, b"o\n\nthr"),
                (Stream::Stderr, b"ing\n"),
                (Stream::Stdout, b"ee"),
            ],
        );
        assert_eq!(
            lines,
            [
                line(Stream::Stdout, "one", 0),
                line(Stream::Stdout, "two", 0),
                line(Stream::Stdout, "", 0),
                line(Stream::Stderr, "warning", 0),
                line(Stream::Stdout, "three", 0),
            ]
        );
        assert_eq!(dropped, Dropped::default());
    }

    #[test]
    fn the_line_budget_is_shared_by_both_streams() {
        let limits = Limits {
            line: 16,
            lines: 3,
            bytes: 1000,
        };
        let (lines, dropped) = run(
            limits,
            &[
                (Stream::Stdout, b"a1\na2\n"),
                (Stream::Stderr, b"b1\nb2\n"),
                (Stream::Stdout, b"a3\n"),
            ],
        );
        let texts: Vec<&str> = lines.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(texts, ["a1", "a2", "b1"]);
        assert_eq!(dropped, Dropped { lines: 2, bytes: 4 });
    }

    #[test]
    fn the_byte_budget_cuts_the_line_that_spends_it() {
        let limits = Limits {
            line: 8,
            lines: 100,
            bytes: 10,
        };
        let (lines, dropped) = run(limits, &[(Stream::Stdout, b"12345678\nabcdefgh\nzz\n")]);
        assert_eq!(
            lines,
            [
                line(Stream::Stdout, "12345678", 0),
                line(Stream::Stdout, "ab", 6)
            ]
        );
        assert_eq!(
            dropped,
            Dropped {
                lines: 1,
                bytes: 6 + 2
            }
        );
    }

    #[test]
    fn a_cut_never_splits_a_character() {
        let limits = Limits {
            line: 4,
            lines: 10,
            bytes: 100,
        };
        // "aé€": a (1 byte), é (2), € (3); the cut at 4 bytes falls inside €.
        let (lines, dropped) = run(limits, &[(Stream::Stdout, "aé€\n".as_bytes())]);
        assert_eq!(lines, [line(Stream::Stdout, "aé", 3)]);
        assert_eq!(dropped.bytes, 3);
    }
}
