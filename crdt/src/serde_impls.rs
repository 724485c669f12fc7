//! Serde forms of the types whose derived form would be unreadable or unsafe: a
//! [`ReplicaId`] is its 16 hex digits (a JSON number would lose precision above 2^53),
//! a [`VectorClock`] a map from replica to seq (zero seqs dropped, so any map reads
//! into a valid clock). The other public types derive theirs.

use crate::clock::VectorClock;
use crate::id::ReplicaId;
use serde::de::{self, Deserializer, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use std::fmt;

impl Serialize for ReplicaId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ReplicaId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<ReplicaId, D::Error> {
        struct Hex;
        impl Visitor<'_> for Hex {
            type Value = ReplicaId;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a replica id as 16 hex digits")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<ReplicaId, E> {
                if v.len() != 16 || !v.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(E::invalid_value(de::Unexpected::Str(v), &self));
                }
                u64::from_str_radix(v, 16)
                    .map(ReplicaId)
                    .map_err(|_| E::invalid_value(de::Unexpected::Str(v), &self))
            }
        }
        d.deserialize_str(Hex)
    }
}

impl Serialize for VectorClock {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.len()))?;
        for (r, seq) in self.iter() {
            m.serialize_entry(&r, &seq)?;
        }
        m.end()
    }
}

impl<'de> Deserialize<'de> for VectorClock {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<VectorClock, D::Error> {
        let entries = std::collections::BTreeMap::<ReplicaId, u64>::deserialize(d)?;
        Ok(entries.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use crate::{Change, Doc, Op, OpId, ReplicaId, Value, VectorClock};

    #[test]
    fn types_round_trip_through_json_in_a_readable_form() {
        let r = ReplicaId(u64::MAX - 1);
        assert_eq!(serde_json::to_string(&r).unwrap(), "\"fffffffffffffffe\"");
        for bad in ["\"12\"", "\"zzzzzzzzzzzzzzzz\"", "12"] {
            assert!(serde_json::from_str::<ReplicaId>(bad).is_err(), "{bad}");
        }
        let clock: VectorClock = [(r, 3), (ReplicaId(1), 9)].into_iter().collect();
        let json = serde_json::to_string(&clock).unwrap();
        assert_eq!(json, r#"{"0000000000000001":9,"fffffffffffffffe":3}"#);
        assert_eq!(serde_json::from_str::<VectorClock>(&json).unwrap(), clock);
        assert_eq!(
            serde_json::from_str::<VectorClock>(r#"{"0000000000000001":0}"#).unwrap(),
            VectorClock::new()
        );

        let mut d = Doc::new(r);
        d.set_wall_clock(1_790_000_000);
        d.insert(0, "héllo").unwrap();
        d.map_set("n", Value::Int(-3)).unwrap();
        d.delete(1, 2).unwrap();
        let c = d.commit().unwrap();
        let json = serde_json::to_string(&c).unwrap();
        assert!(json.contains(r#""time":1790000000"#), "{json}");
        assert!(json.contains(r#""map_set":{"key":"n","value":{"int":-3}}"#), "{json}");
        assert_eq!(serde_json::from_str::<Change>(&json).unwrap(), c);
        let op = Op::Delete { start: OpId::new(r, 2), len: 2, reversed: false };
        assert_eq!(serde_json::from_str::<Op>(&serde_json::to_string(&op).unwrap()).unwrap(), op);
    }
}
