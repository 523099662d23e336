//! Rodan's REST API server: upstream rodan-main's API on PostgreSQL, RabbitMQ and Redis.

pub mod accounts;
pub mod auth;
pub mod body;
pub mod bootstrap;
pub mod config;
pub mod cors;
pub mod error;
pub mod limits;
pub mod link;
pub mod models;
pub mod perm;
pub mod query;
pub mod redispatch;
pub mod routes;
pub mod security;
pub mod server;
pub mod state;
mod telemetry;

pub use routes::app;

/// Runs the command line's subcommand: `migrate` ([`bootstrap`]) or `serve` ([`server`]).
pub async fn run(cli: config::Cli) -> anyhow::Result<()> {
    telemetry::init(cli.log_json || cli.log_format == rodan_types::LogFormat::Json);
    match cli.command {
        // The process is PID 1 of its container, which ignores SIGTERM without a handler: so a
        // stop while it still waits for the database ends it at once. The migration did not
        // finish then, and says so by failing (each migration is one transaction).
        config::Command::Migrate(args) => tokio::select! {
            done = bootstrap::migrate(args) => done,
            () = server::shutdown() => {
                anyhow::bail!("stopped by a signal before the migration finished")
            }
        },
        config::Command::Serve(args) => server::serve(*args).await,
    }
}

#[cfg(test)]
mod imports {
    //! The modules' imports form no cycle (issue #12): each module can be read knowing only
    //! the ones below it.

    use std::collections::{BTreeMap, BTreeSet};
    use std::path::Path;

    /// Top-level module → the top-level modules its code (tests left out) names as `crate::…`;
    /// `routes/*` counts as `routes`.
    fn graph() -> BTreeMap<String, BTreeSet<String>> {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        for dir in [src.clone(), src.join("routes")] {
            for entry in std::fs::read_dir(&dir).expect("the sources") {
                let path = entry.expect("an entry").path();
                if path.extension().is_some_and(|e| e == "rs") {
                    files.push(path);
                }
            }
        }
        let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for path in files {
            let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
            let module = if path.parent() == Some(src.join("routes").as_path()) {
                "routes"
            } else {
                stem
            };
            if matches!(module, "lib" | "main") {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("a source file");
            let code = text.split("#[cfg(test)]").next().unwrap_or("");
            let names = graph.entry(module.to_owned()).or_default();
            let first = |path: &str| -> String {
                path.trim()
                    .chars()
                    .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                    .collect()
            };
            for (i, _) in code.match_indices("crate::") {
                let rest = &code[i + 7..];
                // `crate::{a, b::C}` names several.
                let named: Vec<String> = match rest.strip_prefix('{') {
                    Some(group) => group
                        .split('}')
                        .next()
                        .unwrap_or("")
                        .split(',')
                        .map(first)
                        .collect(),
                    None => vec![first(rest)],
                };
                for name in named {
                    if !name.is_empty() && name != module {
                        names.insert(name);
                    }
                }
            }
        }
        let known: BTreeSet<String> = graph.keys().cloned().collect();
        for names in graph.values_mut() {
            names.retain(|n| known.contains(n));
        }
        graph
    }

    /// A cycle through `from`, if there is one: the modules along it.
    fn cycle(
        graph: &BTreeMap<String, BTreeSet<String>>,
        from: &str,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|m| m == from) {
            let mut found = path[at..].to_vec();
            found.push(from.to_owned());
            return Some(found);
        }
        if done.contains(from) {
            return None;
        }
        path.push(from.to_owned());
        for next in graph.get(from).into_iter().flatten() {
            if let Some(found) = cycle(graph, next, path, done) {
                return Some(found);
            }
        }
        path.pop();
        done.insert(from.to_owned());
        None
    }

    #[test]
    fn the_modules_import_each_other_in_no_cycle() {
        let graph = graph();
        assert!(graph.len() > 15, "the sources were read: {graph:?}");
        let mut done = BTreeSet::new();
        for module in graph.keys() {
            let found = cycle(&graph, module, &mut Vec::new(), &mut done);
            assert_eq!(found, None, "an import cycle");
        }
    }
}
