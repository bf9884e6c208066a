"""The Lua scripts `RedisStore` runs: what must read and write with nothing in between.

Redis runs a script alone, so each of these is atomic whichever process sends it: a freeze
never oversells credits, a rule's call counts never skip or repeat, the journal stays within
its budget, a namespace is released whole or not at all, and the clock's state changes in one
step. Each script's comment says its KEYS and ARGV and what it returns.
"""

from __future__ import annotations

__all__ = [
    "APPEND_JOURNAL",
    "CLOCK",
    "FIRE_RULE",
    "FREEZE",
    "MARK_USED",
    "PUT_TOKEN",
    "RELEASE_IDLE",
    "REMOVE_RULES",
    "SETTLE",
]

# KEYS[1] the user's hash; ARGV[1] the amount. 1 frozen, 0 not enough (or no such user).
FREEZE = """
local available = tonumber(redis.call('HGET', KEYS[1], 'available'))
local amount = tonumber(ARGV[1])
if available == nil or available < amount then return 0 end
if amount > 0 then  -- Lua writes -0 as "-0", which HINCRBY refuses: a free run moves nothing
  redis.call('HINCRBY', KEYS[1], 'available', -amount)
  redis.call('HINCRBY', KEYS[1], 'frozen', amount)
end
return 1
"""

# KEYS[1] the user's hash; ARGV[1] frozen, ARGV[2] spent: Accounts.settle's clamping.
SETTLE = """
local held = tonumber(redis.call('HGET', KEYS[1], 'frozen'))
if held == nil then return 0 end
local frozen = math.max(0, math.min(tonumber(ARGV[1]), held))
local spent = math.max(0, math.min(tonumber(ARGV[2]), frozen))
if frozen > 0 then  -- never HINCRBY by 0: Lua writes -0 as "-0", which Redis refuses
  redis.call('HINCRBY', KEYS[1], 'frozen', -frozen)
end
if frozen - spent > 0 then
  redis.call('HINCRBY', KEYS[1], 'available', frozen - spent)
end
return 1
"""

# KEYS: tokens hash, client list, clients set; ARGV: token, JSON, client id ('' for none).
# A token joins its client's list once, when it is first put (a revocation puts it again).
PUT_TOKEN = """
local new = redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
if new == 1 and ARGV[3] ~= '' then
  redis.call('RPUSH', KEYS[2], ARGV[1])
  redis.call('SADD', KEYS[3], ARGV[3])
end
return new
"""


# KEYS[1] the rule's counts hash; ARGV[1] nth ('' for any call), ARGV[2] times ('' for always).
# The fired count after this call, or -1 when the rule does not fire for it (Store.fire_rule).
FIRE_RULE = """
local fired = tonumber(redis.call('HGET', KEYS[1], 'fired') or '0')
if ARGV[2] ~= '' and fired >= tonumber(ARGV[2]) then return -1 end
local seen = redis.call('HINCRBY', KEYS[1], 'seen', 1)
if ARGV[1] ~= '' and seen ~= tonumber(ARGV[1]) then return -1 end
return redis.call('HINCRBY', KEYS[1], 'fired', 1)
"""

# KEYS[1] the rules list, KEYS[2] its version; ARGV the ids to remove (none: all). How many.
REMOVE_RULES = """
local rules = redis.call('LRANGE', KEYS[1], 0, -1)
local removed = 0
local keep = {}
for _, raw in ipairs(rules) do
  local id = cjson.decode(raw)['id']
  local drop = #ARGV == 0
  for _, wanted in ipairs(ARGV) do
    if wanted == id then drop = true end
  end
  if drop then removed = removed + 1 else table.insert(keep, raw) end
end
redis.call('DEL', KEYS[1])
for _, raw in ipairs(keep) do redis.call('RPUSH', KEYS[1], raw) end
redis.call('INCR', KEYS[2])
return removed
"""


