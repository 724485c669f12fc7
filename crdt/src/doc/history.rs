//! Time travel: the text as it was at an earlier version of this replica. An op belongs
//! to a version when the version's clock holds it; a character is shown when its insert
//! belongs and no delete of it does. Nothing is stored per version: the answer is
//! computed from the op log and the item order, which never changes.

use super::Doc;
use crate::clock::VectorClock;
use crate::error::Error;
use crate::id::Lv;

impl Doc {
    /// The text as it was at `clock`, an earlier version of this replica.
    pub fn text_at(&self, clock: &VectorClock) -> Result<String, Error> {
        if !clock.le(&self.log.version) {
            return Err(Error::NotInHistory(clock.clone()));
        }
        let n = self.log.next_lv() as usize;
        let mut present = vec![0u64; n.div_ceil(64)];
        let set = |bits: &mut Vec<u64>, lv: Lv, on: bool| {
            let (w, b) = (lv as usize / 64, lv % 64);
            if on { bits[w] |= 1 << b } else { bits[w] &= !(1 << b) }
        };
        // Mark every op the clock holds, then clear the targets of its deletes.
        for r in &self.log.runs {
            let have = clock.get(self.log.agents[r.agent as usize].id);
            let k = have.saturating_sub(r.seq - 1).min(r.len as u64) as u32;
            for lv in r.lv..r.lv + k {
                set(&mut present, lv, true);
            }
        }
        let held = |bits: &Vec<u64>, lv: Lv| bits[lv as usize / 64] >> (lv % 64) & 1 == 1;
        let mut alive = present.clone();
        for d in &self.log.dels {
            for k in 0..d.len {
                if held(&present, d.lv + k) {
                    set(&mut alive, d.targets(k, 1), false);
                }
            }
        }
        let mut out = String::new();
        for s in self.text.spans() {
            let mut k = 0;
            while k < s.len {
                let start = k;
                let vis = held(&alive, s.lv + k) && held(&present, s.lv + k);
                while k < s.len && (held(&alive, s.lv + k) && held(&present, s.lv + k)) == vis {
                    k += 1;
                }
                if vis {
                    self.text.push_span_str(s, start, k - start, &mut out);
                }
            }
        }
        Ok(out)
    }
}
