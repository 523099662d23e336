//! 'Column Splitting Data' written by Column Splitting is read by MEI Encoding, as upstream's
//! workflows chain them: the MEI gets one column per split range.

mod support;

use rodan_jobs::opencv::{AnyMat, Mat, imwrite};
use rodan_jobs::{Ports, find};
use serde_json::json;
use support::fixture;

#[test]
fn mei_encoding_lays_out_the_columns_column_splitting_found() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    // Three columns of ink at x 50..250, 350..550 and 650..850 on a 1000 x 80 page: the splits
    // fall halfway across the gutters (the smoothing widens both sides of a gutter alike).
    let (width, height) = (1000, 80);
    let data = (0..height)
        .flat_map(|y| (0..width).map(move |x| (x, y)))
        .flat_map(|(x, y)| {
            let ink = x % 300 >= 50 && x % 300 < 250 && x < 900 && y % 4 == 0;
            if ink { [0, 0, 0, 255] } else { [0; 4] }
        })
        .collect();
    let layer = AnyMat::U8(Mat::new(width, height, 4, data).expect("samples"));
    let page = dir.path().join("layer.png");
    imwrite(&page, &layer).expect("the layer is written");
    let mut inputs = Ports::new();
    let mut outputs = Ports::new();
    for port in ["Staff Layer", "Music Notes Layer", "Text Layer"] {
        inputs = inputs.with(port, &page, "image/rgba+png");
        outputs = outputs.with(port, dir.path().join(port), "image/rgba+png");
    }
    let data = dir.path().join("columns.json");
    outputs = outputs.with("Column Splitting Data", &data, "application/json");
    find("Column Splitting")
        .expect("in the catalogue")
        .run(&inputs, &json!({"Number of columns": 3}), &outputs)
        .expect("the page splits");
    let text = std::fs::read_to_string(&data).expect("the JSON is written");
    assert_eq!(
        text,
        r#"{"width": 1000, "height": 80, "split_ranges": [[0, 299], [299, 599], [599, 1000]]}"#
    );

    let mei = dir.path().join("out.mei");
    let inputs = Ports::new()
        .with(
            "JSOMR",
            fixture("mei-encoding-test-hpf.json"),
            "application/json",
        )
        .with(
            "MEI Mapping CSV",
            fixture("mei-encoding-test.csv"),
            "text/csv",
        )
        .with("Column Splitting Data", &data, "application/json");
    let outputs = Ports::new().with("MEI", &mei, "application/mei+xml");
    find("MEI Encoding")
        .expect("in the catalogue")
        .run(&inputs, &json!({}), &outputs)
        .expect("MEI Encoding reads the column splitting data");
    let mei = std::fs::read_to_string(&mei).expect("the MEI is written");
    assert!(
        mei.contains(r#"<colLayout cols="3""#),
        "{}",
        &mei[..mei.len().min(2000)]
    );
}
