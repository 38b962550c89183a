//! Embedded static assets under content-hashed URLs (`/assets/css/app.<hash>.css`), served
//! with a one-year immutable cache: a changed file gets a new URL, so clients never run stale
//! code and never revalidate unchanged files.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::LazyLock;

use axum::extract::Path;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, Method, header};
use pw_http::{ApiError, Mounter};
use rust_embed::RustEmbed;
use sha2::{Digest, Sha256};

/// Cache policy for content-hashed assets.
pub const ASSET_CACHE_CONTROL: &str = "public, max-age=31536000, immutable";

#[derive(RustEmbed)]
#[folder = "static/"]
struct Static;

#[derive(Debug)]
struct Asset {
    bytes: Cow<'static, [u8]>,
    mime: HeaderValue,
}

#[derive(Debug)]
struct Manifest {
    /// logical path (`css/app.css`) → hashed URL (`/assets/css/app.0123456789.css`).
    hrefs: HashMap<String, String>,
    /// hashed path below `/assets/` → the file.
    files: HashMap<String, Asset>,
}

static MANIFEST: LazyLock<Manifest> = LazyLock::new(|| {
    let sources: HashMap<String, Source> = Static::iter()
        .filter_map(|name| {
            Static::get(&name).map(|f| {
                let mime = f.metadata.mimetype().to_owned();
                (name.to_string(), (f.data, mime))
            })
        })
        .collect();
    let mut builder = Builder {
        sources: &sources,
        hrefs: HashMap::new(),
        files: HashMap::new(),
        resolving: Vec::new(),
    };
    let mut names: Vec<&String> = sources.keys().collect();
    names.sort();
    for name in names {
        builder.resolve(name);
    }
    Manifest {
        hrefs: builder.hrefs,
        files: builder.files,
    }
});

/// Hashes files in dependency order: an ES module's hash covers the hashed URLs of the
/// modules it imports, so changing a shared module gives its importers new URLs too.
/// An embedded file's bytes and MIME type.
type Source = (Cow<'static, [u8]>, String);

struct Builder<'a> {
    sources: &'a HashMap<String, Source>,
    hrefs: HashMap<String, String>,
    files: HashMap<String, Asset>,
    /// Modules being resolved, to cut an import cycle instead of recursing forever.
    resolving: Vec<String>,
}

impl Builder<'_> {
    fn resolve(&mut self, name: &str) -> Option<String> {
        if let Some(href) = self.hrefs.get(name) {
            return Some(href.clone());
        }
        if self.resolving.iter().any(|n| n == name) {
            tracing::error!(module = name, "import cycle between static modules");
            return None;
        }
        let (data, mime) = self.sources.get(name)?.clone();
        let data = if name.ends_with(".js") {
            self.resolving.push(name.to_owned());
            let linked = std::str::from_utf8(&data)
                .ok()
                .map(|text| link_imports(name, text, |target| self.resolve(target)));
            self.resolving.pop();
            linked.map_or(data, |t| Cow::Owned(t.into_bytes()))
        } else {
            data
        };
        let digest = hex::encode(Sha256::digest(&data));
        let hash = digest.get(..10).unwrap_or(&digest);
        let hashed = match name.rsplit_once('.') {
            Some((stem, ext)) if !stem.is_empty() && !stem.ends_with('/') => {
                format!("{stem}.{hash}.{ext}")
            }
            _ => format!("{name}.{hash}"),
        };
        let mime = HeaderValue::from_str(&mime)
            .unwrap_or(HeaderValue::from_static("application/octet-stream"));
        let href = format!("/assets/{hashed}");
        self.hrefs.insert(name.to_owned(), href.clone());
        self.files.insert(hashed, Asset { bytes: data, mime });
        Some(href)
    }
}

/// Rewrites the relative specifiers of static `import … from "./x.js"` lines in module
/// `name` to the hashed URLs `href_of` gives for them (the unhashed paths are not served).
/// Only whole-line `import`/`export … from "./…"` statements are touched; a specifier that
/// does not resolve is left as it is (the browser then reports the missing module).
fn link_imports(name: &str, text: &str, mut href_of: impl FnMut(&str) -> Option<String>) -> String {
    let dir = name.rsplit_once('/').map_or("", |(d, _)| d);
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        let statement = trimmed.starts_with("import ") || trimmed.starts_with("export ");
        let spec = statement
            .then(|| {
                let at = line.find(" from ")? + " from ".len();
                let rest = line.get(at..)?.trim_start();
                let quote = rest.chars().next().filter(|c| *c == '"' || *c == '\'')?;
                let body = rest.get(1..)?;
                let end = body.find(quote)?;
                let spec = body.get(..end)?;
                spec.strip_prefix("./").map(|rel| (spec, rel))
            })
            .flatten();
        match spec {
            Some((spec, rel)) => {
                let target = if dir.is_empty() {
                    rel.to_owned()
                } else {
                    format!("{dir}/{rel}")
                };
                match href_of(&target) {
                    Some(href) => out.push_str(&line.replacen(spec, &href, 1)),
                    None => out.push_str(line),
                }
            }
            None => out.push_str(line),
        }
    }
    out
}

