//! Metadata documents compressed in independent segments, so that a change
//! to a few packages recompresses only the blocks that hold them.
//!
//! A document is its opening lines, the packages' elements in location
//! order, grouped in blocks, and its closing line. Each part is compressed
//! on its own:
//!
//! * gzip: one gzip member whose deflate stream is the concatenation of raw
//!   deflate segments, each ending on a byte boundary after a full flush (so
//!   none refers to bytes of another), the closing one being the final
//!   block; the trailer holds the CRC-32 and size of the whole document.
//!   Every gzip reader sees an ordinary single-member file.
//! * zstd: one frame per part; a Zstandard stream is a sequence of frames by
//!   its specification (RFC 8878), which every decoder reads through.
//!
//! Block boundaries depend only on the packages' locations (a block ends
//! after a location whose hash has its low bits clear), so adding or
//! removing a package changes the block it falls in and no other.

use std::cell::RefCell;
use std::hash::{BuildHasher as _, Hasher as _};
use std::ops::Range;

use flate2::{Compress, Compression, FlushCompress, Status};
use sha2::{Digest, Sha256};

use super::MdCompression;
use super::state::FastHash;

/// A block ends after a package whose location hash is 0 modulo this (a
/// power of two): the average number of packages per block.
const BLOCK_AVERAGE: u64 = 64;
/// A block never holds more packages than this.
const BLOCK_MAX: usize = 256;
/// The gzip (deflate) compression level.
pub(super) const GZIP_LEVEL: u32 = 6;
/// The zstd compression level.
pub(super) const ZSTD_LEVEL: i32 = 3;

/// The identity of a compressed block: a digest of the document kind, the
/// compression and the keys of the packages it holds (which determine
/// their fragments).
pub(super) type BlockKey = [u8; 16];

/// A stable hash of a location: the state's [`FastHash`] (fixed seed, a
/// word at a time), the length last.
fn location_hash(href: &str) -> u64 {
    let mut h = FastHash.build_hasher();
    h.write(href.as_bytes());
    h.write_usize(href.len());
    h.finish()
}

/// Splits packages (their locations, in document order) into blocks.
pub(super) fn blocks<'a>(hrefs: impl IntoIterator<Item = &'a str>) -> Vec<Range<usize>> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut n = 0;
    for (i, href) in hrefs.into_iter().enumerate() {
        n = i + 1;
        if location_hash(href).is_multiple_of(BLOCK_AVERAGE) || n - start >= BLOCK_MAX {
            out.push(start..n);
            start = n;
        }
    }
    if start < n {
        out.push(start..n);
    }
    out
}

/// The keys of the blocks of each of `kinds` holding the packages with
/// `keys`: the packages' keys are hashed once, and each kind's key is the
/// hash of the kind, the compression and that.
pub(super) fn block_keys<'a, const N: usize>(
    kinds: [&str; N],
    compression: MdCompression,
    keys: impl IntoIterator<Item = &'a str>,
) -> [BlockKey; N] {
    let mut all = Vec::with_capacity(64 * 128);
    for k in keys {
        all.extend_from_slice(k.as_bytes());
        all.push(b'\n');
    }
    let packages = Sha256::digest(&all);
    let level = match compression {
        MdCompression::Gz => GZIP_LEVEL as i32,
        MdCompression::Zst => ZSTD_LEVEL,
    };
    kinds.map(|kind| {
        let mut h = Sha256::new();
        h.update(format!("{kind}\n{}\n{level}\n", compression.extension()));
        h.update(packages);
        let d = h.finalize();
        let mut key = [0; 16];
        key.copy_from_slice(&d[..16]);
        key
    })
}

/// Compresses one part of a document; `last` for the closing part.
pub(super) fn compress_segment(
    compression: MdCompression,
    data: &[u8],
    last: bool,
) -> std::io::Result<Vec<u8>> {
    match compression {
        MdCompression::Gz => deflate_segment(data, last),
        MdCompression::Zst => ZSTD.with(|z| {
            let mut z = z.borrow_mut();
            let z = match &mut *z {
                Some(z) => z,
                None => z.insert(zstd::bulk::Compressor::new(ZSTD_LEVEL)?),
            };
            z.compress(data)
        }),
    }
}

thread_local! {
    /// Each thread's deflate and zstd state, reset between segments:
    /// setting one up (its window and hash tables) costs more than
    /// compressing a small segment.
    static DEFLATE: RefCell<Option<Compress>> = const { RefCell::new(None) };
    static ZSTD: RefCell<Option<zstd::bulk::Compressor<'static>>> = const { RefCell::new(None) };
}

