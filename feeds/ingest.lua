-- Append one batch of validated, normalised items to the log, atomically, in one round trip.
-- Loaded by feeds/ingest.py (EVALSHA). Every key shares the jurisdiction's hash tag, so the
-- script is legal on a Redis Cluster.
--
-- KEYS: 1 log, 2 idempotency, 3 case_seq, 4 versions, 5 recent_buckets, 6 recent_closed,
--       7 delta_seq, 8 audit, 9.. the recent-report buckets this batch reads
-- ARGV: 1 deltas channel, 2 delta mode (item|batch|none), 3 dedup radius m (0 = off),
--       4 dedup window ms, 5 bucket ms, 6 recent-key prefix, 7 bbox "lon0,lat0,lon1,lat1" of
--       the batch's located reports (or ""), 8 the reports' numbers: three little-endian
--       doubles per report record, in order (received ms, lon, lat), 9.. the records, STRIDE
--       (3) arguments each:
--   report: idem_field, header "case_prefix category channel t rec_head rec_tail delta_tail",
--     body. rec_head .. case .. rec_tail is the report's duplicate-candidate record
--     (';category|channel|t|' and '|lon|lat' in 1e-7 degrees; both '' for a report without a point).
--     The body is the payload JSON ending in '"flags":[...],"duplicate_of":""}'; it is stored
--     as sent unless the report is linked, then the script adds duplicate_candidate and the case.
--   update: '', header "case_id idem_field version kind at update_key audit", data
-- Log entries are written in the format of feeds/model.py: h = 'kind\31case\31version\31time', d = payload.
-- Header fields are separated by \31 and read with one pattern match; the body is its own
-- argument, never split or copied here (splitting one string per batch cost ~3 us an event).
-- Answer: the case sequence before this batch, then one answer per record, separated by \30,
-- fields by \31 (JSON escapes control characters, and ingest refuses them in ids, so neither
-- byte can occur inside a field):
--   id                  a new report (its case: its case_prefix and the next sequence number)
--   L id case dup       a new report linked to the earlier case dup
--   D case | A id case version | S case current | X reason detail
--
-- Cost model (server instructions per event, callgrind): the interpreter, not the commands, is
-- the larger part, so the per-report path creates few strings and tables. Per report there is
-- one XADD (and one PUBLISH in live mode); lookups and bookkeeping are one command per batch
-- (HMGET, HSET, MGET, APPEND per bucket); numbers arrive as binary doubles (tonumber's strtod
-- was ~5 %); a new report's answer is its id alone. Duplicate candidates live in one string per
-- time bucket, matched here on a radius-sized grid; the window is trimmed by dropping buckets.
local function batch()  -- (run below with the collector stopped)
local K_LOG, K_IDEM, K_SEQ, K_VER = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local K_BUCKETS, K_CLOSED, K_DSEQ, K_AUDIT = KEYS[5], KEYS[6], KEYS[7], KEYS[8]
local ARGV = ARGV
local channel, mode = ARGV[1], ARGV[2]
local radius, window, bucket_ms = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local bucket_prefix, bbox, NUMS = ARGV[6], ARGV[7], ARGV[8]
local FIRST, STRIDE, NARGV = 9, 3, #ARGV

local find, sub, match, gmatch, format = string.find, string.sub, string.match, string.gmatch, string.format
local call, concat, tonumber, unpack_num = redis.call, table.concat, tonumber, struct.unpack
local cos, floor, RAD, EARTH = math.cos, math.floor, math.pi / 180, 6371008.8
local RS, US = '\30', '\31'
local HEADER = '^([^\31]*)\31([^\31]*)\31([^\31]*)\31([^\31]*)\31([^\31]*)\31([^\31]*)\31(.*)$'  -- 7 fields
local REC = ';([^|;]*)|([^|;]*)|([^|;]*)|([^|;]*)|([^|;]*)|([^|;]*)'  -- ;category|channel|ms|case|lon|lat
local REC_AT = '^;[^|;]*|([^|;]*)|([^|;]*)|([^|;]*)|([^|;]*)|([^|;]*)'  -- the same from a given start
-- A batch of a few records (the live path: one report per POST) reads only its categories'
-- records, found with a plain search; a bulk batch parses every record once.
local LAZY = (NARGV - FIRST + 1) / STRIDE <= 16
local dedup = radius > 0 and bbox ~= ''

