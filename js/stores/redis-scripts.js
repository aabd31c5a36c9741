// The Lua scripts of the Redis store and TLS-RPT log. A script runs atomically in Redis, so each
// write below is all or nothing for every process of the fleet. Each script first checks the type
// of every key it touches and returns a negative number, writing nothing, when a key holds someone
// else's data (a Redis error in the middle of a script would leave its first writes in place).
// Each script touches only the keys it is given, all under one hash tag (a policy: its domain's key
// alone; TLS-RPT: the keys of one day), so it also runs on a Redis Cluster.

// Whether what is stored is newer than an entry with the given times: a stored entry (or the
// deleted entry a tombstone remembers, redis.js) is newer when its fetchedAt is later, or equal with
// a later checkedAt (a tombstone wins a tie too). Documents that do not decode, or times that are not numbers, never win (the
// write replaces them).
const NEWER = `
local function stored_is_newer(stored, fetched, checked)
  local f = tonumber(fetched)
  if not stored or not f then return false end
  local ok, doc = pcall(cjson.decode, stored)
  if not ok or type(doc) ~= 'table' then return false end
  local e, tomb = doc.entry, false
  if type(e) ~= 'table' then e, tomb = doc.deleted, true end
  if type(e) ~= 'table' then return false end
  local sf = tonumber(e.fetchedAt)
  if not sf then return false end
  if sf > f then return true end
  if sf < f then return false end
  local c, sc = tonumber(checked), tonumber(e.checkedAt)
  -- a tombstone also wins a tie: the entry it deleted does not come back
  if tomb then return c == nil or sc == nil or sc >= c end
  return c ~= nil and sc ~= nil and sc > c
end
local function is(key, want)
  local t = redis.call('TYPE', key).ok
  return t == 'none' or t == want
end
`;

/**
 * KEYS[1] the entry (a string); ARGV[1] the document, ARGV[2] its fetchedAt, ARGV[3] its
 * checkedAt ('' when not numbers). One key only, so that on a Cluster every write of a domain is
 * one atomic script in that domain's slot (the index of domains is written apart, redis.js).
 * Returns 1 written, 0 kept (the stored entry is newer), -1 the key holds foreign data.
 */
export const PUT_POLICY = `${NEWER}
if not is(KEYS[1], 'string') then return -1 end
if stored_is_newer(redis.call('GET', KEYS[1]), ARGV[2], ARGV[3]) then return 0 end
redis.call('SET', KEYS[1], ARGV[1])
return 1`;

/**
 * KEYS as PUT_POLICY; ARGV[1] and ARGV[2] the fetchedAt and checkedAt of the entry this process
 * deleted ('' when it had none: delete whatever is stored), ARGV[3] the tombstone document that
 * replaces the entry, ARGV[4] its lifetime in seconds.
 * Returns 1 deleted, 0 kept (the stored entry is newer than the one deleted), -1 foreign data.
 */
export const DELETE_POLICY = `${NEWER}
if not is(KEYS[1], 'string') then return -1 end
if ARGV[1] ~= '' and stored_is_newer(redis.call('GET', KEYS[1]), ARGV[1], ARGV[2]) then return 0 end
redis.call('SET', KEYS[1], ARGV[3], 'EX', ARGV[4])
return 1`;

/**
 * Adds one batch of TLS-RPT counters of one day, once: KEYS[1] the day's domains (a set), KEYS[2]
 * the day's applied batch ids (a set), KEYS[3…] one counter hash per policy domain. ARGV[1] the
 * batch id, ARGV[2] the expiry (unix seconds), ARGV[3] how many counters, then per counter: the
 * index of its hash in KEYS, its domain, its field, its increment.
 * Returns 1 added, 0 already added (a retry of a batch whose answer was lost), -1 a key holds
 * foreign data, -2 a counter field holds something other than a whole number.
 */
export const ADD_TLSRPT_BATCH = `${NEWER}
if not is(KEYS[1], 'set') or not is(KEYS[2], 'set') then return -1 end
for i = 3, #KEYS do
  if not is(KEYS[i], 'hash') then return -1 end
end
local n = tonumber(ARGV[3])
for j = 0, n - 1 do
  local at = 4 + j * 4
  local v = redis.call('HGET', KEYS[tonumber(ARGV[at])], ARGV[at + 2])
  if v and not string.match(v, '^%d+$') then return -2 end
end
if redis.call('SADD', KEYS[2], ARGV[1]) == 0 then return 0 end
for j = 0, n - 1 do
  local at = 4 + j * 4
  redis.call('HINCRBY', KEYS[tonumber(ARGV[at])], ARGV[at + 2], ARGV[at + 3])
  redis.call('SADD', KEYS[1], ARGV[at + 1])
end
for i = 1, #KEYS do
  redis.call('EXPIREAT', KEYS[i], ARGV[2])
end
return 1`;
