//! The on-disk form of a row's value.
//!
//! redb checks no value on a clean file, so every value carries a format
//! version and a CRC-32. The checksum covers the row's identity too: a value
//! is only sound under the `(namespace, key)` it was written for, so damage
//! that turns one stored key into another is [`Error::Corrupt`], never
//! another row's data under the asked-for key.
//!
//! ```text
//! offset  size  field
//!  0      1     format version (5)
//!  1      4     CRC-32 (LE) of: namespace length (u32 LE), namespace,
//!               key length (u32 LE), key, then bytes 5.. of the value
//!  5      1     flags: bit 0 = the row expires
//!  6      8     stored_at, ms since the epoch (i64 LE)
//! 14      8     expires_at (0 when the row never expires)
//! 22      8     stale_until (0 when the row never expires)
//! 30      8     version (u64 LE, CONTRACT.md §7)
//! 38      4     length of the encoded headers (u32 LE)
//! 42      4     length of the encoded tags (u32 LE, 0 for none)
//! 46      n     headers, in core's headers encoding
//!               ([`encode_headers`](cachestore_core::raw::encoding::encode_headers))
//! 46+n    m     tags, in core's tags encoding (CONTRACT.md §9)
//! 46+n+m  ..    payload, raw
//! ```
//!
//! The version is set by the writer when the write is applied (see
//! `stamp`); the rest of the checksum is computed before, so stamping
//! costs no pass over the payload. Format 4 had the same layout without
//! the tags' length (a row written before tags: none), format 3 without
//! the version either (a row written before versions: version 0); both are
//! read as they are. Earlier value formats had format 3's layout with headers encoded
//! by bincode 2 (standard configuration); format 1's CRC covered bytes 5..
//! alone. Files of store format 3 (value format 2) and earlier are
//! rewritten to format 3 values when they are upgraded, the old headers
//! read by a decoder of that one layout (so that the backend does not
//! depend on bincode).
//!
//! The times sit at fixed offsets so that phase checks and statistics read
//! them without decoding anything; the payload is raw so that reading it
//! costs one copy.
//!
//! [`Error::Corrupt`]: cachestore_core::Error::Corrupt

use cachestore_core::raw::RowTimes;
use cachestore_core::raw::encoding::{
    decode_headers, decode_tags, encode_headers_into, encode_tags_into, encoded_headers_len,
    encoded_tags_len,
};
use cachestore_core::{Headers, Tags};

/// The value format this code writes.
pub const FORMAT_VERSION: u8 = 5;

/// The value format with versions and without tags.
const FORMAT_V4: u8 = 4;

/// The value format before the identity was checksummed (bincode headers).
const FORMAT_V1: u8 = 1;

/// The value format with the identity checksummed and bincode headers.
const FORMAT_V2: u8 = 2;

/// The fixed header's length in formats 1 to 3, in format 4, and in 5.
const HEADER_V3: usize = 34;
const HEADER_V4: usize = 42;
const HEADER: usize = 46;

fn header_len(format: u8) -> usize {
    match format {
        FORMAT_VERSION => HEADER,
        FORMAT_V4 => HEADER_V4,
        _ => HEADER_V3,
    }
}

/// A value's head (the fixed header and the headers) before its version is
/// stamped, and the checksum of what follows the version (the headers'
/// length, the headers and the payload), so that [`stamp`] does not read
/// the payload again.
#[derive(Clone, Debug)]
pub(crate) struct Head {
    pub(crate) bytes: Vec<u8>,
    tail: crc32fast::Hasher,
}

