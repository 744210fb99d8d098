//! Text ids (card tokens, terminal ids) to the dense `u32` keys the store is built on.

use std::collections::HashMap;

/// Maps each distinct text id to a dense `u32`, in first-seen order. It grows with the
/// number of distinct ids (one `String` and one map slot each); that is the same order of
/// memory as the per-entity headers in the store.
#[derive(Clone, Debug, Default)]
pub struct Interner {
    ids: HashMap<String, u32>,
    names: Vec<String>,
}

impl Interner {
    pub fn new() -> Interner {
        Interner::default()
    }

    /// The key of `name`, assigning the next one if it is new; `None` once `u32` is full.
    pub fn intern(&mut self, name: &str) -> Option<u32> {
        if let Some(&k) = self.ids.get(name) {
            return Some(k);
        }
        let k = u32::try_from(self.names.len()).ok()?;
        self.ids.insert(name.to_owned(), k);
        self.names.push(name.to_owned());
        Some(k)
    }

    pub fn get(&self, name: &str) -> Option<u32> {
        self.ids.get(name).copied()
    }

    pub fn name(&self, key: u32) -> Option<&str> {
        self.names.get(key as usize).map(String::as_str)
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interning_is_stable_and_dense() {
        let mut i = Interner::new();
        assert_eq!(i.intern("b"), Some(0));
        assert_eq!(i.intern("a"), Some(1));
        assert_eq!(i.intern("b"), Some(0));
        assert_eq!(i.name(1), Some("a"));
        assert_eq!(i.len(), 2);
    }
}
