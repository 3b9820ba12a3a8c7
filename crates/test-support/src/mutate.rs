//! Structured mutations of valid inputs, for property tests of parsers: truncation, byte
//! flips, inserted and removed runs, and forged little-endian numbers (lengths, offsets).

use proptest::prelude::*;

/// Bytes that matter to the parsers (TAB, newlines, quotes, NUL, 0xFF, label letters), drawn
/// more often than the rest. A map over `any::<u8>()`: cheap to generate by the thousand.
pub fn interesting_byte() -> impl Strategy<Value = u8> {
    const SPECIAL: &[u8] = b"\t\n\r\", ham spam01\0\xFF";
    any::<u8>().prop_map(|b| {
        if b < 128 {
            SPECIAL[usize::from(b) % SPECIAL.len()]
        } else {
            b
        }
    })
}

/// What may happen to a valid input.
#[derive(Debug, Clone)]
pub enum Mutation {
    /// Cuts the input at a position.
    Truncate(prop::sample::Index),
    /// XORs a byte with a value.
    Flip(prop::sample::Index, u8),
    /// Inserts bytes at a position.
    Insert(prop::sample::Index, Vec<u8>),
    /// Removes the bytes between two positions.
    Remove(prop::sample::Index, prop::sample::Index),
    /// Writes a little-endian number over 2, 4 or 8 bytes (a forged length or offset).
    Number(prop::sample::Index, u64, u8),
}

/// One mutation.
pub fn mutation() -> impl Strategy<Value = Mutation> {
    let idx = any::<prop::sample::Index>;
    prop_oneof![
        idx().prop_map(Mutation::Truncate),
        (idx(), any::<u8>()).prop_map(|(i, b)| Mutation::Flip(i, b)),
        (idx(), prop::collection::vec(interesting_byte(), 1..8))
            .prop_map(|(i, b)| Mutation::Insert(i, b)),
        (idx(), idx()).prop_map(|(i, j)| Mutation::Remove(i, j)),
        (
            idx(),
            prop_oneof![
                Just(u64::MAX),
                Just(u64::from(u32::MAX)),
                Just(1 << 31),
                any::<u64>()
            ],
            prop::sample::select(vec![2u8, 4, 8])
        )
            .prop_map(|(i, v, w)| Mutation::Number(i, v, w)),
    ]
}

/// Applies `mutations` in order to `bytes`.
pub fn mutate(mut bytes: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for m in mutations {
        if bytes.is_empty() {
            break;
        }
        match m {
            Mutation::Truncate(i) => bytes.truncate(i.index(bytes.len())),
            Mutation::Flip(i, b) => {
                let at = i.index(bytes.len());
                bytes[at] ^= b;
            }
            Mutation::Insert(i, b) => {
                let at = i.index(bytes.len() + 1);
                bytes.splice(at..at, b.iter().copied());
            }
            Mutation::Remove(i, j) => {
                let (a, b) = (i.index(bytes.len()), j.index(bytes.len()));
                bytes.drain(a.min(b)..a.max(b));
            }
            Mutation::Number(i, v, w) => {
                let w = usize::from(*w);
                if bytes.len() >= w {
                    let at = i.index(bytes.len() - w + 1);
                    bytes[at..at + w].copy_from_slice(&v.to_le_bytes()[..w]);
                }
            }
        }
    }
    bytes
}
