"""``RedisStore`` storage layout: its Lua scripts, and (re-exported from ``_redis_fields``)
the hash fields records are kept in."""

from __future__ import annotations

from wfcore.store._redis_fields import (
    invocation_fields,
    invocation_from,
    pairs,
    workflow_fields,
    workflow_from,
)

__all__ = [
    "ADD_CHILD",
    "CANCEL",
    "CLAIM",
    "COMMON",
    "COMMIT",
    "CREATE",
    "DROP_IF_SCORE",
    "HEARTBEAT",
    "INDEX_STATUS",
    "INVOCATIONS",
    "PURGE_ONE",
    "RECLAIM",
    "RECORD_OUTCOME",
    "invocation_fields",
    "invocation_from",
    "pairs",
    "workflow_fields",
    "workflow_from",
]

# Every workflow-scoped script receives ``base`` = "<prefix>:{<workflow_id>}:" and builds the
# per-invocation key names from it: those keys share the workflow's hash tag, hence its slot.
_COMMON = COMMON = """
local FINISHED = {COMPLETED = true, FAILED = true, CANCELLED = true}

-- The listing's status indexes, <prefix>:idx:status:<status>[:type:<type>] (sorted sets of
-- workflow ids scored by created_at), follow the workflow's status in the script that
-- changes it: take it out of those of ``from``, put it in those of ``to`` (each optional).
local function reindex(wf, from, to)
  local w = redis.call('HMGET', wf, 'id', 'type', 'created_at')
  local idx = string.match(wf, '^(.-):{') .. ':idx:status:'
  if from then
    redis.call('ZREM', idx .. from, w[1])
    redis.call('ZREM', idx .. from .. ':type:' .. w[2], w[1])
  end
  if to then
    redis.call('ZADD', idx .. to, w[3], w[1])
    redis.call('ZADD', idx .. to .. ':type:' .. w[2], w[3], w[1])
  end
end

-- The workflow status mirrors its root invocation; true when iid is that root.
local function mirror(wf, iid, status, now)
  local w = redis.call('HMGET', wf, 'root_inv', 'status')
  if w[1] == iid then
    redis.call('HSET', wf, 'status', status, 'updated_at', now)
    if w[2] ~= status then reindex(wf, w[2], status) end
    return true
  end
  return false
end

-- Keys created after the workflow got its expiry must expire with the rest of it.
local function touch(wf, ...)
  local ms = redis.call('HGET', wf, 'exp_ms')
  if ms then
    for _, key in ipairs({...}) do redis.call('PEXPIREAT', key, ms) end
  end
end

local function workflow_keys(base)
  local keys = {base .. 'wf', base .. 'invs', base .. 'data', base .. 'children'}
  for _, id in ipairs(redis.call('LRANGE', base .. 'invs', 0, -1)) do
    keys[#keys + 1] = base .. 'inv:' .. id
    keys[#keys + 1] = base .. 'h:' .. id
    keys[#keys + 1] = base .. 'o:' .. id
  end
  -- Signals: the ids accepted, and per name used its buffer and its registered waits.
  keys[#keys + 1] = base .. 'sigids'
  keys[#keys + 1] = base .. 'signames'
  for _, name in ipairs(redis.call('SMEMBERS', base .. 'signames')) do
    keys[#keys + 1] = base .. 'sigq:' .. name
    keys[#keys + 1] = base .. 'sigw:' .. name
  end
  return keys
end

-- Record an outcome awaited at seq by invocation iid (keys inv, o) and decide whether to
-- wake it. Returns {recorded, wake}; exactly one recorder of the last missing outcome wakes.
local function record(wf, inv, o, seq, outcome, now, iid)
  if redis.call('EXISTS', inv) == 0 then return {0, 0} end
  if redis.call('HSETNX', o, seq, outcome) == 0 then return {0, 0} end
  touch(wf, o)
  local state = redis.call('HMGET', inv, 'status', 'waiting', 'missing')
  if state[1] ~= 'SUSPENDED' then return {1, 0} end
  if not string.find(',' .. (state[2] or '') .. ',', ',' .. seq .. ',', 1, true) then
    return {1, 0}
  end
  if state[3] then
    -- O(1) per outcome: the suspension counted the missing ones (seqs are distinct).
    if redis.call('HINCRBY', inv, 'missing', -1) > 0 then return {1, 0} end
  else
    -- Suspended by an older version without the count: check every awaited seq.
    for s in string.gmatch(state[2] or '', '[^,]+') do
      if redis.call('HEXISTS', o, s) == 0 then return {1, 0} end
    end
  end
  redis.call('HSET', inv, 'status', 'PENDING', 'waiting', '', 'updated_at', now)
  mirror(wf, iid, 'PENDING', now)
  return {1, 1}
end

-- unpack() is bounded by the Lua C stack, so long argument lists go in slices.
local function push_all(cmd, key, items, first, last, step)
  for i = first, last, step do
    redis.call(cmd, key, unpack(items, i, math.min(i + step - 1, last)))
  end
end
"""

