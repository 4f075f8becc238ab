/* Live push client of the command-hall screens.
 *
 * socket.io (vendored, websocket transport only) brings small view-ready messages from the
 * relay (dashboard/push.py); they are applied with dash_clientside.set_props, as Dash Patch
 * objects where a list or a figure changes, so React/Dash stay the owners of the DOM and no
 * figure is ever redrawn whole. Each message carries the room's seq; the snapshot (a Dash
 * callback reading the read models) carries the seq it was read at. A gap, a reconnect or a
 * silent connection (heartbeat watchdog on timestamps) triggers a resync.
 *
 * Nothing here relies on timers alone: every periodic job runs from requestAnimationFrame
 * *and* a 1 s interval, and both only compare timestamps, so a throttled timer cannot delay
 * the banner or the rotation, and a job never runs twice.
 */
(function () {
  "use strict";
  var HEARTBEAT_LOST_MS = 12000;   // no message or heartbeat for this long: banner (server beats every 3 s)
  var MAP_MIN_INTERVAL_MS = 1000;  // heat layer catches up at most this often (a read on the server, a ~2 ms canvas paint here)
  var MAP_STUCK_MS = 10000;
  var TABLET_REFRESH_MS = 5000;    // the consultation screen follows live data at most this often
  var MARKER_REFRESH_MS = 60000;   // one map round a minute when nothing arrives
  var S = {
    started: false, socket: null, ids: window.LIVE_IDS || {}, page: null, connected: false,
    seq: null, snapSeq: null, pending: true, buffer: [], lists: {}, filters: {},
    lastMsgAt: 0, lastServerAt: 0, serverSkew: 0, lost: false, resyncAt: 0,
    mapDirty: false, mapInFlight: false, mapTickAt: 0, lastSecond: -1, zoomAdj: 0, mapView: null, mapNewView: false,
    rot: { views: [], idx: -1, nextAt: 0, breakUntil: 0, dwellMs: 20000, breakMs: 15000, breakGapMs: 30000, cast: null },
    stats: { applied: 0, resyncs: 0, gaps: 0 }
  };
  window.Live = S;

  // set_props, coalesced per task: all ops of a message (or of messages handled in one task) cost
  // one React update per component (plain props: last wins; Patch objects on the same prop:
  // operations concatenated). Two lanes: what the latency promise is about (ticker, alerts,
  // KPIs, counts, stamps) flushes in a microtask, i.e. before the browser does anything else (a
  // 16 ms timer cost up to 16 ms); the heavy panels (backlog bars, trend, rankings) flush in the
  // next task, so React renders them in a commit of their own instead of holding the fast one.
  function Lane(defer) {
    var L = { q: {}, ids: [], armed: false };
    L.flush = function () {
      L.armed = false;
      var ids = L.ids, q = L.q;
      L.q = {}; L.ids = [];
      for (var i = 0; i < ids.length; i++) {
        try { window.dash_clientside.set_props(ids[i], q[ids[i]]); } catch (e) { /* a component not on this page */ }
      }
      forgetUndoHistory();
    };
    L.arm = function () { if (!L.armed) { L.armed = true; defer(L.flush); } };
    return L;
  }
  // Dash records every set_props in its undo history (dash-renderer: an ON_PROP_CHANGE that is not
  // a callback's response is pushed on history.past with the props it replaced) and never trims it:
  // on a screen that runs for weeks it was the one thing that grew (JS heap +3-5 MB/h at 100x,
  // ~6 arrays per live message in heap snapshots). These screens offer no undo: the past is dropped
  // after each flush (in place: nothing renders from it, and no dispatch per flush).
  function forgetUndoHistory() {
    var stores = window.dash_stores || [];
    for (var i = 0; i < stores.length; i++) {
      var h = stores[i].getState().history;
      if (h && h.past && h.past.length) h.past.length = 0;
    }
  }
  var FAST = Lane(function (f) { Promise.resolve().then(f); }),   // not rAF: flushes in a hidden tab too
      SLOW = Lane(function (f) { setTimeout(f, 0); });
  var SLOW_IDS = null;
  function laneOf(id) {
    if (SLOW_IDS === null) {
      SLOW_IDS = {};
      [S.ids.backlog, S.ids.trend, S.ids.topIssues, S.ids.hotspots, S.ids.dutyHistory, S.ids.map, S.ids.focus].forEach(function (x) { if (x) SLOW_IDS[x] = 1; });
    }
    return SLOW_IDS[id] ? SLOW : FAST;
  }
  function isPatch(v) { return v && typeof v === "object" && v.__dash_patch_update; }
  function sp(id, props) {
    var L = laneOf(id), e = L.q[id];
    if (!e) { e = L.q[id] = {}; L.ids.push(id); }
    for (var k in props) {
      var v = props[k], prev = e[k];
      if (isPatch(v) && prev !== undefined) {
        if (isPatch(prev)) { prev.operations = prev.operations.concat(v.operations); continue; }
        L.flush(); return sp(id, props);         // a patch on a value set in this batch: apply that first
      }
      e[k] = isPatch(v) ? { __dash_patch_update: v.__dash_patch_update, operations: v.operations.slice() } : v;
    }
    L.arm();
    return true;
  }
  function Patch() { return new window.dash_clientside.Patch(); }
  function pad(n) { return (n < 10 ? "0" : "") + n; }
  function hms(ms) {
    // Asia/Shanghai wall time regardless of the browser's zone (UTC+8, no DST)
    var d = new Date(ms + 8 * 3600 * 1000);
    return pad(d.getUTCHours()) + ":" + pad(d.getUTCMinutes()) + ":" + pad(d.getUTCSeconds());
  }
  function serverNow() { return Date.now() + S.serverSkew; }

  // ---------------------------------------------------------------- connection state
  function setConnected(on, reason) {
    S.connected = on;
    var dot = document.getElementById(S.ids.conn);
    if (dot) dot.className = "conn " + (on ? "on" : "off");
    if (!on) showBanner(reason);
  }
  function showBanner(reason) {
    if (S.lost) return;
    S.lost = true;
    var asof = S.lastServerAt ? hms(S.lastServerAt) : "--:--:--";
    sp(S.ids.banner, { className: "banner show",
      children: "实时连接已中断 · 画面数据截至 " + asof + " · 正在自动重连…" + (reason ? "（" + reason + "）" : "") });
  }
  function hideBanner() {
    if (!S.lost) return;
    S.lost = false;
    sp(S.ids.banner, { className: "banner", children: "" });
  }
  function stamp(serverAt) {
    S.lastMsgAt = Date.now();
    if (serverAt) {
      S.lastServerAt = serverAt;
      S.serverSkew = serverAt - Date.now();
      var el = document.getElementById(S.ids.asof);
      if (el) el.setAttribute("data-asof", String(serverAt));
      sp(S.ids.asof, { children: hms(serverAt) });
    }
  }

  // ---------------------------------------------------------------- snapshot / resync
  function resync(reason) {
    var now = Date.now();
    if (S.pending && now - S.resyncAt < 3000) return;   // one in flight
    S.pending = true; S.resyncAt = now; S.stats.resyncs += 1;
    sp(S.page + "-resync", { data: { t: now, reason: reason || "", view: S.mapView } });
  }
  S.onSnapshot = function (meta) {
    if (!meta || meta.seq === undefined || meta.seq === null) return null;
    S.snapSeq = meta.seq; S.seq = meta.seq; S.pending = false;
    S.lists = {}; S.filters = meta.filters || {};
    var lists = meta.lists || {};
    Object.keys(lists).forEach(function (id) {
      var m = lists[id];
      S.lists[id] = { keys: m.keys.slice(), sorts: m.sorts.slice(), orders: (m.orders || []).slice(), max: m.max,
        names: m.keys.map(function (k) { return k === null ? null : ["data-key", "data-case", "data-tag", "data-t", "data-deadline"]; }),
        next: Math.min.apply(null, [0].concat(m.orders || [])) };
    });
    if (meta.views) { S.rot.views = meta.views; }
    if (meta.rotate !== undefined) { S.rot.enabled = !!meta.rotate; }
    if (meta.cast !== undefined) {                      // a cast made or released while this screen was away
      var changed = JSON.stringify(meta.cast) !== JSON.stringify(S.rot.cast);
      S.rot.cast = meta.cast;
      if (changed && S.started && S.page === "wall") applyCast();
    }
    if (meta.at) stamp(meta.at);
    var buffered = S.buffer; S.buffer = [];
    buffered.forEach(onMessage);
    fillCountdowns();
    return null;
  };
  // the live layers' catch-up landed (and was painted by the store's clientside callback):
  // the next round may start; rounds never overlap
  S.onMapDone = function () { S.mapInFlight = false; return null; };
  S.onHeat = function (d) { if (window.LiveMap) window.LiveMap.setData(d); return null; };
  // tablet playback: one clock (ms of data time) drives every panel through one callback
  S.onPlayState = function (st) {
    S.play = (st && st.active) ? { start: st.start, end: st.end, speed: st.speed || 300,
      wallStart: Date.now(), lastTick: Date.now(), done: false } : null;
    return null;
  };
  function playTick(now) {
    var P = S.play;
    if (!P || P.done || now - P.lastTick < 1000) return;
    P.lastTick = now;
    var t = P.start + (now - P.wallStart) * P.speed;
    if (t >= P.end) { t = P.end; P.done = true; }
    sp(S.ids.playClock, { data: Math.round(t) });
  }

  // ---------------------------------------------------------------- applying messages
  function onMessage(m) {
    stamp(m.at);
    if (S.pending) { S.buffer.push(m); if (S.buffer.length > 5000) S.buffer.shift(); return; }
    if (m.f) {                                          // follow-up of a range: fresh reads, apply unless older than the snapshot
      if (m.s >= S.snapSeq && m.s <= S.seq) (m.ops || []).forEach(applyOp);
      return;
    }
    if (m.s <= S.seq) return;                           // already in the snapshot
    if (m.s0 > S.seq + 1) { S.stats.gaps += 1; S.buffer.push(m); resync("gap"); return; }
    S.seq = m.s;                                        // ops are idempotent upserts: overlap is fine
    (m.ops || []).forEach(applyOp);
    S.stats.applied += 1;
  }
  function applyOp(op) {
    switch (op.t) {
      case "props": sp(op.id, op.p); break;
      case "list": applyList(op); break;
      case "prepend": applyPrepend(op); break;
      case "map": if (window.LiveMap && S.page === "wall") window.LiveMap.addPoints(op.pts); S.mapDirty = true; break;
      case "alert": onAlert(op); break;
      case "cast": S.rot.cast = op.view; applyCast(); break;
      case "dirty": S.tabDirty = true; break;
      case "resync": resync("server"); break;
    }
  }
  function matches(op) {
    if (!op.match) return true;
    for (var k in S.filters) {
      if (S.filters[k] && op.match[k] !== undefined && op.match[k] !== S.filters[k]) return false;
    }
    return true;
  }
  function applyPrepend(op) {
    var p = Patch().prepend([], op.item);
    if (op.max) p = p.delete([op.max]);
    sp(op.id, { children: p.build() });
  }
  // keyed list in fixed slots (panels.slotted): upsert / remove one row = set_props on one slot,
  // so only that slot renders (Dash re-renders every child of a list whose children change);
  // the visual order is each row's CSS order: the engine's urgency for alerts, newest first for
  // the ticker (new rows count down below the snapshot's 0..n-1)
  function slotId(listId, i) { return listId + "-s" + i; }
  function worstSlot(L) {
    var w = -1;
    for (var i = 0; i < L.keys.length; i++) {
      if (L.keys[i] !== null && (w < 0 || L.sorts[i] > L.sorts[w])) w = i;
    }
    return w;
  }
  function slotProps(item, order) {
    var src = (item && item.props) || {}, out = {};
    for (var k in src) { if (k !== "id" && k !== "key") out[k] = src[k]; }
    if (out.children === undefined) out.children = null;
    out.style = Object.assign({}, src.style || {}, { order: order });
    return out;
  }
  function applyList(op) {
    var L = S.lists[op.id];
    if (!L) return;
    var i = L.keys.indexOf(op.key);
    var keep = op.item && matches(op);
    var props;
    if (!keep) {
      if (i < 0) return;
      props = { children: null, className: "slot-empty", style: { order: 0 } };
      (L.names[i] || []).forEach(function (k) { if (k.indexOf("data-") === 0) props[k] = null; });
      L.keys[i] = null; L.sorts[i] = null; L.orders[i] = 0; L.names[i] = null;
    } else {
      var order;
      if (i >= 0) {
        order = op.order !== undefined ? op.order : L.orders[i];
      } else {
        i = L.keys.indexOf(null);
        if (i < 0) {                                    // full: the new row replaces the last one, if it ranks above it
          var w = worstSlot(L);
          if (w < 0 || L.sorts[w] <= op.sort) return;
          i = w;
        }
        order = op.order !== undefined ? op.order : (L.next = Math.min(L.next, 0) - 1);
      }
      props = slotProps(op.item, order);
      L.keys[i] = op.key; L.sorts[i] = op.sort; L.orders[i] = order; L.names[i] = Object.keys(props);
    }
    sp(slotId(op.id, i), props);
    if (op.count_id) sp(op.count_id, { children: String(op.count) });
    window.requestAnimationFrame(fillCountdowns);
  }
  // ---------------------------------------------------------------- alerts: flash, sound, break-in
  function beep() {
    var box = document.querySelector("#" + S.ids.dutySound + " input");
    if (!box || !box.checked) return;
    try {
      var ctx = S.audio || (S.audio = new (window.AudioContext || window.webkitAudioContext)());
      var o = ctx.createOscillator(), g = ctx.createGain();
      o.frequency.value = 880; g.gain.value = 0.15; o.connect(g); g.connect(ctx.destination);
      o.start(); o.stop(ctx.currentTime + 0.35);
    } catch (e) { /* audio is optional */ }
  }
  function onAlert(op) {
    if (S.page === "duty") beep();
    // one break-in at a time, and a pause between them, so a burst of alerts cannot make the map jump
    var now = Date.now();
    // (part of the rotation: a wall with ?rotate=0 keeps its view)
    if (S.page === "wall" && S.rot.enabled && op.breakin && op.view && !S.rot.cast && now > S.rot.breakUntil + S.rot.breakGapMs) {
      S.rot.breakUntil = now + S.rot.breakMs;
      S.rot.nextAt = S.rot.breakUntil;
      focusView(op.view, true);
    }
  }

  // ---------------------------------------------------------------- wall: map focus rotation
  function focusView(v, urgent) {
    if (!v) return;
    var p = Patch().assign(["layout", "map", "center"], v.center).assign(["layout", "map", "zoom"], v.zoom + S.zoomAdj);
    var street = (v.code && v.code.length > 6) ? v.code : null;   // a street code (the district's is 6 digits)
    if (street !== S.mapView) { S.mapView = street; S.mapNewView = true; S.mapDirty = true; }
    sp(S.ids.map, { figure: p.build() });
    sp(S.ids.focus, { children: [v.name, { type: "Span", namespace: "dash_html_components",
      props: { className: "sub", children: v.sub || (urgent ? "新告警 · 临时聚焦" : "轮巡") } }] });
  }
  function applyCast() {
    if (S.page !== "wall") return;
    var c = S.rot.cast;
    sp(S.ids.cast, { children: c ? "领导投屏 · " + (c.label || "") : "" });
    if (c && c.view) focusView(c.view);
    else if (S.rot.views.length) { S.rot.idx = 0; focusView(S.rot.views[0]); }
  }
  function rotate(now) {
    var R = S.rot;
    if (S.page !== "wall" || !R.enabled || R.cast || !R.views.length) return;
    if (now < R.breakUntil || now < R.nextAt) return;
    R.idx = (R.idx + 1) % R.views.length;
    R.nextAt = now + R.dwellMs;
    focusView(R.views[R.idx]);
  }

  // ---------------------------------------------------------------- periodic work (timestamps only)
  function fillCountdowns() {
    var now = serverNow();
    var els = document.querySelectorAll(".countdown[data-deadline]");
    for (var i = 0; i < els.length; i++) {
      var dl = +els[i].getAttribute("data-deadline");
      var left = Math.round((dl - now) / 1000), sign = left < 0 ? "超 " : "剩 ";
      left = Math.abs(left);
      var h = Math.floor(left / 3600), m = Math.floor((left % 3600) / 60), s = left % 60;
      var txt = sign + (h > 0 ? h + ":" + pad(m) : m) + ":" + pad(s);
      if (h >= 48) txt = sign + Math.floor(h / 24) + "天";
      if (els[i].textContent !== txt) els[i].textContent = txt;
    }
  }
  function tick() {
    var now = Date.now();
    var sec = Math.floor(now / 1000);
    if (sec !== S.lastSecond) {
      S.lastSecond = sec;
      var clock = document.getElementById(S.ids.clock);
      if (clock) clock.textContent = hms(serverNow());
      fillCountdowns();
      if (S.page === "wall" && window.LiveMap) window.LiveMap.tick(S.serverSkew);
    }
    if (S.lastMsgAt && now - S.lastMsgAt > HEARTBEAT_LOST_MS) {
      showBanner("心跳超时");
      if (S.socket && S.socket.connected && now - S.lastMsgAt > HEARTBEAT_LOST_MS * 2) {
        S.socket.disconnect(); S.socket.connect();   // a half-open socket: start over
        S.lastMsgAt = now - HEARTBEAT_LOST_MS;
      }
    }
    if (S.pending && S.connected && now - S.resyncAt > 8000) { S.pending = false; resync("retry"); }
    if (S.mapInFlight && now - S.mapTickAt > MAP_STUCK_MS) S.mapInFlight = false;
    if (S.page === "wall" && now - S.mapTickAt > MARKER_REFRESH_MS) S.mapDirty = true;  // re-read once a minute when all is quiet
    if (S.mapDirty && !S.mapInFlight && now - S.mapTickAt >= MAP_MIN_INTERVAL_MS && S.page === "wall") {
      S.mapDirty = false; S.mapInFlight = true; S.mapTickAt = now;
      sp(S.ids.mapTick, { data: { t: now, seq: S.seq, view: S.mapView, newView: S.mapNewView } });
      S.mapNewView = false;
    }
    if (S.tabDirty && now - (S.tabAt || 0) >= TABLET_REFRESH_MS) {
      S.tabDirty = false; S.tabAt = now;
      sp(S.ids.tabLive, { data: now });
    }
    if (S.page === "tablet") playTick(now);
    rotate(now);
  }
  function rafLoop() { tick(); window.requestAnimationFrame(rafLoop); }

  // ---------------------------------------------------------------- fit the wall to its screen
  // Views carry zooms fitted to a 900x820 px map; a 4K wall (or a small test window) differs.
  // Plotly sizes fonts in px: scale the trend's type with the root font size (1/120 of the width).
  var REF_MAP_W = 900, REF_MAP_H = 820;
  function fitWall() {
    var m = document.getElementById(S.ids.map);
    if (m && m.clientWidth > 0) {
      S.zoomAdj = Math.log(Math.min(m.clientWidth / REF_MAP_W, m.clientHeight / REF_MAP_H)) / Math.LN2;
      var c = S.rot.cast;
      focusView((c && c.view) || S.rot.views[0]);
    }
    var r = parseFloat(getComputedStyle(document.documentElement).fontSize) || 16;
    var f = Math.round(r * 0.85), t = Math.round(r * 0.8);
    var p = Patch().assign(["layout", "font", "size"], f).assign(["layout", "legend", "font", "size"], f);
    ["xaxis", "yaxis", "xaxis2", "yaxis2"].forEach(function (ax) { p.assign(["layout", ax, "tickfont", "size"], t); });
    [0, 1].forEach(function (i) { p.assign(["layout", "annotations", i, "font", "size"], f); });
    sp(S.ids.trend, { figure: p.build() });
  }

  // ---------------------------------------------------------------- start
  function start() {
    if (S.started) return;
    var screen = document.querySelector("[data-live-page]");
    if (!screen || !window.io || !window.dash_clientside || !window.dash_clientside.set_props || !window.LIVE_IDS) return;
    S.started = true;
    S.ids = window.LIVE_IDS;
    S.page = screen.getAttribute("data-live-page");
    S.rot.dwellMs = +(screen.getAttribute("data-rotate-ms") || 20000);
    var socket = window.io({ transports: ["websocket"], query: { page: S.page }, reconnectionDelay: 500,
      reconnectionDelayMax: 3000, timeout: 5000 });
    S.socket = socket;
    socket.on("connect", function () {
      setConnected(true); S.lastMsgAt = Date.now();
    });
    socket.on("hello", function (h) {
      // h: {at, seq}; the page's own snapshot (rendered with the layout) may already be current
      stamp(h.at);
      if (S.pending || S.seq === null || h.seq !== S.seq) resync("connect");
      hideBanner();
    });
    socket.on("disconnect", function (reason) { setConnected(false, reason === "io server disconnect" ? "服务端断开" : ""); });
    socket.on("connect_error", function () { setConnected(false); });
    socket.on("d", onMessage);
    socket.on("cast", function (c) { S.rot.cast = c || null; applyCast(); S.mapDirty = true; });
    socket.on("hb", function (h) {
      stamp(h.at);
      if (S.connected) hideBanner();
      if (!S.pending && S.seq !== null && h.seq > S.seq) { S.stats.gaps += 1; resync("heartbeat"); }
    });
    if (S.page === "wall") window.requestAnimationFrame(fitWall);
    window.requestAnimationFrame(rafLoop);
    setInterval(tick, 1000);
  }
  // taps on rendered rows/buttons: one small request each (no pattern-matching fan-in)
  document.addEventListener("click", function (e) {
    if (!S.started || !e.target.closest) return;
    var a = e.target.closest("[data-action]");
    if (a && !a.disabled) {
      sp(S.ids.dutyAction, { data: { action: a.getAttribute("data-action"), alert: a.getAttribute("data-alert"), t: Date.now() } });
      return;
    }
    var n = e.target.closest("[data-nav]");
    if (n) sp(S.ids.tabNav, { data: { nav: n.getAttribute("data-nav"), t: Date.now() } });
  });
  function waitStart() { start(); if (!S.started) setTimeout(waitStart, 50); }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", waitStart);
  else waitStart();
})();
