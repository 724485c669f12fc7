//! The go-to-line prompt over the editor (Ctrl+G): a line number, Enter jumps to the
//! start of that line. Numbers past either end go to the first or last line; anything
//! that is not a number says so and keeps the prompt open.

use super::action::Action;
use super::widgets::ERROR_RED;
use egui::{Id, Key};

/// The prompt's field (its id, to focus it).
pub fn goto_field_id() -> Id {
    Id::new("goto-line")
}

/// The go-to-line prompt's state.
#[derive(Debug, Default)]
pub(super) struct GoToLine {
    /// What the user typed.
    pub(super) input: String,
    /// Why the last input was not a line number.
    pub(super) error: Option<String>,
    /// Put the keyboard focus in the field on the next frame.
    focus: bool,
}

/// The line number in `input` (1-based; 0 and numbers too big for a `usize` are kept
/// for the caller to clamp), or why it is none.
pub(super) fn parse_line(input: &str) -> Result<usize, String> {
    let s = input.trim();
    if s.is_empty() || !s.chars().all(|c| c.is_ascii_digit()) {
        return Err(format!("“{s}” is not a line number"));
    }
    Ok(s.parse().unwrap_or(usize::MAX))
}

/// The char position where line `line` (1-based) of `text` starts; line 0 is the
/// first line and a line past the end is the last.
pub(super) fn line_start(text: &str, line: usize) -> usize {
    let mut pos = 0;
    let mut start = 0;
    let mut n = 1;
    for c in text.chars() {
        pos += 1;
        if c == '\n' {
            if n >= line {
                break;
            }
            n += 1;
            start = pos;
        }
    }
    start
}

impl GoToLine {
    /// A prompt with the focus in its field.
    pub(super) fn new() -> GoToLine {
        GoToLine { focus: true, ..GoToLine::default() }
    }

    /// Draws the prompt; `lines` is how many lines the document has. Asks to jump when
    /// Enter or "Go" is pressed on a number.
    pub(super) fn ui(&mut self, ui: &mut egui::Ui, lines: usize) -> Option<Action> {
        let mut action = None;
        ui.horizontal(|ui| {
            let label = ui.label("Go to line");
            let field = egui::TextEdit::singleline(&mut self.input)
                .id(goto_field_id())
                .hint_text(format!("1–{lines}"))
                .desired_width(100.0);
            let resp = ui.add(field).labelled_by(label.id);
            if std::mem::take(&mut self.focus) {
                resp.request_focus();
            }
            if resp.changed() {
                self.error = None;
            }
            let enter = resp.lost_focus() && ui.input(|i| i.key_pressed(Key::Enter));
            if ui.button("Go").clicked() || enter {
                match parse_line(&self.input) {
                    Ok(line) => action = Some(Action::GoToLine(line)),
                    Err(e) => {
                        self.error = Some(e);
                        self.focus = true;
                    }
                }
            }
            if ui.button("Close").on_hover_text("Escape").clicked() {
                action = Some(Action::CloseBar);
            }
            if let Some(e) = &self.error {
                ui.colored_label(ERROR_RED, e);
            }
        });
        action
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(text: &str, line: usize, expected: usize) {
        assert_eq!(line_start(text, line), expected, "line {line} of {text:?}");
    }

    #[test]
    fn lines_start_after_newlines_and_out_of_range_lines_clamp() {
        let text = "ab\nçd😀\n\nlast";
        check(text, 0, 0);
        check(text, 1, 0);
        check(text, 2, 3);
        check(text, 3, 7);
        check(text, 4, 8);
        check(text, 5, 8);
        check(text, usize::MAX, 8);
        check("", 3, 0);
        check("a\n", 9, 2);
    }

    #[test]
    fn only_digits_are_a_line_number() {
        assert_eq!(parse_line(" 12 "), Ok(12));
        assert_eq!(parse_line("0"), Ok(0));
        assert_eq!(parse_line("99999999999999999999999"), Ok(usize::MAX));
        for bad in ["", "-3", "abc", "1.5", "１２"] {
            assert!(parse_line(bad).is_err(), "{bad:?}");
        }
    }
}
