//! Whole-file decompression. CloudTrail files are small (typically under a few
//! MiB), so they are inflated in one call with libdeflate into a reused buffer.
//! That fast path is taken only when one gzip member spans the whole input; a
//! multi-member file (RFC 1952 §2.2: the content is the members' concatenation) and
//! the error paths go to a streaming decoder.

use std::cell::RefCell;
use std::io::Read;

use super::DecodeError;

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Files whose trailer announces more than this are inflated in steps.
const FAST_PATH_MAX: usize = 64 << 20;

/// A libdeflate decompressor, used through `libdeflate_gzip_decompress_ex`, which
/// (unlike the `libdeflater` wrapper) reports how much input one member used.
struct RawDecompressor(*mut libdeflate_sys::libdeflate_decompressor);

impl RawDecompressor {
    fn new() -> Self {
        // SAFETY: plain allocation; a null result is checked before every use.
        RawDecompressor(unsafe { libdeflate_sys::libdeflate_alloc_decompressor() })
    }

    /// Inflate the first gzip member of `data` into `out`: (input used, output size),
    /// or `None` on any error (the streaming decoder then classifies it).
    fn first_member(&mut self, data: &[u8], out: &mut [u8]) -> Option<(usize, usize)> {
        if self.0.is_null() {
            return None;
        }
        let (mut used, mut n) = (0usize, 0usize);
        // SAFETY: the decompressor is live and owned by this thread; the pointers and
        // lengths describe valid slices; libdeflate writes at most `out.len()` bytes.
        let rc = unsafe {
            libdeflate_sys::libdeflate_gzip_decompress_ex(
                self.0,
                data.as_ptr().cast(),
                data.len(),
                out.as_mut_ptr().cast(),
                out.len(),
                &mut used,
                &mut n,
            )
        };
        (rc == libdeflate_sys::libdeflate_result_LIBDEFLATE_SUCCESS).then_some((used, n))
    }
}

impl Drop for RawDecompressor {
    fn drop(&mut self) {
        if !self.0.is_null() {
            // SAFETY: allocated by libdeflate_alloc_decompressor, freed once.
            unsafe { libdeflate_sys::libdeflate_free_decompressor(self.0) };
        }
    }
}

thread_local! {
    static DECOMPRESSOR: RefCell<RawDecompressor> = RefCell::new(RawDecompressor::new());
}

/// Run `f` over the file's content: the bytes themselves for plain JSON, the
/// inflated bytes for gzip (detected by magic bytes, not by name). `buf` is a
/// scratch buffer reused across calls on the same thread.
pub fn with_content<R>(
    bytes: &[u8],
    max_bytes: usize,
    buf: &mut Vec<u8>,
    f: impl FnOnce(&[u8]) -> R,
) -> Result<R, DecodeError> {
    if bytes.is_empty() {
        return Err(DecodeError::Empty);
    }
    if !bytes.starts_with(&GZIP_MAGIC) {
        if bytes.len() > max_bytes {
            return Err(DecodeError::Oversized { limit: max_bytes });
        }
        return Ok(f(bytes));
    }
    let n = inflate(bytes, max_bytes, buf)?;
    if n == 0 {
        return Err(DecodeError::Empty);
    }
    Ok(f(&buf[..n]))
}

/// Inflate gzip `data` into `buf`, returning the content length.
fn inflate(data: &[u8], max_bytes: usize, buf: &mut Vec<u8>) -> Result<usize, DecodeError> {
    // ISIZE (the last four bytes) is the size of the last member, modulo 2^32: a
    // hint for the buffer, never trusted as a bound.
    let isize_hint = data
        .len()
        .checked_sub(4)
        .and_then(|at| data.get(at..))
        .map(|t| u32::from_le_bytes([t[0], t[1], t[2], t[3]]) as usize)
        .unwrap_or(0);
    // Deflate expands at most ~1032:1, so a trailer claiming more is a lie; and the
    // fast path is only for files of ordinary size. Anything else streams, growing
    // the buffer as content actually arrives.
    let plausible = isize_hint <= data.len().saturating_mul(1032);
    if isize_hint <= max_bytes.min(FAST_PATH_MAX) && plausible {
        let want = isize_hint.max(64);
        if buf.len() < want {
            buf.resize(want, 0);
        }
        let result = DECOMPRESSOR.with(|d| d.borrow_mut().first_member(data, &mut buf[..want]));
        // One member that used the whole input is the whole content (its CRC and
        // size were checked by libdeflate). Input left over means more members.
        if let Some((used, n)) = result {
            if used == data.len() {
                return Ok(n);
            }
        }
    }
    inflate_streaming(data, max_bytes, buf)
}

