//! The SQLite row format's helpers: the headers encoding and the row
//! checksum come from [`cachestore_core::raw::encoding`]; every row carries the
//! CRC-32, checked on read, because SQLite keeps no checksum of its own on a
//! clean file: a flipped byte in a payload page is [`Error::Corrupt`], never
//! wrong bytes.

use cachestore_core::Error;

pub(crate) use cachestore_core::raw::encoding::{
    checksum_tagged, decode_headers, decode_tags, encode_headers, encode_tags,
};

/// An [`Error::Corrupt`] for a row of the store at `location`, whose stored
/// identity may not even be UTF-8.
pub(crate) fn corrupt_row(location: &str, namespace: &[u8], key: &[u8], detail: String) -> Error {
    let (namespace, key) = (String::from_utf8_lossy(namespace), String::from_utf8_lossy(key));
    Error::corrupt_row(location, &namespace, &key, detail)
}
