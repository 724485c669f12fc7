//! Light Markdown highlighting for documents named `*.md`: headings, emphasis, code,
//! links and quotes are coloured in the editor's layout. The text is parsed once per
//! change (`pulldown-cmark` byte offsets), and the styled spans are kept until the text
//! changes again.

use egui::text::{LayoutJob, TextFormat};
use egui::{Color32, FontFamily, FontId, Stroke};
use pulldown_cmark::{Event, Options, Parser, Tag};
use std::hash::{Hash, Hasher};
use std::ops::Range;

/// Whether a document goes by a Markdown name (`notes.md`, `README.markdown`).
pub(super) fn is_markdown(name: &str) -> bool {
    let lower = name.trim().to_lowercase();
    lower.ends_with(".md") || lower.ends_with(".markdown")
}

/// What a piece of Markdown is, for its colour and font.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// A heading of this level (1-6).
    Heading(u8),
    Emphasis,
    Strong,
    Strikethrough,
    /// Inline code or a code block.
    Code,
    Link,
    Quote,
}

/// The kinds that apply to each byte range of a text, in order, covering only the
/// ranges that are styled.
#[derive(Debug, Default, Clone, PartialEq)]
pub(super) struct Spans(pub(super) Vec<(Range<usize>, Style)>);

/// The kinds of Markdown over one range, as flags.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Style {
    pub(super) heading: u8,
    pub(super) emphasis: bool,
    pub(super) strong: bool,
    pub(super) strike: bool,
    pub(super) code: bool,
    pub(super) link: bool,
    pub(super) quote: bool,
}

impl Style {
    fn with(mut self, k: Kind) -> Style {
        match k {
            Kind::Heading(l) => self.heading = l,
            Kind::Emphasis => self.emphasis = true,
            Kind::Strong => self.strong = true,
            Kind::Strikethrough => self.strike = true,
            Kind::Code => self.code = true,
            Kind::Link => self.link = true,
            Kind::Quote => self.quote = true,
        }
        self
    }
}

/// Parses `text` and returns its styled ranges (byte offsets), in order and not
/// overlapping.
pub(super) fn spans(text: &str) -> Spans {
    let mut marks: Vec<(Range<usize>, Kind)> = Vec::new();
    let parser = Parser::new_ext(text, Options::ENABLE_STRIKETHROUGH).into_offset_iter();
    for (event, range) in parser {
        let kind = match event {
            Event::Start(Tag::Heading { level, .. }) => Kind::Heading(level as u8),
            Event::Start(Tag::Emphasis) => Kind::Emphasis,
            Event::Start(Tag::Strong) => Kind::Strong,
            Event::Start(Tag::Strikethrough) => Kind::Strikethrough,
            Event::Start(Tag::CodeBlock(_)) | Event::Code(_) => Kind::Code,
            Event::Start(Tag::Link { .. } | Tag::Image { .. }) => Kind::Link,
            Event::Start(Tag::BlockQuote(_)) => Kind::Quote,
            _ => continue,
        };
        if range.start < range.end && range.end <= text.len() {
            marks.push((range, kind));
        }
    }
    // Sweep the boundaries: each piece between two boundaries takes the kinds of every
    // mark over it.
    let mut bounds: Vec<usize> = marks.iter().flat_map(|(r, _)| [r.start, r.end]).collect();
    bounds.sort_unstable();
    bounds.dedup();
    // Marks come in document order of their starts; the active ones are kept in a list
    // (nesting is shallow, so the list stays short).
    let mut by_start = marks.into_iter().peekable();
    let mut active: Vec<(Range<usize>, Kind)> = Vec::new();
    let mut res: Vec<(Range<usize>, Style)> = Vec::new();
    for w in bounds.windows(2) {
        let (a, b) = (w[0], w[1]);
        active.retain(|(r, _)| r.end > a);
        while let Some((r, _)) = by_start.peek() {
            if r.start > a {
                break;
            }
            let m = by_start.next().expect("peeked");
            if m.0.end > a {
                active.push(m);
            }
        }
        if active.is_empty() {
            continue;
        }
        let style = active.iter().fold(Style::default(), |s, (_, k)| s.with(*k));
        match res.last_mut() {
            Some((r, s)) if r.end == a && *s == style => r.end = b,
            _ => res.push((a..b, style)),
        }
    }
    Spans(res)
}

/// The editor's colours for Markdown, from the theme.
fn colours(dark: bool) -> (Color32, Color32, Color32, Color32) {
    if dark {
        // heading, code, link, quote
        (
            Color32::from_rgb(0x8c, 0xb4, 0xff),
            Color32::from_rgb(0xe6, 0xa8, 0x6b),
            Color32::from_rgb(0x6f, 0xd0, 0xc8),
            Color32::from_gray(0x9a),
        )
    } else {
        (
            Color32::from_rgb(0x1f, 0x4f, 0xb0),
            Color32::from_rgb(0xa0, 0x4a, 0x10),
            Color32::from_rgb(0x0b, 0x70, 0x6a),
            Color32::from_gray(0x70),
        )
    }
}

