//! How rows are laid out in Redis: the row format version, the scripts
//! that purge and clear a namespace, and key encoding.

/// The row format a write produces: a hash with fields `s` (stale_until,
/// ms, empty for never), `e` (expires_at), `m` (meta), `p` (payload) and,
/// from format 2, `v` (the row's version in decimal, for the scripts) and
/// `t` (`stored_at`, ms, for `stats` to read without the meta).
///
/// Meta, format 2: `[2][crc 4][stored_at 8][version 8][payload crc 4][headers]`;
/// the crc covers identity, times, version, headers and the payload's own
/// crc, so `touch` renews a row without reading or rewriting its payload.
/// Format 1: `[1][crc 4][stored_at 8][headers]`, the crc over the payload
/// itself; such rows read as version 0, and any write of them writes
/// format 2 (Redis rows are upgraded as they are written, not all at open:
/// a server may hold millions).
///
/// Format 3 is format 2 with tags (CONTRACT.md §9): the field `g` holds
/// them in core's tags encoding, and the crc covers them too. Only a row
/// with tags is written as format 3 (an older cachestore then says it does
/// not know the format instead of reporting a checksum mismatch).
///
/// A tag's rows are the members `hex(namespace):key` of the set
/// `<prefix>{g:hex(tag)}` (its own slot on a cluster). The set is added to
/// before and after the row is written, is kept as long as its longest-lived
/// row, and `invalidate_tag` checks every member against its row (see
/// `invalidate_tag` in `store.rs`).
pub(crate) const META_VERSION: u8 = 2;

/// The meta format of a row with tags.
pub(crate) const META_TAGGED: u8 = 3;

/// Adds a row to a tag's set and keeps the set at least as long as the
/// row. KEYS: the set. ARGV: the member, the row's PEXPIRE in ms (`-1`:
/// never expires).
pub(crate) const TAG_ADD: &str = r"
local existed = redis.call('EXISTS', KEYS[1])
redis.call('SADD', KEYS[1], ARGV[1])
local px = tonumber(ARGV[2])
if px < 0 then
  redis.call('PERSIST', KEYS[1])
  return 1
end
local ttl = redis.call('PTTL', KEYS[1])
if existed == 0 or (ttl >= 0 and ttl < px) then redis.call('PEXPIRE', KEYS[1], px) end
return 1
";

/// Deletes a row a tag's invalidation found carrying the tag, if it has
/// not been written since. KEYS: row, index. ARGV: the version read, now,
/// the key (the index member). Answers 1 (deleted, live), 2 (deleted, dead)
/// or 0 (written since: left alone).
pub(crate) const INVALIDATE: &str = r"
local v = redis.call('HGET', KEYS[1], 'v')
if (not v) or v ~= ARGV[1] then return 0 end
local s = redis.call('HGET', KEYS[1], 's')
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[3])
if s == '' or tonumber(s) > tonumber(ARGV[2]) then return 1 end
return 2
";

/// `set_if`: checks the condition and writes the row, on the row's slot.
/// KEYS: row, index. ARGV: `a` (IfAbsent) or `v` (IfVersion), the expected
/// version, now, then `s`, `e`, `m`, `p`, `v`, PEXPIRE ms (empty: none,
/// `dead`: the row is dead on arrival), the key (the index member), `t`,
/// `g` (empty: no tags).
/// Answers `{1}` when written, else `{0, current version or ''}`.
pub(crate) const SET_IF: &str = r"
local s = redis.call('HGET', KEYS[1], 's')
local now = tonumber(ARGV[3])
local live = s and (s == '' or tonumber(s) > now)
local cur = ''
if live then cur = redis.call('HGET', KEYS[1], 'v') or '0' end
if ARGV[1] == 'a' then
  if live then return {0, cur} end
elseif (not live) or cur ~= ARGV[2] then
  return {0, cur}
end
redis.call('DEL', KEYS[1])
if ARGV[9] == 'dead' then
  redis.call('ZREM', KEYS[2], ARGV[10])
  return {1}
end
redis.call('HSET', KEYS[1], 's', ARGV[4], 'e', ARGV[5], 'm', ARGV[6], 'p', ARGV[7], 'v', ARGV[8], 't', ARGV[11])
if ARGV[12] ~= '' then redis.call('HSET', KEYS[1], 'g', ARGV[12]) end
if ARGV[9] ~= '' then redis.call('PEXPIRE', KEYS[1], ARGV[9]) end
redis.call('ZADD', KEYS[2], 0, ARGV[10])
return {1}
";

/// `touch`: renews the row if it still has the version it was read with.
/// KEYS: row, index. ARGV: the version read, `s`, `e`, `m`, the new `v`,
/// PEXPIRE ms (empty: never expires, `dead`: dead on arrival), the key, `t`.
/// Answers 1 when renewed, 0 when the row changed meanwhile (read again).
pub(crate) const TOUCH: &str = r"
local s = redis.call('HGET', KEYS[1], 's')
local v = redis.call('HGET', KEYS[1], 'v') or '0'
if (not s) or v ~= ARGV[1] then return 0 end
if ARGV[6] == 'dead' then
  redis.call('DEL', KEYS[1])
  redis.call('ZREM', KEYS[2], ARGV[7])
  return 1
end
redis.call('HSET', KEYS[1], 's', ARGV[2], 'e', ARGV[3], 'm', ARGV[4], 'v', ARGV[5], 't', ARGV[8])
if ARGV[6] == '' then redis.call('PERSIST', KEYS[1]) else redis.call('PEXPIRE', KEYS[1], ARGV[6]) end
return 1
";

/// `purge_expired` of one batch of a namespace's index: KEYS: the index.
/// ARGV: the row key prefix, now, then the batch's members (keys). Removes
/// the dead rows among them (and the members of rows Redis already
/// dropped); answers how many. A batch is one short server call: a purge
/// of a large namespace never holds the server for long.
pub(crate) const PURGE: &str = r"
local now = tonumber(ARGV[2])
local n = 0
for i = 3, #ARGV do
  local m = ARGV[i]
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

/// A clear of one batch of a namespace's index, as [`PURGE`]: removes
/// every row of the batch; answers how many were live at now.
pub(crate) const CLEAR: &str = r"
local now = tonumber(ARGV[2])
local live = 0
for i = 3, #ARGV do
  local m = ARGV[i]
  local row = ARGV[1] .. m
  local s = redis.call('HGET', row, 's')
  if s and (s == '' or tonumber(s) > now) then
    live = live + 1
  end
  redis.call('DEL', row)
  redis.call('ZREM', KEYS[1], m)
end
return live
";

/// The members a purge, a clear or `stats` reads from a namespace's index
/// per server call.
pub(crate) const INDEX_BATCH: usize = 500;

pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    out
}
