-- Append one batch of validated, normalised items to the log, atomically, in one round trip.
-- Loaded by feeds/ingest.py (EVALSHA). Every key shares the jurisdiction's hash tag, so the
-- script is legal on a Redis Cluster.
--
-- KEYS: 1 log, 2 idempotency, 3 case_seq, 4 versions, 5 recent_buckets, 6 recent_closed,
--       7 delta_seq, 8 audit, 9.. the recent-report buckets this batch searches
-- ARGV: 1 deltas channel, 2 delta mode (item|batch|none), 3 dedup radius m (0 = off),
--       4 dedup window ms, 5 bucket ms, 6 bucket key prefix, 7 bbox "lon0,lat0,lon1,lat1" of
--       the batch's located reports (or ""), 8.. the records, STRIDE (3) arguments each:
--   report: idem_field, header "case_prefix t category channel lon lat delta_tail", body
--     (body is the payload JSON ending in '"flags":[...],"duplicate_of":""}'; it is stored as
--     sent unless the report is linked, then the script adds duplicate_candidate and the case)
--   update: '', header "case_id idem_field version kind at update_key audit", data
-- Log entries are written in the format of feeds/model.py: h = 'kind\31case\31version\31time', d = payload.
-- Header fields are separated by \31 and read with one pattern match; the body is its own
-- argument, never split or copied here (splitting one string per batch cost ~3 us an event).
-- Answers, one per record, separated by \30, fields by \31 (JSON escapes control characters,
-- and ingest refuses them in ids, so neither byte can occur inside a field):
--   A id case dup | D case | A id case version | S case current | X reason detail
--
-- Cost model: a server-side call costs a few microseconds of overhead, so per item there is
-- one XADD (and one PUBLISH in live mode); lookups and bookkeeping are one command per batch
-- (HMGET, HSET, GEOADD), duplicate candidates are fetched once per batch with one GEOSEARCH
-- per time bucket over the batch's bounding box and matched here, and the window is trimmed by
-- dropping whole buckets.
local K_LOG, K_IDEM, K_SEQ, K_VER = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local K_BUCKETS, K_CLOSED, K_DSEQ, K_AUDIT = KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local ARGV = ARGV
local channel, mode = ARGV[1], ARGV[2]
local radius, window, bucket_ms = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local bucket_prefix, bbox = ARGV[6], ARGV[7]
local FIRST, STRIDE, NARGV = 8, 3, #ARGV

local find, sub, match, call, concat, tonumber = string.find, string.sub, string.match, redis.call, table.concat,
  tonumber
local cos, floor, RAD, EARTH = math.cos, math.floor, math.pi / 180, 6371008.8
local RS, US = '\30', '\31'
local REPORT_HEADER = '^([^\31]*)\31([^\31]*)\31([^\31]*)\31([^\31]*)\31([^\31]*)\31([^\31]*)\31(.*)$'
local CAND = '^([^|]*)|([^|]*)|([^|]*)|([^|]*)|([^|]*)|(.*)$'  -- category|channel|ms|case|lon|lat
local UPDATE_HEADER = REPORT_HEADER  -- also seven fields, the last (audit JSON) free

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

