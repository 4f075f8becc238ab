// Builds assets/vendor/plotly-screens.min.js from entry.js with plotly.js's own esbuild
// settings (esbuild-config.js of plotly.js 4.1.1), minified. Run: npm ci && node build.js
'use strict';

const path = require('path');
const esbuild = require('esbuild');
const { environmentPlugin } = require('esbuild-plugin-environment');
const { glsl } = require('esbuild-plugin-glsl');
const InlineCSSPlugin = require('esbuild-plugin-inline-css');

const out = path.resolve(__dirname, '../../assets/vendor/plotly-screens.min.js');
const version = require('plotly.js/package.json').version;

esbuild.build({
    entryPoints: [path.join(__dirname, 'entry.js')],
    outfile: out,
    format: 'iife',
    globalName: 'Plotly',
    bundle: true,
    minify: true,
    sourcemap: false,
    legalComments: 'none',
    // idempotent: the page may start it early (dashboard/app.py) and dcc.Graph load it again
    banner: { js: `/* plotly.js v${version} (MIT), partial bundle: scatter, bar, scattermap, choroplethmap; ` +
                   'built by tools/plotly-bundle */\n(function () { "use strict"; if (window.Plotly) return;' },
    footer: { js: 'window.Plotly = Plotly; })();' },
    plugins: [InlineCSSPlugin(), glsl({ minify: true }), environmentPlugin({ NODE_DEBUG: false })],
    alias: { regl: '@plotly/regl', stream: 'stream-browserify' },
    define: { global: 'window', 'define.amd': 'false' },
    target: 'es2016',
    logLevel: 'info',
}).catch(() => process.exit(1));
