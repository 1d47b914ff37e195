"""The Lua scripts: each change to the live state and its event in the log, in one atomic step.

Invariant 2 of docs/design.md (snapshot and log agree) rests here: a script runs
alone on the Redis server, so no reader ever sees an item without its event,
or an event without its item. Expiry is one script too, which is what lets
every replica run the expiry job without a lock: a second run finds nothing
left to expire, so no item is expired twice and no expire event is duplicated.

Each change is also appended to `{p}audit` in the same step (who
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

# Helpers of the stream epoch (after Centrifugo's StreamPosition{Offset, Epoch}).
# An epoch is a run of the log that no data loss has interrupted. `{p}log:epoch` holds
# its random id and `since`, the id of the `epoch` entry that opened it in the log.
# `since` is above every id any process could have sent before the loss (above the
# log's own last id, the caller's last read id, and Redis's clock), so every id a
# client holds from before is below it: such an id is unknown and gets a `reset`.
_EPOCH = (
    _ID_LESS
    + """
local function last_generated(log)
  if redis.call('EXISTS', log) == 0 then return '0-0' end
  local info = redis.call('XINFO', 'STREAM', log)
  for i = 1, #info, 2 do
    if info[i] == 'last-generated-id' then return info[i + 1] end
  end
  return '0-0'
end
local function new_epoch(epoch_key, log, token, floor)
  local top = last_generated(log)
  if id_less(floor, top) then floor = top end
  local fm, fs = string.match(floor, '^(%d+)-(%d+)$')
  fm, fs = tonumber(fm), tonumber(fs)
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  local since
  if now > fm then
    since = string.format('%.0f-0', now)
  else
    since = string.format('%.0f-%.0f', fm, fs + 1)
  end
  redis.call('XADD', log, since, 'type', 'epoch', 'channel', '', 'item', '',
    'data', '{"epoch":"' .. token .. '"}', 'actor', '')
  redis.call('HSET', epoch_key, 'id', token, 'since', since)
  return {token, since}
end
"""
)

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
# ARGV: channel, item id, expected current json, new json, expires ms ('' = keep), actor
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
if ARGV[5] ~= '' then
  redis.call('ZADD', KEYS[3], ARGV[5], ARGV[1] .. '/' .. ARGV[2])
end
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

# KEYS: channels, log, last, trimmed, epoch
# ARGV: key prefix, how many recent entries, a random token (the epoch's id, if one is made)
# -> {head id, channels, {channel, items}..., last, recent entries (newest first), trimmed,
#     epoch id, epoch's first id}
# A log without an epoch starts one first (a fresh install, or a Redis that came back
# empty): the loaded head then includes its `epoch` entry.
LOAD = (
    _EPOCH
    + """
local epoch = redis.call('HMGET', KEYS[5], 'id', 'since')
if not epoch[1] then epoch = new_epoch(KEYS[5], KEYS[2], ARGV[3], '0-0') end
local channels = redis.call('HGETALL', KEYS[1])
local items = {}
for i = 1, #channels, 2 do
  items[#items + 1] = channels[i]
  items[#items + 1] = redis.call('HGETALL', ARGV[1] .. 'items:' .. channels[i])
end
local head = last_generated(KEYS[2])
local recent = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', ARGV[2])
local trimmed = redis.call('GET', KEYS[4]) or '0-0'
return {head, channels, items, redis.call('HGETALL', KEYS[3]), recent, trimmed,
  epoch[1], epoch[2]}
"""
)

# KEYS: epoch, log, trimmed
# ARGV: the epoch id the process has, the last log id it read, a random token
# -> {epoch id, epoch's first id, "same" | "changed" | "missing" | "behind"}
# Run by the stream reader each time it reconnects, before it reads on from its id.
# One script, so that no write can land between the look and the verdict (comparing
# the log's newest id with ours missed a loss as soon as anything was written
# after Redis came back). The log is behind us when the entry we read last is neither
# in it nor trimmed away: then Redis lost data and a new epoch starts.
CHECK_EPOCH = (
    _EPOCH
    + """
local cur = redis.call('HMGET', KEYS[1], 'id', 'since')
if not cur[1] then
  local made = new_epoch(KEYS[1], KEYS[2], ARGV[3], ARGV[2])
  return {made[1], made[2], 'missing'}
end
if cur[1] ~= ARGV[1] then return {cur[1], cur[2], 'changed'} end
local read = ARGV[2]
if read == '0-0' or #redis.call('XRANGE', KEYS[2], read, read) == 1 then
  return {cur[1], cur[2], 'same'}
end
if not id_less(redis.call('GET', KEYS[3]) or '0-0', read) then
  return {cur[1], cur[2], 'same'}  -- trimmed away in its time, not lost
end
local made = new_epoch(KEYS[1], KEYS[2], ARGV[3], read)
return {made[1], made[2], 'behind'}
"""
)

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
