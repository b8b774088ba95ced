//! RFC 9162 Merkle trees: tree hashes, inclusion and consistency proofs.
//!
//! The proof shapes are those of RFC 9162 §2.1.3 (inclusion: the audit path
//! from a leaf to the root, deepest sibling first) and §2.1.4 (consistency:
//! the subtree hashes that prove a tree of `old` leaves is a prefix of a tree
//! of `new` leaves). Which subtrees a proof holds depends only on the sizes
//! and the index, so [`inclusion_ranges`] and [`consistency_ranges`] name them
//! as leaf ranges and any source of subtree hashes can fill them in: a slice
//! of leaves ([`inclusion_proof`], [`consistency_proof`]), a [`CompactTree`]
//! in memory, or a ledger (`LedgerExt`).

use std::ops::Range;

use sha2::Digest as _;

/// A node or leaf hash of the Merkle tree.
pub type TreeHash = [u8; 32];

/// RFC 9162 leaf hash: `SHA-256(0x00 || data)`.
pub fn leaf_hash(data: &[u8]) -> TreeHash {
    let mut h = sha2::Sha256::new();
    h.update([0u8]);
    h.update(data);
    h.finalize().into()
}

/// RFC 9162 interior node hash: `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &TreeHash, right: &TreeHash) -> TreeHash {
    let mut h = sha2::Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The hash of the empty tree, `SHA-256("")`.
pub fn empty_root() -> TreeHash {
    sha2::Sha256::digest([]).into()
}

/// RFC 9162 Merkle tree hash of a list of leaf hashes (the empty tree hashes
/// to `SHA-256("")`).
pub fn merkle_root(leaves: &[TreeHash]) -> TreeHash {
    match leaves.len() {
        0 => empty_root(),
        1 => leaves[0],
        n => {
            let k = split_point(n as u64) as usize;
            node_hash(&merkle_root(&leaves[..k]), &merkle_root(&leaves[k..]))
        }
    }
}

/// The largest power of two strictly below `n` (`n > 1`): where RFC 9162
/// splits a tree of `n` leaves into its left and right subtrees.
fn split_point(n: u64) -> u64 {
    debug_assert!(n > 1);
    1 << (u64::BITS - 1 - (n - 1).leading_zeros())
}

/// Why a proof was refused, or could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProofError {
    /// The leaf index is not inside the tree.
    #[error("leaf index {index} is outside a tree of {size} leaves")]
    IndexOutOfRange {
        /// The leaf index asked about.
        index: u64,
        /// The tree size.
        size: u64,
    },
    /// The tree asked about has more leaves than there are.
    #[error("a tree of {size} leaves was asked for, only {have} exist")]
    TooFewLeaves {
        /// The tree size asked for.
        size: u64,
        /// The leaves there are.
        have: u64,
    },
    /// The old tree is larger than the new one.
    #[error("tree size {old} cannot be a prefix of the smaller tree size {new}")]
    SizesOutOfOrder {
        /// The older tree size.
        old: u64,
        /// The newer tree size.
        new: u64,
    },
    /// The proof has more or fewer hashes than the sizes call for.
    #[error("the proof has {got} hashes, a tree of this shape needs {want}")]
    WrongLength {
        /// Hashes in the proof.
        got: usize,
        /// Hashes the tree shape calls for.
        want: usize,
    },
    /// The proof leads to a different root than the one trusted.
    #[error("the proof leads to root {computed}, expected {expected}")]
    RootMismatch {
        /// The root the proof computes (hex).
        computed: String,
        /// The trusted root (hex).
        expected: String,
    },
    /// For equal sizes or an empty old tree, the roots themselves disagree.
    #[error("tree heads of size {size} differ: {old} and {new}")]
    DifferentHeads {
        /// The tree size.
        size: u64,
        /// The older head (hex).
        old: String,
        /// The newer head (hex).
        new: String,
    },
}