# KEYS: wf, invs, root inv[, queue, messages (a QueuePush that runs the root)].
# ARGV: n, push message id or '', push body or '', <n workflow fields/values>, root id,
#   <root fields/values>. The push is written only by the call that creates the workflow.
CREATE = (
    _COMMON
    + """
if redis.call('EXISTS', KEYS[1]) == 1 then
  return {0, redis.call('HGETALL', KEYS[1])}
end
local n = tonumber(ARGV[1])
redis.call('HSET', KEYS[1], unpack(ARGV, 4, n + 3))
redis.call('HSET', KEYS[3], unpack(ARGV, n + 5, #ARGV))
redis.call('RPUSH', KEYS[2], ARGV[n + 4])
reindex(KEYS[1], false, redis.call('HGET', KEYS[1], 'status'))
if ARGV[2] ~= '' then
  redis.call('HSET', KEYS[5], ARGV[2], ARGV[3])
  redis.call('RPUSH', KEYS[4], ARGV[2])
end
return {1}
"""
)

# KEYS: parent children zset, parent wf.  ARGV: created_at, child workflow id.
# Returns the parent's cancel flag as of the listing (1 or 0): a cancel's walk lists the
# children after setting it, so a child either is listed in time or is told the flag here.
ADD_CHILD = (
    _COMMON
    + """
redis.call('ZADD', KEYS[1], 'NX', ARGV[1], ARGV[2])
touch(KEYS[2], KEYS[1])
return redis.call('HGET', KEYS[2], 'cancel') == '1' and 1 or 0
"""
)

# KEYS: wf, inv.  ARGV: now, iid.
# Marks an unfinished invocation RUNNING and counts the attempt; 1 when it did. The store
# reads the records right after it, in the same transaction, with plain commands: a hash
# passed through a script costs several times a plain HGETALL (reply conversions).
CLAIM = (
    _COMMON
    + """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local status = redis.call('HGET', KEYS[2], 'status')
if not status or FINISHED[status] then return 0 end
redis.call('HSET', KEYS[2], 'status', 'RUNNING', 'updated_at', ARGV[1])
redis.call('HINCRBY', KEYS[2], 'attempts', 1)
mirror(KEYS[1], ARGV[2], 'RUNNING', ARGV[1])
return 1
"""
)