# KEYS[1] the journal list, KEYS[2] its byte count; ARGV[1] the entry's JSON, ARGV[2] the most
# entries, ARGV[3] the most bytes, ARGV[4] the journal's channel, ARGV[5] the entry's id. The
# oldest go while over either (the newest always stays). Announced in the same script, so the
# watchers hear the entries in the order the list holds them, whichever process kept them.
APPEND_JOURNAL = """
redis.call('RPUSH', KEYS[1], ARGV[1])
redis.call('PUBLISH', ARGV[4], ARGV[5] .. ' ' .. ARGV[1])
local total = redis.call('INCRBY', KEYS[2], string.len(ARGV[1]))
local n = redis.call('LLEN', KEYS[1])
local dropped = 0
while n > 1 and (n > tonumber(ARGV[2]) or total > tonumber(ARGV[3])) do
  local oldest = redis.call('LPOP', KEYS[1])
  total = redis.call('INCRBY', KEYS[2], -string.len(oldest))
  n = n - 1
  dropped = dropped + 1
end
return dropped
"""


# KEYS[1] the namespaces' zset; ARGV the names now in use. Scored by Redis's clock, not a
# process's, so that processes on several hosts compare one time.
MARK_USED = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
for _, name in ipairs(ARGV) do redis.call('ZADD', KEYS[1], now, name) end
return 0
"""

# KEYS[1] the namespaces' zset; ARGV[1] seconds unused, ARGV[2] the namespaces' key prefix
# (glob-escaped; names are letters, digits, '.', '_' and '-', nothing a glob reads). Deletes
# every key of each namespace unused that long, then its entry; returns their names. One
# script: a process marking one used meanwhile either comes first (it is kept) or after (it
# starts afresh), never halfway.
RELEASE_IDLE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local idle = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[1]))
for _, name in ipairs(idle) do
  local cursor = '0'
  repeat
    local found = redis.call('SCAN', cursor, 'MATCH', ARGV[2] .. name .. ':*', 'COUNT', 500)
    cursor = found[1]
    if #found[2] > 0 then redis.call('DEL', unpack(found[2])) end
  until cursor == '0'
  redis.call('ZREM', KEYS[1], name)
end
return idle
"""


# KEYS[1] the clock's state hash; ARGV[1] what: "move" (ARGV[2] seconds), "hold" (ARGV[2]
# virtual time, ARGV[3] wall time), "release" (ARGV[2] wall time, ARGV[3] rate); KEYS[2] the
# channel announcing each change. Returns the hash (HGETALL). Times are kept as the strings
# Python wrote (Lua's tostring keeps 14 digits: 0.1 ms of a virtual time in 2026).
CLOCK = """
local what = ARGV[1]
if what == 'move' then
  redis.call('HINCRBYFLOAT', KEYS[1], 'moves', ARGV[2])
  if tonumber(redis.call('HGET', KEYS[1], 'holds') or '0') > 0 then
    redis.call('HINCRBYFLOAT', KEYS[1], 'held_at', ARGV[2])
  end
elseif what == 'hold' then
  if redis.call('HINCRBY', KEYS[1], 'holds', 1) == 1 then
    redis.call('HSET', KEYS[1], 'held_at', ARGV[2], 'held_since', ARGV[3])
  end
elseif what == 'release' then
  if redis.call('HINCRBY', KEYS[1], 'holds', -1) <= 0 then
    redis.call('HSET', KEYS[1], 'holds', 0)
    local since = tonumber(redis.call('HGET', KEYS[1], 'held_since') or ARGV[2])
    local span = math.max(0, tonumber(ARGV[2]) - since)
    if span > 0 then  -- (Lua writes -0 as "-0", which HINCRBYFLOAT refuses)
      redis.call('HINCRBYFLOAT', KEYS[1], 'taken', span * tonumber(ARGV[3]))
    end
    redis.call('HDEL', KEYS[1], 'held_at')
  end
end
local version = redis.call('HINCRBY', KEYS[1], 'version', 1)
redis.call('PUBLISH', KEYS[2], version)
return redis.call('HGETALL', KEYS[1])
"""