/// The leaf ranges whose subtree hashes make up the RFC 9162 inclusion proof
/// of leaf `index` in a tree of `size` leaves, deepest first.
pub fn inclusion_ranges(index: u64, size: u64) -> Result<Vec<Range<u64>>, ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let mut out = Vec::with_capacity(64);
    // PATH(m, D[lo:hi]): descend towards the leaf, noting the sibling at
    // each level; the siblings are emitted from the bottom up.
    let (mut lo, mut hi) = (0, size);
    while hi - lo > 1 {
        let mid = lo + split_point(hi - lo);
        if index < mid {
            out.push(mid..hi);
            hi = mid;
        } else {
            out.push(lo..mid);
            lo = mid;
        }
    }
    out.reverse();
    Ok(out)
}

/// The leaf ranges whose subtree hashes make up the RFC 9162 consistency
/// proof between tree sizes `old` and `new` (empty when `old` is 0 or equal
/// to `new`).
pub fn consistency_ranges(old: u64, new: u64) -> Result<Vec<Range<u64>>, ProofError> {
    if old > new {
        return Err(ProofError::SizesOutOfOrder { old, new });
    }
    let mut out = Vec::with_capacity(64);
    if old == 0 || old == new {
        return Ok(out);
    }
    // SUBPROOF(m, D[lo:hi], whole): `whole` stays true while the old tree is
    // a left edge of the subtree that a verifier already holds the head of.
    let (mut lo, mut hi, mut whole) = (0, new, true);
    loop {
        let m = old - lo;
        if m == hi - lo {
            if !whole {
                out.push(lo..hi);
            }
            break;
        }
        let mid = lo + split_point(hi - lo);
        if old <= mid {
            out.push(mid..hi);
            hi = mid;
        } else {
            out.push(lo..mid);
            lo = mid;
            whole = false;
        }
    }
    out.reverse();
    Ok(out)
}

/// The RFC 9162 inclusion proof of `leaves[index]` in the tree of the first
/// `size` leaves.
pub fn inclusion_proof(
    leaves: &[TreeHash],
    index: u64,
    size: u64,
) -> Result<Vec<TreeHash>, ProofError> {
    check_have(size, leaves.len() as u64)?;
    Ok(inclusion_ranges(index, size)?
        .into_iter()
        .map(|r| merkle_root(&leaves[r.start as usize..r.end as usize]))
        .collect())
}

/// The RFC 9162 consistency proof between the trees of the first `old` and
/// the first `new` leaves.
pub fn consistency_proof(
    leaves: &[TreeHash],
    old: u64,
    new: u64,
) -> Result<Vec<TreeHash>, ProofError> {
    check_have(new, leaves.len() as u64)?;
    Ok(consistency_ranges(old, new)?
        .into_iter()
        .map(|r| merkle_root(&leaves[r.start as usize..r.end as usize]))
        .collect())
}

/// Checks an RFC 9162 §2.1.3.2 inclusion proof: that the leaf with hash
/// `leaf` sits at `index` in the tree of `size` leaves whose head is `root`.
pub fn verify_inclusion(
    leaf: &TreeHash,
    index: u64,
    size: u64,
    proof: &[TreeHash],
    root: &TreeHash,
) -> Result<(), ProofError> {
    if index >= size {
        return Err(ProofError::IndexOutOfRange { index, size });
    }
    let want = inclusion_len(index, size);
    if proof.len() != want {
        return Err(ProofError::WrongLength {
            got: proof.len(),
            want,
        });
    }
    // `node` is the position of the running hash on its level, `last` the
    // position of the level's rightmost node; a node that is a right child,
    // or the rightmost with no sibling, takes its sibling from the left.
    let (mut node, mut last) = (index, size - 1);
    let mut hash = *leaf;
    for sibling in proof {
        if last == 0 {
            return Err(ProofError::WrongLength {
                got: proof.len(),
                want,
            });
        }
        if node & 1 == 1 || node == last {
            hash = node_hash(sibling, &hash);
            if node & 1 == 0 {
                // The rightmost node was promoted unchanged through the
                // levels where it had no sibling.
                while node != 0 && node & 1 == 0 {
                    node >>= 1;
                    last >>= 1;
                }
            }
        } else {
            hash = node_hash(&hash, sibling);
        }
        node >>= 1;
        last >>= 1;
    }
    if last != 0 {
        return Err(ProofError::WrongLength {
            got: proof.len(),
            want,
        });
    }
    if &hash != root {
        return Err(ProofError::RootMismatch {
            computed: hex::encode(hash),
            expected: hex::encode(root),
        });
    }
    Ok(())
}

