// The screens' plotly.js: core (scatter) + the traces the product draws, nothing else.
// Built by build.js into assets/vendor/plotly-screens.min.js (see README.md here).
'use strict';

var Plotly = require('plotly.js/lib/core');

Plotly.register([
    require('plotly.js/lib/bar'),            // trends (dashboard/figures.py, tablet_view.py)
    require('plotly.js/lib/scattermap'),     // markers on the map
    require('plotly.js/lib/choroplethmap'),  // heat and outlines on the map
]);


// MapLibre's web worker compiles ~0.5 MB of code before it can tile the map's first GeoJSON:
// started here (maplibre-gl's prewarm), it is ready by the time the page's content arrives and
// plotly.js creates the map, instead of starting then (~150 ms of the wall's first render).
// Plotly points maplibre-gl at the same inlined worker source when it creates its first map;
// the pool prewarm() made is the one that map uses.
var maplibregl = require('maplibre-gl/dist/maplibre-gl.mjs');
var workerSource = require('plotly.js/build/maplibre_worker');
maplibregl.setWorkerUrl(URL.createObjectURL(new Blob([workerSource], { type: 'text/javascript' })));
maplibregl.prewarm();

module.exports = Plotly;
