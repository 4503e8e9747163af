// The engine (WebAssembly), loaded once; every panel imports the same module.
import { createDuroxide } from '/wasm/duroxide.mjs';

export const dx = await createDuroxide();

// The sample orchestrations the page can start, filter and chart by.
export const catalog = dx.catalog();
