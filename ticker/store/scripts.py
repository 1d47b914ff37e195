"""The Lua scripts: each change to the live state and its event in the log, in one atomic step.

Invariant 2 of DESIGN.md (snapshot and log agree) rests here: a script runs
alone on the Redis server, so no reader ever sees an item without its event,
or an event without its item. Expiry is one script too, which is what lets
every replica run the expiry job without a lock: a second run finds nothing
left to expire, so no item is expired twice and no expire event is duplicated.

Each change is also appended to `{p}audit` in the same step (issue 3: who
changed what, kept far longer than the log). Writing it here rather than from
Python means no change can reach readers without its audit record, whichever
path (API, CLI, desk, expiry job) made it.
"""

from __future__ import annotations

# Compare two stream ids "ms-seq"; true when a < b.
_ID_LESS = """
local function id_less(a, b)
  local am, as = string.match(a, '^(%d+)-(%d+)$')
  local bm, bs = string.match(b, '^(%d+)-(%d+)$')
  am, as, bm, bs = tonumber(am), tonumber(as), tonumber(bm), tonumber(bs)
  return am < bm or (am == bm and as < bs)
end
"""

# KEYS: log, channels, items:{c}, expiry, last, idem, audit
# ARGV: channel, item json (no id), expires ms, actor, idempotency fingerprint ('' = none), idem ttl
# -> {1, id} published; {0, stored} the first result of this Idempotency-Key; {-1} no channel
PUBLISH = """
if ARGV[5] ~= '' then
  local prior = redis.call('GET', KEYS[6])
  if prior then return {0, prior} end
end
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 0 then return {-1} end
local id = redis.call('XADD', KEYS[1], '*', 'type', 'publish', 'channel', ARGV[1],
  'item', '', 'data', ARGV[2], 'actor', ARGV[4])
redis.call('HSET', KEYS[3], id, ARGV[2])
redis.call('XADD', KEYS[7], '*', 'type', 'publish', 'channel', ARGV[1],
  'item', id, 'data', ARGV[2], 'actor', ARGV[4])
redis.call('ZADD', KEYS[4], ARGV[3], ARGV[1] .. '/' .. id)
redis.call('HSET', KEYS[5], ARGV[1], id)
if ARGV[5] ~= '' then
  redis.call('SET', KEYS[6], ARGV[5] .. '\\n' .. id .. '\\n' .. ARGV[2], 'EX', ARGV[6])
end
return {1, id}
"""

# KEYS: log, items:{c}, expiry, last, audit
# ARGV: channel, item id, expected current json, new json, expires ms, actor
# -> {1, event id}; {0, current} when the item changed meanwhile; {-1} no such item
UPDATE = """
local cur = redis.call('HGET', KEYS[2], ARGV[2])
if not cur then return {-1} end
if cur ~= ARGV[3] then return {0, cur} end
local eid = redis.call('XADD', KEYS[1], '*', 'type', 'update', 'channel', ARGV[1],
  'item', ARGV[2], 'data', ARGV[4], 'actor', ARGV[6], 'old', cur)
redis.call('XADD', KEYS[5], '*', 'type', 'update', 'channel', ARGV[1],
  'item', ARGV[2], 'data', ARGV[4], 'actor', ARGV[6], 'old', cur)
redis.call('HSET', KEYS[2], ARGV[2], ARGV[4])
redis.call('ZADD', KEYS[3], ARGV[5], ARGV[1] .. '/' .. ARGV[2])
redis.call('HSET', KEYS[4], ARGV[1], eid)
return {1, eid}
"""

# KEYS: log, items:{c}, expiry, last, audit
# ARGV: channel, item id, event data json, actor
# -> {1, event id}; {-1} no such item
RETRACT = """
local cur = redis.call('HGET', KEYS[2], ARGV[2])
if not cur then return {-1} end
redis.call('HDEL', KEYS[2], ARGV[2])
redis.call('ZREM', KEYS[3], ARGV[1] .. '/' .. ARGV[2])
local eid = redis.call('XADD', KEYS[1], '*', 'type', 'retract', 'channel', ARGV[1],
  'item', ARGV[2], 'data', ARGV[3], 'actor', ARGV[4], 'old', cur)
redis.call('XADD', KEYS[5], '*', 'type', 'retract', 'channel', ARGV[1],
  'item', ARGV[2], 'data', ARGV[3], 'actor', ARGV[4], 'old', cur)
redis.call('HSET', KEYS[4], ARGV[1], eid)
return {1, eid}
"""