# KEYS: wf, invs, inv, h, o, data, <one inv key per child>[, parent inv, parent o], then per
#   queue push (Batch.pushes, then Batch.parent_push or suspend_push) its queue list and its
#   messages hash, and last, with a Batch.receipt, its ack set and its messages hash.
# ARGV: base, now, iid, base_seq, mode ('', 'finish', 'continue', 'suspend'), finish status
#   (with 'continue', Batch.continue_with is in the expires_at place; with a
#   suspension: how many awaited outcomes may still be missing when it wakes), finish
#   outcome, awaited seqs (comma-separated), expires_at or '', expiry in ms, parent invocation
#   id or '', the seq the parent awaits this one at, then the counts of entries, of data items
#   (keys and values), of children and of pushes, '1' if the extra push (parent_push with a
#   finish, suspend_push with a suspension) follows them, then the
#   entries, the data items, per child its id, its field count and its fields, and per push
#   its message id and body, the Batch.receipt's message id (or ''), and last the
#   Batch.signal: its name (or ''), seq and '1' to wait.
#   (Plain arguments: cmsgpack cost more than the rest.)
# Pushes are written unless the cancel flag is set; the parent push only if the outcome wakes
# the parent; the suspend push only if the suspension is applied. Returns {} when the
# invocation is missing; a lost race returns {0, cancel, winners, 0, {status, updated_at}}
# (to put back the invocation's active-index entry); else {1, cancel, {}, ready, false,
# {recorded, wake} of a finish with a parent or false, pushed, the signal taken or false,
# acked}. The receipt is acknowledged by a finish or an applied suspension, never under the
# cancel flag.
COMMIT = (
    _COMMON
    + """
local wf, invs, inv, h, o, data = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local a = ARGV
local base, now, iid, base_seq, mode = a[1], a[2], a[3], tonumber(a[4]), a[5]
local n_entries, n_data, n_children = tonumber(a[13]), tonumber(a[14]), tonumber(a[15])
-- The extra push is conditional: a finish's parent wake-up, or a suspension's timer wake-up.
local n_pushes, extra_push = tonumber(a[16]), a[17] == '1'
local first_entry = 18
-- Progress marks the invocation (and a root's workflow) alive; never back (a hold is later).
local function alive()
  if tonumber(redis.call('HGET', inv, 'updated_at') or '0') < tonumber(now) then
    redis.call('HSET', inv, 'updated_at', now)
    if redis.call('HGET', wf, 'root_inv') == iid then redis.call('HSET', wf, 'updated_at', now) end
  end
end
local first_data = first_entry + n_entries
if redis.call('EXISTS', inv) == 0 then return {} end
local cancel = redis.call('HGET', wf, 'cancel') == '1' and 1 or 0
if redis.call('LLEN', h) ~= base_seq then
  return {0, cancel, redis.call('LRANGE', h, base_seq, -1), 0,
          redis.call('HMGET', inv, 'status', 'updated_at')}
end
if n_entries > 0 then
  push_all('RPUSH', h, ARGV, first_entry, first_data - 1, 1000)
  touch(wf, h)
end
if n_data > 0 then
  push_all('HSET', data, ARGV, first_data, first_data + n_data - 1, 1000)
  touch(wf, data)
end
local at = first_data + n_data
for c = 1, n_children do
  local key, n_fields = KEYS[6 + c], tonumber(a[at + 1])
  if redis.call('EXISTS', key) == 0 then
    redis.call('HSET', key, unpack(ARGV, at + 2, at + 1 + n_fields))
    redis.call('RPUSH', invs, a[at])
    touch(wf, key, invs)
  end
  at = at + 2 + n_fields
end
-- Queue pushes (QueuePush): keys after the children's and the parent's, args after children.
local pushed, pk = 0, 6 + n_children
local qk = pk + (a[11] ~= '' and 2 or 0)
if n_pushes > 0 and cancel == 0 then
  for p = 1, n_pushes do
    local q = qk + 2 * p - 1
    redis.call('HSET', KEYS[q + 1], a[at + 2 * p - 2], a[at + 2 * p - 1])
    redis.call('RPUSH', KEYS[q], a[at + 2 * p - 2])
  end
  pushed = 1
end
-- Batch.signal: the first buffered signal of that name becomes the outcome at its seq; with
-- none buffered, a wait is registered (see SEND_SIGNAL).
local taken, sig_name, sig_seq = false, a[#a - 2], a[#a - 1]
if sig_name ~= '' then
  taken = redis.call('LPOP', base .. 'sigq:' .. sig_name) or false
  if taken then
    redis.call('HSET', o, sig_seq, taken)
    touch(wf, o)
  elseif a[#a] == '1' then
    local waits, names = base .. 'sigw:' .. sig_name, base .. 'signames'
    redis.call('RPUSH', waits, iid .. ' ' .. sig_seq)
    redis.call('SADD', names, sig_name)
    touch(wf, waits, names)
  end
end
-- Batch.receipt (its keys last, its id before the signal's args): acknowledged by a write
-- that ends the run, unless the cancel flag is set (messages may then be left to send).
local receipt_id, acked = a[#a - 3], 0
local function acknowledge()
  if receipt_id ~= '' and cancel == 0 then
    if redis.call('SREM', KEYS[#KEYS - 1], receipt_id) == 1 then
      redis.call('HDEL', KEYS[#KEYS], receipt_id)
    end
    acked = 1
  end
end
local function push_extra()
  local q, at_p = qk + 2 * n_pushes + 1, at + 2 * n_pushes
  redis.call('HSET', KEYS[q + 1], a[at_p], a[at_p + 1])
  redis.call('RPUSH', KEYS[q], a[at_p])
end
if mode == 'continue' then
  -- Batch.continue_with (in the expiry's place, which a continuation has none of).
  redis.call('HSET', inv, 'status', a[6], 'outcome', a[7], 'waiting', '', 'updated_at', now)
  -- The next run waits for its message: the workflow is pending (mirror moves it between the
  -- status indexes; only a root continues), and rooted at that run.
  mirror(wf, iid, 'PENDING', now)
  redis.call('HSET', wf, 'root_inv', a[9])
elseif mode == 'finish' then
  redis.call('HSET', inv, 'status', a[6], 'outcome', a[7], 'waiting', '', 'updated_at', now)
  if mirror(wf, iid, a[6], now) and a[9] ~= '' then
    redis.call('HSET', wf, 'exp', a[9], 'exp_ms', a[10])
    -- Last on purpose: an expiry already in the past deletes the keys at once.
    for _, key in ipairs(workflow_keys(base)) do redis.call('PEXPIREAT', key, a[10]) end
  end
  if a[11] ~= '' then
    local told = record(wf, KEYS[pk + 1], KEYS[pk + 2], a[12], a[7], now, a[11])
    if told[2] == 1 and extra_push then push_extra() end
    acknowledge()
    return {1, cancel, {}, 0, false, told, pushed, taken, acked}
  end
  acknowledge()
elseif mode == 'suspend' then
  -- Count what is still missing once here, so each outcome is O(1) (see RECORD_OUTCOME).
  local missing = 0
  for seq in string.gmatch(a[8], '[^,]+') do
    if redis.call('HEXISTS', o, seq) == 0 then missing = missing + 1 end
  end
  -- Batch.suspend_need: this many of them may still be missing when it wakes.
  missing = missing - (tonumber(a[6]) or 0)
  if missing <= 0 then
    alive()
    return {1, cancel, {}, 1, false, false, pushed, taken, 0}
  end
  redis.call('HSET', inv, 'status', 'SUSPENDED', 'waiting', a[8], 'missing', missing,
             'updated_at', now)
  mirror(wf, iid, 'SUSPENDED', now)
  if extra_push then push_extra() end
  acknowledge()
else
  alive()
end
return {1, cancel, {}, 0, false, false, pushed, taken, acked}
"""
)

