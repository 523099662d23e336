//! Upload type detection against upstream Rodan's own identification cases and synthetic files.

use std::io::Cursor;
use std::path::PathBuf;

use image::{DynamicImage, ImageBuffer, ImageFormat, Luma, Rgb, Rgba};
use rodan_core::detect::{claimed_or_detected, detect, fileparse};
use rodan_core::resource_types::{OCTET_STREAM, is_registered};
use serde::Deserialize;

fn fixtures() -> PathBuf {
    shared_dir().join("fixtures/upstream-mimetypes")
}

#[derive(Deserialize)]
struct Case {
    file: String,
    mimetype: String,
    present: bool,
}

#[test]
fn every_present_upstream_case_gets_upstream_type() {
    let dir = fixtures();
    let manifest = std::fs::read(dir.join("manifest.json")).expect("the manifest is readable");
    let cases: Vec<Case> = serde_json::from_slice(&manifest).expect("the manifest parses");
    let present: Vec<&Case> = cases.iter().filter(|case| case.present).collect();
    assert!(present.len() >= 20, "the manifest lists the upstream cases");

    let mut failures = Vec::new();
    for case in present {
        let bytes =
            std::fs::read(dir.join("files").join(&case.file)).expect("the case is readable");
        let parsed = fileparse(&bytes);
        if parsed != case.mimetype {
            failures.push(format!(
                "{}: fileparse gave {parsed}, upstream {}",
                case.file, case.mimetype
            ));
        }
        let expected = if is_registered(&case.mimetype) {
            case.mimetype.as_str()
        } else {
            OCTET_STREAM
        };
        let detected = detect(&bytes);
        if detected != expected {
            failures.push(format!(
                "{}: detect gave {detected}, expected {expected}",
                case.file
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} failing:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn protocol_2_pickle_is_an_ocropus_model() {
    // The start of a pickled dict: PROTO 2, EMPTY_DICT, BINPUT 0, MARK.
    let mut bytes = b"\x80\x02}q\x00(X\x05\x00\x00\x00inputq\x01K\x30".to_vec();
    bytes.extend_from_slice(&[0x47; 64]);
    assert_eq!(detect(&bytes), "application/ocropus+pyrnn");
    // A pickle of another protocol is not.
    bytes[1] = 4;
    assert_eq!(detect(&bytes), OCTET_STREAM);
}

#[test]
fn hdf5_file_is_a_keras_model() {
    let mut bytes = b"\x89HDF\r\n\x1a\n\x00\x00\x00\x00\x00\x08\x08\x00".to_vec();
    bytes.resize(800, 0);
    bytes[100] = 0xff;
    assert_eq!(detect(&bytes), "keras/model+hdf5");
    // HDF5 behind a 512-byte user block is HDF5 to libmagic but not a model to upstream.
    let mut with_user_block = vec![0u8; 512];
    with_user_block.extend_from_slice(&bytes);
    assert_eq!(detect(&with_user_block), OCTET_STREAM);
}

fn encode(image: DynamicImage) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    image
        .write_to(&mut out, ImageFormat::Png)
        .expect("the PNG encodes");
    out.into_inner()
}

fn one_bit_png() -> Vec<u8> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, 16, 2);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::One);
    let mut writer = encoder.write_header().expect("the header encodes");
    writer
        .write_image_data(&[0b1010_1010, 0, 0xff, 0x0f])
        .expect("the pixels encode");
    writer.finish().expect("the PNG finishes");
    out
}

#[test]
fn png_subtypes_follow_upstream() {
    let grey8 = ImageBuffer::from_pixel(3, 2, Luma([200u8]));
    let grey16 = ImageBuffer::from_pixel(3, 2, Luma([40_000u16]));
    let rgb = ImageBuffer::from_pixel(3, 2, Rgb([1u8, 2, 3]));
    let rgba = ImageBuffer::from_pixel(3, 2, Rgba([1u8, 2, 3, 4]));
    let rgb16 = ImageBuffer::from_pixel(3, 2, Rgb([1u16, 2, 3]));

    assert_eq!(detect(&one_bit_png()), "image/onebit+png");
    assert_eq!(
        detect(&encode(DynamicImage::ImageLuma16(grey16))),
        "image/grey16+png"
    );
    assert_eq!(
        detect(&encode(DynamicImage::ImageRgb8(rgb))),
        "image/rgb+png"
    );
    assert_eq!(
        detect(&encode(DynamicImage::ImageRgba8(rgba))),
        "image/rgba+png"
    );
    assert_eq!(
        detect(&encode(DynamicImage::ImageRgb16(rgb16))),
        "image/rgb+png"
    );
    // Upstream names only 1-bit and 16-bit greyscale; any other greyscale falls to the colour
    // type test, which calls it RGB. `image/greyscale+png` never comes out of detection.
    assert_eq!(
        detect(&encode(DynamicImage::ImageLuma8(grey8))),
        "image/rgb+png"
    );
}

#[test]
fn detected_types_upstream_never_registered_become_octet_stream() {
    let jsc = b"<features_to_extract>\nAcoustic Guitar Fraction\nDuration\n";
    assert_eq!(fileparse(jsc), "application/jsc+txt");
    assert_eq!(detect(jsc), OCTET_STREAM);

    let figured_bass = b",Basso seguente,Figured bass\nParts,4,\"[0,4 1,4]\"\n,,\n";
    assert_eq!(
        fileparse(figured_bass),
        "application/x-vis_figuredbass_pandas_series+csv"
    );
    assert_eq!(detect(figured_bass), OCTET_STREAM);

    let musicxml = b"<?xml version=\"1.0\"?>\n<!DOCTYPE score-partwise PUBLIC \
        \"-//Recordare//DTD MusicXML 3.0 Partwise//EN\" \"x\">\n<score-partwise/>\n";
    assert_eq!(fileparse(musicxml), "application/x-muscxml+xml");
    assert_eq!(detect(musicxml), OCTET_STREAM);
}

#[test]
fn a_registered_claim_wins_and_an_unregistered_one_is_octet_stream() {
    let png = one_bit_png();
    assert_eq!(
        claimed_or_detected(Some("image/rgb+png"), &png),
        "image/rgb+png"
    );
    assert_eq!(claimed_or_detected(Some("image/x-foo"), &png), OCTET_STREAM);
    assert_eq!(claimed_or_detected(None, &png), "image/onebit+png");
    assert_eq!(claimed_or_detected(Some(""), &png), "image/onebit+png");
    assert_eq!(
        claimed_or_detected(Some(OCTET_STREAM), &png),
        "image/onebit+png"
    );
}

/// `shared/` beside the repository, or where `RODAN_SHARED_DIR` says (`scripts/test.sh` sets it).
fn shared_dir() -> std::path::PathBuf {
    std::env::var_os("RODAN_SHARED_DIR").map_or_else(
        || std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared"),
        std::path::PathBuf::from,
    )
}
