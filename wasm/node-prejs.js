// --pre-js for wasm builds that run under Node (test executables).
if (typeof process === 'object' && process.versions && process.versions.node) {
  // Wasm tail calls (-mtail-call, needed for coroutine symmetric transfer) are on by default
  // from Node 20; Debian 12's own nodejs is 18.x, where they sit behind a V8 flag. If a tiny
  // module using return_call does not validate, turn the flag on before our module compiles.
  var tailCallProbe = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 4, 1, 96, 0, 0,
                                      3, 2, 1, 0, 10, 6, 1, 4, 0, 18, 0, 11]);
  if (!WebAssembly.validate(tailCallProbe)) {
    require('v8').setFlagsFromString('--experimental-wasm-return-call');
  }
}
// Emscripten 3.1.6 loads the .wasm with the global fetch() whenever one exists; Node >= 18
// has one, but it cannot fetch a file path ("Failed to parse URL from ...wasm"). Hide fetch
// under Node so the loader reads the file from disk; in a browser this keeps the real fetch.
var fetch = (typeof process === 'object' && process.versions && process.versions.node)
  ? undefined
  : globalThis.fetch;