-- pass 1: gather what to look up, one command per key -------------------------------------
local idem_cache, idem_want, want_seen = {}, {}, {}
local function want(f)
  if f ~= '' and not want_seen[f] then want_seen[f] = true idem_want[#idem_want + 1] = f end
end
local upd = {}  -- record index -> its header fields (updates are few: parsed once, kept)
for i = FIRST, NARGV, STRIDE do
  if ARGV[i] ~= '' then
    want(ARGV[i])
  else
    local f = {match(ARGV[i + 1], UPDATE_HEADER)}
    upd[i] = f
    if f[1] == '' then want(f[2]) end
    want(f[6])
  end
end
hmget(K_IDEM, idem_want, idem_cache)

local ver_cache, ver_want = {}, {}
for i, f in pairs(upd) do
  local c = f[1]
  if c == '' then c = idem_cache[f[2]] end
  if c and ver_cache[c] == nil then ver_cache[c] = 0 ver_want[#ver_want + 1] = c end
end
if #ver_want > 0 then
  local tmp = {}
  hmget(K_VER, ver_want, tmp)
  for c, v in pairs(tmp) do ver_cache[c] = tonumber(v or '0') end
end

-- duplicate candidates near this batch, bucketed by category and by a radius-sized grid -----
-- cands[category][cell] is a flat list: lon, lat, channel, t, case, lon, lat, ...
local cands = {}
local gone, closed_cache = {}, {}  -- case -> true once closed/merged (this batch / before)
local r2 = radius * radius
local bx, by = 1, 1  -- grid cell size in degrees (lon, lat): at least the radius both ways
local function add_cand(cat, lon, lat, chan, t, case)
  local b = cands[cat]
  if not b then b = {} cands[cat] = b end
  local k = floor(lon / bx) * 1e6 + floor(lat / by)
  local list = b[k]
  if not list then  -- the usual case: a cell's first candidate, one allocation of the right size
    b[k] = {lon, lat, chan, t, case}
    return
  end
  local n = #list
  list[n + 1], list[n + 2], list[n + 3], list[n + 4], list[n + 5] = lon, lat, chan, t, case
end
if radius > 0 and bbox ~= '' then
  local _, _, s0, s1, s2, s3 = find(bbox, '([^,]+),([^,]+),([^,]+),([^,]+)')
  local minlon, minlat, maxlon, maxlat = tonumber(s0), tonumber(s1), tonumber(s2), tonumber(s3)
  local midlat = (minlat + maxlat) / 2
  by = radius / (EARTH * RAD)
  bx = by / math.max(cos((math.max(math.abs(minlat), math.abs(maxlat)) + by) * RAD), 0.01)
  local w = (maxlon - minlon) * math.max(cos(midlat * RAD), 0.01) * EARTH * RAD + 2 * radius + 10
  local h = (maxlat - minlat) * EARTH * RAD + 2 * radius + 10
  for i = 9, #KEYS do
    -- members carry their point: no WITHCOORD (the server formatting every coordinate as a
    -- long double and Lua parsing it back cost more than the rest of the search)
    local hits = call('GEOSEARCH', KEYS[i], 'FROMLONLAT', (minlon + maxlon) / 2, midlat, 'BYBOX', w, h, 'm')
    for _, m in ipairs(hits) do
      local cat, chan, ms, case, lon, lat = match(m, CAND)
      if cat then  -- (a member written before points were kept in it has none: not a target)
        add_cand(cat, tonumber(lon), tonumber(lat), chan, tonumber(ms), case)
      end
    end
  end
end

local function is_open(c)
  if gone[c] then return false end
  local closed = closed_cache[c]
  if closed == nil then
    closed = call('ZSCORE', K_CLOSED, c) ~= false
    closed_cache[c] = closed
  end
  return not closed
end

-- pass 2: append ----------------------------------------------------------------------------
local seq = tonumber(call('GET', K_SEQ) or '0')
local seq0 = seq
local idem_w, vw, nv = {}, {}, 0  -- vw: HSET pairs for versions, in order (the last one wins)
local geo_w, closed_w, reopened = {}, {}, {}  -- geo_w: bucket id -> GEOADD triples
local deltas, out, no = {}, {}, 0
local maxt, maxt_all, first_id, last_id, n_reports = 0, 0, nil, nil, 0

local function put(a, b, c, d)  -- one answer: a tag and up to three fields, no string built here
  if no > 0 then no = no + 1 out[no] = RS end
  no = no + 1 out[no] = a
  if b then no = no + 2 out[no - 1] = US out[no] = b end
  if c then no = no + 2 out[no - 1] = US out[no] = c end
  if d then no = no + 2 out[no - 1] = US out[no] = d end
end

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

local LINK_TAIL = '],"duplicate_of":""}'
local function linked(body, dup)  -- flag a linked report and name the case it is linked to
  local head = sub(body, 1, -#LINK_TAIL - 1)  -- ends in '"flags":[' or in its last flag
  local sep = sub(head, -1) == '[' and '' or ','
  return head .. sep .. '"duplicate_candidate"],"duplicate_of":"' .. dup .. '"}'
end

local function report(i)
  local idem = ARGV[i]
  local existing = idem_get(idem)
  if existing then return put('D', existing) end
  local prefix, ts, category, chan, lon, lat, tail = match(ARGV[i + 1], REPORT_HEADER)
  seq = seq + 1
  local case = prefix .. string.format('%07d', seq)
  local t = tonumber(ts)
  local dup = ''
  local located = radius > 0 and lon ~= ''
  local lon_s, lat_s = lon, lat  -- as sent: GEOADD and the member take text, not Lua numbers
  if located then
    lon, lat = tonumber(lon), tonumber(lat)
    local b = cands[category]
    if b then
      local kx = cos(lat * RAD) * EARTH * RAD
      local ky = EARTH * RAD
      local best = r2
      local ix, iy = floor(lon / bx), floor(lat / by)
      for gx = ix - 1, ix + 1 do
        for gy = iy - 1, iy + 1 do
          local list = b[gx * 1e6 + gy]
          if list then
            for j = 1, #list, 5 do
              local ct = list[j + 3]
              if list[j + 2] ~= chan and ct <= t and ct >= t - window then
                local dx = (list[j] - lon) * kx
                local dy = (list[j + 1] - lat) * ky
                local d2 = dx * dx + dy * dy
                if d2 <= best and is_open(list[j + 4]) then best = d2 dup = list[j + 4] end
              end
            end
          end
        end
      end
    end
  end
  local body = ARGV[i + 2]
  if dup ~= '' then body = linked(body, dup) end
  local id = call('XADD', K_LOG, '*', 'h', 'report\31' .. case .. '\31' .. '1\31' .. ts, 'd', body)
  idem_set(idem, case)
  ver_cache[case] = 1
  nv = nv + 2 vw[nv - 1] = case vw[nv] = 1
  if located and dup == '' then  -- linked reports are not targets: later ones link to the first
    local bk = floor(t / bucket_ms)
    local g = geo_w[bk]
    if not g then g = {} geo_w[bk] = g end
    local n = #g
    g[n + 1], g[n + 2], g[n + 3] = lon_s, lat_s,
      category .. '|' .. chan .. '|' .. ts .. '|' .. case .. '|' .. lon_s .. '|' .. lat_s
    add_cand(category, lon, lat, chan, t, case)
  end
  if t > maxt then maxt = t end
  if t > maxt_all then maxt_all = t end
  if mode == 'item' then
    deltas[#deltas + 1] = '"id":"' .. id .. '","case":"' .. case .. '","v":1,"dup":"' .. dup .. '",' .. tail
  end
  if not first_id then first_id = id end
  last_id = id
  n_reports = n_reports + 1
  put('A', id, case, dup)
end

local function update(i)
  local f, data = upd[i], ARGV[i + 2]  -- f: case_id ref version kind at update_key audit
  local case = f[1]
  if case == '' then
    case = idem_get(f[2])
    if not case then return put('X', 'unknown_case', 'no case was reported as ' .. f[2]) end
  end
  local cur = ver_get(case)
  if cur == 0 then return put('X', 'unknown_case', 'no case ' .. case) end
  local ukey = f[6]
  if ukey ~= '' and idem_get(ukey) then return put('D', case) end
  local v = tonumber(f[3])
  if v == 0 then v = cur + 1 end
  if v <= cur then return put('S', case, cur) end
  local kind, at_s = f[4], f[5]
  local id = call('XADD', K_LOG, '*', 'h', kind .. US .. case .. US .. v .. US .. at_s, 'd', data)
  ver_cache[case] = v
  nv = nv + 2 vw[nv - 1] = case vw[nv] = v
  if ukey ~= '' then idem_set(ukey, case) end
  local at = tonumber(at_s)
  if at > maxt_all then maxt_all = at end
  if (kind == 'closed' or kind == 'duplicate_merged') and window > 0 then
    gone[case] = true
    closed_w[#closed_w + 1] = at_s
    closed_w[#closed_w + 1] = case
  elseif kind == 'reopened' then
    gone[case] = nil
    closed_cache[case] = false
    reopened[#reopened + 1] = case
  end
  if f[7] ~= '' then
    call('XADD', K_AUDIT, '*', 'c', case, 'v', v, 'k', kind, 'log', id, 'd', f[7])
  end
  put('A', id, case, v)
end

for i = FIRST, NARGV, STRIDE do
  if ARGV[i] ~= '' then report(i) else update(i) end
end

-- deferred writes: one command per key for the whole batch -----------------------------------
if seq ~= seq0 then call('SET', K_SEQ, seq) end
if #idem_w > 0 then bulk('HSET', K_IDEM, idem_w) end
if #vw > 0 then bulk('HSET', K_VER, vw) end
for bk, g in pairs(geo_w) do
  bulk('GEOADD', bucket_prefix .. ':' .. bk, g)
  call('ZADD', K_BUCKETS, bk * bucket_ms, bk)
end
if #closed_w > 0 then bulk('ZADD', K_CLOSED, closed_w) end
if #reopened > 0 then bulk('ZREM', K_CLOSED, reopened) end
if window > 0 and maxt_all > 0 then  -- drop buckets (and closures) that left the window
  local cutoff = maxt_all - window
  if radius > 0 then
    local old = call('ZRANGEBYSCORE', K_BUCKETS, '-inf', cutoff - bucket_ms)
    for _, bk in ipairs(old) do call('UNLINK', bucket_prefix .. ':' .. bk) end
    if #old > 0 then call('ZREMRANGEBYSCORE', K_BUCKETS, '-inf', cutoff - bucket_ms) end
  end
  call('ZREMRANGEBYSCORE', K_CLOSED, '-inf', '(' .. cutoff)
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
return concat(out)
