//! Building blocks for backends' row formats: a compact headers encoding and
//! a row checksum. SQLite and Redis store rows with these; a new backend may
//! too.
//!
//! Headers are one blob: a `u32` little-endian entry count, then per entry a
//! `u32` LE length and the name's UTF-8 bytes, then the same for the value.
//! Names are strictly increasing (a `BTreeMap`'s order). No headers is an
//! empty blob. Decoding checks every length against the bytes left, so a
//! forged length cannot allocate or panic.

use crate::time::RowTimes;
use crate::types::{Headers, Tags};

/// Encodes tags into their blob: a `u32` LE count, then per tag a `u32` LE
/// length and its UTF-8 bytes, in increasing order. No tags is an empty
/// blob.
pub fn encode_tags(tags: &Tags) -> Vec<u8> {
    let mut out = Vec::new();
    encode_tags_into(tags, &mut out);
    out
}

/// The length of the tags' blob.
pub fn encoded_tags_len(tags: &Tags) -> usize {
    if tags.is_empty() { 0 } else { 4 + tags.iter().map(|t| 4 + t.len()).sum::<usize>() }
}

/// Appends the tags' blob ([`encoded_tags_len`] bytes) to `out`.
pub fn encode_tags_into(tags: &Tags, out: &mut Vec<u8>) {
    if tags.is_empty() {
        return;
    }
    out.reserve(encoded_tags_len(tags));
    out.extend_from_slice(&len_u32(tags.len()).to_le_bytes());
    for tag in tags {
        out.extend_from_slice(&len_u32(tag.len()).to_le_bytes());
        out.extend_from_slice(tag.as_bytes());
    }
}

/// Decodes a tags blob; `Err` says what is wrong with it. Checks the
/// lengths against the bytes left (a forged length cannot allocate) and the
/// order, not the contract's limits.
pub fn decode_tags(mut bytes: &[u8]) -> Result<Tags, String> {
    let mut tags = Tags::new();
    if bytes.is_empty() {
        return Ok(tags);
    }
    let count = take_u32(&mut bytes)?;
    for i in 0..count {
        let tag = take_str(&mut bytes).map_err(|e| format!("tag {i}: {e}"))?;
        if tags.last().is_some_and(|last| last.as_str() >= tag.as_str()) {
            return Err(format!("tag {i} is out of order"));
        }
        tags.insert(tag);
    }
    if !bytes.is_empty() {
        return Err(format!("{} bytes after the last tag", bytes.len()));
    }
    Ok(tags)
}

/// Whether a tags blob holds `tag`, without allocating; `false` for a
/// damaged blob.
pub fn tags_blob_contains(mut bytes: &[u8], tag: &str) -> bool {
    if bytes.is_empty() {
        return false;
    }
    let Ok(count) = take_u32(&mut bytes) else { return false };
    for _ in 0..count {
        let Ok(len) = take_u32(&mut bytes) else { return false };
        let Some((t, rest)) = bytes.split_at_checked(len as usize) else { return false };
        if t == tag.as_bytes() {
            return true;
        }
        bytes = rest;
    }
    false
}

/// Encodes headers into their blob.
pub fn encode_headers(headers: &Headers) -> Vec<u8> {
    let mut out = Vec::with_capacity(encoded_headers_len(headers));
    encode_headers_into(headers, &mut out);
    out
}

/// The length of the headers' blob.
pub fn encoded_headers_len(headers: &Headers) -> usize {
    if headers.is_empty() {
        return 0;
    }
    headers.iter().map(|(k, v)| 8 + k.len() + v.len()).sum::<usize>() + 4
}

/// Appends the headers' blob ([`encoded_headers_len`] bytes) to `out`.
pub fn encode_headers_into(headers: &Headers, out: &mut Vec<u8>) {
    if headers.is_empty() {
        return;
    }
    out.reserve(encoded_headers_len(headers));
    // A BTreeMap holds at most isize::MAX entries and a String at most
    // isize::MAX bytes, but a row over 4 GiB is refused long before this
    // (max_payload), so u32 lengths never truncate for rows that reach here.
    out.extend_from_slice(&len_u32(headers.len()).to_le_bytes());
    for (name, value) in headers {
        for s in [name, value] {
            out.extend_from_slice(&len_u32(s.len()).to_le_bytes());
            out.extend_from_slice(s.as_bytes());
        }
    }
}

fn len_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Decodes a headers blob; `Err` says what is wrong with it.
pub fn decode_headers(mut bytes: &[u8]) -> Result<Headers, String> {
    let mut headers = Headers::new();
    if bytes.is_empty() {
        return Ok(headers);
    }
    let count = take_u32(&mut bytes)?;
    for i in 0..count {
        let name = take_str(&mut bytes).map_err(|e| format!("header {i} name: {e}"))?;
        let value = take_str(&mut bytes).map_err(|e| format!("header {i} value: {e}"))?;
        if headers.last_key_value().is_some_and(|(last, _)| last.as_str() >= name.as_str()) {
            return Err(format!("header {i} is out of order"));
        }
        headers.insert(name, value);
    }
    if !bytes.is_empty() {
        return Err(format!("{} bytes after the last header", bytes.len()));
    }
    Ok(headers)
}

fn take_u32(bytes: &mut &[u8]) -> Result<u32, String> {
    let Some((head, rest)) = bytes.split_first_chunk::<4>() else {
        return Err("truncated length".into());
    };
    *bytes = rest;
    Ok(u32::from_le_bytes(*head))
}

