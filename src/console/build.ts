// Bundles the browser console (src/console/web) into dist/console with esbuild: app.js, app.css
// (with uPlot's stylesheet) and index.html. Run by `npm run build` after tsc; the server
// serves the result, so nothing is fetched from the internet at run time.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { distRoot, repoRoot } from '../paths.js';

const web = join(repoRoot, 'src', 'console', 'web');
const out = join(distRoot, 'console');
mkdirSync(out, { recursive: true });
await build({
  entryPoints: [
    { in: join(web, 'main.ts'), out: 'app' },
    { in: join(web, 'style.css'), out: 'app' },
  ],
  outdir: out,
  bundle: true,
  format: 'esm',
  target: ['chrome110', 'firefox115', 'safari16'],
  minify: true,
  sourcemap: true,
  legalComments: 'linked',
  logLevel: 'warning',
});
copyFileSync(join(web, 'index.html'), join(out, 'index.html'));
