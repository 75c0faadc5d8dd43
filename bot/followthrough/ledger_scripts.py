"""The Lua scripts that make each step of the Redis ledger atomic (bot/followthrough/ledger_redis.py).

Each runs whole on the server, so N replicas marking the same change, or taking the same due edit, do it once.
"""

# KEYS: answer, notices, cites, pending, queued, tries; ARGV: id, path, change key, notice, new path or "", now,
# the citation as signed for its new path
CLAIM_CHANGE = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local old = redis.call('HGET', KEYS[2], ARGV[2])
if old then
  local ok, decoded = pcall(cjson.decode, old)
  if ok and type(decoded) == 'table' and decoded['key'] == ARGV[3] then return 0 end
end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[4])
local ttl = redis.call('PTTL', KEYS[1])
if ttl > 0 then redis.call('PEXPIRE', KEYS[2], ttl) end
if ARGV[5] ~= '' and redis.call('HEXISTS', KEYS[3], ARGV[5]) == 0 and redis.call('HEXISTS', KEYS[3], ARGV[2]) == 1 then
  redis.call('HSET', KEYS[3], ARGV[5], ARGV[7])
  redis.call('HDEL', KEYS[3], ARGV[2])
end
redis.call('ZADD', KEYS[4], 'NX', ARGV[6], ARGV[1])
redis.call('HINCRBY', KEYS[5], ARGV[1], 1)
redis.call('HDEL', KEYS[6], ARGV[1])
return 1
"""
# KEYS: pending, queued; ARGV: now, claimed until, limit → {id, queued, …}
CLAIM_DUE = """
local out = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))) do
  redis.call('ZADD', KEYS[1], ARGV[2], id)
  table.insert(out, id)
  table.insert(out, redis.call('HGET', KEYS[2], id) or '0')
end
return out
"""
# KEYS: pending, queued, tries; ARGV: id, queued when claimed, now
DONE = """
if (redis.call('HGET', KEYS[2], ARGV[1]) or '0') == ARGV[2] then
  redis.call('ZREM', KEYS[1], ARGV[1])
  redis.call('HDEL', KEYS[2], ARGV[1])
  redis.call('HDEL', KEYS[3], ARGV[1])
else
  redis.call('ZADD', KEYS[1], 'XX', ARGV[3], ARGV[1])
end
return 1
"""
