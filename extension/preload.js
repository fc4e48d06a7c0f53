// Starts fetching and compiling the wasm core at once, while the page and the core's glue
// script are still being parsed; the page's loader hands this promise to wasm_bindgen() (which
// awaits it). If streaming compilation is refused, the loader falls back to the file's URL.
globalThis.canarySwitchModule = WebAssembly.compileStreaming(fetch('canary_switch_bg.wasm')).catch(
  () => 'canary_switch_bg.wasm',
);
