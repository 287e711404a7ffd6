//! How rows are laid out in Redis: the row format version, the scripts
//! that purge and clear a namespace, and key encoding.

pub(crate) const META_VERSION: u8 = 1;

pub(crate) const PURGE: &str = r"
local members = redis.call('ZRANGE', KEYS[1], 0, -1)
local now = tonumber(ARGV[2])
local n = 0
for _, m in ipairs(members) do
  local row = ARGV[1] .. m
  local s = redis.call('HGET', row, 's')
  if not s then
    redis.call('ZREM', KEYS[1], m)
    n = n + 1
  elseif s ~= '' and tonumber(s) <= now then
    redis.call('DEL', row)
    redis.call('ZREM', KEYS[1], m)
    n = n + 1
  end
end
return n
";

pub(crate) const CLEAR: &str = r"
local members = redis.call('ZRANGE', KEYS[1], 0, -1)
local now = tonumber(ARGV[2])
local live = 0
for _, m in ipairs(members) do
  local row = ARGV[1] .. m
  local s = redis.call('HGET', row, 's')
  if s and (s == '' or tonumber(s) > now) then
    live = live + 1
  end
  redis.call('DEL', row)
end
redis.call('DEL', KEYS[1])
return live
";

pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    out
}