/// Encodes a value's head for `payload`, which follows it in the stored
/// value (the caller places it, so that it is copied once). The version is
/// 0 until [`stamp`] sets it.
pub(crate) fn encode(
    times: &RowTimes,
    headers: &Headers,
    tags: &Tags,
    payload: &[u8],
) -> Result<Head, String> {
    let mut out =
        Vec::with_capacity(HEADER + encoded_headers_len(headers) + encoded_tags_len(tags));
    out.extend_from_slice(&[FORMAT_VERSION, 0, 0, 0, 0]);
    out.push(u8::from(times.expires_at.is_some()));
    out.extend_from_slice(&times.stored_at.to_le_bytes());
    out.extend_from_slice(&times.expires_at.unwrap_or(0).to_le_bytes());
    out.extend_from_slice(&times.stale_until.unwrap_or(0).to_le_bytes());
    out.extend_from_slice(&[0; 8]);
    out.extend_from_slice(&[0; 8]);
    encode_headers_into(headers, &mut out);
    let headers_len = u32::try_from(out.len() - HEADER).map_err(|_| "headers over 4 GiB")?;
    out[38..42].copy_from_slice(&headers_len.to_le_bytes());
    let tags_at = out.len();
    encode_tags_into(tags, &mut out);
    // At most 16 tags of 255 bytes (checked before any write).
    let tags_len = u32::try_from(out.len() - tags_at).map_err(|_| "tags over 4 GiB")?;
    out[42..46].copy_from_slice(&tags_len.to_le_bytes());
    let mut tail = crc32fast::Hasher::new();
    tail.update(&out[38..]);
    tail.update(payload);
    Ok(Head { bytes: out, tail })
}

/// The head stamped with `version` and its checksum for `identity`.
pub(crate) fn stamp((namespace, key): (&str, &str), head: &Head, version: u64) -> Vec<u8> {
    let mut out = head.bytes.clone();
    out[30..38].copy_from_slice(&version.to_le_bytes());
    let mut crc = crc32fast::Hasher::new();
    for part in [namespace, key] {
        // Identities are at most 4096 bytes (checked before any write).
        crc.update(&(part.len() as u32).to_le_bytes());
        crc.update(part.as_bytes());
    }
    crc.update(&out[5..38]);
    crc.combine(&head.tail);
    out[1..5].copy_from_slice(&crc.finalize().to_le_bytes());
    out
}

/// The CRC-32 of a value of format 2 or later: the identity, then the
/// value's body (bytes 5.. of the value, in pieces).
fn checksum((namespace, key): (&str, &str), body: &[&[u8]]) -> u32 {
    let mut crc = crc32fast::Hasher::new();
    for part in [namespace, key] {
        // Identities are at most 4096 bytes (checked before any write).
        crc.update(&(part.len() as u32).to_le_bytes());
        crc.update(part.as_bytes());
    }
    for piece in body {
        crc.update(piece);
    }
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
    pub(crate) version: u64,
    /// Where the headers start (the fixed header's length).
    pub(crate) headers_at: usize,
    pub(crate) headers_len: usize,
    /// The tags' blob follows the headers.
    pub(crate) tags_len: usize,
    pub(crate) payload_len: usize,
}

impl Fixed {
    /// Where the tags' blob is in the value.
    pub(crate) fn tags_range(&self) -> std::ops::Range<usize> {
        let at = self.headers_at + self.headers_len;
        at..at + self.tags_len
    }
}

