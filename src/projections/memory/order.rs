//! The list order of the in-memory read model: users in creation order, found by rank in O(log n).
//!
//! Each user gets the next slot when created; a delete empties its slot. A Fenwick tree over the
//! slots (1 for a user, 0 for an empty slot) finds the slot of the n-th user, so a page is
//! `O(log n + page size)` and the total is a counter. Empty slots are squeezed out once they
//! outnumber the users, so memory follows the users held, not the users ever created. A slot
//! holds the user itself (`T`), so the order is also where the users live. The slots grow a
//! chunk at a time and never move: a vector that doubled held the old and the new copy of every
//! user at once, and those moments made the bench's peak RSS.

/// Slots a chunk holds: 256 KiB of 64-byte users, so a chunk's unused room is small beside the
/// model, and the chunks' own list stays short (25 for 100 000 users).
const CHUNK: usize = 4096;

/// Slots in creation order, and the Fenwick tree that ranks them.
#[derive(Debug)]
pub(super) struct Order<T> {
    slots: Slots<T>,
    /// 1-based: `tree[i]` counts the users in slots `(i - lowbit(i), i]`; `tree[0]` is unused.
    tree: Vec<u32>,
    len: u64,
}

fn lowbit(i: usize) -> usize {
    i & i.wrapping_neg()
}

impl<T> Default for Order<T> {
    fn default() -> Self {
        Self::with_capacity(0)
    }
}

impl<T> Order<T> {
    /// An empty order with room for `n` slots before it grows.
    pub(super) fn with_capacity(n: usize) -> Self {
        let mut tree = Vec::with_capacity(n + 1);
        tree.push(0);
        Self {
            slots: Slots::with_capacity(n),
            tree,
            len: 0,
        }
    }

    /// The order of `items`, first to last, with no empty slot.
    pub(super) fn from_items(items: impl IntoIterator<Item = T>) -> Self {
        let mut slots = Slots::with_capacity(0);
        for item in items {
            slots.push(Some(item));
        }
        let n = slots.len();
        let mut tree = vec![1u32; n + 1];
        tree[0] = 0;
        for i in 1..=n {
            let parent = i + lowbit(i);
            if parent <= n {
                tree[parent] += tree[i];
            }
        }
        Self {
            slots,
            tree,
            len: n as u64,
        }
    }

    /// How many users are in the order.
    pub(super) fn len(&self) -> u64 {
        self.len
    }

    /// Users in the first `i` slots.
    fn prefix(&self, mut i: usize) -> u32 {
        let mut sum = 0;
        while i > 0 {
            sum += self.tree[i];
            i -= lowbit(i);
        }
        sum
    }

    /// Puts `item` last; its slot.
    pub(super) fn push(&mut self, item: T) -> usize {
        let i = self.slots.len() + 1;
        let below = self.prefix(i - 1) - self.prefix(i - lowbit(i));
        self.slots.push(Some(item));
        self.tree.push(below + 1);
        self.len += 1;
        i - 1
    }

    /// What `slot` holds, if it is not empty.
    pub(super) fn get(&self, slot: usize) -> Option<&T> {
        self.slots.get(slot)?.as_ref()
    }

    pub(super) fn get_mut(&mut self, slot: usize) -> Option<&mut T> {
        self.slots.get_mut(slot)?.as_mut()
    }

    /// Empties `slot`; what it held.
    pub(super) fn remove(&mut self, slot: usize) -> Option<T> {
        let item = self.slots.get_mut(slot).and_then(Option::take)?;
        let mut i = slot + 1;
        while i < self.tree.len() {
            self.tree[i] -= 1;
            i += lowbit(i);
        }
        self.len -= 1;
        Some(item)
    }

    /// Whether empty slots outnumber the users enough to be squeezed out (`compacted`).
    pub(super) fn wants_compacting(&self) -> bool {
        self.slots.len() > 1024 && self.slots.len() as u64 > 2 * self.len
    }

    /// The same order without its empty slots (slots renumbered from 0).
    pub(super) fn compacted(self) -> Self {
        Self::from_items(self.into_items())
    }

    /// What the order holds, first to last, emptying it.
    pub(super) fn into_items(self) -> impl Iterator<Item = T> {
        self.slots.chunks.into_iter().flatten().flatten()
    }

    /// What the order holds, first to last.
    pub(super) fn items(&self) -> impl Iterator<Item = &T> + '_ {
        self.slots.from(0).flatten()
    }

    /// The slot of the user of rank `rank` (0 is the first), if there are that many.
    fn slot_of_rank(&self, rank: u64) -> Option<usize> {
        if rank >= self.len {
            return None;
        }
        let n = self.slots.len();
        let (mut pos, mut remaining) = (0usize, rank + 1);
        let mut step = if n == 0 { 0 } else { 1 << n.ilog2() };
        while step > 0 {
            let next = pos + step;
            if next <= n && u64::from(self.tree[next]) < remaining {
                pos = next;
                remaining -= u64::from(self.tree[next]);
            }
            step >>= 1;
        }
        Some(pos)
    }

    /// At most `limit` users from rank `offset` on, in order.
    pub(super) fn page(&self, offset: u64, limit: usize) -> impl Iterator<Item = &T> + '_ {
        let start = self.slot_of_rank(offset).unwrap_or(self.slots.len());
        self.slots.from(start).flatten().take(limit)
    }
}

