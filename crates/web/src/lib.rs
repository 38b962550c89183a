//! The server-rendered UI: askama pages over the same use cases as the JSON API, and the
//! embedded static assets (one stylesheet, ES modules, an icon sprite) served under
//! content-hashed URLs. Pages are rows of the one route table in `pw-http`.
//!
//! Layout: the shared shell at the top (`layout`: the page frame and the navigation, built from
//! the route table's page rows; `assets`; `next`: safe post-sign-in redirects), the page
//! handlers in `pages/<group>/<feature>.rs` with the feature names of `pw-app`.
//!
//! Invariant: no inline script, no inline style, no `on*=` handler in any template (the CSP
//! forbids them; a test scans the templates).

mod assets;
mod layout;
mod next;
mod pages;

use pw_http::{AppState, Mounter};

pub use assets::{ASSET_CACHE_CONTROL, asset_href};

/// Installs the HTML error page for page routes the visitor may not open.
#[must_use]
pub fn with_error_pages(state: AppState) -> AppState {
    let for_pages = state.clone();
    state.with_error_page(move |status| pages::denied_page(&for_pages, status))
}

/// Mounts the page and asset handlers for their rows of the route table.
#[must_use]
pub fn mount(mounter: Mounter) -> Mounter {
    pages::mount(assets::mount(mounter))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    fn files(dir: &str, ext: &str) -> Vec<(String, String)> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
        let mut out = Vec::new();
        let mut stack = vec![root];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).expect("directory is readable") {
                let path = entry.expect("entry is readable").path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.extension().is_some_and(|e| e == ext) {
                    let text = std::fs::read_to_string(&path).expect("file is UTF-8");
                    out.push((path.display().to_string(), text));
                }
            }
        }
        assert!(!out.is_empty(), "no .{ext} files under {dir}");
        out
    }

    /// The CSP (`script-src 'self'; style-src 'self'`) blocks inline code and styles; a
    /// template that relied on them would break silently in the browser.
    #[test]
    fn templates_have_no_inline_script_style_or_handlers() {
        for (path, text) in files("templates", "html") {
            let lower = text.to_lowercase();
            for (i, _) in lower.match_indices("<script") {
                let tag_end = lower[i..].find('>').map_or(lower.len(), |e| i + e);
                let tag = &lower[i..tag_end];
                assert!(
                    tag.contains(" src="),
                    "{path}: inline <script> (use a module under static/js/)"
                );
                assert!(tag.contains("type=\"module\""), "{path}: non-module script");
            }
            assert!(!lower.contains(" style="), "{path}: style= attribute");
            assert!(!lower.contains("<style"), "{path}: <style> element");
            assert!(!lower.contains("javascript:"), "{path}: javascript: URL");
            // ` onclick=`, ` onsubmit=` …: any attribute that starts with "on".
            for (i, _) in lower.match_indices(" on") {
                let name: String = lower[i + 1..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphabetic())
                    .collect();
                let next = lower[i + 1 + name.len()..].chars().next();
                assert!(
                    !(name.len() > 2 && next == Some('=')),
                    "{path}: inline handler {name}="
                );
            }
        }
    }

    /// The same policy for the modules: no string evaluation, no inline styles, and no
    /// HTML parsing of data (text is set with textContent, elements built by lib.js).
    #[test]
    fn scripts_avoid_eval_inline_styles_and_html_injection() {
        for (path, text) in files("static/js", "js") {
            // Comments may name what the code must not do.
            let code: String = text
                .lines()
                .filter(|l| !l.trim_start().starts_with("//"))
                .collect::<Vec<_>>()
                .join("\n");
            for banned in [
                "eval(",
                "new Function",
                ".style.",
                "innerHTML",
                "outerHTML",
                "document.write",
                "insertAdjacentHTML",
            ] {
                assert!(!code.contains(banned), "{path}: uses {banned}");
            }
        }
    }
}