local function bulk(cmd, key, list, n)  -- HSET/ZADD/ZREM with many arguments, in chunks
  n = n or #list
  for i = 1, n, 3000 do  -- (even: pairs stay together; below Lua's unpack limit)
    call(cmd, key, unpack(list, i, math.min(i + 2999, n)))
  end
end

local function hmget(key, fields, n)  -- the values, in order (false where none)
  if n <= 3000 then return call('HMGET', key, unpack(fields, 1, n)) end
  local vals = {}
  for i = 1, n, 3000 do
    local part = call('HMGET', key, unpack(fields, i, math.min(i + 2999, n)))
    for j = 1, #part do vals[i + j - 1] = part[j] end
  end
  return vals
end

-- pass 1: the idempotency fields, looked up with one HMGET --------------------------------------
-- The reports' fields come first, in order: the k-th report reads its value as hv[k]; the
-- updates' fields (few) follow, found through upd_keys.
local keys_w, nk = {}, 0
local upd, upd_w = {}, {}  -- record index -> its header fields; the updates' fields to look up
for i = FIRST, NARGV, STRIDE do
  local f = ARGV[i]
  if f ~= '' then
    nk = nk + 1 keys_w[nk] = f
  else
    local u = {match(ARGV[i + 1], HEADER)}
    upd[i] = u
    if u[1] == '' then upd_w[#upd_w + 1] = u[2] end
    if u[6] ~= '' then upd_w[#upd_w + 1] = u[6] end
  end
end
local upd_keys = {}  -- an update's idempotency field -> its position in hv
for _, f in ipairs(upd_w) do nk = nk + 1 keys_w[nk] = f upd_keys[f] = nk end
local hv = nk > 0 and hmget(K_IDEM, keys_w, nk) or {}
local has_upd = next(upd) ~= nil
local idem_new = {}  -- idempotency field -> case, written by this batch

local function idem_get(f)  -- (updates' path)
  local c = idem_new[f]
  if c ~= nil then return c end
  local k = upd_keys[f]
  if k then return hv[k] end
  return call('HGET', K_IDEM, f) or false
end

local ver_cache = {}
if has_upd then
  local want, nw = {}, 0
  for _, u in pairs(upd) do
    local c = u[1]
    if c == '' then c = idem_get(u[2]) end
    if c and ver_cache[c] == nil then ver_cache[c] = 0 nw = nw + 1 want[nw] = c end
  end
  if nw > 0 then
    local vals = hmget(K_VER, want, nw)
    for j = 1, nw do ver_cache[want[j]] = tonumber(vals[j] or '0') end
  end
end

local function ver_get(c)
  local v = ver_cache[c]
  if v == nil then
    v = tonumber(call('HGET', K_VER, c) or '0')
    ver_cache[c] = v
  end
  return v
end

-- duplicate candidates: one string per time bucket of ';category|channel|ms|case|lon|lat'
-- records (lon, lat in 1e-7 degrees), read with one MGET and extended with one APPEND per
-- bucket written (they were geo sets: a GEOADD member per report, three arguments converted
-- from Lua and written to the AOF each). They are matched on a radius-sized grid:
-- cands[category][cell] is a flat list lon, lat, channel, t, case, ...
local cands = {}
local bucket_vals = {}  -- the bucket strings read
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
  local n = #list  -- (one assignment each, in order: a multiple assignment sets its last
  -- target first, past the array part)
  list[n + 1] = lon list[n + 2] = lat list[n + 3] = chan list[n + 4] = t list[n + 5] = case
end
local function add_record(cat, chan, ms, case, lon, lat)  -- a stored record's fields, as text
  add_cand(cat, tonumber(lon) / 1e7, tonumber(lat) / 1e7, chan, tonumber(ms), case)
end
if dedup then
  local _, _, _, s1, _, s3 = find(bbox, '([^,]+),([^,]+),([^,]+),([^,]+)')
  local minlat, maxlat = tonumber(s1), tonumber(s3)
  by = radius / (EARTH * RAD)
  bx = by / math.max(cos((math.max(math.abs(minlat), math.abs(maxlat)) + by) * RAD), 0.01)
  if #KEYS >= 9 then
    for _, v in ipairs(call('MGET', unpack(KEYS, 9))) do
      if v then bucket_vals[#bucket_vals + 1] = v end
    end
  end
  if not LAZY then
    for _, v in ipairs(bucket_vals) do
      for cat, chan, ms, case, lon, lat in gmatch(v, REC) do add_record(cat, chan, ms, case, lon, lat) end
    end
  end
end

local read_cats = {}  -- (LAZY) categories whose records were read
local function cands_of(cat)
  if LAZY and not read_cats[cat] then
    read_cats[cat] = true
    local needle = ';' .. cat .. '|'
    for _, v in ipairs(bucket_vals) do
      local at = find(v, needle, 1, true)
      while at do
        local _, e, chan, ms, case, lon, lat = find(v, REC_AT, at)
        if e then
          add_record(cat, chan, ms, case, lon, lat)
        else  -- not a whole record (cannot happen with what the client sends): look further
          e = at
        end
        at = find(v, needle, e + 1, true)
      end
    end
  end
  return cands[cat]
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
local idem_w, niw, vw, nv = {}, 0, {}, 0  -- HSET pairs, in order (the last one wins)
local recs_w, closed_w, reopened = {}, {}, {}  -- recs_w: bucket id -> its new records' pieces
local deltas, out, no = {}, {seq0}, 1
local maxt_all, first_id, last_id, n_reports = 0, nil, nil, 0
local npos, kq = 1, 0  -- position in NUMS; reports so far (their position in hv)

local LINK_TAIL = '],"duplicate_of":""}'
local function linked(body, dup)  -- flag a linked report and name the case it is linked to
  local head = sub(body, 1, -#LINK_TAIL - 1)  -- ends in '"flags":[' or in its last flag
  local sep = sub(head, -1) == '[' and '' or ','
  return head .. sep .. '"duplicate_candidate"],"duplicate_of":"' .. dup .. '"}'
end

local function report(i, k)
  local idem = ARGV[i]
  local existing = idem_new[idem] or hv[k]
  if existing then
    npos = npos + 24
    no = no + 1 out[no] = 'D' .. US .. existing
    return
  end
  local prefix, category, chan, ts, rec_head, rec_tail, tail = match(ARGV[i + 1], HEADER)
  local t, lon, lat
  t, lon, lat, npos = unpack_num('<ddd', NUMS, npos)
  seq = seq + 1
  local case = prefix .. format('%07d', seq)
  local dup = ''
  local located = dedup and rec_tail ~= ''
  if located then
    local b = cands_of(category)
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
  idem_new[idem] = case
  niw = niw + 2 idem_w[niw - 1] = idem idem_w[niw] = case
  if has_upd then ver_cache[case] = 1 end
  nv = nv + 2 vw[nv - 1] = case vw[nv] = '1'
  if located and dup == '' then  -- linked reports are not targets: later ones link to the first
    local bk = floor(t / bucket_ms)
    local p = recs_w[bk]
    if not p then p = {} recs_w[bk] = p end
    local n = #p
    p[n + 1] = rec_head p[n + 2] = case p[n + 3] = rec_tail
    add_cand(category, lon, lat, chan, t, case)
  end
  if t > maxt_all then maxt_all = t end
  if mode == 'item' then
    deltas[#deltas + 1] = '"id":"' .. id .. '","case":"' .. case .. '","v":1,"dup":"' .. dup .. '",' .. tail
  end
  if not first_id then first_id = id end
  last_id = id
  n_reports = n_reports + 1
  no = no + 1
  if dup == '' then out[no] = id else out[no] = 'L' .. US .. id .. US .. case .. US .. dup end
end

local function answer(a, b, c, d)  -- a tagged answer (updates, refusals)
  no = no + 1
  out[no] = concat({a, b, c, d}, US)
end

local function update(i)
  local f, data = upd[i], ARGV[i + 2]  -- f: case_id ref version kind at update_key audit
  local case = f[1]
  if case == '' then
    case = idem_get(f[2])
    if not case then return answer('X', 'unknown_case', 'no case was reported as ' .. f[2]) end
  end
  local cur = ver_get(case)
  if cur == 0 then return answer('X', 'unknown_case', 'no case ' .. case) end
  local ukey = f[6]
  if ukey ~= '' and idem_get(ukey) then return answer('D', case) end
  local v = tonumber(f[3])
  if v == 0 then v = cur + 1 end
  if v <= cur then return answer('S', case, cur) end
  local kind, at_s = f[4], f[5]
  local id = call('XADD', K_LOG, '*', 'h', kind .. US .. case .. US .. v .. US .. at_s, 'd', data)
  ver_cache[case] = v
  nv = nv + 2 vw[nv - 1] = case vw[nv] = v
  if ukey ~= '' then
    idem_new[ukey] = case
    niw = niw + 2 idem_w[niw - 1] = ukey idem_w[niw] = case
  end
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
  answer('A', id, case, v)
end

for i = FIRST, NARGV, STRIDE do
  if ARGV[i] ~= '' then
    kq = kq + 1
    report(i, kq)
  else
    update(i)
  end
end

-- deferred writes: one command per key for the whole batch -----------------------------------
if seq ~= seq0 then call('SET', K_SEQ, seq) end
if niw > 0 then bulk('HSET', K_IDEM, idem_w, niw) end
if nv > 0 then bulk('HSET', K_VER, vw, nv) end
for bk, p in pairs(recs_w) do  -- one APPEND per bucket written
  call('APPEND', bucket_prefix .. ':r:' .. format('%d', bk), concat(p))
  call('ZADD', K_BUCKETS, bk * bucket_ms, bk)
end
if #closed_w > 0 then bulk('ZADD', K_CLOSED, closed_w) end
if #reopened > 0 then bulk('ZREM', K_CLOSED, reopened) end
if window > 0 and maxt_all > 0 then  -- drop buckets (and closures) that left the window
  local cutoff = maxt_all - window
  if radius > 0 then
    local old = call('ZRANGEBYSCORE', K_BUCKETS, '-inf', cutoff - bucket_ms)
    for _, bk in ipairs(old) do  -- (and the geo set a bucket was before 2026-12-04)
      call('UNLINK', bucket_prefix .. ':r:' .. bk, bucket_prefix .. ':' .. bk)
    end
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
return concat(out, RS)
end

-- One batch's garbage is collected once, after it, not traced again and again while the batch
-- builds it; the collector is restarted whether the batch succeeds or fails.
collectgarbage('stop')
local ok, res = pcall(batch)
collectgarbage('restart')
if not ok then error(res, 0) end
return res