fn take_str(bytes: &mut &[u8]) -> Result<String, String> {
    let len = take_u32(bytes)? as usize;
    if len > bytes.len() {
        return Err(format!("length {len} runs past the end ({} bytes left)", bytes.len()));
    }
    let (s, rest) = bytes.split_at(len);
    *bytes = rest;
    String::from_utf8(s.to_vec()).map_err(|_| "not UTF-8".to_owned())
}

/// The checksum of a whole row: identity, times, headers blob and payload,
/// each length-prefixed so that no two rows hash the same bytes.
pub fn checksum(
    namespace: &[u8],
    key: &[u8],
    times: &RowTimes,
    headers: &[u8],
    payload: &[u8],
) -> u32 {
    hasher(namespace, key, times, headers, payload).finalize()
}

/// [`checksum`] of a row with a version: the same as [`checksum`] for
/// version 0 (a row written before versions, whose stored checksum stays
/// valid when a format upgrade adds the version), else the version is
/// hashed too.
pub fn checksum_versioned(
    namespace: &[u8],
    key: &[u8],
    times: &RowTimes,
    version: u64,
    headers: &[u8],
    payload: &[u8],
) -> u32 {
    let mut h = hasher(namespace, key, times, headers, payload);
    if version != 0 {
        h.update(&version.to_le_bytes());
    }
    h.finalize()
}

/// [`checksum_versioned`] of a row with tags: the same for a row without
/// tags (an empty blob: rows written before tags keep their checksum), else
/// the tags' blob is hashed too.
pub fn checksum_tagged(
    namespace: &[u8],
    key: &[u8],
    times: &RowTimes,
    version: u64,
    headers: &[u8],
    tags: &[u8],
    payload: &[u8],
) -> u32 {
    let mut h = hasher(namespace, key, times, headers, payload);
    if version != 0 {
        h.update(&version.to_le_bytes());
    }
    if !tags.is_empty() {
        h.update(&(tags.len() as u64).to_le_bytes());
        h.update(tags);
    }
    h.finalize()
}

fn hasher(
    namespace: &[u8],
    key: &[u8],
    times: &RowTimes,
    headers: &[u8],
    payload: &[u8],
) -> crc32fast::Hasher {
    let mut h = crc32fast::Hasher::new();
    for part in [namespace, key, headers, payload] {
        h.update(&(part.len() as u64).to_le_bytes());
        h.update(part);
    }
    h.update(&times.stored_at.to_le_bytes());
    for t in [times.expires_at, times.stale_until] {
        h.update(&t.map_or([0xff; 9], |t| {
            let mut b = [0u8; 9];
            b[1..].copy_from_slice(&t.to_le_bytes());
            b
        }));
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_round_trip_and_reject_damage() {
        let mut h = Headers::new();
        assert_eq!(encode_headers(&h), Vec::<u8>::new());
        h.insert(String::new(), String::new());
        h.insert("ключ".into(), "🦀\0".into());
        let blob = encode_headers(&h);
        assert_eq!(decode_headers(&blob), Ok(h));
        assert!(decode_headers(&blob[..blob.len() - 1]).is_err());
        let mut longer = blob.clone();
        longer.push(0);
        assert!(decode_headers(&longer).is_err());
        // A forged huge length must not allocate or panic.
        let forged = [1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff];
        assert!(decode_headers(&forged).is_err());
        let mut not_utf8 = encode_headers(&[("a".to_owned(), "b".to_owned())].into());
        let last = not_utf8.len() - 1;
        not_utf8[last] = 0xff;
        assert!(decode_headers(&not_utf8).is_err());
    }

    #[test]
    fn tags_round_trip_and_reject_damage() {
        let mut tags = Tags::new();
        assert_eq!(encode_tags(&tags), Vec::<u8>::new());
        assert_eq!(decode_tags(&[]), Ok(Tags::new()));
        tags.insert("album:ok computer".into());
        tags.insert("é\0".into());
        let blob = encode_tags(&tags);
        assert_eq!(blob.len(), encoded_tags_len(&tags));
        assert_eq!(decode_tags(&blob), Ok(tags.clone()));
        assert!(tags_blob_contains(&blob, "é\0") && tags_blob_contains(&blob, "album:ok computer"));
        assert!(!tags_blob_contains(&blob, "album") && !tags_blob_contains(&[], "album"));
        assert!(decode_tags(&blob[..blob.len() - 1]).is_err());
        assert!(!tags_blob_contains(&blob[..blob.len() - 1], "é\0"));
        let forged = [1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff];
        assert!(decode_tags(&forged).is_err() && !tags_blob_contains(&forged, "x"));
        let t = RowTimes { stored_at: 1, expires_at: None, stale_until: None };
        assert_eq!(
            checksum_tagged(b"a", b"b", &t, 3, b"", b"", b"p"),
            checksum_versioned(b"a", b"b", &t, 3, b"", b"p")
        );
        assert_ne!(
            checksum_tagged(b"a", b"b", &t, 3, b"", &blob, b"p"),
            checksum_versioned(b"a", b"b", &t, 3, b"", b"p")
        );
    }

    #[test]
    fn checksum_separates_parts_and_times() {
        let t = RowTimes { stored_at: 1, expires_at: None, stale_until: None };
        let t0 = RowTimes { stored_at: 1, expires_at: Some(0), stale_until: Some(0) };
        assert_ne!(checksum(b"ab", b"c", &t, b"", b""), checksum(b"a", b"bc", &t, b"", b""));
        assert_ne!(checksum(b"a", b"b", &t, b"", b""), checksum(b"a", b"b", &t0, b"", b""));
        assert_ne!(checksum(b"a", b"b", &t, b"x", b""), checksum(b"a", b"b", &t, b"", b"x"));
    }
}
