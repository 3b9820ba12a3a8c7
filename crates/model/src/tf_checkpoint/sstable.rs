//! The bytes of a tensor bundle's `.index` file.
//!
//! The index is a LevelDB-style SSTable: data blocks of prefix-compressed key/value entries
//! with restart points, a meta-index block, an index block (keys to data-block handles) and a
//! 48-byte footer ending in the magic `0xdb4775248b80fb57`; each block is followed by a 5-byte
//! trailer (compression type, masked crc32c of block + type). Key `""` holds a
//! `BundleHeaderProto`; every other key is a tensor name whose value is a `BundleEntryProto`
//! (dtype, shape, shard, offset, size, masked crc32c of the tensor bytes). Both protos are
//! decoded by hand here.
use std::path::Path;

use crate::error::{ModelError, Result};

pub(super) const TABLE_MAGIC: u64 = 0xdb47_7524_8b80_fb57;
const FOOTER_LEN: usize = 48;
const BLOCK_TRAILER_LEN: usize = 5;
const CRC_MASK_DELTA: u32 = 0xa282_ead8;

/// TensorFlow's masking of stored crc32c values (only the writer and the tests mask).
#[cfg(any(test, feature = "test-support"))]
pub(super) fn mask_crc(crc: u32) -> u32 {
    crc.rotate_right(15).wrapping_add(CRC_MASK_DELTA)
}

/// Inverse of TensorFlow's crc32c masking.
pub(super) fn unmask_crc(masked: u32) -> u32 {
    masked.wrapping_sub(CRC_MASK_DELTA).rotate_left(15)
}

/// `BundleHeaderProto`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct BundleHeader {
    pub num_shards: i64,
    /// 0 little-endian, 1 big-endian.
    pub endianness: i64,
}

/// `BundleEntryProto` (the fields GPT-2 checkpoints use).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct BundleEntry {
    pub dtype: i64,
    pub shape: Vec<i64>,
    pub shard_id: i64,
    pub offset: i64,
    pub size: i64,
    /// Masked crc32c of the tensor bytes.
    pub crc32c: u32,
    /// The tensor is stored as slices (partitioned variable): not supported.
    pub sliced: bool,
}

/// A parsed `.index` file.
#[derive(Debug, Clone, Default)]
pub(super) struct BundleIndex {
    pub header: BundleHeader,
    /// Tensor name -> entry, in key order.
    pub entries: Vec<(String, BundleEntry)>,
}

/// Parses a tensor-bundle `.index` file.
pub(super) fn parse_index(bytes: &[u8], path: &Path) -> Result<BundleIndex> {
    let bad = |d: &str| {
        ModelError::corrupt(
            path,
            format!("{d}; this is not a TensorFlow checkpoint index, or it is damaged"),
        )
    };
    if bytes.len() < FOOTER_LEN {
        return Err(bad("file too short for a table footer"));
    }
    let footer = &bytes[bytes.len() - FOOTER_LEN..];
    let mut magic = [0u8; 8];
    magic.copy_from_slice(&footer[40..48]);
    if u64::from_le_bytes(magic) != TABLE_MAGIC {
        return Err(bad("bad table magic number"));
    }
    let mut r = Reader::new(&footer[..40]);
    let _meta = parse_handle(&mut r).ok_or_else(|| bad("bad footer"))?;
    let index_handle = parse_handle(&mut r).ok_or_else(|| bad("bad footer"))?;
    let index_block = read_block(bytes, index_handle, path)?;
    let mut index = BundleIndex::default();
    let mut have_header = false;
    for (_, handle) in block_entries(index_block, path)? {
        let handle =
            parse_handle(&mut Reader::new(handle)).ok_or_else(|| bad("bad block handle"))?;
        let block = read_block(bytes, handle, path)?;
        for (key, value) in block_entries(block, path)? {
            if key.is_empty() {
                index.header = parse_header(value).ok_or_else(|| bad("malformed bundle header"))?;
                have_header = true;
                continue;
            }
            let name = String::from_utf8_lossy(&key).into_owned();
            let entry = parse_entry(value).ok_or_else(|| {
                ModelError::corrupt(path, format!("tensor `{name}`: malformed bundle entry"))
            })?;
            index.entries.push((name, entry));
        }
    }
    if !have_header {
        return Err(bad("no bundle header"));
    }
    Ok(index)
}

