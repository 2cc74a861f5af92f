import { Script } from './connection';

/**
 * The Lua scripts. Each is one atomic step that would otherwise take several round trips with a window between them
 * (another client, or an expiry, acting in the middle). They run on a single Redis server; key names are passed in
 * KEYS where the script knows them up front. Docs: docs/plugins.md ("redis"), docs/protocol.md ("Redis layout").
 */

// ---- registry --------------------------------------------------------------------------------------------------

/**
 * Register (or renew) nodes. KEYS: services set, the service's node hash, then one key per node.
 * ARGV: name, ttl ms, events channel, the whole record as JSON (for the event), then per node: id, its record JSON.
 * SET ... GET tells a new node (create) from a changed one (update) from a plain renewal (no event at all).
 */
export const REGISTER = new Script(
  'register',
  `
local created, changed = false, false
for i = 3, #KEYS do
  local id, json = ARGV[5 + (i - 3) * 2], ARGV[6 + (i - 3) * 2]
  local old = redis.call('SET', KEYS[i], json, 'PX', ARGV[2], 'GET')
  if not old then created = true; changed = true elseif old ~= json then changed = true end
  redis.call('HSET', KEYS[2], id, json)
end
redis.call('SADD', KEYS[1], ARGV[1])
if changed then
  local action = created and 'create' or 'update'
  redis.call('PUBLISH', ARGV[3], '{"action":"' .. action .. '","service":' .. ARGV[4] .. '}')
  return action
end
return ''
`,
);

/**
 * Deregister nodes. KEYS: services set, node hash, then one key per node. ARGV: name, events channel, the record's
 * JSON up to and including '"nodes":[', then per node: id, node JSON. The delete event lists only the nodes that
 * were there, and is not sent when none was.
 */
export const DEREGISTER = new Script(
  'deregister',
  `
local gone = {}
for i = 3, #KEYS do
  local id, json = ARGV[4 + (i - 3) * 2], ARGV[5 + (i - 3) * 2]
  local deleted = redis.call('DEL', KEYS[i])
  local unindexed = redis.call('HDEL', KEYS[2], id)
  if deleted + unindexed > 0 then table.insert(gone, json) end
end
if redis.call('HLEN', KEYS[2]) == 0 then redis.call('SREM', KEYS[1], ARGV[1]) end
if #gone > 0 then
  redis.call('PUBLISH', ARGV[2], '{"action":"delete","service":' .. ARGV[3] .. table.concat(gone, ',') .. ']}}')
end
return #gone
`,
);

/**
 * Forget a node whose key expired. KEYS: services set, node hash, node key. ARGV: name, node id, events channel.
 * Only the first reaper of a node publishes (HDEL succeeds once), so watchers hear of each expiry once however many
 * processes noticed it; a node registered again meanwhile (its key exists) is left alone.
 */
export const REAP = new Script(
  'reap',
  `
if redis.call('EXISTS', KEYS[3]) == 1 then return 0 end
local json = redis.call('HGET', KEYS[2], ARGV[2])
if not json then return 0 end
redis.call('HDEL', KEYS[2], ARGV[2])
if redis.call('HLEN', KEYS[2]) == 0 then redis.call('SREM', KEYS[1], ARGV[1]) end
redis.call('PUBLISH', ARGV[3], '{"action":"delete","service":' .. json .. '}')
return 1
`,
);

// ---- broker ------------------------------------------------------------------------------------------------------

/**
 * Publish. KEYS: the topic's stream. ARGV: channel, envelope, max length. PUBLISH reaches fan-out subscribers; the
 * stream is written only when it exists, i.e. when some queue group created it: a topic nobody reads through a group
 * costs nothing, and an existing stream is trimmed to about max length.
 */
export const PUBLISH = new Script(
  'publish',
  `
local receivers = redis.call('PUBLISH', ARGV[1], ARGV[2])
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[3], '*', 'e', ARGV[2])
end
return receivers
`,
);

