"""The Lua scripts of :class:`~flask_tgwebhook.stores.redis.RedisStore`: one per operation
that must read and write atomically. Times are the Redis server's (``TIME``), in ms.

A journal ``J`` is kept in these keys (names built in the scripts, so one Redis database,
not a cluster):

- ``J:e:<key>``: a hash per entry (payload, chat, ord, seq, attempts, lease);
- ``J:q``: every entry by arrival (score: seq), ``J:seq`` the arrival counter;
- ``J:c:<chat>``: a chat's entries by order (score: ord);
- ``J:busy``: chat -> ``"<lease end>|<key>"`` of the entry of that chat leased last.

An album ``A`` is ``A:m`` (last part's time, claimed) and ``A:p`` (order -> part); the
albums not handed out yet are in a sorted set by their last part's time, whose key the store
passes (one per album prefix).
Chats are passed as ``"=" + chat``, and ``""`` means no chat.
"""

from __future__ import annotations

__all__ = ["ALBUM_EARLY", "ALBUM_WON", "ALL"]

ALBUM_EARLY = 1  #: album_claim: a part arrived less than the quiet window ago
ALBUM_WON = 2  #: album_claim: this caller has the album

_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
"""

_ACCEPT = """
local j, key, payload, chat, ord = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local e = j .. ':e:' .. key
if redis.call('EXISTS', e) == 1 then return 0 end
local seq = redis.call('INCR', j .. ':seq')
redis.call('HSET', e, 'payload', payload, 'chat', chat, 'ord', ord, 'seq', seq,
           'attempts', 0, 'lease', 0)
redis.call('ZADD', j .. ':q', seq, key)
if chat ~= '' then redis.call('ZADD', j .. ':c:' .. chat, ord, key) end
return 1
"""

# Whether ``key`` may run now: no other entry of its chat leased, none before it.
_HEADS = """
local function heads(j, key, chat, now)
  if chat == '' then return true end
  local busy = redis.call('HGET', j .. ':busy', chat)
  if busy then
    local sep = string.find(busy, '|', 1, true)
    if tonumber(string.sub(busy, 1, sep - 1)) > now and string.sub(busy, sep + 1) ~= key then
      return false
    end
  end
  return redis.call('ZRANGE', j .. ':c:' .. chat, 0, 0)[1] == key
end
"""

_TAKE = (
    _NOW
    + _HEADS
    + """
local j, lease, chat, scan = ARGV[1], tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4])
local candidates
if chat ~= '' then
  candidates = redis.call('ZRANGE', j .. ':c:' .. chat, 0, 0)
else
  candidates = redis.call('ZRANGE', j .. ':q', 0, scan - 1)
end
for _, key in ipairs(candidates) do
  local e = j .. ':e:' .. key
  local f = redis.call('HMGET', e, 'lease', 'chat')
  if f[1] and tonumber(f[1]) <= now and heads(j, key, f[2], now) then
    local attempts = redis.call('HINCRBY', e, 'attempts', 1)
    redis.call('HSET', e, 'lease', now + lease)
    if f[2] ~= '' then redis.call('HSET', j .. ':busy', f[2], (now + lease) .. '|' .. key) end
    local r = redis.call('HMGET', e, 'payload', 'ord')
    return {key, r[1], f[2], r[2], attempts}
  end
end
return false
"""
)

_RENEW = (
    _NOW
    + """
local j, key, attempts, lease = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local e = j .. ':e:' .. key
local f = redis.call('HMGET', e, 'attempts', 'lease', 'chat')
if not f[1] or f[1] ~= attempts or tonumber(f[2]) <= now then return 0 end
redis.call('HSET', e, 'lease', now + lease)
if f[3] ~= '' then redis.call('HSET', j .. ':busy', f[3], (now + lease) .. '|' .. key) end
return 1
"""
)

_DONE = """
local j, key = ARGV[1], ARGV[2]
local e = j .. ':e:' .. key
local chat = redis.call('HGET', e, 'chat')
if not chat then return 0 end
redis.call('DEL', e)
redis.call('ZREM', j .. ':q', key)
if chat ~= '' then
  redis.call('ZREM', j .. ':c:' .. chat, key)
  local busy = redis.call('HGET', j .. ':busy', chat)
  if busy and string.sub(busy, string.find(busy, '|', 1, true) + 1) == key then
    redis.call('HDEL', j .. ':busy', chat)
  end
end
return 1
"""

_EXPIRED = (
    _NOW
    + """
local j, scan, limit = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local found = {}
for _, key in ipairs(redis.call('ZRANGE', j .. ':q', 0, scan - 1)) do
  if #found >= limit then break end
  local r = redis.call('HMGET', j .. ':e:' .. key, 'payload', 'chat', 'ord', 'attempts', 'lease')
  local lease = tonumber(r[5])
  if lease and lease > 0 and lease <= now then
    table.insert(found, {key, r[1], r[2], r[3], r[4]})
  end
end
return found
"""
)

_ALBUM_ADD = (
    _NOW
    + """
local a, ord, part, ttl, waiting = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local m, p = a .. ':m', a .. ':p'
if redis.call('HGET', m, 'claimed') == '1' then return 0 end
redis.call('HSET', m, 'last', now, 'claimed', '0')
redis.call('ZADD', waiting, now, a)
redis.call('HSETNX', p, ord, part)
redis.call('PEXPIRE', m, ttl)
redis.call('PEXPIRE', p, ttl)
return 1
"""
)

_ALBUM_CLAIM = (
    _NOW
    + """
local a, quiet, waiting = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local m, p = a .. ':m', a .. ':p'
local f = redis.call('HMGET', m, 'last', 'claimed')
if not f[1] or f[2] == '1' then
  redis.call('ZREM', waiting, a)
  return {0}
end
local waited = now - tonumber(f[1])
if waited < quiet then return {1, quiet - waited} end
redis.call('HSET', m, 'claimed', '1')
redis.call('ZREM', waiting, a)
local found = {2}
for _, v in ipairs(redis.call('HGETALL', p)) do table.insert(found, v) end
return found
"""
)

_ALBUMS_DUE = (
    _NOW
    + """
local waiting, quiet, limit = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local due = {}
for _, a in ipairs(redis.call('ZRANGEBYSCORE', waiting, '-inf', now - quiet, 'LIMIT', 0, limit)) do
  local claimed = redis.call('HGET', a .. ':m', 'claimed')
  if claimed == '0' then
    table.insert(due, a)
  else
    redis.call('ZREM', waiting, a)  -- expired, or handed out: not waiting any more
  end
end
return due
"""
)

#: Every script by the name the store calls it.
ALL = {
    "accept": _ACCEPT,
    "take": _TAKE,
    "renew": _RENEW,
    "done": _DONE,
    "expired": _EXPIRED,
    "album_add": _ALBUM_ADD,
    "album_claim": _ALBUM_CLAIM,
    "albums_due": _ALBUMS_DUE,
}
