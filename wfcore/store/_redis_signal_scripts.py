"""``RedisStore``'s Lua script for signals (a commit's ``Batch.signal`` is in ``COMMIT``).

Keys, under the workflow's hash tag: ``sigq:<name>`` (a list: the signals buffered under
that name, oldest first), ``sigw:<name>`` (a list: the waits registered for it, each
"<invocation id> <seq>", oldest first), ``sigids`` (a set: ids of signals accepted with one)
and ``signames`` (a set: every name used, so retention and purges find those keys).
"""

from __future__ import annotations

from wfcore.store._redis_scripts import _COMMON

__all__ = ["SEND_SIGNAL"]

# KEYS: wf, sigq:<name>, sigw:<name>, sigids, signames.
# ARGV: base, name, payload, signal id, '1' if there is an id, now.
# Returns {'missing'}, {'duplicate', status}, {'refused', status} (finished),
# {'buffered', status} or {'delivered', status, wake (0/1), invocation id, task name}.
SEND_SIGNAL = (
    _COMMON
    + """
local wf, queue, waits, ids, names = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local base, payload, now = ARGV[1], ARGV[3], ARGV[6]
local status = redis.call('HGET', wf, 'status')
if not status then return {'missing'} end
local with_id = ARGV[5] == '1'
if with_id and redis.call('SISMEMBER', ids, ARGV[4]) == 1 then return {'duplicate', status} end
if FINISHED[status] then return {'refused', status} end
if with_id then redis.call('SADD', ids, ARGV[4]) end
redis.call('SADD', names, ARGV[2])
while true do
  local waiter = redis.call('LPOP', waits)
  if not waiter then break end
  local iid, seq = string.match(waiter, '^(.*) (%d+)$')
  local inv = base .. 'inv:' .. iid
  local state = redis.call('HMGET', inv, 'status', 'task')
  if state[1] and not FINISHED[state[1]] then
    -- Not recorded when its timeout won: that wait is over, try the next one.
    local told = record(wf, inv, base .. 'o:' .. iid, seq, payload, now, iid)
    if told[1] == 1 then return {'delivered', status, told[2], iid, state[2]} end
  end
end
redis.call('RPUSH', queue, payload)
touch(wf, queue, ids, names)
return {'buffered', status}
"""
)
