//! The keyboard: every shortcut of the window in one table (the help dialog lists it,
//! buttons show their hints from it, in the platform's words through
//! `Context::format_shortcut`), the actions they ask for, and moving the keyboard focus
//! between the parts of the window (F6).

use super::action::Action;
use super::dialogs::Dialog;
use super::editor::editor_id;
use egui::gui_zoom::kb_shortcuts::{ZOOM_IN, ZOOM_IN_SECONDARY, ZOOM_OUT, ZOOM_RESET};
use egui::{Id, Key, KeyboardShortcut, Modifiers, Rect};

pub(super) const NEW: KeyboardShortcut = KeyboardShortcut::new(Modifiers::COMMAND, Key::N);
pub(super) const JOIN: KeyboardShortcut = KeyboardShortcut::new(Modifiers::COMMAND, Key::J);
pub(super) const SHARE: KeyboardShortcut =
    KeyboardShortcut::new(Modifiers::COMMAND.plus(Modifiers::SHIFT), Key::S);
pub(super) const SWITCH: KeyboardShortcut = KeyboardShortcut::new(Modifiers::COMMAND, Key::P);
pub(super) const SWITCH_O: KeyboardShortcut = KeyboardShortcut::new(Modifiers::COMMAND, Key::O);
pub(super) const UNDO: KeyboardShortcut = KeyboardShortcut::new(Modifiers::COMMAND, Key::Z);
pub(super) const REDO: KeyboardShortcut =
    KeyboardShortcut::new(Modifiers::COMMAND.plus(Modifiers::SHIFT), Key::Z);
pub(super) const REDO_Y: KeyboardShortcut = KeyboardShortcut::new(Modifiers::COMMAND, Key::Y);
pub(super) const FIND: KeyboardShortcut = KeyboardShortcut::new(Modifiers::COMMAND, Key::F);
pub(super) const REPLACE: KeyboardShortcut = KeyboardShortcut::new(Modifiers::COMMAND, Key::H);
pub(super) const GOTO_LINE: KeyboardShortcut = KeyboardShortcut::new(Modifiers::COMMAND, Key::G);
pub(super) const HELP: KeyboardShortcut = KeyboardShortcut::new(Modifiers::NONE, Key::F1);
pub(super) const NEXT_PART: KeyboardShortcut = KeyboardShortcut::new(Modifiers::NONE, Key::F6);
pub(super) const PREV_PART: KeyboardShortcut = KeyboardShortcut::new(Modifiers::SHIFT, Key::F6);
const ESCAPE: KeyboardShortcut = KeyboardShortcut::new(Modifiers::NONE, Key::Escape);
const TAB: KeyboardShortcut = KeyboardShortcut::new(Modifiers::NONE, Key::Tab);
const ENTER: KeyboardShortcut = KeyboardShortcut::new(Modifiers::NONE, Key::Enter);

/// What each shortcut does, as the help dialog lists them.
pub(super) const TABLE: &[(&str, &[KeyboardShortcut])] = &[
    ("New document", &[NEW]),
    ("Join a document with a ticket", &[JOIN]),
    ("Share the open document", &[SHARE]),
    ("Switch document (type part of its name)", &[SWITCH, SWITCH_O]),
    ("Undo", &[UNDO]),
    ("Redo", &[REDO, REDO_Y]),
    ("Find", &[FIND]),
    ("Find and replace", &[REPLACE]),
    ("Go to line", &[GOTO_LINE]),
    ("Zoom the window in (kept across restarts)", &[ZOOM_IN, ZOOM_IN_SECONDARY]),
    ("Zoom the window out", &[ZOOM_OUT]),
    ("Zoom back to 100 %", &[ZOOM_RESET]),
    ("Leave the editor (then Tab moves between controls)", &[ESCAPE]),
    ("Move to the next or previous part of the window", &[NEXT_PART, PREV_PART]),
    ("Next control (in the editor: a tab character)", &[TAB]),
    ("Confirm a dialog", &[ENTER]),
    ("Close a dialog, the switcher or the find bar", &[ESCAPE]),
    ("Show this list", &[HELP]),
];

/// A button's hover text: what it does and its shortcut, as the platform writes it.
pub(super) fn hint(ctx: &egui::Context, what: &str, shortcut: &KeyboardShortcut) -> String {
    format!("{what} ({})", ctx.format_shortcut(shortcut))
}

