//! What the commands read from the command line and the environment to
//! reach the repository and its remote.

use crate::Failure;
use pipeline_ci::{Env, Secret};
use pipeline_gitflow::{GitCli, Identity, Repo};

use crate::cli::{FlowArgs, RepoArgs};

/// The variables holding a token for https remotes: `GIT_TOKEN`, else
/// `GITHUB_TOKEN`.
pub(crate) const TOKEN_VARIABLES: [&str; 2] = ["GIT_TOKEN", "GITHUB_TOKEN"];

fn token(env: &Env) -> Option<Secret> {
    TOKEN_VARIABLES.iter().find_map(|name| env.get_secret(name))
}

/// Who makes tags and merge commits (see [`Identity::from_env`]).
pub(crate) fn identity(env: &Env) -> Option<Identity> {
    Identity::from_env(env)
}

/// The repository at `--repo` (or above it).
pub(crate) fn open(args: &RepoArgs) -> Result<Repo, Failure> {
    // Absolute, so that errors name a place even for `--repo .`.
    let path = std::path::absolute(&args.repo).unwrap_or_else(|_| args.repo.clone());
    Ok(Repo::open(&path)?)
}

/// The git command line against `--remote`, with the token, the caller's
/// git configuration entries and the retries.
pub(crate) fn git_cli(
    repo: &Repo,
    args: &RepoArgs,
    flow: &FlowArgs,
    env: &Env,
) -> Result<GitCli, Failure> {
    let cli = GitCli::for_remote(repo, &args.remote, token(env))?
        .inherited_config_count(env.get("GIT_CONFIG_COUNT"))
        .retry(flow.retry());
    if cli.uses_token() {
        tracing::info!("a token from the environment is sent to {}", args.remote);
    }
    Ok(cli)
}

/// The repository at `--repo`, deepened first with `--unshallow` (with the
/// `branches` the command reads that a single-branch clone lacks). A
/// repository deepened is opened again: reads see the whole history.
pub(crate) fn open_deepened(
    args: &RepoArgs,
    flow: &FlowArgs,
    env: &Env,
    branches: &[&str],
) -> Result<Repo, Failure> {
    let repo = open(args)?;
    if !flow.unshallow {
        return Ok(repo);
    }
    if !repo.is_shallow() {
        tracing::info!(
            "{} is not shallow: nothing to deepen",
            repo.path().display()
        );
        return Ok(repo);
    }
    if flow.dry_run {
        eprintln!(
            "dry run: {} is a shallow clone; would deepen it with git fetch --unshallow --tags {}; nothing fetched",
            repo.path().display(),
            args.remote
        );
        return Ok(repo);
    }
    let git = git_cli(&repo, args, flow, env)?;
    eprintln!(
        "deepening the shallow clone: git fetch --unshallow --tags {}",
        args.remote
    );
    let (repo, _) = repo.deepen(&git, branches)?;
    Ok(repo)
}
