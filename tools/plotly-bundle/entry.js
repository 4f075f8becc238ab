// The screens' plotly.js: core (scatter) + the traces the product draws, nothing else.
// Built by build.js into assets/vendor/plotly-screens.min.js (see README.md here).
'use strict';

var Plotly = require('plotly.js/lib/core');

Plotly.register([
    require('plotly.js/lib/bar'),            // trends (dashboard/figures.py, tablet_view.py)
    require('plotly.js/lib/scattermap'),     // markers on the map
    require('plotly.js/lib/choroplethmap'),  // heat and outlines on the map
]);

module.exports = Plotly;
