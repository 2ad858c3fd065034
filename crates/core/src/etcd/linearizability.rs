//! A linearizability checker for a key-value history, in the style of
//! Wing & Gong's search as Porcupine and Knossos implement it.
//!
//! Linearizability is local (Herlihy & Wing): a history is linearizable if and
//! only if its sub-history for each key is, so each key is checked on its own.
//! Within a key, a depth-first search tries to order the operations so that
//! each one takes effect between its invocation and its completion and every
//! read sees the latest write; visited (done-set, value) pairs are memoized.
//! Operations whose outcome the client never learned (timeouts) may take
//! effect at any time after their invocation, or never.

use std::collections::{BTreeMap, BTreeSet};

/// What a client asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// Put a value.
    Put(String),
    /// Delete the key.
    Delete,
    /// Read the key; `Some` result once known.
    Get,
    /// Compare-and-set as a txn: if the value equals `expected` (`None`:
    /// absent), put `new`. A known outcome says whether it did.
    Cas {
        /// The value the key must have.
        expected: Option<String>,
        /// The value to put.
        new: String,
    },
}

/// How an operation ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// It succeeded; for a get, with the value read (`None`: no key).
    Ok(Option<String>),
    /// A compare-and-set answered whether its comparison held.
    Swapped(bool),
    /// It may or may not have taken effect (timeout, lost answer).
    Unknown,
}

/// One operation of a history. Times are positions in one global order of
/// invocations and completions, so ties cannot blur real-time order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operation {
    /// The key.
    pub key: String,
    /// The operation.
    pub op: Op,
    /// When it was invoked.
    pub invoked: u64,
    /// When its answer arrived (`u64::MAX` when unknown).
    pub completed: u64,
    /// How it ended.
    pub outcome: Outcome,
}

/// Checks a whole history. On failure, returns the key whose sub-history has no
/// linearization, with that sub-history.
pub fn check(history: &[Operation]) -> Result<(), (String, Vec<Operation>)> {
    let mut by_key: BTreeMap<&str, Vec<Operation>> = BTreeMap::new();
    for op in history {
        by_key.entry(&op.key).or_default().push(op.clone());
    }
    for (key, ops) in by_key {
        if !check_key(&ops) {
            return Err((key.to_string(), ops));
        }
    }
    Ok(())
}

/// A set of operation indexes.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Bits(Vec<u64>);

impl Bits {
    fn new(len: usize) -> Self {
        Bits(vec![0; len.div_ceil(64)])
    }
    fn has(&self, i: usize) -> bool {
        self.0[i / 64] & (1 << (i % 64)) != 0
    }
    fn with(&self, i: usize) -> Self {
        let mut next = self.clone();
        next.0[i / 64] |= 1 << (i % 64);
        next
    }
    fn covers(&self, other: &Bits) -> bool {
        self.0.iter().zip(&other.0).all(|(a, b)| a & b == *b)
    }
}

/// Checks the operations on one key, starting from an absent key.
pub fn check_key(ops: &[Operation]) -> bool {
    let mut required = Bits::new(ops.len());
    for (i, o) in ops.iter().enumerate() {
        if o.outcome != Outcome::Unknown {
            required = required.with(i);
        }
    }
    let mut seen = BTreeSet::new();
    search(ops, Bits::new(ops.len()), &None, &required, &mut seen)
}

