//! How [`Cache`](crate::Cache) turns typed values into payload bytes.

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Encodes and decodes typed values for a [`Cache`](crate::Cache).
///
/// Decoding never panics: a payload that does not decode (a stale format, a
/// row written by another program) is an `Err`, which the cache counts and
/// treats as a miss.
pub trait ValueCodec: Send + Sync + 'static {
    /// A short name, recorded in each row's `x-cachestore-codec` header.
    const NAME: &'static str;
    /// Encodes `value`.
    fn encode<T: Serialize>(&self, value: &T) -> Result<Vec<u8>, String>;
    /// Decodes a value from exactly `bytes`.
    fn decode<T: DeserializeOwned>(&self, bytes: &[u8]) -> Result<T, String>;
}

/// JSON by serde_json: readable with `cachestore get`, the default.
#[derive(Clone, Copy, Debug, Default)]
pub struct Json;

impl ValueCodec for Json {
    const NAME: &'static str = "json";

    fn encode<T: Serialize>(&self, value: &T) -> Result<Vec<u8>, String> {
        serde_json::to_vec(value).map_err(|e| e.to_string())
    }

    fn decode<T: DeserializeOwned>(&self, bytes: &[u8]) -> Result<T, String> {
        serde_json::from_slice(bytes).map_err(|e| e.to_string())
    }
}

/// bincode 2 (serde): compact and fast. Decodes from slices with a 64 MiB
/// limit, so a forged length cannot allocate more.
///
/// bincode is unmaintained (RUSTSEC-2025-0141); it is pinned to 2.x and used
/// only behind this codec.
#[cfg(feature = "bincode")]
#[cfg_attr(docsrs, doc(cfg(feature = "bincode")))]
#[derive(Clone, Copy, Debug, Default)]
pub struct Bincode;

#[cfg(feature = "bincode")]
impl ValueCodec for Bincode {
    const NAME: &'static str = "bincode";

    fn encode<T: Serialize>(&self, value: &T) -> Result<Vec<u8>, String> {
        bincode::serde::encode_to_vec(value, bincode::config::standard()).map_err(|e| e.to_string())
    }

    fn decode<T: DeserializeOwned>(&self, bytes: &[u8]) -> Result<T, String> {
        let config = bincode::config::standard().with_limit::<{ 64 * 1024 * 1024 }>();
        let (value, read) =
            bincode::serde::decode_from_slice(bytes, config).map_err(|e| e.to_string())?;
        if read != bytes.len() {
            return Err(format!("{} bytes after the value", bytes.len() - read));
        }
        Ok(value)
    }
}