// Byte-level decoding

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }

    fn done(&self) -> bool {
        self.pos >= self.buf.len()
    }

    fn varint(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *self.buf.get(self.pos)?;
            self.pos += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }

    fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let s = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }

    fn fixed32(&mut self) -> Option<u32> {
        let b = self.bytes(4)?;
        Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn fixed64(&mut self) -> Option<u64> {
        let b = self.bytes(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Some(u64::from_le_bytes(a))
    }
}

/// One protobuf field: number and value.
enum Field<'a> {
    Varint(u64),
    Fixed32(u32),
    Fixed64,
    Bytes(&'a [u8]),
}

fn proto_fields(buf: &[u8]) -> Option<Vec<(u64, Field<'_>)>> {
    let mut r = Reader::new(buf);
    let mut out = Vec::new();
    while !r.done() {
        let tag = r.varint()?;
        let field = match tag & 7 {
            0 => Field::Varint(r.varint()?),
            1 => {
                r.fixed64()?;
                Field::Fixed64
            }
            2 => {
                let n = usize::try_from(r.varint()?).ok()?;
                Field::Bytes(r.bytes(n)?)
            }
            5 => Field::Fixed32(r.fixed32()?),
            _ => return None,
        };
        out.push((tag >> 3, field));
    }
    Some(out)
}

fn parse_shape(buf: &[u8]) -> Option<Vec<i64>> {
    let mut dims = Vec::new();
    for (num, f) in proto_fields(buf)? {
        match (num, f) {
            (2, Field::Bytes(dim)) => {
                let mut size = 0i64;
                for (n, f) in proto_fields(dim)? {
                    if let (1, Field::Varint(v)) = (n, f) {
                        size = v as i64;
                    }
                }
                dims.push(size);
            }
            (3, Field::Varint(v)) if v != 0 => return None, // unknown rank
            _ => {}
        }
    }
    Some(dims)
}

fn parse_entry(buf: &[u8]) -> Option<BundleEntry> {
    let mut e = BundleEntry::default();
    for (num, f) in proto_fields(buf)? {
        match (num, f) {
            (1, Field::Varint(v)) => e.dtype = v as i64,
            (2, Field::Bytes(b)) => e.shape = parse_shape(b)?,
            (3, Field::Varint(v)) => e.shard_id = v as i64,
            (4, Field::Varint(v)) => e.offset = v as i64,
            (5, Field::Varint(v)) => e.size = v as i64,
            (6, Field::Fixed32(v)) => e.crc32c = v,
            (7, _) => e.sliced = true,
            _ => {}
        }
    }
    Some(e)
}

fn parse_header(buf: &[u8]) -> Option<BundleHeader> {
    let mut h = BundleHeader {
        num_shards: 1,
        endianness: 0,
    };
    for (num, f) in proto_fields(buf)? {
        match (num, f) {
            (1, Field::Varint(v)) => h.num_shards = v as i64,
            (2, Field::Varint(v)) => h.endianness = v as i64,
            _ => {}
        }
    }
    Some(h)
}

/// A block handle: offset and size of a block (without its trailer).
fn parse_handle(r: &mut Reader<'_>) -> Option<(u64, u64)> {
    Some((r.varint()?, r.varint()?))
}

fn read_block<'a>(file: &'a [u8], (offset, size): (u64, u64), path: &Path) -> Result<&'a [u8]> {
    let bad = |d: String| {
        ModelError::corrupt(
            path,
            format!("{d}; the index file is damaged: download it again"),
        )
    };
    let start = usize::try_from(offset).map_err(|_| bad("block offset overflows".into()))?;
    let size = usize::try_from(size).map_err(|_| bad("block size overflows".into()))?;
    let end = start
        .checked_add(size)
        .and_then(|e| e.checked_add(BLOCK_TRAILER_LEN))
        .filter(|&e| e <= file.len())
        .ok_or_else(|| {
            bad(format!(
                "block at {start} (+{size}) runs past the end of the file ({} bytes)",
                file.len()
            ))
        })?;
    let contents = &file[start..start + size];
    let trailer = &file[start + size..end];
    if trailer[0] != 0 {
        return Err(ModelError::corrupt(
            path,
            format!(
                "block at {start} uses compression type {}, only uncompressed tables are supported",
                trailer[0]
            ),
        ));
    }
    let stored = u32::from_le_bytes([trailer[1], trailer[2], trailer[3], trailer[4]]);
    let actual = crc32c::crc32c_append(crc32c::crc32c(contents), &trailer[..1]);
    if unmask_crc(stored) != actual {
        return Err(bad(format!("block at {start} fails its crc32c check")));
    }
    Ok(contents)
}

/// Entries `(key, value)` of one SSTable block.
fn block_entries<'a>(block: &'a [u8], path: &Path) -> Result<Vec<(Vec<u8>, &'a [u8])>> {
    let bad = || {
        ModelError::corrupt(
            path,
            "malformed table block; the index file is damaged: download it again",
        )
    };
    if block.len() < 4 {
        return Err(bad());
    }
    let n = block.len();
    let num_restarts =
        u32::from_le_bytes([block[n - 4], block[n - 3], block[n - 2], block[n - 1]]) as usize;
    let limit = num_restarts
        .checked_mul(4)
        .and_then(|r| n.checked_sub(4 + r))
        .ok_or_else(bad)?;
    let mut r = Reader::new(&block[..limit]);
    let mut key: Vec<u8> = Vec::new();
    let mut out = Vec::new();
    while !r.done() {
        let shared = r.varint().ok_or_else(bad)? as usize;
        let non_shared = r.varint().ok_or_else(bad)? as usize;
        let value_len = r.varint().ok_or_else(bad)? as usize;
        if shared > key.len() {
            return Err(bad());
        }
        key.truncate(shared);
        key.extend_from_slice(r.bytes(non_shared).ok_or_else(bad)?);
        let value = r.bytes(value_len).ok_or_else(bad)?;
        out.push((key.clone(), value));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_mask_round_trips() {
        for v in [0u32, 1, 0xdead_beef, u32::MAX] {
            assert_eq!(unmask_crc(mask_crc(v)), v);
        }
        assert_eq!(mask_crc(0), 0xa282_ead8);
        assert_eq!(mask_crc(1 << 15), 1 + 0xa282_ead8);
    }
}