/// The slots, in chunks of `CHUNK` that each keep their place once allocated; every chunk but
/// the last is full.
#[derive(Debug)]
struct Slots<T> {
    chunks: Vec<Vec<Option<T>>>,
}

impl<T> Slots<T> {
    fn with_capacity(n: usize) -> Self {
        Self {
            chunks: Vec::with_capacity(n.div_ceil(CHUNK)),
        }
    }

    fn len(&self) -> usize {
        let full = self.chunks.len().saturating_sub(1);
        full * CHUNK + self.chunks.last().map_or(0, Vec::len)
    }

    fn push(&mut self, slot: Option<T>) {
        match self.chunks.last_mut() {
            Some(last) if last.len() < CHUNK => last.push(slot),
            _ => {
                let mut chunk = Vec::with_capacity(CHUNK);
                chunk.push(slot);
                self.chunks.push(chunk);
            }
        }
    }

    fn get(&self, slot: usize) -> Option<&Option<T>> {
        self.chunks.get(slot / CHUNK)?.get(slot % CHUNK)
    }

    fn get_mut(&mut self, slot: usize) -> Option<&mut Option<T>> {
        self.chunks.get_mut(slot / CHUNK)?.get_mut(slot % CHUNK)
    }

    /// The slots from `start` to the last.
    fn from(&self, start: usize) -> impl Iterator<Item = &Option<T>> + '_ {
        let (chunk, at) = (start / CHUNK, start % CHUNK);
        let first = self.chunks.get(chunk).map(|c| &c[at..]);
        let rest = self.chunks.get(chunk + 1..).unwrap_or_default();
        first
            .into_iter()
            .chain(rest.iter().map(Vec::as_slice))
            .flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::UserId;

    fn ids(n: usize) -> Vec<UserId> {
        (0..n).map(|_| UserId::new()).collect()
    }

    fn page(order: &Order<UserId>, offset: u64, limit: usize) -> Vec<UserId> {
        order.page(offset, limit).copied().collect()
    }

    #[test]
    fn pages_follow_creation_order_across_deletes() {
        let all = ids(50);
        let mut order = Order::from_items(all[..20].iter().copied());
        let mut slots: Vec<usize> = (0..20).collect();
        for id in &all[20..] {
            slots.push(order.push(*id));
        }
        let mut kept = all.clone();
        for gone in [0, 7, 8, 31, 49] {
            assert_eq!(order.remove(slots[gone]), Some(all[gone]));
            assert_eq!(order.remove(slots[gone]), None, "a slot empties once");
            kept.retain(|id| *id != all[gone]);
        }
        assert_eq!(order.len(), 45);
        for offset in [0u64, 1, 6, 7, 30, 44, 45, 60] {
            let expected: Vec<_> = kept
                .iter()
                .skip(offset as usize)
                .take(10)
                .copied()
                .collect();
            assert_eq!(page(&order, offset, 10), expected, "offset {offset}");
        }
        assert_eq!(page(&order.compacted(), 0, 100), kept);
    }

    #[test]
    fn pushes_onto_an_empty_order_rank_as_from_items_does() {
        let all = ids(37);
        let mut pushed = Order::with_capacity(4);
        for id in &all {
            pushed.push(*id);
        }
        let built = Order::from_items(all.iter().copied());
        assert_eq!(pushed.tree, built.tree);
        assert_eq!(page(&pushed, 30, 10), all[30..]);
    }

    #[test]
    fn pages_and_growth_cross_chunks_without_moving_a_user() {
        let all = ids(3 * CHUNK + 5);
        let mut order = Order::with_capacity(10);
        order.push(all[0]);
        let first: *const UserId = order.get(0).expect("held");
        for id in &all[1..] {
            order.push(*id);
        }
        assert!(
            std::ptr::eq(first, order.get(0).expect("held")),
            "growing moved a user"
        );
        let gone = [CHUNK - 1, CHUNK, 2 * CHUNK + 1];
        for slot in gone {
            assert_eq!(order.remove(slot), Some(all[slot]));
        }
        let kept: Vec<_> = (0..all.len())
            .filter(|i| !gone.contains(i))
            .map(|i| all[i])
            .collect();
        for offset in [
            0,
            CHUNK - 3,
            CHUNK - 1,
            2 * CHUNK - 2,
            3 * CHUNK - 4,
            kept.len() - 1,
        ] {
            let expected: Vec<_> = kept.iter().skip(offset).take(7).copied().collect();
            assert_eq!(page(&order, offset as u64, 7), expected, "offset {offset}");
        }
        assert_eq!(order.items().count(), kept.len());
        assert_eq!(
            page(&Order::from_items(kept.iter().copied()), 0, usize::MAX),
            kept
        );
    }

    #[test]
    fn asks_for_compaction_once_mostly_empty() {
        let all = ids(3000);
        let mut order = Order::from_items(all.iter().copied());
        let wants: Vec<bool> = (0..2000)
            .map(|slot| {
                order.remove(slot);
                order.wants_compacting()
            })
            .collect();
        assert!(!wants[..1500].iter().any(|w| *w));
        assert!(wants[1500]);
        assert_eq!(order.page(0, 1).next(), Some(&all[2000]));
    }
}