/// Reads the fixed part of a value.
pub(crate) fn fixed(value: &[u8]) -> Result<Fixed, String> {
    let Some(&format) = value.first() else { return Err("an empty value".into()) };
    if !(FORMAT_V1..=FORMAT_VERSION).contains(&format) {
        return Err(format!("unknown value format version {format}"));
    }
    let header = header_len(format);
    if value.len() < header {
        return Err(format!("a value of {} bytes is shorter than its header", value.len()));
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
    let version = if format >= FORMAT_V4 { i64_at(value, 30) as u64 } else { 0 };
    let u32_at = |at: usize| {
        let mut len = [0u8; 4];
        len.copy_from_slice(&value[at..at + 4]);
        u32::from_le_bytes(len) as usize
    };
    let headers_len = u32_at(if format >= FORMAT_V4 { 38 } else { 30 });
    let tags_len = if format >= FORMAT_VERSION { u32_at(42) } else { 0 };
    let payload_len = (value.len() - header)
        .checked_sub(headers_len)
        .and_then(|rest| rest.checked_sub(tags_len))
        .ok_or_else(|| {
            format!("headers and tags lengths {headers_len} + {tags_len} run past the value")
        })?;
    Ok(Fixed { times, version, headers_at: header, headers_len, tags_len, payload_len })
}

/// The tags of a stored value, for the tag index's upkeep: read without
/// its checksum (reads check it), and without decoding anything when the
/// fixed part says it has none. A value whose tags cannot be read (a
/// damaged one) reads as untagged: its index entries stay, and
/// `invalidate_tag` checks each entry against its row.
pub(crate) fn indexed_tags(value: &[u8]) -> Tags {
    let tagged =
        value.first() == Some(&FORMAT_VERSION) && value.len() >= HEADER && value[42..46] != [0; 4];
    if !tagged {
        return Tags::new();
    }
    fixed(value).ok().and_then(|f| decode_tags(&value[f.tags_range()]).ok()).unwrap_or_default()
}

/// Decodes a whole value stored under `(namespace, key)`, verifying its
/// checksum against that identity: times, headers and the payload's byte
/// range within `value`.
pub(crate) fn decode(identity: (&str, &str), value: &[u8]) -> Result<Decoded, String> {
    if let Some(&old @ (FORMAT_V1 | FORMAT_V2)) = value.first() {
        return Err(format!("a value of format {old} in a file of the current format"));
    }
    let f = fixed(value)?;
    if checksum(identity, &[&value[5..]]) != stored_crc(value) {
        return Err("checksum mismatch: the row was damaged on disk, or is not this key's".into());
    }
    let (times, headers, payload) = parts(f, value, decode_headers)?;
    let tags = decode_tags(&value[f.tags_range()]).map_err(|e| format!("tags: {e}"))?;
    Ok(Decoded { times, version: f.version, headers, tags, payload })
}

/// A value decoded by [`decode`]: its times, version, headers, tags and
/// where its payload is in the value.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Decoded {
    pub(crate) times: RowTimes,
    pub(crate) version: u64,
    pub(crate) headers: Headers,
    pub(crate) tags: Tags,
    pub(crate) payload: std::ops::Range<usize>,
}

/// The value format before versions (read as version 0), for the tests.
#[cfg(test)]
pub(crate) const FORMAT_BEFORE_VERSIONS: u8 = 3;

/// Decodes a value of an earlier format for the upgrade of a file of store
/// format `file_format`: value format 1 (checksum of the body alone) in
/// files of format 1 and 2, value format 2 (the identity checksummed) in
/// files of format 3; headers in bincode's layout.
pub(crate) fn decode_old(
    file_format: u64,
    identity: (&str, &str),
    value: &[u8],
) -> Result<(RowTimes, Headers, std::ops::Range<usize>), String> {
    let f = fixed(value)?;
    let (expected, crc) = match file_format {
        1 | 2 => (FORMAT_V1, crc32fast::hash(&value[5..])),
        3 => (FORMAT_V2, checksum(identity, &[&value[5..]])),
        other => return Err(format!("no upgrade from store format {other}")),
    };
    if value[0] != expected {
        return Err(format!("value format {} in a file of store format {file_format}", value[0]));
    }
    if crc != stored_crc(value) {
        return Err("checksum mismatch: the row was damaged on disk".into());
    }
    parts(f, value, decode_bincode_headers)
}

