// Injected before the content script: its value tells the background whether this document
// already has the core (re-injecting it would redeclare the glue's `wasm_bindgen`).
typeof wasm_bindgen !== 'undefined';
