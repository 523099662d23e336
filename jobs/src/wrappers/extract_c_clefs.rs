//! 'Extract C Clefs' (upstream `extract_c_clefs/base.py`): crops every glyph a GameraXML file
//! classifies as `clef.c` out of the page and writes each crop to the list output.
//!
//! As upstream: the page is read as `cv2.imread(IMREAD_COLOR)` (8-bit, 3 channels: alpha is
//! dropped, so the crops are RGB PNGs; an EXIF orientation turns the page), a glyph counts once for each of its `<id>`s named
//! `clef.c` (its best class or not), boxes are cut as numpy slices (clipped to the page), glyphs
//! are taken in file order, and crop n (from 1) is written to the list's folder as
//! `{input resource name}_{n}.png`. A file without C clefs and a box with no pixel on the page
//! are refused as bad input, as upstream fails on them.

use rodan_core::catalogue::JobDescriptor;
use serde_json::{Value, json};

use crate::descriptor::{Spec, describe, port};
use crate::gamera::xml::{Database, read_file};
use crate::job::{Inputs, Job, JobError, Outputs};
use crate::opencv::{AnyMat, Mat, ReadMode, imread, imwrite};

const IMAGE: &str = "PNG Image";
const XML: &str = "XML file";
const OUTPUT: &str = "C Clef";
/// The class name upstream looks for.
pub const C_CLEF: &str = "clef.c";

/// 'Extract C Clefs': one image per C clef glyph.
#[derive(Debug, Clone, Copy, Default)]
pub struct ExtractCClefs;

impl Job for ExtractCClefs {
    fn name(&self) -> &'static str {
        "Extract C Clefs"
    }

    fn descriptor(&self) -> JobDescriptor {
        let mut clefs = port(OUTPUT, 1, 20, &["image/rgba+png"]);
        clefs.is_list = true;
        describe(
            Spec {
                name: self.name(),
                author: "Lucas March",
                description: "Finds the C clefs from a generated XML file from the interactive \
                              classifier and exports them to seperate images.",
                category: "Image Processing",
            },
            json!({"title": "Settings", "type": "object", "job_queue": "Python3"}),
            vec![
                port(IMAGE, 1, 1, &["image/rgba+png"]),
                port(XML, 1, 1, &["application/gamera+xml"]),
            ],
            vec![clefs],
        )
    }

    fn run(&self, inputs: &Inputs, _settings: &Value, outputs: &Outputs) -> Result<(), JobError> {
        let image_input = inputs.first(IMAGE)?;
        let db = read_file(&inputs.first(XML)?.path)?;
        let boxes = clef_boxes(&db);
        if boxes.is_empty() {
            return Err(JobError::bad_input(
                "No C Clefs found in XML File.",
                format!("no glyph of the GameraXML file has a class named '{C_CLEF}'"),
            ));
        }
        let AnyMat::U8(page) = imread(&image_input.path, ReadMode::Color)? else {
            return Err(JobError::bad_input(
                "the image did not decode to 8 bits",
                "IMREAD_COLOR always gives 8-bit samples",
            ));
        };
        let crops = boxes
            .iter()
            .map(|b| crop(&page, *b))
            .collect::<Result<Vec<_>, _>>()?;
        let folder = &outputs.first(OUTPUT)?.path;
        std::fs::create_dir_all(folder).map_err(|e| JobError::write(folder, e))?;
        // A name is one path component; upstream would fail on a '/' in it.
        let name = image_input.resource_name().replace('/', "_");
        for (i, c) in crops.into_iter().enumerate() {
            imwrite(
                &folder.join(format!("{name}_{}.png", i + 1)),
                &AnyMat::U8(c),
            )?;
        }
        Ok(())
    }
}

/// The (left, top, right, bottom) box of every C clef, right and bottom exclusive, once per
/// `<id name="clef.c">` of a glyph, in file order.
pub fn clef_boxes(db: &Database) -> Vec<(usize, usize, usize, usize)> {
    db.glyphs
        .iter()
        .flat_map(|g| {
            let b = (g.ul_x, g.ul_y, g.ul_x + g.ncols(), g.ul_y + g.nrows());
            g.ids
                .iter()
                .filter(|(name, _)| name == C_CLEF)
                .map(move |_| b)
        })
        .collect()
}