# KEYS: wf, inv, o.  ARGV: seq, outcome, now, iid.  Returns {recorded, wake}.
RECORD_OUTCOME = (
    _COMMON
    + """
return record(KEYS[1], KEYS[2], KEYS[3], ARGV[1], ARGV[2], ARGV[3], ARGV[4])
"""
)

# KEYS: wf.  ARGV: now.  Returns the workflow's fields, or {} when it does not exist.
CANCEL = """
if redis.call('EXISTS', KEYS[1]) == 0 then return {} end
if redis.call('HGET', KEYS[1], 'cancel') ~= '1' then
  redis.call('HSET', KEYS[1], 'cancel', '1', 'updated_at', ARGV[1])
end
return redis.call('HGETALL', KEYS[1])
"""

# KEYS: invs.  ARGV: base.  The fields of every invocation, in creation order.
INVOCATIONS = """
local out = {}
for _, id in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do
  local fields = redis.call('HGETALL', ARGV[1] .. 'inv:' .. id)
  if #fields > 0 then out[#out + 1] = fields end
end
return out
"""

# KEYS: wf.  ARGV: base, now.  Deletes the workflow if it finished and its retention passed.
# Returns {'deleted', type, parent or '', ids of its unfinished invocations},
# {'later', expires_at}, {'gone'} or {'active'}. With ARGV[3] = 'updated' the cut-off ARGV[2]
# applies to updated_at (``purge_finished``) instead of the retention expiry.
PURGE_ONE = (
    _COMMON
    + """
local w = redis.call('HMGET', KEYS[1], 'status', 'exp', 'type', 'parent', 'updated_at')
if not w[1] then return {'gone'} end
if ARGV[3] == 'updated' then
  if not FINISHED[w[1]] then return {'active'} end
  if tonumber(w[5]) >= tonumber(ARGV[2]) then return {'later', w[5]} end
else
  if not (w[2] and FINISHED[w[1]]) then return {'active'} end
  if tonumber(w[2]) > tonumber(ARGV[2]) then return {'later', w[2]} end
end
local active = {}
for _, id in ipairs(redis.call('LRANGE', ARGV[1] .. 'invs', 0, -1)) do
  local status = redis.call('HGET', ARGV[1] .. 'inv:' .. id, 'status')
  if status and not FINISHED[status] then active[#active + 1] = id end
end
local keys = workflow_keys(ARGV[1])
for i = 1, #keys, 1000 do
  redis.call('DEL', unpack(keys, i, math.min(i + 999, #keys)))
end
return {'deleted', w[3], w[4] or '', active}
"""
)

