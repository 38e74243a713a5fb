"""``RedisStore`` Lua scripts of repairs: reopening finished invocations, creating a fork."""

from __future__ import annotations

from wfcore.store._redis_scripts import COMMON

__all__ = ["CREATE_FORK", "REOPEN"]

# KEYS: wf, then per change its inv, h and o keys.
# ARGV: base, now, allowed statuses (",FAILED,CANCELLED,"), number of changes, then per change
#   its history length, the counts of rewrites, appends and forgotten seqs, then the rewrites
#   (position, data), the appended entries and the forgotten seqs.
# Refused ({}) unless the workflow has an allowed status and every invocation exists and holds
# exactly its length of history; else applies every change, makes the workflow PENDING (cancel
# flag cleared, expiry dropped, every key made persistent) and returns its fields. Each
# invocation's history epoch (field epoch, absent: 0) grows by one (wfcore.store.incremental).
REOPEN = (
    COMMON
    + """
local wf, a = KEYS[1], ARGV
local status = redis.call('HGET', wf, 'status')
if not status or not string.find(a[3], ',' .. status .. ',', 1, true) then return {} end
local n, at, plan = tonumber(a[4]), 5, {}
for c = 1, n do
  local inv, h = KEYS[3 * c - 1], KEYS[3 * c]
  local length, nr, na, nf = tonumber(a[at]), tonumber(a[at + 1]), tonumber(a[at + 2]),
    tonumber(a[at + 3])
  if redis.call('EXISTS', inv) == 0 or redis.call('LLEN', h) ~= length then return {} end
  plan[c] = {at + 4, nr, na, nf}
  at = at + 4 + 2 * nr + na + nf
end
for c = 1, n do
  local inv, h, o = KEYS[3 * c - 1], KEYS[3 * c], KEYS[3 * c + 1]
  local p = plan[c]
  local i = p[1]
  for _ = 1, p[2] do
    redis.call('LSET', h, a[i], a[i + 1])
    i = i + 2
  end
  if p[3] > 0 then push_all('RPUSH', h, a, i, i + p[3] - 1, 1000) end
  i = i + p[3]
  for _ = 1, p[4] do
    redis.call('HDEL', o, a[i])
    i = i + 1
  end
  redis.call('HSET', inv, 'status', 'PENDING', 'waiting', '', 'updated_at', a[2])
  redis.call('HDEL', inv, 'outcome', 'missing')
  redis.call('HINCRBY', inv, 'epoch', 1)
end
redis.call('HSET', wf, 'status', 'PENDING', 'cancel', '0', 'updated_at', a[2])
if status ~= 'PENDING' then reindex(wf, status, 'PENDING') end
redis.call('HDEL', wf, 'exp', 'exp_ms')
for _, key in ipairs(workflow_keys(a[1])) do redis.call('PERSIST', key) end
return redis.call('HGETALL', wf)
"""
)

# KEYS: wf, invs, root inv, root h, root o, data.
# ARGV: counts of workflow fields/values, root fields/values, entries, outcome items and data
#   items (seqs or keys and values), then the workflow fields, the root id, the root fields,
#   the entries, the outcome items and the data items.
# As CREATE, with the root's history, outcomes and the workflow's data in the same script.
CREATE_FORK = (
    COMMON
    + """
if redis.call('EXISTS', KEYS[1]) == 1 then
  return {0, redis.call('HGETALL', KEYS[1])}
end
local a = ARGV
local n_wf, n_inv, n_e, n_o, n_d = tonumber(a[1]), tonumber(a[2]), tonumber(a[3]),
  tonumber(a[4]), tonumber(a[5])
local at = 6
redis.call('HSET', KEYS[1], unpack(a, at, at + n_wf - 1))
at = at + n_wf
redis.call('RPUSH', KEYS[2], a[at])
redis.call('HSET', KEYS[3], unpack(a, at + 1, at + n_inv))
at = at + 1 + n_inv
if n_e > 0 then push_all('RPUSH', KEYS[4], a, at, at + n_e - 1, 1000) end
at = at + n_e
if n_o > 0 then push_all('HSET', KEYS[5], a, at, at + n_o - 1, 1000) end
at = at + n_o
if n_d > 0 then push_all('HSET', KEYS[6], a, at, at + n_d - 1, 1000) end
reindex(KEYS[1], false, redis.call('HGET', KEYS[1], 'status'))
return {1}
"""
)
