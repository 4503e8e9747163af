// A static file server for the playground, bound to 127.0.0.1 only:
//   node scripts/static-server.mjs [port]
// serves playground/ at /, the duroxide-wasm package (build/wasm/package/) at /package/
// and the built JS module (build/wasm/web/) at /wasm/.
// No server logic: everything the playground does runs in the browser.
import http from 'node:http';
import { createReadStream, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const port = Number(process.argv[2] ?? process.env.PORT ?? 8080);
const mounts = [
  ['/package/', path.join(root, 'build/wasm/package')],
  ['/wasm/', path.join(root, 'build/wasm/web')],
  ['/', path.join(root, 'playground')],
];
const types = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.mjs': 'text/javascript',
  '.css': 'text/css', '.wasm': 'application/wasm', '.json': 'application/json',
  '.ts': 'text/plain; charset=utf-8', '.svg': 'image/svg+xml', '.png': 'image/png',
};

function resolve(urlPath) {
  for (const [prefix, dir] of mounts) {
    if (!urlPath.startsWith(prefix)) continue;
    const relative = decodeURIComponent(urlPath.slice(prefix.length)) || 'index.html';
    const file = path.resolve(dir, relative);
    if (file !== dir && !file.startsWith(dir + path.sep)) return null;  // no escaping the mount
    return file;
  }
  return null;
}

const server = http.createServer((request, response) => {
  let file = null;
  try {
    file = resolve(new URL(request.url, 'http://127.0.0.1').pathname);
    if (file && statSync(file).isDirectory()) file = path.join(file, 'index.html');
    if (!file || !statSync(file).isFile()) throw new Error('not found');
  } catch {
    response.writeHead(404, { 'content-type': 'text/plain' });
    response.end('not found\n');
    return;
  }
  response.writeHead(200, {
    'content-type': types[path.extname(file)] ?? 'application/octet-stream',
    'cache-control': 'no-cache',
  });
  createReadStream(file).pipe(response);
});
server.listen(port, '127.0.0.1', () => {
  console.log(`Playground: http://127.0.0.1:${server.address().port}/`);
});
