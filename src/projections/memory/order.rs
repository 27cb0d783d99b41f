//! The list order of the in-memory read model: users in creation order, found by rank in O(log n).
//!
//! Each user gets the next slot when created; a delete empties its slot. A Fenwick tree over the
//! slots (1 for a user, 0 for an empty slot) finds the slot of the n-th user, so a page is
//! `O(log n + page size)` and the total is a counter. Empty slots are squeezed out once they
//! outnumber the users, so memory follows the users held, not the users ever created.

use crate::domain::UserId;

/// Slots in creation order, and the Fenwick tree that ranks them.
#[derive(Debug)]
pub(super) struct Order {
    slots: Vec<Option<UserId>>,
    /// 1-based: `tree[i]` counts the users in slots `(i - lowbit(i), i]`; `tree[0]` is unused.
    tree: Vec<u32>,
    len: u64,
}

fn lowbit(i: usize) -> usize {
    i & i.wrapping_neg()
}

impl Default for Order {
    fn default() -> Self {
        Self::from_ids([])
    }
}

impl Order {
    /// The order of `ids`, first to last.
    pub(super) fn from_ids(ids: impl IntoIterator<Item = UserId>) -> Self {
        let slots: Vec<Option<UserId>> = ids.into_iter().map(Some).collect();
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

    /// Puts `id` last; its slot.
    pub(super) fn push(&mut self, id: UserId) -> usize {
        let i = self.slots.len() + 1;
        let below = self.prefix(i - 1) - self.prefix(i - lowbit(i));
        self.slots.push(Some(id));
        self.tree.push(below + 1);
        self.len += 1;
        i - 1
    }

    /// Empties `slot`. Whether the order now wants `compact`ing.
    pub(super) fn remove(&mut self, slot: usize) -> bool {
        if self.slots.get_mut(slot).and_then(Option::take).is_none() {
            return false;
        }
        let mut i = slot + 1;
        while i < self.tree.len() {
            self.tree[i] -= 1;
            i += lowbit(i);
        }
        self.len -= 1;
        self.slots.len() > 1024 && self.slots.len() as u64 > 2 * self.len
    }

    /// The users in order, without empty slots (to rebuild with `from_ids`).
    pub(super) fn ids(&self) -> impl Iterator<Item = UserId> + '_ {
        self.slots.iter().flatten().copied()
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
    pub(super) fn page(&self, offset: u64, limit: usize) -> impl Iterator<Item = UserId> + '_ {
        let start = self.slot_of_rank(offset).unwrap_or(self.slots.len());
        self.slots[start..].iter().flatten().copied().take(limit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: usize) -> Vec<UserId> {
        (0..n).map(|_| UserId::new()).collect()
    }

    #[test]
    fn pages_follow_creation_order_across_deletes() {
        let all = ids(50);
        let mut order = Order::from_ids(all[..20].iter().copied());
        let mut slots: Vec<usize> = (0..20).collect();
        for id in &all[20..] {
            slots.push(order.push(*id));
        }
        let mut kept = all.clone();
        for gone in [0, 7, 8, 31, 49] {
            order.remove(slots[gone]);
            kept.retain(|id| *id != all[gone]);
        }
        assert_eq!(order.len(), 45);
        for offset in [0u64, 1, 6, 7, 30, 44, 45, 60] {
            let page: Vec<_> = order.page(offset, 10).collect();
            let expected: Vec<_> = kept
                .iter()
                .skip(offset as usize)
                .take(10)
                .copied()
                .collect();
            assert_eq!(page, expected, "offset {offset}");
        }
        let rebuilt = Order::from_ids(order.ids().collect::<Vec<_>>());
        assert_eq!(rebuilt.page(0, 100).collect::<Vec<_>>(), kept);
    }

    #[test]
    fn asks_for_compaction_once_mostly_empty() {
        let all = ids(3000);
        let mut order = Order::from_ids(all.iter().copied());
        let wants: Vec<bool> = (0..2000).map(|slot| order.remove(slot)).collect();
        assert!(!wants[..1500].iter().any(|w| *w));
        assert!(wants[1500]);
        assert_eq!(order.page(0, 1).next(), Some(all[2000]));
    }
}
