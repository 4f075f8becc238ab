-- Append one batch of validated, normalised items to the log, atomically, in one round trip.
-- Loaded by feeds/ingest.py (EVALSHA). Every key shares the jurisdiction's hash tag, so the
-- script is legal on a Redis Cluster.
--
-- KEYS: 1 log, 2 idempotency, 3 case_seq, 4 versions, 5 recent_geo, 6 recent_times,
--       7 recent_index, 8 delta_seq, 9 audit
-- ARGV: 1 deltas channel, 2 delta mode (item|batch|none), 3 dedup radius m (0 = off),
--       4 dedup window ms, 5 records
--
-- Records are separated by \30, fields by \31 (JSON escapes control characters, and ingest
-- refuses them in ids, so neither byte can occur inside a field):
--   R idem_field case_prefix t body_head flags delta_tail category channel lon lat
--   U case_id idem_field version kind at data update_key audit
-- Answers, one per record, joined the same way:
--   A id case dup | D case | A id case version | S case current | X reason detail
--
-- Cost model: a server-side call costs a few microseconds of overhead, so per item there is
-- one XADD (and one PUBLISH in live mode); lookups and bookkeeping are one command per batch
-- (HMGET, HSET, GEOADD, ZADD), and duplicate candidates are fetched once per batch with one
-- GEOSEARCH over the batch's bounding box, then matched here in Lua.
local K_LOG, K_IDEM, K_SEQ, K_VER = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local K_GEO, K_TIMES, K_INDEX, K_DSEQ, K_AUDIT = KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9]
local channel, mode = ARGV[1], ARGV[2]
local radius, window = tonumber(ARGV[3]), tonumber(ARGV[4])
local blob = ARGV[5]

local find, sub, call, concat, tonumber = string.find, string.sub, redis.call, table.concat, tonumber
local cos, RAD, EARTH = math.cos, math.pi / 180, 6371008.8
local RS, US = '\30', '\31'