# KEYS: log, expiry, last, audit
# ARGV: now ms, batch size, key prefix
# -> the ids of the expire events appended
EXPIRE = """
local due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, ARGV[2])
local out = {}
for _, member in ipairs(due) do
  redis.call('ZREM', KEYS[2], member)
  local slash = string.find(member, '/', 1, true)
  local channel = string.sub(member, 1, slash - 1)
  local id = string.sub(member, slash + 1)
  local items = ARGV[3] .. 'items:' .. channel
  local cur = redis.call('HGET', items, id)
  if cur then
    redis.call('HDEL', items, id)
    local data = '{"id":"' .. id .. '","channel":"' .. channel .. '"}'
    local eid = redis.call('XADD', KEYS[1], '*', 'type', 'expire', 'channel', channel,
      'item', id, 'data', data, 'actor', '', 'old', cur)
    redis.call('XADD', KEYS[4], '*', 'type', 'expire', 'channel', channel,
      'item', id, 'data', data, 'actor', '', 'old', cur)
    redis.call('HSET', KEYS[3], channel, eid)
    out[#out + 1] = eid
  end
end
return out
"""

# KEYS: log, trimmed
# ARGV: min id (entries older than it are removed, exactly)
# -> number of entries removed
TRIM = (
    _ID_LESS
    + """
local newest_removed = redis.call('XREVRANGE', KEYS[1], '(' .. ARGV[1], '-', 'COUNT', 1)
if #newest_removed == 0 then return 0 end
local removed = redis.call('XTRIM', KEYS[1], 'MINID', ARGV[1])
local prior = redis.call('GET', KEYS[2])
if not prior or id_less(prior, newest_removed[1][1]) then
  redis.call('SET', KEYS[2], newest_removed[1][1])
end
return removed
"""
)

# KEYS: channels, log, last, trimmed
# ARGV: key prefix, how many recent entries
# -> {head id, channels, {channel, items}..., last, recent entries (newest first), trimmed}
LOAD = """
local channels = redis.call('HGETALL', KEYS[1])
local items = {}
for i = 1, #channels, 2 do
  items[#items + 1] = channels[i]
  items[#items + 1] = redis.call('HGETALL', ARGV[1] .. 'items:' .. channels[i])
end
local head = '0-0'
if redis.call('EXISTS', KEYS[2]) == 1 then
  local info = redis.call('XINFO', 'STREAM', KEYS[2])
  for i = 1, #info, 2 do
    if info[i] == 'last-generated-id' then head = info[i + 1] end
  end
end
local recent = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', ARGV[2])
local trimmed = redis.call('GET', KEYS[4]) or '0-0'
return {head, channels, items, redis.call('HGETALL', KEYS[3]), recent, trimmed}
"""

# KEYS: channels, log, audit
# ARGV: channel id, channel json, actor
SAVE_CHANNEL = """
local old = redis.call('HGET', KEYS[1], ARGV[1]) or ''
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('XADD', KEYS[3], '*', 'type', 'channel', 'channel', ARGV[1],
  'item', '', 'data', ARGV[2], 'actor', ARGV[3], 'old', old)
return redis.call('XADD', KEYS[2], '*', 'type', 'channel', 'channel', ARGV[1],
  'item', '', 'data', ARGV[2], 'actor', ARGV[3])
"""

# KEYS: users, user-sessions:{name}, audit
# ARGV: user name, user json, end sessions ('1' or '0'), key prefix, actor, audit json
# Saving a user and ending their sessions is one step: a user disabled (or given a
# new password) cannot slip a request in between with an old session.
# -> how many sessions were ended
SAVE_USER = """
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
local ended = 0
if ARGV[3] == '1' then
  for _, digest in ipairs(redis.call('SMEMBERS', KEYS[2])) do
    ended = ended + redis.call('DEL', ARGV[4] .. 'session:' .. digest)
  end
  redis.call('DEL', KEYS[2])
end
if ARGV[6] ~= '' then
  redis.call('XADD', KEYS[3], '*', 'type', 'user', 'channel', '', 'item', ARGV[1],
    'data', ARGV[6], 'actor', ARGV[5])
end
return ended
"""
