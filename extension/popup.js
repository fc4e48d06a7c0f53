// Popup loader: load the wasm core, then hand the page to Rust (src/popup.rs).
import './ext-compat.js';
import init, { popup_main } from './canary_switch.js';

init({ module_or_path: new URL('canary_switch_bg.wasm', import.meta.url) })
  .then(() => popup_main())
  .catch((e) => {
    console.error('Canary Switch:', e);
    const p = document.querySelector('[data-testid=error]');
    p.textContent = ext.i18n.getMessage('errStartup', [String(e && e.message)]);
    p.hidden = false;
    document.body.dataset.ready = 'error';
  });