/// Decodes headers as bincode 2 (standard configuration: little-endian,
/// variable-length integers) encoded a `BTreeMap<String, String>`: a
/// length, then each name and value as a length and UTF-8 bytes. A length
/// is one byte under 251, else a marker (251, 252, 253 for a following
/// u16, u32, u64). Every length is checked against the bytes left, so a
/// forged one allocates nothing.
pub(crate) fn decode_bincode_headers(mut bytes: &[u8]) -> Result<Headers, String> {
    fn take<'a>(bytes: &mut &'a [u8], n: usize) -> Result<&'a [u8], String> {
        if n > bytes.len() {
            return Err(format!("length {n} runs past the end ({} bytes left)", bytes.len()));
        }
        let (head, rest) = bytes.split_at(n);
        *bytes = rest;
        Ok(head)
    }
    fn varint(bytes: &mut &[u8]) -> Result<u64, String> {
        let marker = take(bytes, 1)?[0];
        let wide = |b: &[u8]| b.iter().rev().fold(0u64, |n, &byte| (n << 8) | u64::from(byte));
        Ok(match marker {
            0..=250 => u64::from(marker),
            251 => wide(take(bytes, 2)?),
            252 => wide(take(bytes, 4)?),
            253 => wide(take(bytes, 8)?),
            _ => return Err(format!("length marker {marker} out of range")),
        })
    }
    fn string(bytes: &mut &[u8]) -> Result<String, String> {
        let len = usize::try_from(varint(bytes)?).map_err(|_| "a length over usize")?;
        String::from_utf8(take(bytes, len)?.to_vec()).map_err(|_| "not UTF-8".to_owned())
    }
    let mut headers = Headers::new();
    let count = varint(&mut bytes)?;
    for i in 0..count {
        let name = string(&mut bytes).map_err(|e| format!("header {i} name: {e}"))?;
        let value = string(&mut bytes).map_err(|e| format!("header {i} value: {e}"))?;
        headers.insert(name, value);
    }
    if !bytes.is_empty() {
        return Err(format!("{} bytes after the headers", bytes.len()));
    }
    Ok(headers)
}

fn stored_crc(value: &[u8]) -> u32 {
    let mut crc = [0u8; 4];
    crc.copy_from_slice(&value[1..5]);
    u32::from_le_bytes(crc)
}

