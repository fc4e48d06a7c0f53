// Content script loader, on GitLab pages. Content scripts are classic scripts, so the wasm core
// (a module) is loaded with import() from the extension's web-accessible files. The message
// listener is registered at once, so the session check can ask this page before the core is
// ready. All logic is in Rust (src/content.rs).
{
  const url = (path) => ext.runtime.getURL(path);
  const core = import(url('canary_switch.js')).then(async (m) => {
    await m.default({ module_or_path: url('canary_switch_bg.wasm') });
    return m;
  });
  core.then((m) => m.content_main()).catch((e) => console.debug('Canary Switch:', e));
  ext.runtime.onMessage.addListener((message, _sender, sendResponse) => {
    if (!message || message.type !== 'whoAmI') return false;
    core.then((m) => m.content_who_am_i()).then(sendResponse, () => sendResponse(null));
    return true;
  });
}
