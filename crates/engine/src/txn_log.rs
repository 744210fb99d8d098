//! Every transaction the engine has decided, by id, in fixed-size chunks: appending
//! never moves what is already there, so a million records never pause the
//! authorizer for a reallocation.

use model::TxnRecord;

/// Records per chunk.
const CHUNK_RECORDS: usize = 1 << 16;

#[derive(Default)]
pub struct TxnLog {
    chunks: Vec<Vec<TxnRecord>>,
    len: usize,
}

impl TxnLog {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn get(&self, index: usize) -> Option<&TxnRecord> {
        self.chunks
            .get(index / CHUNK_RECORDS)?
            .get(index % CHUNK_RECORDS)
    }

    pub fn get_mut(&mut self, index: usize) -> Option<&mut TxnRecord> {
        self.chunks
            .get_mut(index / CHUNK_RECORDS)?
            .get_mut(index % CHUNK_RECORDS)
    }

    pub fn push(&mut self, txn: TxnRecord) {
        if self.len.is_multiple_of(CHUNK_RECORDS) {
            self.chunks.push(Vec::with_capacity(CHUNK_RECORDS));
        }
        self.chunks
            .last_mut()
            .expect("a chunk was just ensured")
            .push(txn);
        self.len += 1;
    }

    pub fn last(&self) -> Option<&TxnRecord> {
        self.len.checked_sub(1).and_then(|i| self.get(i))
    }

    /// Newest first.
    pub fn iter(&self) -> impl Iterator<Item = &TxnRecord> {
        self.chunks.iter().flat_map(|c| c.iter())
    }

    pub fn iter_rev(&self) -> impl Iterator<Item = &TxnRecord> {
        self.chunks.iter().rev().flat_map(|c| c.iter().rev())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexes_across_chunk_boundaries() {
        let mut log = TxnLog::default();
        assert!(log.last().is_none());
        let template = crate::tests_support::txn(0);
        for i in 0..(CHUNK_RECORDS + 3) {
            let mut t = template.clone();
            t.id = model::TxnId(i as u64 + 1);
            log.push(t);
        }
        assert_eq!(log.len(), CHUNK_RECORDS + 3);
        assert_eq!(
            log.get(CHUNK_RECORDS).unwrap().id.0,
            CHUNK_RECORDS as u64 + 1
        );
        assert_eq!(log.last().unwrap().id.0, CHUNK_RECORDS as u64 + 3);
        assert_eq!(
            log.iter_rev().next().unwrap().id.0,
            CHUNK_RECORDS as u64 + 3
        );
        assert!(log.get(CHUNK_RECORDS + 3).is_none());
    }
}
