// Popup loader: load the pages' wasm module (glue in canary_switch_pages.js), then hand the
// page to Rust (extension/crates/pages/src/popup.rs).
// What every popup reads first is asked for now, so that the browser answers while the module
// compiles; Rust decides what to use of it (popup_main).
const local = ext.storage.local.get(null);
const active = ext.tabs.query({ active: true, currentWindow: true });
wasm_bindgen({ module_or_path: 'canary_switch_pages_bg.wasm' })
  .then(() => wasm_bindgen.popup_main(local, active))
  .catch((e) => {
    console.error('Canary Switch:', e);
    const p = document.querySelector('[data-testid=error]');
    p.textContent = ext.i18n.getMessage('errStartup', [String(e && e.message)]);
    p.hidden = false;
    document.body.dataset.ready = 'error';
  });
