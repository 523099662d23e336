//! Upstream Rodan's built-in ResourceTypes (rodan-reference §3.3), as `rodan/jobs/load.py` registers them.

/// One ResourceType: what a resource holds, keyed by its mimetype.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResourceTypeInfo {
    /// The Rodan mimetype, the ResourceType's unique key (`image/onebit+png`).
    pub mimetype: &'static str,
    /// Human-readable description shown by the client.
    pub description: &'static str,
    /// File name extension without the dot; empty for `application/octet-stream`.
    pub extension: &'static str,
}

/// The type of a resource whose type is unknown, and what any unregistered type becomes.
pub const OCTET_STREAM: &str = "application/octet-stream";

const fn rt(
    mimetype: &'static str,
    description: &'static str,
    extension: &'static str,
) -> ResourceTypeInfo {
    ResourceTypeInfo {
        mimetype,
        description,
        extension,
    }
}

/// Every ResourceType upstream registers, in `load.py`'s order.
///
/// The job packages' `resource_types.yaml` files (MEI_encoding, Paco_classifier, SAE_binarization,
/// background_removal, diagonal_neume_slicing, gamera_rodan, helloworld, heuristic_pitch_finding,
/// interactive_classifier, mei2vol_wrapper, pil_rodan, text_alignment) only repeat entries of
/// this list, with the same description and extension.
pub const BUILTIN: &[ResourceTypeInfo] = &[
    rt(OCTET_STREAM, "Unknown type", ""),
    rt("application/zip", "Package", "zip"),
    rt("application/json", "JSON", "json"),
    rt("text/plain", "Plain text", "txt"),
    rt("image/jp2", "JPEG2000 image", "jp2"),
    rt("image/png", "PNG image", "png"),
    rt("image/rgb+png", "RGB PNG image", "png"),
    rt("image/rgb+jpg", "JPG image file", "jpg"),
    rt("image/rgba+png", "PNG image file with alpha channel", "png"),
    rt(
        "keras/model+hdf5",
        "Trained network from Keras framework",
        "hdf5",
    ),
    rt("application/gamera+xml", "Gamera XML file", "xml"),
    rt(
        "image/onebit+png",
        "One-bit (black and white) PNG image",
        "png",
    ),
    rt("image/greyscale+png", "Greyscale PNG image", "png"),
    rt("image/grey16+png", "Greyscale 16 PNG image", "png"),
    rt(
        "application/gamera-polygons+txt",
        "Python list of polygons ([[[x,y], [x,y], ...], [[x,y], [x,y], ...], ...])",
        "txt",
    ),
    rt("application/mei+xml", "Music Encoding Initiative", "mei"),
    rt(
        "application/midi",
        "Musical Instrumental Digital Interface",
        "midi",
    ),
    rt("application/ace+xml", "ACE XML", "xml"),
    rt("application/arff", "WEKA ARFF", "arff"),
    rt("application/arff+csv", "WEKA ARFF CSV", "csv"),
    rt("text/csv", "Comma Separated Values", "csv"),
    rt("image/tiff", "TIFF image", "tiff"),
    rt(
        "application/ocropus+pyrnn",
        "OCR model trained by OCRopus",
        "pyrnn",
    ),
    rt("application/x-musicxml+xml", "MusicXML", "xml"),
    rt(
        "application/x-vis_noterest_pandas_series+csv",
        "NoteRest Indexer Result (Pandas Series CSV)",
        "csv",
    ),
    rt(
        "application/x-vis_dissonance_pandas_dataframe+csv",
        "Dissonance Interval Indexer Result (Pandas DataFrame CSV)",
        "csv",
    ),
    rt(
        "application/x-vis_vertical_pandas_series+csv",
        "Vertical Interval Indexer Result (Pandas Series CSV)",
        "csv",
    ),
    rt(
        "application/x-vis_horizontal_pandas_series+csv",
        "Horizontal Interval Indexer Result (Pandas Series CSV)",
        "csv",
    ),
    rt(
        "application/x-vis_ngram_pandas_dataframe+csv",
        "N-gram Indexer Result (Pandas DataFrame CSV)",
        "csv",
    ),
    rt(
        "application/x-vis_fermata_pandas_dataframe+csv",
        "Fermata Indexer Result (Pandas DataFrame CSV)",
        "csv",
    ),
    rt(
        "application/x-vis_figuredbass_pandas_dataframe+csv",
        "Figured Bass Indexer Result (Pandas DataFrame CSV)",
        "csv",
    ),
    rt(
        "application/x-vis_measure_pandas_dataframe+csv",
        "Measure Indexer Result (Pandas DataFrame CSV)",
        "csv",
    ),
    rt(
        "application/x-vis_duration_pandas_dataframe+csv",
        "Duration Indexer Result (Pandas DataFrame CSV)",
        "csv",
    ),
    rt(
        "application/x-vis_nbs_pandas_dataframe+csv",
        "Note Beat Strength Indexer Result (Pandas DataFrame CSV)",
        "csv",
    ),
    rt(
        "application/x-pandas_dataframe+csv",
        "Pandas serialized DataFrame csv",
        "csv",
    ),
    rt(
        "application/x-pandas_series+csv",
        "Pandas serialized Series csv",
        "csv",
    ),
];

/// The built-in ResourceType with exactly this mimetype (case-sensitive, as upstream's lookup).
pub fn lookup(mimetype: &str) -> Option<&'static ResourceTypeInfo> {
    BUILTIN.iter().find(|info| info.mimetype == mimetype)
}

/// Whether `mimetype` is a built-in ResourceType.
pub fn is_registered(mimetype: &str) -> bool {
    lookup(mimetype).is_some()
}

/// `mimetype` if it is registered, else `application/octet-stream`: upstream's
/// `create_resource` leaves a resource of an unknown type untyped.
pub fn registered_or_octet_stream(mimetype: &str) -> &'static str {
    lookup(mimetype).map_or(OCTET_STREAM, |info| info.mimetype)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn builtin_mimetypes_are_unique_and_as_many_as_upstream_lists() {
        let unique: HashSet<_> = BUILTIN.iter().map(|info| info.mimetype).collect();
        assert_eq!(unique.len(), BUILTIN.len(), "a mimetype is listed twice");
        assert_eq!(BUILTIN.len(), 36, "load.py registers 36 ResourceTypes");
    }

    #[test]
    fn lookup_gives_upstream_description_and_extension() {
        let png = lookup("image/onebit+png").expect("one-bit PNG is built in");
        assert_eq!(png.description, "One-bit (black and white) PNG image");
        assert_eq!(png.extension, "png");
        assert_eq!(lookup(OCTET_STREAM).map(|info| info.extension), Some(""));
    }

    #[test]
    fn types_upstream_sniffs_but_never_registered_are_not_registered() {
        assert!(is_registered("application/x-musicxml+xml"));
        assert!(!is_registered("application/x-muscxml+xml"));
        assert!(!is_registered("application/jsc+txt"));
        assert!(!is_registered(
            "application/x-vis_figuredbass_pandas_series+csv"
        ));
        assert!(!is_registered("IMAGE/PNG"));
    }

    #[test]
    fn unregistered_types_become_octet_stream() {
        assert_eq!(registered_or_octet_stream("text/csv"), "text/csv");
        assert_eq!(registered_or_octet_stream("image/gif"), OCTET_STREAM);
        assert_eq!(registered_or_octet_stream(""), OCTET_STREAM);
    }
}