local function split(rec)
  local f, pos = {}, 1
  while true do
    local e = find(rec, US, pos, true)
    if not e then f[#f + 1] = sub(rec, pos) return f end
    f[#f + 1] = sub(rec, pos, e - 1)
    pos = e + 1
  end
end

local function bulk(cmd, key, list)  -- HSET/ZADD/ZREM/HDEL/GEOADD with many arguments, in chunks
  local n = #list
  local step = 3000  -- a multiple of 2 and 3 (pairs, GEOADD triples); below Lua's unpack limit
  for i = 1, n, step do
    call(cmd, key, unpack(list, i, math.min(i + step - 1, n)))
  end
end

local function hmget(key, fields, into)  -- into[field] = value or false
  local n = #fields
  for i = 1, n, 3000 do
    local chunk = {unpack(fields, i, math.min(i + 2999, n))}
    local vals = call('HMGET', key, unpack(chunk))
    for j, f in ipairs(chunk) do into[f] = vals[j] or false end
  end
end

-- pass 1: parse, and gather what to look up in one command per key -------------------------
local recs = {}
local idem_cache, idem_want, want_seen = {}, {}, {}
local function want(f)
  if f ~= '' and not want_seen[f] then want_seen[f] = true idem_want[#idem_want + 1] = f end
end
local minlon, maxlon, minlat, maxlat = 1e9, -1e9, 1e9, -1e9
local pos, len = 1, #blob
while pos <= len do
  local e = find(blob, RS, pos, true) or (len + 1)
  local f = split(sub(blob, pos, e - 1))
  pos = e + 1
  recs[#recs + 1] = f
  if f[1] == 'R' then
    want(f[2])
    if radius > 0 and f[10] ~= '' then
      local lon, lat = tonumber(f[10]), tonumber(f[11])
      f[10], f[11] = lon, lat
      if lon < minlon then minlon = lon end
      if lon > maxlon then maxlon = lon end
      if lat < minlat then minlat = lat end
      if lat > maxlat then maxlat = lat end
    end
  else
    if f[2] == '' then want(f[3]) end
    want(f[8])
  end
end
hmget(K_IDEM, idem_want, idem_cache)

local ver_cache, ver_want = {}, {}
for _, f in ipairs(recs) do
  if f[1] == 'U' then
    local c = f[2]
    if c == '' then c = idem_cache[f[3]] end
    if c and ver_cache[c] == nil then ver_cache[c] = 0 ver_want[#ver_want + 1] = c end
  end
end
if #ver_want > 0 then
  local tmp = {}
  hmget(K_VER, ver_want, tmp)
  for c, v in pairs(tmp) do ver_cache[c] = tonumber(v or '0') end
end

-- duplicate candidates near this batch, bucketed by category and by a radius-sized grid -----
local cands = {}  -- category -> bucket key -> list of {lon, lat, channel, t, case}
local gone = {}   -- case -> true once closed/merged in this batch
local r2 = radius * radius
local bx, by = 1, 1  -- bucket size in degrees (lon, lat)
local function bucket_key(lon, lat)
  return math.floor(lon / bx) * 1e6 + math.floor(lat / by)
end
local function add_cand(cat, c)
  local b = cands[cat]
  if not b then b = {} cands[cat] = b end
  local k = bucket_key(c[1], c[2])
  local list = b[k]
  if not list then list = {} b[k] = list end
  list[#list + 1] = c
end
if radius > 0 and minlon <= maxlon then
  local midlat = (minlat + maxlat) / 2
  local coslat = math.max(cos(midlat * RAD), 0.01)
  by = radius / (EARTH * RAD)
  bx = by / math.max(cos((math.abs(midlat) + (maxlat - minlat) / 2 + by) * RAD), 0.01)
  local w = (maxlon - minlon) * coslat * EARTH * RAD + 2 * radius + 10
  local h = (maxlat - minlat) * EARTH * RAD + 2 * radius + 10
  local hits = call('GEOSEARCH', K_GEO, 'FROMLONLAT', (minlon + maxlon) / 2, midlat,
                    'BYBOX', w, h, 'm', 'WITHCOORD')
  for _, hit in ipairs(hits) do
    local m = hit[1]
    local a = find(m, '|', 1, true)
    local b = find(m, '|', a + 1, true)
    local c = find(m, '|', b + 1, true)
    add_cand(sub(m, 1, a - 1), {tonumber(hit[2][1]), tonumber(hit[2][2]), sub(m, a + 1, b - 1),
                                tonumber(sub(m, b + 1, c - 1)), sub(m, c + 1)})
  end
end

-- pass 2: append ----------------------------------------------------------------------------
local seq = tonumber(call('GET', K_SEQ) or '0')
local seq0 = seq
local idem_w, ver_dirty = {}, {}
local geo_w, times_w, index_w, removed = {}, {}, {}, {}
local deltas, out = {}, {}
local maxt, first_id, last_id, n_reports = 0, nil, nil, 0

local function idem_get(f)
  local c = idem_cache[f]
  if c == nil then
    c = call('HGET', K_IDEM, f) or false
    idem_cache[f] = c
  end
  return c
end

local function idem_set(f, c)
  idem_cache[f] = c
  idem_w[#idem_w + 1] = f
  idem_w[#idem_w + 1] = c
end

local function ver_get(c)
  local v = ver_cache[c]
  if v == nil then
    v = tonumber(call('HGET', K_VER, c) or '0')
    ver_cache[c] = v
  end
  return v
end

local function forget(c)  -- a closed or merged case is no longer a duplicate target
  if gone[c] then return end
  gone[c] = true
  local m = call('HGET', K_INDEX, c)
  if m then
    removed[#removed + 1] = m
    call('HDEL', K_INDEX, c)
  end
end

local function report(f)
  local existing = idem_get(f[2])
  if existing then return 'D' .. US .. existing end
  seq = seq + 1
  local case = f[3] .. string.format('%07d', seq)
  local ts = f[4]
  local t = tonumber(ts)
  local category, chan, lon, lat = f[8], f[9], f[10], f[11]
  local dup = ''
  local located = radius > 0 and lon ~= ''
  if located then
    local b = cands[category]
    if b then
      local kx = cos(lat * RAD) * EARTH * RAD
      local ky = EARTH * RAD
      local best = r2
      local ix, iy = math.floor(lon / bx), math.floor(lat / by)
      for gx = ix - 1, ix + 1 do
        for gy = iy - 1, iy + 1 do
          local list = b[gx * 1e6 + gy]
          if list then
            for i = 1, #list do
              local c = list[i]
              if c[3] ~= chan and c[4] <= t and c[4] >= t - window and not gone[c[5]] then
                local dx = (c[1] - lon) * kx
                local dy = (c[2] - lat) * ky
                local d2 = dx * dx + dy * dy
                if d2 <= best then best = d2 dup = c[5] end
              end
            end
          end
        end
      end
    end
  end
  local flags = f[6]
  if dup ~= '' then
    if flags == '' then flags = '"duplicate_candidate"' else flags = flags .. ',"duplicate_candidate"' end
  end
  local body = f[5] .. '"flags":[' .. flags .. '],"duplicate_of":"' .. dup .. '"}'
  local id = call('XADD', K_LOG, '*', 'k', 'report', 'c', case, 'v', '1', 't', ts, 'd', body)
  idem_set(f[2], case)
  ver_cache[case] = 1
  ver_dirty[case] = true
  if located and dup == '' then  -- linked reports are not targets: later ones link to the first
    local m = category .. '|' .. chan .. '|' .. ts .. '|' .. case
    geo_w[#geo_w + 1] = lon
    geo_w[#geo_w + 1] = lat
    geo_w[#geo_w + 1] = m
    times_w[#times_w + 1] = ts
    times_w[#times_w + 1] = m
    index_w[#index_w + 1] = case
    index_w[#index_w + 1] = m
    add_cand(category, {lon, lat, chan, t, case})
  end
  if t > maxt then maxt = t end
  if mode == 'item' then
    deltas[#deltas + 1] = '"id":"' .. id .. '","case":"' .. case .. '","v":1,"dup":"' .. dup .. '",' .. f[7]
  end
  if not first_id then first_id = id end
  last_id = id
  n_reports = n_reports + 1
  return 'A' .. US .. id .. US .. case .. US .. dup
end

local function update(f)
  local case = f[2]
  if case == '' then
    case = idem_get(f[3])
    if not case then return 'X' .. US .. 'unknown_case' .. US .. 'no case was reported as ' .. f[3] end
  end
  local cur = ver_get(case)
  if cur == 0 then return 'X' .. US .. 'unknown_case' .. US .. 'no case ' .. case end
  local ukey = f[8]
  if ukey ~= '' and idem_get(ukey) then return 'D' .. US .. case end
  local v = tonumber(f[4])
  if v == 0 then v = cur + 1 end
  if v <= cur then return 'S' .. US .. case .. US .. cur end
  local kind = f[5]
  local id = call('XADD', K_LOG, '*', 'k', kind, 'c', case, 'v', v, 't', f[6], 'd', f[7])
  ver_cache[case] = v
  ver_dirty[case] = true
  if ukey ~= '' then idem_set(ukey, case) end
  if kind == 'closed' or kind == 'duplicate_merged' then forget(case) end
  if f[9] ~= '' then
    call('XADD', K_AUDIT, '*', 'c', case, 'v', v, 'k', kind, 'log', id, 'd', f[9])
  end
  return 'A' .. US .. id .. US .. case .. US .. v
end

for i, f in ipairs(recs) do
  if f[1] == 'R' then out[i] = report(f) else out[i] = update(f) end
end

-- deferred writes: one command per key for the whole batch -----------------------------------
if seq ~= seq0 then call('SET', K_SEQ, seq) end
if #idem_w > 0 then bulk('HSET', K_IDEM, idem_w) end
local vw = {}
for c, _ in pairs(ver_dirty) do
  vw[#vw + 1] = c
  vw[#vw + 1] = ver_cache[c]
end
if #vw > 0 then bulk('HSET', K_VER, vw) end
if #geo_w > 0 then
  bulk('GEOADD', K_GEO, geo_w)
  bulk('ZADD', K_TIMES, times_w)
  bulk('HSET', K_INDEX, index_w)
  -- a case reported and closed within this batch: its member was just added, take it out
  for i = 2, #index_w, 2 do
    if gone[index_w[i - 1]] then
      removed[#removed + 1] = index_w[i]
      call('HDEL', K_INDEX, index_w[i - 1])
    end
  end
end
if radius > 0 and maxt > 0 then  -- trim the duplicate window
  local old = call('ZRANGEBYSCORE', K_TIMES, '-inf', '(' .. (maxt - window), 'LIMIT', 0, 10000)
  if #old > 0 then
    bulk('ZREM', K_TIMES, old)
    bulk('ZREM', K_GEO, old)
    local cases = {}
    for _, m in ipairs(old) do
      local p = find(m, '|[^|]*$')
      cases[#cases + 1] = sub(m, p + 1)
    end
    bulk('HDEL', K_INDEX, cases)
  end
end
if #removed > 0 then
  bulk('ZREM', K_GEO, removed)
  bulk('ZREM', K_TIMES, removed)
end

-- deltas: a hint for screens; seq is shared with every other publisher on the channel ---------
if #deltas > 0 then
  local s = call('INCRBY', K_DSEQ, #deltas) - #deltas
  for k, d in ipairs(deltas) do
    call('PUBLISH', channel, '{"type":"report","seq":' .. (s + k) .. ',' .. d)
  end
elseif mode == 'batch' and n_reports > 0 then
  local s = call('INCR', K_DSEQ)
  call('PUBLISH', channel, '{"type":"reports","seq":' .. s .. ',"count":' .. n_reports ..
    ',"first":"' .. first_id .. '","last":"' .. last_id .. '"}')
end
return concat(out, RS)
