//! Gamera's image conversion jobs (upstream `gamera_rodan/wrappers/plugins/image_conversion.py`).

use rodan_core::catalogue::JobDescriptor;
use serde_json::{Value, json};

use super::{load_input, save_outputs};
use crate::descriptor::{GAMERA_PNG_TYPES, Spec, describe, port};
use crate::gamera::Image;
use crate::gamera::conversion::{to_grey16, to_greyscale, to_onebit, to_rgb};
use crate::job::{Inputs, Job, JobError, Outputs};

const INPUT: &str = "PNG image";
const AUTHOR: &str = "Ryan Bannon";
const CATEGORY: &str = "Gamera - Image Conversion";

fn conversion_descriptor(
    name: &str,
    description: &str,
    output: &str,
    output_type: &str,
) -> JobDescriptor {
    describe(
        Spec {
            name,
            author: AUTHOR,
            description,
            category: CATEGORY,
        },
        json!({"job_queue": "Python3"}),
        vec![port(INPUT, 1, 1, &GAMERA_PNG_TYPES)],
        vec![port(output, 1, 2, &[output_type])],
    )
}

const TO_RGB_DESCRIPTION: &str = r#"
    Converts the given image to an RGB image according to the following rules:

    - for ONEBIT images, 0 is mapped to (255,255,255) and everything else to (0,0,0)
    - for GREYSCALE and GREY16 images, R=G=B
    - for FLOAT images, the range [min,max] is linearly mapped to the 256 grey values

    Note, converting an image to one of the same type performs a copy operation.
    "#;
const TO_GREYSCALE_DESCRIPTION: &str = r#"
    Converts the given image to a GREYSCALE image according to the following rules:

    - for ONEBIT images, 0 is mapped to 255 and everything else to 0.
    - for FLOAT images, the range [min,max] is linearly scaled to [0,255]
    - for GREY16 images, the range [0,max] is linearly scaled to [0,255]
    - for RGB images, the luminance is used, which is defined in VIGRA as 0.3*R + 0.59*G + 0.11*B

    Converting an image to one of the same type performs a copy operation.
    "#;
const TO_GREY16_DESCRIPTION: &str = r#"
    Converts the given image to a GREY16 image according to the following rules:
    - for ONEBIT images, 0 is mapped to 65535 and everything else to 0.
    - for FLOAT images, the range [min,max] is linearly scaled to [0,65535]
    - for GREYSCALE images, pixel values are copied unchanged
    - for RGB images, the luminance is used, which is defined in VIGRA as 0.3*R + 0.59*G + 0.11*B. This results only in a value range [0,255]

    Converting an image to one of the same type performs a copy operation.
    "#;
const TO_ONEBIT_DESCRIPTION: &str = r#"
    Converts the given image to a ONEBIT image. First the image is converted
    and then the otsu_threshold_ algorithm is applied.
    For other ways to convert to ONEBIT images, see the Binarization_ category.

    Converting an image to one of the same type performs a copy operation.

    .. _otsu_threshold: binarization.html#otsu-threshold
    .. _Binarization: binarization.html
    "#;

macro_rules! conversion_job {
    ($ty:ident, $name:literal, $description:ident, $output:literal, $output_type:literal, $convert:expr) => {
        #[doc = concat!("'", $name, "': ", "converts any Gamera PNG to ", $output_type, ".")]
        #[derive(Debug, Clone, Copy, Default)]
        pub struct $ty;

        impl Job for $ty {
            fn name(&self) -> &'static str {
                $name
            }

            fn descriptor(&self) -> JobDescriptor {
                conversion_descriptor($name, $description, $output, $output_type)
            }

            fn run(
                &self,
                inputs: &Inputs,
                _settings: &Value,
                outputs: &Outputs,
            ) -> Result<(), JobError> {
                let image = load_input(inputs, INPUT)?;
                let convert: fn(&Image) -> Result<Image, JobError> = $convert;
                save_outputs(&convert(&image)?, outputs, $output)
            }
        }
    };
}

conversion_job!(
    ToRgb,
    "Convert to RGB PNG",
    TO_RGB_DESCRIPTION,
    "RGB PNG image",
    "image/rgb+png",
    |i| Ok(Image::Rgb(to_rgb(i)?))
);
conversion_job!(
    ToGreyscale,
    "Convert to greyscale PNG",
    TO_GREYSCALE_DESCRIPTION,
    "Greyscale PNG image",
    "image/greyscale+png",
    |i| Ok(Image::GreyScale(to_greyscale(i)?))
);
conversion_job!(
    ToGrey16,
    "Convert to greyscale 16 PNG",
    TO_GREY16_DESCRIPTION,
    "Greyscale 16 PNG image",
    "image/grey16+png",
    |i| Ok(Image::Grey16(to_grey16(i)))
);
conversion_job!(
    ToOnebit,
    "Convert to one-bit (black and white) PNG",
    TO_ONEBIT_DESCRIPTION,
    "One-bit PNG image",
    "image/onebit+png",
    |i| Ok(Image::OneBit(to_onebit(i)?))
);
