// --pre-js of the JavaScript module (duroxide_core.mjs). Emscripten 3.1.6's ES module
// reaches for `require` and `__dirname` under node, which an ES module does not have
// (docs/toolchain.md, note 8). The package's loader (index.mjs) hands them in as module
// options, so nothing global is needed; callers that still set the globals keep working.
// In a browser both stay undefined and are never used.
var require = Module['nodeRequire'] || globalThis.require;
var __dirname = Module['nodeDirname'] || globalThis.__dirname;