/// The layout of `text` in `font` and `colour`, with `spans` styled on it.
pub(super) fn layout_job(
    text: &str,
    spans: &Spans,
    font: &FontId,
    colour: Color32,
    dark: bool,
    wrap_width: f32,
) -> LayoutJob {
    let (heading, code, link, quote) = colours(dark);
    let plain = TextFormat::simple(font.clone(), colour);
    let mut job = LayoutJob { text: text.to_owned(), ..Default::default() };
    job.wrap.max_width = wrap_width;
    let mut at = 0;
    let push = |job: &mut LayoutJob, r: Range<usize>, f: TextFormat| {
        if r.start < r.end {
            let byte_range = egui::text::ByteIndex(r.start)..egui::text::ByteIndex(r.end);
            job.sections.push(egui::text::LayoutSection { leading_space: 0.0, byte_range, format: f });
        }
    };
    for (r, s) in &spans.0 {
        // Offsets from the parser are on char boundaries of the same text.
        if r.start < at
            || r.end > text.len()
            || !text.is_char_boundary(r.start)
            || !text.is_char_boundary(r.end)
        {
            continue;
        }
        push(&mut job, at..r.start, plain.clone());
        let mut f = plain.clone();
        if s.heading > 0 {
            f.color = heading;
            // Headings keep the line height (the caret and the gutter stay aligned)
            // and stand out by colour.
        }
        if s.quote {
            f.color = quote;
        }
        if s.link {
            f.color = link;
            f.underline = Stroke::new(1.0, link);
        }
        if s.code {
            f.color = code;
            f.font_id = FontId::new(font.size, FontFamily::Monospace);
        }
        if s.emphasis {
            f.italics = true;
        }
        if s.strong || s.heading > 0 {
            // No bold face is bundled: strong text is drawn in the strong text colour.
            f.color = if s.heading > 0 || s.link || s.code { f.color } else { strong_colour(dark) };
        }
        if s.strike {
            f.strikethrough = Stroke::new(1.0, f.color);
        }
        push(&mut job, r.clone(), f);
        at = r.end;
    }
    push(&mut job, at..text.len(), plain);
    job
}

/// Strong text: full contrast against the background.
fn strong_colour(dark: bool) -> Color32 {
    if dark { Color32::WHITE } else { Color32::BLACK }
}

/// The spans of the text last highlighted, kept until the text changes.
#[derive(Debug, Default)]
pub(super) struct Cache {
    key: Option<(usize, u64)>,
    spans: Spans,
}

impl Cache {
    /// The spans of `text`, parsed again only when it changed.
    pub(super) fn spans(&mut self, text: &str) -> &Spans {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        text.hash(&mut h);
        let key = Some((text.len(), h.finish()));
        if self.key != key {
            self.spans = spans(text);
            self.key = key;
        }
        &self.spans
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The text of each styled range with its style.
    fn styled(text: &str) -> Vec<(&str, Style)> {
        spans(text).0.into_iter().map(|(r, s)| (&text[r], s)).collect()
    }

    #[test]
    fn headings_emphasis_code_and_links_are_found_where_they_are() {
        let text = "# Title\n\nSome *soft* and **loud** words, `code` and [a link](http://x).\n\n> quoted\n";
        let got = styled(text);
        let find = |piece: &str| got.iter().find(|(t, _)| t.contains(piece)).map(|(_, s)| *s);
        assert_eq!(find("# Title").map(|s| s.heading), Some(1));
        assert!(find("*soft*").unwrap().emphasis);
        assert!(find("**loud**").unwrap().strong);
        assert!(find("`code`").unwrap().code);
        assert!(find("[a link]").unwrap().link);
        assert!(find("> quoted").unwrap().quote);
        // Plain words are not styled.
        assert!(got.iter().all(|(t, _)| !t.contains("Some") && !t.contains("words")));
    }

    #[test]
    fn nested_styles_combine_and_ranges_never_overlap() {
        let text = "## A *b `c` d*\n";
        let got = spans(text).0;
        for w in got.windows(2) {
            assert!(w[0].0.end <= w[1].0.start, "{got:?}");
        }
        let code = got.iter().find(|(r, _)| &text[r.clone()] == "`c`").expect("the code piece");
        assert!(code.1.code && code.1.emphasis && code.1.heading == 2, "{code:?}");
    }

    #[test]
    fn the_layout_covers_the_text_once_in_order() {
        for text in ["", "plain", "# h\n*e* `c`", "日本語の **強調** と `コード`\n", "a\u{301}*é*"]
        {
            let job = layout_job(text, &spans(text), &FontId::monospace(14.0), Color32::GRAY, false, 300.0);
            let mut at = 0;
            for s in &job.sections {
                assert_eq!(s.byte_range.start.0, at, "{text:?}");
                at = s.byte_range.end.0;
            }
            assert_eq!(at, text.len(), "{text:?}");
        }
    }

    proptest::proptest! {
        /// Whatever the text, the spans are in order, on char boundaries and inside it.
        #[test]
        fn spans_of_any_text_are_ordered_and_inside(text in "[#*_`>\\[\\]()a-z \n\u{e9}\u{65e5}-]{0,200}") {
            let got = spans(&text).0;
            let mut at = 0;
            for (r, _) in &got {
                proptest::prop_assert!(r.start >= at && r.start < r.end && r.end <= text.len());
                proptest::prop_assert!(text.is_char_boundary(r.start) && text.is_char_boundary(r.end));
                at = r.end;
            }
        }
    }

    #[test]
    fn markdown_names() {
        assert!(is_markdown("notes.md") && is_markdown("README.MD ") && is_markdown("a.markdown"));
        assert!(!is_markdown("notes.txt") && !is_markdown("md") && !is_markdown("Trip to Lisbon"));
    }
}
