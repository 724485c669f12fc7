//! Long texts in the editor: a text of [`WINDOW_BYTES`] or more is laid out a window of
//! whole lines at a time, the visible ones and [`MARGIN`] lines around them, so a frame
//! costs the same in a document of a million chars as in one of a few thousand. The
//! lines above and below the window are blank space of their estimated height (rows of
//! the average char width at the wrap width), so the scroll bar spans the whole text.
//!
//! Positions outside the editor (the selection, the find bar's matches, peers' cursors,
//! the text widget's stored cursor between frames) stay positions in the whole text; the
//! editor turns them into positions in the window while it draws, and back.

use std::ops::Range;

/// Texts at least this long (bytes) are shown a window at a time.
pub(super) const WINDOW_BYTES: usize = 256 * 1024;

/// Lines laid out above and below the visible ones.
const MARGIN: usize = 150;

/// The window moves once the visible lines come this close to its edge.
const SLACK: usize = 40;

/// Where each line of a text starts, for the text it was made for.
#[derive(Debug, Default)]
pub(super) struct LineIndex {
    /// The op count and byte length of the text indexed.
    made_for: Option<(usize, usize)>,
    /// The byte offset of each line's first char.
    starts: Vec<usize>,
}

impl LineIndex {
    /// Indexes `text` unless it is the text (by op count and length) indexed last.
    pub(super) fn update(&mut self, text: &str, n_ops: usize) {
        if self.made_for == Some((n_ops, text.len())) {
            return;
        }
        self.made_for = Some((n_ops, text.len()));
        self.starts.clear();
        self.starts.push(0);
        self.starts.extend(text.match_indices('\n').map(|(i, _)| i + 1));
    }

    /// How many lines the text has.
    pub(super) fn n_lines(&self) -> usize {
        self.starts.len()
    }

    /// The line the byte `b` is on.
    pub(super) fn line_of_byte(&self, b: usize) -> usize {
        self.starts.partition_point(|s| *s <= b).saturating_sub(1)
    }

    /// The bytes of lines `lines` of `text` (the last one's newline left out).
    pub(super) fn bytes(&self, text: &str, lines: Range<usize>) -> Range<usize> {
        let start = self.starts.get(lines.start).copied().unwrap_or(text.len());
        let end = self.starts.get(lines.end).map_or(text.len(), |s| s - 1);
        start..end.max(start)
    }

    /// The length in bytes of line `l`, without its newline.
    fn len(&self, text_len: usize, l: usize) -> usize {
        let next = self.starts.get(l + 1).map_or(text_len + 1, |s| *s);
        next - self.starts[l] - 1
    }
}

/// How tall lines are estimated to be: rows of `row_height`, each holding `per_row`
/// chars (unbounded without wrapping).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Metrics {
    pub(super) row_height: f32,
    pub(super) per_row: Option<usize>,
}

impl Metrics {
    /// The estimated height of lines `lines` (those of them the text has: a window
    /// of the last frame may name lines the text lost since).
    pub(super) fn height(&self, index: &LineIndex, text_len: usize, lines: Range<usize>) -> f32 {
        let n = index.n_lines();
        let lines = lines.start.min(n)..lines.end.min(n);
        let rows: usize = match self.per_row {
            None => lines.len(),
            Some(n) => lines.map(|l| index.len(text_len, l).div_ceil(n.max(1)).max(1)).sum(),
        };
        rows as f32 * self.row_height
    }

    /// The line at `y` pixels below the top of lines `from..`, and how far into it.
    fn line_at(&self, index: &LineIndex, text_len: usize, from: usize, y: f32) -> (usize, f32) {
        let mut top = 0.0;
        for l in from..index.n_lines() {
            let h = self.height(index, text_len, l..l + 1);
            if top + h > y {
                return (l, y - top);
            }
            top += h;
        }
        (index.n_lines().saturating_sub(1), 0.0)
    }
}

/// The lines laid out, where they are in the text, and the blank space around them.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Window {
    pub(super) lines: Range<usize>,
    pub(super) bytes: Range<usize>,
    /// The char position of the window's first char in the whole text.
    pub(super) first_char: usize,
    /// The estimated height of the lines above and below.
    pub(super) above: f32,
    pub(super) below: f32,
}

impl Window {
    /// The window of lines `lines` of `text`.
    pub(super) fn new(text: &str, index: &LineIndex, m: &Metrics, lines: Range<usize>) -> Window {
        let n = index.n_lines();
        let start = lines.start.min(n - 1);
        let lines = start..lines.end.clamp(start + 1, n);
        let bytes = index.bytes(text, lines.clone());
        let first_char = if text.is_ascii() { bytes.start } else { text[..bytes.start].chars().count() };
        Window {
            above: m.height(index, text.len(), 0..lines.start),
            below: m.height(index, text.len(), lines.end..index.n_lines()),
            lines,
            bytes,
            first_char,
        }
    }

    /// The window around line `centre`, for a view `visible` lines high.
    pub(super) fn around(
        text: &str,
        index: &LineIndex,
        m: &Metrics,
        centre: usize,
        visible: usize,
    ) -> Window {
        let half = visible / 2 + MARGIN;
        let centre = centre.min(index.n_lines() - 1);
        Window::new(text, index, m, centre.saturating_sub(half)..centre + half + 1)
    }

    /// Whether lines `lines` are inside the window with room to spare (at the text's
    /// ends no room is needed).
    pub(super) fn holds(&self, lines: Range<usize>, n_lines: usize) -> bool {
        let top = if self.lines.start == 0 { 0 } else { self.lines.start + SLACK };
        let bottom = if self.lines.end >= n_lines { n_lines } else { self.lines.end.saturating_sub(SLACK) };
        lines.start.min(n_lines) >= top && lines.end.min(n_lines) <= bottom
    }
}