fn search(
    ops: &[Operation],
    done: Bits,
    value: &Option<String>,
    required: &Bits,
    seen: &mut BTreeSet<(Bits, Option<String>)>,
) -> bool {
    if done.covers(required) {
        return true;
    }
    if !seen.insert((done.clone(), value.clone())) {
        return false;
    }
    // Nothing may go before an operation that completed before it was invoked.
    let horizon =
        ops.iter().enumerate().filter(|(i, _)| !done.has(*i)).map(|(_, o)| o.completed).min().unwrap_or(u64::MAX);
    for (i, o) in ops.iter().enumerate() {
        if done.has(i) || o.invoked > horizon {
            continue;
        }
        let next = match (&o.op, &o.outcome) {
            (Op::Put(v), _) => Some(v.clone()),
            (Op::Delete, _) => None,
            (Op::Get, Outcome::Ok(read)) if read == value => value.clone(),
            (Op::Get, Outcome::Ok(_) | Outcome::Swapped(_)) => continue,
            // A read with no answer says nothing.
            (Op::Get, Outcome::Unknown) => value.clone(),
            (Op::Cas { expected, new }, Outcome::Swapped(true)) if expected == value => Some(new.clone()),
            (Op::Cas { expected, .. }, Outcome::Swapped(false)) if expected != value => value.clone(),
            (Op::Cas { .. }, Outcome::Swapped(_)) => continue,
            (Op::Cas { expected, new }, _) => {
                if expected == value {
                    Some(new.clone())
                } else {
                    value.clone()
                }
            }
        };
        if search(ops, done.with(i), &next, required, seen) {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(op: Op, invoked: u64, completed: u64, outcome: Outcome) -> Operation {
        Operation { key: "k".into(), op, invoked, completed, outcome }
    }
    fn put(v: &str, a: u64, b: u64) -> Operation {
        op(Op::Put(v.into()), a, b, Outcome::Ok(None))
    }
    fn get(v: Option<&str>, a: u64, b: u64) -> Operation {
        op(Op::Get, a, b, Outcome::Ok(v.map(String::from)))
    }

    #[test]
    fn sequential_histories() {
        assert!(check_key(&[put("1", 0, 1), get(Some("1"), 2, 3)]));
        assert!(!check_key(&[put("1", 0, 1), get(None, 2, 3)]), "stale read after a completed write");
        assert!(!check_key(&[put("1", 0, 1), put("2", 2, 3), get(Some("1"), 4, 5)]));
        assert!(check_key(&[put("1", 0, 1), op(Op::Delete, 2, 3, Outcome::Ok(None)), get(None, 4, 5)]));
    }

    #[test]
    fn concurrent_operations_may_take_effect_in_either_order() {
        // A read overlapping a write may see the old or the new value.
        assert!(check_key(&[put("1", 0, 10), get(None, 1, 2)]));
        assert!(check_key(&[put("1", 0, 10), get(Some("1"), 1, 2)]));
        // But once one reader saw the new value, a later reader cannot see the old.
        assert!(!check_key(&[put("1", 0, 10), get(Some("1"), 1, 2), get(None, 3, 4)]));
    }

    #[test]
    fn unknown_writes_may_or_may_not_happen() {
        let lost = op(Op::Put("x".into()), 0, u64::MAX, Outcome::Unknown);
        assert!(check_key(&[lost.clone(), get(None, 5, 6)]));
        assert!(check_key(&[lost.clone(), get(Some("x"), 5, 6)]));
        assert!(!check_key(&[lost, get(Some("x"), 5, 6), get(None, 7, 8)]), "it cannot un-happen");
    }

    #[test]
    fn compare_and_set() {
        let cas = |e: Option<&str>, n: &str, a, b, ok| {
            op(Op::Cas { expected: e.map(String::from), new: n.into() }, a, b, Outcome::Swapped(ok))
        };
        assert!(check_key(&[cas(None, "1", 0, 1, true), get(Some("1"), 2, 3)]));
        assert!(!check_key(&[cas(None, "1", 0, 1, false), get(Some("1"), 2, 3)]));
        assert!(!check_key(&[put("0", 0, 1), cas(None, "1", 2, 3, true)]), "the key existed");
        assert!(check_key(&[put("0", 0, 1), cas(Some("0"), "1", 2, 3, true), cas(Some("0"), "2", 4, 5, false)]));
        // Two concurrent CAS from the same value cannot both win.
        assert!(!check_key(&[put("0", 0, 1), cas(Some("0"), "a", 2, 5, true), cas(Some("0"), "b", 3, 6, true)]));
    }

    #[test]
    fn long_histories_are_checked_too() {
        // More operations on one key than fit in a machine word or two.
        let ops: Vec<Operation> = (0..300)
            .map(|i| if i % 2 == 0 { put(&i.to_string(), i, i + 1) } else { get(Some(&(i - 1).to_string()), i, i + 1) })
            .collect();
        assert!(check_key(&ops));
        let mut bad = ops.clone();
        bad[299] = get(Some("0"), 299, 300);
        assert!(!check_key(&bad));
    }

    #[test]
    fn whole_history_reports_the_bad_key() {
        let mut bad = get(Some("ghost"), 0, 1);
        bad.key = "b".into();
        let err = check(&[put("1", 0, 1), bad]).unwrap_err();
        assert_eq!(err.0, "b");
    }
}