/// numpy's `page[top:bottom, left:right]`: the box clipped to the page; a box with no pixel on
/// the page is bad input (OpenCV cannot write an empty image).
fn crop<T: Copy>(
    page: &Mat<T>,
    (left, top, right, bottom): (usize, usize, usize, usize),
) -> Result<Mat<T>, JobError> {
    let (x1, y1) = (right.min(page.width()), bottom.min(page.height()));
    if left >= x1 || top >= y1 {
        return Err(JobError::bad_input(
            "a C clef lies outside the image",
            format!(
                "the C clef glyph at x {left}..{right}, y {top}..{bottom} has no pixel on the \
                 {} x {} image",
                page.width(),
                page.height()
            ),
        ));
    }
    Ok(page.crop((left, x1), (top, y1)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gamera::xml::{Glyph, write};
    use crate::gamera::{BLACK, Plane};
    use crate::job::{Ports, Resource};
    use std::path::Path;

    fn glyph(x: usize, y: usize, w: usize, h: usize, ids: &[&str]) -> Glyph {
        let mut g = Glyph::new(x, y, Plane::new(w, h, BLACK));
        g.ids = ids.iter().map(|n| ((*n).to_owned(), 1.0)).collect();
        g
    }

    /// A 40 x 30 RGBA page whose pixel (x, y) is (x, y, x + y, 255 - x).
    fn page(dir: &Path) -> std::path::PathBuf {
        let data = (0..30u8)
            .flat_map(|y| (0..40u8).flat_map(move |x| [x, y, x + y, 255 - x]))
            .collect();
        let path = dir.join("page.png");
        imwrite(
            &path,
            &AnyMat::U8(Mat::new(40, 30, 4, data).expect("samples")),
        )
        .expect("written");
        path
    }

    fn run(dir: &Path, glyphs: Vec<Glyph>) -> Result<Vec<(String, Mat<u8>)>, JobError> {
        let xml = dir.join("glyphs.xml");
        let db = Database {
            symbols: Vec::new(),
            glyphs,
        };
        std::fs::write(&xml, write(&db, false)).expect("written");
        let inputs = Ports::new().with(XML, &xml, "application/gamera+xml").with(
            IMAGE,
            page(dir),
            "image/rgba+png",
        );
        let mut named = Ports::new();
        for (port, files) in inputs.iter() {
            let r = files[0].clone();
            named.push(
                port,
                if port == IMAGE {
                    r.named("folio 12.png")
                } else {
                    r
                },
            );
        }
        let folder = dir.join("clefs");
        let outputs = Ports::new().with(OUTPUT, &folder, "image/rgba+png");
        ExtractCClefs.run(&named, &json!({}), &outputs)?;
        let mut files: Vec<_> = std::fs::read_dir(&folder)
            .expect("the folder exists")
            .map(|e| e.expect("an entry").path())
            .collect();
        files.sort();
        Ok(files
            .into_iter()
            .map(|p| {
                let name = p
                    .file_name()
                    .expect("a name")
                    .to_string_lossy()
                    .into_owned();
                match imread(&p, ReadMode::Unchanged).expect("a PNG") {
                    AnyMat::U8(m) => (name, m),
                    AnyMat::U16(_) => panic!("8-bit crops"),
                }
            })
            .collect())
    }

    #[test]
    fn every_c_clef_id_gives_an_rgb_crop_named_after_the_image_in_file_order() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let crops = run(
            dir.path(),
            vec![
                glyph(5, 6, 3, 2, &["clef.c"]),
                glyph(0, 0, 4, 4, &["neume.punctum"]),
                glyph(30, 25, 20, 20, &["clef.f", "clef.c"]),
                glyph(1, 1, 1, 1, &["clef.c", "clef.c"]),
            ],
        )
        .expect("the job runs");
        let names: Vec<&str> = crops.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "folio 12.png_1.png",
                "folio 12.png_2.png",
                "folio 12.png_3.png",
                "folio 12.png_4.png"
            ]
        );
        let first = &crops[0].1;
        assert_eq!((first.width(), first.height(), first.channels()), (3, 2, 3));
        assert_eq!(
            &first.row(0)[..3],
            [5, 6, 11],
            "pixel (5, 6) without its alpha"
        );
        // A secondary clef.c id counts; its box is clipped to the page.
        let clipped = &crops[1].1;
        assert_eq!((clipped.width(), clipped.height()), (10, 5));
        assert_eq!(
            &crops[2].1.data(),
            &crops[3].1.data(),
            "one crop per clef.c id"
        );
    }

    #[test]
    fn no_c_clefs_a_box_off_the_page_and_bad_files_are_bad_input() {
        let dir = tempfile::tempdir().expect("a temporary folder");
        let err = run(dir.path(), vec![glyph(1, 1, 2, 2, &["clef.f"])]).expect_err("no C clef");
        assert!(err.is_permanent());
        assert_eq!(err.error_summary(), "No C Clefs found in XML File.");
        let err = run(dir.path(), vec![glyph(40, 0, 2, 2, &["clef.c"])]).expect_err("off page");
        assert!(err.error_summary().contains("outside"), "{err:?}");

        let not_xml = dir.path().join("x.xml");
        std::fs::write(&not_xml, "<html/>").expect("written");
        let outputs = Ports::new().with(OUTPUT, dir.path().join("o"), "image/rgba+png");
        let inputs = Ports::new()
            .with(XML, &not_xml, "application/gamera+xml")
            .with(IMAGE, page(dir.path()), "image/rgba+png");
        let err = ExtractCClefs
            .run(&inputs, &json!({}), &outputs)
            .expect_err("not GameraXML");
        assert!(err.is_permanent(), "{err:?}");
        let missing = Ports::new().with(XML, &not_xml, "application/gamera+xml");
        let err = ExtractCClefs
            .run(&missing, &json!({}), &outputs)
            .expect_err("no image");
        assert!(err.error_summary().contains(IMAGE));
        let resource = Resource::new("/a/b/original_file", "image/rgba+png");
        assert_eq!(resource.resource_name(), "original_file");
    }
}
