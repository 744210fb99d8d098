use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, TryLockError};

/// A fixed set of connections, each behind its own lock. A reader takes any free one
/// and waits on one only when all are busy; the set never grows.
pub(crate) struct Pool<T> {
    conns: Vec<Mutex<T>>,
    /// Spreads waiting readers over the connections instead of piling onto the first.
    next: AtomicUsize,
}

impl<T> Pool<T> {
    pub(crate) fn new(conns: Vec<T>) -> Pool<T> {
        assert!(!conns.is_empty(), "a pool needs at least one connection");
        Pool {
            conns: conns.into_iter().map(Mutex::new).collect(),
            next: AtomicUsize::new(0),
        }
    }

    pub(crate) fn get(&self) -> MutexGuard<'_, T> {
        for c in &self.conns {
            match c.try_lock() {
                Ok(g) => return g,
                Err(TryLockError::Poisoned(p)) => return p.into_inner(),
                Err(TryLockError::WouldBlock) => {}
            }
        }
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.conns.len();
        lock(&self.conns[i])
    }
}

/// Locks a connection, recovering it from poisoning: a panic while holding a connection
/// leaves it usable, since every use is a statement or a transaction that rolls back
/// on drop.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
