//! `pipeline demo`: the whole job on this machine, no cloud account. A
//! sandbox repository with `master` and `develop` holding the sample app, a
//! bare repository as its remote, a local agent, five environments with
//! blue/green switches; then a second change whose verification after the
//! switch fails, rolled back automatically.

use std::io::Write as _;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use pipeline_cli::{Exit, Failure, OrUsage as _};

use crate::run::{RunOptions, run};

const MARKER: &str = ".pipeline-demo";
const ENVS: [&str; 5] = ["ci", "dev", "qa", "staging", "production"];

fn git(dir: &Path, args: &[&str]) -> Result<String, Failure> {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "Pipeline Demo")
        .env("GIT_AUTHOR_EMAIL", "demo@pipeline.invalid")
        .env("GIT_COMMITTER_NAME", "Pipeline Demo")
        .env("GIT_COMMITTER_EMAIL", "demo@pipeline.invalid")
        .stdin(Stdio::null())
        .output()
        .or_usage_with(|| format!("cannot run git {}", args.join(" ")))?;
    if !out.status.success() {
        return Err(Failure::usage(format!(
            "git {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn copy_tree(from: &Path, to: &Path) -> Result<(), Failure> {
    std::fs::create_dir_all(to).or_usage_with(|| format!("cannot create {}", to.display()))?;
    for entry in
        std::fs::read_dir(from).or_usage_with(|| format!("cannot read {}", from.display()))?
    {
        let entry = entry.or_usage_with(|| format!("cannot read {}", from.display()))?;
        let name = entry.file_name();
        let n = name.to_string_lossy();
        if matches!(
            n.as_ref(),
            ".venv" | "reports" | "__pycache__" | ".pytest_cache" | ".coverage" | "app.env"
        ) {
            continue;
        }
        let (src, dst) = (entry.path(), to.join(&name));
        let kind = entry
            .file_type()
            .or_usage_with(|| format!("cannot read {}", from.display()))?;
        if kind.is_dir() {
            copy_tree(&src, &dst)?;
        } else if kind.is_file() {
            std::fs::copy(&src, &dst).or_usage_with(|| format!("cannot copy {}", src.display()))?;
        }
    }
    Ok(())
}

fn free_port() -> Result<u16, Failure> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .or_usage("cannot find a free port on 127.0.0.1")
}

fn config(fronts: &[u16]) -> String {
    let mut s = String::from(
        r#"# The demo's job: the sample app through five environments on the local agent.

[branches]
main = "master"
develop = "develop"
remote = "origin"
tag_prefix = "v"

[test]
command = "bash app/ci/test.sh reports"
workspace = "app"
reports = { junit = ["reports/junit-*.xml"], cobertura = ["reports/coverage.xml"], pylint = ["reports/pylint.json"] }
gate = { max_failures = 0, min_line_coverage = 90, min_branch_coverage = 80, min_pylint_score = 9.5 }

[artifact]
source = "app"
out = "dist/app.zip"
"#,
    );
    for (name, port) in ENVS.iter().zip(fronts) {
        s.push_str(&format!(
            r#"
[[environment]]
name = "{name}"
target = {{ kind = "local", front = "127.0.0.1:{port}", command = "exec sh run.sh", health_timeout_secs = 180, keep_warm_secs = 600 }}
validate = [{{ name = "smoke", command = 'bash app/ci/smoke.sh "$SLOT_URL"', timeout_secs = 60 }}]
verify = {{ health_for_secs = 2, checks = [{{ name = "integration", command = 'bash app/ci/validate.sh "$SLOT_URL" reports/{name}', timeout_secs = 300 }}] }}
"#
        ));
    }
    s
}

/// Runs the demo in `dir` with the app at `app`.
pub(crate) fn demo(
    dir: &Path,
    app: &Path,
    exit: bool,
    env: &pipeline_ci::Env,
) -> Result<Exit, Failure> {
    let started = Instant::now();
    if !app.join("run.sh").exists() || !app.join("ci/test.sh").exists() {
        return Err(Failure::usage(format!(
            "{}: not the sample app (no run.sh, ci/test.sh); run the demo from the repository root or pass --app",
            app.display()
        )));
    }
    if dir.exists() {
        if !dir.join(MARKER).exists()
            && std::fs::read_dir(dir)
                .or_usage_with(|| format!("cannot read {}", dir.display()))?
                .next()
                .is_some()
        {
            return Err(Failure::usage(format!(
                "{} is not empty and holds no earlier demo: choose another --dir",
                dir.display()
            )));
        }
        stop_agent(&dir.join("repo/.pipeline/agent"));
        std::fs::remove_dir_all(dir).or_usage_with(|| format!("cannot empty {}", dir.display()))?;
    }
    std::fs::create_dir_all(dir).or_usage_with(|| format!("cannot create {}", dir.display()))?;
    let dir =
        std::fs::canonicalize(dir).or_usage_with(|| format!("cannot resolve {}", dir.display()))?;
    std::fs::write(dir.join(MARKER), "").or_usage("cannot mark the sandbox")?;
    let remote = dir.join("remote.git");
    let repo = dir.join("repo");
    eprintln!("sandbox: {} (remote {})", repo.display(), remote.display());

    // The repository: master with the app, develop from it, both pushed.
    git(
        &dir,
        &["init", "-q", "--bare", "-b", "master", "remote.git"],
    )?;
    git(&dir, &["init", "-q", "-b", "master", "repo"])?;
    copy_tree(app, &repo.join("app"))?;
    let fronts: Vec<u16> = ENVS
        .iter()
        .map(|_| free_port())
        .collect::<Result<_, Failure>>()?;
    std::fs::write(repo.join("pipeline.toml"), config(&fronts))
        .or_usage("cannot write the sandbox's pipeline.toml")?;
    std::fs::write(
        repo.join(".gitignore"),
        ".pipeline/\nreports/\ndist/\napp/.venv/\n__pycache__/\n",
    )
    .or_usage("cannot write the sandbox's .gitignore")?;
    std::fs::write(
        repo.join("README.md"),
        "# Inventory service\n\nShipped by `pipeline run`.\n",
    )
    .or_usage("cannot write to the sandbox")?;
    git(&repo, &["add", "-A"])?;
    git(
        &repo,
        &["commit", "-q", "-m", "chore: the inventory service"],
    )?;
    git(&repo, &["tag", "v0.1.0"])?;
    git(
        &repo,
        &[
            "remote",
            "add",
            "origin",
            remote.to_str().or_usage("sandbox path is not UTF-8")?,
        ],
    )?;
    git(&repo, &["checkout", "-q", "-b", "develop"])?;
    git(
        &repo,
        &["push", "-q", "origin", "master", "develop", "v0.1.0"],
    )?;

    // The local agent.
    let state = repo.join(".pipeline/agent");
    start_agent(&state, &dir.join("agent.log"))?;

    // First change: a feature, through every environment.
    std::fs::write(
        repo.join("app/CHANGES.md"),
        "- items can be listed and added\n",
    )
    .or_usage("cannot write to the sandbox")?;
    git(&repo, &["add", "-A"])?;
    git(&repo, &["commit", "-q", "-m", "feat: list and add items"])?;
    git(&repo, &["push", "-q", "origin", "develop"])?;
    eprintln!("\n### the first change: feat: list and add items\n");
    let options = RunOptions {
        config: "pipeline.toml".into(),
        repo: repo.clone(),
        until: None,
        max_soak_wait: 3600,
        dry_run: false,
        json: false,
        secrets: Vec::new(),
    };
    let (first, _) = run(&options, env)?;
    if first != Exit::Success {
        eprintln!(
            "\nthe first run stopped (exit {}); the agent log is {}",
            first as u8,
            dir.join("agent.log").display()
        );
        return Ok(first);
    }

    // Second change: writes break, which only the integration tests after
    // the switch catch (the smoke check before it reads). ci rolls back.
    std::fs::write(repo.join("app/app.env"), "APP_BREAK_WRITES=1\n")
        .or_usage("cannot write to the sandbox")?;
    git(&repo, &["add", "-A", "-f", "app/app.env"])?;
    git(&repo, &["commit", "-q", "-m", "feat: faster item writes"])?;
    git(&repo, &["push", "-q", "origin", "develop"])?;
    eprintln!("\n### the second change: feat: faster item writes (which breaks writes)\n");
    let (second, doc) = run(&options, env)?;
    let rolled_back = second == Exit::Refused
        && doc
            .environments
            .first()
            .is_some_and(|e| e.env == ENVS[0] && e.outcome == "rolled-back");
    eprintln!(
        "\n{}",
        if rolled_back {
            "the second release failed its checks after the switch and was rolled back automatically; production still runs the first"
        } else {
            "the second run did not stop where expected (an automatic rollback in ci)"
        }
    );
    let production = format!("http://127.0.0.1:{}/", fronts[4]);
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "production: {production}  (try {production}health)");
    let _ = writeln!(
        out,
        "demo finished in {:.0}s",
        started.elapsed().as_secs_f64()
    );
    drop(out);
    if !rolled_back {
        stop_agent(&state);
        return Ok(if second == Exit::Success {
            Exit::Refused
        } else {
            second
        });
    }
    if exit {
        stop_agent(&state);
        return Ok(Exit::Success);
    }
    eprintln!("production stays up until you press Ctrl-C");
    wait_for_interrupt();
    stop_agent(&state);
    Ok(Exit::Success)
}

/// The agent binary: beside this executable (the step binaries ship
/// together), else on `PATH`.
fn agent_binary() -> std::path::PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|me| Some(me.parent()?.join("pipeline-agent")))
        .filter(|p| p.exists())
        .unwrap_or_else(|| "pipeline-agent".into())
}

