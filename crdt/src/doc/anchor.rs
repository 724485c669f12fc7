//! Anchors: positions in the text that follow their character through remote edits. An
//! anchor names a character by its [`OpId`], so it is valid on every replica that holds
//! that character, and stays put when the character is deleted (tombstones keep their
//! place).

use super::Doc;
use crate::id::OpId;

/// Where an [`Anchor`] sticks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Bias {
    /// To the character before the position (text typed at the anchor goes after it).
    Before,
    /// To the character after the position.
    After,
}

/// A stable position in the text: it follows its character through remote edits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Anchor {
    /// The character anchored to; `None` is the document start (`Before`) or end (`After`).
    pub id: Option<OpId>,
    /// Which side of the position the anchor sticks to.
    pub bias: Bias,
}

impl Doc {
    /// An anchor for char position `pos` (clamped to the text).
    pub fn anchor(&self, pos: usize, bias: Bias) -> Anchor {
        let len = self.len_chars();
        let pos = pos.min(len);
        let lv = match bias {
            Bias::After if pos < len => Some(self.text.lv_at(pos as u32)),
            Bias::Before if pos > 0 => Some(self.text.lv_at(pos as u32 - 1)),
            _ => None,
        };
        Anchor { id: lv.map(|lv| self.log.id_of(lv)), bias }
    }

    /// The current char position of an anchor; `None` if it names an op this replica
    /// does not hold.
    pub fn resolve(&self, anchor: &Anchor) -> Option<usize> {
        let Some(id) = anchor.id else {
            return Some(match anchor.bias {
                Bias::Before => 0,
                Bias::After => self.len_chars(),
            });
        };
        let lv = self.log.lv_of(id).filter(|&lv| self.text.is_item(lv))?;
        let (pos, visible) = self.text.vis_pos_of_lv(lv);
        Some(match anchor.bias {
            Bias::Before if visible => pos as usize + 1,
            _ => pos as usize,
        })
    }
}
