// Options loader: load the pages' wasm module (glue in canary_switch_pages.js), then hand the
// page to Rust (extension/crates/pages/src/options.rs).
wasm_bindgen({ module_or_path: 'canary_switch_pages_bg.wasm' })
  .then(() => wasm_bindgen.options_main())
  .catch((e) => {
    console.error('Canary Switch:', e);
    const p = document.querySelector('[data-testid=options-status]');
    p.textContent = ext.i18n.getMessage('errStartup', [String(e && e.message)]);
    document.body.dataset.ready = 'error';
  });