fn start_agent(state: &Path, log: &Path) -> Result<(), Failure> {
    let log_file =
        std::fs::File::create(log).or_usage_with(|| format!("cannot create {}", log.display()))?;
    let err = log_file
        .try_clone()
        .or_usage_with(|| format!("cannot open {}", log.display()))?;
    std::os::unix::process::CommandExt::process_group(
        Command::new(agent_binary())
            .arg("serve")
            .arg("--state-dir")
            .arg(state)
            .args([
                "--listen",
                "127.0.0.1:0",
                "--stop-grace",
                "5",
                "--stop-apps-on-exit",
            ])
            .stdin(Stdio::null())
            .stdout(log_file)
            .stderr(err),
        0,
    )
    .spawn()
    .or_usage("cannot start pipeline-agent (build the workspace: cargo build --release)")?;
    let deadline = Instant::now() + Duration::from_secs(20);
    while !state.join("agent.json").exists() {
        if Instant::now() > deadline {
            return Err(Failure::usage(format!(
                "the agent did not start; see {}",
                log.display()
            )));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    eprintln!("local agent: state in {}", state.display());
    Ok(())
}

/// Stops the demo's agent (which stops its apps).
fn stop_agent(state: &Path) {
    let Ok(text) = std::fs::read_to_string(state.join("agent.json")) else {
        return;
    };
    let Ok(info) = serde_json::from_str::<pipeline_contracts::agent::AgentInfo>(&text) else {
        return;
    };
    let pid = i64::from(info.pid);
    if pid <= 1 {
        return;
    }
    if let Some(pid) = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    {
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while running(pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Whether `pid` has not exited. The agent is this process's child, never
/// reaped: once it exits it stays in /proc as a zombie, which has.
fn running(pid: i64) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rfind(')')
            .and_then(|close| stat[close + 1..].split_whitespace().next())
            .is_some_and(|state| state != "Z")
    })
}

fn wait_for_interrupt() {
    // Block until SIGINT or SIGTERM: the shell's `trap`-free way is to wait
    // on a child that those signals also reach.
    let _ = Command::new("sh")
        .args(["-c", "trap 'exit 0' INT TERM; while :; do sleep 3600; done"])
        .status();
}