fn parts(
    f: Fixed,
    value: &[u8],
    headers: fn(&[u8]) -> Result<Headers, String>,
) -> Result<(RowTimes, Headers, std::ops::Range<usize>), String> {
    f.times.check()?;
    let headers_end = f.headers_at + f.headers_len;
    let headers = if f.headers_len == 0 {
        Headers::new()
    } else {
        headers(&value[f.headers_at..headers_end]).map_err(|e| format!("headers: {e}"))?
    };
    Ok((f.times, headers, f.tags_range().end..value.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: (&str, &str) = ("ns", "key");

    fn times() -> RowTimes {
        RowTimes { stored_at: 5, expires_at: Some(10), stale_until: Some(20) }
    }

    /// A whole value: the head stamped with version 7, then the payload.
    fn encode(
        id: (&str, &str),
        times: &RowTimes,
        headers: &Headers,
        payload: &[u8],
    ) -> Result<Vec<u8>, String> {
        encode_tagged(id, times, headers, &Tags::new(), payload)
    }

    fn encode_tagged(
        id: (&str, &str),
        times: &RowTimes,
        headers: &Headers,
        tags: &Tags,
        payload: &[u8],
    ) -> Result<Vec<u8>, String> {
        let head = super::encode(times, headers, tags, payload)?;
        Ok([stamp(id, &head, 7), payload.to_vec()].concat())
    }

    fn parts_of(d: Decoded, v: &[u8]) -> (RowTimes, u64, Headers, &[u8]) {
        (d.times, d.version, d.headers, &v[d.payload])
    }

    #[test]
    fn values_round_trip() {
        let mut h = Headers::new();
        h.insert("ключ".into(), "🦀\0".into());
        h.insert(String::new(), String::new());
        let tags: Tags = ["album:x".to_owned(), "é\0".to_owned()].into();
        for (headers, tags, payload) in [
            (Headers::new(), Tags::new(), &b""[..]),
            (h.clone(), Tags::new(), &b"payload"[..]),
            (h, tags, &b"tagged payload"[..]),
        ] {
            let v = encode_tagged(ID, &times(), &headers, &tags, payload).expect("encode");
            assert_eq!(indexed_tags(&v), tags);
            let d = decode(ID, &v).expect("decode");
            assert_eq!(d.tags, tags);
            assert_eq!(fixed(&v).expect("fixed").payload_len, payload.len());
            assert_eq!(parts_of(d, &v), (times(), 7, headers, payload));
        }
        let never = RowTimes { stored_at: -3, expires_at: None, stale_until: None };
        let v = encode(ID, &never, &Headers::new(), b"x").expect("encode");
        assert_eq!(fixed(&v).expect("fixed").times, never);
    }

    #[test]
    fn every_single_flipped_bit_is_detected() {
        let mut h = Headers::new();
        h.insert("etag".into(), "v1".into());
        let tags: Tags = ["t".to_owned()].into();
        let v = encode_tagged(ID, &times(), &h, &tags, b"some payload").expect("encode");
        for i in 0..v.len() * 8 {
            let mut bad = v.clone();
            bad[i / 8] ^= 1 << (i % 8);
            assert!(decode(ID, &bad).is_err(), "bit {i} flipped unnoticed");
        }
        for len in 0..v.len() {
            assert!(decode(ID, &v[..len]).is_err(), "truncation to {len} unnoticed");
        }
    }

    #[test]
    fn a_value_is_sound_only_under_its_own_identity() {
        let v = encode(("ns", "key-3"), &times(), &Headers::new(), b"3").expect("encode");
        assert!(decode(("ns", "key-3"), &v).is_ok());
        for other in [("ns", "key-2"), ("ns", "key-3 "), ("n", "skey-3"), ("nskey-3", "")] {
            assert!(decode(other, &v).is_err(), "{other:?} accepted key-3's value");
        }
    }

    /// A value of format 1 to 3's layout (no version), `headers` as given.
    fn old_value(format: u8, headers: &[u8], payload: &[u8]) -> Vec<u8> {
        let t = times();
        let mut v = vec![format, 0, 0, 0, 0, 1];
        v.extend_from_slice(&t.stored_at.to_le_bytes());
        v.extend_from_slice(&t.expires_at.unwrap_or(0).to_le_bytes());
        v.extend_from_slice(&t.stale_until.unwrap_or(0).to_le_bytes());
        v.extend_from_slice(&(headers.len() as u32).to_le_bytes());
        v.extend_from_slice(headers);
        v.extend_from_slice(payload);
        let crc =
            if format == FORMAT_V1 { crc32fast::hash(&v[5..]) } else { checksum(ID, &[&v[5..]]) };
        v[1..5].copy_from_slice(&crc.to_le_bytes());
        v
    }

    #[test]
    fn format_3_values_read_as_version_0() {
        let mut h = Headers::new();
        h.insert("etag".into(), "v1".into());
        let blob = cachestore_core::raw::encoding::encode_headers(&h);
        let v = old_value(FORMAT_BEFORE_VERSIONS, &blob, b"payload");
        let d = decode(ID, &v).expect("a format-3 value decodes");
        assert!(d.tags.is_empty());
        assert_eq!(parts_of(d, &v), (times(), 0, h, &b"payload"[..]));
        assert_eq!(fixed(&v).expect("fixed").version, 0);
        let mut bad = v.clone();
        bad[40] ^= 1;
        assert!(decode(ID, &bad).is_err(), "a damaged format-3 value");
    }

    #[test]
    fn format_4_values_read_with_their_version_and_no_tags() {
        // Format 4: format 3's layout with the version at 30..38 and the
        // headers' length at 38..42.
        let mut h = Headers::new();
        h.insert("etag".into(), "v1".into());
        let blob = cachestore_core::raw::encoding::encode_headers(&h);
        let t = times();
        let mut v = vec![FORMAT_V4, 0, 0, 0, 0, 1];
        v.extend_from_slice(&t.stored_at.to_le_bytes());
        v.extend_from_slice(&t.expires_at.unwrap_or(0).to_le_bytes());
        v.extend_from_slice(&t.stale_until.unwrap_or(0).to_le_bytes());
        v.extend_from_slice(&9u64.to_le_bytes());
        v.extend_from_slice(&(blob.len() as u32).to_le_bytes());
        v.extend_from_slice(&blob);
        v.extend_from_slice(b"payload");
        let crc = checksum(ID, &[&v[5..]]);
        v[1..5].copy_from_slice(&crc.to_le_bytes());
        assert!(indexed_tags(&v).is_empty());
        let d = decode(ID, &v).expect("a format-4 value decodes");
        assert!(d.tags.is_empty());
        assert_eq!(parts_of(d, &v), (times(), 9, h, &b"payload"[..]));
    }

    #[test]
    fn old_values_decode_only_through_the_upgrade_of_their_file_format() {
        // bincode 2's layout of {"etag": "v1"}: count 1, then "etag", "v1".
        let etag = [1, 4, b'e', b't', b'a', b'g', 2, b'v', b'1'];
        let mut want = Headers::new();
        want.insert("etag".into(), "v1".into());
        for (format, file_formats) in [(FORMAT_V1, [1, 2]), (FORMAT_V2, [3, 3])] {
            let mut v = old_value(format, &etag, b"old");
            for file_format in file_formats {
                let (t, h, range) =
                    decode_old(file_format, ID, &v).expect("decodes for the upgrade");
                assert_eq!((t, h, &v[range]), (times(), want.clone(), &b"old"[..]));
            }
            assert!(decode(ID, &v).is_err(), "format {format} outside the upgrade");
            let other = if format == FORMAT_V1 { 3 } else { 2 };
            assert!(decode_old(other, ID, &v).is_err(), "format {format} in store format {other}");
            v[36] ^= 1;
            assert!(decode_old(file_formats[0], ID, &v).is_err(), "a damaged old value");
        }
    }

    #[test]
    fn bincode_headers_decode_with_every_length_width_and_refuse_forgeries() {
        let long = "x".repeat(300);
        // count 1; name of 300 bytes (251 + u16); value "" (0).
        let mut bytes = vec![1, 251];
        bytes.extend_from_slice(&300u16.to_le_bytes());
        bytes.extend_from_slice(long.as_bytes());
        bytes.push(0);
        let h = decode_bincode_headers(&bytes).expect("a 16-bit length");
        assert_eq!(h.get(&long).map(String::as_str), Some(""));
        // A map length of 2^60 (253 then u64 LE) with nothing after it.
        let mut forged = vec![253];
        forged.extend_from_slice(&(1u64 << 60).to_le_bytes());
        assert!(decode_bincode_headers(&forged).is_err());
        assert!(decode_bincode_headers(&[1, 5, b'a']).is_err(), "a name past the end");
        assert!(decode_bincode_headers(&[1, 1, 0xff, 0]).is_err(), "a name not UTF-8");
        assert!(decode_bincode_headers(&[0, 0]).is_err(), "a byte after the headers");
        assert!(decode_bincode_headers(&[254]).is_err(), "a 128-bit length");
    }

    #[test]
    fn bincode_headers_decode_as_bincode_encoded_them() {
        // Header maps of every size class, from a fixed xorshift.
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move |n: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % n
        };
        let config = bincode::config::standard();
        for _ in 0..300 {
            let mut headers = Headers::new();
            for _ in 0..next(8) {
                let len = [0, 1, 250, 251, 300, 70_000][next(6) as usize];
                let name: String =
                    (0..len).map(|i| ['a', 'я', '🦀'][(i + next(3)) as usize % 3]).collect();
                headers.insert(name, "v".repeat(next(400) as usize));
            }
            let bytes = bincode::serde::encode_to_vec(&headers, config).expect("bincode");
            assert_eq!(decode_bincode_headers(&bytes), Ok(headers));
        }
    }
}
