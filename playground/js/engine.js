// The engine (WebAssembly), loaded once; every panel imports the same module: the
// duroxide-wasm npm package as built (build/wasm/package/), in package/ beside the
// page (the development server maps it there; build/playground-site/ holds a copy).
import { createDuroxide } from '../package/index.mjs';

export const dx = await createDuroxide();

// The sample orchestrations the page can start, filter and chart by.
export const catalog = dx.catalog();