# KEYS: wf, inv.  ARGV: older_than, now, iid, bound score or '', tie ('1'/'0').
# The recovery claim. The invocation is claimed if it exists, is unfinished, was last updated
# at or before older_than, and before the sweep's bound: the first index entry the sweep did
# not look at, whose invocation was updated at or after its score (tie: whether this entry
# sorts before that one; computed by the caller, as Lua compares strings by locale). Claiming
# sets its updated_at (and its workflow's, when it is the root: the workflow's follows every
# write of its root) to now. Atomic, so of racing sweepers exactly one gets it.
# Returns {'claimed', updated_at before, fields}, {'later', updated_at}, {'finished'} or
# {'gone'}.
RECLAIM = (
    _COMMON
    + """
local inv = KEYS[2]
local state = redis.call('HMGET', inv, 'status', 'updated_at')
if not state[1] then return {'gone'} end
if FINISHED[state[1]] then return {'finished'} end
local updated = tonumber(state[2])
local stale = updated <= tonumber(ARGV[1])
if stale and ARGV[4] ~= '' then
  local bound = tonumber(ARGV[4])
  stale = updated < bound or (updated == bound and ARGV[5] == '1')
end
if not stale then return {'later', state[2]} end
redis.call('HSET', inv, 'updated_at', ARGV[2])
if redis.call('HGET', KEYS[1], 'root_inv') == ARGV[3] then
  redis.call('HSET', KEYS[1], 'updated_at', ARGV[2])
end
return {'claimed', state[2], redis.call('HGETALL', inv)}
"""
)

# KEYS: wf, inv.  ARGV: now, iid.  A worker still runs the invocation: if it is RUNNING, its
# updated_at (and its workflow's, when it is the root) becomes now. Returns 1 if touched.
HEARTBEAT = """
local state = redis.call('HMGET', KEYS[2], 'status', 'updated_at')
if state[1] ~= 'RUNNING' then return 0 end
if state[2] and tonumber(state[2]) >= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[2], 'updated_at', ARGV[1])
if redis.call('HGET', KEYS[1], 'root_inv') == ARGV[2] then
  redis.call('HSET', KEYS[1], 'updated_at', ARGV[1])
end
return 1
"""

# KEYS: wf.  Puts an existing workflow in the status indexes of its current status (see
# reindex); 1 if it exists. Builds those indexes in a database written before they existed.
INDEX_STATUS = (
    _COMMON
    + """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return 0 end
reindex(KEYS[1], false, status)
return 1
"""
)

# KEYS: an index zset (expiry or active).  ARGV: member, score.  Removes the member only if its
# score is unchanged, so an entry rewritten meanwhile (by a finish, a claim...) survives.
DROP_IF_SCORE = """
local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
if score and tonumber(score) == tonumber(ARGV[2]) then
  return redis.call('ZREM', KEYS[1], ARGV[1])
end
return 0
"""
