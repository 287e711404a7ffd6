//! The on-disk form of a row's value, and the codec behind its headers.
//!
//! redb checks no value on a clean file, so every value carries a format
//! version and a CRC-32 of everything after the checksum: a flipped byte is
//! [`Error::Corrupt`](cachestore_core::Error::Corrupt), never wrong data.
//!
//! ```text
//! offset  size  field
//!  0      1     format version (1)
//!  1      4     CRC-32 (LE) of bytes 5..
//!  5      1     flags: bit 0 = the row expires
//!  6      8     stored_at, ms since the epoch (i64 LE)
//! 14      8     expires_at (0 when the row never expires)
//! 22      8     stale_until (0 when the row never expires)
//! 30      4     length of the encoded headers (u32 LE)
//! 34      n     headers, encoded by the [`HeaderCodec`]
//! 34+n    ..    payload, raw
//! ```
//!
//! The times sit at fixed offsets so that index upkeep and phase checks
//! read them without decoding anything; the payload is raw so that reading
//! it costs one copy.

use cachestore_core::{Headers, RowTimes};

/// The value format this code writes.
pub const FORMAT_VERSION: u8 = 1;

const HEADER: usize = 34;

/// The most bytes a decoder may claim for headers: a forged length prefix
/// asking for more is refused before anything is allocated.
pub const HEADERS_LIMIT: usize = 16 * 1024 * 1024;

/// Encodes and decodes a row's headers. The store's own format: the engine
/// behind it (bincode today) can change without changing the API.
pub trait HeaderCodec: Send + Sync + 'static {
    /// Appends the encoded `headers` to `out`.
    fn encode(&self, headers: &Headers, out: &mut Vec<u8>) -> Result<(), String>;
    /// Decodes headers from exactly `bytes`, allocating at most
    /// [`HEADERS_LIMIT`] bytes whatever the input claims.
    fn decode(&self, bytes: &[u8]) -> Result<Headers, String>;
}

/// bincode 2 (serde), standard configuration, decoding from slices with a
/// [`HEADERS_LIMIT`] byte limit.
///
/// bincode is unmaintained (RUSTSEC-2025-0141); it is pinned to 2.x and used
/// only here, so replacing it is a change to this type alone.
#[derive(Clone, Copy, Debug, Default)]
pub struct Bincode;

impl HeaderCodec for Bincode {
    fn encode(&self, headers: &Headers, out: &mut Vec<u8>) -> Result<(), String> {
        let config = bincode::config::standard();
        bincode::serde::encode_into_std_write(headers, out, config)
            .map(drop)
            .map_err(|e| e.to_string())
    }

    fn decode(&self, bytes: &[u8]) -> Result<Headers, String> {
        let config = bincode::config::standard().with_limit::<HEADERS_LIMIT>();
        let (headers, read): (Headers, usize) =
            bincode::serde::decode_from_slice(bytes, config).map_err(|e| e.to_string())?;
        if read != bytes.len() {
            return Err(format!("{} bytes after the headers", bytes.len() - read));
        }
        Ok(headers)
    }
}

/// Encodes a whole value.
pub(crate) fn encode(
    codec: &dyn HeaderCodec,
    times: &RowTimes,
    headers: &Headers,
    payload: &[u8],
) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(HEADER + payload.len() + 16);
    out.extend_from_slice(&[FORMAT_VERSION, 0, 0, 0, 0]);
    out.push(u8::from(times.expires_at.is_some()));
    out.extend_from_slice(&times.stored_at.to_le_bytes());
    out.extend_from_slice(&times.expires_at.unwrap_or(0).to_le_bytes());
    out.extend_from_slice(&times.stale_until.unwrap_or(0).to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    if !headers.is_empty() {
        codec.encode(headers, &mut out)?;
    }
    let headers_len = u32::try_from(out.len() - HEADER).map_err(|_| "headers over 4 GiB")?;
    out[30..34].copy_from_slice(&headers_len.to_le_bytes());
    out.extend_from_slice(payload);
    let crc = crc32fast::hash(&out[5..]);
    out[1..5].copy_from_slice(&crc.to_le_bytes());
    Ok(out)
}

