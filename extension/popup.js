// Popup loader: load the wasm core (glue in canary_switch.js), then hand the page to Rust
// (src/popup.rs).
wasm_bindgen({ module_or_path: 'canary_switch_bg.wasm' })
  .then(() => wasm_bindgen.popup_main())
  .catch((e) => {
    console.error('Canary Switch:', e);
    const p = document.querySelector('[data-testid=error]');
    p.textContent = ext.i18n.getMessage('errStartup', [String(e && e.message)]);
    p.hidden = false;
    document.body.dataset.ready = 'error';
  });