/// What the view shows, from its scroll offset: the first visible line, how far into it
/// the view starts, and how many lines fit (estimated where they are not laid out).
pub(super) fn visible_lines(
    index: &LineIndex,
    text_len: usize,
    m: &Metrics,
    win: Option<&Window>,
    laid_out: f32,
    offset: f32,
    view_height: f32,
) -> (usize, f32, usize) {
    let (line, into) = match win {
        Some(w) if offset >= w.above && offset < w.above + laid_out => {
            // Inside the laid-out lines: their estimate scaled to their real height.
            let est = m.height(index, text_len, w.lines.clone()).max(1.0);
            let (l, into) =
                m.line_at(index, text_len, w.lines.start, (offset - w.above) * est / laid_out.max(1.0));
            (l, into * laid_out / est)
        }
        Some(w) if offset >= w.above + laid_out => {
            let (l, into) = m.line_at(index, text_len, w.lines.end, offset - w.above - laid_out);
            (l.max(w.lines.end.min(index.n_lines() - 1)), into)
        }
        _ => m.line_at(index, text_len, 0, offset),
    };
    let rows = (view_height / m.row_height.max(1.0)).ceil() as usize + 1;
    (line, into, rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(lines: usize) -> String {
        (0..lines).map(|i| format!("line {i} {}", "x".repeat(i % 7 * 20))).collect::<Vec<_>>().join("\n")
    }

    #[test]
    fn a_window_is_whole_lines_and_knows_where_it_starts() {
        let t = format!("é{}", text(2000));
        let mut index = LineIndex::default();
        index.update(&t, 1);
        assert_eq!(index.n_lines(), 2000);
        let m = Metrics { row_height: 10.0, per_row: None };
        let w = Window::around(&t, &index, &m, 1000, 40);
        assert_eq!(w.lines, 1000 - 20 - MARGIN..1000 + 20 + MARGIN + 1);
        let slice = &t[w.bytes.clone()];
        assert!(slice.starts_with(&format!("line {} ", w.lines.start)) && !slice.ends_with('\n'));
        assert_eq!(slice.lines().count(), w.lines.len());
        // The char position of the window's start counts the two-byte é once.
        assert_eq!(w.first_char, t[..w.bytes.start].chars().count());
        assert_eq!(w.first_char, w.bytes.start - 1);
        assert_eq!((w.above, w.below), (w.lines.start as f32 * 10.0, (2000 - w.lines.end) as f32 * 10.0));
        assert!(w.holds(1000..1040, 2000) && !w.holds(w.lines.start..w.lines.start + 5, 2000));
        // At the ends of the text no room is needed; a window never runs past them.
        let first = Window::around(&t, &index, &m, 0, 40);
        assert_eq!((first.lines.start, first.above, first.first_char), (0, 0.0, 0));
        assert!(first.holds(0..40, 2000));
        assert!(
            Window::around(&t, &index, &m, 1990, 40).holds(1980..2020, 2000),
            "the view reaches past the end"
        );
        let last = Window::around(&t, &index, &m, 5000, 40);
        assert_eq!((last.lines.end, last.below, last.bytes.end), (2000, 0.0, t.len()));
    }

    #[test]
    fn wrapped_lines_are_estimated_by_their_rows_and_the_view_finds_its_line() {
        let t = text(500);
        let mut index = LineIndex::default();
        index.update(&t, 1);
        let m = Metrics { row_height: 10.0, per_row: Some(50) };
        // Line 6 is "line 6 " and 120 x's: 127 chars, three rows of 50.
        assert_eq!(m.height(&index, t.len(), 6..7), 30.0);
        assert_eq!(m.height(&index, t.len(), 0..1), 10.0, "an empty-ish line is one row");
        let top_of_100 = m.height(&index, t.len(), 0..100);
        let (line, into, rows) = visible_lines(&index, t.len(), &m, None, 0.0, top_of_100 + 4.0, 95.0);
        assert_eq!((line, into, rows), (100, 4.0, 11));
        // Past a laid-out window that came out taller than estimated.
        let w = Window::new(&t, &index, &m, 50..150);
        let laid = m.height(&index, t.len(), 50..150) * 2.0;
        let after = w.above + laid + m.height(&index, t.len(), 150..160);
        assert_eq!(visible_lines(&index, t.len(), &m, Some(&w), laid, after, 95.0).0, 160);
        let inside = w.above + m.height(&index, t.len(), 50..60) * 2.0;
        assert_eq!(visible_lines(&index, t.len(), &m, Some(&w), laid, inside, 95.0).0, 60);
    }

    #[test]
    fn the_index_follows_the_text() {
        let mut index = LineIndex::default();
        index.update("a\nb", 1);
        assert_eq!((index.n_lines(), index.line_of_byte(2)), (2, 1));
        index.update("a\nb", 1);
        index.update("a\nb\n\nc", 2);
        assert_eq!(index.n_lines(), 4);
        assert_eq!(index.bytes("a\nb\n\nc", 2..3), 4..4, "an empty line");
        assert_eq!(index.line_of_byte(5), 3);
        // Lines the text no longer has (a window of the last frame) count nothing.
        let m = Metrics { row_height: 10.0, per_row: Some(5) };
        assert_eq!(m.height(&index, 6, 2..40), 20.0);
        let w = Window::new("a\nb\n\nc", &index, &m, 30..60);
        assert_eq!((w.lines.clone(), w.bytes.clone()), (3..4, 5..6));
        let v = visible_lines(&index, 6, &m, Some(&Window { lines: 30..60, ..w }), 500.0, 20.0, 100.0);
        assert!(v.0 < 4, "{v:?}");
    }
}