/// Streaming multi-member inflate with a hard output limit. Also classifies errors.
fn inflate_streaming(
    data: &[u8],
    max_bytes: usize,
    buf: &mut Vec<u8>,
) -> Result<usize, DecodeError> {
    buf.clear();
    // Address space for the limit (+1 byte, to detect going over it) is reserved
    // once: pages are touched only as content arrives, and the buffer never moves
    // (growing by doubling would leave every smaller copy resident).
    let cap = max_bytes.saturating_add(1);
    if buf.capacity() < cap {
        buf.reserve_exact(cap);
    }
    let decoder = flate2::read::MultiGzDecoder::new(data);
    match decoder.take(cap as u64).read_to_end(buf) {
        Ok(n) if n > max_bytes => Err(DecodeError::Oversized { limit: max_bytes }),
        Ok(n) => Ok(n),
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Err(DecodeError::TruncatedGzip),
        Err(e) => Err(DecodeError::CorruptGzip(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn content(bytes: &[u8], max: usize) -> Result<Vec<u8>, DecodeError> {
        let mut buf = Vec::new();
        with_content(bytes, max, &mut buf, |c| c.to_vec())
    }

    #[test]
    fn plain_and_gzip() {
        assert_eq!(
            content(b"{\"Records\":[]}", 100).unwrap(),
            b"{\"Records\":[]}"
        );
        assert_eq!(content(&gz(b"hello world"), 100).unwrap(), b"hello world");
    }

    #[test]
    fn multi_member() {
        let mut two = gz(b"hello ");
        two.extend(gz(b"world"));
        assert_eq!(content(&two, 100).unwrap(), b"hello world");
        // Members of equal length: the last trailer matches the first member's size.
        let mut same = gz(b"abc");
        same.extend(gz(b"xyz"));
        assert_eq!(content(&same, 100).unwrap(), b"abcxyz");
        // The first member larger than the last one's ISIZE.
        let mut big_first = gz(&[b'a'; 5000]);
        big_first.extend(gz(b"z"));
        assert_eq!(content(&big_first, 10_000).unwrap().len(), 5001);
    }

    #[test]
    fn errors() {
        assert_eq!(content(b"", 100), Err(DecodeError::Empty));
        let g = gz(&vec![b'a'; 10_000]);
        assert_eq!(
            content(&g[..g.len() / 2], 100_000),
            Err(DecodeError::TruncatedGzip)
        );
        let mut bad = g.clone();
        for b in bad.iter_mut().skip(12).take(20) {
            *b ^= 0x55;
        }
        assert!(matches!(
            content(&bad, 100_000),
            Err(DecodeError::CorruptGzip(_))
        ));
        assert_eq!(
            content(&g, 5_000),
            Err(DecodeError::Oversized { limit: 5_000 })
        );
        assert_eq!(
            content(&[b' '; 200], 100),
            Err(DecodeError::Oversized { limit: 100 })
        );
        // A trailer that lies about the size is not trusted.
        let mut liar = g.clone();
        let n = liar.len();
        liar[n - 4..].copy_from_slice(&10u32.to_le_bytes());
        assert_eq!(content(&liar, 100_000).map(|c| c.len()).ok(), None);
        assert_eq!(content(&gz(b""), 100), Err(DecodeError::Empty));
    }

    #[test]
    fn a_lying_trailer_reserves_nothing() {
        // A tiny file whose ISIZE claims 1 GiB − 1: the buffer grows only as far
        // as the real content.
        let mut liar = gz(b"{\"Records\":[]}");
        let n = liar.len();
        liar[n - 4..].copy_from_slice(&((1u32 << 30) - 1).to_le_bytes());
        let mut buf = Vec::new();
        let r = with_content(&liar, 1 << 30, &mut buf, |c| c.len());
        assert!(r.is_err(), "the trailer does not match the content");
        assert!(buf.len() <= 64, "filled {} bytes", buf.len());
        // A bomb stops at the limit, holding no more than it.
        let bomb = gz(&vec![b' '; 8 << 20]);
        let mut buf = Vec::new();
        assert_eq!(
            with_content(&bomb, 3 << 20, &mut buf, |c| c.len()),
            Err(DecodeError::Oversized { limit: 3 << 20 })
        );
        assert!(
            buf.capacity() <= (3 << 20) + 1,
            "held {} bytes",
            buf.capacity()
        );
    }
}
