//! The Hello World test jobs (upstream `helloworld/helloworld.py`).

use rodan_core::catalogue::JobDescriptor;
use serde_json::{Value, json};

use super::write_file;
use crate::descriptor::{Spec, describe, port};
use crate::job::{Inputs, Job, JobError, Outputs};

const INPUT: &str = "Text input";
const OUTPUT: &str = "Text output";

fn read(path: &std::path::Path) -> Result<Vec<u8>, JobError> {
    crate::limits::read_text_input(path, "the text input")
}

/// `Hello World` or `Hello World <input text>` into the first output.
fn hello(inputs: &Inputs, outputs: &Outputs) -> Result<(), JobError> {
    let mut text = b"Hello World".to_vec();
    if let Some(input) = inputs.get(INPUT).first() {
        text.push(b' ');
        text.extend(read(&input.path)?);
    }
    write_file(&outputs.first(OUTPUT)?.path, &text)
}

fn hello_descriptor(name: &str, author: &str, description: &str, settings: Value) -> JobDescriptor {
    describe(
        Spec {
            name,
            author,
            description,
            category: "Test",
        },
        settings,
        vec![port(INPUT, 0, 1, &["text/plain"])],
        vec![port(OUTPUT, 1, 1, &["text/plain"])],
    )
}

/// 'Hello World': writes "Hello World" (followed by the input text when there is one).
#[derive(Debug, Clone, Copy, Default)]
pub struct HelloWorld;

impl Job for HelloWorld {
    fn name(&self) -> &'static str {
        "Hello World"
    }

    fn descriptor(&self) -> JobDescriptor {
        hello_descriptor(
            self.name(),
            "Ryan Bannon",
            "Output string \"Hello World\"",
            json!({}),
        )
    }

    fn run(&self, inputs: &Inputs, _settings: &Value, outputs: &Outputs) -> Result<(), JobError> {
        hello(inputs, outputs)
    }
}

/// 'Hello World - Python3': Hello World on the Python3 queue.
#[derive(Debug, Clone, Copy, Default)]
pub struct HelloWorld3;

impl Job for HelloWorld3 {
    fn name(&self) -> &'static str {
        "Hello World - Python3"
    }

    fn descriptor(&self) -> JobDescriptor {
        hello_descriptor(
            self.name(),
            "Alex Daigle",
            "Output string \"Hello World\", using a different celery queue. All you need is to specify the job_queue in the settings dictionary.",
            json!({"job_queue": "Python3"}),
        )
    }

    fn run(&self, inputs: &Inputs, _settings: &Value, outputs: &Outputs) -> Result<(), JobError> {
        hello(inputs, outputs)
    }
}

/// 'Hello World Multiple Ports': every input followed by a newline, then
/// "Hello World MultiPort", into every output.
#[derive(Debug, Clone, Copy, Default)]
pub struct HelloWorldMultiPort;

impl Job for HelloWorldMultiPort {
    fn name(&self) -> &'static str {
        "Hello World Multiple Ports"
    }

    fn descriptor(&self) -> JobDescriptor {
        describe(
            Spec {
                name: self.name(),
                author: "Studio theYANG",
                description: "Concatenate all input files and append \"Hello World MultiPort\"",
                category: "Test",
            },
            json!({}),
            vec![port(INPUT, 0, 10, &["text/plain"])],
            vec![port(OUTPUT, 1, 10, &["text/plain"])],
        )
    }

    fn run(&self, inputs: &Inputs, _settings: &Value, outputs: &Outputs) -> Result<(), JobError> {
        let mut text = Vec::new();
        for (_, files) in inputs.iter() {
            for file in files {
                text.extend(read(&file.path)?);
                text.push(b'\n');
            }
        }
        text.extend_from_slice(b"Hello World MultiPort");
        for (_, files) in outputs.iter() {
            for file in files {
                write_file(&file.path, &text)?;
            }
        }
        Ok(())
    }
}
