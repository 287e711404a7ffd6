//! The on-disk form of a row's value, and the codec behind its headers.
//!
//! redb checks no value on a clean file, so every value carries a format
//! version and a CRC-32. The checksum covers the row's identity too: a value
//! is only sound under the `(namespace, key)` it was written for, so damage
//! that turns one stored key into another is [`Error::Corrupt`], never
//! another row's data under the asked-for key.
//!
//! ```text
//! offset  size  field
//!  0      1     format version (2)
//!  1      4     CRC-32 (LE) of: namespace length (u32 LE), namespace,
//!               key length (u32 LE), key, then bytes 5.. of the value
//!  5      1     flags: bit 0 = the row expires
//!  6      8     stored_at, ms since the epoch (i64 LE)
//! 14      8     expires_at (0 when the row never expires)
//! 22      8     stale_until (0 when the row never expires)
//! 30      4     length of the encoded headers (u32 LE)
//! 34      n     headers, encoded by the [`HeaderCodec`]
//! 34+n    ..    payload, raw
//! ```
//!
//! Format 1 had the same layout with a CRC of bytes 5.. alone; files of
//! store format 2 and earlier hold such values, and are rewritten to format
//! 2 values when they are upgraded.
//!
//! The times sit at fixed offsets so that phase checks and statistics read
//! them without decoding anything; the payload is raw so that reading it
//! costs one copy.
//!
//! [`Error::Corrupt`]: cachestore_core::Error::Corrupt

use cachestore_core::Headers;
use cachestore_core::raw::RowTimes;

/// The value format this code writes.
pub const FORMAT_VERSION: u8 = 2;

/// The value format before the identity was checksummed.
const FORMAT_V1: u8 = 1;

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
    (namespace, key): (&str, &str),
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
    let crc = checksum((namespace, key), &out[5..]);
    out[1..5].copy_from_slice(&crc.to_le_bytes());
    Ok(out)
}

/// The CRC-32 of a format-2 value: the identity, then the value's body.
fn checksum((namespace, key): (&str, &str), body: &[u8]) -> u32 {
    let mut crc = crc32fast::Hasher::new();
    for part in [namespace, key] {
        // Identities are at most 4096 bytes (checked before any write).
        crc.update(&(part.len() as u32).to_le_bytes());
        crc.update(part.as_bytes());
    }
    crc.update(body);
    crc.finalize()
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
    if value[0] != FORMAT_VERSION && value[0] != FORMAT_V1 {
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

/// Decodes a whole value stored under `(namespace, key)`, verifying its
/// checksum against that identity: times, headers and the payload's byte
/// range within `value`.
pub(crate) fn decode(
    codec: &dyn HeaderCodec,
    identity: (&str, &str),
    value: &[u8],
) -> Result<(RowTimes, Headers, std::ops::Range<usize>), String> {
    if value.first() == Some(&FORMAT_V1) {
        return Err("a value of format 1 in a file of the current format".into());
    }
    let f = fixed(value)?;
    if checksum(identity, &value[5..]) != stored_crc(value) {
        return Err("checksum mismatch: the row was damaged on disk, or is not this key's".into());
    }
    parts(codec, f, value)
}

/// Decodes a format-1 value (checksum of the body alone), for the upgrade
/// of a file written before the identity was checksummed.
pub(crate) fn decode_v1(
    codec: &dyn HeaderCodec,
    value: &[u8],
) -> Result<(RowTimes, Headers, std::ops::Range<usize>), String> {
    let f = fixed(value)?;
    if value[0] != FORMAT_V1 {
        return Err(format!("value format {} in a file of format 1 or 2", value[0]));
    }
    if crc32fast::hash(&value[5..]) != stored_crc(value) {
        return Err("checksum mismatch: the row was damaged on disk".into());
    }
    parts(codec, f, value)
}

fn stored_crc(value: &[u8]) -> u32 {
    let mut crc = [0u8; 4];
    crc.copy_from_slice(&value[1..5]);
    u32::from_le_bytes(crc)
}

fn parts(
    codec: &dyn HeaderCodec,
    f: Fixed,
    value: &[u8],
) -> Result<(RowTimes, Headers, std::ops::Range<usize>), String> {
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

    const ID: (&str, &str) = ("ns", "key");

    fn times() -> RowTimes {
        RowTimes { stored_at: 5, expires_at: Some(10), stale_until: Some(20) }
    }

    #[test]
    fn values_round_trip() {
        let mut h = Headers::new();
        h.insert("ключ".into(), "🦀\0".into());
        h.insert(String::new(), String::new());
        for (headers, payload) in [(Headers::new(), &b""[..]), (h, &b"payload"[..])] {
            let v = encode(&Bincode, ID, &times(), &headers, payload).expect("encode");
            let (t, got, range) = decode(&Bincode, ID, &v).expect("decode");
            assert_eq!((t, got, &v[range]), (times(), headers, payload));
        }
        let never = RowTimes { stored_at: -3, expires_at: None, stale_until: None };
        let v = encode(&Bincode, ID, &never, &Headers::new(), b"x").expect("encode");
        assert_eq!(fixed(&v).expect("fixed").times, never);
    }

    #[test]
    fn every_single_flipped_bit_is_detected() {
        let mut h = Headers::new();
        h.insert("etag".into(), "v1".into());
        let v = encode(&Bincode, ID, &times(), &h, b"some payload").expect("encode");
        for i in 0..v.len() * 8 {
            let mut bad = v.clone();
            bad[i / 8] ^= 1 << (i % 8);
            assert!(decode(&Bincode, ID, &bad).is_err(), "bit {i} flipped unnoticed");
        }
        for len in 0..v.len() {
            assert!(decode(&Bincode, ID, &v[..len]).is_err(), "truncation to {len} unnoticed");
        }
    }

    #[test]
    fn a_value_is_sound_only_under_its_own_identity() {
        let v = encode(&Bincode, ("ns", "key-3"), &times(), &Headers::new(), b"3").expect("encode");
        assert!(decode(&Bincode, ("ns", "key-3"), &v).is_ok());
        for other in [("ns", "key-2"), ("ns", "key-3 "), ("n", "skey-3"), ("nskey-3", "")] {
            assert!(decode(&Bincode, other, &v).is_err(), "{other:?} accepted key-3's value");
        }
    }

    #[test]
    fn format_1_values_decode_only_through_the_upgrade() {
        let mut v = encode(&Bincode, ID, &times(), &Headers::new(), b"old").expect("encode");
        v[0] = FORMAT_V1;
        let crc = crc32fast::hash(&v[5..]);
        v[1..5].copy_from_slice(&crc.to_le_bytes());
        let (t, _, range) = decode_v1(&Bincode, &v).expect("format 1 decodes for the upgrade");
        assert_eq!((t, &v[range]), (times(), &b"old"[..]));
        assert!(decode(&Bincode, ID, &v).is_err(), "format 1 outside the upgrade");
        v[35] ^= 1;
        assert!(decode_v1(&Bincode, &v).is_err(), "a damaged format-1 value");
    }

    #[test]
    fn a_forged_headers_length_is_an_error() {
        // A map length prefix of 2^60 (varint: 0xfd then u64 LE).
        let mut forged = vec![0xfd];
        forged.extend_from_slice(&(1u64 << 60).to_le_bytes());
        assert!(Bincode.decode(&forged).is_err());
    }
}
