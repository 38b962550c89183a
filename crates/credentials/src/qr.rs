//! QR codes as standalone SVG, for the TOTP enrolment page. Owns the rendering; invariant: the
//! SVG carries presentation attributes only, never a `style` attribute or element, so it shows
//! under the page's Content-Security-Policy without allowing inline styles (threat: a CSP
//! loosened for one image would let injected markup style or hide parts of the page).
//!
//! Rendering is done here rather than in the browser so the `otpauth://` secret never meets
//! page scripts or a third-party QR service.

use std::fmt::Write as _;

use qrcodegen::{QrCode, QrCodeEcc};

/// Light modules around the code; the QR specification asks for four.
const QUIET_ZONE: i32 = 4;
/// Rendered size in CSS pixels; the `viewBox` scales the modules to it.
const DISPLAY_SIZE: u32 = 200;

/// Encodes `text` (error correction at least Medium, smallest version that fits) and renders it
/// as an SVG document: a white background and one black path with a unit square per dark
/// module. `None` if the text does not fit in a QR code.
#[must_use]
pub fn qr_svg(text: &str) -> Option<String> {
    // `encode_text` raises the level above Medium when that fits in the same version: a
    // sturdier code at no cost in size.
    let qr = QrCode::encode_text(text, QrCodeEcc::Medium).ok()?;
    render(&qr).ok()
}

fn render(qr: &QrCode) -> Result<String, std::fmt::Error> {
    let size = qr.size();
    let width = size + 2 * QUIET_ZONE;
    let mut svg = String::with_capacity(400 + usize::try_from(size * size).unwrap_or(0) * 8);
    write!(
        svg,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {width} {width}\" \
         width=\"{DISPLAY_SIZE}\" height=\"{DISPLAY_SIZE}\" shape-rendering=\"crispEdges\" \
         role=\"img\" aria-label=\"QR code\">\
         <rect width=\"{width}\" height=\"{width}\" fill=\"#fff\"/>\
         <path fill=\"#000\" d=\""
    )?;
    for y in 0..size {
        for x in 0..size {
            if qr.get_module(x, y) {
                write!(svg, "M{},{}h1v1h-1z", x + QUIET_ZONE, y + QUIET_ZONE)?;
            }
        }
    }
    svg.push_str("\"/></svg>");
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dark_modules(text: &str) -> usize {
        let qr = QrCode::encode_text(text, QrCodeEcc::Medium).unwrap();
        (0..qr.size())
            .flat_map(|y| (0..qr.size()).map(move |x| (x, y)))
            .filter(|&(x, y)| qr.get_module(x, y))
            .count()
    }

    #[test]
    fn renders_a_standalone_svg_without_styles() {
        let text = "otpauth://totp/printwarden:ana%40example.com\
                    ?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=printwarden\
                    &algorithm=SHA1&digits=6&period=30";
        let svg = qr_svg(text).unwrap();
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 "));
        assert!(svg.ends_with("\"/></svg>"));
        assert!(!svg.contains("style"), "{svg}");
        assert!(svg.contains("width=\"200\" height=\"200\""));
        assert!(svg.contains("shape-rendering=\"crispEdges\""));
        assert!(svg.contains("<rect "));
        assert_eq!(svg.matches("<path ").count(), 1);
        assert_eq!(svg.matches("h1v1h-1z").count(), dark_modules(text));
        // The input is encoded, never echoed into the markup.
        assert!(!svg.contains("otpauth"));
    }

    #[test]
    fn viewbox_includes_the_quiet_zone() {
        // "a" fits in version 1: 21 modules plus 4 on each side.
        let svg = qr_svg("a").unwrap();
        assert!(svg.contains("viewBox=\"0 0 29 29\""), "{svg}");
        assert!(svg.contains("<rect width=\"29\" height=\"29\" fill=\"#fff\"/>"));
        // The top-left finder pattern starts at the quiet zone's edge.
        assert!(svg.contains("d=\"M4,4h1v1h-1z"), "{svg}");
    }

    #[test]
    fn too_long_text_gives_none() {
        assert_eq!(qr_svg(&"x".repeat(5_000)), None);
    }
}