/** Shared by the claim scripts: the 'e' field of an entry's field list (false when the entry has none). */
const PAYLOAD_OF = `
local function payload_of(fields)
  if not fields then return false end
  for i = 1, #fields, 2 do if fields[i] == 'e' then return fields[i + 1] end end
  return false
end
`;

/**
 * Claim abandoned entries: pending longer than min idle, whoever holds them. KEYS: stream. ARGV: group, consumer,
 * min idle ms, count. Returns [id, deliveries, envelope] per claimed entry (deliveries counts this one).
 */
export const CLAIM_ABANDONED = new Script(
  'claim-abandoned',
  `${PAYLOAD_OF}
local claimed = redis.call('XAUTOCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[3], '0-0', 'COUNT', ARGV[4])
local out = {}
for _, entry in ipairs(claimed[2]) do
  if entry and entry[1] then
    local p = redis.call('XPENDING', KEYS[1], ARGV[1], entry[1], entry[1], 1)
    local deliveries = (p[1] and p[1][4]) or 1
    table.insert(out, { entry[1], deliveries, payload_of(entry[2]) })
  end
end
return out
`,
);

/**
 * Take back one of our own failed entries for another attempt, if it is still ours and pending. KEYS: stream.
 * ARGV: group, consumer, id, min idle ms. Returns [[id, deliveries, envelope]] or [] when it is no longer ours.
 */
export const RETRY_OWN = new Script(
  'retry-own',
  `${PAYLOAD_OF}
local p = redis.call('XPENDING', KEYS[1], ARGV[1], 'IDLE', ARGV[4], ARGV[3], ARGV[3], 1, ARGV[2])
if #p == 0 then return {} end
local c = redis.call('XCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[4], ARGV[3])
if not c[1] or not c[1][2] then return {} end
return { { ARGV[3], p[1][4] + 1, payload_of(c[1][2]) } }
`,
);

/**
 * Move an entry that failed too often to the dead-letter stream and acknowledge it. KEYS: stream, dead-letter
 * stream. ARGV: group, id, envelope, deliveries, max length.
 */
export const DEAD_LETTER = new Script(
  'dead-letter',
  `
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[5], '*', 'e', ARGV[3], 'group', ARGV[1], 'id', ARGV[2], 'deliveries', ARGV[4])
return redis.call('XACK', KEYS[1], ARGV[1], ARGV[2])
`,
);

/** Reads XINFO CONSUMERS' flat field lists into tables. */
const CONSUMERS = `
local function consumers(stream, group)
  local out = {}
  for _, c in ipairs(redis.call('XINFO', 'CONSUMERS', stream, group)) do
    local info = {}
    for i = 1, #c, 2 do info[c[i]] = c[i + 1] end
    table.insert(out, info)
  end
  return out
end
`;

/**
 * A member leaves. KEYS: stream. ARGV: group, consumer, '1' when the group is not durable. The consumer is removed
 * only with nothing pending (its entries stay claimable otherwise); a non-durable group goes with its last member,
 * and the stream with its last group, so nothing keeps collecting events for nobody.
 */
export const LEAVE = new Script(
  'leave',
  `${CONSUMERS}
if #redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', 1, ARGV[2]) > 0 then return 0 end
redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])
if ARGV[3] == '1' and #consumers(KEYS[1], ARGV[1]) == 0 then
  redis.call('XGROUP', 'DESTROY', KEYS[1], ARGV[1])
  if #redis.call('XINFO', 'GROUPS', KEYS[1]) == 0 then redis.call('DEL', KEYS[1]) end
end
return 1
`,
);

/**
 * Remove members that died: nothing pending and idle past a bound (a live member reads at least every block time).
 * KEYS: stream. ARGV: group, our consumer (never removed), idle bound ms.
 */
export const PRUNE = new Script(
  'prune',
  `${CONSUMERS}
local removed = 0
for _, c in ipairs(consumers(KEYS[1], ARGV[1])) do
  if c['name'] ~= ARGV[2] and c['pending'] == 0 and c['idle'] > tonumber(ARGV[3]) then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], c['name'])
    removed = removed + 1
  end
end
return removed
`,
);