/// Checks an RFC 9162 §2.1.4.2 consistency proof: that the tree of `old`
/// leaves with head `old_root` is a prefix of the tree of `new` leaves with
/// head `new_root`.
pub fn verify_consistency(
    old: u64,
    new: u64,
    old_root: &TreeHash,
    new_root: &TreeHash,
    proof: &[TreeHash],
) -> Result<(), ProofError> {
    if old > new {
        return Err(ProofError::SizesOutOfOrder { old, new });
    }
    let want = consistency_ranges(old, new)?.len();
    if proof.len() != want {
        return Err(ProofError::WrongLength {
            got: proof.len(),
            want,
        });
    }
    if old == 0 {
        // Every tree extends the empty one, whose head is fixed.
        let empty = empty_root();
        if old_root != &empty {
            return Err(ProofError::DifferentHeads {
                size: 0,
                old: hex::encode(old_root),
                new: hex::encode(empty),
            });
        }
        return Ok(());
    }
    if old == new {
        if old_root != new_root {
            return Err(ProofError::DifferentHeads {
                size: old,
                old: hex::encode(old_root),
                new: hex::encode(new_root),
            });
        }
        return Ok(());
    }
    // When the old tree is a complete subtree its head is the first node of
    // the path, and the proof leaves it out.
    let mut path = proof.iter();
    let first = if old.is_power_of_two() {
        *old_root
    } else {
        *path
            .next()
            .expect("a proof between distinct sizes is never empty")
    };
    let (mut node, mut last) = (old - 1, new - 1);
    // Skip the levels where the old tree's last node is a right child inside
    // the subtree `first` already stands for.
    while node & 1 == 1 {
        node >>= 1;
        last >>= 1;
    }
    let (mut old_hash, mut new_hash) = (first, first);
    for sibling in path {
        if last == 0 {
            return Err(ProofError::WrongLength {
                got: proof.len(),
                want,
            });
        }
        if node & 1 == 1 || node == last {
            old_hash = node_hash(sibling, &old_hash);
            new_hash = node_hash(sibling, &new_hash);
            if node & 1 == 0 {
                while node != 0 && node & 1 == 0 {
                    node >>= 1;
                    last >>= 1;
                }
            }
        } else {
            // Nodes to the right of the old tree are new: only the new head
            // takes them in.
            new_hash = node_hash(&new_hash, sibling);
        }
        node >>= 1;
        last >>= 1;
    }
    if last != 0 {
        return Err(ProofError::WrongLength {
            got: proof.len(),
            want,
        });
    }
    if &old_hash != old_root {
        return Err(ProofError::RootMismatch {
            computed: hex::encode(old_hash),
            expected: hex::encode(old_root),
        });
    }
    if &new_hash != new_root {
        return Err(ProofError::RootMismatch {
            computed: hex::encode(new_hash),
            expected: hex::encode(new_root),
        });
    }
    Ok(())
}

fn check_have(size: u64, have: u64) -> Result<(), ProofError> {
    if size > have {
        return Err(ProofError::TooFewLeaves { size, have });
    }
    Ok(())
}

/// How many hashes the inclusion proof of `index` in a tree of `size` holds.
fn inclusion_len(index: u64, size: u64) -> usize {
    let (mut lo, mut hi, mut n) = (0, size, 0);
    while hi - lo > 1 {
        let mid = lo + split_point(hi - lo);
        if index < mid {
            hi = mid;
        } else {
            lo = mid;
        }
        n += 1;
    }
    n
}

/// Subtree hashes kept as leaves arrive, so that a root or proof over any
/// prefix costs O(log² n) hashes instead of rehashing every leaf.
///
/// Level `k` holds the hash of every complete, aligned subtree of `2^k`
/// leaves seen so far (level 0 is the leaves): about twice the leaves' memory.
#[derive(Debug, Clone, Default)]
pub struct CompactTree {
    levels: Vec<Vec<TreeHash>>,
}

