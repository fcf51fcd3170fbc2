//! Blocks decoded ahead on helper threads, in the order a reader will ask for them.
//!
//! A filesystem reader knows, from its metadata, which compressed blocks it will read and in
//! what order; decompressing them is most of its work. `Ahead` holds that plan: helper
//! threads decode blocks a bounded window ahead of the reader, and the reader takes them in
//! order, decoding a block itself when no helper has started it and helping with later ones
//! while it waits. Memory stays bounded by the window; a reader that strays from the plan (a
//! damaged image) simply decodes inline.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

/// A block's decoded bytes or why it could not be decoded.
pub(crate) type Decoded = Result<Vec<u8>, String>;

/// The plan and its progress, shared by the reader and the helpers.
pub(crate) struct Ahead<K> {
    plan: Vec<K>,
    window: usize,
    state: Mutex<State>,
    changed: Condvar,
    /// Blocks the reader asked for that were not next in the plan (for tests).
    strayed: AtomicUsize,
}

struct State {
    /// Plan entries handed out (to a helper or to the reader).
    claimed: usize,
    /// The reader's position: entries before it are done with.
    taken: usize,
    /// Decoded entries not yet taken.
    ready: HashMap<usize, Decoded>,
    stop: bool,
}

impl<K: Copy + PartialEq> Ahead<K> {
    /// A plan decoded at most `window` entries ahead of the reader.
    pub(crate) fn new(plan: Vec<K>, window: usize) -> Ahead<K> {
        Ahead {
            plan,
            window: window.max(1),
            state: Mutex::new(State {
                claimed: 0,
                taken: 0,
                ready: HashMap::new(),
                stop: false,
            }),
            changed: Condvar::new(),
            strayed: AtomicUsize::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn wait<'s>(&'s self, g: MutexGuard<'s, State>) -> MutexGuard<'s, State> {
        self.changed.wait(g).unwrap_or_else(PoisonError::into_inner)
    }

    /// Claim the next entry if the window allows.
    fn claim(&self, st: &mut State) -> Option<usize> {
        (!st.stop && st.claimed < self.plan.len() && st.claimed < st.taken + self.window).then(|| {
            st.claimed += 1;
            st.claimed - 1
        })
    }

    /// Decode entry `i` outside the lock and file the result.
    fn decode_into<'s>(
        &'s self,
        mut st: MutexGuard<'s, State>,
        i: usize,
        decode: &dyn Fn(K) -> Decoded,
    ) -> MutexGuard<'s, State> {
        drop(st);
        let r = decode(self.plan[i]);
        st = self.lock();
        if i >= st.taken {
            st.ready.insert(i, r);
        }
        self.changed.notify_all();
        st
    }

    /// A helper thread's loop: decode planned entries until the plan is done or `stop`.
    pub(crate) fn work(&self, decode: &dyn Fn(K) -> Decoded) {
        let mut st = self.lock();
        loop {
            if st.stop || st.claimed >= self.plan.len() {
                return;
            }
            match self.claim(&mut st) {
                Some(i) => st = self.decode_into(st, i, decode),
                None => st = self.wait(st),
            }
        }
    }

    /// The reader's block `key`: `None` unless it is (within the window) next in the plan.
    pub(crate) fn take(&self, key: K, decode: &dyn Fn(K) -> Decoded) -> Option<Decoded> {
        let mut st = self.lock();
        let end = (st.taken + self.window).min(self.plan.len());
        let Some(idx) = (st.taken..end).find(|&i| self.plan[i] == key) else {
            self.strayed.fetch_add(1, Ordering::Relaxed);
            return None;
        };
        // Entries skipped over (the reader strayed) are dropped.
        for i in st.taken..idx {
            st.ready.remove(&i);
        }
        st.taken = idx;
        loop {
            if let Some(r) = st.ready.remove(&idx) {
                st.taken = idx + 1;
                self.changed.notify_all();
                return Some(r);
            }
            if st.claimed <= idx {
                // Nobody has started it: the reader decodes it.
                st.claimed = idx + 1;
                st.taken = idx + 1;
                self.changed.notify_all();
                drop(st);
                return Some(decode(key));
            }
            // A helper is on it: help with a later entry meanwhile, or wait.
            st = match self.claim(&mut st) {
                Some(j) => self.decode_into(st, j, decode),
                None => self.wait(st),
            };
        }
    }

    /// How far the reader got through the plan, and how often it asked for a block off it.
    #[cfg(test)]
    pub(crate) fn progress(&self) -> (usize, usize) {
        (self.lock().taken, self.strayed.load(Ordering::Relaxed))
    }

    /// Stop the helpers (the reader is done).
    pub(crate) fn stop(&self) {
        self.lock().stop = true;
        self.changed.notify_all();
    }
}

/// Helper threads worth starting for block decoding on this machine (0 on one CPU).
pub(crate) fn helpers() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .saturating_sub(1)
        .min(3)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(k: u32) -> Decoded {
        if k == 13 {
            Err("bad".into())
        } else {
            Ok(vec![k as u8; 3])
        }
    }

    #[test]
    fn the_reader_gets_every_block_in_order_with_helpers() {
        let plan: Vec<u32> = (0..200).collect();
        let ahead = Ahead::new(plan.clone(), 4);
        std::thread::scope(|s| {
            for _ in 0..3 {
                s.spawn(|| ahead.work(&decode));
            }
            for k in &plan {
                assert_eq!(ahead.take(*k, &decode), Some(decode(*k)));
            }
            ahead.stop();
        });
    }

    #[test]
    fn a_reader_off_the_plan_decodes_inline_and_can_rejoin() {
        let ahead = Ahead::new((0..50).collect::<Vec<u32>>(), 4);
        std::thread::scope(|s| {
            s.spawn(|| ahead.work(&decode));
            assert_eq!(ahead.take(0, &decode), Some(decode(0)));
            assert_eq!(ahead.take(99, &decode), None);
            // Skipping two planned entries is fine (within the window).
            assert_eq!(ahead.take(3, &decode), Some(decode(3)));
            for k in 4..50 {
                assert_eq!(ahead.take(k, &decode), Some(decode(k)));
            }
            ahead.stop();
        });
    }

    #[test]
    fn without_helpers_the_reader_decodes_everything_itself() {
        let ahead = Ahead::new(vec![5u32, 6, 5], 2);
        assert_eq!(ahead.take(5, &decode), Some(decode(5)));
        assert_eq!(ahead.take(6, &decode), Some(decode(6)));
        assert_eq!(ahead.take(5, &decode), Some(decode(5)));
        assert_eq!(ahead.take(5, &decode), None);
    }
}