/// The hashed URL of a static file, by its path below `static/` (e.g. `css/app.css`).
/// An unknown name yields a URL that answers 404, never a panic.
#[must_use]
pub fn asset_href(logical: &str) -> String {
    MANIFEST
        .hrefs
        .get(logical)
        .cloned()
        .unwrap_or_else(|| format!("/assets/missing/{logical}"))
}

pub(crate) fn mount(m: Mounter) -> Mounter {
    m.mount(Method::GET, "/assets/{*file}", serve)
}

async fn serve(Path(file): Path<String>) -> Response {
    let Some(asset) = MANIFEST.files.get(&file) else {
        return ApiError::not_found().into_response();
    };
    (
        [
            (header::CONTENT_TYPE, asset.mime.clone()),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static(ASSET_CACHE_CONTROL),
            ),
        ],
        asset.bytes.clone(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_embedded_file_has_a_hashed_url_that_resolves() {
        assert!(MANIFEST.hrefs.len() >= 3, "static files are embedded");
        for (logical, href) in &MANIFEST.hrefs {
            let hashed = href.trim_start_matches("/assets/");
            assert!(MANIFEST.files.contains_key(hashed), "{logical} -> {href}");
            assert_ne!(hashed, logical, "{logical} is not content-hashed");
        }
        assert!(asset_href("css/app.css").ends_with(".css"));
        assert!(asset_href("nope.js").starts_with("/assets/missing/"));
    }

    #[test]
    fn module_imports_point_at_hashed_urls() {
        let linked = link_imports(
            "js/page.js",
            "import { api } from \"./lib.js\";\nimport x from './gone.js';\nconst s = \"import a from './lib.js'\";\n",
            |target| (target == "js/lib.js").then(|| "/assets/js/lib.0123456789.js".to_owned()),
        );
        assert_eq!(
            linked,
            "import { api } from \"/assets/js/lib.0123456789.js\";\nimport x from './gone.js';\nconst s = \"import a from './lib.js'\";\n"
        );
    }

    /// An unclosed rule swallows every rule after it without an error anywhere (it once hid
    /// the projects' and the farm pages' styles): the stylesheet's braces must balance.
    #[test]
    fn the_stylesheet_closes_every_rule() {
        let css = Static::get("css/app.css").expect("the stylesheet is embedded");
        let text = std::str::from_utf8(&css.data).expect("UTF-8");
        let mut depth = 0i32;
        let mut rest = text;
        while let Some(i) = rest.find(['{', '}', '/']) {
            let (c, tail) = (rest.as_bytes()[i], &rest[i + 1..]);
            rest = tail;
            match c {
                b'/' if rest.starts_with('*') => {
                    let end = rest.find("*/").expect("every comment is closed");
                    rest = &rest[end + 2..];
                }
                b'{' => depth += 1,
                b'}' => {
                    depth -= 1;
                    assert!(depth >= 0, "a closing brace closes nothing");
                }
                _ => {}
            }
        }
        assert_eq!(depth, 0, "a rule of app.css is never closed");
    }

    #[test]
    fn embedded_modules_import_only_served_urls() {
        for (logical, href) in &MANIFEST.hrefs {
            if !logical.ends_with(".js") {
                continue;
            }
            let hashed = href.trim_start_matches("/assets/");
            let Some(file) = MANIFEST.files.get(hashed) else {
                panic!("{logical} not served");
            };
            let text = String::from_utf8_lossy(&file.bytes);
            for line in text.lines() {
                if line.starts_with("import ") && line.contains(" from ") {
                    assert!(
                        line.contains("\"/assets/"),
                        "{logical}: unlinked import: {line}"
                    );
                    let url = line.split('"').nth(1).unwrap_or_default();
                    assert!(
                        MANIFEST
                            .files
                            .contains_key(url.trim_start_matches("/assets/")),
                        "{logical}: import of an unserved module: {line}"
                    );
                }
            }
        }
    }
}