/// Raw deflate of `data` ending on a byte boundary (full flush), or with the
/// final block when `last`.
fn deflate_segment(data: &[u8], last: bool) -> std::io::Result<Vec<u8>> {
    DEFLATE.with(|c| {
        let mut c = c.borrow_mut();
        let c = match &mut *c {
            Some(c) => {
                c.reset();
                c
            }
            None => c.insert(Compress::new(Compression::new(GZIP_LEVEL), false)),
        };
        deflate_with(c, data, last)
    })
}

fn deflate_with(c: &mut Compress, data: &[u8], last: bool) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(data.len() / 3 + 128);
    let flush = if last {
        FlushCompress::Finish
    } else {
        FlushCompress::Full
    };
    loop {
        if out.capacity() - out.len() < 64 {
            out.reserve(out.capacity().max(4096));
        }
        let done = c.total_in() as usize;
        let status = c
            .compress_vec(&data[done..], &mut out, flush)
            .map_err(std::io::Error::other)?;
        let consumed = c.total_in() as usize == data.len();
        match status {
            Status::StreamEnd => break,
            // A flush is complete when it left room in the output.
            Status::Ok | Status::BufError if consumed && !last && out.len() < out.capacity() => {
                break;
            }
            Status::Ok | Status::BufError => {}
        }
    }
    Ok(out)
}

/// The fixed gzip member header: deflate, no name, no time, unknown OS.
pub(super) const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];

/// The gzip trailer of a document: its CRC-32 and size (mod 2^32).
pub(super) fn gzip_trailer(crc: &flate2::Crc) -> [u8; 8] {
    let mut t = [0; 8];
    t[..4].copy_from_slice(&crc.sum().to_le_bytes());
    t[4..].copy_from_slice(&crc.amount().to_le_bytes());
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read as _;

    fn assemble(c: MdCompression, parts: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut crc = flate2::Crc::new();
        if c == MdCompression::Gz {
            out.extend_from_slice(&GZIP_HEADER);
        }
        for (i, p) in parts.iter().enumerate() {
            crc.update(p);
            out.extend(compress_segment(c, p, i + 1 == parts.len()).unwrap());
        }
        if c == MdCompression::Gz {
            out.extend_from_slice(&gzip_trailer(&crc));
        }
        out
    }

    #[test]
    fn segments_concatenate_into_one_readable_stream() {
        let big: Vec<u8> = (0..200_000u32)
            .flat_map(|i| format!("<file>/usr/share/p{}/f{i}</file>\n", i % 97).into_bytes())
            .collect();
        let parts: [&[u8]; 5] = [b"<head>\n", &big[..1000], b"", &big[1000..], b"</tail>\n"];
        let whole: Vec<u8> = parts.concat();
        let gz = assemble(MdCompression::Gz, &parts);
        // One member: the single-member decoder reads it all.
        let mut plain = Vec::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut plain)
            .unwrap();
        assert_eq!(plain, whole);
        // And it is really compressed.
        assert!(
            gz.len() < whole.len() / 5,
            "{} of {}",
            gz.len(),
            whole.len()
        );
        let zst = assemble(MdCompression::Zst, &parts);
        assert_eq!(zstd::decode_all(&zst[..]).unwrap(), whole);
    }

    #[test]
    fn a_corrupt_segment_fails_the_gzip_check() {
        let parts: [&[u8]; 3] = [b"<a>\n", b"<b>some text here</b>\n", b"</a>\n"];
        let mut gz = assemble(MdCompression::Gz, &parts);
        let n = gz.len();
        gz[n - 6] ^= 1; // the CRC
        let mut plain = Vec::new();
        assert!(
            flate2::read::GzDecoder::new(&gz[..])
                .read_to_end(&mut plain)
                .is_err()
        );
    }

    #[test]
    fn blocks_are_local_to_a_change() {
        let hrefs: Vec<String> = (0..5000).map(|i| format!("Packages/p{i:05}.rpm")).collect();
        let before = blocks(hrefs.iter().map(String::as_str));
        assert!(before.len() > 30 && before.len() < 200, "{}", before.len());
        assert!(before.iter().all(|r| r.len() <= BLOCK_MAX));
        assert_eq!(before.last().unwrap().end, 5000);
        let mut more = hrefs.clone();
        more.insert(2500, "Packages/p02499a.rpm".into());
        let after = blocks(more.iter().map(String::as_str));
        let names = |v: &[String], bs: &[Range<usize>]| -> Vec<Vec<String>> {
            bs.iter().map(|r| v[r.clone()].to_vec()).collect()
        };
        let (a, b) = (names(&hrefs, &before), names(&more, &after));
        let changed = b.iter().filter(|blk| !a.contains(blk)).count();
        assert!(changed <= 2, "{changed} blocks changed");
        assert!(blocks(std::iter::empty()).is_empty());
    }
}
