/* The wall map's live layers: H3 heat and the markers of new reports, painted on a 2D canvas
 * laid over the Plotly/MapLibre map and projected with the map's own transform.
 *
 * Why not map traces: without a GPU (software WebGL, as on many wall PCs and in our headless
 * tests) every restyle of a map trace re-tiles its GeoJSON and redraws the whole map, 0.2-0.5 s
 * of the main thread per heat round, and every live message arriving meanwhile waits. Painting
 * ~300 cells here costs ~2 ms and leaves MapLibre alone: it redraws only when the view changes,
 * and this layer follows it on the map's "render" event.
 *
 * Data: the page's dcc.Store (dashboard.figures.heat_layer: GeoJSON url, cells, z, zmax, colour
 * ramp, markers) patched by the paced catch-up callback, plus markers pushed over socket.io the
 * moment a report arrives (LiveMap.addPoints). Nothing here computes business figures.
 */
(function () {
  "use strict";
  var M = {
    data: null,          // the store's value
    geom: {},            // url -> {cellId: [ring, ...]}, a ring as one Float64Array [lon, lat, lon, lat, ...]
    loading: {},         // url -> true while fetched
    markers: {},         // key -> [lon, lat, colour, receivedAt]
    map: null,           // the MapLibre map we are hooked to
    ramp: null, rampSrc: null,
    skew: 0,             // server clock - browser clock (ms), from live.js
    painted: null,       // {t, sum, cells, markers} of the last paint with data (tests, benchmarks)
    paints: 0
  };
  window.LiveMap = M;

  function graphDiv() {
    var ids = window.LIVE_IDS || {};
    return document.querySelector("#" + (ids.map || "wall-map") + " .js-plotly-plot");
  }
  function mapOf(gd) {
    var fl = gd && gd._fullLayout;
    return fl && fl.map && fl.map._subplot && fl.map._subplot.map || null;
  }
  function canvas() {
    var ids = window.LIVE_IDS || {};
    return document.getElementById(ids.heatCanvas || "wall-heat-canvas");
  }

  // ------------------------------------------------------------------ colour ramp (Plotly's colorscale)
  function parseColour(c) {
    if (c.charAt(0) === "#") {
      return [parseInt(c.substr(1, 2), 16), parseInt(c.substr(3, 2), 16), parseInt(c.substr(5, 2), 16), 1];
    }
    var m = c.match(/rgba?\(([^)]+)\)/);
    if (!m) return [0, 0, 0, 0];
    var p = m[1].split(",").map(function (x) { return parseFloat(x); });
    return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
  }
  function rampOf(scale) {
    if (M.rampSrc === scale && M.ramp) return M.ramp;
    M.rampSrc = scale;
    M.ramp = (scale || []).map(function (s) { return [+s[0], parseColour(s[1])]; });
    return M.ramp;
  }
  function colourAt(ramp, t) {
    if (!ramp.length) return "rgba(0,0,0,0)";
    if (t <= ramp[0][0]) return css(ramp[0][1]);
    for (var i = 1; i < ramp.length; i++) {
      if (t <= ramp[i][0]) {
        var a = ramp[i - 1], b = ramp[i], f = (t - a[0]) / ((b[0] - a[0]) || 1);
        return css([a[1][0] + f * (b[1][0] - a[1][0]), a[1][1] + f * (b[1][1] - a[1][1]),
                    a[1][2] + f * (b[1][2] - a[1][2]), a[1][3] + f * (b[1][3] - a[1][3])]);
      }
    }
    return css(ramp[ramp.length - 1][1]);
  }
  function css(c) { return "rgba(" + Math.round(c[0]) + "," + Math.round(c[1]) + "," + Math.round(c[2]) + "," + c[3] + ")"; }

  // ------------------------------------------------------------------ geometry of a view's cells
  function idOf(f, key) {
    if (!key || key === "id") return f.id;
    var path = key.split("."), v = f;
    for (var i = 0; i < path.length && v; i++) v = v[path[i]];
    return v;
  }
  // A ring as one typed array, not an array of [lon, lat] arrays: the wall keeps every street's
  // cells it has rotated through (~14,000 cells at res 9, bounded by the district), and nine JS
  // arrays per cell were ~130,000 objects for every major GC to trace, for the page's lifetime.
  function flatRings(rings) {
    return rings.map(function (ring) {
      var out = new Float64Array(ring.length * 2);
      for (var i = 0; i < ring.length; i++) { out[2 * i] = ring[i][0]; out[2 * i + 1] = ring[i][1]; }
      return out;
    });
  }
  function loadGeom(url, key) {
    if (!url || M.geom[url] || M.loading[url] || Date.now() - (M.failedAt || 0) < 5000) return;
    M.loading[url] = true;
    fetch(url).then(function (r) { return r.json(); }).then(function (fc) {
      var g = {};
      (fc.features || []).forEach(function (f) {
        var geo = f.geometry || {}, id = idOf(f, key);
        if (id === undefined || id === null) return;
        if (geo.type === "Polygon") g[id] = flatRings(geo.coordinates);
        else if (geo.type === "MultiPolygon") g[id] = flatRings([].concat.apply([], geo.coordinates));
      });
      M.geom[url] = g;
      delete M.loading[url];
      M.paint(true);
    }).catch(function (e) { delete M.loading[url]; M.errors = (M.errors || 0) + 1; M.lastError = String(e); M.failedAt = Date.now(); });
  }

  // ------------------------------------------------------------------ data in
  M.setData = function (d) {
    if (!d) return;
    M.data = d;
    loadGeom(d.url, d.key);
    var mk = d.markers || {}, keep = {}, i;
    var since = (d.at || 0) - 2000;               // pushed markers newer than the read stay
    for (var k in M.markers) { if (M.markers[k][3] >= since) keep[k] = M.markers[k]; }
    for (i = 0; i < (mk.lat || []).length; i++) {
      keep[(mk.key && mk.key[i]) || ("m" + i)] = [mk.lon[i], mk.lat[i], mk.color[i], (mk.at && mk.at[i]) || d.at || 0];
    }
    M.markers = keep;
    M.paint(true);
  };
  M.addPoints = function (pts) {
    (pts || []).forEach(function (p) { M.markers[p[0]] = [p[1], p[2], p[3], p[4]]; });
    M.paint(false);
  };

  // ------------------------------------------------------------------ painting
  function hook() {
    var map = mapOf(graphDiv());
    if (!map || map === M.map) return map;
    M.map = map;
    map.on("render", function () { if (map === M.map) M.paint(false); });
    return map;
  }
  function place(cv, map) {
    // the overlay covers the map's canvas exactly, in CSS px, with a backing store at device scale
    var mc = map.getCanvas(), parent = cv.offsetParent || cv.parentNode;
    var r = mc.getBoundingClientRect(), pr = parent.getBoundingClientRect();
    var w = Math.round(r.width), h = Math.round(r.height), dpr = window.devicePixelRatio || 1;
    var left = Math.round(r.left - pr.left), top = Math.round(r.top - pr.top);
    if (cv._w !== w || cv._h !== h || cv._l !== left || cv._t !== top || cv._d !== dpr) {
      cv.style.left = left + "px"; cv.style.top = top + "px";
      cv.style.width = w + "px"; cv.style.height = h + "px";
      cv.width = Math.max(1, Math.round(w * dpr)); cv.height = Math.max(1, Math.round(h * dpr));
      cv._w = w; cv._h = h; cv._l = left; cv._t = top; cv._d = dpr;
    }
    return dpr;
  }
  M.paint = function (fresh) {
    var cv = canvas(), map = hook(), d = M.data;
    if (!cv || !map || !d) return false;
    var dpr = place(cv, map), ctx = cv.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, cv._w, cv._h);
    var g = M.geom[d.url], sum = 0, drawn = 0, i, j, k, pt = [0, 0];
    if (!g) loadGeom(d.url, d.key);               // (again, if a fetch failed: the wall runs for weeks)
    if (g) {
      var ramp = rampOf(d.scale), zmax = d.zmax || 1, cells = d.cells || [], z = d.z || [];
      ctx.globalAlpha = d.opacity === undefined ? 0.8 : d.opacity;
      for (i = 0; i < cells.length; i++) {
        var v = +z[i] || 0;
        sum += v;
        if (v <= 0) continue;
        var rings = g[cells[i]];
        if (!rings) continue;
        ctx.beginPath();
        for (j = 0; j < rings.length; j++) {
          var ring = rings[j];
          for (k = 0; k < ring.length; k += 2) {
            pt[0] = ring[k]; pt[1] = ring[k + 1];
            var p = map.project(pt);
            if (k === 0) ctx.moveTo(p.x, p.y); else ctx.lineTo(p.x, p.y);
          }
          ctx.closePath();
        }
        ctx.fillStyle = colourAt(ramp, Math.min(1, v / zmax));
        ctx.fill("evenodd");
        drawn += 1;
      }
    }
    // markers: newest opaque, fading over fade_ms (the same rule as figures.marker_arrays)
    var now = Date.now() + M.skew, fade = d.fade_ms || 600000, r = (d.marker_size || 16) / 2, n = 0;
    ctx.lineWidth = 1.5;
    for (var key in M.markers) {
      var m = M.markers[key], age = now - m[3];
      if (age > fade) { delete M.markers[key]; continue; }
      var q = map.project([m[0], m[1]]);
      ctx.globalAlpha = Math.max(0.15, 1 - Math.max(0, age) / fade);
      ctx.beginPath(); ctx.arc(q.x, q.y, r, 0, 2 * Math.PI);
      ctx.fillStyle = m[2]; ctx.fill();
      ctx.strokeStyle = "#ffffff"; ctx.stroke();
      n += 1;
    }
    ctx.globalAlpha = 1;
    M.paints += 1;
    if (fresh && g) {
      M.painted = { t: performance.timeOrigin + performance.now(), sum: sum, cells: drawn, markers: n };
      try { window.dispatchEvent(new CustomEvent("live-heat", { detail: M.painted })); } catch (e) { /* old browsers */ }
    }
    return true;
  };
  // once a second from live.js: markers fade (a 2 ms repaint, never a map redraw)
  M.tick = function (skew) {
    M.skew = skew || 0;
    var any = false;
    for (var k in M.markers) { any = true; break; }
    if (any || (M.data && !M.painted)) M.paint(!M.painted);
    else hook();
  };
})();
