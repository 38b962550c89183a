//! Filament colours as slicers write them (`#RRGGBB` or `#RRGGBBAA`, the `#` optional): parsed
//! into a [`Colour`] that always prints back in the canonical upper-case `#RRGGBB[AA]` form, so a
//! swatch never carries text that was not a colour.

use std::fmt;

/// An sRGB colour with alpha. `alpha == 255` (opaque) prints as `#RRGGBB`, otherwise `#RRGGBBAA`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Colour {
    pub red: u8,
    pub green: u8,
    pub blue: u8,
    pub alpha: u8,
}

impl Colour {
    /// Parse `#RRGGBB`, `#RRGGBBAA`, `RRGGBB` or `RRGGBBAA` (surrounding blanks ignored).
    pub fn parse(text: &str) -> Option<Self> {
        let t = text.trim();
        let hex = t.strip_prefix('#').unwrap_or(t);
        if !(hex.len() == 6 || hex.len() == 8) || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let byte = |i: usize| {
            hex.get(i..i + 2)
                .and_then(|s| u8::from_str_radix(s, 16).ok())
        };
        Some(Self {
            red: byte(0)?,
            green: byte(2)?,
            blue: byte(4)?,
            alpha: if hex.len() == 8 { byte(6)? } else { 255 },
        })
    }
}

impl fmt::Display for Colour {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{:02X}{:02X}{:02X}", self.red, self.green, self.blue)?;
        if self.alpha != 255 {
            write!(f, "{:02X}", self.alpha)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::Colour;

    #[test]
    fn six_and_eight_digits_with_or_without_hash() {
        assert_eq!(
            Colour::parse("#ff8000").map(|c| c.to_string()),
            Some("#FF8000".into())
        );
        assert_eq!(
            Colour::parse("FF800080").map(|c| c.to_string()),
            Some("#FF800080".into())
        );
        assert_eq!(
            Colour::parse("#FF8000FF").map(|c| c.to_string()),
            Some("#FF8000".into())
        );
        for bad in ["", "#", "#12345", "#GGGGGG", "#1234567", "red", "#ﬀﬀﬀ"] {
            assert_eq!(Colour::parse(bad), None, "{bad}");
        }
    }
}
