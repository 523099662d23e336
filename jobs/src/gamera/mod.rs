//! Gamera's image model and the Gamera 4.1.0 algorithms the jobs run, re-implemented to give the
//! same pixels: PNG loading and saving, type conversions, thresholds, morphology, logical
//! combinations, connected components, rotation, glyph features, the kNN classifier with grouping
//! and the GameraXML writer.

pub mod classify;
pub mod conversion;
pub mod draw;
pub mod features;
pub mod image_utilities;
pub mod knn;
pub mod knnga;
pub mod logical;
pub mod morphology;
pub mod png;
pub mod projections;
pub mod segmentation;
pub mod threshold;
pub mod transformation;
pub mod xml;

/// Why a Gamera algorithm refused its input (Gamera raises these as Python exceptions).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GameraError {
    /// `find_max` / `find_min` need more than one row and column.
    #[error("failed to scale the image: Gamera needs more than one row and one column")]
    TooSmall,
    /// Two images that must be the same size are not.
    #[error("failed to combine the images: they must be the same size")]
    SizeMismatch,
    /// `cc_analysis` ran out of 16-bit labels.
    #[error("failed to label connected components: more labels than a ONEBIT pixel holds")]
    TooManyLabels,
}

impl From<GameraError> for crate::job::JobError {
    fn from(e: GameraError) -> Self {
        crate::job::JobError::bad_input(e.to_string(), format!("Gamera refuses this input: {e}"))
    }
}

/// A black ONEBIT pixel (Gamera: any non-zero value is black).
pub const BLACK: u8 = 1;
/// A white ONEBIT pixel.
pub const WHITE: u8 = 0;

/// A ONEBIT plane drawn as rows of text, `#` black and any other character white (for the unit
/// tests).
#[cfg(test)]
pub(crate) fn plane_from_rows(rows: &[&str]) -> Plane<u8> {
    let data = rows
        .iter()
        .flat_map(|r| r.bytes().map(|b| if b == b'#' { BLACK } else { WHITE }))
        .collect();
    Plane::from_vec(rows.first().map_or(0, |r| r.len()), rows.len(), data).expect("rectangular")
}

/// An RGB pixel.
pub type Rgb = [u8; 3];

/// A rectangular grid of pixels, row-major.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plane<P> {
    width: usize,
    height: usize,
    data: Vec<P>,
}

impl<P: Copy> Plane<P> {
    /// A `width` × `height` plane filled with `fill`.
    pub fn new(width: usize, height: usize, fill: P) -> Self {
        Self {
            width,
            height,
            data: vec![fill; width * height],
        }
    }

    /// A plane over `data` (row-major); `None` when the length is not `width * height`.
    pub fn from_vec(width: usize, height: usize, data: Vec<P>) -> Option<Self> {
        (data.len() == width * height).then_some(Self {
            width,
            height,
            data,
        })
    }

    /// Number of columns.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Number of rows.
    pub fn height(&self) -> usize {
        self.height
    }

    /// The pixel at column `x`, row `y`.
    #[inline]
    pub fn get(&self, x: usize, y: usize) -> P {
        self.data[y * self.width + x]
    }

    /// Sets the pixel at column `x`, row `y`.
    #[inline]
    pub fn set(&mut self, x: usize, y: usize, value: P) {
        self.data[y * self.width + x] = value;
    }

    /// All pixels, row-major.
    pub fn pixels(&self) -> &[P] {
        &self.data
    }

    /// All pixels, row-major, mutable.
    pub fn pixels_mut(&mut self) -> &mut [P] {
        &mut self.data
    }

    /// The rows, top to bottom.
    pub fn rows(&self) -> std::slice::ChunksExact<'_, P> {
        self.data.chunks_exact(self.width.max(1))
    }

    /// A plane of the same size with `f` applied to every pixel.
    pub fn map<Q: Copy>(&self, f: impl FnMut(P) -> Q) -> Plane<Q> {
        Plane {
            width: self.width,
            height: self.height,
            data: self.data.iter().copied().map(f).collect(),
        }
    }
}

/// Gamera's pixel types that PNG files hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PixelType {
    /// Black and white; 0 white, non-zero black.
    OneBit,
    /// 8-bit grey, 0 black, 255 white.
    GreyScale,
    /// 16-bit grey.
    Grey16,
    /// 8-bit RGB.
    Rgb,
}

impl PixelType {
    /// The Rodan resource type of a PNG of this pixel type.
    pub fn resource_type(self) -> &'static str {
        match self {
            Self::OneBit => "image/onebit+png",
            Self::GreyScale => "image/greyscale+png",
            Self::Grey16 => "image/grey16+png",
            Self::Rgb => "image/rgb+png",
        }
    }

    /// Gamera's name of the type (`ONEBIT`, `GREYSCALE`, `GREY16`, `RGB`).
    pub fn gamera_name(self) -> &'static str {
        match self {
            Self::OneBit => "ONEBIT",
            Self::GreyScale => "GREYSCALE",
            Self::Grey16 => "GREY16",
            Self::Rgb => "RGB",
        }
    }
}

/// A Gamera image of one of the PNG pixel types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Image {
    /// ONEBIT: [`WHITE`] or [`BLACK`] (any non-zero value is black).
    OneBit(Plane<u8>),
    /// GREYSCALE.
    GreyScale(Plane<u8>),
    /// GREY16 (Gamera keeps 32 bits; PNG files hold the low 16).
    Grey16(Plane<u16>),
    /// RGB.
    Rgb(Plane<Rgb>),
}

impl Image {
    /// The pixel type.
    pub fn pixel_type(&self) -> PixelType {
        match self {
            Self::OneBit(_) => PixelType::OneBit,
            Self::GreyScale(_) => PixelType::GreyScale,
            Self::Grey16(_) => PixelType::Grey16,
            Self::Rgb(_) => PixelType::Rgb,
        }
    }

    /// (columns, rows).
    pub fn dimensions(&self) -> (usize, usize) {
        match self {
            Self::OneBit(p) | Self::GreyScale(p) => (p.width(), p.height()),
            Self::Grey16(p) => (p.width(), p.height()),
            Self::Rgb(p) => (p.width(), p.height()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn planes_are_row_major_and_reject_a_wrong_length() {
        let mut p = Plane::from_vec(3, 2, vec![0u8, 1, 2, 3, 4, 5]).expect("6 pixels");
        assert_eq!(p.get(2, 0), 2);
        assert_eq!(p.get(0, 1), 3);
        p.set(1, 1, 9);
        assert_eq!(p.rows().nth(1).expect("row 1"), &[3, 9, 5]);
        assert!(Plane::from_vec(3, 2, vec![0u8; 5]).is_none());
    }
}
