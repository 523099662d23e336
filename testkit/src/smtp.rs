//! A real SMTP server on loopback: aiosmtpd (PyPI, `scripts/build-aiosmtpd.sh`) with a handler
//! that writes each message it accepts, parsed by Python's `email` package, as one JSON file.

use serde::Deserialize;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The aiosmtpd handler: `Sink <folder>` writes `<time>-<n>.json` per message, atomically (a reader
/// never sees half a file), then answers 250.
const HANDLER: &str = r#"
import email, email.policy, itertools, json, os, time

class Sink:
    def __init__(self, folder):
        self.folder = folder
        self.count = itertools.count()

    @classmethod
    def from_cli(cls, parser, *args):
        if len(args) != 1:
            parser.error("Sink takes the folder to write messages to")
        return cls(args[0])

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        text = message.get_body(("plain",))
        html = message.get_body(("html",))
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "from": str(message["From"]),
            "to": str(message["To"]),
            "subject": str(message["Subject"]),
            "text": text.get_content() if text is not None else "",
            "html": html.get_content() if html is not None else None,
            "raw": envelope.content.decode("utf-8", "replace"),
        }
        # Named by arrival, so a restarted server adds to what an earlier one kept.
        name = "%020d-%06d" % (time.time_ns(), next(self.count))
        temporary = os.path.join(self.folder, "." + name + ".tmp")
        with open(temporary, "w") as out:
            json.dump(record, out)
        os.rename(temporary, os.path.join(self.folder, name + ".json"))
        return "250 Message accepted for delivery"
"#;

/// A message the server accepted.
#[derive(Debug, Clone, Deserialize)]
pub struct ReceivedMail {
    /// The envelope sender (`MAIL FROM`).
    pub mail_from: String,
    /// The envelope recipients (`RCPT TO`).
    pub rcpt_tos: Vec<String>,
    /// The `From` header.
    pub from: String,
    /// The `To` header.
    pub to: String,
    /// The subject, decoded.
    pub subject: String,
    /// The plain-text body, decoded (empty when there is none).
    pub text: String,
    /// The HTML body, decoded.
    pub html: Option<String>,
    /// The whole message as received.
    pub raw: String,
}

/// aiosmtpd listening on a free loopback port, without TLS or authentication, stopped on drop.
#[derive(Debug)]
pub struct Smtp {
    child: Child,
    dir: tempfile::TempDir,
    /// Its port on 127.0.0.1.
    pub port: u16,
}

/// The python of the aiosmtpd venv: `RODAN_AIOSMTPD_PYTHON` (`scripts/test.sh` exports it), or
/// what `scripts/build-aiosmtpd.sh` builds (cached) when it is not set.
fn python() -> String {
    if let Ok(python) = std::env::var("RODAN_AIOSMTPD_PYTHON") {
        return python;
    }
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/build-aiosmtpd.sh");
    let out = Command::new(&script)
        .stderr(Stdio::inherit())
        .output()
        .unwrap_or_else(|e| panic!("failed to run {}: {e}", script.display()));
    assert!(out.status.success(), "{} failed", script.display());
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .expect("build-aiosmtpd.sh prints the python")
        .to_owned()
}

impl Smtp {
    /// Starts the server and waits for its port.
    pub fn start() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("rodan-smtp-")
            .tempdir()
            .expect("a temp dir");
        let code = dir.path().join("code");
        let inbox = dir.path().join("inbox");
        std::fs::create_dir_all(&code).expect("the handler's folder");
        std::fs::create_dir_all(&inbox).expect("the inbox");
        std::fs::write(code.join("rodan_smtp_sink.py"), HANDLER).expect("the handler");
        let port = super::free_port();
        let child = spawn(dir.path(), port);
        Self { child, dir, port }
    }

    /// The messages received so far, oldest first.
    pub fn messages(&self) -> Vec<ReceivedMail> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.dir.path().join("inbox"))
            .expect("the inbox")
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
            .collect();
        files.sort();
        files
            .iter()
            .map(|path| {
                let text = std::fs::read_to_string(path).expect("a message file");
                serde_json::from_str(&text).expect("a message record")
            })
            .collect()
    }

    /// Waits up to `timeout` until at least `n` messages arrived, and returns them all.
    pub fn wait_for(&self, n: usize, timeout: Duration) -> Vec<ReceivedMail> {
        let start = Instant::now();
        loop {
            let messages = self.messages();
            if messages.len() >= n {
                return messages;
            }
            assert!(
                start.elapsed() < timeout,
                "{} of {n} messages arrived within {timeout:?}; aiosmtpd's log:\n{}",
                messages.len(),
                std::fs::read_to_string(self.dir.path().join("aiosmtpd.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the server, as an outage would; messages received stay readable.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts the server again on its port, after [`Smtp::stop`]; new messages join the old.
    pub fn start_again(&mut self) {
        self.child = spawn(self.dir.path(), self.port);
    }
}

/// Runs aiosmtpd on `port` with the handler in `dir`, writing to `dir/inbox`; waits for the port.
fn spawn(dir: &std::path::Path, port: u16) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("aiosmtpd.log"))
        .expect("a log file");
    let child = Command::new(python())
        .args(["-m", "aiosmtpd", "-n", "-l"])
        .arg(format!("127.0.0.1:{port}"))
        .args(["-c", "rodan_smtp_sink.Sink"])
        .arg(dir.join("inbox"))
        .env("PYTHONPATH", dir.join("code"))
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("the log file"))
        .stderr(log)
        .spawn()
        .expect("aiosmtpd starts");
    super::wait_for_port(port, "aiosmtpd", Duration::from_secs(20));
    child
}

impl Drop for Smtp {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpStream;

    #[test]
    fn a_message_sent_by_hand_is_kept_decoded() {
        let smtp = Smtp::start();
        let stream = TcpStream::connect(("127.0.0.1", smtp.port)).expect("connects");
        let mut reader = BufReader::new(stream.try_clone().expect("a clone"));
        let mut writer = stream;
        let mut expect = |code: &str| loop {
            let mut line = String::new();
            reader.read_line(&mut line).expect("a reply");
            assert!(line.starts_with(code), "{code} expected, got {line:?}");
            if line.as_bytes().get(3) != Some(&b'-') {
                break;
            }
        };
        expect("220");
        for (command, code) in [
            ("EHLO test", "250"),
            ("MAIL FROM:<a@example.org>", "250"),
            ("RCPT TO:<b@example.org>", "250"),
            ("DATA", "354"),
        ] {
            writer
                .write_all(format!("{command}\r\n").as_bytes())
                .expect("a command");
            expect(code);
        }
        writer
            .write_all(
                b"From: A <a@example.org>\r\nTo: b@example.org\r\nSubject: =?utf-8?q?caf=C3=A9?=\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nsee http://x/#activate/MQ/abc-=\r\ndef\r\n.\r\n",
            )
            .expect("the message");
        expect("250");
        let got = smtp.wait_for(1, Duration::from_secs(10));
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].rcpt_tos, ["b@example.org"]);
        assert_eq!(got[0].mail_from, "a@example.org");
        assert_eq!(got[0].subject, "café");
        assert_eq!(got[0].text.trim(), "see http://x/#activate/MQ/abc-def");
        assert_eq!(got[0].html, None);
    }
}