impl CompactTree {
    /// An empty tree.
    pub fn new() -> Self {
        Self::default()
    }

    /// A tree over `leaves`.
    pub fn from_leaves(leaves: impl IntoIterator<Item = TreeHash>) -> Self {
        let mut t = Self::new();
        for l in leaves {
            t.push(l);
        }
        t
    }

    /// Appends a leaf hash, completing the subtrees it closes.
    pub fn push(&mut self, leaf: TreeHash) {
        let mut hash = leaf;
        let mut level = 0;
        loop {
            if self.levels.len() == level {
                self.levels.push(Vec::new());
            }
            let row = &mut self.levels[level];
            row.push(hash);
            if row.len() % 2 == 1 {
                break;
            }
            hash = node_hash(&row[row.len() - 2], &row[row.len() - 1]);
            level += 1;
        }
    }

    /// Drops every leaf from `len` on (and the subtrees they were part of).
    pub fn truncate(&mut self, len: u64) {
        for (level, row) in self.levels.iter_mut().enumerate() {
            row.truncate((len >> level) as usize);
        }
        while self.levels.last().is_some_and(|r| r.is_empty()) && self.levels.len() > 1 {
            self.levels.pop();
        }
    }

    /// Number of leaves.
    pub fn len(&self) -> u64 {
        self.levels.first().map_or(0, |l| l.len() as u64)
    }

    /// Whether there are no leaves.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The leaf hashes.
    pub fn leaves(&self) -> &[TreeHash] {
        self.levels.first().map_or(&[], |l| l.as_slice())
    }

    /// The Merkle tree hash of leaves `range`, or `None` if it reaches past
    /// the end.
    pub fn range_hash(&self, range: Range<u64>) -> Option<TreeHash> {
        if range.start > range.end || range.end > self.len() {
            return None;
        }
        Some(self.hash_of(range.start, range.end))
    }

    fn hash_of(&self, lo: u64, hi: u64) -> TreeHash {
        let n = hi - lo;
        if n == 0 {
            return empty_root();
        }
        if n.is_power_of_two() && lo.is_multiple_of(n) {
            let level = n.trailing_zeros() as usize;
            return self.levels[level][(lo >> level) as usize];
        }
        let k = split_point(n);
        if lo.is_multiple_of(k) {
            node_hash(&self.hash_of(lo, lo + k), &self.hash_of(lo + k, hi))
        } else {
            // Not a subtree of the log's tree: hash it from the leaves.
            merkle_root(&self.leaves()[lo as usize..hi as usize])
        }
    }

    /// The tree head over the first `size` leaves.
    pub fn root(&self, size: u64) -> Option<TreeHash> {
        self.range_hash(0..size)
    }

    /// The inclusion proof of leaf `index` in the tree of the first `size`
    /// leaves.
    pub fn inclusion_proof(&self, index: u64, size: u64) -> Result<Vec<TreeHash>, ProofError> {
        check_have(size, self.len())?;
        Ok(inclusion_ranges(index, size)?
            .into_iter()
            .map(|r| self.hash_of(r.start, r.end))
            .collect())
    }

