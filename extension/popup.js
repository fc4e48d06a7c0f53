// Popup loader: load the pages' wasm module (glue in canary_switch_pages.js), then hand the
// page to Rust (extension/crates/pages/src/popup.rs).
// What every popup reads first is asked for now, so that the browser answers while the module
// compiles; Rust decides what to use of it (popup_main).
const local = ext.storage.local.get(null);
const active = ext.tabs.query({ active: true, currentWindow: true });
const session = ext.storage.session.get(null);
// The default store's gitlab_canary cookies (Rust asks again for another store, or when the
// browser wants a first-party domain: then this promise rejects).
const canary = ext.cookies.getAll({ name: 'gitlab_canary' });
canary.catch(() => {});
wasm_bindgen({ module_or_path: 'canary_switch_pages_bg.wasm' })
  .then(() => wasm_bindgen.popup_main(local, active, session, canary))
  .catch((e) => {
    console.error('Canary Switch:', e);
    const p = document.querySelector('[data-testid=error]');
    p.textContent = ext.i18n.getMessage('errStartup', [String(e && e.message)]);
    p.hidden = false;
    document.body.dataset.ready = 'error';
  });
