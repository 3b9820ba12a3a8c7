//! A tensor-bundle writer, for tests (feature `test-support`): builds checkpoints, good and
//! deliberately damaged, that the reader must accept or reject.
use std::path::Path;

use super::read::{CheckpointFiles, parent_dir};
use super::sstable::{TABLE_MAGIC, mask_crc};
use crate::error::Result;

/// One tensor to write with [`write_bundle`].
#[derive(Debug, Clone)]
pub struct BundleTensor<'a> {
    /// Variable name, e.g. `model/h0/attn/c_attn/w`.
    pub name: String,
    /// TensorFlow dtype code (1 = float32).
    pub dtype: i64,
    /// Dimensions.
    pub shape: Vec<i64>,
    /// Little-endian element bytes.
    pub data: &'a [u8],
}

/// Writes a single-shard TensorFlow tensor bundle (`PREFIX.index`,
/// `PREFIX.data-00000-of-00001`) that TensorFlow's own reader accepts: an uncompressed
/// SSTable with the bundle header under key `""` and one `BundleEntryProto` per tensor
/// (sorted by name), each tensor's masked crc32c included. Files are written atomically.
/// Meant for tests and conversions; OpenAI checkpoints are read with [`crate::OpenAiCheckpoint`].
pub fn write_bundle(prefix: &Path, tensors: &[BundleTensor<'_>]) -> Result<()> {
    let mut sorted: Vec<&BundleTensor<'_>> = tensors.iter().collect();
    sorted.sort_by(|a, b| a.name.cmp(&b.name));
    let mut data = Vec::new();
    let mut entries: Vec<(Vec<u8>, Vec<u8>)> = Vec::with_capacity(sorted.len() + 1);
    // BundleHeaderProto: num_shards 1, little-endian, version { producer: 1 }.
    let mut header = Vec::new();
    put_varint_field(&mut header, 1, 1);
    put_bytes_field(&mut header, 3, &[0x08, 0x01]);
    entries.push((Vec::new(), header));
    for t in sorted {
        let mut shape = Vec::new();
        for &d in &t.shape {
            let mut dim = Vec::new();
            put_varint_field(&mut dim, 1, d as u64);
            put_bytes_field(&mut shape, 2, &dim);
        }
        let mut e = Vec::new();
        put_varint_field(&mut e, 1, t.dtype as u64);
        put_bytes_field(&mut e, 2, &shape);
        put_varint_field(&mut e, 4, data.len() as u64);
        put_varint_field(&mut e, 5, t.data.len() as u64);
        put_varint(&mut e, (6 << 3) | 5);
        e.extend_from_slice(&mask_crc(crc32c::crc32c(t.data)).to_le_bytes());
        data.extend_from_slice(t.data);
        entries.push((t.name.as_bytes().to_vec(), e));
    }
    let mut index = Vec::new();
    let last_key = entries.last().map(|(k, _)| k.clone()).unwrap_or_default();
    let data_handle = put_block(&mut index, &entries);
    let meta_handle = put_block(&mut index, &[]);
    let mut handle = Vec::new();
    put_varint(&mut handle, data_handle.0);
    put_varint(&mut handle, data_handle.1);
    let index_handle = put_block(&mut index, &[(last_key, handle)]);
    let mut footer = Vec::new();
    for v in [meta_handle.0, meta_handle.1, index_handle.0, index_handle.1] {
        put_varint(&mut footer, v);
    }
    footer.resize(40, 0);
    footer.extend_from_slice(&TABLE_MAGIC.to_le_bytes());
    index.extend_from_slice(&footer);
    let files = CheckpointFiles {
        prefix: prefix.to_path_buf(),
        hparams: parent_dir(prefix).join("hparams.json"),
    };
    crate::safetensors_io::write_atomic(&files.data(0, 1), |w| w.write_all(&data))?;
    crate::safetensors_io::write_atomic(&files.index(), |w| w.write_all(&index))?;
    Ok(())
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_bytes_field(out: &mut Vec<u8>, field: u64, bytes: &[u8]) {
    put_varint(out, (field << 3) | 2);
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

fn put_varint_field(out: &mut Vec<u8>, field: u64, v: u64) {
    put_varint(out, field << 3);
    put_varint(out, v);
}

/// Finishes an SSTable block (every entry is a restart point) and appends it with its trailer
/// to `file`, returning its handle.
fn put_block(file: &mut Vec<u8>, entries: &[(Vec<u8>, Vec<u8>)]) -> (u64, u64) {
    let mut block = Vec::new();
    let mut restarts = Vec::new();
    for (k, v) in entries {
        restarts.push(block.len() as u32);
        put_varint(&mut block, 0);
        put_varint(&mut block, k.len() as u64);
        put_varint(&mut block, v.len() as u64);
        block.extend_from_slice(k);
        block.extend_from_slice(v);
    }
    if restarts.is_empty() {
        restarts.push(0);
    }
    for r in &restarts {
        block.extend_from_slice(&r.to_le_bytes());
    }
    block.extend_from_slice(&(restarts.len() as u32).to_le_bytes());
    let handle = (file.len() as u64, block.len() as u64);
    let crc = crc32c::crc32c_append(crc32c::crc32c(&block), &[0]);
    file.extend_from_slice(&block);
    file.push(0);
    file.extend_from_slice(&mask_crc(crc).to_le_bytes());
    handle
}