    /// The consistency proof between the first `old` and the first `new`
    /// leaves.
    pub fn consistency_proof(&self, old: u64, new: u64) -> Result<Vec<TreeHash>, ProofError> {
        check_have(new, self.len())?;
        Ok(consistency_ranges(old, new)?
            .into_iter()
            .map(|r| self.hash_of(r.start, r.end))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn leaves(n: u64) -> Vec<TreeHash> {
        (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect()
    }

    /// Every case of small trees, and a spread (the edges and every fifth)
    /// of larger ones: enough to cover every proof shape while keeping the
    /// debug build's SHA-256 from making the suite slow.
    fn sampled(i: u64, size: u64) -> bool {
        size <= 64 || i.is_multiple_of(5) || i < 3 || i + 3 >= size
    }

    #[test]
    fn a_truncated_tree_is_the_tree_of_the_prefix() {
        let all = leaves(37);
        for keep in [0, 1, 2, 16, 21, 32, 36, 37] {
            let mut t = CompactTree::from_leaves(all.iter().copied());
            t.truncate(keep);
            let want = CompactTree::from_leaves(all[..keep as usize].iter().copied());
            assert_eq!(t.len(), keep);
            assert_eq!(t.root(keep), want.root(keep));
            // It grows again as if never cut.
            for l in &all[keep as usize..] {
                t.push(*l);
            }
            assert_eq!(t.root(37), Some(merkle_root(&all)));
            assert_eq!(t.inclusion_proof(20, 37), inclusion_proof(&all, 20, 37));
        }
    }

    fn flip(proof: &[TreeHash], at: usize, byte: usize) -> Vec<TreeHash> {
        let mut p = proof.to_vec();
        p[at][byte] ^= 0x01;
        p
    }

    #[test]
    fn inclusion_proofs_verify_for_every_size_and_index() {
        let all = leaves(300);
        let tree = CompactTree::from_leaves(all.iter().copied());
        for size in 1..=300u64 {
            let l = &all[..size as usize];
            let root = merkle_root(l);
            assert_eq!(tree.root(size), Some(root), "compact root at {size}");
            for index in 0..size {
                // The compact tree answers as the definition does (checked
                // on a spread of cases; the definition is slow in debug).
                let proof = tree.inclusion_proof(index, size).unwrap();
                if size < 40 || index % 37 == 0 || index == size - 1 {
                    assert_eq!(
                        inclusion_proof(l, index, size).unwrap(),
                        proof,
                        "compact proof {index}/{size}"
                    );
                }
                let leaf = &l[index as usize];
                verify_inclusion(leaf, index, size, &proof, &root)
                    .unwrap_or_else(|e| panic!("{index}/{size}: {e}"));
            }
        }
    }

    #[test]
    fn consistency_proofs_verify_for_every_pair() {
        let all = leaves(150);
        let tree = CompactTree::from_leaves(all.iter().copied());
        let roots: Vec<TreeHash> = (0..=150).map(|n| merkle_root(&all[..n])).collect();
        for new in 0..=150u64 {
            for old in 0..=new {
                let proof = tree.consistency_proof(old, new).unwrap();
                if new < 40 || old % 13 == 0 {
                    assert_eq!(consistency_proof(&all, old, new).unwrap(), proof);
                }
                verify_consistency(old, new, &roots[old as usize], &roots[new as usize], &proof)
                    .unwrap_or_else(|e| panic!("{old}->{new}: {e}"));
            }
        }
    }

    #[test]
    fn tampered_inclusion_proofs_fail() {
        let all = leaves(300);
        let tree = CompactTree::from_leaves(all.iter().copied());
        for size in 1..=300u64 {
            let l = &all[..size as usize];
            let root = merkle_root(l);
            for index in (0..size).filter(|&i| sampled(i, size)) {
                let proof = tree.inclusion_proof(index, size).unwrap();
                let leaf = &l[index as usize];
                for at in 0..proof.len() {
                    let bad = flip(&proof, at, (index as usize + at) % 32);
                    assert!(verify_inclusion(leaf, index, size, &bad, &root).is_err());
                }
                for other in [index + 1, index.wrapping_sub(1), index ^ 1] {
                    if other != index {
                        assert!(
                            verify_inclusion(leaf, other, size, &proof, &root).is_err(),
                            "wrong index {other} for {index}/{size}"
                        );
                    }
                }
                // A proof made for another tree size does not verify against
                // this checkpoint (size and root are trusted together).
                for other in [size + 1, size - 1, size * 2] {
                    if other != size && index < other && other <= 300 {
                        let wrong = tree.inclusion_proof(index, other).unwrap();
                        assert!(
                            verify_inclusion(leaf, index, size, &wrong, &root).is_err(),
                            "proof for size {other} accepted for {index}/{size}"
                        );
                    }
                }
                let mut wrong_root = root;
                wrong_root[31] ^= 0x80;
                assert!(verify_inclusion(leaf, index, size, &proof, &wrong_root).is_err());
                let mut longer = proof.clone();
                longer.push(root);
                assert!(verify_inclusion(leaf, index, size, &longer, &root).is_err());
                if !proof.is_empty() {
                    assert!(
                        verify_inclusion(leaf, index, size, &proof[..proof.len() - 1], &root)
                            .is_err()
                    );
                }
            }
        }
    }

    #[test]
    fn tampered_consistency_proofs_fail() {
        let all = leaves(150);
        let tree = CompactTree::from_leaves(all.iter().copied());
        let roots: Vec<TreeHash> = (0..=150).map(|n| merkle_root(&all[..n])).collect();
        for new in 1..=150u64 {
            for old in (1..new).filter(|&o| sampled(o, new)) {
                let proof = tree.consistency_proof(old, new).unwrap();
                let (o, n) = (&roots[old as usize], &roots[new as usize]);
                for at in 0..proof.len() {
                    let bad = flip(&proof, at, (old as usize + at) % 32);
                    assert!(
                        verify_consistency(old, new, o, n, &bad).is_err(),
                        "flipped hash {at} of {old}->{new}"
                    );
                }
                assert!(verify_consistency(old, new, n, o, &proof).is_err());
                // Proofs made for other sizes do not verify against these
                // heads.
                for (a, b) in [
                    (old + 1, new),
                    (old - 1, new),
                    (old, new + 1),
                    (old, new - 1),
                ] {
                    if a <= b && b <= 150 && (a, b) != (old, new) {
                        let wrong = tree.consistency_proof(a, b).unwrap();
                        assert!(
                            verify_consistency(old, new, o, n, &wrong).is_err(),
                            "proof {a}->{b} accepted for {old}->{new}"
                        );
                    }
                }
                // A rewritten history: same sizes, one old leaf changed.
                let mut forged = all[..new as usize].to_vec();
                forged[(old - 1) as usize][0] ^= 1;
                let forged_root = merkle_root(&forged);
                let forged_proof = consistency_proof(&forged, old, new).unwrap();
                assert!(verify_consistency(old, new, o, &forged_root, &forged_proof).is_err());
                let mut longer = proof.clone();
                longer.push(*n);
                assert!(verify_consistency(old, new, o, n, &longer).is_err());
            }
        }
        let e = empty_root();
        assert!(verify_consistency(3, 3, &roots[3], &roots[4], &[]).is_err());
        assert!(verify_consistency(0, 5, &e, &roots[5], &[]).is_ok());
        assert!(verify_consistency(0, 5, &roots[1], &roots[5], &[]).is_err());
        assert!(verify_consistency(5, 4, &roots[5], &roots[4], &[]).is_err());
    }

    /// Known answers worked out by hand from the RFC 9162 definitions, on a
    /// tree of 7 leaves `d0..d6`:
    ///
    /// ```text
    ///             root
    ///          /        \
    ///        k            l
    ///      /   \        /   \
    ///     g     h      i     j(=d6)
    ///    / \   / \    / \
    ///   d0 d1 d2 d3  d4 d5
    /// ```
    #[test]
    fn known_answer_proofs_from_the_rfc_shape() {
        let d = leaves(7);
        let g = node_hash(&d[0], &d[1]);
        let h = node_hash(&d[2], &d[3]);
        let i = node_hash(&d[4], &d[5]);
        let k = node_hash(&g, &h);
        let l = node_hash(&i, &d[6]);
        let root = node_hash(&k, &l);
        assert_eq!(merkle_root(&d), root);
        // Inclusion (RFC 9162 §2.1.5 examples): b = [a, h, l]; d6 = [i, k];
        // d3 = [c, g, l]; d4 = [f, j, k].
        assert_eq!(inclusion_proof(&d, 1, 7).unwrap(), vec![d[0], h, l]);
        assert_eq!(inclusion_proof(&d, 6, 7).unwrap(), vec![i, k]);
        assert_eq!(inclusion_proof(&d, 3, 7).unwrap(), vec![d[2], g, l]);
        assert_eq!(inclusion_proof(&d, 4, 7).unwrap(), vec![d[5], d[6], k]);
        // Consistency: 3 -> 7 is [c, d, g, l]; 4 -> 7 is [l]; 6 -> 7 is
        // [i, j, k].
        assert_eq!(consistency_proof(&d, 3, 7).unwrap(), vec![d[2], d[3], g, l]);
        assert_eq!(consistency_proof(&d, 4, 7).unwrap(), vec![l]);
        assert_eq!(consistency_proof(&d, 6, 7).unwrap(), vec![i, d[6], k]);
        // The empty tree and a one-leaf tree.
        assert_eq!(
            hex::encode(merkle_root(&[])),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            hex::encode(leaf_hash(b"")),
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
        );
        assert!(inclusion_proof(&d, 0, 1).unwrap().is_empty());
        assert_eq!(
            inclusion_proof(&d, 7, 7),
            Err(ProofError::IndexOutOfRange { index: 7, size: 7 })
        );
    }

    /// The RFC 6962 test vectors of the Certificate Transparency reference
    /// implementations (used as data): eight leaves, the head of every
    /// prefix, and some of their proofs.
    #[test]
    fn known_answers_from_certificate_transparency() {
        let data: [&[u8]; 8] = [
            b"",
            b"\x00",
            b"\x10",
            b"\x20\x21",
            b"\x30\x31",
            b"\x40\x41\x42\x43",
            b"\x50\x51\x52\x53\x54\x55\x56\x57",
            b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
        ];
        let roots = [
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
            "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
            "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
            "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
        ];
        let l: Vec<TreeHash> = data.iter().map(|d| leaf_hash(d)).collect();
        let tree = CompactTree::from_leaves(l.iter().copied());
        for (n, want) in roots.iter().enumerate() {
            assert_eq!(hex::encode(merkle_root(&l[..n])), *want, "head of {n}");
            assert_eq!(hex::encode(tree.root(n as u64).unwrap()), *want);
        }
        let h = |v: &[&str]| -> Vec<String> { v.iter().map(|s| s.to_string()).collect() };
        let got = |p: Vec<TreeHash>| -> Vec<String> { p.iter().map(hex::encode).collect() };
        let (a, b, c, d, e) = (
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        );
        let (f, g) = (
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        );
        assert_eq!(got(tree.inclusion_proof(0, 8).unwrap()), h(&[a, b, c]));
        assert_eq!(got(tree.inclusion_proof(5, 8).unwrap()), h(&[d, e, f]));
        assert_eq!(got(tree.consistency_proof(2, 8).unwrap()), h(&[b, c]));
        assert_eq!(got(tree.consistency_proof(6, 8).unwrap()), h(&[g, e, f]));
        assert_eq!(got(tree.consistency_proof(2, 5).unwrap()), h(&[b, d]));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn random_trees_prove_and_refuse(
            n in 1u64..2000,
            pick in any::<u64>(),
            byte in 0usize..32,
        ) {
            let all = leaves(n);
            let tree = CompactTree::from_leaves(all.iter().copied());
            let root = merkle_root(&all);
            let index = pick % n;
            let proof = tree.inclusion_proof(index, n).unwrap();
            prop_assert!(verify_inclusion(&all[index as usize], index, n, &proof, &root).is_ok());
            let old = pick % (n + 1);
            let cproof = tree.consistency_proof(old, n).unwrap();
            let old_root = merkle_root(&all[..old as usize]);
            prop_assert!(verify_consistency(old, n, &old_root, &root, &cproof).is_ok());
            if !proof.is_empty() {
                let bad = flip(&proof, (pick as usize) % proof.len(), byte);
                prop_assert!(verify_inclusion(&all[index as usize], index, n, &bad, &root).is_err());
            }
            if !cproof.is_empty() {
                let bad = flip(&cproof, (pick as usize) % cproof.len(), byte);
                prop_assert!(verify_consistency(old, n, &old_root, &root, &bad).is_err());
            }
        }
    }
}
