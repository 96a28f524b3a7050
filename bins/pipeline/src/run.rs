//! `pipeline run`: every step of the job, one binary each.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use pipeline_cli::Exit;
use pipeline_config::PipelineConfig;

/// A step binary: beside this executable, else on `PATH`.
pub(crate) fn step_binary(name: &str) -> PathBuf {
    if let Ok(me) = std::env::current_exe()
        && let Some(dir) = me.parent()
    {
        let beside = dir.join(name);
        if beside.exists() {
            return beside;
        }
    }
    PathBuf::from(name)
}

/// What a step left: its exit, its stdout.
struct Ran {
    code: i32,
    stdout: String,
}

fn exit_of(code: i32) -> Exit {
    match code {
        0 => Exit::Success,
        1 => Exit::Refused,
        3 => Exit::External,
        _ => Exit::Usage,
    }
}

/// Runs one step, printing its name, outcome and time; its stderr goes
/// straight through, its stdout is kept (JSON) unless `show`.
fn step(title: &str, cmd: &mut Command, show: bool) -> anyhow::Result<Ran> {
    let started = Instant::now();
    eprintln!("==> {title}");
    let out = cmd
        .stdin(Stdio::null())
        .stdout(if show {
            Stdio::inherit()
        } else {
            Stdio::piped()
        })
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("cannot start {:?}", cmd.get_program()))?;
    let code = out.status.code().unwrap_or(3);
    let mark = if code == 0 { "ok" } else { "FAILED" };
    eprintln!("    {mark} ({:.1}s)", started.elapsed().as_secs_f64());
    Ok(Ran {
        code,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
    })
}

/// Runs a step that prints one JSON document (`what` names it in the
/// error when it does not): the document, or the exit to stop with when the
/// step said no.
fn json_step(
    title: &str,
    cmd: &mut Command,
    what: &str,
) -> anyhow::Result<Result<serde_json::Value, Exit>> {
    let r = step(title, cmd, false)?;
    if r.code != 0 {
        return Ok(Err(exit_of(r.code)));
    }
    let doc =
        serde_json::from_str(r.stdout.trim()).with_context(|| format!("{what} printed no JSON"))?;
    Ok(Ok(doc))
}

