//! permessage-deflate (RFC 7692) without context takeover.
//!
//! Each message is compressed and decompressed on its own (both `no_context_takeover`
//! parameters are always negotiated), so the codec state is not tied to a connection: one
//! compressor and one decompressor per thread, reset before each message, serve every
//! connection that thread runs.

use std::cell::RefCell;

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

use crate::frame::{CloseCode, WsError};

/// The four bytes a sync flush ends with, which RFC 7692 §7.2.1 removes from the wire.
const TAIL: [u8; 4] = [0x00, 0x00, 0xFF, 0xFF];

thread_local! {
    static INFLATE: RefCell<Decompress> = RefCell::new(Decompress::new(false));
    static DEFLATE: RefCell<Compress> = RefCell::new(Compress::new(Compression::fast(), false));
}

/// Inflates one message's payload into `out`, refusing to produce more than `limit` bytes.
pub fn inflate(data: &[u8], limit: usize, out: &mut Vec<u8>) -> Result<(), WsError> {
    let too_big = || WsError {
        code: CloseCode::TOO_BIG,
        reason: "message too big",
    };
    INFLATE.with(|cell| {
        let mut d = cell.borrow_mut();
        d.reset(false);
        for input in [data, &TAIL[..]] {
            let start = d.total_in();
            loop {
                if out.len() == out.capacity() {
                    if out.len() > limit {
                        return Err(too_big());
                    }
                    let room = out
                        .len()
                        .max(data.len() * 2)
                        .max(256)
                        .min(limit + 1 - out.len());
                    out.reserve_exact(room);
                }
                let consumed = (d.total_in() - start) as usize;
                let status = d
                    .decompress_vec(&input[consumed..], out, FlushDecompress::Sync)
                    .map_err(|_| WsError {
                        code: CloseCode::INVALID_DATA,
                        reason: "invalid compressed data",
                    })?;
                if out.len() > limit {
                    return Err(too_big());
                }
                if status == Status::StreamEnd {
                    // The sender ended the stream (BFINAL): the tail is not needed.
                    return Ok(());
                }
                let all_in = (d.total_in() - start) as usize == input.len();
                if all_in && out.len() < out.capacity() {
                    break;
                }
                if !all_in && out.len() < out.capacity() && status == Status::BufError {
                    return Err(WsError {
                        code: CloseCode::INVALID_DATA,
                        reason: "invalid compressed data",
                    });
                }
            }
        }
        Ok(())
    })
}

/// Deflates one message into `out`, without the trailing `00 00 FF FF`.
pub fn deflate(data: &[u8], out: &mut Vec<u8>) {
    DEFLATE.with(|cell| {
        let mut c = cell.borrow_mut();
        c.reset();
        let start = out.len();
        loop {
            if out.len() == out.capacity() {
                out.reserve(out.len().max(data.len() / 2).max(64));
            }
            let consumed = c.total_in() as usize;
            // Compressing into a vector with spare room cannot fail.
            let _ = c.compress_vec(&data[consumed..], out, FlushCompress::Sync);
            if c.total_in() as usize == data.len() && out.len() < out.capacity() {
                break;
            }
        }
        if out[start..].ends_with(&TAIL) {
            out.truncate(out.len() - TAIL.len());
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn round_trip(data in proptest::collection::vec(any::<u8>(), 0..20_000)) {
            let mut packed = Vec::new();
            deflate(&data, &mut packed);
            prop_assert!(!packed.ends_with(&TAIL) || data.is_empty());
            let mut back = Vec::new();
            inflate(&packed, data.len().max(1), &mut back).expect("inflates");
            prop_assert_eq!(back, data);
        }

        #[test]
        fn garbage_is_refused_not_panicking(data in proptest::collection::vec(any::<u8>(), 0..300)) {
            let mut out = Vec::new();
            let _ = inflate(&data, 10_000, &mut out);
            prop_assert!(out.len() <= 10_000);
        }
    }

    #[test]
    fn bombs_stop_at_the_limit() {
        let data = vec![b'a'; 1 << 20];
        let mut packed = Vec::new();
        deflate(&data, &mut packed);
        assert!(packed.len() < 20_000, "{}", packed.len());
        let mut out = Vec::new();
        let e = inflate(&packed, 64 * 1024, &mut out).expect_err("too big");
        assert_eq!(e.code, CloseCode::TOO_BIG);
        assert!(out.len() <= 64 * 1024 + 1);
    }
}