/// What the window is showing, for which shortcuts apply.
#[derive(Debug, Clone, Copy)]
pub(super) struct KeyState {
    /// A document is open in the editor (not loading).
    pub(super) doc_open: bool,
    /// The find bar or the go-to-line prompt is open.
    pub(super) bar_open: bool,
    /// A dialog, the switcher or the help is shown: they take their own keys.
    pub(super) modal_open: bool,
}

/// The actions asked for by keyboard shortcuts this frame. They are consumed before
/// any widget sees them, so that the text widget's own undo never runs.
pub(super) fn shortcuts(ctx: &egui::Context, s: KeyState) -> Vec<Action> {
    if s.modal_open {
        return Vec::new();
    }
    ctx.input_mut(|i| {
        let mut res = Vec::new();
        let mut on = |pressed: bool, a: Action| {
            if pressed {
                res.push(a);
            }
        };
        on(i.consume_shortcut(&NEW), Action::NewDoc);
        on(i.consume_shortcut(&JOIN), Action::ShowDialog(Dialog::join()));
        let switch = i.consume_shortcut(&SWITCH) | i.consume_shortcut(&SWITCH_O);
        on(switch, Action::OpenSwitcher);
        on(i.consume_shortcut(&HELP), Action::ShowHelp);
        // Shift+F6 first: a plain F6 shortcut matches it too.
        let back = i.consume_shortcut(&PREV_PART);
        on(back, Action::MoveFocus { back: true });
        on(i.consume_shortcut(&NEXT_PART), Action::MoveFocus { back: false });
        if s.doc_open {
            // Redo first: the undo shortcut matches Ctrl+Shift+Z too.
            let redo = i.consume_shortcut(&REDO) | i.consume_shortcut(&REDO_Y);
            on(i.consume_shortcut(&UNDO), Action::Undo);
            on(redo, Action::Redo);
            on(i.consume_shortcut(&SHARE), Action::Share);
            on(i.consume_shortcut(&FIND), Action::OpenFind { replace: false });
            on(i.consume_shortcut(&REPLACE), Action::OpenFind { replace: true });
            on(i.consume_shortcut(&GOTO_LINE), Action::OpenGoToLine);
            on(s.bar_open && i.consume_key(Modifiers::NONE, Key::Escape), Action::CloseBar);
        }
        res
    })
}

/// The parts of the window that F6 moves between, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Part {
    TopBar = 0,
    Documents = 1,
    Editor = 2,
    Peers = 3,
}

const PARTS: [Part; 4] = [Part::TopBar, Part::Documents, Part::Editor, Part::Peers];

fn part_id(p: Part) -> Id {
    Id::new(("tandem-focus-part", p as usize))
}

/// Notes where a part of the window is this frame and which of its widgets takes the
/// focus when F6 moves there.
pub(super) fn mark_part(ctx: &egui::Context, part: Part, rect: Rect, first: Id) {
    let frame = ctx.cumulative_frame_nr();
    ctx.data_mut(|d| d.insert_temp(part_id(part), (frame, rect, first)));
}

/// Moves the keyboard focus to the next (or previous) part of the window drawn on the
/// last frame: the part after the one holding the focused widget, or the editor when
/// nothing is focused.
pub(super) fn move_focus(ctx: &egui::Context, back: bool) {
    let frame = ctx.cumulative_frame_nr();
    let parts: Vec<(Part, Rect, Id)> = PARTS
        .iter()
        .filter_map(|p| {
            let (f, rect, first) = ctx.data(|d| d.get_temp::<(u64, Rect, Id)>(part_id(*p)))?;
            (f + 1 >= frame).then_some((*p, rect, first))
        })
        .collect();
    if parts.is_empty() {
        return;
    }
    let focused = ctx.memory(|m| m.focused());
    let at = focused.and_then(|id| {
        if id == editor_id() {
            return parts.iter().position(|(p, _, _)| *p == Part::Editor);
        }
        let r = ctx.read_response(id)?.rect;
        parts.iter().position(|(_, rect, _)| rect.contains(r.center()))
    });
    let n = parts.len();
    let next = match (at, back) {
        (None, _) => parts.iter().position(|(p, _, _)| *p == Part::Editor).unwrap_or(0),
        (Some(i), false) => (i + 1) % n,
        (Some(i), true) => (i + n - 1) % n,
    };
    let target = parts[next].2;
    ctx.memory_mut(|m| m.request_focus(target));
}
