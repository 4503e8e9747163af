// --pre-js for wasm builds that run under Node (test executables).
// Emscripten 3.1.6 loads the .wasm with the global fetch() whenever one exists; Node >= 18
// has one, but it cannot fetch a file path ("Failed to parse URL from ...wasm"). Hide fetch
// under Node so the loader reads the file from disk; in a browser this keeps the real fetch.
var fetch = (typeof process === 'object' && process.versions && process.versions.node)
  ? undefined
  : globalThis.fetch;
