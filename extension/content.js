// Content script loader, injected by the background into GitLab pages once they have loaded,
// after ext-compat.js and the core's glue (canary_switch.js, defining `wasm_bindgen`). The
// message listener is registered at once, so the session check can ask this page before the
// core is ready. All logic is in Rust (src/content.rs).
//
// The module is compiled from its bytes, not streamed: streaming compilation does its decoding
// on the page's main thread as the bytes arrive (4-6 ms of the page's time for this module in
// ./build.sh bench), WebAssembly.instantiate(bytes) does it on a background thread.
{
  const ready = fetch(ext.runtime.getURL('canary_switch_bg.wasm'))
    .then((r) => r.arrayBuffer())
    .then((bytes) => wasm_bindgen({ module_or_path: bytes }));
  // Settles once the page has been reported; a failed report (the background restarting: the
  // next page reports again) is logged and does not stop identity probes.
  const detected = ready
    .then(() => wasm_bindgen.content_main())
    .catch((e) => console.debug('Canary Switch:', e));
  ext.runtime.onMessage.addListener((message, _sender, sendResponse) => {
    if (!message || message.type !== 'whoAmI') return false;
    detected
      .then(() => wasm_bindgen.content_who_am_i())
      .then(sendResponse, () => sendResponse(null));
    return true;
  });
}