fn i64_at(bytes: &[u8], at: usize) -> i64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&bytes[at..at + 8]);
    i64::from_le_bytes(b)
}

/// The fixed part of a value, checked for shape but not checksum: what index
/// upkeep needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Fixed {
    pub(crate) times: RowTimes,
    pub(crate) headers_len: usize,
    pub(crate) payload_len: usize,
}

/// Reads the fixed part of a value.
pub(crate) fn fixed(value: &[u8]) -> Result<Fixed, String> {
    if value.len() < HEADER {
        return Err(format!("a value of {} bytes is shorter than its header", value.len()));
    }
    if value[0] != FORMAT_VERSION {
        return Err(format!("unknown value format version {}", value[0]));
    }
    let expires = match value[5] {
        0 => false,
        1 => true,
        f => return Err(format!("unknown flags {f:#x}")),
    };
    let times = RowTimes {
        stored_at: i64_at(value, 6),
        expires_at: expires.then(|| i64_at(value, 14)),
        stale_until: expires.then(|| i64_at(value, 22)),
    };
    let mut len = [0u8; 4];
    len.copy_from_slice(&value[30..34]);
    let headers_len = u32::from_le_bytes(len) as usize;
    let payload_len = (value.len() - HEADER)
        .checked_sub(headers_len)
        .ok_or_else(|| format!("headers length {headers_len} runs past the value"))?;
    Ok(Fixed { times, headers_len, payload_len })
}

/// Decodes a whole value, verifying its checksum: times, headers and the
/// payload's byte range within `value`.
pub(crate) fn decode(
    codec: &dyn HeaderCodec,
    value: &[u8],
) -> Result<(RowTimes, Headers, std::ops::Range<usize>), String> {
    let f = fixed(value)?;
    let mut crc = [0u8; 4];
    crc.copy_from_slice(&value[1..5]);
    if crc32fast::hash(&value[5..]) != u32::from_le_bytes(crc) {
        return Err("checksum mismatch: the row was damaged on disk".into());
    }
    f.times.check()?;
    let headers_end = HEADER + f.headers_len;
    let headers = if f.headers_len == 0 {
        Headers::new()
    } else {
        codec.decode(&value[HEADER..headers_end])?
    };
    Ok((f.times, headers, headers_end..value.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn times() -> RowTimes {
        RowTimes { stored_at: 5, expires_at: Some(10), stale_until: Some(20) }
    }

    #[test]
    fn values_round_trip() {
        let mut h = Headers::new();
        h.insert("ключ".into(), "🦀\0".into());
        h.insert(String::new(), String::new());
        for (headers, payload) in [(Headers::new(), &b""[..]), (h, &b"payload"[..])] {
            let v = encode(&Bincode, &times(), &headers, payload).expect("encode");
            let (t, got, range) = decode(&Bincode, &v).expect("decode");
            assert_eq!((t, got, &v[range]), (times(), headers, payload));
        }
        let never = RowTimes { stored_at: -3, expires_at: None, stale_until: None };
        let v = encode(&Bincode, &never, &Headers::new(), b"x").expect("encode");
        assert_eq!(fixed(&v).expect("fixed").times, never);
    }

    #[test]
    fn every_single_flipped_bit_is_detected() {
        let mut h = Headers::new();
        h.insert("etag".into(), "v1".into());
        let v = encode(&Bincode, &times(), &h, b"some payload").expect("encode");
        for i in 0..v.len() * 8 {
            let mut bad = v.clone();
            bad[i / 8] ^= 1 << (i % 8);
            assert!(decode(&Bincode, &bad).is_err(), "bit {i} flipped unnoticed");
        }
        for len in 0..v.len() {
            assert!(decode(&Bincode, &v[..len]).is_err(), "truncation to {len} unnoticed");
        }
    }

    #[test]
    fn a_forged_headers_length_is_an_error() {
        // A map length prefix of 2^60 (varint: 0xfd then u64 LE).
        let mut forged = vec![0xfd];
        forged.extend_from_slice(&(1u64 << 60).to_le_bytes());
        assert!(Bincode.decode(&forged).is_err());
    }
}