/// Runs a step whose output goes straight through, in its own process
/// group, killed (the whole group) when it outlives `limit`: exit 1 then,
/// the step said no.
fn timed_step(title: &str, cmd: &mut Command, limit: Duration) -> anyhow::Result<Ran> {
    use std::os::unix::process::CommandExt as _;
    let started = Instant::now();
    eprintln!("==> {title}");
    let mut child = cmd
        .stdin(Stdio::null())
        .process_group(0)
        .spawn()
        .with_context(|| format!("cannot start {:?}", cmd.get_program()))?;
    let code = loop {
        if let Some(status) = child.try_wait()? {
            break status.code().unwrap_or(3);
        }
        if started.elapsed() > limit {
            let pgid = child.id();
            if pgid > 1 {
                let _ = Command::new("kill")
                    .args(["-KILL", "--", &format!("-{pgid}")])
                    .status();
            }
            let _ = child.wait();
            eprintln!("    FAILED: did not finish within {}s", limit.as_secs());
            break 1;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mark = if code == 0 { "ok" } else { "FAILED" };
    eprintln!("    {mark} ({:.1}s)", started.elapsed().as_secs_f64());
    Ok(Ran {
        code,
        stdout: String::new(),
    })
}

/// Runs the job of `config` in `repo`.
pub(crate) fn run(
    config_path: &Path,
    repo: &Path,
    until: Option<&str>,
    max_soak_wait: u64,
) -> anyhow::Result<Exit> {
    let started = Instant::now();
    // Relative to the repository; else (when there is none there) to the
    // working directory. Only the file read is named in errors.
    let in_repo = repo.join(config_path);
    let config_file = if in_repo.exists() || !config_path.exists() {
        in_repo
    } else {
        config_path.to_path_buf()
    };
    let config =
        pipeline_promotion::load_config(&config_file).map_err(|e| anyhow::anyhow!("{e}"))?;
    let config_file = std::fs::canonicalize(&config_file).unwrap_or(config_file);
    if let Some(until) = until
        && config.environment(until).is_none()
    {
        anyhow::bail!(
            "--until {until}: no such environment in {}",
            config_file.display()
        );
    }
    let b = &config.branches;
    let git_flags = |cmd: &mut Command| {
        cmd.arg("--repo").arg(repo).args([
            "--remote",
            &b.remote,
            "--main-branch",
            &b.main,
            "--develop-branch",
            &b.develop,
            "--tag-prefix",
            &b.tag_prefix,
        ]);
    };

    // 1. Merge master into develop.
    let mut cmd = Command::new(step_binary("pipeline-git"));
    cmd.arg("sync");
    git_flags(&mut cmd);
    let r = step(
        &format!("sync: merge {} into {}", b.main, b.develop),
        &mut cmd,
        true,
    )?;
    if r.code != 0 {
        return Ok(exit_of(r.code));
    }

    // 2. The tests, then the gate on their reports.
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(&config.test.command).current_dir(repo);
    let tests = timed_step(
        &format!("test: {}", config.test.command),
        &mut cmd,
        Duration::from_secs(config.test.timeout_secs),
    )?;
    let gate_json = repo.join(".pipeline/gate.json");
    if let Some(dir) = gate_json.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let mut cmd = gate_command(&config, repo);
    let gate = step("gate: the test, coverage and lint reports", &mut cmd, false)?;
    std::fs::write(&gate_json, &gate.stdout)
        .with_context(|| format!("cannot write {}", gate_json.display()))?;
    summarize_gate(&gate.stdout);
    if gate.code != 0 {
        return Ok(exit_of(gate.code));
    }
    if tests.code != 0 {
        eprintln!(
            "the test command failed (exit {}) although the gate passed: stopping",
            tests.code
        );
        return Ok(Exit::Refused);
    }

    // 3. The release: the tag, and master brought to it.
    let mut cmd = Command::new(step_binary("pipeline-git"));
    cmd.arg("release").arg("--json");
    git_flags(&mut cmd);
    let doc = match json_step(
        "release: tag the version and bring master to it",
        &mut cmd,
        "pipeline-git release --json",
    )? {
        Ok(doc) => doc,
        Err(exit) => return Ok(exit),
    };
    let version = match doc["version"].as_str() {
        Some(v) => v.to_owned(),
        // Nothing new to release (a re-run): carry on with the last one.
        None => doc["previous_tag"]
            .as_str()
            .map(|t| t.trim_start_matches(b.tag_prefix.as_str()).to_owned())
            .context("nothing to release and no earlier release")?,
    };
    // `released` is true for a re-run that finds the release done (it
    // means "on the remote", not "made now"): the action tells them apart.
    eprintln!(
        "    version {version}{}",
        if doc["action"] == "released" {
            ""
        } else {
            " (already released; deploying it)"
        }
    );

    // 4. The artifact, kept by digest.
    let out = repo.join(&config.artifact.out);
    if let Some(parent) = out.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    let mut cmd = Command::new(step_binary("pipeline-deploy"));
    cmd.arg("package")
        .arg("--source")
        .arg(repo.join(&config.artifact.source))
        .arg("--out")
        .arg(&out)
        .arg("--json");
    for e in &config.artifact.exclude {
        cmd.args(["--exclude", e]);
    }
    let doc = match json_step(
        &format!("package: {}", config.artifact.source.display()),
        &mut cmd,
        "pipeline-deploy package --json",
    )? {
        Ok(doc) => doc,
        Err(exit) => return Ok(exit),
    };
    let sha = doc["sha256"]
        .as_str()
        .context("no sha256 from pipeline-deploy package")?
        .to_owned();
    let digest: pipeline_artifact::Sha256Digest = sha
        .parse()
        .with_context(|| format!("pipeline-deploy package printed {sha:?}"))?;
    let store = pipeline_artifact::ArtifactStore::new(repo.join(&config.artifact.store));
    store
        .put(&out, &digest)
        .with_context(|| format!("cannot keep the artifact in {}", store.dir().display()))?;
    eprintln!("    {} sha256 {sha}", out.display());

    // 5. Deploy to the first environment, then promote along the others.
    for (i, env) in config.environments.iter().enumerate() {
        let mut cmd = Command::new(step_binary("pipeline-promote"));
        cmd.arg("--config")
            .arg(&config_file)
            .arg("--repo")
            .arg(repo)
            .args(["promote", "--to", &env.name]);
        if i == 0 {
            cmd.args(["--version", &version, "--sha256", &sha])
                .arg("--gate-json")
                .arg(&gate_json);
        } else {
            cmd.args(["--version", &version]);
            if env.requires.soak_secs > 0 {
                cmd.args(["--wait-soak", &max_soak_wait.to_string()]);
            }
        }
        let r = step(
            &format!("promote {version} into {}", env.name),
            &mut cmd,
            true,
        )?;
        if r.code != 0 {
            status_table(&config_file, repo);
            return Ok(exit_of(r.code));
        }
        if until == Some(env.name.as_str()) {
            break;
        }
    }
    status_table(&config_file, repo);
    eprintln!("the job took {:.1}s", started.elapsed().as_secs_f64());
    Ok(Exit::Success)
}

fn gate_command(config: &PipelineConfig, repo: &Path) -> Command {
    let mut cmd = Command::new(step_binary("pipeline-report"));
    cmd.arg("gate").arg("--json").current_dir(repo);
    let r = &config.test.reports;
    for g in &r.junit {
        cmd.args(["--junit", g]);
    }
    for g in &r.cobertura {
        cmd.args(["--cobertura", g]);
    }
    for g in &r.pylint {
        cmd.args(["--pylint", g]);
    }
    let gate = &config.test.gate;
    cmd.args(["--max-failures", &gate.max_failures.to_string()]);
    if let Some(v) = gate.min_line_coverage {
        cmd.args(["--min-line-coverage", &v.to_string()]);
    }
    if let Some(v) = gate.min_branch_coverage {
        cmd.args(["--min-branch-coverage", &v.to_string()]);
    }
    if let Some(v) = gate.min_pylint_score {
        cmd.args(["--min-pylint-score", &v.to_string()]);
    }
    if let Some(ws) = &config.test.workspace {
        cmd.arg("--workspace").arg(ws);
    }
    cmd
}

fn summarize_gate(json: &str) {
    let Ok(doc) = serde_json::from_str::<serde_json::Value>(json.trim()) else {
        return;
    };
    let t = &doc["tests"]["counts"];
    let c = &doc["coverage"];
    let mut line = String::from("   ");
    if t.is_object() {
        line.push_str(&format!(
            " tests {} passed, {} failed;",
            t["passed"], t["failed"]
        ));
    }
    if let Some(l) = c["line_percent"].as_f64() {
        line.push_str(&format!(" line coverage {l:.1}%;"));
    }
    if let Some(b) = c["branch_percent"].as_f64() {
        line.push_str(&format!(" branch coverage {b:.1}%;"));
    }
    if let Some(s) = doc["pylint"]["score"].as_f64() {
        line.push_str(&format!(" pylint {s:.2};"));
    }
    line.push_str(if doc["gate"]["passed"] == true {
        " gate passed"
    } else {
        " gate FAILED"
    });
    eprintln!("{line}");
    for v in doc["gate"]["violations"].as_array().into_iter().flatten() {
        eprintln!("      {}", v);
    }
}

fn status_table(config: &Path, repo: &Path) {
    let out = Command::new(step_binary("pipeline-promote"))
        .arg("--config")
        .arg(config)
        .arg("--repo")
        .arg(repo)
        .arg("status")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output();
    if let Ok(out) = out {
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "\n{}", String::from_utf8_lossy(&out.stdout).trim_end());
    }
}
